"""The engine as its callers see it: verdicts, updates of earlier flows, markers, guards."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from diagnose_helpers import T0, NtlmPair, basic, check_metadata, exchange, ids, jwt_bearer
from hypothesis import given, settings
from hypothesis import strategies as st

from authlens.diagnose import Analyzer, AnalyzerConfig
from authlens.diagnose import engine as engine_module
from authlens.diagnose.api import MARKER_ERROR, MARKER_INFO, MARKER_WARNING
from authlens.diagnose.catalogue import MISSING_CHALLENGE
from authlens.diagnose.engine import Engine, is_relevant
from authlens.diagnose.rules import Context, Hit
from authlens.model import Connection
from authlens.report.jsonout import dumps

BASIC = ("WWW-Authenticate", 'Basic realm="intranet"')


@pytest.mark.parametrize(
    ("kwargs", "relevant"),
    [
        ({"status": 401}, True),
        ({"status": 407}, True),
        ({"status": 200}, False),
        ({"status": 200, "headers": [("Authorization", "Bearer x")]}, True),
        ({"status": None, "headers": [("Proxy-Authorization", "Basic eDp5")]}, True),
        (
            {
                "status": 200,
                "response_headers": [("WWW-Authenticate", "Negotiate oYGfMIGcoAMKAQA=")],
            },
            True,
        ),
        ({"status": 403}, False),
        ({"status": 403, "body": b"<h3>HTTP Error 403.7 - Forbidden</h3>"}, True),
        ({"status": 302, "response_headers": [("Location", "/login?next=/x")]}, True),
        ({"status": 302, "response_headers": [("Location", "/home")]}, False),
        ({"status": 500}, False),
    ],
)
def test_is_relevant(kwargs: dict[str, object], relevant: bool) -> None:
    item = exchange(**kwargs)  # type: ignore[arg-type]
    assert is_relevant(item) is relevant
    assert Analyzer.is_relevant(item) is relevant


def test_normal_basic_handshake_ends_as_info_on_the_first_leg() -> None:
    analyzer = Analyzer()
    first = analyzer.observe(
        exchange(id="f1", headers=[("User-Agent", "curl/8.5.0")], response_headers=[BASIC])
    )
    assert [v.exchange_id for v in first] == ["f1"]
    assert ids(first[0]) == ["missing-credentials"]
    assert first[0].marker == MARKER_INFO
    assert "waiting for the client to retry" in first[0].comment
    second = analyzer.observe(
        exchange(
            id="f2", headers=[("Authorization", basic("alice", "s3cret"))], status=200, t=T0 + 1
        )
    )
    # The accepted retry has nothing to say; the first leg is updated, still info only.
    assert [v.exchange_id for v in second] == ["f1"]
    updated = second[0]
    assert updated.marker == MARKER_INFO
    assert updated.comment.startswith("missing-credentials: ")
    assert "which succeeded (200)" in updated.comment
    assert {d["severity"] for d in updated.metadata["diagnoses"]} == {"info"}
    assert analyzer.finish() == []


def test_refused_credentials_comment_names_user_and_refuser() -> None:
    verdicts = Analyzer().observe(
        exchange(
            headers=[("User-Agent", "curl/8.5.0"), ("Authorization", basic("alice", "s3cret"))],
            response_headers=[BASIC, ("Server", "nginx/1.25.3")],
        )
    )
    verdict = verdicts[0]
    assert verdict.comment == (
        "credentials-rejected: Basic credentials for user 'alice' were refused by the "
        "origin server (nginx/1.25.3)"
    )
    assert verdict.marker == MARKER_ERROR
    check_metadata(verdict.metadata)
    assert verdict.metadata["client"]["name"] == "curl/8.5.0"
    assert verdict.metadata["refused_by"] == {
        "kind": "origin",
        "name": "nginx/1.25.3",
        "evidence": [
            "Server: 'nginx/1.25.3'",
            "the response came from upstream, not from mitmproxy",
        ],
    }
    credentials = verdict.metadata["credentials"]
    assert (credentials["field"], credentials["scheme"], credentials["summary"]["user"]) == (
        "Authorization", "Basic", "alice",
    )  # fmt: skip
    text = dumps(verdict.metadata)
    assert "s3cret" not in text and "<redacted:sha256:" in text


def test_no_retry_by_time_then_a_late_answer_withdraws_it() -> None:
    engine = Engine(AnalyzerConfig(no_retry_after=30))
    engine.observe(exchange(id="f1", response_headers=[BASIC], t=T0))
    assert engine.expire(T0 + 5) == []
    due = engine.expire(T0 + 60)
    assert [v.exchange_id for v in due] == ["f1"]
    assert ids(due[0]) == ["no-retry", "missing-credentials"]
    assert due[0].marker == MARKER_ERROR
    assert "within 30 s" in due[0].comment
    late = engine.observe(
        exchange(id="f2", headers=[("Authorization", basic("a", "b"))], status=200, t=T0 + 90)
    )
    assert [v.exchange_id for v in late] == ["f1"]
    assert ids(late[0]) == ["missing-credentials"] and late[0].marker == MARKER_INFO


def test_finish_settles_pending_challenges() -> None:
    engine = Engine()
    engine.observe(exchange(id="f1", response_headers=[BASIC]))
    settled = engine.finish()
    assert [v.exchange_id for v in settled] == ["f1"]
    assert "by the end of the capture" in settled[0].comment
    assert engine.finish() == []


def test_lockout_updates_earlier_refusals_after_the_own_verdict() -> None:
    engine = Engine()
    creds = [("Authorization", basic("alice", "nope"))]
    engine.observe(exchange(id="r1", headers=creds, response_headers=[BASIC]))
    engine.observe(exchange(id="r2", headers=creds, response_headers=[BASIC]))
    third = engine.observe(exchange(id="r3", headers=creds, response_headers=[BASIC]))
    assert [v.exchange_id for v in third] == ["r3", "r1", "r2"]
    for verdict in third:
        assert "lockout-suspected" in ids(verdict)
        assert verdict.comment.splitlines()[0].startswith("credentials-rejected: ")


def test_comment_has_at_most_three_lines_each_starting_with_its_id() -> None:
    verdict = Analyzer().observe(
        exchange(
            "http://h.example/",
            headers=[("Authorization", basic("jörg", "pässwörd", "latin-1"))],
            response_headers=[("WWW-Authenticate", 'Basic realm="r" charset="UTF-8"')],
            body=b"Your account is locked",
        )
    )[0]
    diagnosis_ids = ids(verdict)
    assert len(diagnosis_ids) > 3
    lines = verdict.comment.splitlines()
    assert len(lines) == 3
    assert [line.split(": ", 1)[0] for line in lines] == diagnosis_ids[:3]
    severities = [d["severity"] for d in verdict.metadata["diagnoses"]]
    rank = {"error": 2, "warning": 1, "info": 0}
    assert severities == sorted(severities, key=lambda s: -rank[s])


def test_marker_follows_the_worst_severity() -> None:
    warning = Analyzer().observe(
        exchange("http://h.example/", headers=[("Authorization", basic("a", "b"))], status=200)
    )
    assert warning[0].marker == MARKER_WARNING and ids(warning[0]) == ["cleartext-credentials"]


def test_a_failing_detector_becomes_internal_error_next_to_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(ctx: Context) -> Iterator[Hit]:
        raise RuntimeError("boom with secret s3cret")
        yield  # pragma: no cover

    patched = dict(engine_module.DETECTORS)
    patched[MISSING_CHALLENGE] = broken
    monkeypatch.setattr(engine_module, "DETECTORS", patched)
    verdict = Engine().observe(
        exchange(headers=[("Authorization", basic("alice", "x"))], response_headers=[BASIC])
    )[0]
    assert set(ids(verdict)) == {"credentials-rejected", "internal-error"}
    internal = next(d for d in verdict.metadata["diagnoses"] if d["id"] == "internal-error")
    assert internal["evidence"] == ["RuntimeError in the detector for missing-challenge"]
    assert "s3cret" not in json.dumps(verdict.metadata)


def test_a_failure_outside_the_detectors_is_a_verdict_not_an_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = Engine()

    def explode(item: object) -> object:
        raise ValueError("bad")

    monkeypatch.setattr(engine, "_context", explode)
    verdicts = engine.observe(exchange(id="x1"))
    assert [v.exchange_id for v in verdicts] == ["x1"]
    assert ids(verdicts[0]) == ["internal-error"]
    check_metadata(verdicts[0].metadata)
    assert verdicts[0].comment.startswith("internal-error: ")


def test_a_slot_missing_from_a_hit_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def sloppy(ctx: Context) -> Iterator[Hit]:
        yield Hit(("e",), 0.5, {"status": "401"})  # "header" is missing

    patched = dict(engine_module.DETECTORS)
    patched[MISSING_CHALLENGE] = sloppy
    monkeypatch.setattr(engine_module, "DETECTORS", patched)
    verdict = Engine().observe(exchange(headers=[("Authorization", basic("a", "b"))]))[0]
    assert "internal-error" in ids(verdict)
    assert "missing-challenge" not in ids(verdict)


def test_successful_mutual_negotiate_without_problems_has_no_verdict() -> None:
    verdicts = Analyzer().observe(
        # A SPNEGO NegTokenResp: negState accept-completed (RFC 4178 §4.2.2).
        exchange(status=200, response_headers=[("WWW-Authenticate", "Negotiate oQcwBaADCgEA")])
    )
    assert verdicts == []


def test_channel_binding_confidence_is_lower_for_a_har() -> None:
    def conversation(source: str) -> float:
        pair = NtlmPair(bindings=True)
        conn = Connection("c1" if source == "live" else None, True, peer="192.0.2.1:1")
        engine = Engine()
        engine.observe(
            exchange(
                id="a",
                headers=[("Authorization", "NTLM " + pair.token(1))],
                response_headers=[("WWW-Authenticate", "NTLM " + pair.token(2))],
                client=conn,
                source=source,
            )
        )
        final = engine.observe(
            exchange(
                id="b",
                headers=[("Authorization", "NTLM " + pair.token(3))],
                response_headers=[("WWW-Authenticate", "NTLM")],
                client=conn,
                source=source,
            )
        )[0]
        found = next(d for d in final.metadata["diagnoses"] if d["id"] == "channel-binding-broken")
        assert "--ignore-hosts" in found["fix"]
        return float(found["confidence"])

    assert conversation("live") >= 0.8
    assert conversation("har") < 0.5


def test_token_expired_against_the_date_header() -> None:
    verdict = Analyzer().observe(
        exchange(
            headers=[("Authorization", jwt_bearer(sub="alice", exp=int(T0) - 3600))],
            response_headers=[
                ("WWW-Authenticate", 'Bearer realm="api"'),
                ("Date", "Tue, 14 Nov 2023 22:13:20 GMT"),
            ],
        )
    )[0]
    assert verdict.comment.splitlines()[0] == (
        "token-expired: the JWT expired at 2023-11-14T21:13:20Z, 60 min before the response's "
        "Date (Tue, 14 Nov 2023 22:13:20 GMT)"
    )


def test_stored_contexts_are_bounded() -> None:
    engine = Engine(AnalyzerConfig(max_tracked=20))
    for n in range(500):
        engine.observe(exchange(f"https://h{n}.example/", id=f"f{n}", response_headers=[BASIC]))
    assert len(engine._stored) <= 20
    assert len(engine.finish()) <= 20


def test_settled_exchanges_are_not_kept() -> None:
    engine = Engine()
    engine.observe(exchange(id="f1", headers=[("Authorization", basic("a", "b"))], status=200))
    engine.observe(exchange(id="f2", response_headers=[BASIC]))
    engine.observe(exchange(id="f3", headers=[("Authorization", basic("a", "b"))], status=200))
    assert list(engine._stored) == []


_values = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=120)


@settings(max_examples=150, deadline=None)
@given(
    status=st.sampled_from([200, 301, 302, 401, 403, 407, 423, 429]),
    auth=st.one_of(
        st.none(),
        _values,
        st.builds(lambda v: "Basic " + v, _values),
        st.builds(lambda v: "NTLM " + v, _values),
    ),
    challenge=st.one_of(st.none(), _values, st.builds(lambda v: "Digest " + v, _values)),
    location=st.one_of(st.none(), _values),
    method=st.sampled_from(["GET", "OPTIONS", "CONNECT"]),
)
def test_any_exchange_gives_json_safe_verdicts_and_never_raises(
    status: int, auth: str | None, challenge: str | None, location: str | None, method: str
) -> None:
    headers = [("Authorization", auth)] if auth is not None else []
    response_headers = []
    if challenge is not None:
        response_headers.append(
            ("WWW-Authenticate" if status != 407 else "Proxy-Authenticate", challenge)
        )
    if location is not None:
        response_headers.append(("Location", location))
    analyzer = Analyzer()
    verdicts = analyzer.observe(
        exchange(method=method, headers=headers, status=status, response_headers=response_headers)
    )
    verdicts += analyzer.finish()
    for verdict in verdicts:
        check_metadata(verdict.metadata)
        assert "internal-error" not in ids(verdict), verdict.metadata["diagnoses"]
        dumps(verdict.metadata)


def _evidence(verdict_metadata: dict[str, object], diagnosis_id: str) -> str:
    diagnoses = verdict_metadata["diagnoses"]
    assert isinstance(diagnoses, list)
    return " ".join(next(d for d in diagnoses if d["id"] == diagnosis_id)["evidence"])


def test_known_password_tells_wrong_password_from_wrong_computation() -> None:
    from diagnose_helpers import digest_header

    challenge = 'Digest realm="r", nonce="abc", qop="auth", algorithm=SHA-256'
    config = AnalyzerConfig(known_credentials={"alice": "Corr3ctHorse!"})

    def judge(password: str, override: dict[str, str] | None = None) -> dict[str, object]:
        engine = Engine(config)
        engine.observe(
            exchange(
                "https://h.example/a?b=1",
                id="c",
                response_headers=[("WWW-Authenticate", challenge)],
            )
        )
        value = digest_header(
            "alice", password, challenge, url="https://h.example/a?b=1", override=override
        )
        verdict = engine.observe(
            exchange(
                "https://h.example/a?b=1",
                id="d",
                headers=[("Authorization", value)],
                response_headers=[("WWW-Authenticate", challenge)],
            )
        )[0]
        assert "Corr3ctHorse!" not in json.dumps(verdict.metadata)
        return verdict.metadata

    wrong = judge("wrong")
    assert "does not match the known password of 'alice'" in _evidence(
        wrong, "credentials-rejected"
    )
    tampered = judge("Corr3ctHorse!", {"uri": "/a"})
    assert "the client computed the response over the URI '/a?b=1'" in _evidence(
        tampered, "digest-mismatch"
    )
    fine = judge("Corr3ctHorse!")
    assert "is correct for the known password" in _evidence(fine, "credentials-rejected")


def test_known_password_for_basic() -> None:
    config = AnalyzerConfig(known_credentials={"alice": "right"})
    verdict = Engine(config).observe(
        exchange(headers=[("Authorization", basic("alice", "wrong"))], response_headers=[BASIC])
    )[0]
    assert "is not the known one" in _evidence(verdict.metadata, "credentials-rejected")
    assert ids(verdict) == ["credentials-rejected"]

