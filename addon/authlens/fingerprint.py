"""Who sent a request, in depth: browser, automated client, or a script posing as a browser.

``authlens.client.classify`` answers the DESIGN §3 ``client`` question cheaply for every
flow; this module answers it in the depth the browser-versus-script comparison needs:

- the browser family, its engine and major version, from User-Agent, corroborated by
  the headers only browsers send (``sec-ch-ua`` client hints, ``Sec-Fetch-*`` fetch
  metadata, Accept-Language, a browser's Accept-Encoding);
- automated clients by product token (curl, python-requests, httpx, Go, Java, okhttp,
  node, Postman, PowerShell, ...) and, when the User-Agent was changed, by the shape of
  their default header set (requests, httpx and curl each send a fixed set in a fixed
  order);
- :func:`browser_lacks`: what a real browser of the claimed family and version always
  sends that this request lacks. Scripts copy a browser's User-Agent and nothing else,
  so a "Chrome 131" without client hints, fetch metadata and Accept-Language is a script;
- :func:`ja3` / :func:`ja4`: TLS ClientHello fingerprints from plain lists of numbers
  (:func:`parse_client_hello` reads the raw handshake bytes mitmproxy's
  ``tls_clienthello`` hook exposes). Through mitmproxy the *server* sees mitmproxy's TLS,
  never the client's: a TLS fingerprint explains nothing about a refusal of proxied
  traffic, and the evidence says so.

Pure: no mitmproxy import; every function is total on odd input and bounded in work.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlens.client import AUTOMATED, BROWSER, UNKNOWN, ClientInfo
from authlens.model import Headers, Request

__all__ = [
    "AUTOMATED",
    "BROWSER",
    "GREASE",
    "SEC_CH_UA",
    "SEC_FETCH",
    "UNKNOWN",
    "ClientHelloFields",
    "ClientInfo",
    "ClientProfile",
    "browser_lacks",
    "classify_client",
    "classify_request",
    "describe_ja4",
    "is_loopback_host",
    "ja3",
    "ja3_string",
    "ja4",
    "parse_client_hello",
    "profile_client",
    "profile_request",
]

_MAX_UA = 512
_MAX_HEADER = 1024

# --- User-Agent product tokens ------------------------------------------------------------

# Automated clients: (regex over the User-Agent, display name). First match wins, so the
# more specific tokens come first. Group 1, when present, is the version.
_AUTOMATED: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), name)
    for pattern, name in (
        (r"\bPostmanRuntime/([\d.]+)", "PostmanRuntime"),
        (r"\binsomnia/([\d.]+)", "Insomnia"),
        (r"\bHTTPie/([\d.]+)", "HTTPie"),
        (r"\bcurl/([\d.]+)", "curl"),
        (r"\bWget/([\d.]+)", "Wget"),
        (r"\bpython-requests/([\d.]+)", "python-requests"),
        (r"\bpython-httpx/([\d.]+)", "python-httpx"),
        (r"\bPython/[\d.]+ aiohttp/([\d.]+)", "aiohttp"),
        (r"\baiohttp/([\d.]+)", "aiohttp"),
        (r"\bPython-urllib/([\d.]+)", "Python-urllib"),
        (r"\bpython-urllib3/([\d.]+)", "urllib3"),
        (r"\burllib3/([\d.]+)", "urllib3"),
        (r"\bScrapy/([\d.]+)", "Scrapy"),
        (r"\bGo-http-client/([\d.]+)", "Go-http-client"),
        (r"\bokhttp/([\d.]+)", "okhttp"),
        (r"\bJava-http-client/([\d.]+)", "Java-http-client"),
        (r"\bApache-HttpClient/([\d.]+)", "Apache-HttpClient"),
        (r"\bJava/([\d._]+)", "Java"),
        (r"\baxios/([\d.]+)", "axios"),
        (r"\bnode-fetch(?:/([\d.]+))?", "node-fetch"),
        (r"\bundici(?:/([\d.]+))?", "undici"),
        (r"^node(?:/([\d.]+))?$", "node"),
        (r"\bDeno/([\d.]+)", "Deno"),
        (r"\bBun/([\d.]+)", "Bun"),
        (r"\bWindowsPowerShell/([\d.]+)", "WindowsPowerShell"),
        (r"\bPowerShell/([\d.]+)", "PowerShell"),
        (r"\blibwww-perl/([\d.]+)", "libwww-perl"),
        (r"\bGuzzleHttp/([\d.]+)", "Guzzle"),
        (r"\bFaraday v([\d.]+)", "Faraday"),
        (r"\bRuby\b", "Ruby"),
        (r"\breqwest/([\d.]+)", "reqwest"),
        (r"\bDart/([\d.]+)", "Dart"),
        (r"\bk6/([\d.]+)", "k6"),
        (r"\bWinHttp", "WinHTTP"),
        (r"\bMicrosoft-CryptoAPI/([\d.]+)", "Microsoft-CryptoAPI"),
        (r"\bPhantomJS/([\d.]+)", "PhantomJS"),
        (r"\b(?:bot|crawler|spider)\b", "bot"),
    )
)


def _literal(pattern: str) -> str | None:
    """The literal word a pattern starts with, lower-cased ("curl" for r"\bcurl/..."):
    a substring test on it skips regexes that cannot match, which is most of them for
    every User-Agent. None when the pattern starts with an alternation."""
    m = re.match(r"(?:\\b|\^)?([A-Za-z][A-Za-z-]*)", pattern)
    return m.group(1).lower() if m else None


# (literal, regex, name): the literal is a cheap prefilter on the lower-cased User-Agent.
_AUTOMATED_FAST = tuple((_literal(p.pattern), p, name) for p, name in _AUTOMATED)

# Browsers by User-Agent product token, most specific first: Edge and Opera also say
# Chrome, and Chrome also says Safari. (regex, family, engine)
_BROWSERS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern), family, engine)
    for pattern, family, engine in (
        (r"\bEdg(?:A|iOS)?/(\d+)(?:\.(\d+))?", "Edge", "blink"),
        (r"\bEdge/(\d+)(?:\.(\d+))?", "Edge Legacy", "edgehtml"),
        (r"\bOPR/(\d+)(?:\.(\d+))?", "Opera", "blink"),
        (r"\bSamsungBrowser/(\d+)(?:\.(\d+))?", "Samsung Internet", "blink"),
        (r"\bFirefox/(\d+)(?:\.(\d+))?", "Firefox", "gecko"),
        (r"\bFxiOS/(\d+)(?:\.(\d+))?", "Firefox", "webkit"),
        (r"\bCriOS/(\d+)(?:\.(\d+))?", "Chrome", "webkit"),
        (r"\bHeadlessChrome/(\d+)(?:\.(\d+))?", "Chrome", "blink"),
        (r"\bChrome/(\d+)(?:\.(\d+))?", "Chrome", "blink"),
        (r"\bChromium/(\d+)(?:\.(\d+))?", "Chromium", "blink"),
        (r"\bVersion/(\d+)(?:\.(\d+))?[\d.]* (?:Mobile/\S+ )?Safari/", "Safari", "webkit"),
        (r"\bTrident/.*rv:(\d+)(?:\.(\d+))?", "Internet Explorer", "trident"),
        (r"\bMSIE (\d+)(?:\.(\d+))?", "Internet Explorer", "trident"),
    )
)
_BROWSERS_FAST = tuple((_literal(p.pattern), p, f, e) for p, f, e in _BROWSERS)
_CHROMIUM_VERSION = re.compile(r"\b(?:Headless)?Chrom(?:e|ium)/(\d+)")
_AUTOMATION_UA: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bHeadlessChrome/"), "headless Chrome (Puppeteer, Playwright or Selenium)"),
    (re.compile(r"\bCypress/"), "Cypress"),
    (re.compile(r"\bElectron/"), "Electron"),
)
_BRAND = re.compile(r'"([^"]{1,64})"\s*;\s*v="(\d{1,6})')
_BRAND_NAMES = {
    "google chrome": "Chrome",
    "microsoft edge": "Edge",
    "opera": "Opera",
    "brave": "Brave",
    "chromium": "Chromium",
    "headlesschrome": "HeadlessChrome",
}

# The default request header sets of common libraries: (names in order, lower-cased;
# display name). A request whose header names are exactly one of these, in this order, was
# made by that library whatever its User-Agent says (a changed User-Agent keeps its place).
# Credentials, cookies, body and proxy headers are left out before matching: scripts add
# those on top of the defaults.
_LIBRARY_SHAPES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("host", "user-agent", "accept-encoding", "accept", "connection"), "python-requests"),
    (("host", "accept", "accept-encoding", "connection", "user-agent"), "python-httpx"),
    (("host", "user-agent", "accept"), "curl"),
    (("host", "accept", "user-agent"), "curl"),
    (("host", "user-agent", "accept", "accept-encoding", "connection"), "Wget"),
    (("accept-encoding", "host", "user-agent", "connection"), "Python-urllib"),
)
_SHAPE_IGNORED = frozenset(
    {"cookie", "authorization", "content-type", "content-length", "transfer-encoding"}
)
# Headers only one tool sends.
_SCRIPT_ONLY_HEADERS = {"postman-token": "PostmanRuntime"}


# --- profiles ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientProfile:
    """Everything the comparison wants to know about one client.

    ``kind``/``name``/``evidence`` are the DESIGN §3 ``client`` object (see :attr:`info`).
    ``browser_engine`` is True when a real browser engine sent the request, headed or
    headless (a Playwright-driven Chromium still sends everything a browser sends, so it
    is a valid baseline); False for scripts, including those posing as a browser.
    ``claimed`` names the browser a User-Agent claims when the rest of the request says
    otherwise. ``lacks`` lists what a real browser of that family always sends and this
    request did not.
    """

    kind: str
    name: str
    evidence: tuple[str, ...] = ()
    family: str | None = None
    version: int | None = None
    engine: str | None = None
    browser_engine: bool = False
    automation: str | None = None
    claimed: str | None = None
    lacks: tuple[str, ...] = ()
    library: str | None = None
    tls_fingerprint: str | None = None

    @property
    def info(self) -> ClientInfo:
        return ClientInfo(self.kind, self.name, self.evidence)

    @property
    def is_browser(self) -> bool:
        return self.kind == BROWSER

    def to_json(self) -> dict[str, Any]:
        out = self.info.to_json()
        out.update(
            {
                "family": self.family,
                "version": self.version,
                "engine": self.engine,
                "browser_engine": self.browser_engine,
                "automation": self.automation,
                "claimed": self.claimed,
                "lacks": list(self.lacks),
                "library": self.library,
                "tls_fingerprint": self.tls_fingerprint,
            }
        )
        return out


def classify_client(
    headers: Headers | Iterable[tuple[str, str]],
    tls_fingerprint: str | None = None,
    *,
    url: str | None = None,
) -> ClientInfo:
    """The DESIGN §3 ``client`` object for a request's headers. Total: never raises.

    ``url`` lets the secure-context rules apply (browsers send client hints and fetch
    metadata only to https and loopback); without it those rules are not used.
    """
    return profile_client(headers, tls_fingerprint, url=url).info


def classify_request(request: Request, tls_fingerprint: str | None = None) -> ClientInfo:
    return profile_client(request.headers, tls_fingerprint, url=request.url).info


def profile_request(request: Request, tls_fingerprint: str | None = None) -> ClientProfile:
    # Requests are immutable and pairing asks about the same one several times in a row
    # (is it refused by a script? is it a baseline?): remember the last answer.
    global _last_profiled
    last = _last_profiled
    if last is not None and last[0] is request and last[1] == tls_fingerprint:
        return last[2]
    headers = request.headers
    profile = _profile_cached(
        tuple(headers.names()),
        (headers.get("User-Agent") or "")[:_MAX_UA],  # _profile reads no further
        (headers.get("sec-ch-ua") or "")[:_MAX_UA],
        headers.get("Accept-Language"),
        headers.get("Accept-Encoding"),
        tls_fingerprint,
        _request_secure(request),
    )
    _last_profiled = (request, tls_fingerprint, profile)
    return profile


_last_profiled: tuple[Request, str | None, ClientProfile] | None = None

# The header values :func:`_profile` reads (lower-cased names); of the others, only the
# names and their order matter.
_PROFILE_VALUES = ("user-agent", "sec-ch-ua", "accept-language", "accept-encoding")


# A run's requests come from a few clients: the profile is a pure function of the header
# names, the values in _PROFILE_VALUES, the TLS fingerprint and whether the URL is a
# secure context, so it is cached on exactly those; bounded.
@functools.lru_cache(maxsize=256)
def _profile_cached(
    names: tuple[str, ...],
    ua: str,
    hints: str,
    language: str | None,
    encoding: str | None,
    tls: str | None,
    secure: bool | None,
) -> ClientProfile:
    # Headers that answer every question _profile asks as the request's own would: each
    # name in place, and the first value of each read field (the one ``get`` returns).
    values = dict(zip(_PROFILE_VALUES, (ua, hints, language, encoding), strict=True))
    fields = tuple((name, values.get(name.lower()) or "") for name in names)
    try:
        return _profile(Headers(fields), tls, secure)
    except Exception as exc:  # pragma: no cover - a regex bug must not escape
        return _failed(exc)


def _request_secure(request: Request) -> bool | None:
    """:func:`_secure_context` of the request's URL, from the parts it keeps split."""
    if not request.url:
        return None
    try:
        scheme, host = request.scheme, request.host
    except ValueError:
        return None
    return True if scheme == "https" else is_loopback_host(host)


