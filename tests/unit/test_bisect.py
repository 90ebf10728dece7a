"""Proof by replay (authlens.bisect): ddmin with a cap, building and sending the replay."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compare import CSRF, SESSION, browser_ok, script

from authlens.bisect import (
    HARD_MAX_REQUESTS,
    ReplayRequest,
    apply_differences,
    minimal_set,
    prove,
    replayable,
    send_via_http_client,
)
from authlens.compare import Difference, Patch, compare


def needs_all(required: set[str]) -> Callable[[set[str]], bool]:
    return lambda subset: required <= subset


def counting(
    oracle: Callable[[set[str]], bool],
) -> tuple[Callable[[set[str]], bool], list[frozenset[str]]]:
    seen: list[frozenset[str]] = []

    def test(subset: set[str]) -> bool:
        seen.append(frozenset(subset))
        return oracle(subset)

    return test, seen


ITEMS = [f"d{i}" for i in range(12)]


# --- ddmin ------------------------------------------------------------------------------------


def test_top_ranked_alone_is_two_requests() -> None:
    test, seen = counting(needs_all({"d0"}))
    result = minimal_set(ITEMS, test, 32)
    assert (result.decisive, result.requests_sent, result.outcome) == (["d0"], 2, "proven")
    assert seen == [frozenset(), frozenset({"d0"})]
    assert [step["success"] for step in result.trace] == [False, True]


def test_single_culprit_anywhere_is_logarithmic() -> None:
    for culprit in ITEMS:
        test, seen = counting(needs_all({culprit}))
        result = minimal_set(ITEMS, test, 64)
        assert result.decisive == [culprit] and result.outcome == "proven"
        assert len(seen) == len(set(seen))  # every subset sent once
        assert result.requests_sent <= 2 * math.ceil(math.log2(len(ITEMS))) + 4


def test_two_culprits_together() -> None:
    result = minimal_set(ITEMS, needs_all({"d3", "d9"}), 64)
    assert result.decisive == ["d3", "d9"] and result.outcome == "proven"


def test_either_of_two_suffices() -> None:
    result = minimal_set(ITEMS, lambda s: bool({"d4", "d7"} & s), 64)
    assert len(result.decisive) == 1 and result.decisive[0] in ("d4", "d7")


def test_refusal_that_no_longer_reproduces() -> None:
    result = minimal_set(ITEMS, lambda s: True, 32)
    assert (result.decisive, result.requests_sent, result.outcome) == ([], 1, "not-reproduced")
    # Without the confirmation, the capture's refusal stands for "the empty set fails".
    result = minimal_set(ITEMS, lambda s: True, 32, confirm_refusal=False)
    assert (result.decisive, result.outcome) == (["d0"], "proven")


def test_nothing_replayable_decides() -> None:
    result = minimal_set(ITEMS, lambda s: False, 32)
    assert (result.decisive, result.requests_sent, result.outcome) == ([], 3, "insufficient")
    assert minimal_set(["only"], lambda s: False, 32).outcome == "insufficient"
    assert minimal_set([], lambda s: True, 32).outcome == "nothing-to-test"


def test_the_cap_is_hard() -> None:
    test, seen = counting(needs_all({"d5", "d11"}))
    result = minimal_set(ITEMS, test, 5)
    assert result.capped and result.outcome == "capped"
    assert result.requests_sent == len(seen) == 5
    assert set(result.decisive) >= {"d5", "d11"}  # the smallest set seen to succeed
    early = minimal_set(ITEMS, needs_all({"d5"}), 1)
    assert early.capped and early.decisive == [] and early.requests_sent == 1
    huge, seen = counting(needs_all({"d5", "d11"}))
    minimal_set([f"x{i}" for i in range(400)] + ["d5", "d11"], huge, 10_000)
    assert len(seen) <= HARD_MAX_REQUESTS


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 24), st.data())
def test_ddmin_finds_exactly_the_required_set(n: int, data: st.DataObject) -> None:
    items = [f"d{i}" for i in range(n)]
    required = set(data.draw(st.sets(st.sampled_from(items), min_size=1, max_size=min(3, n))))
    test, seen = counting(needs_all(required))
    result = minimal_set(items, test, HARD_MAX_REQUESTS)
    assert result.outcome == "proven" and set(result.decisive) == required
    assert len(seen) == len(set(seen)) == result.requests_sent
    # 1-minimal: without any one element the request is refused again.
    for d in result.decisive:
        assert not needs_all(required)(set(result.decisive) - {d})


# --- building the replay -------------------------------------------------------------------------


def _base() -> ReplayRequest:
    return ReplayRequest(
        "POST",
        "https://app.example/api?x=1",
        (("Host", "app.example"), ("User-Agent", "curl/8"), ("Cookie", "a=1; b=2"),
         ("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "3")),
        b"q=1",
    )  # fmt: skip


def test_apply_header_cookie_query_form() -> None:
    diffs = [
        Difference(
            "header", "User-Agent", None, None, patch=Patch("header", "User-Agent", "Chrome")
        ),
        Difference(
            "header", "X-CSRF-Token", None, None, patch=Patch("header", "X-CSRF-Token", "t")
        ),
        Difference("cookie", "b", None, None, patch=Patch("cookie", "b", None)),
        Difference("cookie", "sid", None, None, patch=Patch("cookie", "sid", "s")),
        Difference("query", "x", None, None, patch=Patch("query", "x", None)),
        Difference("query", "t", None, None, patch=Patch("query", "t", "9")),
        Difference("body", "csrf", None, None, patch=Patch("form", "csrf", "c v")),
        Difference("protocol", "HTTP version", "HTTP/2.0", "HTTP/1.1"),  # not replayable
    ]
    out = apply_differences(_base(), diffs)
    assert out.headers == (
        ("Host", "app.example"),
        ("User-Agent", "Chrome"),  # replaced in place
        ("Cookie", "a=1; sid=s"),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Length", "3"),  # the sender recomputes it
        ("X-CSRF-Token", "t"),  # new fields are appended
    )
    assert out.url == "https://app.example/api?t=9"
    assert out.body == b"q=1&csrf=c+v"
    assert replayable(diffs) == diffs[:-1]
    removed = apply_differences(out, [Difference("cookie", "a", None, None, patch=Patch("cookie", "a", None)),
                                      Difference("cookie", "sid", None, None, patch=Patch("cookie", "sid", None))])  # fmt: skip
    assert removed.header("Cookie") is None


def test_apply_json_field_and_real_comparison_patches() -> None:
    browser = browser_ok(
        ("Content-Type", "application/json"),
        ("X-CSRF-Token", CSRF),
        ("Cookie", f"sessionid={SESSION}"),
        method="POST",
        request_body=json.dumps({"text": "hi", "csrf_token": CSRF}).encode(),
    )
    refused = script(
        ("Content-Type", "application/json"),
        method="POST",
        status=403,
        request_body=json.dumps({"text": "hi"}).encode(),
    )
    c = compare(browser, refused)
    patched = apply_differences(ReplayRequest.from_exchange(refused), c.differences)
    assert patched.header("X-CSRF-Token") == CSRF
    assert patched.header("Cookie") == f"sessionid={SESSION}"
    assert patched.header("User-Agent") == browser.request.headers.get("User-Agent")
    assert json.loads(patched.body or b"") == {"text": "hi", "csrf_token": CSRF}
    # Differences print their secrets as fingerprints only.
    assert CSRF not in repr(c.differences) and SESSION not in repr(c.differences)


# --- sending ----------------------------------------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[dict[str, Any]] = []  # noqa: RUF012 - a test double's log

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        _Echo.received.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": list(self.headers.items()),
                "body": body,
            }
        )
        ok = "secret" in (self.headers.get("Cookie") or "")
        data = b"ok" if ok else b"login required"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    _Echo.received.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_send_keeps_order_and_case_and_fixes_length(echo: str) -> None:
    request = ReplayRequest(
        "POST",
        echo + "/api?x=1",
        (("Host", "app.example"), ("sec-ch-ua", '"Chromium";v="131"'), ("Cookie", "s=secret"),
         ("Connection", "close"), ("Content-Length", "999")),
        b"a=1",
    )  # fmt: skip
    answer = send_via_http_client(request)
    assert (answer.status, answer.body) == (200, b"ok")
    got = _Echo.received[-1]
    assert got["path"] == "/api?x=1" and got["body"] == b"a=1"
    names = [k for k, _ in got["headers"]]
    assert names == ["Host", "sec-ch-ua", "Cookie", "Content-Length"]
    assert dict(got["headers"])["Content-Length"] == "3"


def test_send_refuses_anything_but_loopback() -> None:
    for url in ("http://example.org/", "http://10.0.0.1/", "https://[2001:db8::1]/"):
        with pytest.raises(ValueError, match="loopback"):
            send_via_http_client(ReplayRequest("GET", url))
    with pytest.raises(ValueError, match="scheme"):
        send_via_http_client(ReplayRequest("GET", "ftp://127.0.0.1/"))


def test_prove_against_a_real_local_server(echo: str) -> None:
    browser = browser_ok(("Cookie", "sessionid=secret-session-0123456789"), url=echo + "/me")
    refused = script(url=echo + "/me", body=b"login required")
    c = compare(browser, refused)
    result = prove(refused, c.differences, max_requests=16)
    assert result.outcome == "proven"
    assert [d.label for d in result.decisive] == ["cookie 'sessionid'"]
    assert result.requests_sent == len(_Echo.received) == 2
