"""Mutual authentication (RFC 8120): a password-authenticated key exchange.

The exchange is four messages (RFC 8120 §4): the server's 401-INIT (realm, algorithm,
validation, and a ``reason`` for the 401), the client's req-KEX-C1 (``user`` and its key
``kc1``), the server's 401-KEX-S1 (session ``sid`` and ``ks1``), and the client's req-VFY-C
(``vkc``). The verifiers ``vkc``/``vks`` are :class:`~authlens.secret.Secret`; the exchange
values ``kc1``/``ks1`` are shown by length only.

Host validation by ``tls-server-end-point`` or ``tls-unique`` binds the exchange to the TLS
connection, so it fails behind a TLS-intercepting proxy.
"""

from __future__ import annotations

from typing import Any

from authlens.findings import Finding, error, info, warning
from authlens.schemes import AuthInput, Decoded, Scheme, register
from authlens.schemes._common import digits, shown, unknown_params, who
from authlens.secret import Secret

REF = "RFC 8120"
REF_MESSAGES = "RFC 8120 §4"
REF_INIT = "RFC 8120 §4.1"
REF_VALIDATION = "RFC 8120 §7"

# Finding IDs.
MUTUAL_REASON = "mutual-reason"
MUTUAL_UNKNOWN_REASON = "mutual-unknown-reason"
MUTUAL_UNKNOWN_ALGORITHM = "mutual-unknown-algorithm"
MUTUAL_UNKNOWN_VALIDATION = "mutual-unknown-validation"
MUTUAL_TLS_VALIDATION = "mutual-tls-validation"
MUTUAL_MISSING_PARAM = "mutual-missing-param"
MUTUAL_BAD_NUMBER = "mutual-bad-number"
MUTUAL_TOKEN68 = "mutual-token68"

# RFC 8120 §4.1: why the 401 was sent.
REASONS = {
    "initial": "no credentials were sent",
    "stale-session": "the session expired",
    "auth-failed": "authentication failed",
    "reauth-needed": "the server wants a new authentication",
    "invalid-parameters": "the request's parameters were invalid",
    "internal-error": "the server had an internal error",
    "user-unknown": "the user is unknown",
    "invalid-credential": "the password was wrong",
    "authz-failed": "the user is not allowed to access this resource",
}
# RFC 8121 §3: the registered key-exchange algorithms.
ALGORITHMS = (
    "iso-kam3-dl-2048-sha256", "iso-kam3-dl-4096-sha512",
    "iso-kam3-ec-p256-sha256", "iso-kam3-ec-p521-sha512",
)  # fmt: skip
VALIDATIONS = ("host", "tls-server-end-point", "tls-unique")
PARAMS = (
    "version", "algorithm", "validation", "auth-scope", "realm", "reason", "user", "kc1",
    "ks1", "sid", "nc", "nc-max", "nc-window", "time", "path", "vkc", "vks", "auth-domain",
)  # fmt: skip
_NUMBERS = ("nc", "nc-max", "nc-window", "time", "version")


def _common(item: AuthInput, findings: list[Finding]) -> dict[str, Any]:
    p = item.params
    if item.token68 is not None:
        findings.append(
            error(MUTUAL_TOKEN68, "Mutual carries parameters, not a token68.", REF_MESSAGES)
        )
    summary: dict[str, Any] = {
        name.replace("-", "_"): p[name]
        for name in (
            "version",
            "algorithm",
            "validation",
            "auth-scope",
            "realm",
            "reason",
            "user",
            "sid",
            "path",
        )
        if name in p
    }
    for name in _NUMBERS:
        if name in p:
            raw = p[name]
            number = int(raw) if digits(raw, 20) else None
            summary[name.replace("-", "_")] = number
            if number is None:
                findings.append(
                    warning(
                        MUTUAL_BAD_NUMBER,
                        f"{name}={shown(raw, 20)} is not a decimal integer.",
                        REF_MESSAGES,
                    )
                )
    algorithm = p.get("algorithm")
    if algorithm is not None and algorithm.lower() not in ALGORITHMS:
        findings.append(
            warning(
                MUTUAL_UNKNOWN_ALGORITHM,
                f"algorithm={shown(algorithm)} is not one of the RFC 8121 algorithms.",
                "RFC 8121 §3",
            )
        )
    validation = p.get("validation")
    if validation is not None:
        if validation.lower() not in VALIDATIONS:
            findings.append(
                warning(
                    MUTUAL_UNKNOWN_VALIDATION,
                    f"validation={shown(validation)} is not host, tls-server-end-point or "
                    "tls-unique.",
                    REF_VALIDATION,
                )
            )
        elif validation.lower() != "host":
            findings.append(
                warning(
                    MUTUAL_TLS_VALIDATION,
                    f"validation={validation} binds the exchange to the TLS connection; behind "
                    "a TLS-intercepting proxy client and server see different connections and "
                    "authentication fails.",
                    REF_VALIDATION,
                )
            )
    for name in ("kc1", "ks1"):
        if name in p:
            summary[f"{name}_length"] = len(p[name])
    for name in ("vkc", "vks"):
        if name in p:
            summary[name] = Secret(p[name])
    findings += unknown_params("Mutual", p, PARAMS, REF_MESSAGES)
    return summary


