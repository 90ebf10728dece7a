"""The Concealed scheme (RFC 9729): authentication a server never asks for.

The client signs a value exported from its TLS connection (RFC 5705) and sends key ID
``k``, public key ``a``, signature scheme ``s``, proof ``p`` and verification ``v``
(RFC 9729 §4). Because the proof is bound to the TLS connection, it cannot survive a
TLS-intercepting proxy: the server's exporter value is not the one the client signed. The
proof and verification are :class:`~authlens.secret.Secret`.
"""

from __future__ import annotations

import re
from typing import Any

from authlens.findings import Finding, error, info, warning
from authlens.schemes import AuthInput, Decoded, Scheme, register
from authlens.schemes._common import b64decode, capped, is_printable_ascii, shown, unknown_params
from authlens.secret import Secret

REF = "RFC 9729"
REF_PARAMS = "RFC 9729 §4"
REF_TLS = "RFC 9729 §7"

# Finding IDs.
CONCEALED_MISSING_PARAM = "concealed-missing-param"
CONCEALED_BAD_VALUE = "concealed-bad-value"
CONCEALED_UNKNOWN_SIGNATURE = "concealed-unknown-signature-scheme"
CONCEALED_NO_KEY_ENCODING = "concealed-no-key-encoding"
CONCEALED_TLS_BOUND = "concealed-tls-bound"
CONCEALED_CHALLENGE = "concealed-challenge"

PARAMS = ("k", "a", "p", "s", "v")
VERIFICATION_BYTES = 16  # RFC 9729 §3.2: the last 128 bits of the exporter output

# TLS SignatureScheme values (RFC 8446 §4.2.3) → name, and whether RFC 9729 §3.1.1
# defines a public key encoding for them (RSASSA-PSS, ECDSA, EdDSA).
SIGNATURE_SCHEMES: dict[int, tuple[str, bool]] = {
    0x0201: ("rsa_pkcs1_sha1", False),
    0x0203: ("ecdsa_sha1", False),
    0x0401: ("rsa_pkcs1_sha256", False),
    0x0501: ("rsa_pkcs1_sha384", False),
    0x0601: ("rsa_pkcs1_sha512", False),
    0x0403: ("ecdsa_secp256r1_sha256", True),
    0x0503: ("ecdsa_secp384r1_sha384", True),
    0x0603: ("ecdsa_secp521r1_sha512", True),
    0x0804: ("rsa_pss_rsae_sha256", True),
    0x0805: ("rsa_pss_rsae_sha384", True),
    0x0806: ("rsa_pss_rsae_sha512", True),
    0x0807: ("ed25519", True),
    0x0808: ("ed448", True),
    0x0809: ("rsa_pss_pss_sha256", True),
    0x080A: ("rsa_pss_pss_sha384", True),
    0x080B: ("rsa_pss_pss_sha512", True),
}

# RFC 9729 §4: byte sequences are base64url without padding; the integer has no sign and
# no leading zero.
_BYTES = re.compile(r"[A-Za-z0-9\-_]*")
_INTEGER = re.compile(r"[1-9][0-9]{0,4}|0")


def _bytes(name: str, value: str, findings: list[Finding]) -> bytes | None:
    if not _BYTES.fullmatch(value):
        findings.append(
            warning(
                CONCEALED_BAD_VALUE,
                f"'{name}' must be base64url without padding (letters, digits, '-', '_').",
                REF_PARAMS,
            )
        )
    decoded = b64decode(value, alphabet="urlsafe", padding="forbidden").data
    if decoded is None:
        findings.append(
            error(CONCEALED_BAD_VALUE, f"'{name}' cannot be decoded as base64url.", REF_PARAMS)
        )
    return decoded