def profile_client(
    headers: Headers | Iterable[tuple[str, str]],
    tls_fingerprint: str | None = None,
    *,
    url: str | None = None,
) -> ClientProfile:
    """Classify in depth; see :class:`ClientProfile`. Total: never raises."""
    try:
        return _profile(_as_headers(headers), tls_fingerprint, _secure_context(url))
    except Exception as exc:  # pragma: no cover - a regex bug must not escape
        return _failed(exc)


def _failed(exc: Exception) -> ClientProfile:
    return ClientProfile(UNKNOWN, "", (f"classification failed ({type(exc).__name__})",))


def _profile(headers: Headers, tls: str | None, secure: bool | None) -> ClientProfile:
    ua = (headers.get("User-Agent") or "")[:_MAX_UA].strip()
    tls_evidence = _tls_evidence(tls)
    names = [n.lower() for n in headers.names()]
    library = _library_shape(names)

    for token, script in _SCRIPT_ONLY_HEADERS.items():
        if token in names:
            return ClientProfile(
                AUTOMATED,
                script,
                (f"{token} header, which only {script} sends", *tls_evidence),
                family=script,
                tls_fingerprint=tls,
            )

    ua_lower = ua.lower()
    for literal, pattern, product in _AUTOMATED_FAST:
        if literal is not None and literal not in ua_lower:
            continue
        m = pattern.search(ua)
        if m:
            version = _short_version(m.group(1) if m.groups() and m.group(1) else "")
            name = f"{product}/{version}" if version else product
            evidence = [f"User-Agent names {product}: {_shown(ua)}"]
            if library == product:
                evidence.append(f"header set and order match {library}'s defaults too")
            return ClientProfile(
                AUTOMATED,
                name,
                (*evidence, *tls_evidence),
                family=product,
                library=library,
                tls_fingerprint=tls,
            )

    browser = _browser_from_ua(ua)
    hints = _brands(headers.get("sec-ch-ua"))
    fetch_meta = sorted(n for n in headers.names() if n.lower().startswith("sec-fetch-"))
    corroboration: list[str] = []
    if hints:
        corroboration.append("sec-ch-ua client hints: " + ", ".join(f"{b} {v}" for b, v in hints))
    if fetch_meta:
        corroboration.append("fetch metadata headers: " + ", ".join(fetch_meta))
    if headers.get("Accept-Language"):
        corroboration.append("Accept-Language sent")

    if browser is not None:
        family, major, minor, engine = browser
        chromium = _chromium_major(ua) if engine == "blink" else None
        automation = next((label for p, label in _AUTOMATION_UA if p.search(ua)), None)
        if automation is None and any(b.lower() == "headlesschrome" for b, _ in hints):
            automation = "headless Chrome (Puppeteer, Playwright or Selenium)"
        lacks = browser_lacks(family, major, headers, secure=secure, minor=minor, chromium=chromium)
        strong = [lack for lack in lacks if lack in _STRONG_LACKS]
        tls_lack = _tls_contradicts_browser(tls)
        if tls_lack:
            strong.append(tls_lack)
            lacks = (*lacks, tls_lack)
        label = f"{family} {major}"
        shown_as = f"HeadlessChrome {major}" if "HeadlessChrome/" in ua else label
        ua_evidence = f"User-Agent names {shown_as}: {_shown(ua)}"
        if len(strong) >= 2 or (strong and library is not None):
            who = library or "a script"
            evidence = [
                ua_evidence,
                f"but it lacks what {family} {major} always sends: " + ", ".join(lacks),
            ]
            if library:
                evidence.append(f"header set and order match {library}'s defaults")
            return ClientProfile(
                AUTOMATED,
                f"{who} posing as {label}",
                (*evidence, *tls_evidence),
                family=family,
                version=major,
                engine=engine,
                browser_engine=False,
                claimed=label,
                lacks=tuple(lacks),
                library=library,
                tls_fingerprint=tls,
            )
        evidence = [ua_evidence, *corroboration]
        if lacks:
            evidence.append(
                f"lacks {', '.join(lacks)}, which {family} {major} normally sends: possibly a "
                "script using a browser's User-Agent"
            )
        if automation is not None:
            evidence.append(f"a real browser engine driven by automation: {automation}")
            return ClientProfile(
                AUTOMATED,
                f"HeadlessChrome {major}"
                if "headless" in automation
                else f"{label} ({automation})",
                (*evidence, *tls_evidence),
                family=family,
                version=major,
                engine=engine,
                browser_engine=True,
                automation=automation,
                lacks=tuple(lacks),
                tls_fingerprint=tls,
            )
        return ClientProfile(
            BROWSER,
            label,
            (*evidence, *tls_evidence),
            family=family,
            version=major,
            engine=engine,
            browser_engine=True,
            lacks=tuple(lacks),
            tls_fingerprint=tls,
        )

    if hints or fetch_meta:
        # Client hints or fetch metadata with an unknown User-Agent: a browser in all but name.
        brand = _brand_name(hints)
        return ClientProfile(
            BROWSER,
            brand or "browser",
            (*corroboration, *tls_evidence),
            family=brand.split(" ")[0] if brand else None,
            engine="blink" if hints else None,
            browser_engine=True,
            tls_fingerprint=tls,
        )
    if library is not None:
        what = f"User-Agent {_shown(ua)}" if ua else "no User-Agent"
        return ClientProfile(
            AUTOMATED,
            f"{library} (changed User-Agent)" if ua else library,
            (f"header set and order match {library}'s defaults; {what}", *tls_evidence),
            family=library,
            library=library,
            tls_fingerprint=tls,
        )
    if not ua:
        return ClientProfile(
            UNKNOWN, "", ("no User-Agent header", *tls_evidence), tls_fingerprint=tls
        )
    evidence = [f"unrecognised User-Agent: {_shown(ua)}"]
    if not ua.startswith("Mozilla/") and not corroboration:
        evidence.append("no browser headers (client hints, fetch metadata, Accept-Language)")
        return ClientProfile(
            AUTOMATED, _product(ua), (*evidence, *tls_evidence), tls_fingerprint=tls
        )
    return ClientProfile(UNKNOWN, _product(ua), (*evidence, *tls_evidence), tls_fingerprint=tls)


