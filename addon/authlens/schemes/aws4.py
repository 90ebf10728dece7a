"""AWS Signature Version 4 (``AWS4-HMAC-SHA256``) and SigV4a (``AWS4-ECDSA-P256-SHA256``).

Not an IETF scheme but common in captures: the client signs the request with a key
derived from its secret key, and names the key and the scope it derived it for::

    AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request,
        SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79…

A wrong region, service or date in the scope, or a header signed but changed on the way
(a proxy that rewrites ``Host``), makes AWS answer 403 ``SignatureDoesNotMatch``; the scope
is therefore shown in full. The access key ID is shown only by its first and last four
characters (plus a fingerprint, so equal keys compare equal), the signature as a Secret.
SigV4a scopes have no region (it travels in ``X-Amz-Region-Set``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from authlens.findings import Finding, error, info, warning
from authlens.schemes import AuthInput, Decoded, Scheme, register
from authlens.schemes._common import capped, shown, unknown_params
from authlens.secret import Secret

REF = "AWS Signature Version 4"
REF_AUTH = "AWS SigV4, Authorization header"

# Finding IDs.
AWS4_MISSING_PARAM = "aws4-missing-param"
AWS4_BAD_SCOPE = "aws4-bad-scope"
AWS4_BAD_DATE = "aws4-bad-date"
AWS4_BAD_REGION = "aws4-bad-region"
AWS4_BAD_SIGNED_HEADERS = "aws4-bad-signed-headers"
AWS4_HOST_NOT_SIGNED = "aws4-host-not-signed"
AWS4_BAD_SIGNATURE = "aws4-bad-signature"
AWS4_TEMPORARY_KEY = "aws4-temporary-key"
AWS4_CHALLENGE = "aws4-challenge"

SIGV4 = "AWS4-HMAC-SHA256"
SIGV4A = "AWS4-ECDSA-P256-SHA256"
PARAMS = ("credential", "signedheaders", "signature")

_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
_HEADER = re.compile(r"[a-z0-9!#$%&'*+\-.^_`|~]+")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-fA-F]+")


def masked_key_id(key_id: str) -> str:
    """The first and last four characters of an access key ID, e.g. 'AKIA…MPLE'."""
    return f"{key_id[:4]}…{key_id[-4:]}" if len(key_id) > 8 else "…"


def _scope(credential: str, sigv4a: bool, findings: list[Finding]) -> dict[str, Any]:
    parts = credential.split("/")
    expected = 4 if sigv4a else 5
    key_id = parts[0]
    out: dict[str, Any] = {
        "access_key_id": masked_key_id(key_id),
        "access_key_fingerprint": Secret(key_id),
    }
    if key_id.startswith("ASIA"):
        out["key_type"] = "temporary"
        findings.append(
            info(
                AWS4_TEMPORARY_KEY,
                "The access key is temporary (ASIA…): the request must also carry its session "
                "token in X-Amz-Security-Token, or AWS refuses it.",
                REF_AUTH,
            )
        )
    elif key_id.startswith("AKIA"):
        out["key_type"] = "long-term"
    if len(parts) != expected or parts[-1] != "aws4_request":
        shape = (
            "AKID/date/service/aws4_request" if sigv4a else "AKID/date/region/service/aws4_request"
        )
        findings.append(
            error(
                AWS4_BAD_SCOPE,
                f"The credential scope has {len(parts)} parts; it must be {shape}.",
                REF_AUTH,
            )
        )
        out["scope_parts"] = len(parts)
        return out
    stamp = parts[1]
    out["date"] = stamp
    try:
        date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]))
        valid = len(stamp) == 8 and stamp.isdigit()
    except ValueError:
        valid = False
    if not valid:
        findings.append(
            error(AWS4_BAD_DATE, f"The scope date {shown(stamp, 20)} is not YYYYMMDD.", REF_AUTH)
        )
    if sigv4a:
        out["service"] = parts[2]
    else:
        out["region"], out["service"] = parts[2], parts[3]
        if not _REGION.fullmatch(parts[2]):
            findings.append(
                warning(
                    AWS4_BAD_REGION,
                    f"The scope region {shown(parts[2], 30)} does not look like an AWS region "
                    "(e.g. us-east-1).",
                    REF_AUTH,
                )
            )
    return out


def decode_credentials(item: AuthInput) -> Decoded:
    """Credential (scope), SignedHeaders and Signature."""
    p = item.params
    sigv4a = item.scheme.upper() == SIGV4A
    findings: list[Finding] = []
    summary: dict[str, Any] = {"algorithm": item.scheme.upper()}
    missing = [
        name for name in ("Credential", "SignedHeaders", "Signature") if name.lower() not in p
    ]
    if missing:
        findings.append(
            error(
                AWS4_MISSING_PARAM,
                "The signature lacks " + ", ".join(missing) + "; AWS refuses the request.",
                REF_AUTH,
            )
        )
    if "credential" in p:
        summary.update(_scope(p["credential"], sigv4a, findings))
    if "signedheaders" in p:
        headers = p["signedheaders"].split(";")
        summary["signed_headers"] = [capped(h, 64) for h in headers[:64]]
        if not all(_HEADER.fullmatch(h) for h in headers) or headers != sorted(headers):
            findings.append(
                warning(
                    AWS4_BAD_SIGNED_HEADERS,
                    "SignedHeaders must be lower-case header names, sorted, separated by ';'.",
                    REF_AUTH,
                )
            )
        if "host" not in headers and ":authority" not in headers:
            findings.append(
                error(
                    AWS4_HOST_NOT_SIGNED,
                    "SignedHeaders does not include host, which must be signed.",
                    REF_AUTH,
                )
            )
    if "signature" in p:
        signature = p["signature"]
        summary["signature"] = Secret(signature)
        summary["signature_length"] = len(signature)
        if not sigv4a and not _HEX64.fullmatch(signature):
            findings.append(
                error(
                    AWS4_BAD_SIGNATURE, "The signature must be 64 lower-case hex digits.", REF_AUTH
                )
            )
        elif sigv4a and not _HEX.fullmatch(signature):
            findings.append(
                error(AWS4_BAD_SIGNATURE, "The signature must be hexadecimal.", REF_AUTH)
            )
    findings += unknown_params(item.scheme, p, PARAMS, REF_AUTH)
    where = []
    if "service" in summary:
        where.append(f"service {shown(summary['service'], 40)}")
    if "region" in summary:
        where.append(f"region {shown(summary['region'], 40)}")
    if "date" in summary:
        where.append(f"date {summary['date'][:8]}")
    scope = f" for {', '.join(where)}" if where else ""
    key = f" with access key {summary['access_key_id']}" if "access_key_id" in summary else ""
    kind = "AWS SigV4a" if sigv4a else "AWS SigV4"
    return Decoded(summary, findings, f"The client signed the request ({kind}){key}{scope}.")


def decode_challenge(item: AuthInput) -> Decoded:
    """AWS never sends this as a challenge; refusals come as 403 with an XML/JSON error."""
    return Decoded(
        {"params": dict(item.params)},
        [
            info(
                AWS4_CHALLENGE,
                f"{item.scheme} is a request-signing scheme; AWS does not send it as a "
                "challenge, and reports signing errors in the response body.",
                REF_AUTH,
            )
        ],
        f"The server names {item.scheme}, a request-signing scheme AWS never sends as a challenge.",
    )


SCHEMES = tuple(
    register(
        Scheme(
            name=name,
            reference=REF,
            decode_challenge=decode_challenge,
            decode_credentials=decode_credentials,
        )
    )
    for name in (SIGV4, SIGV4A)
)
