"""Authorization / Proxy-Authorization values to decoded, redacted :class:`Credentials`."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from authlens import grammar, schemes
from authlens.findings import Finding, error

AUTHORIZATION = "Authorization"
PROXY_AUTHORIZATION = "Proxy-Authorization"


@dataclass(frozen=True, slots=True)
class Credentials:
    """One credential. ``summary`` is JSON-safe and redacted: every secret in it is a
    :class:`authlens.secret.Secret`, which prints as its fingerprint.

    ``params`` and ``token68`` are the lexed values and may hold secrets in the clear;
    they are for diagnosis code (e.g. comparing a Digest ``uri`` with the request) and
    are never serialized.
    """

    scheme: str
    summary: dict[str, Any]
    findings: list[Finding] = dataclass_field(default_factory=list)
    field: str = AUTHORIZATION
    plain: str = ""
    params: dict[str, str] = dataclass_field(default_factory=dict, repr=False)
    token68: str | None = dataclass_field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The credentials object of DESIGN.md §3."""
        return {
            "field": self.field,
            "scheme": self.scheme,
            "summary": self.summary,
            "findings": [f.to_json() for f in self.findings],
        }


def decode_credentials(value: str | bytes, field: str = AUTHORIZATION) -> Credentials:
    """Decode one Authorization (or Proxy-Authorization) field value.

    Total: any input returns a :class:`Credentials`, never raises.
    """
    try:
        lexed = grammar.lex_credentials(value, schemes.known_scheme_names())
    except Exception as exc:  # pragma: no cover - a grammar bug must not escape
        return Credentials(
            "",
            {},
            [error(schemes.INTERNAL_ERROR, f"authlens failed to parse ({type(exc).__name__}).")],
            field,
        )
    if not lexed.challenges:
        return Credentials("", {}, lexed.findings, field)
    raw = lexed.challenges[0]
    decoded = schemes.decode_credentials(
        schemes.AuthInput(raw.scheme, raw.params, raw.token68, field)
    )
    return Credentials(
        scheme=raw.scheme,
        summary=decoded.summary,
        findings=lexed.findings + raw.findings + decoded.findings,
        field=field,
        plain=decoded.plain,
        params=raw.params,
        token68=raw.token68,
    )
