"""Detectors about credentials that were sent: refused, mis-encoded, exposed, repeated."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from authlens.diagnose.catalogue import (
    BASIC_CHARSET_MISMATCH,
    CLEARTEXT_CREDENTIALS,
    CREDENTIALS_REJECTED,
    LOCKOUT_SUSPECTED,
)
from authlens.diagnose.rules import Context, Hit, detects, hit
from authlens.diagnose.rules._verify import CLIENT_ERROR, MATCH, WRONG_PASSWORD, verify
from authlens.findings import Severity
from authlens.fingerprint import is_loopback_host
from authlens.handshake import CONNECTION_SCHEMES, LegKind
from authlens.schemes import basic

_UTF8 = basic.UTF8
_LATIN1 = basic.LATIN1
# Readable secrets in the clear vs. hashes and handshakes that are "only" replayable.
_READABLE = frozenset({"basic", "bearer", "dpop", "token", "apikey"})
# Matched against the lowered body, which is what re.IGNORECASE does for bytes (ASCII
# only) but several times faster; the span then points into the body as it was.
_LOCKOUT_WORDING = re.compile(
    rb"account (?:is |has been )?(?:locked|disabled|suspended)|locked out|"
    rb"too many (?:failed |unsuccessful |invalid )?(?:login |logon |sign-in |signin |password )?"
    rb"(?:attempts|requests|tries)|temporarily (?:locked|blocked)"
)
# Every match starts with one of these; beyond a short body, looking for them first is
# cheaper than the regex scan.
_LOCKOUT_STARTS = (b"account ", b"locked out", b"too many ", b"temporarily ")
_SHORT_BODY = 1024
_BODY_SCAN = 8192


@functools.lru_cache(maxsize=32)
def _lockout_words(head: bytes) -> str | None:
    """The lockout wording in a body prefix, as written. Cached by value (bytes, so never
    stale): a server answers refusal after refusal with the same page."""
    lowered = head.lower()
    if len(lowered) > _SHORT_BODY and not any(w in lowered for w in _LOCKOUT_STARTS):
        return None
    m = _LOCKOUT_WORDING.search(lowered)
    return head[m.start() : m.end()].decode("latin-1") if m else None


def _identity(ctx: Context) -> str:
    if ctx.view.identity:
        return ctx.view.identity
    credentials = ctx.credentials
    if credentials is not None and credentials.scheme.lower() in CONNECTION_SCHEMES:
        return "the Windows account of the client"
    return "this client"


@detects(CREDENTIALS_REJECTED)
def credentials_rejected(ctx: Context) -> Iterator[Hit]:
    credentials = ctx.credentials
    if credentials is None or ctx.view.kind is not LegKind.REFUSED:
        return
    offered = {c.scheme.lower() for c in ctx.offered if c.scheme}
    if offered and credentials.scheme.lower() not in offered:
        return  # scheme-mismatch: the credentials were never checked
    identity = _identity(ctx)
    refuser = ctx.refused_by.describe()
    evidence = [
        f"{credentials.field}: {credentials.scheme} credentials for {identity}",
        f"answered {ctx.status} by {refuser}",
    ]
    confidence = 0.75 if offered else 0.6
    details: list[str] = []
    if not offered:
        details.append(
            "The refusal names no scheme, so authlens cannot tell whether this one is accepted."
        )
    problems = [f for f in credentials.findings if f.severity is Severity.ERROR]
    for finding in problems[:2]:
        evidence.append(finding.message)
        details.append(finding.message)
    if ctx.view.accepted_before:
        details.append(
            f"The same identity was accepted earlier ({ctx.view.accepted_before}): an expired "
            "session or token, a changed password or a per-resource permission is likelier "
            "than a typo."
        )
        evidence.append(f"accepted before in {ctx.view.accepted_before}")
    checked = verify(ctx, credentials)
    if checked is not None:
        outcome, sentence = checked
        evidence.append(sentence)
        details.append(sentence)
        if outcome == WRONG_PASSWORD:
            confidence = 0.95
        elif outcome == MATCH:
            confidence = 0.5
        elif outcome == CLIENT_ERROR:
            confidence = 0.6
    yield hit(
        evidence,
        confidence,
        scheme=credentials.scheme,
        identity=identity,
        refuser=refuser,
        detail=" ".join(details),
    )


@detects(BASIC_CHARSET_MISMATCH)
def basic_charset_mismatch(ctx: Context) -> Iterator[Hit]:
    credentials = ctx.credentials
    if (
        credentials is None
        or credentials.scheme.lower() != "basic"
        or ctx.view.kind is not LegKind.REFUSED
    ):
        return
    encoding = credentials.summary.get("encoding")
    if encoding not in (_UTF8, _LATIN1):
        return
    announced = any(
        c.scheme.lower() == "basic" and c.decoded.get("utf8") is True for c in ctx.offered
    )
    evidence = [f"the decoded Basic credentials hold non-ASCII characters, encoded as {encoding}"]
    if announced:
        evidence.append('the challenge announces charset="UTF-8"')
        if encoding == _UTF8:
            return  # exactly what was asked for
        expected, confidence = 'announced charset="UTF-8" and decodes them as UTF-8', 0.9
    elif encoding == _UTF8:
        evidence.append("the challenge announces no charset")
        expected, confidence = (
            "announced no charset; many servers (IIS, older Tomcat and Java, .NET "
            "HttpListener) decode Basic credentials as ISO-8859-1",
            0.55,
        )
    else:
        evidence.append("the challenge announces no charset")
        expected, confidence = (
            "announced no charset; browsers and current servers use UTF-8",
            0.45,
        )
    if any(f.id == basic.BASIC_MOJIBAKE for f in credentials.findings):
        evidence.append("the text looks UTF-8-encoded twice (mojibake)")
        confidence = max(confidence, 0.8)
    yield hit(evidence, confidence, encoding=encoding.upper(), expected=expected)


def _loopback(host: str) -> bool:
    return is_loopback_host(host)  # cached: a failed ip_address() parse is not cheap


@detects(CLEARTEXT_CREDENTIALS)
def cleartext_credentials(ctx: Context) -> Iterator[Hit]:
    credentials = ctx.authorization
    request = ctx.exchange.request
    if credentials is None or not credentials.scheme or request.scheme != "http":
        return
    if _loopback(request.host) or ctx.exchange.is_connect:
        return
    readable = credentials.scheme.lower() in _READABLE or credentials.scheme.lower() not in (
        "digest", "ntlm", "negotiate", "kerberos", "scram-sha-256", "scram-sha-1",
    )  # fmt: skip
    exposure = (
        "read the password or token and reuse it"
        if readable
        else "record the exchange, replay it or guess the password offline"
    )
    yield hit(
        [
            f"{request.method} http://{request.host}… with {credentials.field}: {credentials.scheme} …"
        ],
        1.0,
        None if readable else Severity.INFO,
        scheme=credentials.scheme,
        host=request.host,
        exposure=exposure,
    )


@detects(LOCKOUT_SUSPECTED)
def lockout_suspected(ctx: Context) -> Iterator[Hit]:
    view = ctx.view
    response = ctx.exchange.response
    if response is None:
        return
    status = response.status_code
    words = None
    if status in (401, 403, 407, 423, 429) and response.body:
        words = _lockout_words(response.body[:_BODY_SCAN])
    carried = status in (423, 429) and (
        ctx.credentials is not None or ctx.authorization is not None
    )
    if not (view.lockout_streak or carried or words is not None):
        return
    identity = _identity(ctx)
    if view.lockout_streak:
        yield hit(
            [f"{view.refusals} refusals in a row for {identity} in this protection space"],
            min(0.85, 0.55 + 0.1 * (view.refusals - 2)),
            signal=f"{view.refusals} refusals in a row",
            identity=identity,
            signal_sentence=(
                f"The credentials of {identity} were refused {view.refusals} times in a row."
            ),
        )
    if carried:
        what = "423 Locked" if status == 423 else "429 Too Many Requests"
        retry = response.headers.get("Retry-After")
        evidence = [f"status {what} to a request with credentials"]
        if retry:
            evidence.append(f"Retry-After: {retry[:40]}")
        yield hit(
            evidence,
            0.85,
            signal=f"status {what}",
            identity=identity,
            signal_sentence=f"The server answered {what} to a request carrying credentials.",
        )
    if words is not None:
        yield hit(
            [f"the response body says '{words}'"],
            0.8,
            signal=f"the server says '{words}'",
            identity=identity,
            signal_sentence=f"The refusal's body says '{words}'.",
        )
