"""Reading JSON Web Tokens (RFC 7519) without verifying them.

authlens never has the key, so it cannot check a signature; what it can do is show what a
token claims (issuer, audience, expiry, scope …) because a refused token is usually one
that is expired, meant for another audience, or lacks a scope. The header and the
claims are shown; the token and its signature are :class:`~authlens.secret.Secret`.

A JWS compact serialization has three base64url segments (RFC 7515 §7.1), a JWE five
(RFC 7516 §7.1), whose payload is encrypted and so cannot be read. Each segment larger
than :data:`MAX_SEGMENT_CHARS` is reported and not decoded, and every string, list and
object taken into the summary is capped, so the work stays linear and the summary small.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, TypeGuard

from authlens.findings import Finding, error, info, warning
from authlens.schemes._common import b64decode, b64url_encode, capped, iso_utc, shown
from authlens.secret import Secret

MAX_SEGMENT_CHARS = 64 * 1024
MAX_STRING = 256
MAX_ITEMS = 32
MAX_DEPTH = 4

REF_JWT = "RFC 7519 §7.2"
REF_JWS = "RFC 7515 §7.1"
REF_JWE = "RFC 7516 §7.1"
REF_NONE = "RFC 8725 §3.1"
REF_TIME = "RFC 7519 §4.1.4"

# Finding IDs.
JWT_MALFORMED = "jwt-malformed"
JWT_TOO_LARGE = "jwt-too-large"
JWT_LENIENT_BASE64 = "jwt-lenient-base64"
JWT_ALG_NONE = "jwt-alg-none"
JWT_MISSING_ALG = "jwt-missing-alg"
JWT_ENCRYPTED = "jwt-encrypted"
JWT_BAD_TIME = "jwt-bad-time"
JWT_TIME_IN_MILLISECONDS = "jwt-time-in-milliseconds"
JWT_EXP_BEFORE_IAT = "jwt-exp-before-iat"
JWT_PRIVATE_KEY_IN_HEADER = "jwt-private-key-in-header"

HEADER_FIELDS = (
    "alg", "typ", "kid", "cty", "enc", "zip", "crit", "jku", "x5u", "x5t", "x5t#S256", "b64",
)  # fmt: skip
CLAIMS = (
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "scp", "azp", "client_id",
    "tid", "oid", "appid", "ver", "typ", "auth_time", "acr", "amr", "cnf", "roles",
    "htm", "htu", "ath", "nonce",
)  # fmt: skip
TIME_CLAIMS = ("exp", "nbf", "iat", "auth_time")

# Seconds since 1970 pass 1e11 in the year 5138; a value this big is milliseconds.
_MILLISECONDS = 10**11


def looks_like_jwt(token: str) -> bool:
    """True for a compact JWS/JWE shape: "eyJ…" (base64url of '{"') with a dot, or three or
    five dot-separated parts whose first decodes to something starting with '{'.

    Opaque tokens may contain dots too (RFC 6750's own example is ``mF_9.B5f-4.1JqM``), so
    the header must look like JSON before the token is read as a JWT.
    """
    dots = token.count(".")
    if token.startswith("eyJ") and dots >= 1:
        return True
    if dots not in (2, 4):
        return False
    head = token.split(".", 1)[0][:64]
    head = head[: len(head) - len(head) % 4]
    decoded = b64decode(head, alphabet="urlsafe", padding="optional").data
    return decoded is not None and decoded.lstrip().startswith(b"{")


def decode_jwt(token: str) -> tuple[dict[str, Any], list[Finding]]:
    """Decode a compact JWS or JWE without verifying it.

    Returns a JSON-safe summary::

        {"format": "jws" | "jwe" | "unsecured" | "malformed", "segments": int,
         "header": {...}, "claims": {...} (JWS only), "times": {"exp": ISO-8601 UTC, ...},
         "claim_names": [...], "signature": Secret | None, "signature_length": int,
         "dpop_bound": bool}

    and the findings. Never raises.
    """
    findings: list[Finding] = []
    parts = token.split(".")
    summary: dict[str, Any] = {"format": "malformed", "segments": len(parts)}
    if len(parts) not in (3, 5):
        findings.append(
            error(
                JWT_MALFORMED,
                f"The token looks like a JWT but has {len(parts)} segments; a signed JWT has "
                "3, an encrypted one 5.",
                REF_JWT,
            )
        )
        return summary, findings
    header = _json_segment(parts[0], "header", findings)
    if header is None:
        return summary, findings
    summary["header"] = _header_summary(header, findings)
    if len(parts) == 5:
        summary["format"] = "jwe"
        summary["encrypted_key_length"] = len(parts[1])
        summary["ciphertext_length"] = len(parts[3])
        findings.append(
            info(
                JWT_ENCRYPTED,
                "The token is an encrypted JWT (JWE); its claims cannot be read without the "
                "recipient's key.",
                REF_JWE,
            )
        )
        return summary, findings
    claims = _json_segment(parts[1], "payload", findings)
    signature = parts[2]
    summary["signature"] = Secret(signature) if signature else None
    summary["signature_length"] = len(signature)
    alg = header.get("alg")
    if "alg" not in header:
        findings.append(
            error(
                JWT_MISSING_ALG, "The JWT header has no 'alg'; it is required.", "RFC 7515 §4.1.1"
            )
        )
    elif isinstance(alg, str) and alg.lower() == "none":
        findings.append(
            error(
                JWT_ALG_NONE,
                "The JWT is unsecured (alg 'none'): anyone can forge it, and servers must "
                "refuse it.",
                REF_NONE,
            )
        )
        summary["format"] = "unsecured"
    if claims is None:
        return summary, findings
    if summary["format"] == "malformed":
        summary["format"] = "jws"
    summary.update(_claims_summary(claims, findings))
    return summary, findings


def _json_segment(segment: str, what: str, findings: list[Finding]) -> dict[str, Any] | None:
    """A base64url segment holding a JSON object, or None with a finding."""
    if len(segment) > MAX_SEGMENT_CHARS:
        findings.append(
            warning(
                JWT_TOO_LARGE,
                f"The JWT {what} is {len(segment):,} characters long; authlens does not "
                f"decode segments over {MAX_SEGMENT_CHARS:,}.",
            )
        )
        return None
    decoded = b64decode(segment, alphabet="urlsafe", padding="forbidden")
    if decoded.data is None:
        findings.append(error(JWT_MALFORMED, f"The JWT {what} is not valid base64url.", REF_JWS))
        return None
    if decoded.tolerated:
        findings.append(
            warning(
                JWT_LENIENT_BASE64,
                f"The JWT {what} uses " + ", ".join(decoded.tolerated) + "; JWTs use "
                "base64url without padding, and strict libraries refuse this.",
                "RFC 7515 §2",
            )
        )
    try:
        value = json.loads(decoded.data.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        findings.append(error(JWT_MALFORMED, f"The JWT {what} is not UTF-8 JSON.", REF_JWT))
        return None
    if not isinstance(value, dict):
        findings.append(error(JWT_MALFORMED, f"The JWT {what} is JSON but not an object.", REF_JWT))
        return None
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _header_summary(header: dict[str, Any], findings: list[Finding]) -> dict[str, Any]:
    out = {name: safe(header[name]) for name in HEADER_FIELDS if name in header}
    jwk = header.get("jwk")
    if isinstance(jwk, dict):
        out["jwk"] = jwk_summary(jwk)
        if "d" in jwk:
            findings.append(
                error(
                    JWT_PRIVATE_KEY_IN_HEADER,
                    "The 'jwk' in the JWT header contains a private key ('d'); the client "
                    "is leaking its key.",
                    "RFC 7517 §4",
                )
            )
    elif jwk is not None:
        out["jwk"] = safe(jwk)
    others = sorted(k for k in header if k not in HEADER_FIELDS and k != "jwk")
    if others:
        out["other_fields"] = [capped(k, 64) for k in others[:MAX_ITEMS]]
    return out


def jwk_summary(jwk: dict[str, Any]) -> dict[str, Any]:
    """A public JWK's identity (kty, crv, alg, kid, use) and its RFC 7638 thumbprint."""
    out: dict[str, Any] = {k: safe(jwk[k]) for k in ("kty", "crv", "alg", "kid", "use") if k in jwk}
    out["has_private_key"] = "d" in jwk
    thumbprint = jwk_thumbprint(jwk)
    if thumbprint is not None:
        out["thumbprint"] = thumbprint
    return out


def jwk_thumbprint(jwk: dict[str, Any]) -> str | None:
    """The RFC 7638 SHA-256 thumbprint (base64url), as DPoP's ``cnf.jkt`` holds it."""
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
    }
    names = required.get(str(jwk.get("kty")))
    if names is None or not all(isinstance(jwk.get(n), str) for n in names):
        return None
    canonical = json.dumps({n: jwk[n] for n in names}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def _claims_summary(claims: dict[str, Any], findings: list[Finding]) -> dict[str, Any]:
    shown_claims = {name: safe(claims[name]) for name in CLAIMS if name in claims}
    times: dict[str, str] = {}
    for name in TIME_CLAIMS:
        if name not in claims:
            continue
        value = claims[name]
        if _number(value) and abs(value) >= _MILLISECONDS:
            findings.append(
                warning(
                    JWT_TIME_IN_MILLISECONDS,
                    f"The '{name}' claim looks like milliseconds, not seconds, since 1970; "
                    "servers read it as a date thousands of years away.",
                    REF_TIME,
                )
            )
            continue
        iso = iso_utc(value)
        if iso is None:
            findings.append(
                warning(
                    JWT_BAD_TIME,
                    f"The '{name}' claim {shown(capped(str(value), 40))} is not a NumericDate "
                    "(seconds since 1970).",
                    REF_TIME,
                )
            )
            continue
        times[name] = iso
    exp, iat = claims.get("exp"), claims.get("iat")
    if _number(exp) and _number(iat) and exp < iat:
        findings.append(
            warning(
                JWT_EXP_BEFORE_IAT,
                "The token expires before it was issued ('exp' < 'iat'); it was never valid.",
                REF_TIME,
            )
        )
    cnf = claims.get("cnf")
    return {
        "claims": shown_claims,
        "times": times,
        "claim_names": sorted(capped(k, 64) for k in claims)[: MAX_ITEMS * 2],
        "dpop_bound": isinstance(cnf, dict) and "jkt" in cnf,
    }


def _number(value: object) -> TypeGuard[int | float]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # An int is always finite; math.isfinite() would overflow on one beyond float range.
    return isinstance(value, int) or math.isfinite(value)


def safe(value: Any, depth: int = 0) -> Any:
    """A JSON value, bounded: strings capped, lists and objects cut, depth limited,
    non-finite floats as text. The result is always JSON-safe."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return capped(value, MAX_STRING)
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, list):
        return [safe(v, depth + 1) for v in value[:MAX_ITEMS]]
    if isinstance(value, dict):
        return {capped(str(k), 64): safe(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    return capped(str(value), MAX_STRING)


def access_token_hash(token: str) -> str:
    """DPoP ``ath``: base64url(SHA-256(ASCII token)) without padding (RFC 9449 §4.2)."""
    return b64url_encode(hashlib.sha256(token.encode("utf-8")).digest())
