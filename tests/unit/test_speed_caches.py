"""The per-flow caches (client, fingerprint, refusal, pairing, handshake) change no answer.

Each cache is keyed on exactly what its function reads. The tests here take pairs of
inputs that differ in one thing the function reads, and check that the second answer,
asked right after the first (in both orders), is the one computed from scratch: a key
that missed that input would hand back the first answer instead.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from diagnose_helpers import T0, basic, exchange

from authlens import client, fingerprint, handshake, pairing, refusal
from authlens.client import classify
from authlens.credentials import decode_credentials
from authlens.fingerprint import profile_client, profile_request
from authlens.handshake import Answer, Tracker
from authlens.model import Connection, Exchange, Headers, Request
from authlens.pairing import PairingIndex, endpoint, origin_key
from authlens.refusal import CDN_WAF, MITMPROXY, ORIGIN, identify

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
HINTS = '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'
EDGE_HINTS = '"Microsoft Edge";v="131", "Chromium";v="131", "Not_A Brand";v="24"'
CHROME_FULL = [
    ("Host", "h.example"),
    ("sec-ch-ua", HINTS),
    ("User-Agent", CHROME),
    ("Accept", "*/*"),
    ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-Mode", "cors"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-US,en;q=0.9"),
]
JA4 = "t13d1516h2_8daaf6152771_e5627efa2ab1"


def request(*fields: tuple[str, str], url: str = "https://h.example/") -> Request:
    return Request("GET", url, headers=Headers.of(fields))


def replaced(fields: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    return [(k, value if k == name else v) for k, v in fields]


def check_pair[T, R](
    a: T, b: T, cached: Callable[[T], R], fresh: Callable[[T], R], clear: Callable[[], None]
) -> None:
    """``a`` and ``b`` differ in one input: their answers differ, and the cache gives each
    its own answer whichever is asked first."""
    fresh_a, fresh_b = fresh(a), fresh(b)
    assert fresh_a != fresh_b, "the pair must differ in something the function reads"
    for first, second, expected in ((a, b, fresh_b), (b, a, fresh_a)):
        clear()
        cached(first)
        assert cached(second) == expected


# -- client.classify ---------------------------------------------------------------------


def fresh_classify(r: Request) -> client.ClientInfo:
    client._classify.cache_clear()
    return classify(r)


CLASSIFY_PAIRS = {
    "user-agent": (request(("User-Agent", "curl/8.5.0")), request(("User-Agent", "Wget/1.21"))),
    "sec-ch-ua": (
        request(("User-Agent", "MyApp/1"), ("sec-ch-ua", HINTS)),
        request(("User-Agent", "MyApp/1"), ("sec-ch-ua", EDGE_HINTS)),
    ),
    "header names": (
        request(("User-Agent", CHROME), ("Sec-Fetch-Mode", "cors")),
        request(("User-Agent", CHROME), ("X-Fetch-Mode", "cors")),
    ),
    "accept": (
        request(("User-Agent", CHROME), ("Accept", "text/html,application/xhtml+xml,*/*")),
        request(("User-Agent", CHROME), ("Accept", "*/*")),
    ),
    "scheme": (
        request(("User-Agent", CHROME), url="https://h.example/"),
        request(("User-Agent", CHROME), url="http://h.example/"),
    ),
}


@pytest.mark.parametrize("pair", CLASSIFY_PAIRS.values(), ids=list(CLASSIFY_PAIRS))
def test_classify_cache_key_has_every_input(pair: tuple[Request, Request]) -> None:
    check_pair(*pair, classify, fresh_classify, client._classify.cache_clear)


def test_classify_cache_ignores_what_it_does_not_read() -> None:
    a = request(("User-Agent", "curl/8.5.0"), ("Cookie", "a=1"), url="https://h.example/a")
    b = request(("User-Agent", "curl/8.5.0"), ("Cookie", "b=2"), url="https://h.example/b")
    assert classify(a) is classify(b)
    assert client._classify.cache_info().maxsize == 256


def test_classify_raises_on_an_unparseable_url_only_where_it_did() -> None:
    # The scheme is read only for a browser User-Agent without browser headers.
    for _ in range(2):  # computed, then from the cache
        with pytest.raises(ValueError):
            classify(request(("User-Agent", CHROME), url="http://[::1/"))
        assert classify(request(("User-Agent", "curl/8.5.0"), url="http://[::1/")).kind == (
            client.AUTOMATED
        )


# -- fingerprint.profile_request ----------------------------------------------------------


def fresh_profile(item: tuple[Request, str | None]) -> fingerprint.ClientProfile:
    r, tls = item
    return profile_client(r.headers, tls, url=r.url)  # the uncached path


def cached_profile(item: tuple[Request, str | None]) -> fingerprint.ClientProfile:
    fingerprint._last_profiled = None  # the one-entry memo is not under test here
    return profile_request(*item)


def clear_profiles() -> None:
    fingerprint._profile_cached.cache_clear()
    fingerprint._last_profiled = None


REQUESTS_SHAPE = [
    ("Host", "h.example"),
    ("User-Agent", "MyTool/1.0"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Accept", "*/*"),
    ("Connection", "keep-alive"),
]
PROFILE_PAIRS = {
    "header order": (REQUESTS_SHAPE, [REQUESTS_SHAPE[i] for i in (0, 2, 1, 3, 4)]),
    "header names": (
        [*REQUESTS_SHAPE, ("Postman-Token", "x")],
        [*REQUESTS_SHAPE, ("X-Token", "x")],
    ),
    "user-agent": (CHROME_FULL, replaced(CHROME_FULL, "User-Agent", "curl/8.5.0")),
    "first user-agent": (
        [("User-Agent", "curl/8.5.0"), ("User-Agent", CHROME)],
        [("User-Agent", CHROME), ("User-Agent", "curl/8.5.0")],
    ),
    "sec-ch-ua": (
        [("User-Agent", "MyApp/1"), ("sec-ch-ua", HINTS)],
        [("User-Agent", "MyApp/1"), ("sec-ch-ua", EDGE_HINTS)],
    ),
    "accept-language": (CHROME_FULL, replaced(CHROME_FULL, "Accept-Language", "  ")),
    "accept-encoding": (CHROME_FULL, replaced(CHROME_FULL, "Accept-Encoding", "gzip, deflate")),
}


@pytest.mark.parametrize("pair", PROFILE_PAIRS.values(), ids=list(PROFILE_PAIRS))
def test_profile_cache_key_has_every_header_it_reads(
    pair: tuple[list[tuple[str, str]], list[tuple[str, str]]],
) -> None:
    a, b = ((request(*fields), None) for fields in pair)
    check_pair(a, b, cached_profile, fresh_profile, clear_profiles)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://h.example/", "http://h.example/"),
        ("http://localhost:8080/", "http://h.example/"),
        ("http://[::1]/", "http://[::2]/"),
        ("", "https://h.example/"),
    ],
)
def test_profile_cache_key_has_the_secure_context(a: str, b: str) -> None:
    headers = [("User-Agent", CHROME), ("Accept-Language", "en"), ("Accept", "*/*")]
    check_pair(
        (request(*headers, url=a), None),
        (request(*headers, url=b), None),
        cached_profile,
        fresh_profile,
        clear_profiles,
    )


def test_profile_cache_key_has_the_tls_fingerprint() -> None:
    no_alpn = JA4.replace("h2_", "00_")  # a ClientHello no browser sends
    r = request(*CHROME_FULL)
    check_pair((r, JA4), (r, no_alpn), cached_profile, fresh_profile, clear_profiles)


@pytest.mark.parametrize(
    "url",
    ["", "https://h/", "HTTPS://H/", "http://h/", "http://LocalHost:81/", "http://[::1]:8/",
     "http://127.0.0.1/", "http://[::1/", "http://h:notaport/", "ftp://x/", "nonsense"],
)  # fmt: skip
def test_secure_context_from_the_request_parts(url: str) -> None:
    assert fingerprint._request_secure(Request("GET", url)) == fingerprint._secure_context(url)


def test_profile_cache_ignores_what_it_does_not_read() -> None:
    a = request(*CHROME_FULL, ("Cookie", "a=1"), url="https://h.example/a?x=1")
    b = request(*CHROME_FULL, ("Cookie", "b=2"), url="https://h.example/b")
    assert profile_request(a) is profile_request(b)
    assert fingerprint._profile_cached.cache_info().maxsize == 256


# -- refusal.identify ---------------------------------------------------------------------


def fresh_identify(x: Exchange) -> refusal.RefusedBy:
    refusal._IDENTIFIED.clear()
    return identify(x)


WWW = ("WWW-Authenticate", 'Basic realm="app"')
IDENTIFY_PAIRS = {
    "status": (exchange(status=401), exchange(status=200)),
    "generated by proxy": (exchange(generated_by_proxy=False), exchange(generated_by_proxy=True)),
    "upstream proxy": (exchange(), exchange(upstream_proxy="proxy.corp:3128")),
    "mode": (exchange(status=407, mode="regular"), exchange(status=407, mode="reverse")),
    "server": (
        exchange(response_headers=[("Server", "nginx")]),
        exchange(response_headers=[("Server", "Microsoft-IIS/10.0")]),
    ),
    "x-powered-by": (
        exchange(response_headers=[("X-Powered-By", "PHP/8")]),
        exchange(response_headers=[("X-Powered-By", "Express")]),
    ),
    "x-aspnet-version": (exchange(response_headers=[("X-AspNet-Version", "4.0")]), exchange()),
    "edge header": (
        exchange(response_headers=[WWW, ("X-Vercel-Id", "a")]),
        exchange(response_headers=[WWW]),
    ),
    "via on a 407": (
        exchange(status=407, response_headers=[("Via", "1.1 squid")]),
        exchange(status=407, response_headers=[("Via", "1.1 gateway")]),
    ),
    "proxy realm": (
        exchange(status=407, response_headers=[("Proxy-Authenticate", 'Basic realm="corp"')]),
        exchange(status=407, response_headers=[("Proxy-Authenticate", 'Basic realm="other"')]),
    ),
    "realm of a har 401": (
        exchange(response_headers=[("WWW-Authenticate", 'Basic realm="mitmproxy"')],
                 generated_by_proxy=None, source="har"),
        exchange(response_headers=[("WWW-Authenticate", 'Basic realm="app"')],
                 generated_by_proxy=None, source="har"),
    ),
    "body": (
        exchange(response_headers=[("Server", "cloudflare"), ("CF-RAY", "1"), WWW],
                 body=b"<title>Attention Required! | Cloudflare</title>"),
        exchange(response_headers=[("Server", "cloudflare"), ("CF-RAY", "1"), WWW], body=b"no"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("pair", IDENTIFY_PAIRS.values(), ids=list(IDENTIFY_PAIRS))
def test_identify_cache_key_has_every_input(pair: tuple[Exchange, Exchange]) -> None:
    check_pair(*pair, identify, fresh_identify, refusal._IDENTIFIED.clear)


def test_identify_caches_only_answers_that_did_not_need_the_body() -> None:
    refusal._IDENTIFIED.clear()
    edge = exchange(response_headers=[("Server", "cloudflare"), ("CF-RAY", "1"), WWW])
    assert identify(edge).kind == ORIGIN  # no block page: the origin's challenge passed on
    assert not refusal._IDENTIFIED
    blocked = exchange(
        response_headers=[("Server", "cloudflare"), ("CF-RAY", "1"), WWW],
        body=b"cf-error-details",
    )
    assert identify(blocked).kind == CDN_WAF
    har = exchange(
        response_headers=[("WWW-Authenticate", 'Basic realm="mitmproxy"')],
        generated_by_proxy=None,
    )
    assert identify(har).kind == MITMPROXY
    assert not refusal._IDENTIFIED
    origin = exchange(response_headers=[("Server", "nginx"), ("Date", "x")])
    assert identify(origin) is identify(exchange(response_headers=[("Server", "nginx")]))


def test_identify_cache_is_bounded() -> None:
    refusal._IDENTIFIED.clear()
    for n in range(refusal._MAX_IDENTIFIED + 50):
        identify(exchange(response_headers=[("Server", f"s{n}")]))
    assert len(refusal._IDENTIFIED) == refusal._MAX_IDENTIFIED
    assert identify(exchange(response_headers=[("Server", "s0")])).name == "s0"


# -- pairing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://H.Example/a", "https://h.example:443"),
        ("http://h.example:8080/a", "http://h.example:8080"),
        ("http://LOCALHOST/a", "http://loopback:80"),
        ("http://[::1]:81/a", "http://loopback:81"),
        ("http://user:pw@h.example/a", "http://h.example:80"),
        ("http://h.example:port/a", "http://h.example:port/a"),  # not a port: the URL
        ("http://[::1/a", "http://[::1/a"),  # not a URL: itself
    ],
)
def test_origin_key(url: str, origin: str) -> None:
    assert origin_key(url) == origin
    x = exchange(url, method="get")
    assert endpoint(x).origin == origin
    assert pairing._endpoint_key(x) == endpoint(x).key


@pytest.mark.parametrize("fields", [1, 256, 257, 5000])
def test_endpoint_key_agrees_with_endpoint_for_any_query_length(fields: int) -> None:
    x = exchange("https://h.example/a?" + "&".join(f"k{n}=1" for n in range(fields)))
    assert pairing._endpoint_key(x) == endpoint(x).key
    assert len(endpoint(x).query_keys) == min(fields, pairing.MAX_QUERY_KEYS)


def test_origins_with_credentials_in_the_url_are_not_cached() -> None:
    pairing._netloc_origin.cache_clear()
    assert origin_key("http://user:pw@h.example/a") == "http://h.example:80"
    assert pairing._netloc_origin.cache_info().currsize == 0
    assert origin_key("http://h.example/a") == "http://h.example:80"
    assert pairing._netloc_origin.cache_info().currsize == 1


def test_a_refusal_still_pairs_with_a_baseline_of_the_alternate_method() -> None:
    index = PairingIndex()
    browser = exchange(
        "https://h.example/api/1", id="b", headers=CHROME_FULL, status=200, method="GET"
    )
    assert index.observe(browser) == []
    script = exchange(
        "https://h.example/api/2", id="s", method="HEAD", headers=[("User-Agent", "curl/8")]
    )
    [found] = index.observe(script)
    assert (found.refused.id, found.baseline.id) == ("s", "b")
    other = exchange("https://h.example/other", id="t", headers=[("User-Agent", "curl/8")])
    assert index.observe(other) == []
    assert ("GET", "https://h.example:443", "/other") in index._waiting


# -- handshake ---------------------------------------------------------------------------


def test_remembered_values_are_per_object() -> None:
    a, b = decode_credentials(basic("alice", "pw")), decode_credentials(basic("bob", "pw"))
    assert handshake._remembered(a, handshake.identity_of) == "user 'alice'"
    # An entry left under b's id by an object since gone must not answer for b.
    handshake._remembered_values[(id(b), handshake.identity_of)] = (a, "user 'alice'")
    assert handshake._remembered(b, handshake.identity_of) == "user 'bob'"
    for n in range(handshake._MAX_REMEMBERED + 10):
        handshake._remembered(decode_credentials(basic(f"u{n}", "pw")), handshake.identity_of)
    assert len(handshake._remembered_values) <= handshake._MAX_REMEMBERED


def test_tracker_tells_identities_apart() -> None:
    tracker = Tracker()
    views = []
    for n, user in enumerate(["alice", "bob", "alice"]):
        value = basic(user, "wrong")
        x = exchange(id=f"f{n}", headers=[("Authorization", value)], t=T0 + n)
        views.append(tracker.observe(x, [], [], decode_credentials(value), None).view)
    assert [(v.identity, v.refusals) for v in views] == [
        ("user 'alice'", 1),
        ("user 'bob'", 1),
        ("user 'alice'", 2),
    ]


@pytest.mark.parametrize(
    ("status", "hidden", "other"),
    [(401, "authorization", "proxy-authorization"), (407, "proxy-authorization", "authorization")],
)
def test_a_hidden_credentials_field_answers_a_challenge(
    status: int, hidden: str, other: str
) -> None:
    first = exchange(id="f1", status=status)
    retry = exchange(id="f2", status=status, t=T0 + 1)  # the field blanked in a HAR
    tracker = Tracker()
    assert tracker.observe(first, [], [], None, None).view.answer is Answer.PENDING
    assert tracker.observe(retry, [], [], None, None, frozenset({hidden})).changed == ("f1",)
    view = tracker.view("f1")
    assert view is not None and view.answer is Answer.ANSWERED
    tracker = Tracker()
    tracker.observe(first, [], [], None, None)
    assert tracker.observe(retry, [], [], None, None, frozenset({other})).changed == ()


@pytest.mark.parametrize(
    ("peer", "key"),
    [("192.0.2.1:5000", "192.0.2.1"), ("[2001:db8::1]:443", "2001:db8::1"), ("host", "host")],
)
def test_client_key_by_peer(peer: str, key: str) -> None:
    for _ in range(2):  # computed, then from the cache
        assert handshake.client_key(exchange(client=Connection("c", peer=peer))) == key
