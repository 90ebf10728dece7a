"""Detectors about proxies: 407s, credentials in the wrong field, and mitmproxy itself."""

from __future__ import annotations

from collections.abc import Iterator

from authlens.credentials import AUTHORIZATION, PROXY_AUTHORIZATION
from authlens.diagnose.catalogue import (
    PROXY_AUTH_REQUIRED,
    REFUSED_BY_MITMPROXY,
    WRONG_AUTH_HEADER,
)
from authlens.diagnose.rules import Context, Hit, detects, hit, schemes_text
from authlens.findings import Severity
from authlens.handshake import Answer, LegKind
from authlens.refusal import MITMPROXY


@detects(PROXY_AUTH_REQUIRED)
def proxy_auth_required(ctx: Context) -> Iterator[Hit]:
    if ctx.status != 407:
        if ctx.exchange.error_status == 407:
            yield _upstream_refused_tunnel(ctx)
        return
    view = ctx.view
    proxy = ctx.refused_by.name or ctx.exchange.upstream_proxy or "on the network path"
    evidence = [f"407 from {ctx.refused_by.describe()}", *list(ctx.refused_by.evidence[:3])]
    severity: Severity | None = None
    if view.kind is LegKind.REFUSED:
        state = "the proxy credentials sent were refused"
        sentence = "The client did send Proxy-Authorization, and the proxy refused it."
    elif view.answer is Answer.ANSWERED:
        state = f"the client then sent proxy credentials ({view.answered_by})"
        sentence = f"The client then retried with proxy credentials ({view.answered_by}): a normal first leg."
        severity = Severity.INFO
    elif view.answer is Answer.PENDING:
        state = "waiting for the client to retry with proxy credentials"
        sentence = "authlens is waiting for the client's retry with Proxy-Authorization."
        severity = Severity.INFO
    elif view.answer is Answer.UNANSWERED:
        state = "the client never sent proxy credentials"
        sentence = f"The client never retried with Proxy-Authorization ({view.unanswered_reason})."
        severity = Severity.ERROR
    else:
        state = "no proxy credentials were sent"
        sentence = "The request carried no Proxy-Authorization."
    yield hit(
        evidence,
        0.95,
        severity,
        proxy=proxy,
        schemes=schemes_text(ctx.proxy),
        state=state,
        state_sentence=sentence,
    )


def _upstream_refused_tunnel(ctx: Context) -> Hit:
    """The upstream refused mitmproxy's own CONNECT: the client never saw a 407."""
    upstream = ctx.exchange.upstream_proxy or "the upstream proxy"
    return hit(
        [*ctx.refused_by.evidence[:3]],
        0.9,
        Severity.ERROR,
        proxy=upstream,
        schemes="(not kept by mitmproxy)",
        state="mitmproxy itself has no credentials for the upstream proxy",
        state_sentence=(
            "It was mitmproxy's own CONNECT to the upstream that was refused, so the client "
            "never saw the 407: give mitmproxy the upstream credentials with "
            "--set upstream_auth=USER:PASSWORD."
        ),
    )


@detects(WRONG_AUTH_HEADER)
def wrong_auth_header(ctx: Context) -> Iterator[Hit]:
    # The status first, then the header lookups in the order that settles most requests
    # soonest: a field counts as sent when present and not hidden by the capture.
    status = ctx.status
    headers = ctx.exchange.request.headers
    if (
        status == 407
        and AUTHORIZATION in headers
        and PROXY_AUTHORIZATION not in headers
        and not ctx.is_unknown(AUTHORIZATION)
        and not ctx.is_unknown(PROXY_AUTHORIZATION)
    ):
        sent = ctx.authorization.scheme.lower() if ctx.authorization is not None else ""
        matches = bool(sent) and sent in {c.scheme.lower() for c in ctx.proxy}
        evidence = [
            "407 Proxy Authentication Required",
            "the request carried Authorization but no Proxy-Authorization",
        ]
        if matches:
            evidence.append(
                f"the proxy asks for {sent.capitalize()}, the scheme of the Authorization sent"
            )
        yield hit(
            evidence,
            0.8 if matches else 0.6,
            sent="Authorization",
            wanted="Proxy-Authorization",
            status="407",
            why=(
                "Authorization is read by the origin server only; a proxy ignores it and "
                "wants its own credentials in Proxy-Authorization. If the credentials sent "
                "were meant for the proxy, they went into the wrong header (curl -u instead "
                "of -U is the classic mix-up)."
            ),
        )
    elif (
        status == 401
        and ctx.www
        and PROXY_AUTHORIZATION in headers
        and AUTHORIZATION not in headers
        and not ctx.is_unknown(PROXY_AUTHORIZATION)
        and not ctx.is_unknown(AUTHORIZATION)
    ):
        yield hit(
            [
                "401 with WWW-Authenticate",
                "the request carried Proxy-Authorization but no Authorization",
            ],
            0.65,
            sent="Proxy-Authorization",
            wanted="Authorization",
            status="401",
            why=(
                "The server, not a proxy, refused the request, and servers read only "
                "Authorization; Proxy-Authorization is meant for (and removed by) the "
                "proxy. If the credentials sent were meant for the server, they went into "
                "the wrong header."
            ),
        )


@detects(REFUSED_BY_MITMPROXY)
def refused_by_mitmproxy(ctx: Context) -> Iterator[Hit]:
    if ctx.refused_by.kind != MITMPROXY or ctx.status not in (401, 407):
        return
    response = ctx.response
    certain = response is not None and response.generated_by_proxy is True
    field = PROXY_AUTHORIZATION if ctx.status == 407 else AUTHORIZATION
    yield hit(
        list(ctx.refused_by.evidence),
        0.95 if certain else 0.7,
        status=str(ctx.status),
        field=field,
        evidence_sentence=(
            "mitmproxy recorded that it made this response itself."
            if certain
            else 'The challenge names realm "mitmproxy", which is mitmproxy\'s own.'
        ),
    )
