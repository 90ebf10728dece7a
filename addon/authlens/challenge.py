"""WWW-Authenticate / Proxy-Authenticate field lines to decoded :class:`Challenge` objects."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from authlens import grammar, schemes
from authlens.findings import Finding, error

WWW_AUTHENTICATE = "WWW-Authenticate"
PROXY_AUTHENTICATE = "Proxy-Authenticate"


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: the scheme as written, its parameters and what they mean.

    ``params`` has lower-cased names and unescaped values; ``decoded`` is the scheme's
    JSON-safe reading of them; ``findings`` covers both the syntax and the meaning.
    """

    scheme: str
    params: dict[str, str]
    token68: str | None
    decoded: dict[str, Any]
    findings: list[Finding] = dataclass_field(default_factory=list)
    field: str = WWW_AUTHENTICATE
    plain: str = ""  # one sentence for people: what the server asks for

    def to_json(self) -> dict[str, Any]:
        """The challenge object of DESIGN.md §3."""
        return {
            "field": self.field,
            "scheme": self.scheme,
            "params": dict(self.params),
            "token68": self.token68,
            "decoded": self.decoded,
            "findings": [f.to_json() for f in self.findings],
        }

    def serialize(self) -> str:
        return grammar.format_challenge(self.scheme, self.params, self.token68)


def parse_challenges(
    lines: str | bytes | Iterable[str | bytes], field: str = WWW_AUTHENTICATE
) -> list[Challenge]:
    """Parse WWW-Authenticate (or Proxy-Authenticate) field lines into challenges.

    ``lines`` is one field line or several (a repeated header); several lines parse as
    their comma-joined combination. Total: any input returns a list, never raises.
    Findings about the field as a whole (e.g. non-UTF-8 bytes) are attached to the first
    challenge; a field with no challenge at all returns one challenge with an empty scheme
    that carries those findings.
    """
    try:
        lexed = grammar.lex_challenges(lines, schemes.known_scheme_names())
    except Exception as exc:  # pragma: no cover - a grammar bug must not escape
        return [_broken(field, exc)]
    result = [_decode(raw, field) for raw in lexed.challenges]
    if lexed.findings:
        if result:
            first = result[0]
            first.findings[:0] = lexed.findings
        else:
            result.append(Challenge("", {}, None, {}, list(lexed.findings), field))
    return result


def _decode(raw: grammar.RawChallenge, field: str) -> Challenge:
    if not raw.scheme:  # parameters with no scheme: nothing to decode them by
        return Challenge("", raw.params, raw.token68, {}, raw.findings, field)
    decoded = schemes.decode_challenge(
        schemes.AuthInput(raw.scheme, raw.params, raw.token68, field)
    )
    return Challenge(
        scheme=raw.scheme,
        params=raw.params,
        token68=raw.token68,
        decoded=decoded.summary,
        findings=raw.findings + decoded.findings,
        field=field,
        plain=decoded.plain,
    )


def _broken(field: str, exc: Exception) -> Challenge:
    return Challenge(
        "",
        {},
        None,
        {},
        [
            error(
                schemes.INTERNAL_ERROR,
                f"authlens failed to parse this field ({type(exc).__name__}).",
            )
        ],
        field,
    )
