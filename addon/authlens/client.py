"""Who sent the request: a browser, an automated client, or unknown (DESIGN.md §3 ``client``).

The answer matters for the fix: a browser prompts, refreshes tokens and drops
credentials on preflights by itself, while curl or python-requests do exactly what the
script says. Classification reads User-Agent first (the product token names the client
and its version), then the headers only browsers send (``sec-ch-ua`` client hints,
``Sec-Fetch-*`` fetch metadata, a browser-shaped ``Accept``) as corroboration. A browser
User-Agent without any of those headers over https is reported, since scripts often copy a
browser's User-Agent; the next step (``authlens.compare``) weighs such differences.

Cheap by design: a handful of anchored regular expressions over one header value.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from authlens.model import Request

BROWSER = "browser"
AUTOMATED = "automated"
UNKNOWN = "unknown"

# Caps on what is read from a header: a User-Agent longer than this is junk anyway.
_MAX_UA = 512

# Automated clients by product token: (regex over the UA, display name). The first match
# wins, so more specific tokens come first. The version group is optional.
_AUTOMATED: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), name)
    for pattern, name in (
        (r"\bHeadlessChrome/([\d.]+)", "HeadlessChrome"),
        (r"\bPostmanRuntime/([\d.]+)", "PostmanRuntime"),
        (r"\binsomnia/([\d.]+)", "Insomnia"),
        (r"\bcurl/([\d.]+)", "curl"),
        (r"\bWget/([\d.]+)", "Wget"),
        (r"\bpython-requests/([\d.]+)", "python-requests"),
        (r"\bpython-httpx/([\d.]+)", "python-httpx"),
        (r"\baiohttp/([\d.]+)", "aiohttp"),
        (r"\bPython-urllib/([\d.]+)", "Python-urllib"),
        (r"\burllib3/([\d.]+)", "urllib3"),
        (r"\bGo-http-client/([\d.]+)", "Go-http-client"),
        (r"\bokhttp/([\d.]+)", "okhttp"),
        (r"\bJava-http-client/([\d.]+)", "Java-http-client"),
        (r"\bApache-HttpClient/([\d.]+)", "Apache-HttpClient"),
        (r"\bJava/([\d._]+)", "Java"),
        (r"\baxios/([\d.]+)", "axios"),
        (r"\bnode-fetch(?:/([\d.]+))?", "node-fetch"),
        (r"\bundici(?:/([\d.]+))?", "undici"),
        (r"^node(?:/([\d.]+))?$", "node"),
        (r"\bWindowsPowerShell/([\d.]+)", "WindowsPowerShell"),
        (r"\bPowerShell/([\d.]+)", "PowerShell"),
        (r"\blibwww-perl/([\d.]+)", "libwww-perl"),
        (r"\bDart/([\d.]+)", "Dart"),
        (r"\bk6/([\d.]+)", "k6"),
        (r"\bWinHttp", "WinHTTP"),
        (r"\bMicrosoft-CryptoAPI/([\d.]+)", "Microsoft-CryptoAPI"),
    )
)

# Browsers by UA product token, most specific first: Edge and Opera also say Chrome, and
# Chrome also says Safari.
_BROWSERS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"\bEdg(?:e|A|iOS)?/(\d+)", "Edge"),
        (r"\bOPR/(\d+)", "Opera"),
        (r"\bSamsungBrowser/(\d+)", "Samsung Internet"),
        (r"\bFirefox/(\d+)", "Firefox"),
        (r"\bFxiOS/(\d+)", "Firefox"),
        (r"\bCriOS/(\d+)", "Chrome"),
        (r"\bChrome/(\d+)", "Chrome"),
        (r"\bVersion/(\d+)[\d.]* (?:Mobile/\S+ )?Safari/", "Safari"),
        (r"\bTrident/.*rv:(\d+)", "Internet Explorer"),
        (r"\bMSIE (\d+)", "Internet Explorer"),
    )
)
_BRAND = re.compile(r'"([^"]{1,64})"\s*;\s*v="(\d{1,6})')
_BRAND_NAMES = {
    "google chrome": "Chrome",
    "microsoft edge": "Edge",
    "opera": "Opera",
    "brave": "Brave",
    "chromium": "Chromium",
}
_BROWSER_ACCEPT = "text/html,application/xhtml+xml"


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The DESIGN §3 ``client`` object: ``kind`` is browser, automated or unknown."""

    kind: str
    name: str
    evidence: tuple[str, ...] = field(default=())

    @property
    def is_browser(self) -> bool:
        return self.kind == BROWSER

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "evidence": list(self.evidence)}


