"""Pairing refused automated requests with accepted browser requests (authlens.pairing)."""

from __future__ import annotations

import pytest
from diagnose_helpers import T0, exchange
from test_compare import browser_ok, chrome_headers, script

from authlens.model import Exchange
from authlens.pairing import (
    PairingIndex,
    endpoint,
    is_accepted,
    is_baseline,
    normalise_path,
    normalise_segment,
    origin_key,
    pair,
    query_keys,
)

API = "https://app.example/api/orders/123"


@pytest.mark.parametrize(
    ("segment", "expected"),
    [("123", "{int}"), ("0042", "{int}"), ("v2", "v2"), ("2024", "{int}"),
     ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "{uuid}"),
     ("5f2b9c1e8a7d4e3f", "{hex}"), ("deadbeefcafe", "deadbeefcafe"),
     ("dGhpcyBpcyBhIHRva2VuMTIz", "{token}"), ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0", "{token}"),
     ("alice@example.org", "{email}"), ("my-first-post-2024", "my-first-post-2024"),
     ("profile", "profile"), ("123.json", "{int}.json"), ("report.pdf", "report.pdf"),
     ("", "")],
)  # fmt: skip
def test_normalise_segment(segment: str, expected: str) -> None:
    assert normalise_segment(segment) == expected


def test_normalise_path() -> None:
    assert (
        normalise_path("/api/orders/123/items/5f2b9c1e8a7d4e3f") == "/api/orders/{int}/items/{hex}"
    )
    assert normalise_path("/shop;jsessionid=ABC123DEF456/cart") == "/shop/cart"
    assert normalise_path("/") == "/"
    long = "/" + "/".join(str(i) for i in range(100))
    assert normalise_path(long).count("{int}") == 63  # 64 segments, the first one empty


def test_origin_and_query_keys() -> None:
    assert origin_key("https://App.Example/x") == "https://app.example:443"
    assert origin_key("http://localhost:8080/") == origin_key("http://127.0.0.1:8080/")
    assert origin_key("http://[::1]:8080/") == "http://loopback:8080"
    assert origin_key("http://h:99999/") == "http://h:99999/"  # unparseable port: kept as is
    assert query_keys("https://h/p?b=1&a=&a=2") == frozenset({"a", "b"})


def test_endpoint() -> None:
    e = endpoint(script(url=API + "?expand=items"))
    assert (e.method, e.origin, e.path) == ("GET", "https://app.example:443", "/api/orders/{int}")
    assert e.query_keys == frozenset({"expand"})
    assert str(e) == "GET https://app.example:443/api/orders/{int}?expand"


def test_accepted_and_baseline() -> None:
    assert is_accepted(browser_ok())
    assert not is_accepted(script())
    redirect = exchange(
        API,
        status=302,
        response_headers=[("Location", "/login?next=/api")],
        headers=chrome_headers(),
    )
    assert not is_accepted(redirect)  # a soft 401
    moved = exchange(API, status=301, response_headers=[("Location", "/api/v2/orders/123")])
    assert is_accepted(moved)
    assert not is_baseline(script(status=200))  # accepted, but not a browser


def test_pair_prefers_exact_path_then_query_keys_then_time() -> None:
    refused = script(url=API + "?expand=items", t=T0 + 100)
    exact_far = browser_ok(url=API + "?expand=items", id="exact-far", t=T0)
    exact_near_keys_differ = browser_ok(url=API + "?page=1", id="exact-other-keys", t=T0 + 99)
    other_id = browser_ok(
        url="https://app.example/api/orders/456?expand=items", id="normalised", t=T0 + 99
    )
    exact_near = browser_ok(url=API + "?expand=items", id="exact-near", t=T0 + 90)
    candidates = [other_id, exact_far, exact_near_keys_differ, exact_near]
    assert [x.id for x in pair(refused, candidates)] == [
        "exact-near",
        "exact-far",
        "exact-other-keys",
        "normalised",
    ]
    assert [x.id for x in pair(refused, candidates, limit=1)] == ["exact-near"]


def test_pair_filters() -> None:
    refused = script(url=API)
    spoofed = exchange(
        API, id="spoof", status=200, headers=[("User-Agent", chrome_headers()[2][1])]
    )
    candidates: list[Exchange] = [
        refused,
        script(url=API, status=200, id="script-ok"),
        exchange(API, id="browser-refused", headers=chrome_headers(), status=401),
        browser_ok(url="https://other.example/api/orders/123", id="other-origin"),
        browser_ok(url="https://app.example/api/users/123", id="other-path"),
        browser_ok(url=API, method="POST", id="other-method"),
        spoofed,
        browser_ok(url=API, method="HEAD", id="head"),
    ]
    assert [x.id for x in pair(refused, candidates)] == ["head"]  # GET and HEAD are one


def test_pair_across_loopback_aliases() -> None:
    refused = script(url="http://127.0.0.1:8000/api/data")
    browser = browser_ok(url="http://localhost:8000/api/data")
    assert pair(refused, [browser]) == [browser]


def test_index_is_bounded() -> None:
    index = PairingIndex(max_endpoints=3, per_endpoint=2)
    for i in range(10):
        index.add(browser_ok(url=f"https://app.example/page{i}", id=f"p{i}"))
    assert len(index) == 3
    for i in range(5):
        index.add(browser_ok(url="https://app.example/page9", id=f"again{i}"))
    assert len(index) == 1 + 1 + 2  # page7, page8, and page9 capped at two
    found = index.pair(script(url="https://app.example/page9"))
    assert [x.id for x in found] == ["again4", "again3"]  # newest first, two kept
    assert index.pair(script(url="https://app.example/page0")) == []  # evicted
    assert not index.add(script(status=200))


def test_index_pairs_late_browsers_with_waiting_refusals() -> None:
    index = PairingIndex()
    refused = script(url=API, t=T0)
    assert index.observe(refused) == []  # no baseline yet: it waits
    browser = browser_ok(url="https://app.example/api/orders/77", t=T0 + 5)
    pairs = index.observe(browser)
    assert [(p.refused.id, p.baseline.id) for p in pairs] == [(refused.id, browser.id)]
    # A refusal arriving after the browser pairs at once.
    later = script(url=API, id="a2", t=T0 + 10)
    assert [(p.refused.id, p.baseline.id) for p in index.observe(later)] == [("a2", browser.id)]
    # Accepted scripts and refused browsers are neither baselines nor waiting refusals.
    assert index.observe(script(status=200, id="ok")) == []
    assert index.observe(exchange(API, id="br", headers=chrome_headers(), status=401)) == []


def test_bounded_qsl_reads_the_first_fields_and_never_raises() -> None:
    from urllib.parse import parse_qsl

    from authlens.pairing import bounded_qsl

    text = "&".join(f"k{n}=v{n}" for n in range(5000))
    assert bounded_qsl(text, 256) == parse_qsl(text, keep_blank_values=True)[:256]
    assert bounded_qsl("a=1&b=&c", 10) == [("a", "1"), ("b", ""), ("c", "")]
    assert bounded_qsl("", 10) == []
