"""Browser versus script: the diagnoses the comparison of a refused request with an
accepted browser request implies (:mod:`authlens.compare`).

The comparison does the judging (which differences are decisive, what they mean); the
engine puts it on :attr:`Context.comparison` and these detectors only turn its implied
diagnoses into hits, so each ID is still detected in exactly one place. Diagnoses the
comparison also implies but that other detectors own (``scheme-mismatch``,
``token-expired``, ``har-sanitized``) are left to them: no ID is detected twice.
"""

from __future__ import annotations

from collections.abc import Iterator

from authlens.compare import ImpliedDiagnosis
from authlens.diagnose.catalogue import (
    CLIENT_FINGERPRINT_REJECTED,
    MISSING_CSRF_TOKEN,
    MISSING_SESSION_COOKIE,
    Diagnosis,
)
from authlens.diagnose.rules import Context, Hit, detects, hit


def _implied(ctx: Context, diagnosis: Diagnosis) -> Iterator[ImpliedDiagnosis]:
    comparison = ctx.comparison
    if comparison is None or not comparison.refused:
        return
    yield from (d for d in comparison.diagnoses if d.diagnosis is diagnosis)


@detects(MISSING_SESSION_COOKIE)
def missing_session_cookie(ctx: Context) -> Iterator[Hit]:
    if ctx.comparison is None:
        return  # most exchanges: settled before setting up _implied
    for d in _implied(ctx, MISSING_SESSION_COOKIE):
        yield hit(d.evidence, d.confidence, cookie=d.slots["cookie"], baseline=d.slots["baseline"])


@detects(MISSING_CSRF_TOKEN)
def missing_csrf_token(ctx: Context) -> Iterator[Hit]:
    if ctx.comparison is None:
        return
    for d in _implied(ctx, MISSING_CSRF_TOKEN):
        yield hit(d.evidence, d.confidence, token=d.slots["token"], baseline=d.slots["baseline"])


@detects(CLIENT_FINGERPRINT_REJECTED)
def client_fingerprint_rejected(ctx: Context) -> Iterator[Hit]:
    if ctx.comparison is None:
        return
    for d in _implied(ctx, CLIENT_FINGERPRINT_REJECTED):
        yield hit(
            d.evidence,
            d.confidence,
            differences=d.slots["differences"],
            baseline=d.slots["baseline"],
        )
