"""Terminal rendering: what the server asks for in plain words, then fields, then findings."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from authlens.challenge import Challenge
from authlens.credentials import Credentials
from authlens.findings import Finding, Severity
from authlens.schemes import lookup
from authlens.secret import Secret, is_fingerprint

MAX_VALUE_CHARS = 160
_MARK = {Severity.ERROR: "✖", Severity.WARNING: "▲", Severity.INFO: "·"}
_COLOR = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}


class Style:
    """ANSI styling when writing to a terminal that wants it (NO_COLOR respected)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: TextIO) -> Style:
        wants = (
            stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        )
        return cls(wants)

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def severity(self, severity: Severity, text: str) -> str:
        return self._wrap(_COLOR[severity], text)


def printable(value: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Escape control characters (a header must not drive the terminal) and cap length."""
    out = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in value[: limit + 1]
    )
    if len(value) > limit:
        out = out[:limit] + f"… ({len(value):,} characters)"
    return out


def render_decode(
    challenges: list[Challenge],
    credentials: list[Credentials],
    findings: list[Finding],
    style: Style,
    *,
    redact: bool = True,
) -> str:
    lines: list[str] = []
    if challenges:
        field = challenges[0].field
        count = len(challenges)
        lines.append(style.bold(f"{field}: {count} challenge{'s' if count != 1 else ''}"))
        for i, challenge in enumerate(challenges, 1):
            lines.append("")
            lines.extend(_challenge_block(i, challenge, style, redact))
    for cred in credentials:
        if lines:
            lines.append("")
        lines.append(style.bold(f"{cred.field}: {printable(cred.scheme) or '(no scheme)'}"))
        lines.extend(_body(cred.plain, cred.summary, cred.findings, style, redact))
    if findings:
        lines.append("")
        lines.extend(_findings(findings, style, indent="  "))
    if not lines:
        lines.append("Nothing to decode.")
    return "\n".join(lines) + "\n"


def _challenge_block(i: int, challenge: Challenge, style: Style, redact: bool) -> list[str]:
    scheme = lookup(challenge.scheme) if challenge.scheme else None
    ref = f"  {style.dim('(' + scheme.reference + ')')}" if scheme else ""
    head = f"{i:>2}. {style.bold(printable(challenge.scheme) or '(no scheme)')}{ref}"
    decoded: dict[str, Any] = challenge.decoded or dict(challenge.params)
    if challenge.token68 is not None and not challenge.decoded:
        decoded = {"token68": challenge.token68}
    return [head, *_body(challenge.plain, decoded, challenge.findings, style, redact)]


def _body(
    plain: str, fields: dict[str, Any], findings: list[Finding], style: Style, redact: bool
) -> list[str]:
    lines = []
    if plain:
        lines.append(f"    {printable(plain, 1000)}")
    lines.extend(_fields(fields, indent="      ", redact=redact, style=style))
    lines.extend(_findings(findings, style, indent="    "))
    return lines


def _fields(fields: dict[str, Any], indent: str, redact: bool, style: Style) -> list[str]:
    scalars = {
        k: v for k, v in fields.items() if not isinstance(v, dict | list) or _flat_list(v) or not v
    }
    width = max((len(k) for k in scalars), default=0)
    out: list[str] = []
    for key, value in fields.items():
        if key in scalars:
            out.append(f"{indent}{key.ljust(width)}  {_scalar(value, redact, style)}")
        elif isinstance(value, dict):
            out.append(f"{indent}{key}:")
            out.extend(_fields(value, indent + "  ", redact, style))
        else:  # a list of dicts
            out.append(f"{indent}{key}:")
            for item in value:
                if isinstance(item, dict):
                    sub = _fields(item, indent + "  ", redact, style)
                    if sub:
                        sub[0] = indent + "- " + sub[0][len(indent) + 2 :]
                    out.extend(sub)
                else:
                    out.append(f"{indent}- {_scalar(item, redact, style)}")
    return out


def _flat_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)


def _scalar(value: Any, redact: bool, style: Style) -> str:
    if isinstance(value, Secret):
        if not redact:
            return printable(value.reveal_text())
        unit = "bytes" if isinstance(value.reveal(), bytes) else "characters"
        return style.dim(f"{value}  ({value.size} {unit}, redacted)")
    if isinstance(value, list | dict):
        return ", ".join(_scalar(v, redact, style) for v in value) or style.dim("(none)")
    if value is None:
        return style.dim("(absent)")
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return style.dim(text) if is_fingerprint(text) else printable(text)


def _findings(findings: Iterable[Finding], style: Style, indent: str) -> list[str]:
    out = []
    for f in sorted(findings, key=lambda f: -f.severity.rank):
        mark = style.severity(f.severity, f"{_MARK[f.severity]} {f.severity.value:<7}")
        ref = f"  {style.dim('[' + f.reference + ']')}" if f.reference else ""
        out.append(
            f"{indent}{mark} {printable(f.message, 1000)} {style.dim('(' + f.id + ')')}{ref}"
        )
    return out


def write(text: str, stream: TextIO | None = None) -> None:
    # sys.stdout looked up at call time (not bound at import), so redirection works.
    (stream if stream is not None else sys.stdout).write(text)