# --- what a browser always sends -------------------------------------------------------------

SEC_CH_UA = "sec-ch-ua"
SEC_FETCH = "Sec-Fetch-*"
ACCEPT_LANGUAGE = "Accept-Language"
ACCEPT_ENCODING = "Accept-Encoding"
_STRONG_LACKS = frozenset({SEC_CH_UA, SEC_FETCH, ACCEPT_LANGUAGE})


def browser_lacks(
    family: str,
    version: int | None,
    headers: Headers | Iterable[tuple[str, str]],
    *,
    secure: bool | None = None,
    minor: int | None = None,
    chromium: int | None = None,
) -> tuple[str, ...]:
    """Headers a real ``family`` browser of ``version`` always sends that ``headers`` lack.

    ``secure`` is whether the URL is a secure context (https, or loopback): browsers send
    client hints and fetch metadata only there; None skips those rules. ``chromium`` is
    the Chromium major version for Chromium-based browsers whose own version differs
    (Edge, Opera, Samsung Internet). Versions: client hints by default since Chromium 89;
    Sec-Fetch-Site/Mode since Chromium 76, Sec-Fetch-Dest since 80; Firefox 90; Safari
    16.4. Accept-Encoding ``br`` over https: Chromium 50, Firefox 44, Safari 11; ``zstd``:
    Chromium 123, Firefox 126.
    """
    h = _as_headers(headers)
    v = version or 0
    blink = family in ("Chrome", "Chromium", "Edge", "Opera", "Samsung Internet", "Brave")
    cv = chromium if chromium is not None else (v if family in ("Chrome", "Chromium") else None)
    out: list[str] = []
    if secure and blink and cv is not None and cv >= 89 and SEC_CH_UA not in h:
        out.append(SEC_CH_UA)
    fetch_since = (
        (cv is not None and cv >= 80)
        if blink
        else (family == "Firefox" and v >= 90)
        or (family == "Safari" and (v, minor or 0) >= (16, 4))
    )
    has_fetch = any(n.lower().startswith("sec-fetch-") for n in h.names())
    if secure and fetch_since and not has_fetch:
        out.append(SEC_FETCH)
    if family != "Internet Explorer" and not (h.get(ACCEPT_LANGUAGE) or "").strip():
        out.append(ACCEPT_LANGUAGE)
    encoding = (h.get(ACCEPT_ENCODING) or "").lower()
    if not encoding:
        out.append(ACCEPT_ENCODING)
    elif secure:
        wants_br = (
            (blink and (cv or 0) >= 50)
            or (family == "Firefox" and v >= 44)
            or (family == "Safari" and v >= 11)
        )
        if wants_br and "br" not in _tokens(encoding):
            out.append(f"{ACCEPT_ENCODING} with br")
    if "Accept" not in h:
        out.append("Accept")
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secure_context(url: str | None) -> bool | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() == "https":
        return True
    return is_loopback_host(parts.hostname or "")


