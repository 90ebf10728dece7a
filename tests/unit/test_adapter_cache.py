"""The adapter decodes a repeated header block once and shares the immutable result."""

from __future__ import annotations

from mitmproxy.test import tflow

from authlens.mitm import adapter


def _flow(**headers: str) -> object:
    flow = tflow.tflow(resp=True)
    flow.request.headers.clear()
    for name, value in headers.items():
        flow.request.headers[name.replace("_", "-")] = value
    return flow


def test_equal_header_blocks_share_one_decoding() -> None:
    one = adapter.exchange_from_flow(_flow(authorization="Basic YTpi", user_agent="curl/8"))
    two = adapter.exchange_from_flow(_flow(authorization="Basic YTpi", user_agent="curl/8"))
    assert one.request.headers is two.request.headers
    assert one.request.headers.get("Authorization") == "Basic YTpi"


def test_a_different_value_or_order_is_a_different_block() -> None:
    base = adapter.exchange_from_flow(_flow(authorization="Basic YTpi", user_agent="curl/8"))
    value = adapter.exchange_from_flow(_flow(authorization="Basic YTpj", user_agent="curl/8"))
    order = adapter.exchange_from_flow(_flow(user_agent="curl/8", authorization="Basic YTpi"))
    assert value.request.headers.get("authorization") == "Basic YTpj"
    assert [n for n, _ in order.request.headers] == ["user-agent", "authorization"]
    assert [n for n, _ in base.request.headers] == ["authorization", "user-agent"]


def test_undecodable_bytes_survive_and_huge_blocks_are_not_kept() -> None:
    flow = tflow.tflow(resp=True)
    flow.request.headers.fields = ((b"X-Odd", b"caf\xe9"),)
    exchange = adapter.exchange_from_flow(flow)
    assert exchange.request.headers.get("x-odd") == "caf\udce9"
    huge = tflow.tflow(resp=True)
    huge.request.headers.fields = ((b"Cookie", b"a" * (adapter._MAX_CACHED_HEADERS + 1)),)
    adapter.exchange_from_flow(huge)
    assert huge.request.headers.fields not in adapter._HEADERS


def test_the_cache_stays_bounded() -> None:
    for i in range(adapter._MAX_HEADER_BLOCKS + 50):
        adapter.exchange_from_flow(_flow(x_n=str(i)))
    assert len(adapter._HEADERS) <= adapter._MAX_HEADER_BLOCKS


def test_request_lines_are_remembered_by_every_part_of_the_target() -> None:
    """A remembered request line is keyed by method, scheme, host, port, path and
    authority: changing any one gives mitmproxy's own values for the new request."""
    seen: list[str] = []
    for change in (
        {},
        {"path": "/other?q=1"},
        {"port": 8443},
        {"host": "example.org"},
        {"scheme": "https"},
        {"method": "POST"},
        {"method": "CONNECT", "authority": "example.com:443"},
        {"authority": "example.com:22"},
    ):
        flow = tflow.tflow(resp=True)
        for name, value in change.items():
            setattr(flow.request, name, value)
        for _ in range(2):  # the second build comes from the cache
            exchange = adapter.exchange_from_flow(flow)
            request = flow.request
            expected_url = (
                f"//{request.host}:{request.port}"
                if request.method == "CONNECT"
                else request.url
            )
            assert exchange.request.url == expected_url
            assert exchange.request.method == request.method
            assert exchange.request.http_version == request.http_version
            assert exchange.is_connect is (request.method == "CONNECT")
        seen.append(exchange.request.url)
    assert seen[1] == "http://address:22/other?q=1" and seen[6] == "//address:22"


def test_request_lines_cache_stays_bounded_and_skips_long_paths() -> None:
    for i in range(adapter._MAX_REQUEST_LINES + 50):
        flow = tflow.tflow(resp=True)
        flow.request.path = f"/n/{i}"
        adapter.exchange_from_flow(flow)
    assert len(adapter._REQUEST_LINES) <= adapter._MAX_REQUEST_LINES
    long = tflow.tflow(resp=True)
    long.request.path = "/" + "a" * adapter._MAX_CACHED_TARGET
    assert adapter.exchange_from_flow(long).request.url.endswith("a" * 100)
    huge_host = tflow.tflow(resp=True)
    huge_host.request.host = "h" * adapter._MAX_CACHED_TARGET + ".example"
    assert "h" * 100 in adapter.exchange_from_flow(huge_host).request.url
    assert not any(
        len(key[4]) + len(key[2]) + len(key[5]) > adapter._MAX_CACHED_TARGET
        for key in adapter._REQUEST_LINES
    )


def test_flows_on_one_connection_share_its_model() -> None:
    one, two = tflow.tflow(resp=True), tflow.tflow(resp=True)
    two.client_conn = one.client_conn
    two.server_conn = one.server_conn
    first, second = adapter.exchange_from_flow(one), adapter.exchange_from_flow(two)
    assert first.client is second.client and first.server is second.server
    # What the connection looks like is part of the key: a change is seen at once.
    two.client_conn.alpn = b"h2"
    two.client_conn.sni = "changed.example"
    third = adapter.exchange_from_flow(two)
    assert third.client is not first.client
    assert (third.client.alpn, third.client.sni) == ("h2", "changed.example")
    assert first.client.alpn != "h2"  # the earlier model is never changed
    two.metadata[adapter.TLS_FINGERPRINT_KEY] = "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert adapter.exchange_from_flow(two).client.tls_fingerprint == (
        "t13d1516h2_8daaf6152771_e5627efa2ab1"
    )


def test_connection_cache_stays_bounded() -> None:
    for _ in range(adapter._MAX_CONNECTIONS + 50):
        adapter.exchange_from_flow(tflow.tflow(resp=True))  # a new connection each time
    assert len(adapter._CONNECTIONS) <= adapter._MAX_CONNECTIONS


def test_an_unhashable_address_is_modelled_without_the_cache() -> None:
    flow = tflow.tflow(resp=True)
    flow.client_conn.peername = ["192.0.2.7", 5123]  # type: ignore[assignment]
    for _ in range(2):
        assert adapter.exchange_from_flow(flow).client.peer == "192.0.2.7:5123"
