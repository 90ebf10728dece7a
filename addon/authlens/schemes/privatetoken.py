"""Privacy Pass tokens: the PrivateToken scheme (RFC 9577).

The challenge's ``challenge`` parameter is a base64url ``TokenChallenge`` (RFC 9577
§2.1.1): the token type, the issuer's name, an optional 32-byte redemption context and the
origins the token may be spent at. ``token-key`` is the issuer's public key. The client
answers with ``token``, a base64url ``Token`` (§2.2.1) whose authenticator proves the
issuer signed it; the authenticator is a :class:`~authlens.secret.Secret` (a token is a
bearer credential, spendable once).
"""

from __future__ import annotations

import hashlib
from typing import Any

from authlens.findings import Finding, error, info, warning
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

REF = "RFC 9577"
REF_STRUCT = "RFC 9577 §2.1.1"
REF_SEND = "RFC 9577 §2.1.2"
REF_TOKEN = "RFC 9577 §2.2.1"
REF_REDEEM = "RFC 9577 §2.2.2"
REF_TYPES = "RFC 9577 §6.2"

# Finding IDs.
PRIVATETOKEN_MISSING_CHALLENGE = "privatetoken-missing-challenge"
PRIVATETOKEN_BAD_BASE64 = "privatetoken-bad-base64"
PRIVATETOKEN_LENIENT_BASE64 = "privatetoken-lenient-base64"
PRIVATETOKEN_BAD_STRUCT = "privatetoken-bad-struct"
PRIVATETOKEN_BAD_CONTEXT = "privatetoken-bad-redemption-context"
PRIVATETOKEN_UNKNOWN_TYPE = "privatetoken-unknown-type"
PRIVATETOKEN_GREASE = "privatetoken-grease"
PRIVATETOKEN_BAD_MAX_AGE = "privatetoken-bad-max-age"
PRIVATETOKEN_MISSING_TOKEN = "privatetoken-missing-token"
PRIVATETOKEN_TOKEN68 = "privatetoken-token68"

# token_type → (name, Nid, Nk) from the Privacy Pass Token Type registry (RFC 9578 §8.2).
TOKEN_TYPES: dict[int, tuple[str, int, int]] = {
    0x0001: ("VOPRF(P-384, SHA-384)", 32, 48),
    0x0002: ("Blind RSA (SHA-384, 2048-bit)", 32, 256),
}
# RFC 9577 §6.2.1: reserved values clients must treat as unknown ("greasing").
GREASE_TYPES = frozenset(
    {0x0000, 0x02AA, 0x1132, 0x2E96, 0x3CD3, 0x4473, 0x5A63, 0x6D32, 0x7F3F, 0x8D07,
     0x916B, 0xA6A4, 0xBEAB, 0xC3F3, 0xDA42, 0xE944, 0xF057}
)  # fmt: skip
CHALLENGE_PARAMS = ("challenge", "token-key", "max-age", "realm")


def _b64(value: str, what: str, findings: list[Finding]) -> bytes | None:
    decoded = b64decode(value, alphabet="urlsafe", padding="required")
    if decoded.data is None:
        findings.append(
            error(PRIVATETOKEN_BAD_BASE64, f"The {what} is not valid base64url.", REF_SEND)
        )
        return None
    if decoded.tolerated:
        findings.append(
            warning(
                PRIVATETOKEN_LENIENT_BASE64,
                f"The {what} uses " + ", ".join(decoded.tolerated) + "; RFC 9577 requires "
                "base64url with padding.",
                REF_SEND,
            )
        )
    return decoded.data


def _type_summary(token_type: int, findings: list[Finding]) -> dict[str, Any]:
    out: dict[str, Any] = {"token_type": token_type, "token_type_hex": f"0x{token_type:04x}"}
    if token_type in TOKEN_TYPES:
        out["token_type_name"] = TOKEN_TYPES[token_type][0]
    elif token_type in GREASE_TYPES:
        out["token_type_name"] = "reserved (grease)"
        findings.append(
            info(
                PRIVATETOKEN_GREASE,
                f"Token type 0x{token_type:04x} is a reserved 'grease' value: clients must "
                "ignore it (it tests that they do).",
                "RFC 9577 §6.2.1",
            )
        )
    else:
        out["token_type_name"] = None
        findings.append(
            warning(
                PRIVATETOKEN_UNKNOWN_TYPE,
                f"Token type 0x{token_type:04x} is not one authlens knows; clients that do "
                "not support it ignore the challenge.",
                REF_TYPES,
            )
        )
    return out


