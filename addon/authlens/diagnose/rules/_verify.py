"""Opt-in verification against a known password (``AnalyzerConfig.known_credentials``).

Recomputing what the client sent tells "the password is wrong" from "the client computed
the response wrongly" (a Digest response hashed over another ``uri`` or realm). Only
sentences come out of here; the password never leaves the caller's mapping, and nothing
is computed unless the user supplied credentials.

Digest uses :mod:`authlens.schemes.digest`'s own ``check_response``; NTLMv2 uses
:func:`authlens.verify.verify_ntlmv2` (MD4 in pure Python, so no new dependency).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authlens.credentials import Credentials
from authlens.diagnose.rules import Context, request_target, summary_text
from authlens.handshake import MSG_NEGOTIATE, ntlm_facts
from authlens.schemes import digest
from authlens.schemes._common import redact_query
from authlens.schemes.negotiate import innermost
from authlens.secret import Secret
from authlens.verify import verify_ntlmv2

MATCH = "match"
WRONG_PASSWORD = "wrong-password"
CLIENT_ERROR = "client-error"

Outcome = tuple[str, str]  # (one of the constants above, one sentence for people)
_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS")


def verify(ctx: Context, credentials: Credentials) -> Outcome | None:
    """What the known password says about ``credentials``; None when nothing is known."""
    known = ctx.config.known_credentials
    if not known:
        return None
    scheme = credentials.scheme.lower()
    if scheme == "digest":
        return verify_digest(ctx, credentials, known)
    if scheme == "basic":
        return _verify_basic(credentials, known)
    if ntlm_facts(credentials.scheme, credentials.summary) is not None:
        return _verify_ntlm(ctx, credentials, known)
    return None


def _verify_basic(credentials: Credentials, known: Mapping[str, str]) -> Outcome | None:
    user, password = credentials.summary.get("user"), credentials.summary.get("password")
    if not isinstance(user, str) or isinstance(user, Secret) or not isinstance(password, Secret):
        return None
    expected = known.get(user)
    if expected is None:
        return None
    if password.reveal_text() == expected:
        return MATCH, f"Verified: the password sent for '{user}' is the known one."
    return WRONG_PASSWORD, f"Verified: the password sent for '{user}' is not the known one."


def verify_digest(
    ctx: Context, credentials: Credentials, known: Mapping[str, str]
) -> Outcome | None:
    """Recompute the Digest response; if it fails, find which input the client changed."""
    params = dict(credentials.params)
    user = credentials.summary.get("username")
    if not isinstance(user, str):
        return None
    password = known.get(user)
    if password is None:
        return None
    method = ctx.request.method
    body = ctx.request.body or b""
    sent = digest.check_response(params, password, method, username=user, entity_body=body)
    if sent is None:
        return None
    if sent:
        return (
            MATCH,
            f"Verified: the Digest response is correct for the known password of '{user}' "
            "over the values the client sent.",
        )
    for override, try_method, description in _digest_variants(ctx, params):
        trial = {**params, **override}
        if digest.check_response(trial, password, try_method, username=user, entity_body=body):
            return (
                CLIENT_ERROR,
                f"Verified: the password of '{user}' is right, but the client computed the "
                f"response over {description}, not the values it sent.",
            )
    for encoded_user, encoded_password, description in (
        (user.encode("latin-1", "ignore"), password.encode("latin-1", "ignore"), "ISO-8859-1"),
    ):
        if encoded_password != password.encode("utf-8") and digest.check_response(
            params, encoded_password, method, username=encoded_user, entity_body=body
        ):
            return (
                CLIENT_ERROR,
                f"Verified: the password of '{user}' is right, but the client hashed it as "
                f"{description} where UTF-8 was expected.",
            )
    return (
        WRONG_PASSWORD,
        f"Verified: the Digest response does not match the known password of '{user}': the "
        "client used a different password.",
    )


def _digest_variants(
    ctx: Context, params: Mapping[str, str]
) -> list[tuple[dict[str, str], str, str]]:
    """(parameters, method, description) the client may have hashed instead of what it sent."""
    method = ctx.request.method
    out: list[tuple[dict[str, str], str, str]] = []
    target = request_target(ctx.request)
    path_only = target.split("?", 1)[0]
    for uri in dict.fromkeys((target, path_only, ctx.request.url)):
        if uri != params.get("uri"):
            # Quoted with secret-named query values fingerprinted (?access_token=).
            out.append(({"uri": uri}, method, f"the URI '{summary_text(redact_query(uri), 120)}'"))
    challenge = ctx.view.digest
    if challenge is not None:
        for name in ("realm", "nonce", "algorithm"):
            value = challenge.params.get(name)
            if value is not None and value != params.get(name):
                shown = summary_text(value, 80)
                out.append(({name: value}, method, f"the challenge's {name} '{shown}'"))
    for algorithm in ("MD5", "SHA-256"):
        if (params.get("algorithm") or "MD5").upper() != algorithm:
            out.append(({"algorithm": algorithm}, method, f"algorithm {algorithm}"))
    for other in _METHODS:
        if other != method.upper():
            out.append(({}, other, f"the method {other}"))
    return out


def _verify_ntlm(
    ctx: Context, credentials: Credentials, known: Mapping[str, str]
) -> Outcome | None:
    facts = ntlm_facts(credentials.scheme, credentials.summary)
    if facts is None or facts.message_type != "AUTHENTICATE" or not facts.user:
        return None
    domain = facts.domain or ""
    password = None
    for key in (f"{domain}\\{facts.user}", facts.user, f"{facts.user}@{domain}"):
        password = known.get(key)
        if password is not None:
            break
    if password is None:
        return None
    server_challenge = next(
        (
            leg.server_challenge
            for leg in reversed(ctx.view.conversation)
            if leg.message == MSG_NEGOTIATE and leg.server_challenge
        ),
        None,
    )
    summary: Mapping[str, Any] = (
        credentials.summary
        if credentials.scheme.lower() == "ntlm"
        else innermost(credentials.summary)
    )
    nt_response = summary.get("nt_response")
    if server_challenge is None or not isinstance(nt_response, Secret):
        return None
    raw = nt_response.reveal()
    result = verify_ntlmv2(
        password,
        facts.user,
        domain,
        bytes.fromhex(server_challenge),
        raw if isinstance(raw, bytes) else b"",
    )
    outcome = str(result.outcome)
    detail = result.detail
    mapped = {"match": MATCH, "wrong-password": WRONG_PASSWORD, "client-error": CLIENT_ERROR}
    if outcome not in mapped:
        return None
    return mapped[outcome], f"Verified: {detail[:1].lower()}{detail[1:]}"
