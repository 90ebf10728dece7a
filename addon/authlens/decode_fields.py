"""Read ``authlens decode`` input: bare challenge lines or whole ``Name: value`` lines."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass

from authlens.challenge import PROXY_AUTHENTICATE, WWW_AUTHENTICATE
from authlens.credentials import AUTHORIZATION, PROXY_AUTHORIZATION

AUTH_FIELDS = {
    name.lower(): name
    for name in (WWW_AUTHENTICATE, PROXY_AUTHENTICATE, AUTHORIZATION, PROXY_AUTHORIZATION)
}
CHALLENGE_FIELDS = frozenset({WWW_AUTHENTICATE, PROXY_AUTHENTICATE})
_NAMED = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*:[ \t]*(.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class FieldLine:
    name: str  # canonical field name
    value: str


@dataclass(slots=True)
class ReadFields:
    lines: list[FieldLine]
    ignored: list[str]  # names of other header fields that were skipped


def read_values(values: Iterable[str], *, proxy: bool) -> ReadFields:
    """Classify each value: ``Name: value`` for an auth field, else a challenge line.

    A value that names another header field (e.g. ``Content-Type: ...``, as in a pasted
    response) is skipped and reported, so a whole header block can be piped in.
    """
    default = PROXY_AUTHENTICATE if proxy else WWW_AUTHENTICATE
    out = ReadFields([], [])
    for value in values:
        m = _NAMED.fullmatch(value.strip())
        if m and m.group(1).lower() in AUTH_FIELDS:
            out.lines.append(FieldLine(AUTH_FIELDS[m.group(1).lower()], m.group(2)))
        elif m:  # "Name: value" of another field; a challenge never has ':' after its scheme
            out.ignored.append(m.group(1))
        elif value.strip():
            credentials = PROXY_AUTHORIZATION if proxy else AUTHORIZATION
            out.lines.append(FieldLine(credentials if is_credentials(value) else default, value))
    return out


# Bare values that can only be credentials: read as such, so their secrets are redacted (a
# challenge's parameters are not secret and are shown as they are).
_TOKEN68_CREDENTIALS = re.compile(
    r"[ \t]*(?:Basic|Bearer|DPoP)[ ]+[A-Za-z0-9\-._~+/]+=*[ \t]*", re.IGNORECASE
)
_DIGEST_CREDENTIALS = re.compile(
    r"[ \t]*Digest[ \t]+.{0,8192}?(?<![\w-])(?:response|username|username\*|cnonce)[ \t]*=",
    re.IGNORECASE | re.DOTALL,
)
_NTLM = re.compile(r"[ \t]*(?:NTLM|Negotiate)[ ]+(TlRMTVNTUA[A-Za-z0-9+/]{3})", re.IGNORECASE)
_AWS4 = re.compile(r"[ \t]*AWS4-HMAC-SHA256[ \t]+Credential=", re.IGNORECASE)


def is_credentials(value: str) -> bool:
    """Whether a bare value (no field name) can only be an Authorization value: Basic or
    Bearer with a token, Digest with a username or response, an NTLM NEGOTIATE or
    AUTHENTICATE message (a CHALLENGE message is the server's), AWS SigV4."""
    if _TOKEN68_CREDENTIALS.fullmatch(value) or _DIGEST_CREDENTIALS.match(value):
        return True
    if _AWS4.match(value):
        return True
    m = _NTLM.match(value)
    if m:
        # "TlRMTVNTUA" is base64 of "NTLMSSP\0"; the next characters carry the type.
        head = base64.b64decode(m.group(1)[:12] + "==", validate=False)[8:9]
        return head in (b"\x01", b"\x03")
    return False


def split_stdin(text: str) -> list[str]:
    """Field lines of standard input: obsolete folding joined, a status line and blank
    lines dropped.

    Lines end at LF (or CRLF) only, as HTTP field lines do. ``str.splitlines`` also ends
    them at VT, FF, FS, GS, RS, NEL, U+2028 and U+2029, characters a hostile value may
    hold: that cut a credential in two, and its second half, read as a bare value, was
    decoded as a challenge, whose parameters are shown unredacted (a Digest ``response``
    in the clear)."""
    lines: list[str] = []
    for raw in text.split("\n"):
        raw = raw.removesuffix("\r")
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += " " + raw.strip()
        elif raw.upper().startswith("HTTP/") or not raw.strip():
            continue
        else:
            lines.append(raw)
    return lines
