"""Loopback servers that let a browser in and refuse scripts, each for one honest reason.

Stdlib ``ThreadingHTTPServer`` on 127.0.0.1 port 0, HTTP/1.1 keep-alive, one server per
scenario so each has its own origin, cookies and sessions. Every scenario serves ``/``
(an HTML page a browser can load) and one API endpoint:

  ua         GET  /api/data     401 unless the User-Agent looks like a browser's (a naive
                                bot filter: "Mozilla/5.0" and no script product token)
  session    GET  /api/profile  401 {"error": "login required"} without the session cookie
                                that ``POST /login`` (a real HTML form) sets
  csrf       POST /api/message  needs a session (``POST /login``) and an anti-CSRF header:
                                the page carries the token in ``<meta name="csrf-token">``
                                and its JavaScript sends it as ``X-CSRF-Token`` (403 without)
  fetchmeta  GET  /api/data     403 "Forbidden" unless Sec-Fetch-Site is same-origin,
                                same-site or none (a strict resource-isolation policy)
  hints      GET  /api/data     401 unless sec-ch-ua names a browser brand (client hints)
  open       GET  /api/data     200 for everyone: no refusal, no alarm

Other pages: ``/login`` (GET form, POST credentials ``alice``/``wonderland``), ``/logout``.
The anti-CSRF token is an HMAC of its issue time under a per-server key, valid for an hour
and for any session, the way stateless token schemes work.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

USER, PASSWORD = "alice", "wonderland"
SESSION_COOKIE = "sessionid"
CSRF_HEADER = "X-CSRF-Token"
SCENARIOS = ("ua", "session", "csrf", "fetchmeta", "hints", "open")
SOCKET_TIMEOUT = 15
MAX_SEEN = 512
_SCRIPT_UA = re.compile(
    r"curl|wget|python|httpx|requests|go-http|java|okhttp|node|axios|postman|powershell|"
    r"libwww|scrapy|bot|spider|crawl",
    re.IGNORECASE,
)
_BRAND = re.compile(r'"[^"]+"\s*;\s*v="\d+"')


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, scenario: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scenario = scenario
        self.lock = threading.Lock()
        self.sessions: dict[str, str] = {}
        self.csrf_key = secrets.token_bytes(32)
        self.seen: deque[tuple[str, str, list[tuple[str, str]]]] = deque(maxlen=MAX_SEEN)

    def new_session(self, user: str) -> str:
        sid = secrets.token_urlsafe(24)
        with self.lock:
            self.sessions[sid] = user
        return sid

    def user_of(self, cookie_header: str | None) -> str | None:
        for part in (cookie_header or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE:
                with self.lock:
                    return self.sessions.get(value)
        return None

    def csrf_token(self) -> str:
        issued = str(int(time.time()))
        mac = hmac.new(self.csrf_key, issued.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{issued}.{mac}"

    def csrf_valid(self, token: str | None) -> bool:
        issued, _, mac = (token or "").partition(".")
        if not issued.isdigit() or abs(time.time() - int(issued)) > 3600:
            return False
        good = hmac.new(self.csrf_key, issued.encode(), hashlib.sha256).hexdigest()[:32]
        return hmac.compare_digest(good, mac)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    # --- plumbing ---------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, 1 << 20)) if length else b""

    def _send(
        self,
        status: int,
        body: bytes | str,
        ctype: str = "text/plain; charset=utf-8",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, status: int, value: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._send(status, json.dumps(value), "application/json", headers)

    def _record(self) -> None:
        self.server.seen.append((self.command, self.path, list(self.headers.items())))

    # --- routes -----------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record()
        path = urlsplit(self.path).path
        scenario = self.server.scenario
        if path == "/":
            self._page()
        elif path == "/login":
            self._send(200, _LOGIN_FORM, "text/html; charset=utf-8")
        elif path == "/favicon.ico":
            self._send(404, "no icon")
        elif scenario == "session" and path == "/api/profile":
            user = self.server.user_of(self.headers.get("Cookie"))
            if user is None:
                self._json(401, {"error": "login required"})
            else:
                self._json(200, {"user": user})
        elif path == "/api/data":
            self._data(scenario)
        else:
            self._send(404, "not found")

    def do_POST(self) -> None:
        self._record()
        path = urlsplit(self.path).path
        body = self._body()
        if path == "/login":
            form = parse_qs(body.decode("utf-8", "replace"))
            if form.get("username") == [USER] and form.get("password") == [PASSWORD]:
                sid = self.server.new_session(USER)
                cookie = f"{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"
                self._send(303, "", headers=(("Location", "/"), ("Set-Cookie", cookie)))
            else:
                self._send(401, _LOGIN_FORM.replace("<form", "<p>wrong</p><form"), "text/html")
        elif self.server.scenario == "csrf" and path == "/api/message":
            if self.server.user_of(self.headers.get("Cookie")) is None:
                self._json(401, {"error": "login required"})
            elif not self.server.csrf_valid(self.headers.get(CSRF_HEADER)):
                self._send(403, "Forbidden: CSRF token missing or incorrect.")
            else:
                self._json(200, {"stored": len(body)})
        else:
            self._send(404, "not found")

    def _data(self, scenario: str) -> None:
        ua = self.headers.get("User-Agent") or ""
        if scenario == "ua":
            if not ua.startswith("Mozilla/5.0") or _SCRIPT_UA.search(ua):
                self._send(
                    401,
                    "Access denied: automated clients are not allowed. Please use a web browser.",
                )
                return
        elif scenario == "fetchmeta":
            if self.headers.get("Sec-Fetch-Site") not in ("same-origin", "same-site", "none"):
                self._send(403, "Forbidden")
                return
        elif scenario == "hints":
            if not _BRAND.search(self.headers.get("sec-ch-ua") or ""):
                self._send(401, "Unsupported client: client hints (Sec-CH-UA) are required.")
                return
        elif scenario != "open":
            self._send(404, "not found")
            return
        self._json(200, {"data": [1, 2, 3], "scenario": scenario})

    def _page(self) -> None:
        scenario = self.server.scenario
        headers: tuple[tuple[str, str], ...] = ()
        if scenario == "session":
            headers = (("Set-Cookie", "theme=light; Path=/"),)
        if scenario == "csrf":
            if self.server.user_of(self.headers.get("Cookie")) is None:
                self._send(303, "", headers=(("Location", "/login"),))
                return
            token = html.escape(self.server.csrf_token())
            page = _CSRF_PAGE.replace("{token}", token)
        else:
            page = _PAGE.replace("{scenario}", html.escape(scenario))
        self._send(200, page, "text/html; charset=utf-8", headers)


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{scenario}</title></head>
<body><h1>{scenario}</h1>
<script>document.cookie = "_ga=GA1.1.1234567890.1700000000; path=/";</script>
</body></html>
"""

