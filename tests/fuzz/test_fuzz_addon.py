"""Fuzzing the mitmproxy side: hostile flows through the addon hooks, the Auth view and
mitmproxy's own flow writer.

For every generated session of flows (sharing a few client and server connections):

- each hook (``request``, ``response``, ``error``, ``http_connect_error``,
  ``http_connected``) runs without raising, and the addon's guard never has to catch
  anything (its "internal error" log line is the crash signal, as is an ``internal-error``
  diagnosis or finding in the metadata);
- every flow's comment and ``metadata["authlens"]`` are JSON-safe, encode as UTF-8, and
  survive ``mitmproxy.io.FlowWriter`` / ``FlowReader`` unchanged; this is checked again
  after the late verdicts of expiry and ``done``;
- the "Auth" content view renders (``prettify``) and bids (``render_priority``) on both
  messages without raising;
- no secret canary from the input appears in a comment, the metadata, the view or a log
  line (redaction on, the default).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mitmproxy import connection, contentviews, http
from mitmproxy.contentviews import Metadata
from mitmproxy.flow import Error
from mitmproxy.io import FlowReader, FlowWriter
from mitmproxy.test import taddons, tflow, tutils
from strategies import (
    FlowSpec,
    assert_no_canary,
    fuzz_settings,
    internal_errors,
    sessions,
)

from authlens.mitm.addon import AuthLens
from authlens.mitm.contentview import auth_view

START = 1_700_000_000.0


class LogCapture(logging.Handler):
    """Collects authlens' log records (the guard's internal errors among them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        out, self.records = self.records, []
        return out


class Harness:
    """One addon in one mitmproxy test context, fed flow after flow across examples, so
    state (handshakes, LRU tables) carries over as in a long-running proxy."""

    def __init__(self, tctx: Any, addon: AuthLens, logs: LogCapture) -> None:
        self.tctx = tctx
        self.addon = addon
        self.logs = logs
        self.clock = START
        self.clients = [self._client(i) for i in range(6)]
        self.servers = [self._server(i) for i in range(6)]

    @staticmethod
    def _client(i: int) -> connection.Client:
        c = tflow.tclient_conn()
        c.peername = (f"127.0.0.{i % 3 + 1}", 50_000 + i)
        return c

    @staticmethod
    def _server(i: int) -> connection.Server:
        s = tflow.tserver_conn()
        s.address = ("127.0.0.1", 8000 + i)
        s.peername = ("127.0.0.1", 8000 + i)
        return s

    def build(self, spec: FlowSpec) -> http.HTTPFlow:
        self.clock += spec.dt
        client = self.clients[spec.client % len(self.clients)]
        client.timestamp_tls_setup = START if spec.tls else None
        connect = spec.method == b"CONNECT"  # authority form: host:port, no path
        request = tutils.treq(
            method=spec.method,
            scheme=spec.scheme,
            host=spec.host,
            port=spec.port,
            authority=f"{spec.host}:{spec.port}".encode() if connect else b"",
            path=b"" if connect else spec.path,
            http_version=spec.http_version,
            headers=http.Headers(spec.request_headers),
            content=spec.request_body,
            timestamp_start=self.clock,
            timestamp_end=self.clock + 0.001,
        )
        flow = tflow.tflow(
            client_conn=client,
            server_conn=self.servers[spec.server % len(self.servers)],
            req=request,
        )
        if spec.proxyauth is not None:
            flow.metadata["proxyauth"] = spec.proxyauth
        return flow

    def response_of(self, spec: FlowSpec) -> http.Response | None:
        if spec.status is None:
            return None
        return tutils.tresp(
            status_code=spec.status,
            reason=spec.reason,
            http_version=spec.http_version,
            headers=http.Headers(spec.response_headers),
            content=spec.response_body,
            timestamp_start=self.clock + 0.002,
            timestamp_end=self.clock + 0.003,
        )

    def run(self, spec: FlowSpec) -> http.HTTPFlow:
        """The hooks in mitmproxy's order; a proxy-made response exists before `request`."""
        flow = self.build(spec)
        response = self.response_of(spec)
        if spec.made_by_proxy:
            flow.response = response
        self.addon.request(flow)
        if flow.request.method.upper() == "CONNECT":
            if response is not None and 200 <= response.status_code < 300:
                flow.response = response
                self.addon.http_connected(flow)
            else:
                flow.response = response
                self.addon.http_connect_error(flow)
            return flow
        if spec.error is not None:
            flow.error = Error(spec.error, timestamp=self.clock + 0.002)
            self.addon.error(flow)
        elif response is not None:
            flow.response = response
            self.addon.response(flow)
        return flow


