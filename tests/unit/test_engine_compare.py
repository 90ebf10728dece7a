"""The analyzer's browser-versus-script comparison: baselines indexed, refusals compared,
late baselines re-judge earlier refusals, and accept-everyone traffic stays quiet."""

from __future__ import annotations

from diagnose_helpers import CHROME, SCRIPT, SESSION

from authlens.diagnose.api import Analyzer, Verdict
from authlens.diagnose.catalogue import (
    CLIENT_FINGERPRINT_REJECTED,
    MISSING_CSRF_TOKEN,
    MISSING_SESSION_COOKIE,
)
from authlens.diagnose.engine import MAX_AWAITING
from authlens.model import Exchange, Headers, Request, Response

URL = "https://app.example/api/me"


def ex(
    id_: str,
    headers: tuple[tuple[str, str], ...],
    status: int,
    *,
    method: str = "GET",
    url: str = URL,
    t: float = 0.0,
    response_headers: tuple[tuple[str, str], ...] = (),
) -> Exchange:
    return Exchange(
        id=id_,
        request=Request(method, url, headers=Headers.of(headers)),
        response=Response(status, headers=Headers.of(response_headers)),
        timestamp_start=1_700_000_000.0 + t,
        timestamp_end=1_700_000_000.1 + t,
    )


def last(verdicts: list[Verdict], exchange_id: str) -> Verdict | None:
    found = [v for v in verdicts if v.exchange_id == exchange_id]
    return found[-1] if found else None


def test_baseline_then_refused_script_carries_the_comparison() -> None:
    analyzer = Analyzer()
    assert analyzer.observe(ex("b1", (*CHROME, SESSION), 200)) == []
    verdicts = analyzer.observe(ex("s1", SCRIPT, 403, t=1))
    verdict = last(verdicts, "s1")
    assert verdict is not None
    comparison = verdict.metadata["comparison"]
    assert comparison["baseline"] == "b1"
    decisive = [d for d in comparison["differences"] if d["decisive"]]
    assert [(d["kind"], d["name"]) for d in decisive] == [("cookie", "sessionid")]
    assert verdict.metadata["diagnoses"][0]["id"] == MISSING_SESSION_COOKIE.id
    assert verdict.comment.splitlines()[0].startswith(f"{MISSING_SESSION_COOKIE.id}: ")
    # The cookie's value never shows: a fingerprint stands in.
    assert "q7Zr2LmN8xPw4KcT9vBd" not in str(verdict.metadata) + verdict.comment


def test_note_indexes_a_baseline_without_judging_it() -> None:
    analyzer = Analyzer()
    assert analyzer.note(ex("b1", (*CHROME, SESSION), 200)) == []
    verdict = last(analyzer.observe(ex("s1", SCRIPT, 403, t=1)), "s1")
    assert verdict is not None and verdict.metadata["comparison"]["baseline"] == "b1"


def test_a_401_with_a_challenge_keeps_its_own_diagnoses_and_gains_the_comparison() -> None:
    analyzer = Analyzer()
    analyzer.note(ex("b1", (*CHROME, SESSION), 200))
    challenge = (("WWW-Authenticate", 'Bearer realm="api"'),)
    verdict = last(analyzer.observe(ex("s1", SCRIPT, 401, response_headers=challenge)), "s1")
    assert verdict is not None
    found = {d["id"] for d in verdict.metadata["diagnoses"]}
    assert MISSING_SESSION_COOKIE.id in found and "missing-credentials" in found
    assert verdict.metadata["comparison"]["baseline"] == "b1"


def test_csrf_and_client_fingerprint() -> None:
    analyzer = Analyzer()
    csrf = ("X-CSRF-Token", "b1Fq9ZsX0aLr7TnW3kYe")
    analyzer.note(ex("b1", (*CHROME, SESSION, csrf), 201, method="POST"))
    verdict = last(analyzer.observe(ex("s1", (*SCRIPT, SESSION), 403, method="POST")), "s1")
    assert verdict is not None and verdict.metadata["diagnoses"][0]["id"] == MISSING_CSRF_TOKEN.id

    analyzer = Analyzer()
    analyzer.note(ex("b2", (*CHROME, SESSION), 200))
    verdict = last(analyzer.observe(ex("s2", (*SCRIPT, SESSION), 403)), "s2")
    assert verdict is not None
    assert verdict.metadata["diagnoses"][0]["id"] == CLIENT_FINGERPRINT_REJECTED.id


def test_baseline_after_the_refusal_updates_its_verdict() -> None:
    analyzer = Analyzer()
    assert analyzer.observe(ex("s1", SCRIPT, 403)) == []  # nothing to say yet
    updated = analyzer.note(ex("b1", (*CHROME, SESSION), 200, t=1))
    verdict = last(updated, "s1")
    assert verdict is not None
    assert verdict.metadata["comparison"]["baseline"] == "b1"
    assert verdict.comment.startswith(MISSING_SESSION_COOKIE.id)
    # observe() does the same for a baseline it is given directly.
    analyzer = Analyzer()
    analyzer.observe(ex("s1", SCRIPT, 403))
    assert last(analyzer.observe(ex("b1", (*CHROME, SESSION), 200, t=1)), "s1") is not None


def test_accept_everyone_raises_no_alarm() -> None:
    analyzer = Analyzer()
    verdicts: list[Verdict] = []
    for n in range(5):
        verdicts += analyzer.observe(ex(f"b{n}", (*CHROME, SESSION), 200, t=2 * n))
        verdicts += analyzer.observe(ex(f"s{n}", SCRIPT, 200, t=2 * n + 1))
    verdicts += analyzer.finish()
    assert verdicts == []


def test_a_refused_browser_is_not_compared() -> None:
    analyzer = Analyzer()
    analyzer.note(ex("b1", (*CHROME, SESSION), 200))
    assert analyzer.observe(ex("b2", CHROME, 403, t=1)) == []


def test_waiting_refusals_are_bounded() -> None:
    analyzer = Analyzer()
    for n in range(MAX_AWAITING + 50):
        analyzer.observe(ex(f"s{n}", SCRIPT, 403, url=f"https://app.example/x{n}"))
    engine = analyzer._engine
    assert len(engine._awaiting) == MAX_AWAITING


def test_a_refused_script_with_a_very_long_query_is_compared_not_an_internal_error() -> None:
    # parse_qsl's max_num_fields raised once a refusal met a baseline at its endpoint,
    # and the engine then reported internal-error instead of the comparison.
    url = URL + "?" + "&".join(f"k{n}=v" for n in range(1000))  # past every parse_qsl limit
    analyzer = Analyzer()
    analyzer.observe(ex("b1", (*CHROME, SESSION), 200, url=url))
    verdict = last(analyzer.observe(ex("s1", SCRIPT, 403, url=url, t=1)), "s1")
    assert verdict is not None
    assert verdict.metadata["diagnoses"][0]["id"] == MISSING_SESSION_COOKIE.id
    assert verdict.metadata["comparison"]["baseline"] == "b1"
