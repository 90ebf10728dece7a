"""Detectors for Digest (RFC 7616): stale nonces and credentials that answer the wrong thing."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from authlens.diagnose.catalogue import DIGEST_MISMATCH, DIGEST_STALE_NONCE
from authlens.diagnose.rules import Context, Hit, detects, hit, request_target, summary_text
from authlens.diagnose.rules._verify import CLIENT_ERROR, MATCH, WRONG_PASSWORD, verify
from authlens.findings import Severity
from authlens.handshake import Answer, LegKind
from authlens.schemes._common import redact_query


@detects(DIGEST_STALE_NONCE)
def digest_stale_nonce(ctx: Context) -> Iterator[Hit]:
    for stale in ctx.offered:
        if stale.decoded.get("stale") is True and stale.scheme.lower() == "digest":
            break
    else:
        return
    if not ctx.refused:
        return
    view = ctx.view
    severity: Severity | None = Severity.INFO
    if view.answer is Answer.ANSWERED:
        status = view.answer_status
        good = status is not None and status < 400
        outcome = f"the client retried with the new nonce ({view.answered_by}, status {status})"
        sentence = "It did: " + outcome + ("." if good else ", which was refused again.")
        if not good:
            severity = Severity.WARNING
    elif view.answer is Answer.UNANSWERED:
        outcome = "the client did not retry"
        sentence = (
            "This client did not retry, so the request failed although the password was right."
        )
        severity = Severity.WARNING
    else:
        outcome = "waiting for the client's retry"
        sentence = "authlens is waiting for the retry."
    yield hit(
        [f"{stale.field}: Digest … stale=true"],
        0.95,
        severity,
        outcome=outcome,
        outcome_sentence=sentence,
    )


def _nonce(value: str) -> str:
    return summary_text(value, 24)


def _quoted(uri: str) -> str:
    """A uri or request target for an explanation: secret-named query values fingerprinted
    (``?access_token=``), the rest kept, control characters escaped, cut."""
    return summary_text(redact_query(uri), 80)


def _uri_problem(sent: str, ctx: Context) -> str | None:
    """Why the credentials' ``uri`` does not name this request, or None when it does."""
    target = request_target(ctx.request)
    if sent == target:
        return None
    try:
        parts = urlsplit(sent)
    except ValueError:  # e.g. "http://[::1/x": no URI at all, so certainly not this one
        return f"uri '{_quoted(sent)}' is not the request target '{_quoted(target)}'"
    if parts.scheme and parts.netloc:  # absolute form, as some old clients send it
        relative = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if relative == target:
            return None
        sent_target = relative
    else:
        sent_target = sent
    if sent_target == target.split("?", 1)[0] and "?" in target:
        return f"uri '{_quoted(sent)}' leaves out the query string of the request target '{_quoted(target)}'"
    if unquote(sent_target) == unquote(target):
        return (
            f"uri '{_quoted(sent)}' differs from the request target "
            f"'{_quoted(target)}' only in percent-encoding, which strict servers compare"
        )
    return f"uri '{_quoted(sent)}' is not the request target '{_quoted(target)}'"


@detects(DIGEST_MISMATCH)
def digest_mismatch(ctx: Context) -> Iterator[Hit]:
    credentials = ctx.credentials
    if (
        credentials is None
        or credentials.scheme.lower() != "digest"
        or ctx.view.kind is not LegKind.REFUSED
    ):
        return
    sent = credentials.params
    problems: list[tuple[str, str, float]] = []  # (field, sentence, confidence)
    answered = ctx.view.digest
    against: set[str] = set()
    if answered is not None:
        issued = answered.params
        where = f"the challenge in {answered.exchange_id}"
        for name in ("realm", "opaque"):
            if name in issued and sent.get(name) != issued[name]:
                shown = f"'{summary_text(sent[name], 60)}'" if name in sent else "nothing"
                problems.append(
                    (
                        name,
                        f"{name} {shown} differs from {where}: '{summary_text(issued[name], 60)}'",
                        0.9,
                    )
                )
        algorithm_sent = (sent.get("algorithm") or "MD5").upper()
        algorithm_issued = (issued.get("algorithm") or "MD5").upper()
        if algorithm_sent != algorithm_issued:
            problems.append(
                (
                    "algorithm",
                    f"algorithm {algorithm_sent} differs from {where}: {algorithm_issued}",
                    0.9,
                )
            )
        offered_qops = [q.strip().lower() for q in issued.get("qop", "").split(",") if q.strip()]
        qop = (sent.get("qop") or "").strip().lower()
        if offered_qops and qop not in offered_qops:
            problems.append(
                (
                    "qop",
                    f"qop {qop or 'missing'} is not one the challenge offered ({', '.join(offered_qops)})",
                    0.85,
                )
            )
        if answered.matched_by != "nonce" and "nonce" in sent and "nonce" in issued:
            problems.append(
                (
                    "nonce",
                    f"nonce '{_nonce(sent['nonce'])}' was not issued in this capture; the latest "
                    f"challenge ({answered.exchange_id}) has '{_nonce(issued['nonce'])}'",
                    0.6,
                )
            )
        if problems:
            against.add("challenge")
    uri = sent.get("uri")
    if uri is not None:
        problem = _uri_problem(uri, ctx)
        if problem:
            problems.append(("uri", problem, 0.85))
            against.add("request")
    if not problems:
        return
    confidence = max(c for _, _, c in problems)
    evidence = [sentence for _, sentence, _ in problems]
    checked = verify(ctx, credentials)
    if checked is not None:
        outcome, sentence = checked
        evidence.append(sentence)
        if outcome in (MATCH, CLIENT_ERROR):
            confidence = max(confidence, 0.95)
        elif outcome == WRONG_PASSWORD:
            confidence = min(confidence, 0.6)
    yield hit(
        evidence,
        confidence,
        against=" and the ".join(sorted(against)),
        fields=", ".join(dict.fromkeys(name for name, _, _ in problems)),
        details="; ".join(sentence for _, sentence, _ in problems),
    )