@contextlib.contextmanager
def addon_context(addon: AuthLens) -> Iterator[Any]:
    """``taddons.context``, minus its leak: the test Master's log handler stays on the root
    logger after the context closes its event loop, and then fails every later log call."""
    with taddons.context(addon) as tctx:
        try:
            yield tctx
        finally:
            tctx.master._legacy_log_events.uninstall()


@contextlib.contextmanager
def captured_logs() -> Iterator[LogCapture]:
    logs = LogCapture()
    logger = logging.getLogger("authlens")
    old_level = logger.level
    logger.addHandler(logs)
    logger.setLevel(logging.DEBUG)
    try:
        yield logs
    finally:
        logger.removeHandler(logs)
        logger.setLevel(old_level)


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    addon = AuthLens()
    with captured_logs() as logs, addon_context(addon) as tctx:
        # A small cap, so the fuzz run also evicts constantly.
        tctx.configure(addon, authlens_max_tracked=50, authlens_no_retry_after=3)
        yield Harness(tctx, addon, logs)
        addon.done()
        check_logs(logs.take())


def check_logs(records: list[logging.LogRecord]) -> None:
    for record in records:
        message = record.getMessage()
        assert "internal error" not in message, message
        assert_no_canary(message, "a log line")


def check_flow(flow: http.HTTPFlow) -> None:
    annotation = flow.metadata.get("authlens")
    comment = flow.comment or ""
    comment.encode("utf-8")
    assert_no_canary(comment, "flow.comment")
    if annotation is not None:
        text = json.dumps(annotation, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
        assert json.loads(text) == annotation
        assert not internal_errors(annotation), text[:3000]
        assert_no_canary(text, "flow.metadata")
        assert comment.endswith(annotation.get("comment", ""))
    # mitmproxy's own flow file format must take the flow as it is now.
    buffer = io.BytesIO()
    FlowWriter(buffer).add(flow)
    buffer.seek(0)
    (loaded,) = list(FlowReader(buffer).stream())
    assert loaded.metadata.get("authlens") == annotation
    assert loaded.comment == flow.comment
    # The Auth view on both messages.
    for message in (flow.request, flow.response):
        if message is None:
            continue
        meta = Metadata(flow=flow, http_message=message)
        data = message.raw_content or b""
        priority = auth_view.render_priority(data, meta)
        assert isinstance(priority, int | float)
        text = auth_view.prettify(data, meta)
        assert isinstance(text, str)
        text.encode("utf-8")
        assert_no_canary(text, "the Auth view")
        # Through mitmproxy's dispatcher too (it would hide an exception as a fallback),
        # while the view is registered (the addon removes it at `done`).
        if "auth" in contentviews.registry:
            result = contentviews.prettify_message(message, flow, view_name="auth")
            assert result.view_name == "Auth", result.text[:2000]
            assert result.syntax_highlight != "error", result.text[:2000]


@fuzz_settings(scale=2)
@given(sessions(max_flows=6), st.booleans())
def test_hooks_total_serializable_redacted(
    harness: Harness, specs: list[FlowSpec], expire: bool
) -> None:
    flows = [harness.run(spec) for spec in specs]
    if expire:  # late verdicts: no-retry after the window, as the expiry task would do
        harness.addon._expire(harness.clock + 10)
    for flow in flows:
        check_flow(flow)
    check_logs(harness.logs.take())


@fuzz_settings(scale=0.5)
@given(sessions(max_flows=4))
def test_done_settles_and_flows_still_serialize(specs: list[FlowSpec]) -> None:
    """A fresh addon per example: `done` (the end of the run) applies late verdicts."""
    addon = AuthLens()
    with captured_logs() as logs, addon_context(addon) as tctx:
        tctx.configure(addon, authlens_redact=True)
        harness = Harness(tctx, addon, logs)
        flows = [harness.run(spec) for spec in specs]
        addon.done()
        for flow in flows:
            check_flow(flow)
    check_logs(logs.take())


def test_thousands_of_challenge_lines_and_huge_values(harness: Harness) -> None:
    """Deterministic worst cases: 5,000 WWW-Authenticate lines, a 1 MiB field value,
    every broken shape in one response."""
    lines = [(b"WWW-Authenticate", b'Digest realm="r", nonce="' + b"n" * 50 + b'"')] * 5_000
    lines += [(b"WWW-Authenticate", b"Negotiate " + b"A" * (1 << 20))]
    lines += [(b"WWW-Authenticate", b'Basic realm="\xff\xfe' + b"\\" * 10_000)]
    lines += [(b"WWW-Authenticate", b"Bearer " + b", ".join(b"p%d=v" % i for i in range(5_000)))]
    spec = FlowSpec(
        request_headers=[(b"Authorization", b"NTLM " + b"TlRMTVNTUAAD" * 10_000)],
        status=401,
        response_headers=lines,
    )
    flow = harness.run(spec)
    check_flow(flow)
    check_logs(harness.logs.take())
    assert "authlens" in flow.metadata
