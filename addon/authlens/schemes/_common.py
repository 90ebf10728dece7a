"""Helpers the scheme decoders share: bounded base64, display quoting, times, parameters.

Not a scheme (the leading underscore keeps the registry from importing it as one).
Every function here is total and linear in its input.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import unquote_plus

from authlens.findings import Finding, info
from authlens.secret import Secret, fingerprint

# Nothing an authentication field legitimately carries comes near this once decoded;
# larger values are reported, not decoded.
MAX_DECODE_CHARS = 64 * 1024

UNKNOWN_PARAMETER = "unknown-parameter"

_STD = re.compile(r"[A-Za-z0-9+/]*")
_URL = re.compile(r"[A-Za-z0-9\-_]*")
_WS = re.compile(r"\s+")
_CTL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

Alphabet = Literal["standard", "urlsafe"]
Padding = Literal["required", "forbidden", "optional"]


@dataclass(slots=True)
class B64:
    """The outcome of :func:`b64decode`.

    ``data`` is None when even the lenient pass failed; ``tolerated`` lists, in words,
    each deviation the lenient pass had to accept (empty when the strict pass succeeded).
    """

    data: bytes | None
    tolerated: list[str] = field(default_factory=list)
    too_long: bool = False

    @property
    def strict(self) -> bool:
        return self.data is not None and not self.tolerated


def b64decode(
    text: str,
    alphabet: Alphabet = "standard",
    padding: Padding = "required",
    limit: int = MAX_DECODE_CHARS,
) -> B64:
    """Decode base64 strictly as RFC 4648 §4/§5 say, then leniently.

    The lenient pass accepts white space, the other alphabet (``-_`` for ``+/`` or the
    reverse), missing or surplus padding, and says which of these it needed. Text longer
    than ``limit`` is not decoded (``too_long``).
    """
    if len(text) > limit:
        return B64(None, too_long=True)
    strict = _decode_exact(text, alphabet, padding)
    if strict is not None:
        return B64(strict)
    tolerated: list[str] = []
    body = text
    if _WS.search(body):
        body = _WS.sub("", body)
        tolerated.append("white space")
    stripped = body.rstrip("=")
    pad = len(body) - len(stripped)
    if "=" in stripped:
        return B64(None)
    wanted, other = (_STD, _URL) if alphabet == "standard" else (_URL, _STD)
    if not wanted.fullmatch(stripped):
        if other.fullmatch(stripped) or _mixed(stripped):
            tolerated.append(
                "the URL-safe alphabet ('-' and '_')"
                if alphabet == "standard"
                else "the standard alphabet ('+' and '/')"
            )
        else:
            return B64(None)
    if len(stripped) % 4 == 1:
        return B64(None)
    needed = -len(stripped) % 4
    if padding == "required" and pad != needed:
        tolerated.append("missing padding" if pad < needed else "surplus padding")
    elif padding == "forbidden" and pad:
        tolerated.append("padding ('=')")
    elif padding == "optional" and pad and pad != needed:
        tolerated.append("wrong padding")
    normal = stripped.replace("-", "+").replace("_", "/") + "=" * needed
    try:
        return B64(base64.b64decode(normal, validate=True), tolerated)
    except (binascii.Error, ValueError):
        return B64(None)


def _mixed(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9+/\-_]*", text) is not None


def _decode_exact(text: str, alphabet: Alphabet, padding: Padding) -> bytes | None:
    stripped = text.rstrip("=")
    pad = len(text) - len(stripped)
    pattern = _STD if alphabet == "standard" else _URL
    if not pattern.fullmatch(stripped) or len(stripped) % 4 == 1:
        return None
    needed = -len(stripped) % 4
    if padding == "required" and pad != needed:
        return None
    if padding == "forbidden" and pad:
        return None
    if padding == "optional" and pad not in (0, needed):
        return None
    normal = stripped + "=" * needed
    if alphabet == "urlsafe":
        normal = normal.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(normal, validate=True)
    except (binascii.Error, ValueError):
        return None


def b64url_encode(data: bytes) -> str:
    """base64url without padding, as JOSE and RFC 7638 thumbprints use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def shown(value: object, limit: int = 80) -> str:
    """A value from the traffic, quoted for a sentence: control characters escaped, cut."""
    text = str(value)
    cut = len(text) > limit
    text = text[:limit]
    text = _CTL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return f"'{text}…'" if cut else f"'{text}'"


def capped(text: str, limit: int = 256) -> str:
    """Long text from the traffic, cut for a summary (an ellipsis marks the cut)."""
    return text if len(text) <= limit else text[:limit] + "…"