def decode_token_challenge(data: bytes) -> tuple[dict[str, Any], list[Finding]]:
    """A TokenChallenge struct (RFC 9577 §2.1.1) to a summary and findings. Total."""
    findings: list[Finding] = []

    def bad(what: str) -> tuple[dict[str, Any], list[Finding]]:
        findings.append(
            error(PRIVATETOKEN_BAD_STRUCT, f"The TokenChallenge is malformed: {what}.", REF_STRUCT)
        )
        return summary, findings

    summary: dict[str, Any] = {"length": len(data)}
    if len(data) < 2:
        return bad("it is shorter than its 2-byte token type")
    token_type = int.from_bytes(data[:2], "big")
    summary.update(_type_summary(token_type, findings))
    if token_type in GREASE_TYPES:
        return summary, findings  # the rest is random bytes by design
    pos = 2
    fields: list[bytes] = []
    for name, width in (("issuer_name", 2), ("redemption_context", 1), ("origin_info", 2)):
        if pos + width > len(data):
            return bad(f"it ends before the length of {name}")
        size = int.from_bytes(data[pos : pos + width], "big")
        pos += width
        if pos + size > len(data):
            return bad(f"{name} claims {size} bytes but only {len(data) - pos} remain")
        fields.append(data[pos : pos + size])
        pos += size
    if pos != len(data):
        findings.append(
            warning(
                PRIVATETOKEN_BAD_STRUCT,
                f"The TokenChallenge has {len(data) - pos} bytes after its last field.",
                REF_STRUCT,
            )
        )
    issuer, context, origins = fields
    summary["issuer_name"] = capped(issuer.decode("ascii", "replace"))
    if not issuer:
        findings.append(
            error(
                PRIVATETOKEN_BAD_STRUCT, "The TokenChallenge has an empty issuer_name.", REF_STRUCT
            )
        )
    summary["redemption_context_length"] = len(context)
    if len(context) not in (0, 32):
        findings.append(
            error(
                PRIVATETOKEN_BAD_CONTEXT,
                f"The redemption_context is {len(context)} bytes; it must be 0 or 32, and "
                "clients ignore the challenge otherwise.",
                REF_STRUCT,
            )
        )
    origin_text = origins.decode("ascii", "replace")
    summary["origin_info"] = [capped(o) for o in origin_text.split(",")[:32]] if origins else []
    if (issuer and not is_printable_ascii(issuer)) or (origins and not is_printable_ascii(origins)):
        findings.append(
            warning(
                PRIVATETOKEN_BAD_STRUCT,
                "issuer_name or origin_info holds bytes that are not printable ASCII.",
                "RFC 9577 §2.1.1.1",
            )
        )
    summary["digest"] = hashlib.sha256(data).hexdigest()
    return summary, findings


def decode_challenge(item: AuthInput) -> Decoded:
    """challenge (a TokenChallenge), token-key (the issuer key), max-age (§2.1.2)."""
    p = item.params
    findings: list[Finding] = []
    summary: dict[str, Any] = {"realm": p.get("realm")}
    challenge = p.get("challenge")
    if challenge is None:
        findings.append(
            error(
                PRIVATETOKEN_MISSING_CHALLENGE,
                "The PrivateToken challenge lacks the required 'challenge' parameter.",
                REF_SEND,
            )
        )
    else:
        data = _b64(challenge, "challenge", findings)
        if data is not None:
            decoded, struct_findings = decode_token_challenge(data)
            findings += struct_findings
            summary["challenge"] = decoded
    key = p.get("token-key")
    if key is not None:
        key_bytes = _b64(key, "token-key", findings)
        summary["token_key_length"] = len(key_bytes) if key_bytes is not None else None
    if "max-age" in p:
        raw = p["max-age"]
        summary["max_age"] = int(raw) if digits(raw, 10) else None
        if summary["max_age"] is None:
            findings.append(
                warning(
                    PRIVATETOKEN_BAD_MAX_AGE,
                    f"max-age={shown(raw, 20)} is not a number of seconds.",
                    REF_SEND,
                )
            )
    if item.token68 is not None:
        findings.append(
            error(
                PRIVATETOKEN_TOKEN68,
                "A PrivateToken challenge carries parameters, not a token68.",
                REF_SEND,
            )
        )
    findings += unknown_params("PrivateToken", p, CHALLENGE_PARAMS, REF_SEND)
    parsed = summary.get("challenge") or {}
    issuer = parsed.get("issuer_name")
    type_name = parsed.get("token_type_name")
    what = f" ({type_name})" if type_name else ""
    source = f" issued by {shown(issuer)}" if issuer else ""
    return Decoded(
        summary,
        findings,
        f"{who(item.is_proxy).capitalize()} asks for an anonymous Privacy Pass token{what}"
        f"{source}, which the client must fetch from that issuer before retrying.",
    )


def decode_credentials(item: AuthInput) -> Decoded:
    """token: a Token struct (§2.2.1); its authenticator is a Secret."""
    p = item.params
    findings: list[Finding] = []
    summary: dict[str, Any] = {}
    token = p.get("token")
    if token is None:
        findings.append(
            error(
                PRIVATETOKEN_MISSING_TOKEN,
                "PrivateToken credentials lack the 'token' parameter.",
                REF_REDEEM,
            )
        )
        return Decoded(
            summary, findings, "The client sent PrivateToken credentials without a token."
        )
    summary["token"] = Secret(token)
    data = _b64(token, "token", findings)
    type_name = None
    if data is not None:
        summary["length"] = len(data)
        if len(data) < 66:
            findings.append(
                error(
                    PRIVATETOKEN_BAD_STRUCT, f"The Token is only {len(data)} bytes long.", REF_TOKEN
                )
            )
        else:
            token_type = int.from_bytes(data[:2], "big")
            summary.update(_type_summary(token_type, findings))
            type_name = summary.get("token_type_name")
            summary["nonce"] = data[2:34].hex()
            summary["challenge_digest"] = data[34:66].hex()
            known = TOKEN_TYPES.get(token_type)
            if known is not None:
                _name, nid, nk = known
                if len(data) != 66 + nid + nk:
                    findings.append(
                        error(
                            PRIVATETOKEN_BAD_STRUCT,
                            f"A {known[0]} token is {66 + nid + nk} bytes; this one is "
                            f"{len(data)}.",
                            REF_TOKEN,
                        )
                    )
                summary["token_key_id"] = data[66 : 66 + nid].hex()
                summary["authenticator"] = Secret(data[66 + nid :])
                summary["authenticator_length"] = len(data[66 + nid :])
    findings += unknown_params("PrivateToken", p, ("token",), REF_REDEEM)
    what = f" ({type_name})" if type_name else ""
    return Decoded(summary, findings, f"The client redeems a Privacy Pass token{what}.")


SCHEME = register(
    Scheme(
        name="PrivateToken",
        reference=REF,
        decode_challenge=decode_challenge,
        decode_credentials=decode_credentials,
    )
)
