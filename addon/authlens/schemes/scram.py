"""SCRAM-SHA-1 and SCRAM-SHA-256 over HTTP (RFC 7804), carrying RFC 5802 messages.

The exchange takes two round trips: the client's first message (user name and nonce),
the server's first (salt and iteration count) in a 401 with a session id ``sid``, the
client's final message (its proof), and the server's final (its verifier), normally in
Authentication-Info (RFC 7804 §5). Each message travels base64-encoded in ``data``; this
module decodes it into its attributes (RFC 5802 §5.1). The client proof ``p`` and the server
verifier ``v`` are :class:`~authlens.secret.Secret`: together with the salt they allow an
offline guess of the password.
"""

from __future__ import annotations

import re
from typing import Any

from authlens.findings import Finding, error, info, warning
from authlens.schemes import AuthInput, Decoded, Scheme, register
from authlens.schemes._common import b64decode, capped, digits, shown, unknown_params, who
from authlens.secret import Secret

REF = "RFC 7804"
REF_EXCHANGE = "RFC 7804 §5"
REF_REAUTH = "RFC 7804 §5.1"
REF_ATTRIBUTES = "RFC 5802 §5.1"
REF_ITERATIONS = "RFC 5802 §5.1"

# Finding IDs.
SCRAM_TOKEN68 = "scram-token68"
SCRAM_BAD_DATA = "scram-bad-data"
SCRAM_LENIENT_BASE64 = "scram-lenient-base64"
SCRAM_TRAILING_NEWLINE = "scram-trailing-newline"
SCRAM_UNKNOWN_MESSAGE = "scram-unknown-message"
SCRAM_MISSING_ATTRIBUTE = "scram-missing-attribute"
SCRAM_RESERVED_ATTRIBUTE = "scram-reserved-attribute"
SCRAM_LOW_ITERATIONS = "scram-low-iterations"
SCRAM_BAD_ITERATIONS = "scram-bad-iterations"
SCRAM_CHANNEL_BINDING = "scram-channel-binding"
SCRAM_SERVER_ERROR = "scram-server-error"
SCRAM_MISSING_SID = "scram-missing-sid"
SCRAM_SHA1 = "scram-sha1"
SCRAM_BAD_TTL = "scram-bad-ttl"

PARAMS = ("realm", "data", "sid", "sr", "ttl")
MIN_ITERATIONS = 4096  # RFC 5802 §5.1 and RFC 7677 §4 recommend at least this

CLIENT_FIRST = "client-first"
SERVER_FIRST = "server-first"
CLIENT_FINAL = "client-final"
SERVER_FINAL = "server-final"

_ATTRIBUTE = re.compile(r"([A-Za-z])=(.*)", re.DOTALL)
_REQUIRED = {
    CLIENT_FIRST: ("n", "r"),
    SERVER_FIRST: ("r", "s", "i"),
    CLIENT_FINAL: ("c", "r", "p"),
    SERVER_FINAL: (),
}
_MAX_ATTRIBUTES = 32


def decode_message(data: bytes) -> tuple[dict[str, Any], list[Finding]]:
    """An RFC 5802 message to ``({"message": kind, ...attributes}, findings)``. Total."""
    findings: list[Finding] = []
    text = data.decode("utf-8", "replace")
    if text.endswith(("\n", "\r")):
        text = text.rstrip("\r\n")
        findings.append(
            info(
                SCRAM_TRAILING_NEWLINE,
                "The SCRAM message ends with a line break (as the examples in RFC 7804 do); "
                "strict implementations refuse it.",
                REF_EXCHANGE,
            )
        )
    summary: dict[str, Any] = {}
    body = text
    if text.startswith(("n,", "y,", "p=")):
        kind = CLIENT_FIRST
        flag, _, rest = text.partition(",")
        authzid, _, body = rest.partition(",")
        summary["channel_binding"] = flag
        if authzid.startswith("a="):
            summary["authzid"] = capped(_saslname(authzid[2:]))
        if flag.startswith("p="):
            findings.append(_channel_binding_finding())
    elif text.startswith("c="):
        kind = CLIENT_FINAL
    elif text.startswith(("v=", "e=")):
        kind = SERVER_FINAL
    elif text.startswith(("r=", "m=")):
        kind = SERVER_FIRST
    else:
        kind = "unknown"
        findings.append(
            warning(
                SCRAM_UNKNOWN_MESSAGE,
                "The SCRAM data is not a message RFC 5802 defines.",
                REF_ATTRIBUTES,
            )
        )
    summary["message"] = kind
    attributes = _attributes(body)
    summary.update(_attribute_summary(attributes, findings))
    missing = [a for a in _REQUIRED.get(kind, ()) if a not in attributes]
    if missing:
        findings.append(
            error(
                SCRAM_MISSING_ATTRIBUTE,
                f"The SCRAM {kind} message lacks " + ", ".join(f"'{a}='" for a in missing) + ".",
                REF_ATTRIBUTES,
            )
        )
    return summary, findings


