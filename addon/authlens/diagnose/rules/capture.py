"""Detector about the capture itself: HAR exports with credentials and cookies removed."""

from __future__ import annotations

from collections.abc import Iterator

from authlens.diagnose.catalogue import HAR_SANITIZED
from authlens.diagnose.rules import Context, Hit, detects, hit

_NAMES = {
    "authorization": "Authorization",
    "proxy-authorization": "Proxy-Authorization",
    "cookie": "Cookie",
    "set-cookie": "Set-Cookie",
}


@detects(HAR_SANITIZED)
def har_sanitized(ctx: Context) -> Iterator[Hit]:
    if not ctx.unknown_fields:
        return
    listed = sorted(_NAMES.get(name, name) for name in ctx.unknown_fields)
    declared = {name.lower() for name in ctx.exchange.sanitized}
    evidence = []
    if declared:
        evidence.append("the HAR reader reports blanked values: " + ", ".join(sorted(declared)))
    inferred = ctx.unknown_fields - declared
    if inferred:
        evidence.append("present with empty values: " + ", ".join(sorted(inferred)))
    yield hit(evidence, 1.0 if declared else 0.8, fields=", ".join(listed))
