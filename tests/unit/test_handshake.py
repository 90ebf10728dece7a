"""Cross-flow state: answers, timeouts, identities, conversations, Digest and redirects."""

from __future__ import annotations

import pytest
from diagnose_helpers import T0, NtlmPair, basic, digest_header, exchange

from authlens.challenge import parse_challenges
from authlens.credentials import decode_credentials
from authlens.handshake import (
    CONVERSATION_TRANSITIONS,
    IDENTITY_TRANSITIONS,
    LOCKOUT_THRESHOLD,
    MSG_AUTHENTICATE,
    MSG_NEGOTIATE,
    Answer,
    LegKind,
    Observation,
    Tracker,
    client_key,
    identity_of,
)
from authlens.model import Connection, Exchange

BASIC = ("WWW-Authenticate", 'Basic realm="r"')


def feed(tracker: Tracker, item: Exchange) -> Observation:
    response = item.response
    www = (
        parse_challenges(response.headers.get_all("WWW-Authenticate"), "WWW-Authenticate")
        if response and "www-authenticate" in response.headers
        else []
    )
    proxy = (
        parse_challenges(response.headers.get_all("Proxy-Authenticate"), "Proxy-Authenticate")
        if response and "proxy-authenticate" in response.headers
        else []
    )
    auth = item.request.headers.get("Authorization")
    proxy_auth = item.request.headers.get("Proxy-Authorization")
    return tracker.observe(
        item,
        www,
        proxy,
        decode_credentials(auth, "Authorization") if auth is not None else None,
        decode_credentials(proxy_auth, "Proxy-Authorization") if proxy_auth is not None else None,
    )


def test_classification_of_legs() -> None:
    tracker = Tracker()
    assert feed(tracker, exchange(id="a", response_headers=[BASIC])).view.kind is LegKind.CHALLENGE
    creds = [("Authorization", basic("u", "p"))]
    assert (
        feed(tracker, exchange(id="b", headers=creds, response_headers=[BASIC])).view.kind
        is LegKind.REFUSED
    )
    assert feed(tracker, exchange(id="c", headers=creds, status=200)).view.kind is LegKind.ACCEPTED
    assert feed(tracker, exchange(id="d", status=302)).view.kind is LegKind.OTHER
    pair = NtlmPair()
    middle = exchange(
        id="e",
        headers=[("Authorization", "NTLM " + pair.token(1))],
        response_headers=[("WWW-Authenticate", "NTLM " + pair.token(2))],
    )
    assert feed(tracker, middle).view.kind is LegKind.CONTINUE
    stale_challenge = 'Digest realm="r", nonce="n2", qop="auth", stale=true'
    stale = exchange(
        id="f",
        headers=[
            ("Authorization", digest_header("u", "p", 'Digest realm="r", nonce="n1", qop="auth"'))
        ],
        response_headers=[("WWW-Authenticate", stale_challenge)],
    )
    assert feed(tracker, stale).view.kind is LegKind.STALE


def test_a_retry_answers_the_challenge_and_reports_the_earlier_leg() -> None:
    tracker = Tracker()
    first = feed(tracker, exchange(id="f1", response_headers=[BASIC]))
    assert first.view.answer is Answer.PENDING
    second = feed(
        tracker,
        exchange(id="f2", headers=[("Authorization", basic("u", "p"))], status=200, t=T0 + 1),
    )
    assert second.changed == ("f1",)
    view = tracker.view("f1")
    assert view is not None
    assert (view.answer, view.answered_by, view.answer_status, view.answer_kind) == (
        Answer.ANSWERED, "f2", 200, LegKind.ACCEPTED,
    )  # fmt: skip


