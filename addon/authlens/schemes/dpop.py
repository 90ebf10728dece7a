"""DPoP: sender-constrained OAuth tokens (RFC 9449).

The ``DPoP`` scheme carries an access token bound to a key (§7.1); each request also
carries a ``DPoP`` header field holding a proof JWT signed with that key (§4). The proof
is not an authentication field, so the registry never sees it: :func:`decode_dpop_proof`
decodes it for callers that have the request, and checks it against the request's method
and URL and against the access token when those are given.

Challenges add ``algs`` (the signature algorithms the server accepts) and two errors,
``invalid_dpop_proof`` and ``use_dpop_nonce`` (§7.1, §8); the latter is a normal first leg:
the client must retry with the nonce from the ``DPoP-Nonce`` response header.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from authlens.findings import Finding, error, info, warning
from authlens.schemes import AuthInput, Decoded, Scheme, register
from authlens.schemes._common import shown, unknown_params
from authlens.schemes._jwt import access_token_hash, decode_jwt
from authlens.schemes.bearer import (
    ERRORS,
    EXTENSION_PARAMS,
    STANDARD_PARAMS,
    challenge_sentence,
    challenge_summary,
    credentials_summary,
)

REF = "RFC 9449"
REF_PROOF = "RFC 9449 §4.2"
REF_CHECK = "RFC 9449 §4.3"
REF_SCHEME = "RFC 9449 §7.1"
REF_NONCE = "RFC 9449 §8"

# Finding IDs.
DPOP_USE_NONCE = "dpop-use-nonce"
DPOP_INVALID_PROOF = "dpop-invalid-proof"
DPOP_UNBOUND_TOKEN = "dpop-unbound-token"
DPOP_PROOF_MALFORMED = "dpop-proof-malformed"
DPOP_PROOF_BAD_TYP = "dpop-proof-bad-typ"
DPOP_PROOF_BAD_ALG = "dpop-proof-bad-alg"
DPOP_PROOF_NO_JWK = "dpop-proof-no-jwk"
DPOP_PROOF_MISSING_CLAIM = "dpop-proof-missing-claim"
DPOP_PROOF_METHOD_MISMATCH = "dpop-proof-method-mismatch"
DPOP_PROOF_URL_MISMATCH = "dpop-proof-url-mismatch"
DPOP_PROOF_ATH_MISMATCH = "dpop-proof-ath-mismatch"
DPOP_PROOF_MISSING_ATH = "dpop-proof-missing-ath"
DPOP_PROOF_KEY_MISMATCH = "dpop-proof-key-mismatch"

USE_DPOP_NONCE = "use_dpop_nonce"
INVALID_DPOP_PROOF = "invalid_dpop_proof"
DPOP_ERRORS = (*ERRORS, INVALID_DPOP_PROOF, USE_DPOP_NONCE)
_MAX_ALGS = 32


def decode_challenge(item: AuthInput) -> Decoded:
    """Bearer's parameters plus ``algs`` and the DPoP error codes (RFC 9449 §7.1)."""
    summary, findings = challenge_summary(item, "DPoP", DPOP_ERRORS)
    algs = item.params.get("algs")
    summary["algs"] = algs.split()[:_MAX_ALGS] if algs is not None else None
    err = summary.get("error")
    if err == USE_DPOP_NONCE:
        findings.append(
            info(
                DPOP_USE_NONCE,
                "The server requires a server-issued nonce in the DPoP proof: the client "
                "should retry with the value of the DPoP-Nonce response header. Normal on "
                "a first request.",
                REF_NONCE,
            )
        )
    elif err == INVALID_DPOP_PROOF:
        findings.append(
            warning(
                DPOP_INVALID_PROOF,
                "The server refused the DPoP proof (wrong method or URL, reused jti, stale "
                "iat, wrong key or signature).",
                REF_CHECK,
            )
        )
    findings += unknown_params(
        "DPoP", item.params, (*STANDARD_PARAMS, *EXTENSION_PARAMS, "algs"), REF_SCHEME
    )
    what = "a DPoP-bound access token with a proof of possession"
    if summary["algs"]:
        what += f" signed with {shown(' '.join(summary['algs']), 60)}"
    return Decoded(summary, findings, challenge_sentence(item, summary, what))


def decode_credentials(item: AuthInput) -> Decoded:
    """The access token, as for Bearer; a JWT without ``cnf.jkt`` is not key-bound."""
    summary, findings, description = credentials_summary(item, "DPoP")
    jwt = summary.get("jwt")
    if (
        isinstance(jwt, dict)
        and jwt.get("format") in ("jws", "unsecured")
        and not jwt.get("dpop_bound")
    ):
        findings.append(
            info(
                DPOP_UNBOUND_TOKEN,
                "The JWT has no cnf.jkt claim, so it is not bound to a DPoP key; servers "
                "that require binding refuse it.",
                "RFC 9449 §6.1",
            )
        )
    return Decoded(summary, findings, f"The client sent a DPoP-bound access token: {description}.")


