"""Bearer tokens (RFC 6750), with the RFC 9728 ``resource_metadata`` challenge parameter.

A Bearer challenge tells the client where tokens come from and, after a failed attempt,
why the token was refused: ``error`` is ``invalid_request``, ``invalid_token`` or
``insufficient_scope`` (RFC 6750 §3.1). The credentials are a single token (§2.1); when it
is a JWT its claims usually explain a refusal (expired, wrong audience, missing scope), so
they are decoded (see :mod:`authlens.schemes._jwt`). The token itself is always a
:class:`~authlens.secret.Secret`; opaque tokens are described by length, shape and, where
the issuer prefixes them (``ghp_``, ``xoxb-`` …), by the kind of token.

Common deployments add their own challenge parameters, recognised here by name: Docker
registries (``service``, with ``realm`` the token endpoint) and Microsoft Entra ID
(``authorization_uri``, ``resource_id``, ``client_id``, ``trusted_issuers``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from authlens.findings import Finding, error, info, warning
from authlens.schemes import AuthInput, Decoded, Scheme, register
from authlens.schemes._common import (
    b64decode,
    capped,
    is_printable_ascii,
    shown,
    unknown_params,
    who,
)
from authlens.schemes._jwt import decode_jwt, looks_like_jwt
from authlens.schemes._tokens import identify_token, token_shape
from authlens.secret import Secret

REF = "RFC 6750"
REF_CHALLENGE = "RFC 6750 §3"
REF_ERRORS = "RFC 6750 §3.1"
REF_TOKEN = "RFC 6750 §2.1"
REF_METADATA = "RFC 9728 §5.1"

# Finding IDs.
BEARER_TOKEN68_CHALLENGE = "bearer-challenge-token68"
BEARER_UNKNOWN_ERROR = "bearer-unknown-error"
BEARER_DPOP_ERROR = "bearer-dpop-error"
BEARER_INVALID_TOKEN = "bearer-invalid-token"
BEARER_INSUFFICIENT_SCOPE = "bearer-insufficient-scope"
BEARER_INVALID_REQUEST = "bearer-invalid-request"
BEARER_BAD_CHARS = "bearer-bad-chars"
BEARER_BAD_URI = "bearer-bad-uri"
BEARER_MISSING_TOKEN = "bearer-missing-token"
BEARER_PARAMS_NOT_TOKEN = "bearer-params-instead-of-token"
BEARER_PLACEHOLDER_TOKEN = "bearer-placeholder-token"
BEARER_LOOKS_LIKE_BASIC = "bearer-looks-like-basic"
BEARER_DPOP_BOUND_TOKEN = "bearer-dpop-bound-token"
BEARER_NOT_B64TOKEN = "bearer-not-b64token"
TOKEN_KIND = "token-kind"

INVALID_REQUEST = "invalid_request"
INVALID_TOKEN = "invalid_token"
INSUFFICIENT_SCOPE = "insufficient_scope"
ERRORS = (INVALID_REQUEST, INVALID_TOKEN, INSUFFICIENT_SCOPE)
DPOP_ERRORS = ("invalid_dpop_proof", "use_dpop_nonce")

STANDARD_PARAMS = ("realm", "scope", "error", "error_description", "error_uri", "resource_metadata")
# Deployment-specific parameters seen in the wild; shown, not flagged.
EXTENSION_PARAMS = (
    "service",  # Docker registry token authentication
    "authorization_uri", "resource_id", "client_id", "trusted_issuers",  # Microsoft Entra ID
    "authorization", "resource", "error_codes",
)  # fmt: skip

# RFC 6750 §3: error-description and error_uri are %x20-21 / %x23-5B / %x5D-7E, scope
# tokens %x21 / %x23-5B / %x5D-7E.
_DESCRIPTION_CHARS = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_MAX_SCOPES = 64

# Values that are a client bug rather than a token (a template never filled in, or a
# JavaScript variable that was never set).
PLACEHOLDERS = frozenset(
    {"undefined", "null", "none", "nil", "nan", "bearer", "token", "object", "false", "true"}
)


# -- the challenge ---------------------------------------------------------------------


def challenge_summary(
    item: AuthInput, scheme: str, known_errors: tuple[str, ...] = ERRORS
) -> tuple[dict[str, Any], list[Finding]]:
    """The parameters Bearer and DPoP challenges share (RFC 6750 §3, RFC 9728 §5.1)."""
    p = item.params
    findings: list[Finding] = []
    if item.token68 is not None:
        findings.append(
            error(
                BEARER_TOKEN68_CHALLENGE,
                f"A {scheme} challenge carries parameters, not a token68.",
                REF_CHALLENGE,
            )
        )
    scope = p.get("scope")
    scopes = scope.split()[:_MAX_SCOPES] if scope is not None else None
    if scopes and not all(_SCOPE_TOKEN.fullmatch(s) for s in scopes):
        findings.append(
            warning(
                BEARER_BAD_CHARS,
                "The scope holds characters a scope token may not (quotes, backslashes, "
                "non-ASCII).",
                REF_CHALLENGE,
            )
        )
    err = p.get("error")
    if err is not None:
        findings += _error_findings(err, p.get("error_description"), scheme, known_errors)
    for name in ("error_description", "error_uri"):
        value = p.get(name)
        if value is not None and not _DESCRIPTION_CHARS.fullmatch(value):
            findings.append(
                warning(
                    BEARER_BAD_CHARS,
                    f"{name} holds characters RFC 6750 does not allow there (quotes, "
                    "backslashes, control or non-ASCII characters).",
                    REF_CHALLENGE,
                )
            )
    for name, https in (
        ("error_uri", False),
        ("resource_metadata", True),
        ("authorization_uri", False),
    ):
        value = p.get(name)
        if value is not None:
            findings += _uri_findings(name, value, https)
    summary: dict[str, Any] = {
        "realm": p.get("realm"),
        "scope": scopes,
        "error": err,
        "error_description": p.get("error_description"),
        "error_uri": p.get("error_uri"),
        "resource_metadata": p.get("resource_metadata"),
    }
    extensions = {name: p[name] for name in EXTENSION_PARAMS if name in p}
    if extensions:
        summary["extensions"] = extensions
    return summary, findings


def _error_findings(
    err: str, description: str | None, scheme: str, known_errors: tuple[str, ...]
) -> list[Finding]:
    why = f" ({shown(description, 120)})" if description else ""
    if err == INVALID_TOKEN:
        return [
            warning(
                BEARER_INVALID_TOKEN,
                f"The server refused the token as invalid: expired, revoked, malformed or "
                f"for another audience{why}. Get a new token.",
                REF_ERRORS,
            )
        ]
    if err == INSUFFICIENT_SCOPE:
        return [
            warning(
                BEARER_INSUFFICIENT_SCOPE,
                f"The token is valid but lacks the scope this resource needs{why}; request a "
                "token with the scope the challenge names. (RFC 6750 answers this with 403.)",
                REF_ERRORS,
            )
        ]
    if err == INVALID_REQUEST:
        return [
            warning(
                BEARER_INVALID_REQUEST,
                f"The server calls the request malformed: a missing or repeated parameter, "
                f"or the token sent in more than one way{why}. (RFC 6750 answers this with "
                "400.)",
                REF_ERRORS,
            )
        ]
    if err in known_errors:
        return []
    if err in DPOP_ERRORS:
        return [
            warning(
                BEARER_DPOP_ERROR,
                f"error={shown(err)} belongs to DPoP (RFC 9449), not to a {scheme} challenge.",
                "RFC 9449 §12.2",
            )
        ]
    return [
        warning(
            BEARER_UNKNOWN_ERROR,
            f"error={shown(err)} is not an error code RFC 6750 defines (invalid_request, "
            "invalid_token, insufficient_scope).",
            REF_ERRORS,
        )
    ]


def _uri_findings(name: str, value: str, https: bool) -> list[Finding]:
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or not parts.scheme or not parts.netloc:
        return [
            warning(BEARER_BAD_URI, f"{name}={shown(value)} is not an absolute URI.", REF_CHALLENGE)
        ]
    if https and parts.scheme.lower() != "https":
        return [
            warning(
                BEARER_BAD_URI,
                f"{name} should be an https URL; clients may refuse to fetch metadata over "
                "plain HTTP.",
                REF_METADATA,
            )
        ]
    return []


def challenge_sentence(item: AuthInput, summary: Mapping[str, Any], what: str) -> str:
    """One sentence for a Bearer or DPoP challenge."""
    p = item.params
    start = f"{who(item.is_proxy).capitalize()} wants {what}"
    realm = summary.get("realm")
    service = p.get("service")
    scopes = summary.get("scope")
    if realm and service is not None and str(realm).lower().startswith(("http://", "https://")):
        start += f" from the token service at {shown(realm)} (service {shown(service)}"
        start += f", scope {shown(' '.join(scopes))})" if scopes else ")"
    else:
        if realm:
            start += f" for realm {shown(realm)}"
        if scopes:
            start += f" with scope {shown(' '.join(scopes))}"
    if "authorization_uri" in p:
        start += f" (tokens come from {shown(p['authorization_uri'])})"
    err = summary.get("error")
    reasons = {
        INVALID_TOKEN: "the token sent is invalid or expired",
        INSUFFICIENT_SCOPE: "the token sent lacks the needed scope",
        INVALID_REQUEST: "the request was malformed",
        "use_dpop_nonce": "the client must repeat the request with the DPoP-Nonce it was given",
        "invalid_dpop_proof": "the DPoP proof was invalid",
    }
    if err:
        start += f"; it says {reasons.get(str(err), 'there was an error')} ({err})"
    if summary.get("resource_metadata"):
        start += f"; how to get a token is described at {shown(summary['resource_metadata'])}"
    return start + "."


def decode_challenge(item: AuthInput) -> Decoded:
    """realm, scope, error, error_description, error_uri (RFC 6750 §3), resource_metadata
    (RFC 9728 §5.1), and known deployment extensions."""
    summary, findings = challenge_summary(item, "Bearer")
    findings += unknown_params(
        "Bearer", item.params, STANDARD_PARAMS + EXTENSION_PARAMS, REF_CHALLENGE
    )
    return Decoded(summary, findings, challenge_sentence(item, summary, "an OAuth bearer token"))


# -- the credentials -------------------------------------------------------------------


def describe_token(token: str, scheme: str) -> tuple[dict[str, Any], list[Finding], str]:
    """Summary, findings and a short description of one access token (Bearer or DPoP)."""
    findings: list[Finding] = []
    summary: dict[str, Any] = {"token": Secret(token), "token_length": len(token)}
    if not _B64TOKEN.fullmatch(token):
        findings.append(
            warning(
                BEARER_NOT_B64TOKEN,
                "The token holds characters a b64token may not (RFC 6750 allows letters, "
                "digits and -._~+/ with trailing '=').",
                REF_TOKEN,
            )
        )
    if token.lower() in PLACEHOLDERS or token.lower().startswith("[object"):
        findings.append(
            error(
                BEARER_PLACEHOLDER_TOKEN,
                f"The token is the literal word {shown(token)}: the client never filled in "
                "the real token (an unset variable or template).",
                REF_TOKEN,
            )
        )
        summary["format"] = "placeholder"
        return summary, findings, f"the placeholder {shown(token)} instead of a token"
    kind = identify_token(token)
    if kind is not None:
        summary["format"] = "paseto" if kind[0] == "paseto" else "opaque"
        summary["kind"], summary["kind_description"] = kind
        findings.append(info(TOKEN_KIND, f"The token is a {kind[1]} (recognised by its prefix)."))
        return summary, findings, f"a {kind[1]} ({len(token)} characters)"
    if looks_like_jwt(token):
        jwt, jwt_findings = decode_jwt(token)
        findings += jwt_findings
        summary["format"] = (
            "jwt" if jwt.get("format") in ("jws", "unsecured") else jwt.get("format")
        )
        summary["jwt"] = jwt
        if jwt.get("dpop_bound") and scheme == "Bearer":
            findings.append(
                warning(
                    BEARER_DPOP_BOUND_TOKEN,
                    "The JWT is bound to a DPoP key (cnf.jkt) but sent with the Bearer "
                    "scheme; it must be sent as 'DPoP' with a DPoP proof header.",
                    "RFC 9449 §7.1",
                )
            )
        return summary, findings, _jwt_description(jwt)
    summary["format"] = token_shape(token)
    if _looks_like_basic(token):
        findings.append(
            warning(
                BEARER_LOOKS_LIKE_BASIC,
                f"The {scheme} token is base64 of 'name:password': Basic credentials sent "
                "with the wrong scheme.",
                REF_TOKEN,
            )
        )
        return summary, findings, "what looks like Basic credentials (user:password in base64)"
    shape = {"uuid": "a UUID-shaped", "hex": "a hexadecimal"}.get(summary["format"], "an opaque")
    return summary, findings, f"{shape} token of {len(token)} characters"


def _looks_like_basic(token: str) -> bool:
    """Strict base64 of printable 'name:password' (random tokens almost never are)."""
    if len(token) > 1024:
        return False
    decoded = b64decode(token)
    data = decoded.data
    return decoded.strict and data is not None and is_printable_ascii(data) and b":" in data[1:-1]


def _jwt_description(jwt: Mapping[str, Any]) -> str:
    fmt = jwt.get("format")
    if fmt == "jwe":
        return "an encrypted JWT"
    if fmt == "malformed":
        return "a malformed JWT"
    claims = jwt.get("claims") or {}
    parts = []
    if "iss" in claims:
        parts.append(f"from issuer {shown(claims['iss'], 60)}")
    if "aud" in claims:
        aud = claims["aud"]
        aud_text = ", ".join(str(a) for a in aud[:3]) if isinstance(aud, list) else str(aud)
        parts.append(f"for audience {shown(aud_text, 60)}")
    times = jwt.get("times") or {}
    if "exp" in times:
        parts.append(f"expiring {times['exp']}")
    kind = "an unsecured JWT" if fmt == "unsecured" else "a JWT"
    return kind + (" " + ", ".join(parts) if parts else "")


def credentials_summary(item: AuthInput, scheme: str) -> tuple[dict[str, Any], list[Finding], str]:
    """What Bearer and DPoP credentials share: one token68 (RFC 6750 §2.1)."""
    if item.token68 is None:
        if item.params:
            summary: dict[str, Any] = {
                "params": {name: Secret(value) for name, value in item.params.items()}
            }
            return (
                summary,
                [
                    error(
                        BEARER_PARAMS_NOT_TOKEN,
                        f"{scheme} credentials are the token alone, not name=value parameters "
                        f"(e.g. '{scheme} token=…'), unless the token's '=' made it look "
                        "like one.",
                        REF_TOKEN,
                    )
                ],
                "parameters instead of a token",
            )
        return (
            {},
            [
                error(
                    BEARER_MISSING_TOKEN,
                    f"'{scheme}' is followed by no token at all.",
                    REF_TOKEN,
                )
            ],
            "no token at all",
        )
    return describe_token(item.token68, scheme)


def decode_credentials(item: AuthInput) -> Decoded:
    """The token: a decoded JWT, a recognised kind of token, or an opaque one."""
    summary, findings, description = credentials_summary(item, "Bearer")
    return Decoded(
        summary, findings, f"The client sent a bearer token: {capped(description, 200)}."
    )


SCHEME = register(
    Scheme(
        name="Bearer",
        reference=REF,
        decode_challenge=decode_challenge,
        decode_credentials=decode_credentials,
    )
)