# --- TLS ClientHello fingerprints --------------------------------------------------------------

#: RFC 8701 GREASE values (0x0a0a, 0x1a1a, ... 0xfafa): random noise clients add to keep
#: servers tolerant; every fingerprint ignores them.
GREASE = frozenset(0x0A0A + 0x1010 * i for i in range(16))

EXT_SNI = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_EC_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B
_MAX_LIST = 512  # entries read from any one ClientHello list


@dataclass(frozen=True, slots=True)
class ClientHelloFields:
    """The ClientHello fields JA3 and JA4 read, as plain numbers (GREASE included).

    ``version`` is the legacy ``client_version`` (0x0303 for TLS 1.2 and 1.3);
    ``extensions`` the extension types in wire order; ``alpn`` the offered protocols.
    """

    version: int
    cipher_suites: tuple[int, ...] = ()
    extensions: tuple[int, ...] = ()
    supported_groups: tuple[int, ...] = ()
    ec_point_formats: tuple[int, ...] = ()
    signature_algorithms: tuple[int, ...] = ()
    supported_versions: tuple[int, ...] = ()
    alpn: tuple[bytes, ...] = ()
    sni: str | None = None
    transport: str = "t"  # "t" TLS over TCP, "q" QUIC, "d" DTLS

    @classmethod
    def from_extensions(
        cls,
        version: int,
        cipher_suites: Sequence[int],
        extensions: Sequence[tuple[int, bytes]],
        *,
        transport: str = "t",
    ) -> ClientHelloFields:
        """Build from the raw ``(type, body)`` extension list (mitmproxy's
        ``ClientHello.extensions``), decoding the few extension bodies fingerprints need."""
        groups: tuple[int, ...] = ()
        formats: tuple[int, ...] = ()
        sigalgs: tuple[int, ...] = ()
        versions: tuple[int, ...] = ()
        alpn: tuple[bytes, ...] = ()
        sni: str | None = None
        for ext_type, body in list(extensions)[:_MAX_LIST]:
            body = bytes(body)
            if ext_type == EXT_SUPPORTED_GROUPS:
                groups = _u16_list(body, 2)
            elif ext_type == EXT_EC_POINT_FORMATS:
                formats = _u8_list(body)
            elif ext_type == EXT_SIGNATURE_ALGORITHMS:
                sigalgs = _u16_list(body, 2)
            elif ext_type == EXT_SUPPORTED_VERSIONS:
                versions = _u16_list(body, 1)
            elif ext_type == EXT_ALPN:
                alpn = _alpn_list(body)
            elif ext_type == EXT_SNI:
                sni = _sni(body)
        return cls(
            version=version,
            cipher_suites=tuple(cipher_suites[:_MAX_LIST]),
            extensions=tuple(t for t, _ in list(extensions)[:_MAX_LIST]),
            supported_groups=groups,
            ec_point_formats=formats,
            signature_algorithms=sigalgs,
            supported_versions=versions,
            alpn=alpn,
            sni=sni,
            transport=transport,
        )