def decode_credentials(item: AuthInput) -> Decoded:
    """k, a, p, s, v (RFC 9729 §4)."""
    p = item.params
    findings: list[Finding] = []
    missing = [n for n in PARAMS if n not in p]
    if missing:
        findings.append(
            error(
                CONCEALED_MISSING_PARAM,
                "The Concealed credentials lack " + ", ".join(missing) + "; servers ignore "
                "the whole field.",
                REF_PARAMS,
            )
        )
    summary: dict[str, Any] = {}
    if "k" in p:
        key_id = _bytes("k", p["k"], findings)
        if key_id is not None:
            summary["key_id"] = (
                capped(key_id.decode("ascii"))
                if is_printable_ascii(key_id)
                else capped(key_id.hex())
            )
    if "a" in p:
        public_key = _bytes("a", p["a"], findings)
        summary["public_key_length"] = len(public_key) if public_key is not None else None
    if "s" in p:
        raw = p["s"]
        number = int(raw) if _INTEGER.fullmatch(raw) else None
        summary["signature_scheme"] = number
        if number is None or number > 0xFFFF:
            findings.append(
                error(
                    CONCEALED_BAD_VALUE,
                    f"s={shown(raw, 20)} must be an integer 0–65535 without leading zeros.",
                    REF_PARAMS,
                )
            )
        else:
            known = SIGNATURE_SCHEMES.get(number)
            summary["signature_scheme_name"] = known[0] if known else None
            if known is None:
                findings.append(
                    warning(
                        CONCEALED_UNKNOWN_SIGNATURE,
                        f"Signature scheme {number} (0x{number:04x}) is not a TLS "
                        "SignatureScheme authlens knows.",
                        REF_PARAMS,
                    )
                )
            elif not known[1]:
                findings.append(
                    error(
                        CONCEALED_NO_KEY_ENCODING,
                        f"{known[0]} has no public key encoding for Concealed (only "
                        "RSASSA-PSS, ECDSA and EdDSA do), so servers cannot use it.",
                        "RFC 9729 §3.1.1",
                    )
                )
    if "p" in p:
        proof = _bytes("p", p["p"], findings)
        summary["proof"] = Secret(p["p"])
        summary["proof_length"] = len(proof) if proof is not None else None
    if "v" in p:
        verification = _bytes("v", p["v"], findings)
        summary["verification"] = Secret(p["v"])
        if verification is not None and len(verification) != VERIFICATION_BYTES:
            findings.append(
                error(
                    CONCEALED_BAD_VALUE,
                    f"The verification is {len(verification)} bytes; it is always "
                    f"{VERIFICATION_BYTES}.",
                    "RFC 9729 §3.2",
                )
            )
    if item.token68 is not None:
        findings.append(
            error(
                CONCEALED_BAD_VALUE,
                "Concealed credentials are parameters, not a token68.",
                REF_PARAMS,
            )
        )
    findings.append(
        warning(
            CONCEALED_TLS_BOUND,
            "Concealed credentials are bound to the client's TLS connection (a keying "
            "material exporter); behind a TLS-intercepting proxy the server sees another "
            "connection and ignores them.",
            REF_TLS,
        )
    )
    findings += unknown_params("Concealed", p, PARAMS, REF_PARAMS)
    key = f" with key ID {shown(summary['key_id'])}" if "key_id" in summary else ""
    scheme_name = summary.get("signature_scheme_name")
    signed = f", signed with {scheme_name}" if scheme_name else ""
    return Decoded(
        summary,
        findings,
        f"The client authenticates unprompted (Concealed){key}{signed}, bound to its TLS "
        "connection.",
    )


def decode_challenge(item: AuthInput) -> Decoded:
    """RFC 9729 defines no challenge: a server using it never reveals that it does."""
    return Decoded(
        {"params": dict(item.params)},
        [
            info(
                CONCEALED_CHALLENGE,
                "RFC 9729 defines no Concealed challenge: the scheme exists so that servers "
                "never reveal they want authentication.",
                "RFC 9729 §2",
            )
        ],
        "The server names the Concealed scheme in a challenge, which RFC 9729 does not define.",
    )


SCHEME = register(
    Scheme(
        name="Concealed",
        reference=REF,
        decode_challenge=decode_challenge,
        decode_credentials=decode_credentials,
    )
)