def iso_utc(seconds: object) -> str | None:
    """A NumericDate (RFC 7519 §2) as ISO-8601 UTC, or None when it is not one."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    if isinstance(seconds, float) and not math.isfinite(seconds):
        return None
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    if moment.microsecond:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def is_true_false(value: str) -> bool | None:
    """RFC 7616 style flag: "true"/"false" case-insensitively, None for anything else."""
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def unknown_params(
    scheme: str, params: Mapping[str, str], known: Iterable[str], reference: str | None = None
) -> list[Finding]:
    """One info finding naming the parameters a scheme does not define (they are ignored)."""
    known_set = set(known)
    extra = [name for name in params if name not in known_set]
    if not extra:
        return []
    names = ", ".join(shown(n, 40) for n in extra[:10]) + (" …" if len(extra) > 10 else "")
    return [
        info(
            UNKNOWN_PARAMETER,
            f"{scheme} does not define the parameter(s) {names}; recipients ignore them.",
            reference,
        )
    ]


def digits(text: str, max_length: int) -> bool:
    """``text`` is 1 to ``max_length`` ASCII digits, so ``int(text)`` cannot fail.

    ``str.isdigit()`` alone also accepts digits such as '²', which ``int()`` rejects.
    """
    return 0 < len(text) <= max_length and text.isascii() and text.isdigit()


def is_printable_ascii(data: bytes) -> bool:
    return all(0x20 <= b < 0x7F for b in data)


def who(is_proxy: bool) -> str:
    """'the proxy' or 'the server': who sent a challenge (or is addressed by credentials)."""
    return "the proxy" if is_proxy else "the server"


_ATTR_CHAR = re.compile(r"[A-Za-z0-9!#$&+\-.^_`|~]")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_EXT_VALUE = re.compile(r"([A-Za-z0-9!#$%&+\-^_`{}~]+)'([A-Za-z0-9\-]*)'(.*)", re.DOTALL)


def decode_ext_value(value: str) -> tuple[str | None, str | None]:
    """An RFC 8187 §3.2.1 ext-value (``UTF-8''J%C3%A4s%C3%B8n``) to ``(text, problem)``.

    ``text`` is None only when the value cannot be read at all; ``problem`` says, in words,
    what is wrong with it (None when nothing is). Charsets other than UTF-8 and ISO-8859-1
    are not decoded: RFC 8187 requires only UTF-8 of recipients.
    """
    m = _EXT_VALUE.fullmatch(value)
    if not m:
        return None, "it is not of the form charset'language'percent-encoded-text"
    charset, _language, chars = m.groups()
    problem: str | None = None
    raw = bytearray()
    i, n = 0, len(chars)
    while i < n:
        ch = chars[i]
        if ch == "%":
            pct = _PCT.match(chars, i)
            if pct:
                raw.append(int(pct.group(1), 16))
                i += 3
                continue
            problem = "it holds a '%' that is not followed by two hex digits"
        elif not _ATTR_CHAR.fullmatch(ch):
            problem = f"it holds {shown(ch)}, which must be percent-encoded"
        raw += ch.encode("utf-8", "replace")
        i += 1
    codec = charset.lower()
    if codec == "utf-8":
        try:
            return bytes(raw).decode("utf-8"), problem
        except UnicodeDecodeError:
            return bytes(raw).decode("latin-1"), "its bytes are not valid UTF-8"
    if codec == "iso-8859-1":
        return bytes(raw).decode("latin-1"), problem or "it uses ISO-8859-1, not UTF-8"
    return None, f"its charset {shown(charset)} is not UTF-8"


# --- URIs that may carry tokens ---------------------------------------------------------


def redact_query(uri: str) -> str:
    """``uri`` (a URL or a request target such as a Digest ``uri``) with the value of every
    secret-named query parameter (``access_token``, ``sig``, ``api_key``, ... as
    :func:`authlens.report.har.is_secret_name` decides, the rule every export follows)
    replaced by its keyed fingerprint; names, other values, path and order are kept.

    A query string is where tokens travel, and authlens quotes request targets in
    explanations and summaries. Values are fingerprinted after percent-decoding, so they
    match the fingerprints the HAR export shows for the same parameters, and equal values
    stay recognisably equal. Parameters of a fragment (implicit-flow tokens) are treated
    alike.
    """
    if "?" not in uri and "#" not in uri:
        return uri
    rest, hash_, fragment = uri.partition("#")
    rest, qmark, query = rest.partition("?")
    if qmark:
        query = _fingerprint_values(query)
    if hash_:
        fragment = _fingerprint_values(fragment)
    return rest + qmark + query + hash_ + fragment


def _fingerprint_values(text: str) -> str:
    from authlens.report.har import carries_secret, is_secret_name  # the one rule

    out = []
    for pair in text.split("&"):
        name, eq, value = pair.partition("=")
        if (
            eq
            and value
            and (is_secret_name(unquote_plus(name)) or carries_secret(unquote_plus(value)))
        ):
            pair = f"{name}={fingerprint(unquote_plus(value))}"
        out.append(pair)
    return "&".join(out)


class RedactedText(Secret):
    """Text with secret parts inside, such as a URI with a token in its query: it shows as
    its redacted form (``redact_query``), not as one opaque fingerprint, so the readable
    parts stay readable; :meth:`reveal` gives the raw text for ``--no-redact`` output.
    Like :class:`Secret`, copying or pickling keeps only the redacted form."""

    def __new__(cls, raw: str, shown: str) -> RedactedText:
        self = str.__new__(cls, shown)
        self._raw = raw
        return self


def uri_value(uri: str) -> str:
    """A URI for a decoded summary: as is, or :class:`RedactedText` when its query (or
    fragment) holds secret-named values."""
    redacted = redact_query(uri)
    return uri if redacted == uri else RedactedText(uri, redacted)
