"""``authlens web`` argument passing and the demo's pieces (tokens, server behaviours),
without processes; the real runs are in tests/e2e (test_demo.py, test_report_browser.py)."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from authlens import demo
from authlens.cli import build_parser
from authlens.commands import web

ROOT = Path(__file__).resolve().parents[2]


# --- authlens web --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--listen-port", "8081", "-s", "mine.py", "--set", "web_password=x"],
        ["--help"],
        ["-q"],
    ],
)
def test_web_passes_every_argument_to_mitmweb(args: list[str]) -> None:
    parsed = build_parser().parse_args(["web", *args])
    assert parsed.mitmweb_args == args
    command = web.mitmproxy_command(web.MITMWEB, parsed.mitmweb_args)
    assert command[:3] == [sys.executable, "-c", web.MITMWEB]
    assert command[3:5] == ["-s", str(ROOT / "addon" / "authlens" / "mitm" / "entry.py")]
    assert command[5:] == args


def test_mitmdump_command_without_the_addon() -> None:
    assert web.mitmproxy_command(web.MITMDUMP, ["-n"], addon=False) == [
        sys.executable,
        "-c",
        web.MITMDUMP,
        "-n",
    ]


def test_child_env_makes_a_checkout_importable() -> None:
    env = web.child_env({"PYTHONPATH": "/elsewhere", "HOME": "/h"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(ROOT / "addon"), "/elsewhere"]
    assert env["HOME"] == "/h"
    again = web.child_env(env)
    assert again["PYTHONPATH"] == env["PYTHONPATH"]  # not added twice


# --- the demo's tokens and server ----------------------------------------------------------------


def test_demo_jwt_is_signed_and_expires() -> None:
    now = time.time()
    expired = demo.make_jwt(exp_offset=-3600, now=now)
    claims = demo._jwt_claims(expired)
    assert claims is not None
    assert claims["exp"] == int(now) - 3600
    header, payload, signature = expired.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    assert demo._jwt_claims(forged) is None


@pytest.fixture(scope="module")
def server() -> Iterator[demo.DemoServer]:
    instance = demo.DemoServer().start()
    try:
        yield instance
    finally:
        instance.stop()


def _get(
    url: str, *handlers: urllib.request.BaseHandler, **headers: str
) -> tuple[int, dict[str, str]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), *handlers)
    request = urllib.request.Request(url, headers=headers)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, dict(exc.headers)


def test_demo_server_basic(server: demo.DemoServer) -> None:
    status, headers = _get(server.url("/files"))
    assert status == 401
    assert headers["WWW-Authenticate"].startswith('Basic realm="authlens demo"')
    right = base64.b64encode(f"{demo.DEMO_USER}:{demo.DEMO_PASSWORD}".encode()).decode()
    assert _get(server.url("/files"), Authorization=f"Basic {right}")[0] == 200


def test_demo_server_digest_goes_stale_once(server: demo.DemoServer) -> None:
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, server.url("/"), demo.DEMO_USER, demo.DEMO_PASSWORD)
    status, _ = _get(server.url("/digest"), urllib.request.HTTPDigestAuthHandler(manager))
    assert status == 200  # challenge, stale, answered again


def test_demo_server_bearer(server: demo.DemoServer) -> None:
    expired = demo.make_jwt(exp_offset=-60)
    status, headers = _get(server.url("/api/orders"), Authorization=f"Bearer {expired}")
    assert status == 401
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert (
        _get(server.url("/api/orders"), Authorization=f"Bearer {demo.make_jwt(exp_offset=60)}")[0]
        == 200
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 302 itself is the answer under test


def test_demo_server_session_and_no_challenge(server: demo.DemoServer) -> None:
    status, headers = _get(server.url("/legacy/export"))
    assert status == 401 and "WWW-Authenticate" not in headers
    cookie = f"sid={demo.SESSION_ID}"
    assert _get(server.url("/account"), Cookie=cookie)[0] == 200
    status, headers = _get(server.url("/account"), _NoRedirect())
    assert status == 302 and headers["Location"].startswith("/login")


def test_scenarios_cover_the_routes() -> None:
    paths = {p for s in demo.SCENARIOS for p in s.paths}
    assert paths == set(demo.DemoHandler.routes)
    assert len({s.name for s in demo.SCENARIOS}) == len(demo.SCENARIOS)
    json.dumps([s.summary for s in demo.SCENARIOS])  # plain text, one line each
    assert all("\n" not in s.summary for s in demo.SCENARIOS)
