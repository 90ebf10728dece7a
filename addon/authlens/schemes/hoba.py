"""HTTP Origin-Bound Authentication, HOBA (RFC 7486).

The server sends a ``challenge`` and how long it stays valid (``max-age``); the client
signs it with a key pair it registered with that origin and returns
``result = kid "." challenge "." nonce "." sig``, each part base64url (RFC 7486 §2). The
signature is a :class:`~authlens.secret.Secret`; key ID, challenge and nonce stay visible.
"""

from __future__ import annotations

from typing import Any

from authlens.findings import Finding, error, warning
from authlens.schemes import AuthInput, Decoded, Scheme, register
from authlens.schemes._common import (
    b64decode,
    capped,
    digits,
    is_printable_ascii,
    shown,
    unknown_params,
    who,
)
from authlens.secret import Secret

REF = "RFC 7486"
REF_SCHEME = "RFC 7486 §2"

# Finding IDs.
HOBA_MISSING_CHALLENGE = "hoba-missing-challenge"
HOBA_MISSING_MAX_AGE = "hoba-missing-max-age"
HOBA_BAD_MAX_AGE = "hoba-bad-max-age"
HOBA_BAD_BASE64 = "hoba-bad-base64"
HOBA_MISSING_RESULT = "hoba-missing-result"
HOBA_BAD_RESULT = "hoba-bad-result"
HOBA_TOKEN68 = "hoba-token68"


def decode_challenge(item: AuthInput) -> Decoded:
    """challenge, max-age (both required) and realm."""
    p = item.params
    findings: list[Finding] = []
    summary: dict[str, Any] = {
        "realm": p.get("realm"),
        "challenge": p.get("challenge"),
        "max_age": None,
    }
    if "challenge" not in p:
        findings.append(
            error(
                HOBA_MISSING_CHALLENGE,
                "The HOBA challenge lacks 'challenge'; it is required.",
                REF_SCHEME,
            )
        )
    elif b64decode(p["challenge"], alphabet="urlsafe", padding="optional").data is None:
        findings.append(
            warning(HOBA_BAD_BASE64, "The HOBA challenge value is not base64url.", REF_SCHEME)
        )
    if "max-age" not in p:
        findings.append(
            warning(
                HOBA_MISSING_MAX_AGE,
                "The HOBA challenge lacks 'max-age'; it is required.",
                REF_SCHEME,
            )
        )
    else:
        raw = p["max-age"]
        summary["max_age"] = int(raw) if digits(raw, 10) else None
        if summary["max_age"] is None:
            findings.append(
                warning(
                    HOBA_BAD_MAX_AGE,
                    f"max-age={shown(raw, 20)} is not a number of seconds.",
                    REF_SCHEME,
                )
            )
    if item.token68 is not None:
        findings.append(
            error(HOBA_TOKEN68, "A HOBA challenge carries parameters, not a token68.", REF_SCHEME)
        )
    findings += unknown_params("HOBA", p, ("challenge", "max-age", "realm"), REF_SCHEME)
    where = f" for realm {shown(summary['realm'])}" if summary["realm"] else ""
    valid = f" within {summary['max_age']} seconds" if summary["max_age"] is not None else ""
    return Decoded(
        summary,
        findings,
        f"{who(item.is_proxy).capitalize()} wants origin-bound authentication (HOBA){where}: "
        f"the client must sign the challenge{valid} with a key it registered with this origin.",
    )


def decode_credentials(item: AuthInput) -> Decoded:
    """result = kid.challenge.nonce.sig."""
    p = item.params
    findings: list[Finding] = []
    summary: dict[str, Any] = {}
    result = p.get("result")
    if result is None:
        findings.append(error(HOBA_MISSING_RESULT, "HOBA credentials lack 'result'.", REF_SCHEME))
        return Decoded(summary, findings, "The client sent HOBA credentials without a result.")
    parts = result.split(".")
    if len(parts) != 4:
        findings.append(
            error(
                HOBA_BAD_RESULT,
                f"The HOBA result has {len(parts)} dot-separated parts; it must have 4 "
                "(kid.challenge.nonce.sig).",
                REF_SCHEME,
            )
        )
        summary["result"] = Secret(result)
        return Decoded(summary, findings, "The client sent a malformed HOBA result.")
    kid, challenge, nonce, sig = parts
    decoded_kid = b64decode(kid, alphabet="urlsafe", padding="optional").data
    if decoded_kid is None:
        findings.append(warning(HOBA_BAD_BASE64, "The HOBA key ID is not base64url.", REF_SCHEME))
        summary["kid"] = capped(kid)
    else:
        summary["kid"] = capped(
            decoded_kid.decode("ascii") if is_printable_ascii(decoded_kid) else decoded_kid.hex()
        )
    summary.update(
        challenge=capped(challenge),
        nonce=capped(nonce),
        signature=Secret(sig),
        signature_length=len(sig),
    )
    findings += unknown_params("HOBA", p, ("result",), REF_SCHEME)
    return Decoded(
        summary, findings, f"The client signed the HOBA challenge with key {shown(summary['kid'])}."
    )


SCHEME = register(
    Scheme(
        name="HOBA",
        reference=REF,
        decode_challenge=decode_challenge,
        decode_credentials=decode_credentials,
    )
)