_LOGIN_FORM = """<!doctype html>
<html><head><meta charset="utf-8"><title>login</title></head>
<body><form method="post" action="/login">
<input name="username"><input name="password" type="password">
<button type="submit">Log in</button></form></body></html>
"""

# The page's own JavaScript reads the token from the meta tag and sends it as a header,
# as Rails/Laravel/Django front ends do; the title reports the outcome to the test.
_CSRF_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="csrf-token" content="{token}">
<title>csrf</title></head>
<body><h1>messages</h1>
<script>
const token = document.querySelector('meta[name="csrf-token"]').content;
fetch('/api/message', {
  method: 'POST',
  headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token},
  body: JSON.stringify({text: 'hello'}),
}).then(r => { document.title = 'done ' + r.status; });
</script>
</body></html>
"""


class CompareServer:
    """One running scenario server."""

    def __init__(self, scenario: str) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(scenario)
        self.scenario = scenario
        self.httpd = _Server(scenario)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"compare-{scenario}",
            daemon=True,
        )

    def start(self) -> CompareServer:
        self.thread.start()
        return self

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    @property
    def seen(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        return list(self.httpd.seen)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def start_all() -> dict[str, CompareServer]:
    servers: dict[str, CompareServer] = {}
    try:
        for scenario in SCENARIOS:
            servers[scenario] = CompareServer(scenario).start()
    except Exception:
        for server in servers.values():
            server.stop()
        raise
    return servers