def decode_challenge(item: AuthInput) -> Decoded:
    """401-INIT / 401-STALE (reason, realm, algorithm, validation) or 401-KEX-S1 (sid, ks1)."""
    p = item.params
    findings: list[Finding] = []
    summary = _common(item, findings)
    start = who(item.is_proxy).capitalize()
    if "ks1" in p:
        summary["message"] = "401-KEX-S1"
        missing = [n for n in ("sid", "ks1", "nc-max", "nc-window", "time", "path") if n not in p]
        plain = f"{start} continues the Mutual key exchange; the client must now send its verifier."
    else:
        summary["message"] = "401-STALE" if p.get("reason") == "stale-session" else "401-INIT"
        missing = [
            n for n in ("version", "algorithm", "validation", "realm", "reason") if n not in p
        ]
        reason = p.get("reason")
        if reason is not None:
            meaning = REASONS.get(reason.lower())
            if meaning is None:
                findings.append(
                    warning(
                        MUTUAL_UNKNOWN_REASON, f"reason={shown(reason)} is not defined.", REF_INIT
                    )
                )
            elif reason.lower() != "initial":
                findings.append(
                    info(MUTUAL_REASON, f"The server says {meaning} (reason={reason}).", REF_INIT)
                )
        where = f" for realm {shown(p['realm'])}" if "realm" in p else ""
        why = f"; it says {REASONS[reason.lower()]}" if reason and reason.lower() in REASONS else ""
        plain = (
            f"{start} wants Mutual authentication{where}, a password-based key exchange that "
            f"also proves the server knows the password{why}."
        )
    if missing:
        findings.append(
            error(
                MUTUAL_MISSING_PARAM,
                f"The {summary['message']} message lacks " + ", ".join(missing) + ".",
                REF_MESSAGES,
            )
        )
    return Decoded(summary, findings, plain)


def decode_credentials(item: AuthInput) -> Decoded:
    """req-KEX-C1 (user, kc1) or req-VFY-C (sid, nc, vkc)."""
    p = item.params
    findings: list[Finding] = []
    summary = _common(item, findings)
    if "vkc" in p:
        summary["message"] = "req-VFY-C"
        missing = [n for n in ("sid", "nc", "vkc") if n not in p]
        plain = "The client sends its Mutual verifier to finish the key exchange."
    else:
        summary["message"] = "req-KEX-C1"
        missing = [
            n for n in ("version", "algorithm", "validation", "realm", "user", "kc1") if n not in p
        ]
        as_user = f" as user {shown(p['user'])}" if "user" in p else ""
        plain = f"The client starts a Mutual key exchange{as_user}."
    if missing:
        findings.append(
            error(
                MUTUAL_MISSING_PARAM,
                f"The {summary['message']} message lacks " + ", ".join(missing) + ".",
                REF_MESSAGES,
            )
        )
    return Decoded(summary, findings, plain)


SCHEME = register(
    Scheme(
        name="Mutual",
        reference=REF,
        decode_challenge=decode_challenge,
        decode_credentials=decode_credentials,
    )
)
