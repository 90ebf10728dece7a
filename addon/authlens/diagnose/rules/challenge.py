"""Detectors about the challenge and whether the client answered it."""

from __future__ import annotations

from collections.abc import Iterator

from authlens import grammar
from authlens.diagnose.catalogue import (
    MALFORMED_CHALLENGE,
    MISSING_CHALLENGE,
    MISSING_CREDENTIALS,
    NO_RETRY,
    SCHEME_MISMATCH,
)
from authlens.diagnose.rules import (
    Context,
    Hit,
    asker,
    detects,
    hit,
    schemes_text,
    space_text,
    summary_text,
)
from authlens.findings import Severity
from authlens.handshake import Answer, LegKind
from authlens.schemes import basic, bearer, digest

# Syntax findings of the grammar (RFC 9110 §11 / §5.6): what "malformed" means here.
GRAMMAR_FINDINGS = frozenset(
    {
        grammar.TRUNCATED, grammar.NON_UTF8, grammar.OBS_FOLD, grammar.CONTROL_CHAR,
        grammar.MISSING_SCHEME, grammar.MISSING_COMMA, grammar.COMMA_AFTER_SCHEME,
        grammar.UNQUOTED_SPACE, grammar.UNTERMINATED_QUOTE, grammar.SINGLE_QUOTED,
        grammar.DUPLICATE_PARAM, grammar.MISSING_VALUE, grammar.INVALID_TOKEN_CHAR,
        grammar.UNEXPECTED_CHAR, grammar.TOKEN68_WITH_PARAMS, grammar.EMPTY_FIELD,
    }
)  # fmt: skip
# Structural errors the scheme specifications make part of the challenge's syntax.
SCHEME_SYNTAX_FINDINGS = frozenset(
    {
        basic.BASIC_MISSING_REALM, basic.BASIC_CHALLENGE_TOKEN68,
        digest.DIGEST_MISSING_REALM, digest.DIGEST_MISSING_NONCE, digest.DIGEST_TOKEN68,
        bearer.BEARER_TOKEN68_CHALLENGE,
    }
)  # fmt: skip
_MALFORMED = GRAMMAR_FINDINGS | SCHEME_SYNTAX_FINDINGS
_MAX_PROBLEMS = 4


def _answer_state(ctx: Context) -> tuple[str, str, Severity | None, float]:
    """(short state, sentence, severity override, confidence) of a challenge leg."""
    view = ctx.view
    if view.answer is Answer.ANSWERED:
        status = view.answer_status
        if view.answer_kind is LegKind.CONTINUE:
            outcome = "which continued the handshake"
        elif view.answer_kind is LegKind.ACCEPTED or (status is not None and status < 400):
            outcome = f"which succeeded ({status})"
        elif view.answer_kind is LegKind.STALE:
            outcome = "which was answered with a new nonce (stale)"
        elif status is None:
            outcome = "which got no response"
        else:
            outcome = f"which was refused again ({status})"
        state = f"the client retried with credentials ({view.answered_by}), {outcome}"
        return state, f"Here {state}: a normal first leg.", Severity.INFO, 0.9
    if view.answer is Answer.PENDING:
        state = "waiting for the client to retry with credentials"
        return state, "authlens is " + state + ".", Severity.INFO, 0.6
    if view.answer is Answer.UNANSWERED:
        state = f"no retry followed {view.unanswered_reason}".rstrip()
        return state, f"Here {state}, so the request stayed unauthenticated.", None, 0.9
    return "not answered", "", None, 0.7


@detects(MISSING_CREDENTIALS)
def missing_credentials(ctx: Context) -> Iterator[Hit]:
    status = ctx.status
    if status != 401 and status != 407:
        return
    proxy = ctx.for_proxy
    if (ctx.proxy_authorization if proxy else ctx.authorization) is not None:
        return
    field = ctx.field
    if ctx.unknown_fields and ctx.is_unknown(field):
        return
    state, sentence, severity, confidence = _answer_state(ctx)
    view = ctx.view
    evidence = [f"status {status} and the request has no {field} header"]
    if view.answered_by:
        evidence.append(f"answered by {view.answered_by} (status {view.answer_status})")
    yield hit(
        evidence,
        confidence,
        severity,
        field=field,
        space=space_text(ctx),
        state=state,
        asker="The proxy" if proxy else "The server",
        state_sentence=sentence,
    )


@detects(NO_RETRY)
def no_retry(ctx: Context) -> Iterator[Hit]:
    view = ctx.view
    if view.answer is not Answer.UNANSWERED or view.kind not in (LegKind.CHALLENGE, LegKind.STALE):
        return
    evidence = [f"no later request to this target carried {ctx.field} ({view.unanswered_reason})"]
    offered = {c.scheme.lower() for c in ctx.offered}
    if ctx.client.is_browser and offered & {"negotiate", "ntlm"}:
        evidence.append(
            f"{ctx.client.name} answers Negotiate/NTLM only for hosts it trusts (intranet "
            "zone or allow-list)"
        )
    if ctx.client.kind == "automated":
        evidence.append(f"{ctx.client.name} sends credentials only when configured to")
    yield hit(
        evidence,
        0.85 if view.unanswered_reason.startswith("within") else 0.75,
        field=ctx.field,
        space=space_text(ctx),
        waited=view.unanswered_reason,
    )


@detects(SCHEME_MISMATCH)
def scheme_mismatch(ctx: Context) -> Iterator[Hit]:
    credentials = ctx.credentials
    if credentials is None or not credentials.scheme or not ctx.refused:
        return
    offered = [c for c in ctx.offered if c.scheme]
    if not offered or credentials.scheme.lower() in {c.scheme.lower() for c in offered}:
        return
    yield hit(
        [
            f"{credentials.field}: {credentials.scheme} …",
            f"{ctx.challenge_field} offers {schemes_text(offered)}",
        ],
        0.9,
        sent=credentials.scheme,
        offered=schemes_text(offered),
        asker=asker(ctx).lower(),
    )


@detects(MISSING_CHALLENGE)
def missing_challenge(ctx: Context) -> Iterator[Hit]:
    response = ctx.exchange.response
    if response is None or response.status_code not in (401, 407):
        return
    header = "Proxy-Authenticate" if response.status_code == 407 else "WWW-Authenticate"
    if header in response.headers:
        return
    yield hit(
        [f"status {response.status_code} and no {header} header in the response"],
        0.95,
        status=str(response.status_code),
        header=header,
    )


@detects(MALFORMED_CHALLENGE)
def malformed_challenge(ctx: Context) -> Iterator[Hit]:
    for challenges in (ctx.www, ctx.proxy):
        if not challenges:
            continue
        problems = [
            f
            for c in challenges
            for f in c.findings
            if f.id in _MALFORMED and f.severity is not Severity.INFO
        ]
        if not problems:
            continue
        header = challenges[0].field
        ids = list(dict.fromkeys(f.id for f in problems))[:_MAX_PROBLEMS]
        worst = Severity.ERROR if any(f.severity is Severity.ERROR for f in problems) else None
        messages = [f.message for f in problems[:_MAX_PROBLEMS]]
        yield hit(
            [f"{header}: {summary_text(m, 200)}" for m in messages],
            0.9 if worst else 0.75,
            worst,
            header=header,
            problems=", ".join(ids),
            details=" ".join(messages),
        )
