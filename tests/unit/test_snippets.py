"""The fix as code (authlens.snippets): curl, python-requests and httpx, secrets in the
environment. The generated programs are run for real against a local echo server."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from test_compare import CSRF, SESSION, browser_ok, script

from authlens.bisect import ReplayRequest
from authlens.compare import compare
from authlens.snippets import env_name, snippets

TRICKY = 'it\'s "quoted" $HOME `id` \\ back; semi'
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


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
                "headers": dict(self.headers.items()),
                "body": body,
            }
        )
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = do_PUT = _answer


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    _Echo.received.clear()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {**env, **extra}


def _request(host: str) -> ReplayRequest:
    return ReplayRequest(
        "PUT",
        f"http://{host}/api/items/7?page=2&access_token={TOKEN}&q=a b",
        (
            ("Host", host),
            ("User-Agent", "Mozilla/5.0 (X11) Chrome/131.0.0.0"),
            ("X-Note", TRICKY),
            ("Authorization", f"Bearer {TOKEN}"),
            ("X-CSRF-Token", CSRF),
            ("Cookie", f"sessionid={SESSION}; theme=dark"),
            ("Accept-Encoding", "gzip, deflate, br, zstd"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", "42"),
        ),
        f"amount=5&note={TRICKY}&csrfmiddlewaretoken={CSRF}".encode(),
    )


def test_no_secret_inline_and_env_described(echo: str) -> None:
    code = snippets(_request(echo))
    for text in (code.curl, code.requests, code.httpx):
        for secret in (TOKEN, CSRF, SESSION):
            assert secret not in text
    assert set(code.env) == {
        "AUTHLENS_AUTHORIZATION",
        "AUTHLENS_HEADER_X_CSRF_TOKEN",
        "AUTHLENS_COOKIE_SESSIONID",
        "AUTHLENS_COOKIE_THEME",
        "AUTHLENS_QUERY_ACCESS_TOKEN",
        "AUTHLENS_FIELD_CSRFMIDDLEWARETOKEN",
    }
    assert all("<redacted:sha256:" in text for text in code.env.values())
    assert '"${AUTHLENS_COOKIE_SESSIONID}"' in code.curl
    assert "os.environ['AUTHLENS_COOKIE_SESSIONID']" in code.requests
    assert "'Bearer ' + os.environ['AUTHLENS_AUTHORIZATION']" in code.requests
    assert "--compressed" in code.curl
    assert repr(code).count(SESSION) == 0 and SESSION not in json.dumps(code.to_json())
    assert code.environment()["AUTHLENS_COOKIE_SESSIONID"] == SESSION
    for program in (code.requests, code.httpx):
        ast.parse(program)


def _check_received(host: str) -> None:
    got = _Echo.received[-1]
    assert got["method"] == "PUT"
    assert got["path"].startswith("/api/items/7?page=2&access_token=")
    query = got["path"].split("?", 1)[1]
    assert (TOKEN in query and "q=a+b" in query) or "q=a%20b" in query
    headers = got["headers"]
    assert headers["X-Note"] == TRICKY
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["X-CSRF-Token"] == CSRF
    assert f"sessionid={SESSION}" in headers["Cookie"] and "theme=dark" in headers["Cookie"]
    assert headers["User-Agent"] == "Mozilla/5.0 (X11) Chrome/131.0.0.0"
    body = got["body"].decode()
    assert f"csrfmiddlewaretoken={CSRF}" in body and body.startswith("amount=5&note=")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_snippet_sends_exactly_that(echo: str) -> None:
    code = snippets(_request(echo))
    done = subprocess.run(
        ["bash", "-c", code.curl + " -sS -o /dev/null -w '%{http_code}'"],
        env=_env(code.environment()),
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert done.stdout.decode() == "200", (code.curl, done.stderr)
    _check_received(echo)


@pytest.mark.parametrize("library", ["requests", "httpx"])
def test_python_snippets_send_exactly_that(echo: str, library: str) -> None:
    code = snippets(_request(echo))
    program = code.requests if library == "requests" else code.httpx
    done = subprocess.run(
        [sys.executable, "-c", program],
        env=_env(code.environment()),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.stdout.decode().strip() == "200", (program, done.stderr.decode()[-2000:])
    _check_received(echo)


def test_json_body_with_a_secret_field(echo: str) -> None:
    request = ReplayRequest(
        "POST",
        f"http://{echo}/api",
        (("Content-Type", "application/json"),),
        json.dumps({"text": 'hi "there"', "csrf_token": CSRF, "n": 3}).encode(),
    )
    code = snippets(request)
    assert CSRF not in code.requests and "AUTHLENS_FIELD_CSRF_TOKEN" in code.env
    done = subprocess.run(
        [sys.executable, "-c", code.requests], env=_env(code.environment()),
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.stdout.decode().strip() == "200", done.stderr
    assert json.loads(_Echo.received[-1]["body"]) == {
        "text": 'hi "there"',
        "csrf_token": CSRF,
        "n": 3,
    }


def test_snippets_apply_the_decisive_differences() -> None:
    browser = browser_ok(("Cookie", f"sessionid={SESSION}; _ga=GA1.1.2"))
    refused = script(body=b"login required")
    c = compare(browser, refused)
    code = snippets(refused, c.decisive)
    assert "AUTHLENS_COOKIE_SESSIONID" in code.env
    assert "_GA" not in " ".join(code.env)  # only what decides, not the analytics cookie
    assert "python-requests/2.32.3" in code.curl  # the script's own headers otherwise
    assert "-H 'User-Agent: python-requests/2.32.3' \\\n" in code.curl
    assert code.curl.rstrip().endswith("https://app.example/api/profile")


def test_get_and_head_and_env_names() -> None:
    get = snippets(ReplayRequest("GET", "http://127.0.0.1/x"))
    assert "-X" not in get.curl and "--data-binary" not in get.curl
    assert "--head" in snippets(ReplayRequest("HEAD", "http://127.0.0.1/x")).curl
    assert "-X DELETE" in snippets(ReplayRequest("DELETE", "http://127.0.0.1/x")).curl
    assert (
        env_name("AUTHLENS_", "COOKIE", "ASP.NET_SessionId") == "AUTHLENS_COOKIE_ASP_NET_SESSIONID"
    )
    assert env_name("AUTHLENS_", "HEADER", "---") == "AUTHLENS_HEADER"