def classify(request: Request) -> ClientInfo:
    """Classify the client that sent ``request``. Total: never raises."""
    headers = request.headers
    try:
        https: bool | None = request.scheme == "https"
    except ValueError:
        https = None  # an unparseable URL: it matters only where the scheme is read
    info = _classify(
        (headers.get("User-Agent") or "")[:_MAX_UA],
        (headers.get("sec-ch-ua") or "")[:_MAX_UA],
        tuple(headers.names()),
        (headers.get("Accept") or "").startswith(_BROWSER_ACCEPT),
        https,
    )
    if info is None:  # the scheme decides and the URL cannot be parsed: raise as before
        _ = request.scheme
        raise AssertionError("unreachable: reading the scheme raised above")
    return info


# A run's refusals come from a few clients: the answer is a pure function of the values
# read here (the header names for Sec-Fetch-*), so it is cached on exactly those; bounded.
@functools.lru_cache(maxsize=256)
def _classify(
    ua: str, hints_value: str, names: tuple[str, ...], browser_accept: bool, https: bool | None
) -> ClientInfo | None:
    """:func:`classify` from the inputs it reads; None when the scheme decides and the URL
    could not be parsed (``https`` None)."""
    ua = ua.strip()
    evidence: list[str] = []
    hints = _client_hints(hints_value)
    fetch_meta = [name for name in names if name.lower().startswith("sec-fetch-")]

    for pattern, name in _AUTOMATED:
        m = pattern.search(ua)
        if m:
            version = m.group(1) if m.groups() and m.group(1) else ""
            evidence.append(f"User-Agent names {name}: {_shown(ua)}")
            if name == "HeadlessChrome":
                evidence.append("HeadlessChrome is a browser driven by automation")
            return ClientInfo(AUTOMATED, f"{name}/{version}" if version else name, tuple(evidence))

    browser = _browser_from_ua(ua)
    if hints:
        evidence.append(f"sec-ch-ua client hints: {', '.join(hints)}")
    if fetch_meta:
        evidence.append("fetch metadata headers: " + ", ".join(sorted(fetch_meta)))
    if browser_accept:
        evidence.append("a browser's navigation Accept header")

    if browser is not None:
        name, version = browser
        evidence.insert(0, f"User-Agent names {name} {version}: {_shown(ua)}")
        if not hints and not fetch_meta:
            if https is None:
                return None
            if https:
                evidence.append(
                    "no Sec-Fetch-* or client-hint headers, which current browsers send over "
                    "https: possibly a script using a browser's User-Agent"
                )
        return ClientInfo(BROWSER, f"{name} {version}", tuple(evidence))
    if hints or fetch_meta:
        # Client hints or fetch metadata with an unknown User-Agent: a browser in all but name.
        name = _brand_name(hints_value) or "browser"
        return ClientInfo(BROWSER, name, tuple(evidence))
    if not ua:
        evidence.append("no User-Agent header")
        return ClientInfo(UNKNOWN, "", tuple(evidence))
    evidence.append(f"unrecognised User-Agent: {_shown(ua)}")
    return ClientInfo(UNKNOWN, _product(ua), tuple(evidence))


def _browser_from_ua(ua: str) -> tuple[str, str] | None:
    if not ua.startswith("Mozilla/"):
        return None
    for pattern, name in _BROWSERS:
        m = pattern.search(ua)
        if m:
            return name, m.group(1)
    return None


def _client_hints(value: str | None) -> list[str]:
    if not value:
        return []
    return [f"{brand} {version}" for brand, version in _BRAND.findall(value[:_MAX_UA])]


def _brand_name(value: str | None) -> str | None:
    """The most specific brand in sec-ch-ua (Chrome/Edge over Chromium, GREASE ignored)."""
    best: str | None = None
    for brand, version in _BRAND.findall((value or "")[:_MAX_UA]):
        name = _BRAND_NAMES.get(brand.lower())
        if name and (best is None or best.startswith("Chromium")):
            best = f"{name} {version}"
    return best


def _product(ua: str) -> str:
    """The first product token of an unknown User-Agent, e.g. 'MyTool/1.2'."""
    return ua.split(None, 1)[0][:64]


def _shown(text: str) -> str:
    return repr(text[:160])