def decode_dpop_proof(
    proof: str,
    *,
    method: str | None = None,
    url: str | None = None,
    access_token: str | None = None,
) -> Decoded:
    """Decode the value of a ``DPoP`` request header (a proof JWT, RFC 9449 §4.2).

    With ``method`` and ``url`` the ``htm``/``htu`` claims are checked against the request;
    with ``access_token`` the ``ath`` claim is checked, and, when the token is a JWT with
    ``cnf.jkt``, the proof's key thumbprint too. Never raises; the proof is not verified
    cryptographically.
    """
    proof = proof.strip()
    jwt, findings = decode_jwt(proof)
    summary: dict[str, Any] = {"proof_length": len(proof), "jwt": jwt}
    if jwt.get("format") not in ("jws", "unsecured"):
        findings.append(
            error(DPOP_PROOF_MALFORMED, "The DPoP header is not a readable signed JWT.", REF_PROOF)
        )
        return Decoded(summary, findings, "The DPoP proof cannot be read.")
    header: dict[str, Any] = jwt.get("header") or {}
    claims: dict[str, Any] = jwt.get("claims") or {}
    if str(header.get("typ", "")).lower() != "dpop+jwt":
        findings.append(
            error(
                DPOP_PROOF_BAD_TYP,
                f"The proof's typ is {shown(header.get('typ'))}; it must be 'dpop+jwt'.",
                REF_PROOF,
            )
        )
    alg = str(header.get("alg", ""))
    if alg.lower() == "none" or alg.upper().startswith("HS"):
        findings.append(
            error(
                DPOP_PROOF_BAD_ALG,
                f"The proof is signed with {shown(alg)}; DPoP requires an asymmetric "
                "signature (e.g. ES256).",
                REF_PROOF,
            )
        )
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        findings.append(
            error(
                DPOP_PROOF_NO_JWK, "The proof has no public key ('jwk') in its header.", REF_PROOF
            )
        )
    missing = [c for c in ("jti", "htm", "htu", "iat") if c not in claims]
    if missing:
        findings.append(
            error(
                DPOP_PROOF_MISSING_CLAIM,
                "The proof lacks the claim(s) " + ", ".join(missing) + ".",
                REF_PROOF,
            )
        )
    findings += _request_findings(claims, method, url)
    if access_token is not None:
        findings += _token_findings(claims, jwk, access_token)
    summary["thumbprint"] = jwk.get("thumbprint") if isinstance(jwk, dict) else None
    target = f" for {shown(claims['htm'], 10)} {shown(claims['htu'], 80)}" if not missing else ""
    return Decoded(summary, findings, f"The client sent a DPoP proof of possession{target}.")


def _request_findings(claims: dict[str, Any], method: str | None, url: str | None) -> list[Finding]:
    findings: list[Finding] = []
    htm, htu = claims.get("htm"), claims.get("htu")
    if method is not None and htm is not None and str(htm) != method:
        findings.append(
            error(
                DPOP_PROOF_METHOD_MISMATCH,
                f"The proof is for method {shown(htm, 20)} but the request is {shown(method, 20)}.",
                REF_CHECK,
            )
        )
    if url is not None and htu is not None and _normal_url(str(htu)) != _normal_url(url):
        findings.append(
            error(
                DPOP_PROOF_URL_MISMATCH,
                f"The proof is for {shown(htu)} but the request goes to {shown(_normal_url(url))} "
                "(compared without query and fragment).",
                REF_CHECK,
            )
        )
    return findings


def _token_findings(claims: dict[str, Any], jwk: object, access_token: str) -> list[Finding]:
    findings: list[Finding] = []
    ath = claims.get("ath")
    if ath is None:
        findings.append(
            error(
                DPOP_PROOF_MISSING_ATH,
                "The proof accompanies an access token but has no 'ath' (its hash).",
                REF_PROOF,
            )
        )
    elif not hmac.compare_digest(str(ath), access_token_hash(access_token)):
        findings.append(
            error(
                DPOP_PROOF_ATH_MISMATCH,
                "The proof's 'ath' is not the hash of the access token sent with it: the proof "
                "was made for another token.",
                REF_CHECK,
            )
        )
    token_jwt, _ = decode_jwt(access_token) if access_token.count(".") == 2 else ({}, [])
    cnf = (token_jwt.get("claims") or {}).get("cnf") if token_jwt else None
    thumbprint = jwk.get("thumbprint") if isinstance(jwk, dict) else None
    if isinstance(cnf, dict) and "jkt" in cnf and thumbprint and cnf["jkt"] != thumbprint:
        findings.append(
            error(
                DPOP_PROOF_KEY_MISMATCH,
                "The proof is signed with another key than the one the access token is bound "
                "to (cnf.jkt differs from the proof key's thumbprint).",
                REF_CHECK,
            )
        )
    return findings


def _normal_url(url: str) -> str:
    """Scheme and host lower-cased, query and fragment dropped (RFC 9449 §4.3 step 9)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


SCHEME = register(
    Scheme(
        name="DPoP",
        reference=REF,
        decode_challenge=decode_challenge,
        decode_credentials=decode_credentials,
    )
)
