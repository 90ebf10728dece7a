"""The compare addon in a ``mitmproxy.test.taddons`` context: its commands exist, the cap
option is validated, JA4 reaches the flow, and nothing is replayed unless asked."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from diagnose_helpers import CHROME, SCRIPT, SESSION
from mitmproxy import exceptions, http
from mitmproxy.proxy.layers.http import HttpRequestHook as RequestHook
from mitmproxy.test import taddons, tflow, tutils

from authlens.bisect import ReplayResponse
from authlens.mitm import adapter, compare_addon
from authlens.mitm.addon import AuthLens
from authlens.mitm.compare_addon import AuthLensCompare


def make_flow(headers: tuple[tuple[str, str], ...], status: int, t: float) -> http.HTTPFlow:
    request = tutils.treq(
        host="127.0.0.1",
        port=8080,
        path=b"/api/me",
        headers=http.Headers(
            [(k.encode(), v.encode()) for k, v in (("Host", "127.0.0.1:8080"), *headers)]
        ),
        timestamp_start=t,
        timestamp_end=t + 0.01,
    )
    response = tutils.tresp(
        status_code=status,
        headers=http.Headers(),
        content=b"",
        timestamp_start=t + 0.02,
        timestamp_end=t + 0.03,
    )
    return tflow.tflow(req=request, resp=response)


def pair() -> tuple[http.HTTPFlow, http.HTTPFlow]:
    return make_flow((*CHROME, SESSION), 200, 1_700_000_000.0), make_flow(
        SCRIPT, 403, 1_700_000_001.0
    )


@pytest.fixture
def tctx_addon() -> Any:
    addon = AuthLensCompare()
    with taddons.context(addon) as tctx:
        yield tctx, addon


def test_commands_exist(tctx_addon: Any) -> None:
    tctx, _ = tctx_addon
    commands = tctx.master.commands.commands
    assert {"authlens.compare", "authlens.bisect", "authlens.fix"} <= set(commands)


def test_cap_option_is_validated(tctx_addon: Any) -> None:
    tctx, addon = tctx_addon
    assert tctx.options.authlens_bisect_max_requests == 16
    tctx.configure(addon, authlens_bisect_max_requests=256)
    assert addon._max_requests == 256
    for bad in (0, 257, -1):
        with pytest.raises(exceptions.OptionsError):
            tctx.configure(addon, authlens_bisect_max_requests=bad)


def test_bisect_never_runs_by_itself() -> None:
    lens, addon = AuthLens(), AuthLensCompare()
    with (
        taddons.context(lens, addon) as tctx,
        mock.patch.object(
            compare_addon, "prove", side_effect=AssertionError("replayed without being asked")
        ),
        mock.patch.object(compare_addon, "send_direct", side_effect=AssertionError("sent")),
    ):
        tctx.configure(lens)
        browser, script = pair()
        for f in (browser, script):
            tctx.master.addons.invoke_addon_sync(addon, RequestHook(f))  # as mitmproxy does
            lens.response(f)
        addon.compare_flows([browser, script])  # comparing sends nothing either
        addon.fix(script)
    # The automatic comparison reached the refused flow's annotation.
    metadata = script.metadata["authlens"]
    assert metadata["comparison"]["baseline"] == browser.id
    assert script.comment.startswith("missing-session-cookie")


def test_compare_fix_and_bisect_on_request(tctx_addon: Any) -> None:
    tctx, addon = tctx_addon
    browser, script = pair()
    script.metadata["authlens"] = {"comparison": None}
    out = addon.compare_flows([browser, script])
    assert len(out) == 1 and "sessionid" in out[0]
    assert script.metadata["authlens"]["comparison"]["baseline"] == browser.id
    text = addon.fix(script)
    assert "curl" in text and "q7Zr2LmN8xPw4KcT9vBd" not in text and "AUTHLENS_" in text

    sent: list[str] = []

    def fake_send(request: Any) -> ReplayResponse:
        sent.append(request.header("Cookie") or "")
        return ReplayResponse(200 if "sessionid=" in (request.header("Cookie") or "") else 403)

    tctx.configure(addon, authlens_bisect_max_requests=4)
    with mock.patch.object(compare_addon, "send_direct", fake_send):
        addon.bisect(script)  # no running loop here: runs at once
    assert 1 <= len(sent) <= 4
    proof = script.metadata["authlens"]["comparison"]["proof"]
    assert proof["outcome"] == "proven" and proof["requests_sent"] == len(sent)


def test_tls_clienthello_records_ja4_per_connection(tctx_addon: Any) -> None:
    _, addon = tctx_addon
    from mitmproxy import connection, tls
    from mitmproxy.proxy import context

    raw = bytes.fromhex("0303" + "00" * 32 + "00" + "0004" + "13011302" + "0100" + "0000")
    client = connection.Client(peername=("127.0.0.1", 5000), sockname=("127.0.0.1", 8080))
    ctx_ = context.Context(client, tctx_addon[0].options)
    f = tflow.tflow()
    f.client_conn = client
    assert addon.request is None  # no hook, no per-flow cost, until a ClientHello is seen
    addon.tls_clienthello(tls.ClientHelloData(ctx_, tls.ClientHello(raw)))
    assert client.id in addon._ja4
    tctx_addon[0].master.addons.invoke_addon_sync(addon, RequestHook(f))
    fingerprint = f.metadata[adapter.TLS_FINGERPRINT_KEY]
    assert fingerprint.startswith("t")
    assert adapter.exchange_from_flow(f).client.tls_fingerprint == fingerprint