def test_answers_are_per_client_and_per_origin() -> None:
    tracker = Tracker()
    feed(tracker, exchange(id="f1", response_headers=[BASIC]))
    other_client = Connection("c9", True, peer="198.51.100.7:4000")
    feed(
        tracker,
        exchange(
            id="f2", headers=[("Authorization", basic("u", "p"))], status=200, client=other_client
        ),
    )
    feed(
        tracker,
        exchange(
            "https://other.example/",
            id="f3",
            headers=[("Authorization", basic("u", "p"))],
            status=200,
        ),
    )
    assert tracker.view("f1").answer is Answer.PENDING  # type: ignore[union-attr]
    assert tracker.finish() == ["f1"]
    view = tracker.view("f1")
    assert view is not None and view.answer is Answer.UNANSWERED
    assert view.unanswered_reason == "by the end of the capture"


def test_timeout_by_expire_and_by_a_later_exchange_and_a_late_answer_flips_back() -> None:
    tracker = Tracker(no_retry_after=30)
    feed(tracker, exchange(id="f1", response_headers=[BASIC], t=T0))
    assert tracker.expire(T0 + 10) == []
    assert tracker.expire(T0 + 31) == ["f1"]
    assert tracker.view("f1").unanswered_reason == "within 30 s"  # type: ignore[union-attr]
    feed(tracker, exchange(id="g1", response_headers=[BASIC], t=T0 + 40))
    later = feed(
        tracker,
        exchange("https://x.example/", id="x", status=401, response_headers=[BASIC], t=T0 + 75),
    )
    assert later.changed == ("g1",)
    late = feed(
        tracker,
        exchange(id="f2", headers=[("Authorization", basic("u", "p"))], status=200, t=T0 + 80),
    )
    assert set(late.changed) == {"f1", "g1"}
    assert tracker.view("f1").answer is Answer.ANSWERED  # type: ignore[union-attr]


def test_identity_streak_marks_earlier_refusals_and_success_resets() -> None:
    tracker = Tracker()
    creds = [("Authorization", basic("alice", "wrong"))]
    changed: list[tuple[str, ...]] = []
    for n in range(1, LOCKOUT_THRESHOLD + 1):
        changed.append(
            feed(tracker, exchange(id=f"r{n}", headers=creds, response_headers=[BASIC])).changed
        )
    assert changed[-1] == ("r1", "r2")
    assert all(tracker.view(f"r{n}").lockout_streak for n in (1, 2, 3))  # type: ignore[union-attr]
    assert tracker.view("r3").refusals == 3  # type: ignore[union-attr]
    feed(
        tracker, exchange(id="ok", headers=[("Authorization", basic("alice", "right"))], status=200)
    )
    again = feed(tracker, exchange(id="r4", headers=creds, response_headers=[BASIC]))
    assert (again.view.refusals, again.view.lockout_streak, again.view.accepted_before) == (
        1,
        False,
        "ok",
    )


def test_identity_labels_are_redacted() -> None:
    assert identity_of(decode_credentials(basic("alice", "pw"))) == "user 'alice'"
    token = identity_of(decode_credentials("Bearer abcdefghijklmnop0123"))
    assert token is not None and token.startswith("token <redacted:sha256:")
    assert "abcdefghijklmnop0123" not in token
    pair = NtlmPair()
    assert identity_of(decode_credentials("NTLM " + pair.token(3))) == "user 'CORP\\alice'"
    assert identity_of(decode_credentials("NTLM " + pair.token(1))) is None


def test_ntlm_conversation_records_connections_and_server_challenge() -> None:
    tracker = Tracker()
    pair = NtlmPair()
    feed(tracker, exchange(id="n1", response_headers=[("WWW-Authenticate", "NTLM")]))
    feed(
        tracker,
        exchange(
            id="n2",
            headers=[("Authorization", "NTLM " + pair.token(1))],
            response_headers=[
                ("WWW-Authenticate", "NTLM " + pair.token(2)),
                ("Connection", "close"),
            ],
            client=Connection("c1", True, peer="192.0.2.10:1"),
        ),
    )
    last = feed(
        tracker,
        exchange(
            id="n3",
            headers=[("Authorization", "NTLM " + pair.token(3))],
            response_headers=[("WWW-Authenticate", "NTLM")],
            client=Connection("c2", True, peer="192.0.2.10:2"),
            http_version="HTTP/1.1",
        ),
    )
    legs = last.view.conversation
    assert [leg.message for leg in legs] == [MSG_NEGOTIATE, MSG_AUTHENTICATE]
    assert [leg.client_conn for leg in legs] == ["c1", "c2"]
    assert legs[0].server_challenge == pair.type2[24:32].hex()
    assert legs[0].connection_close


