"""The ``NTLM`` HTTP authentication scheme (MS-NTHT §2, messages in MS-NLMP §2.2.1).

A three-leg handshake bound to one connection: the server answers a request with a bare
``WWW-Authenticate: NTLM``, the client sends ``Authorization: NTLM <NEGOTIATE>``, the
server answers 401 with ``NTLM <CHALLENGE>``, and the client finishes with
``NTLM <AUTHENTICATE>``. Each token is base64 of one NTLM message.

The base64 reading here (strict first, then lenient with a finding saying what was
tolerated) is shared with the ``Negotiate`` and ``Kerberos`` schemes.
"""

from __future__ import annotations

import base64
import binascii

from authlens.findings import Finding, error, warning
from authlens.schemes import AuthInput, Decoded, Scheme, register
from authlens.schemes._ntlmmsg import (
    AUTHENTICATE,
    CHALLENGE,
    NEGOTIATE,
    decode_ntlm,
)

# Finding IDs.
TOKEN_BASE64_LENIENT = "token-base64-lenient"
TOKEN_NOT_BASE64 = "token-not-base64"
NTLM_MISSING_TOKEN = "ntlm-missing-token"
NTLM_UNEXPECTED_PARAMS = "ntlm-unexpected-params"
NTLM_UNEXPECTED_MESSAGE_TYPE = "ntlm-unexpected-message-type"

REFERENCE = "MS-NTHT §2; MS-NLMP §2.2.1"
REF_BASE64 = "RFC 4648 §4"

# Challenge "state" values, shared with Negotiate: where the handshake stands.
STATE_CLIENT_MUST_START = "client-must-start"
STATE_CONTINUE = "continue"
STATE_COMPLETE = "complete"
STATE_REJECTED = "rejected"
STATE_ERROR = "error"

_URLSAFE = str.maketrans("-_", "+/")


def decode_base64_token(token: str) -> tuple[bytes | None, list[Finding]]:
    """The bytes of a token68, strict RFC 4648 §4 base64 first, then leniently.

    Lenient reading accepts white space, missing or surplus ``=`` padding and the
    URL-safe alphabet, each named in a warning, since real clients and proxies emit them
    and servers differ in whether they accept them. ``None`` (with an error) when the
    text is not base64 at all.
    """
    try:
        return base64.b64decode(token, validate=True), []
    except (binascii.Error, ValueError):
        pass
    tolerated: list[str] = []
    text = "".join(token.split())
    if text != token:
        tolerated.append("white space")
    if "-" in text or "_" in text:
        tolerated.append("the URL-safe alphabet ('-' and '_')")
        text = text.translate(_URLSAFE)
    body = text.rstrip("=")
    given = len(text) - len(body)
    needed = -len(body) % 4
    if given != needed:
        tolerated.append("missing '=' padding" if given < needed else "surplus '=' padding")
    try:
        if needed == 3:  # one character left over can never be base64
            raise binascii.Error
        data = base64.b64decode(body + "=" * needed, validate=True)
    except (binascii.Error, ValueError):
        return None, [
            error(
                TOKEN_NOT_BASE64,
                f"The token ({len(token)} characters) is not base64, so it cannot be read.",
                REF_BASE64,
            )
        ]
    return data, [
        warning(
            TOKEN_BASE64_LENIENT,
            f"The token is not strict base64; authlens tolerated {', '.join(tolerated)}. "
            "Some servers refuse such tokens.",
            REF_BASE64,
        )
    ]


def _peer(item: AuthInput) -> str:
    return "proxy" if item.is_proxy else "server"


def _decode_token(item: AuthInput, token: str, expected: set[str], side: str) -> Decoded:
    data, findings = decode_base64_token(token)
    if data is None:
        return Decoded(
            {"mechanism": "NTLM", "message_type": None, "length": None},
            findings,
            f"The {side} sent an NTLM token that is not base64, so it cannot be read.",
        )
    decoded = decode_ntlm(data, peer=_peer(item))
    decoded.findings[:0] = findings
    kind = decoded.summary.get("message_type")
    if kind is not None and kind not in expected:
        decoded.findings.append(
            warning(
                NTLM_UNEXPECTED_MESSAGE_TYPE,
                f"An NTLM {kind} message does not belong in {item.field}; expected "
                f"{' or '.join(sorted(expected))}.",
                "MS-NTHT §2",
            )
        )
    return decoded


def _params_finding(item: AuthInput) -> list[Finding]:
    if not item.params:
        return []
    return [
        warning(
            NTLM_UNEXPECTED_PARAMS,
            f"NTLM takes a bare token, not parameters ({', '.join(sorted(item.params))}); "
            "they were ignored.",
            "MS-NTHT §2",
        )
    ]


def decode_challenge(item: AuthInput) -> Decoded:
    findings = _params_finding(item)
    peer = _peer(item)
    if item.token68 is None:
        return Decoded(
            {"mechanism": "NTLM", "message_type": None, "state": STATE_CLIENT_MUST_START},
            findings,
            f"The {peer} asks for NTLM authentication; the client must start the handshake "
            "with a NEGOTIATE message (step 1 of 3), and keep the connection open for all "
            "three steps.",
        )
    decoded = _decode_token(item, item.token68, {CHALLENGE}, peer)
    decoded.findings[:0] = findings
    decoded.summary["state"] = (
        STATE_CONTINUE if decoded.summary.get("message_type") == CHALLENGE else None
    )
    return decoded


def decode_credentials(item: AuthInput) -> Decoded:
    findings = _params_finding(item)
    if item.token68 is None:
        findings.append(
            error(
                NTLM_MISSING_TOKEN,
                "NTLM credentials must carry a base64 NTLM message; this one has none.",
                "MS-NTHT §2",
            )
        )
        return Decoded(
            {"mechanism": "NTLM", "message_type": None},
            findings,
            "The client named NTLM but sent no NTLM message.",
        )
    decoded = _decode_token(item, item.token68, {NEGOTIATE, AUTHENTICATE}, "client")
    decoded.findings[:0] = findings
    return decoded


SCHEME = register(Scheme("NTLM", REFERENCE, decode_challenge, decode_credentials))
