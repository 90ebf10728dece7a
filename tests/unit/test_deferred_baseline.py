"""Deferred browser baselines: accepted traffic is recorded for the price of a few probes
and built into an exchange only when a refusal at the same endpoint needs it, with the
same comparison as if it had been built at once."""

from __future__ import annotations

import dataclasses
import gzip
import os
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from diagnose_helpers import CHROME, SCRIPT, SESSION
from mitmproxy import http
from mitmproxy.flow import Error
from mitmproxy.test import taddons, tflow, tutils

from authlens.mitm import adapter
from authlens.mitm.addon import AuthLens
from authlens.model import MAX_BODY_PREFIX
from authlens.pairing import Deferred, PairingIndex, endpoint, endpoint_key


def make_flow(
    headers: tuple[tuple[str, str], ...],
    status: int,
    t: float,
    path: bytes = b"/api/orders/123",
    body: bytes = b"",
    response_headers: tuple[tuple[bytes, bytes], ...] = (),
) -> http.HTTPFlow:
    request = tutils.treq(
        host="127.0.0.1",
        port=8080,
        path=path,
        headers=http.Headers(
            [(k.encode(), v.encode()) for k, v in (("Host", "127.0.0.1:8080"), *headers)]
        ),
        content=body,
        timestamp_start=t,
        timestamp_end=t + 0.01,
    )
    response = tutils.tresp(
        status_code=status,
        headers=http.Headers(list(response_headers)),
        content=b"",
        timestamp_start=t + 0.02,
        timestamp_end=t + 0.03,
    )
    return tflow.tflow(req=request, resp=response)


@pytest.fixture
def addon() -> Iterator[AuthLens]:
    lens = AuthLens()
    with taddons.context(lens) as tctx:
        tctx.configure(lens)
        yield lens


def _ids(flow: http.HTTPFlow) -> list[str]:
    metadata: Any = flow.metadata.get("authlens") or {}
    return [d["id"] for d in metadata.get("diagnoses", [])]


def test_ordinary_browser_traffic_builds_no_exchange(addon: AuthLens) -> None:
    with mock.patch.object(adapter, "exchange_from_flow", wraps=adapter.exchange_from_flow) as spy:
        for i in range(200):
            addon.response(
                make_flow(
                    (*CHROME, SESSION), 200, 1_700_000_000.0 + i, path=f"/page/{i % 7}".encode()
                )
            )
        assert spy.call_count == 0


@pytest.mark.parametrize("order", ["baseline-first", "refusal-first"])
def test_deferred_baseline_explains_a_later_or_earlier_refusal(addon: AuthLens, order: str) -> None:
    browser = make_flow((*CHROME, SESSION), 200, 1_700_000_000.0)
    script = make_flow(SCRIPT, 403, 1_700_000_001.0, path=b"/api/orders/456")
    noise = [
        make_flow((*CHROME, SESSION), 200, 1_700_000_000.5, path=f"/other/{i}".encode())
        for i in range(50)
    ]
    first, second = (browser, script) if order == "baseline-first" else (script, browser)
    with mock.patch.object(adapter, "exchange_from_flow", wraps=adapter.exchange_from_flow) as spy:
        addon.response(first)
        for flow in noise:
            addon.response(flow)
        addon.response(second)
        # The refusal and its one baseline; none of the unrelated browser requests.
        assert spy.call_count == 2
    assert "missing-session-cookie" in _ids(script)
    assert "session cookie" in (script.comment or "") or "missing-session-cookie" in (
        script.comment or ""
    )


@pytest.mark.parametrize("variant", ["plain", "error", "metadata", "replayed", "big-body"])
def test_deferred_equals_eager_exchange(variant: str) -> None:
    body = b"a=1&csrf=x" if variant != "big-body" else b"y" * (MAX_BODY_PREFIX + 5)
    flow = make_flow((*CHROME, SESSION), 200, 1_700_000_000.0, body=body)
    if variant == "error":
        flow.error = Error("connection closed", 1_700_000_000.5)
    elif variant == "metadata":
        flow.metadata[adapter.TLS_FINGERPRINT_KEY] = "t13d1516h2_8daaf6152771_e5627efa2ab1"
    elif variant == "replayed":
        flow.is_replay = "request"
    deferred = adapter.defer_baseline(flow, adapter.SOURCE_LIVE)
    built = deferred.exchange()
    assert built is not None
    assert deferred.exchange() is built  # built once
    eager = adapter.exchange_from_flow(flow, adapter.SOURCE_LIVE)
    assert deferred.key == endpoint(eager).key
    if variant == "big-body":  # the record keeps a prefix: the size it saw is the prefix's
        assert built.request.body == eager.request.body
        built = dataclasses.replace(built, request=eager.request)
    assert built == eager