def _attributes(body: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in body.split(",", _MAX_ATTRIBUTES)[:_MAX_ATTRIBUTES]:
        m = _ATTRIBUTE.fullmatch(part)
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


def _saslname(value: str) -> str:
    """RFC 5802 §5.1: ',' travels as '=2C' and '=' as '=3D'."""
    return value.replace("=2C", ",").replace("=3D", "=")


def _channel_binding_finding() -> Finding:
    return warning(
        SCRAM_CHANNEL_BINDING,
        "The client asks for channel binding ('p='), which SCRAM over HTTP does not "
        "define; through an intercepting proxy it cannot succeed at all.",
        REF,
    )


def _attribute_summary(attrs: dict[str, str], findings: list[Finding]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "m" in attrs:
        findings.append(
            error(
                SCRAM_RESERVED_ATTRIBUTE,
                "The message carries the reserved 'm=' attribute; servers must refuse it.",
                REF_ATTRIBUTES,
            )
        )
    if "n" in attrs:
        out["user"] = capped(_saslname(attrs["n"]))
    if "r" in attrs:
        out["nonce"] = capped(attrs["r"])
    if "s" in attrs:
        salt = b64decode(attrs["s"]).data
        out["salt_length"] = len(salt) if salt is not None else None
    if "i" in attrs:
        raw = attrs["i"]
        iterations = int(raw) if digits(raw, 10) else None
        out["iterations"] = iterations
        if iterations is None:
            findings.append(
                error(
                    SCRAM_BAD_ITERATIONS,
                    f"i={shown(raw, 20)} is not an iteration count.",
                    REF_ATTRIBUTES,
                )
            )
        elif iterations < MIN_ITERATIONS:
            findings.append(
                warning(
                    SCRAM_LOW_ITERATIONS,
                    f"{iterations} iterations is below the recommended minimum of "
                    f"{MIN_ITERATIONS}; the salted password is cheap to guess.",
                    REF_ITERATIONS,
                )
            )
    if "c" in attrs:
        binding = b64decode(attrs["c"]).data
        header = binding.decode("utf-8", "replace") if binding is not None else None
        out["channel_binding"] = capped(header) if header is not None else None
        if header is not None and header.startswith("p="):
            findings.append(_channel_binding_finding())
    if "p" in attrs:
        out["proof"] = Secret(attrs["p"])
    if "v" in attrs:
        out["verifier"] = Secret(attrs["v"])
    if "e" in attrs:
        out["error"] = capped(attrs["e"])
        findings.append(
            warning(
                SCRAM_SERVER_ERROR,
                f"The server ended the SCRAM exchange with the error {shown(attrs['e'], 60)}.",
                "RFC 5802 §7",
            )
        )
    return out


def _decode_params(item: AuthInput, findings: list[Finding]) -> dict[str, Any]:
    p = item.params
    if item.token68 is not None:
        findings.append(
            error(
                SCRAM_TOKEN68,
                f"{item.scheme} carries parameters (realm, data, sid), not a token68.",
                REF_EXCHANGE,
            )
        )
    if item.scheme.upper() == "SCRAM-SHA-1":
        findings.append(
            info(
                SCRAM_SHA1,
                "SCRAM-SHA-1 exists for compatibility; RFC 7804 does not recommend it for new "
                "deployments (use SCRAM-SHA-256).",
                "RFC 7804 §4",
            )
        )
    summary: dict[str, Any] = {
        "mechanism": item.scheme.upper(),
        "realm": p.get("realm"),
        "sid": p.get("sid"),
    }
    if "sr" in p:
        summary["server_nonce"] = p["sr"]
    if "ttl" in p:
        ttl = p["ttl"]
        summary["ttl"] = int(ttl) if digits(ttl, 10) else None
        if summary["ttl"] is None:
            findings.append(
                warning(
                    SCRAM_BAD_TTL, f"ttl={shown(ttl, 20)} is not a number of seconds.", REF_REAUTH
                )
            )
    data = p.get("data")
    if data is not None:
        decoded = b64decode(data)
        if decoded.data is None:
            findings.append(
                error(SCRAM_BAD_DATA, "The SCRAM data is not valid base64.", REF_EXCHANGE)
            )
            summary["data"] = {"message": "invalid"}
        else:
            if decoded.tolerated:
                findings.append(
                    warning(
                        SCRAM_LENIENT_BASE64,
                        "The SCRAM data uses " + ", ".join(decoded.tolerated) + "; strict "
                        "servers refuse it.",
                        REF_EXCHANGE,
                    )
                )
            message, message_findings = decode_message(decoded.data)
            findings += message_findings
            summary["data"] = message
    findings += unknown_params(item.scheme, p, PARAMS, REF_EXCHANGE)
    return summary


def decode_challenge(item: AuthInput) -> Decoded:
    """realm, and during the exchange sid and data (the server-first message)."""
    findings: list[Finding] = []
    summary = _decode_params(item, findings)
    message = summary.get("data") or {}
    start = who(item.is_proxy).capitalize()
    mech = item.scheme.upper()
    if message.get("message") == SERVER_FIRST:
        if summary.get("sid") is None:
            findings.append(
                warning(
                    SCRAM_MISSING_SID,
                    "The server continues a SCRAM exchange without a sid; the client cannot "
                    "tie its final message to this session.",
                    REF_EXCHANGE,
                )
            )
        plain = (
            f"{start} continues the {mech} exchange (salt of {message.get('salt_length')} "
            f"bytes, {message.get('iterations')} iterations); the client must now send its proof."
        )
    elif message.get("message") == SERVER_FINAL and "error" in message:
        plain = f"{start} ended the {mech} exchange with the error {shown(message['error'], 60)}."
    else:
        where = f" for realm {shown(summary['realm'])}" if summary.get("realm") else ""
        plain = (
            f"{start} wants {mech} authentication{where}: a salted challenge-response in "
            "which the password itself never crosses the wire."
        )
    return Decoded(summary, findings, plain)


def decode_credentials(item: AuthInput) -> Decoded:
    """data (the client-first or client-final message), sid and realm."""
    findings: list[Finding] = []
    summary = _decode_params(item, findings)
    message = summary.get("data") or {}
    mech = item.scheme.upper()
    kind = message.get("message")
    if kind == CLIENT_FINAL:
        if summary.get("sid") is None:
            findings.append(
                warning(
                    SCRAM_MISSING_SID,
                    "The client's final SCRAM message carries no sid; the server cannot tie "
                    "it to the exchange it started.",
                    REF_EXCHANGE,
                )
            )
        plain = f"The client sends its {mech} proof to finish the exchange."
    elif kind == CLIENT_FIRST:
        user = message.get("user")
        as_user = f" as user {shown(user)}" if user is not None else ""
        plain = f"The client starts a {mech} exchange{as_user}."
    else:
        plain = f"The client sent {mech} credentials authlens cannot place in the exchange."
    return Decoded(summary, findings, plain)


SCHEMES = tuple(
    register(
        Scheme(
            name=name,
            reference=REF,
            decode_challenge=decode_challenge,
            decode_credentials=decode_credentials,
        )
    )
    for name in ("SCRAM-SHA-1", "SCRAM-SHA-256")
)
