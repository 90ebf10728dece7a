"""Detector for CORS preflights that demand authentication (which browsers never give)."""

from __future__ import annotations

from collections.abc import Iterator

from authlens.diagnose.catalogue import PREFLIGHT_REQUIRES_AUTH
from authlens.diagnose.rules import Context, Hit, detects, hit, summary_text


@detects(PREFLIGHT_REQUIRES_AUTH)
def preflight_requires_auth(ctx: Context) -> Iterator[Hit]:
    request = ctx.exchange.request
    if request.method.upper() != "OPTIONS" or not ctx.refused:
        return
    method = request.headers.get("Access-Control-Request-Method")
    if not method:
        return
    origin = request.headers.get("Origin") or "another origin"
    wanted = request.headers.get("Access-Control-Request-Headers")
    evidence = [
        f"OPTIONS with Access-Control-Request-Method: {summary_text(method, 20)} (a CORS preflight)",
        f"answered {ctx.status}",
    ]
    if wanted:
        evidence.append(f"Access-Control-Request-Headers: {summary_text(wanted, 80)}")
    yield hit(
        evidence,
        0.97,
        method=summary_text(method, 20),
        origin=summary_text(origin, 80),
        status=str(ctx.status),
    )