def parse_client_hello(raw: bytes, *, transport: str = "t") -> ClientHelloFields | None:
    """Read a ClientHello: the handshake body (``ClientHello.raw_bytes(False)`` in
    mitmproxy), the handshake message (type 1 + length), or a whole TLS record. None if it
    is not a parseable ClientHello. Bounded: one pass over at most the given bytes."""
    data = bytes(raw)
    # The body starts with legacy_version (0x03xx, 0xfexx for DTLS); a record starts with
    # content type 0x16, a bare handshake message with type 0x01 (client_hello).
    if len(data) >= 9 and data[0] == 0x16 and data[5] == 0x01:
        data = data[9 : 9 + int.from_bytes(data[6:9], "big")]
    elif len(data) >= 4 and data[0] == 0x01:
        data = data[4 : 4 + int.from_bytes(data[1:4], "big")]
    try:
        pos = 0
        version = int.from_bytes(data[0:2], "big")
        pos = 2 + 32  # legacy_version, random
        sid_len = data[pos]
        pos += 1 + sid_len
        cs_len = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        ciphers = _u16_list(data[pos - 2 : pos + cs_len], 2)
        if len(data) < pos + cs_len:
            return None
        pos += cs_len
        comp_len = data[pos]
        pos += 1 + comp_len
        extensions: list[tuple[int, bytes]] = []
        if pos + 2 <= len(data):
            ext_total = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
            end = min(len(data), pos + ext_total)
            while pos + 4 <= end and len(extensions) < _MAX_LIST:
                ext_type = int.from_bytes(data[pos : pos + 2], "big")
                ext_len = int.from_bytes(data[pos + 2 : pos + 4], "big")
                pos += 4
                if pos + ext_len > end:
                    return None
                extensions.append((ext_type, data[pos : pos + ext_len]))
                pos += ext_len
    except IndexError:
        return None
    if version >> 8 != 0x03 and version not in (0xFEFF, 0xFEFD, 0xFEFC):
        return None
    return ClientHelloFields.from_extensions(version, ciphers, extensions, transport=transport)


