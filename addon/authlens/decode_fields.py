"""Read ``authlens decode`` input: bare challenge lines or whole ``Name: value`` lines."""

from __future__ import annotations

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
            out.lines.append(FieldLine(default, value))
    return out


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