def test_large_bodies_are_not_kept_alive() -> None:
    big = b"x" * (MAX_BODY_PREFIX * 4)
    flow = make_flow((*CHROME, SESSION), 200, 1_700_000_000.0, body=big)
    flow.response = tutils.tresp(
        status_code=200, headers=http.Headers([(b"content-encoding", b"gzip")])
    )
    # Large and compressed: a cut prefix would not decode.
    flow.response.raw_content = gzip.compress(os.urandom(MAX_BODY_PREFIX * 2))
    deferred = adapter.defer_baseline(flow, adapter.SOURCE_LIVE)
    # What the deferred holds: a flat record, not the flow, with short bodies only.
    record = deferred._build.args[0]  # type: ignore[union-attr]
    assert flow not in record and flow.request not in record
    held = [part for part in _flatten(record) if isinstance(part, bytes) and len(part) > 1000]
    assert held and all(len(part) <= MAX_BODY_PREFIX for part in held)
    built = deferred.exchange()
    assert built is not None
    assert built.request.body == big[:MAX_BODY_PREFIX]
    assert built.response is not None and built.response.body is None  # unknown, not garbage
    assert built.request.headers == adapter.exchange_from_flow(flow).request.headers
    assert flow.request.raw_content == big  # the original flow is untouched


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, tuple):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def test_deferred_record_holds_no_flow_objects() -> None:
    # Kept for a while, a flow's object graph is promoted through the GC generations:
    # the record must be flat (immutable tuples of bytes, numbers and the connections).
    flow = make_flow((*CHROME, SESSION), 200, 1_700_000_000.0, body=b"a=1")
    record = adapter.defer_baseline(flow)._build.args[0]  # type: ignore[union-attr]
    kinds = {type(part).__name__ for part in _flatten(record)}
    assert not kinds & {"HTTPFlow", "Request", "Response", "RequestData", "ResponseData", "Headers"}


def test_snapshot_is_independent_of_later_header_changes() -> None:
    flow = make_flow((*CHROME, SESSION), 200, 1_700_000_000.0, body=b"y" * (MAX_BODY_PREFIX + 1))
    deferred = adapter.defer_baseline(flow, adapter.SOURCE_LIVE)
    flow.request.headers["cookie"] = "changed"
    built = deferred.exchange()
    assert built is not None and built.request.headers.get("cookie") == SESSION[1]


@pytest.mark.parametrize(
    ("method", "scheme", "host", "port", "path"),
    [
        ("get", "HTTPS", "Example.COM", 443, "/api/users/42?x=1#f"),
        ("POST", "http", "localhost", 8080, "/a/b;jsessionid=ABC/c"),
        ("GET", "http", "LOCALHOST", 80, ""),
        ("GET", "https", "api.example.com", 8443, "/v1/items/3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
    ],
)
def test_endpoint_key_matches_endpoint_of_built_exchange(
    method: str, scheme: str, host: str, port: int, path: str
) -> None:
    request = tutils.treq(
        method=method.encode(),
        scheme=scheme.encode(),
        host=host,
        port=port,
        path=path.encode(),
        authority=b"",
    )
    flow = tflow.tflow(req=request, resp=True)
    exchange = adapter.exchange_from_flow(flow)
    assert endpoint_key(method, scheme, host, port, path) == endpoint(exchange).key


def test_a_deferred_that_fails_to_build_is_no_baseline() -> None:
    def boom() -> Any:
        raise ValueError("hostile")

    index = PairingIndex()
    deferred = Deferred(("GET", "http://loopback:8080", "/api/orders/{int}"), boom)
    assert index.add_deferred(deferred) == []
    refused = adapter.exchange_from_flow(make_flow(SCRIPT, 403, 1_700_000_001.0))
    assert index.observe(refused) == []  # built, failed, left out: no pairing, no raise
    assert deferred.exchange() is None


def test_index_stays_bounded_with_deferred_entries() -> None:
    index = PairingIndex(max_endpoints=8, per_endpoint=2)
    for i in range(1000):
        flow = make_flow((*CHROME, SESSION), 200, 1_700_000_000.0 + i, path=f"/p{i}/x".encode())
        index.add_deferred(adapter.defer_baseline(flow))
    assert len(index) <= 16