def ja3_string(hello: ClientHelloFields) -> str:
    """``SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`` in
    decimal, dash-separated, GREASE removed, wire order (the JA3 definition)."""

    def dashed(values: Iterable[int]) -> str:
        return "-".join(str(v) for v in values if v not in GREASE)

    return ",".join(
        (
            str(hello.version),
            dashed(hello.cipher_suites),
            dashed(hello.extensions),
            dashed(hello.supported_groups),
            dashed(hello.ec_point_formats),
        )
    )


def ja3(hello: ClientHelloFields) -> str:
    """The JA3 fingerprint: MD5 of :func:`ja3_string` (hex)."""
    return hashlib.md5(ja3_string(hello).encode("ascii"), usedforsecurity=False).hexdigest()


_JA4_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}


def ja4(hello: ClientHelloFields, *, raw: bool = False) -> str:
    """The JA4 fingerprint (FoxIO, BSD-3-Clause definition), e.g.
    ``t13d1516h2_8daaf6152771_e5627efa2ab1``; ``raw=True`` gives JA4_r, the unhashed
    sorted lists."""
    versions = [v for v in hello.supported_versions if v not in GREASE]
    version = max(versions) if versions else hello.version
    ciphers = [c for c in hello.cipher_suites if c not in GREASE]
    extensions = [e for e in hello.extensions if e not in GREASE]
    a = (
        (hello.transport if hello.transport in ("t", "q", "d") else "t")
        + _JA4_VERSIONS.get(version, "00")
        + ("d" if EXT_SNI in extensions else "i")
        + f"{min(len(ciphers), 99):02d}"
        + f"{min(len(extensions), 99):02d}"
        + _ja4_alpn(hello.alpn)
    )
    cipher_list = ",".join(sorted(f"{c:04x}" for c in ciphers))
    ext_list = ",".join(sorted(f"{e:04x}" for e in extensions if e not in (EXT_SNI, EXT_ALPN)))
    sigalgs = ",".join(f"{s:04x}" for s in hello.signature_algorithms if s not in GREASE)
    c_input = f"{ext_list}_{sigalgs}" if sigalgs else ext_list
    if raw:
        return f"{a}_{cipher_list}_{c_input}"
    b = _sha12(cipher_list) if ciphers else "000000000000"
    c = _sha12(c_input) if ext_list else "000000000000"
    return f"{a}_{b}_{c}"


