"""Any scheme authlens has no decoder for: shown generically, nothing guessed."""

from __future__ import annotations

from authlens.findings import info
from authlens.schemes import AuthInput, Decoded
from authlens.secret import Secret

UNKNOWN_SCHEME = "unknown-scheme"


def decode_challenge(item: AuthInput) -> Decoded:
    summary: dict[str, object] = {"params": dict(item.params)}
    if item.token68 is not None:
        summary["token68_length"] = len(item.token68)
    realm = item.params.get("realm")
    where = f" for realm '{realm}'" if realm else ""
    return Decoded(
        summary=summary,
        findings=[
            info(
                UNKNOWN_SCHEME,
                f"'{item.scheme}' is not a scheme authlens knows; its parameters are shown "
                "as sent.",
                "RFC 9110 §16.4 (HTTP Authentication Scheme Registry)",
            )
        ],
        plain=f"The server asks for '{item.scheme}' authentication{where}, a scheme "
        "authlens does not know.",
    )


def decode_credentials(item: AuthInput) -> Decoded:
    # Credentials of an unknown scheme may be anything, so every value is treated as secret.
    summary: dict[str, object] = {
        "params": {name: Secret(value) for name, value in item.params.items()}
    }
    if item.token68 is not None:
        summary["token"] = Secret(item.token68)
        summary["token_length"] = len(item.token68)
    return Decoded(
        summary=summary,
        findings=[
            info(
                UNKNOWN_SCHEME,
                f"'{item.scheme}' is not a scheme authlens knows; its values are redacted.",
                "RFC 9110 §16.4 (HTTP Authentication Scheme Registry)",
            )
        ],
        plain=f"The client sent '{item.scheme}' credentials, a scheme authlens does not know.",
    )
