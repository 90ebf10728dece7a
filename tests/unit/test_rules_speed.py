"""The cheaper forms of the detectors and their helpers say exactly what the plain ones did.

Each shortcut (a fast path, a prefilter, a cache, an inlined property) is checked here
against the straightforward code it replaced, kept in this file as the reference.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any

import pytest
from diagnose_helpers import T0, basic, exchange, ids, jwt_bearer
from hypothesis import given, settings
from hypothesis import strategies as st

from authlens.challenge import PROXY_AUTHENTICATE, WWW_AUTHENTICATE, parse_challenges
from authlens.client import ClientInfo
from authlens.credentials import AUTHORIZATION, PROXY_AUTHORIZATION, decode_credentials
from authlens.diagnose import Analyzer
from authlens.diagnose.api import AnalyzerConfig
from authlens.diagnose.engine import Engine
from authlens.diagnose.rules import (
    Context,
    Hit,
    hit,
    schemes_text,
    space_text,
    summary_text,
)
from authlens.diagnose.rules import bearer as bearer_rules
from authlens.diagnose.rules import connection as connection_rules
from authlens.diagnose.rules import credentials as credential_rules
from authlens.handshake import HandshakeView
from authlens.model import Exchange
from authlens.refusal import RefusedBy

# -- references: the code the shortcuts replaced ------------------------------------------


def reference_summary_text(value: Any, limit: int = 80) -> str:
    text = str(value)
    cut = len(text) > limit
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text[:limit])
    return text + ("…" if cut else "")


REFERENCE_LOCKOUT = re.compile(
    rb"account (?:is |has been )?(?:locked|disabled|suspended)|locked out|"
    rb"too many (?:failed |unsuccessful |invalid )?(?:login |logon |sign-in |signin |password )?"
    rb"(?:attempts|requests|tries)|temporarily (?:locked|blocked)",
    re.IGNORECASE,
)


def reference_lockout_words(body: bytes) -> str | None:
    m = REFERENCE_LOCKOUT.search(body[:8192])
    return m.group(0).decode("latin-1") if m else None


def reference_iso(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{seconds:.0f}"


def reference_date(date: str) -> float | None:
    try:
        parsed = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


# -- helpers --------------------------------------------------------------------------------


def context(
    status: int | None = 401,
    view_field: str | None = None,
    *,
    www: str | None = 'Basic realm="r"',
    proxy: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    response_headers: tuple[tuple[str, str], ...] = (),
) -> Context:
    """A context built directly (no engine), so every combination can be asked for."""
    ex = exchange(headers=headers, status=status, response_headers=response_headers)
    auth, proxy_auth = (
        next((decode_credentials(v, n) for k, v in headers if k == n), None)
        for n in (AUTHORIZATION, PROXY_AUTHORIZATION)
    )
    return Context(
        exchange=ex,
        www=tuple(parse_challenges(www, WWW_AUTHENTICATE)) if www else (),
        proxy=tuple(parse_challenges(proxy, PROXY_AUTHENTICATE)) if proxy else (),
        authorization=auth,
        proxy_authorization=proxy_auth,
        client=ClientInfo("unknown", ""),
        refused_by=RefusedBy("unknown", ""),
        view=HandshakeView(field=view_field),
        config=AnalyzerConfig(),
    )


def evidence(verdict_metadata: dict[str, Any], diagnosis: str) -> list[str]:
    found = next(d for d in verdict_metadata["diagnoses"] if d["id"] == diagnosis)
    return list(found["evidence"])


# -- helpers of the rules package -----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["", "plain", "x" * 80, "x" * 81, "tab\there", "nul\x00", "\x7f" * 100, "é" * 90, 42, ["a"]],
)
@pytest.mark.parametrize("limit", [0, 5, 80])
def test_summary_text_is_the_escaping_reference(value: Any, limit: int) -> None:
    assert summary_text(value, limit) == reference_summary_text(value, limit)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.integers(0, 100))
def test_summary_text_is_the_reference_on_any_text(value: str, limit: int) -> None:
    assert summary_text(value, limit) == reference_summary_text(value, limit)


@pytest.mark.parametrize(
    "confidence", [0.9, 1.0, 1, 0, 0.0, -0.0, -0.5, 1.5, 2, math.nan, math.inf, -math.inf, True]
)
def test_hit_clamps_and_builds_like_the_dataclass(confidence: float) -> None:
    made = hit(["a", "b"], confidence, None, field="x")
    expected = Hit(("a", "b"), max(0.0, min(1.0, confidence)), MappingProxyType({"field": "x"}))
    assert made == expected
    assert type(made.confidence) is type(expected.confidence)
    assert math.copysign(1, made.confidence) == math.copysign(1, expected.confidence)
    assert isinstance(made.slots, MappingProxyType)
    with pytest.raises(AttributeError):
        made.confidence = 0.5  # type: ignore[misc]


@pytest.mark.parametrize("view_field", [None, "", AUTHORIZATION, PROXY_AUTHORIZATION])
@pytest.mark.parametrize("status", [None, 200, 401, 407])
def test_context_properties_agree_with_field(view_field: str | None, status: int | None) -> None:
    ctx = context(status, view_field, proxy='Basic realm="p"')
    field = view_field or (PROXY_AUTHORIZATION if status == 407 else AUTHORIZATION)
    proxy = field == PROXY_AUTHORIZATION
    assert ctx.field == field
    assert ctx.for_proxy is proxy
    assert ctx.status == status
    assert ctx.refused is (status in (401, 407))
    assert ctx.credentials is (ctx.proxy_authorization if proxy else ctx.authorization)
    assert ctx.offered is (ctx.proxy if proxy else ctx.www)
    assert ctx.challenge_field == (PROXY_AUTHENTICATE if proxy else WWW_AUTHENTICATE)


def test_schemes_and_space_in_words() -> None:
    ctx = context(www='Newauth, Basic realm="second", Basic realm="third", Digest')
    assert schemes_text(ctx.www) == "Newauth or Basic or Digest"
    assert schemes_text(ctx.www[:1]) == "Newauth"
    assert schemes_text(()) == "no scheme"
    assert space_text(ctx) == 'Newauth or Basic or Digest realm "second" at https://h.example:443'
    assert space_text(context(www=None)) == "an unnamed scheme at https://h.example:443"


@pytest.mark.parametrize(
    "date",
    [
        "Mon, 01 Jan 2024 00:00:00 GMT",
        "  Mon, 01 Jan 2024 00:00:00 GMT ",
        "Mon, 01 Jan 2024 00:00:00 -0000",  # no zone: the capture's clock stands in
        "Tue, 14 Nov 2023 22:13:20 +0100",
        "junk",
        "",
    ],
)
def test_reference_time_reads_the_date_as_before(date: str) -> None:
    for _ in range(2):  # the second answer comes from the cache
        reference = context(response_headers=(("Date", date),)).reference_time()
        expected = reference_date(date) if date else None
        if expected is None:
            assert reference == (
                T0 + 0.05,
                "the time of the capture (the response has no Date header)",
            )
        else:
            assert reference == (expected, f"the response's Date ({date.strip()})")


@pytest.mark.parametrize(
    "seconds",
    [0.0, 1_700_000_000.0, 1_700_000_000.9999999, -1.5, -62135596800.0, -30662668800.0,
     253402300799.0, 253402300799.9999999, 1e20, -1e20],
)  # fmt: skip
def test_iso_is_strftime(seconds: float) -> None:
    assert bearer_rules._iso(seconds) == reference_iso(seconds)


@pytest.mark.parametrize(
    "version", [None, "", "HTTP/1.1", "http/1.1", "HTTP/0.9", "HTTP/2.0", "HTTP/2", "h2", "HTTP/3"]
)
def test_http2_is_the_plain_test(version: str | None) -> None:
    expected = bool(version) and not (version or "").upper().startswith(("HTTP/1", "HTTP/0"))
    assert connection_rules._http2(version) is expected


# -- the body scans ---------------------------------------------------------------------------

LOCKOUT_BODIES = [
    b"",
    b"<h1>401 Unauthorized</h1>",
    b"Your ACCOUNT Is Locked.",
    b"you are LOCKED OUT",
    b"x" * 2000 + b" Too Many Failed Login Attempts",
    b"x" * 8185 + b"locked out",  # starts inside the scanned prefix, ends after it
    b"x" * 8192 + b"locked out",
    b"\xc0ACCOUNT HAS BEEN suspended\xff",
    b"temporarily Blocked " * 100,
    b"TOO MANY SIGN-IN TRIES",
    b"Account   locked",
]


@pytest.mark.parametrize("body", LOCKOUT_BODIES)
def test_lockout_wording_is_the_case_insensitive_regex(body: bytes) -> None:
    for _ in range(2):  # the second answer comes from the cache
        assert credential_rules._lockout_words(body[:8192]) == reference_lockout_words(body)


WORDS = [b"account ", b"ACCOUNT ", b"is ", b"has been ", b"locked", b"LoCkEd", b" out", b"too ",
         b"many ", b"failed ", b"login ", b"attempts", b"temporarily ", b"blocked", b"x", b"\xff",
         b"\xe9", b" "]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=12), st.integers(0, 1200))
def test_lockout_wording_is_the_reference_on_any_body(words: list[bytes], pad: int) -> None:
    body = b"z" * pad + b"".join(words)
    assert credential_rules._lockout_words(body[:8192]) == reference_lockout_words(body)


def test_lockout_wording_is_quoted_as_written() -> None:
    verdict = Engine().observe(
        exchange(
            headers=[("Authorization", basic("alice", "pw"))],
            response_headers=[("WWW-Authenticate", 'Basic realm="r"')],
            body=b"x" * 3000 + b" Your Account Has Been LOCKED.",
        )
    )[0]
    assert "the response body says 'Account Has Been LOCKED'" in evidence(
        verdict.metadata, "lockout-suspected"
    )


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (401, b"<h1>401 - Unauthorized</h1>", None),
        (401, b"HTTP Error 403.4 - Forbidden", None),  # another status's code
        (401, b"HTTP Error 403.4 then 401.1 - Logon failed", "401.1"),
        (403, b"HTTP Error 401.1 then 403.16", "403.16"),
        (401, b" " * 16380 + b"401.1", None),  # cut off by the scanned prefix
        (401, b" " * 16379 + b"401.1", "401.1"),
        (401, b"w" * 16370 + b"401.1", None),  # no word boundary before the code
    ],
)
def test_iis_substatus_only_for_a_code_of_this_status(
    status: int, body: bytes, code: str | None
) -> None:
    verdicts = Analyzer().observe(
        exchange(
            status=status,
            response_headers=[("WWW-Authenticate", "Negotiate"), ("Server", "Microsoft-IIS/10.0")],
            body=body,
        )
    )
    found = [
        re.sub(r".*sub-status (\S+) .*", r"\1", d["evidence"][0])
        for v in verdicts
        for d in v.metadata["diagnoses"]
        if d["id"] == "iis-substatus"
    ]
    assert found == ([code] if code else [])


# -- token lifetimes --------------------------------------------------------------------------


@pytest.mark.parametrize("exp", [T0 - 3600, T0 - 86400 * 3.5, T0 - 1])
def test_token_expired_names_both_times(exp: float) -> None:
    ex: Exchange = exchange(
        headers=[("Authorization", jwt_bearer(exp=int(exp), iat=int(exp) - 60))],
        response_headers=[("WWW-Authenticate", 'Bearer realm="api"')],
    )
    verdict = Engine().observe(ex)[0]
    assert "token-expired" in ids(verdict)
    lines = evidence(verdict.metadata, "token-expired")
    assert lines[0] == f"JWT exp = {reference_iso(int(exp))}"
    assert lines[1].endswith(f": {reference_iso(T0 + 0.05)}")


# -- verdict texts ------------------------------------------------------------------------


_SLOT_TEXT = st.text(alphabet=st.sampled_from(list("ab {}\n\t §")), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_verdict_texts_are_the_collapsed_rendering(data: st.DataObject) -> None:
    """Texts remembered per template and the values it uses are what rendering the whole
    diagnosis and collapsing it gave, asked once or again with other values elsewhere."""
    from authlens.diagnose import engine
    from authlens.diagnose.catalogue import CATALOGUE

    diagnosis = data.draw(st.sampled_from(CATALOGUE))
    for _ in range(2):
        slots = {name: data.draw(_SLOT_TEXT) for name in sorted(diagnosis.slots())}
        expected = tuple(" ".join(t.split()) for t in diagnosis.render(slots))
        assert engine._rendered(diagnosis, slots) == expected
        assert engine._rendered(diagnosis, MappingProxyType(slots)) == expected


def test_every_catalogue_text_is_remembered_per_template() -> None:
    from authlens.diagnose import engine
    from authlens.diagnose.catalogue import CATALOGUE

    assert set(engine._TEMPLATES) == {d.id for d in CATALOGUE}
    diagnosis = CATALOGUE[0]
    with pytest.raises(KeyError):  # a missing slot fails as format_map did
        engine._rendered(diagnosis, {})


# -- verdict revisions ---------------------------------------------------------------------


def test_revision_tells_a_changed_verdict_from_a_repeat() -> None:
    """Verdict.revision: equal for a repeat of one exchange's verdict, different as soon as
    a re-judgement changes what would be written."""
    analyzer = Analyzer(AnalyzerConfig(no_retry_after=30))
    first = exchange(id="a", response_headers=[("WWW-Authenticate", 'Basic realm="r"')])
    (verdict,) = analyzer.observe(first)
    assert verdict.revision is not None
    engine = analyzer._engine
    again = engine.judge(engine._stored["a"])
    assert again.revision == verdict.revision and again.metadata == verdict.metadata
    retry = exchange(id="b", status=200, headers=[("Authorization", basic("u", "p"))], t=T0 + 1)
    updated = [v for v in analyzer.observe(retry) if v.exchange_id == "a"]
    assert updated and updated[0].revision != verdict.revision
    assert updated[0].metadata["diagnoses"] != verdict.metadata["diagnoses"]


def test_verdicts_share_the_metadata_of_a_decoded_part() -> None:
    """The client, refused-by, challenge and credentials metadata is made once per decoded
    object: two refusals with the same fields share it, and it is what to_json() says."""
    analyzer = Analyzer(AnalyzerConfig())
    fields = [("WWW-Authenticate", 'Basic realm="r"'), ("Server", "s")]
    sent = [("Authorization", basic("u", "p"))]
    (one,) = analyzer.observe(exchange(id="a", headers=sent, response_headers=fields))
    (two,) = analyzer.observe(exchange(id="b", headers=sent, response_headers=fields, t=T0 + 1))
    for key in ("client", "refused_by", "credentials"):
        assert one.metadata[key] is two.metadata[key]
    assert one.metadata["challenges"][0] is two.metadata["challenges"][0]
    context = analyzer._engine._stored.get("b") or analyzer._engine._awaiting["b"]
    assert two.metadata["client"] == context.client.to_json()
    assert two.metadata["challenges"] == [c.to_json() for c in context.challenges]
    assert two.metadata["credentials"]["summary"] == dict(context.authorization.summary)


def test_repeated_refusals_share_their_diagnosis_entries() -> None:
    """A diagnosis entry is made once per distinct content: a repeated refusal's entries
    are the same objects, and a changed one (another user) gets its own."""
    analyzer = Analyzer(AnalyzerConfig())
    fields = [("WWW-Authenticate", 'Basic realm="r"'), ("Server", "s")]
    one_user = [("Authorization", basic("u", "p"))]
    other_user = [("Authorization", basic("v", "p"))]
    (one,) = analyzer.observe(exchange(id="a", headers=one_user, response_headers=fields))
    (two,) = analyzer.observe(exchange(id="b", headers=one_user, response_headers=fields, t=T0 + 1))
    (three,) = analyzer.observe(
        exchange(id="c", headers=other_user, response_headers=fields, t=T0 + 2)
    )
    assert one.metadata["diagnoses"] and one.metadata["diagnoses"][0] is two.metadata["diagnoses"][0]
    assert three.metadata["diagnoses"][0] is not one.metadata["diagnoses"][0]
    assert "'v'" in " ".join(three.metadata["diagnoses"][0]["evidence"])


def test_diagnosis_entries_holding_a_secret_are_never_shared() -> None:
    """Evidence may carry a Secret, which equals its fingerprint as a string but writes its
    raw value in raw mode: such an entry is made anew, never taken for a plain one."""
    from authlens.diagnose import engine
    from authlens.diagnose.catalogue import CATALOGUE
    from authlens.report import jsonout
    from authlens.secret import Secret

    diagnosis = CATALOGUE[0]
    secret = Secret("hunter2")
    plain_key = (diagnosis.id, "error", "e", "f", (str.__str__(secret),), 0.9)
    secret_key = (diagnosis.id, "error", "e", "f", (secret,), 0.9)
    engine._entry(diagnosis, plain_key)  # seen once: made, not remembered
    plain_entry = engine._entry(diagnosis, plain_key)
    assert engine._entry(diagnosis, plain_key) is plain_entry
    engine._entry(diagnosis, secret_key)
    secret_entry = engine._entry(diagnosis, secret_key)
    assert secret_entry is not plain_entry
    assert jsonout.plain(secret_entry, redact=False)["evidence"] == ["hunter2"]
    assert jsonout.plain(plain_entry, redact=False)["evidence"] == [str.__str__(secret)]
    assert engine._entry(diagnosis, secret_key) is not secret_entry


def test_diagnosis_entries_stay_bounded() -> None:
    from authlens.diagnose import engine
    from authlens.diagnose.catalogue import CATALOGUE

    for i in range(engine._MAX_ENTRIES + 50):
        for _ in range(2):
            engine._entry(CATALOGUE[0], (CATALOGUE[0].id, "error", "e", "f", (str(i),), 0.9))
    assert len(engine._ENTRIES) <= engine._MAX_ENTRIES
    assert len(engine._SEEN) <= engine._MAX_SEEN


def test_entries_and_texts_made_for_one_flow_are_not_remembered() -> None:
    """A re-judged first leg names its retry in the evidence and the explanation: that
    entry and text never come back. Remembering them would only keep them alive long
    enough for the garbage collector to promote them; what repeats is remembered."""
    from authlens.diagnose import engine
    from authlens.diagnose.catalogue import CATALOGUE

    engine._ENTRIES.clear()
    engine._RENDERED.clear()
    diagnosis = next(d for d in CATALOGUE if d.id in engine._TEMPLATES and d.slots())
    for i in range(50):
        slots = dict.fromkeys(diagnosis.slots(), f"flow-{i}")
        engine._rendered(diagnosis, slots)
        engine._entry(diagnosis, (diagnosis.id, "error", "e", "f", (f"answered by {i}",), 0.9))
    assert not engine._ENTRIES
    assert not any("flow-" in text for text in engine._RENDERED.values())
    repeated = dict.fromkeys(diagnosis.slots(), "same")
    texts = [engine._rendered(diagnosis, repeated) for _ in range(3)]
    key = (diagnosis.id, "info", "e", "f", ("x",), 0.5)
    entries = [engine._entry(diagnosis, key) for _ in range(3)]
    assert texts[0] == texts[1] == texts[2]
    assert any("same" in text for text in engine._RENDERED.values())
    assert entries[1] is entries[2] and entries[0] == entries[1]


def test_sightings_say_whether_a_key_came_back_and_stay_bounded() -> None:
    from authlens.sightings import Sightings

    seen = Sightings(3)
    assert [seen.seen_before(k) for k in (1, 2, 1, 1)] == [False, False, True, True]
    for k in range(10, 20):
        seen.seen_before(k)
        assert len(seen) <= 3