def describe_ja4(fingerprint: str) -> dict[str, Any] | None:
    """The readable ``a`` part of a JA4 string, or None if it is not one."""
    m = re.fullmatch(
        r"([tqd])(\w\w)([di])(\d\d)(\d\d)(\w\w)_([0-9a-f]{12})_([0-9a-f]{12})", fingerprint
    )
    if not m:
        return None
    return {
        "transport": {"t": "TLS over TCP", "q": "QUIC", "d": "DTLS"}[m.group(1)],
        "version": m.group(2),
        "sni": m.group(3) == "d",
        "ciphers": int(m.group(4)),
        "extensions": int(m.group(5)),
        "alpn": None if m.group(6) == "00" else m.group(6),
    }


def _ja4_alpn(alpn: Sequence[bytes]) -> str:
    first = bytes(alpn[0]) if alpn else b""
    if not first:
        return "00"
    lo, hi = first[0], first[-1]
    if _alnum(lo) and _alnum(hi):
        return chr(lo) + chr(hi)
    hexed = first.hex()
    return hexed[0] + hexed[-1]


def _alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def _u16_list(body: bytes, length_bytes: int) -> tuple[int, ...]:
    if len(body) < length_bytes:
        return ()
    n = int.from_bytes(body[:length_bytes], "big")
    data = body[length_bytes : length_bytes + n]
    count = min(len(data) // 2, _MAX_LIST)
    return tuple(int.from_bytes(data[2 * i : 2 * i + 2], "big") for i in range(count))


def _u8_list(body: bytes) -> tuple[int, ...]:
    if not body:
        return ()
    return tuple(body[1 : 1 + body[0]][:_MAX_LIST])


def _alpn_list(body: bytes) -> tuple[bytes, ...]:
    if len(body) < 2:
        return ()
    data = body[2 : 2 + int.from_bytes(body[:2], "big")]
    out: list[bytes] = []
    pos = 0
    while pos < len(data) and len(out) < _MAX_LIST:
        n = data[pos]
        out.append(bytes(data[pos + 1 : pos + 1 + n]))
        pos += 1 + n
    return tuple(out)


def _sni(body: bytes) -> str | None:
    # server_name_list: u16 length, then (u8 type, u16 length, name) entries.
    if len(body) < 5 or body[2] != 0:
        return None
    n = int.from_bytes(body[3:5], "big")
    name = body[5 : 5 + n]
    try:
        return name.decode("ascii")
    except UnicodeDecodeError:
        return None


def _tls_evidence(tls: str | None) -> tuple[str, ...]:
    if not tls:
        return ()
    return (
        f"TLS ClientHello fingerprint {tls[:80]} (what mitmproxy saw; the server sees "
        "mitmproxy's own TLS, not this client's)",
    )


def _tls_contradicts_browser(tls: str | None) -> str | None:
    """A browser-claiming client whose ClientHello no browser would send."""
    described = describe_ja4(tls) if tls else None
    if described is None:
        return None
    if described["alpn"] is None:
        return "ALPN in the TLS ClientHello"
    return None


# --- helpers ---------------------------------------------------------------------------------


def _as_headers(headers: Headers | Iterable[tuple[str, str]]) -> Headers:
    if isinstance(headers, Headers):
        return headers
    return Headers(tuple((str(k), str(v)[:_MAX_HEADER]) for k, v in list(headers)[:256]))


def _browser_from_ua(ua: str) -> tuple[str, int, int | None, str] | None:
    if not ua.startswith("Mozilla/"):
        return None
    ua_lower = ua.lower()
    for literal, pattern, family, engine in _BROWSERS_FAST:
        if literal is not None and literal not in ua_lower:
            continue
        m = pattern.search(ua)
        if m:
            minor = int(m.group(2)) if m.group(2) else None
            return family, int(m.group(1)), minor, engine
    return None


def _chromium_major(ua: str) -> int | None:
    m = _CHROMIUM_VERSION.search(ua)
    return int(m.group(1)) if m else None


def _brands(value: str | None) -> list[tuple[str, str]]:
    if not value:
        return []
    return [
        (brand, version)
        for brand, version in _BRAND.findall(value[:_MAX_UA])
        if not re.search(r"not.?a.?brand", brand, re.IGNORECASE)
    ]


def _brand_name(hints: list[tuple[str, str]]) -> str | None:
    """The most specific brand (Chrome/Edge over Chromium)."""
    best: str | None = None
    for brand, version in hints:
        name = _BRAND_NAMES.get(brand.lower())
        if name and (best is None or best.startswith("Chromium")):
            best = f"{name} {version}"
    return best


def _library_shape(names: list[str]) -> str | None:
    rest = tuple(n for n in names if n not in _SHAPE_IGNORED and not n.startswith("proxy-"))
    for shape, library in _LIBRARY_SHAPES:
        if rest == shape:
            return library
    return None


def _tokens(value: str) -> set[str]:
    return {t.split(";")[0].strip() for t in value.split(",")}


def _short_version(version: str) -> str:
    parts = version.replace("_", ".").split(".")
    return ".".join(parts[:2]) if parts and parts[0] else ""


def _product(ua: str) -> str:
    return ua.split(None, 1)[0][:64] if ua else ""


def _shown(text: str) -> str:
    return repr(text[:160])