def test_digest_credentials_are_matched_to_the_challenge_they_answer() -> None:
    tracker = Tracker()
    old = 'Digest realm="r", nonce="old", qop="auth"'
    new = 'Digest realm="r", nonce="new", qop="auth"'
    feed(tracker, exchange(id="d1", response_headers=[("WWW-Authenticate", old)]))
    feed(tracker, exchange(id="d2", response_headers=[("WWW-Authenticate", new)]))
    by_nonce = feed(
        tracker, exchange(id="d3", headers=[("Authorization", digest_header("u", "p", old))])
    )
    assert by_nonce.view.digest is not None
    assert (by_nonce.view.digest.exchange_id, by_nonce.view.digest.matched_by) == ("d1", "nonce")
    unknown = 'Digest realm="r", nonce="never-issued", qop="auth"'
    by_realm = feed(
        tracker, exchange(id="d4", headers=[("Authorization", digest_header("u", "p", unknown))])
    )
    assert by_realm.view.digest is not None
    assert by_realm.view.digest.matched_by == "realm"
    assert by_realm.view.digest.params["nonce"] == "new"


def test_redirect_chain_is_followed_across_hops() -> None:
    tracker = Tracker()
    feed(
        tracker,
        exchange(
            "https://a.example/x",
            id="r1",
            headers=[("Authorization", basic("u", "p"))],
            status=307,
            response_headers=[("Location", "https://b.example/x")],
        ),
    )
    tracker.redirect_hop(
        exchange("https://b.example/x", id="r2", status=302, response_headers=[("Location", "/y")])
    )
    end = feed(tracker, exchange("https://b.example/y", id="r3", response_headers=[BASIC]))
    ref = end.view.redirect
    assert ref is not None
    assert (ref.from_exchange, ref.from_origin, ref.to_origin) == (
        "r1", "https://a.example:443", "https://b.example:443",
    )  # fmt: skip


def test_same_origin_redirects_are_not_tracked() -> None:
    tracker = Tracker()
    feed(
        tracker,
        exchange(
            id="r1",
            headers=[("Authorization", basic("u", "p"))],
            status=302,
            response_headers=[("Location", "/next")],
        ),
    )
    assert (
        feed(
            tracker, exchange("https://h.example/next", id="r2", response_headers=[BASIC])
        ).view.redirect
        is None
    )


def test_state_is_bounded_by_max_tracked() -> None:
    tracker = Tracker(max_tracked=50)
    for n in range(2000):
        feed(
            tracker,
            exchange(
                f"https://h{n}.example/",
                id=f"x{n}",
                headers=[("Authorization", basic(f"u{n}", "p"))],
                response_headers=[BASIC],
            ),
        )
        feed(
            tracker,
            exchange(
                f"https://h{n}.example/",
                id=f"y{n}",
                response_headers=[("WWW-Authenticate", f'Digest realm="r", nonce="{n}"')],
            ),
        )
    assert len(tracker) <= 9 * 50
    assert tracker.view("x0") is None
    assert tracker.view("y1999") is not None


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        ("192.0.2.1:5000", "192.0.2.1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        (None, ""),
        ("host", "host"),
    ],
)
def test_client_key(peer: str | None, key: str) -> None:
    assert client_key(exchange(client=Connection("c", peer=peer))) == key


def test_transition_tables_are_total_over_what_they_name() -> None:
    # Every (state, refusal or acceptance) pair of the identity machine is defined.
    states = {state for state, _ in IDENTITY_TRANSITIONS}
    for state in states:
        for kind in (LegKind.REFUSED, LegKind.ACCEPTED):
            assert (state, kind) in IDENTITY_TRANSITIONS
    states = {state for state, _ in CONVERSATION_TRANSITIONS}
    for state in states:
        assert (state, MSG_NEGOTIATE) in CONVERSATION_TRANSITIONS
