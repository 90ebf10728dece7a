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
