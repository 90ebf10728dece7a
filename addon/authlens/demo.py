"""``authlens demo``: typical authentication failures, for real, on loopback.

A small stdlib HTTP server on 127.0.0.1 (port 0) behaves like real sites do; two real
mitmdump processes run beside it: ``authlens`` (the addon loaded, flows written with
``-w``) and ``gate``, a proxy that demands credentials (mitmproxy's ``--proxyauth``).
Two clients send real requests through ``authlens``: a *script* (``urllib``, as a
Python job would) and a *browser-like* client (``http.client`` sending the headers Chrome
sends; no browser is needed). The capture is then judged like ``authlens analyze`` does.

Only the standard library and mitmproxy are used, nothing leaves 127.0.0.1, and every
password and token below is a throwaway value made up for the demo.

Scenarios (:data:`SCENARIOS`), each on its own paths so a capture can be split by them:

- ``basic-ok``: the browser-like client logs in with Basic: a normal challenge leg;
- ``basic-wrong-password``: the script sends a wrong Basic password;
- ``digest-stale-nonce``: the server retires its Digest nonce (``stale=true``), the
  script answers again and gets in;
- ``bearer-expired``: the script sends a JWT whose ``exp`` has passed;
- ``no-challenge``: a 401 without ``WWW-Authenticate``;
- ``session-cookie``: the browser-like client's request to an API carries the session
  cookie and is answered; the script's lacks it and is refused with a bare 401;
- ``login-redirect``: the script asks for a page and is sent to the login form instead
  (a "soft 401");
- ``proxy-407``: the script goes through a proxy that wants credentials it never sends.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

# Throwaway demo credentials (never real ones): tests check none of them, nor their base64,
# appears in the demo's outputs.
DEMO_USER = "alice"
DEMO_PASSWORD = "demo-Correct-Horse-42"
WRONG_PASSWORD = "demo-Wrong-Horse-41"
PROXY_USER, PROXY_PASSWORD = "proxyuser", "demo-Proxy-Pass-7"
JWT_KEY = b"authlens-demo-signing-key-not-a-real-one"
SESSION_ID = "demo-session-0f4e9a7c2b"
REALM = "authlens demo"

HOST = "127.0.0.1"
START_TIMEOUT = 30.0  # seconds for a mitmdump to report its listening address
STOP_TIMEOUT = 15.0
CLIENT_TIMEOUT = 10.0
_LISTENING = re.compile(r"proxy (\(upstream mode\) )?listening at \[?([0-9a-fA-F.:]+?)\]?:(\d+)")

CHROME_HEADERS = (
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
    ),
    ("sec-ch-ua", '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Linux"'),
    ("Upgrade-Insecure-Requests", "1"),
    (
        "Accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
        "image/apng,*/*;q=0.8",
    ),
    ("Sec-Fetch-Site", "none"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-User", "?1"),
    ("Sec-Fetch-Dest", "document"),
    ("Accept-Language", "en-US,en;q=0.9"),
)


CHROME_FETCH_HEADERS = (
    CHROME_HEADERS[0],
    CHROME_HEADERS[1],
    CHROME_HEADERS[2],
    CHROME_HEADERS[3],
    ("Accept", "application/json"),
    ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Dest", "empty"),
    ("Accept-Language", "en-US,en;q=0.9"),
)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    paths: tuple[str, ...]  # URL paths whose flows belong to it
    summary: str  # one line, for README and the demo's output


SCENARIOS = (
    Scenario("basic-ok", ("/intranet",), "Basic login that works: a normal challenge leg (info)"),
    Scenario(
        "basic-wrong-password", ("/files",), "Basic with a wrong password: credentials-rejected"
    ),
    Scenario(
        "digest-stale-nonce",
        ("/digest",),
        "Digest nonce retired by the server (stale=true), answered again: digest-stale-nonce",
    ),
    Scenario("bearer-expired", ("/api/orders",), "Bearer JWT past its exp: token-expired"),
    Scenario(
        "no-challenge", ("/legacy/export",), "401 without WWW-Authenticate: missing-challenge"
    ),
    Scenario(
        "session-cookie",
        ("/api/profile",),
        "the browser's request carries the session cookie and is answered, the script's "
        "lacks it and is refused: missing-session-cookie",
    ),
    Scenario(
        "login-redirect",
        ("/account", "/login"),
        "the script is sent to the login form instead of a 401: login-redirect",
    ),
    Scenario(
        "proxy-407",
        ("/reports",),
        "a proxy wants credentials the script never sends: proxy-auth-required",
    ),
)


# --- tokens ---------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(*, exp_offset: int, now: float | None = None) -> str:
    """An HS256 JWT for the demo API, expiring ``exp_offset`` seconds from now."""
    issued = int(now if now is not None else time.time())
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"sub": DEMO_USER, "scope": "orders:read", "iat": issued - 7200}
    claims["exp"] = issued + exp_offset
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = _b64url(hmac.new(JWT_KEY, signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def _jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a demo JWT with a valid signature, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = _b64url(
        hmac.new(JWT_KEY, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    )
    if not hmac.compare_digest(expected, parts[2]):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


# --- the server -----------------------------------------------------------------------------


class DemoHandler(BaseHTTPRequestHandler):
    """The demo site. Each route is one honest server behaviour (see the module docstring)."""

    protocol_version = "HTTP/1.1"
    timeout = 15
    server: DemoServer
    routes: ClassVar[dict[str, str]] = {
        "/intranet": "basic",
        "/files": "basic",
        "/digest": "digest",
        "/api/orders": "bearer",
        "/legacy/export": "no_challenge",
        "/api/profile": "profile",
        "/account": "account",
        "/login": "login",
        "/reports": "reports",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return "authlens-demo/1.0"

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 16))
        route = self.routes.get(urlsplit(self.path).path)
        if route is None:
            self.reply(404, b"not found\n")
            return
        handler: Callable[[], None] = getattr(self, "route_" + route)
        handler()

    def reply(
        self,
        status: int,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        self.send_response(status)
        for name, value in headers or ():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorization(self) -> tuple[str, str]:
        scheme, _, rest = (self.headers.get("Authorization") or "").partition(" ")
        return scheme.lower(), rest.strip()

    # Basic
    def route_basic(self) -> None:
        scheme, token = self._authorization()
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(token).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user = password = ""
            if (user, password) == (DEMO_USER, DEMO_PASSWORD):
                self.reply(200, b"welcome, alice\n")
                return
        challenge = f'Basic realm="{REALM}", charset="UTF-8"'
        self.reply(401, b"authentication required\n", [("WWW-Authenticate", challenge)])

    # Digest, with a nonce that goes stale after its first correct use
    def route_digest(self) -> None:
        scheme, rest = self._authorization()
        if scheme != "digest":
            # A first contact gets a nonce the server will retire after one use.
            self._digest_challenge(stale=False, retire=True)
            return
        params = dict(_DIGEST_PARAM.findall(rest))
        params = {k.lower(): v.strip('"') for k, v in params.items()}
        nonce = params.get("nonce", "")
        if not self.server.nonce_known(nonce):
            self._digest_challenge(stale=False)
            return
        ha1 = _md5(f"{DEMO_USER}:{REALM}:{DEMO_PASSWORD}")
        ha2 = _md5(f"{self.command}:{params.get('uri', '')}")
        expected = _md5(
            f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:"
            f"{params.get('qop', '')}:{ha2}"
        )
        if params.get("username") != DEMO_USER or params.get("response") != expected:
            self._digest_challenge(stale=False)
        elif self.server.retire_once(nonce):
            self._digest_challenge(stale=True)  # right answer, nonce retired: RFC 7616 §3.3
        else:
            self.reply(200, b"digest ok\n")

    def _digest_challenge(self, *, stale: bool, retire: bool = False) -> None:
        value = (
            f'Digest realm="{REALM}", qop="auth", algorithm=MD5, '
            f'nonce="{self.server.new_nonce(retire=retire)}", opaque="authlens-demo"'
        )
        if stale:
            value += ", stale=true"
        self.reply(401, b"digest required\n", [("WWW-Authenticate", value)])

    # Bearer JWT
    def route_bearer(self) -> None:
        scheme, token = self._authorization()
        if scheme != "bearer":
            self.reply(401, b"", [("WWW-Authenticate", 'Bearer realm="orders"')])
            return
        claims = _jwt_claims(token)
        if claims is None:
            error = 'error="invalid_token", error_description="The signature is invalid"'
        elif float(claims.get("exp", 0)) < time.time():
            error = 'error="invalid_token", error_description="The access token expired"'
        else:
            self.reply(200, b'{"orders": []}\n', content_type="application/json")
            return
        self.reply(
            401,
            b'{"error": "invalid_token"}\n',
            [("WWW-Authenticate", f'Bearer realm="orders", {error}')],
            content_type="application/json",
        )

    # 401 with no challenge at all
    def route_no_challenge(self) -> None:
        self.reply(401, b"Unauthorized\n")

    # A session-cookie site: its API refuses requests without the session cookie...
    def route_profile(self) -> None:
        if f"sid={SESSION_ID}" in (self.headers.get("Cookie") or ""):
            self.reply(200, b'{"user": "alice"}\n', content_type="application/json")
        else:
            body = b'{"error": "not logged in"}\n'
            self.reply(401, body, content_type="application/json")

    # ... and its pages send visitors without it to the login form
    def route_account(self) -> None:
        cookies = self.headers.get("Cookie") or ""
        if f"sid={SESSION_ID}" in cookies:
            self.reply(200, b"<h1>Your account</h1>\n", content_type="text/html")
        else:
            self.reply(302, b"", [("Location", "/login?next=/account")])

    def route_login(self) -> None:
        form = b'<form method="post" action="/login"><input name="user"><input name="password" type="password"></form>\n'
        self.reply(200, form, content_type="text/html")

    def route_reports(self) -> None:
        self.reply(200, b"reports\n")


# name=value pairs of a Digest Authorization. Linear under findall: a name may only start
# where a word starts (the lookbehind) and nothing it took is given back (possessive), so
# a long run of word characters without "=" is scanned once, not once per position.
_DIGEST_PARAM = re.compile(r'(?<!\w)(\w++)=("[^"]*+"|[^,\s]*+)')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class DemoServer(ThreadingHTTPServer):
    """The demo site on 127.0.0.1, port 0, served from a daemon thread."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), DemoHandler)
        self._lock = threading.Lock()
        self._nonces: set[str] = set()
        self._retiring: set[str] = set()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def new_nonce(self, *, retire: bool = False) -> str:
        nonce = secrets.token_hex(16)
        with self._lock:
            if len(self._nonces) < 1000:
                self._nonces.add(nonce)
                if retire:
                    self._retiring.add(nonce)
        return nonce

    def nonce_known(self, nonce: str) -> bool:
        with self._lock:
            return nonce in self._nonces

    def retire_once(self, nonce: str) -> bool:
        """True when a nonce marked for retirement is first answered correctly: the server
        calls it stale (and issues a fresh one that stays valid)."""
        with self._lock:
            if nonce in self._retiring:
                self._retiring.discard(nonce)
                return True
            return False

    def start(self) -> DemoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


# --- mitmdump processes ---------------------------------------------------------------------


class MitmdumpProcess:
    """One mitmdump child (this interpreter's mitmproxy), stopped by its PID."""

    def __init__(self, name: str, workdir: Path, args: list[str], *, addon: bool) -> None:
        from authlens.commands.web import MITMDUMP, child_env, mitmproxy_command

        self.name = name
        self.log_path = workdir / f"{name}.log"
        base = [
            "--listen-host", HOST,
            "--set", f"confdir={workdir / 'conf'}",
            "--set", "flow_detail=0",
            "--set", "termlog_verbosity=info",
        ]  # fmt: skip
        self.command = mitmproxy_command(MITMDUMP, [*base, *args], addon=addon)
        self.env = {k: v for k, v in child_env().items() if not k.lower().endswith("_proxy")}
        self.proc: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}

    def start(self) -> MitmdumpProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        return self

    def wait_listening(self, modes: int = 1) -> MitmdumpProcess:
        """Wait until ``modes`` listening lines are logged; ports by mode ("regular",
        "upstream")."""
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for match in _LISTENING.finditer(self.log()):
                self.ports["upstream" if match.group(1) else "regular"] = int(match.group(3))
            if len(self.ports) >= modes:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.log()[-1500:]
        self.stop()
        raise DemoError(f"mitmdump ({self.name}) did not start:\n{tail}")

    def stop(self) -> int | None:
        """SIGINT (mitmproxy shuts down cleanly, so the addon's ``done`` runs), then kill."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if hasattr(signal, "SIGINT") and os.name == "posix":
                    os.kill(proc.pid, signal.SIGINT)
                else:
                    proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        return proc.returncode

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class DemoError(Exception):
    """The demo could not run (a process did not start); one readable message."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --- clients ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    scenario: str
    client: str
    status: int | None = None
    error: str | None = None


def _script_opener(
    proxy: str, *handlers: urllib.request.BaseHandler
) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}), *handlers)


def _script_get(
    opener: urllib.request.OpenerDirector, url: str, headers: dict[str, str] | None = None
) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=CLIENT_TIMEOUT) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        exc.close()
        return int(exc.code)


def _browser_get(
    proxy_port: int, url: str, extra: list[tuple[str, str]] | None = None, *, fetch: bool = False
) -> int:
    """One request the way Chrome sends it (headers, order), through the proxy: a page
    navigation, or with ``fetch`` a script's ``fetch()`` from the same site."""
    conn = http.client.HTTPConnection(HOST, proxy_port, timeout=CLIENT_TIMEOUT)
    try:
        conn.putrequest("GET", url, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", urlsplit(url).netloc)
        conn.putheader("Connection", "keep-alive")
        headers = CHROME_FETCH_HEADERS if fetch else CHROME_HEADERS
        for name, value in (*headers, *(extra or [])):
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return int(response.status)
    finally:
        conn.close()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def drive(server: DemoServer, regular: int, upstream: int) -> list[Outcome]:
    """Send every scenario's requests; a client failure is recorded, never raised."""
    proxy = f"http://{HOST}:{regular}"
    outcomes: list[Outcome] = []

    def run(scenario: str, client: str, fn: Callable[[], int]) -> None:
        outcome = Outcome(scenario, client)
        try:
            outcome.status = fn()
        except (OSError, http.client.HTTPException) as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"
        outcomes.append(outcome)

    def browser_login() -> int:
        # What a browser does: ask, get the challenge, prompt the user, ask again.
        first = _browser_get(regular, server.url("/intranet"))
        if first != 401:
            return first
        return _browser_get(
            regular, server.url("/intranet"), [("Authorization", _basic(DEMO_USER, DEMO_PASSWORD))]
        )

    run("basic-ok", "browser-like", browser_login)

    def wrong_password() -> int:
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, server.url("/"), DEMO_USER, WRONG_PASSWORD)
        opener = _script_opener(proxy, urllib.request.HTTPBasicAuthHandler(manager))
        return _script_get(opener, server.url("/files"))

    run("basic-wrong-password", "script", wrong_password)

    def digest() -> int:
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, server.url("/"), DEMO_USER, DEMO_PASSWORD)
        opener = _script_opener(proxy, urllib.request.HTTPDigestAuthHandler(manager))
        return _script_get(opener, server.url("/digest"))

    run("digest-stale-nonce", "script", digest)

    expired = make_jwt(exp_offset=-3600)
    run(
        "bearer-expired",
        "script",
        lambda: _script_get(
            _script_opener(proxy), server.url("/api/orders"), {"Authorization": f"Bearer {expired}"}
        ),
    )
    run(
        "no-challenge",
        "script",
        lambda: _script_get(_script_opener(proxy), server.url("/legacy/export")),
    )
    run(
        "session-cookie",
        "browser-like",
        lambda: _browser_get(
            regular, server.url("/api/profile"), [("Cookie", f"sid={SESSION_ID}")], fetch=True
        ),
    )
    run(
        "session-cookie",
        "script",
        lambda: _script_get(_script_opener(proxy), server.url("/api/profile")),
    )
    run(
        "login-redirect",
        "script",
        lambda: _script_get(_script_opener(proxy), server.url("/account")),
    )
    run(
        "proxy-407",
        "script",
        lambda: _script_get(_script_opener(f"http://{HOST}:{upstream}"), server.url("/reports")),
    )
    return outcomes


# --- the whole run ----------------------------------------------------------------------------


@dataclass
class Capture:
    """What :func:`record` produced: the flow file and what each client saw."""

    flow_file: Path
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0


@contextlib.contextmanager
def record(workdir: Path | None = None) -> Iterator[Capture]:
    """Run the scenarios through real mitmdump processes; yields the capture.

    The flow file is complete (mitmdump stopped, the addon's late annotations applied)
    when the block is entered; the work directory is removed when it ends unless the
    caller gave it.
    """
    started = time.monotonic()
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="authlens-demo-")) if workdir is None else workdir
    try:
        work.mkdir(parents=True, exist_ok=True)
        capture = Capture(work / "capture.mitm")
        server = DemoServer().start()
        procs: list[MitmdumpProcess] = []
        try:
            gate = MitmdumpProcess(
                "gate",
                work,
                ["--listen-port", "0", "--proxyauth", f"{PROXY_USER}:{PROXY_PASSWORD}"],
                addon=False,
            ).start()
            procs.append(gate)
            gate.wait_listening()
            authlens = _start_authlens(work, gate.ports["regular"], capture.flow_file, procs)
            capture.outcomes = drive(server, authlens.ports["regular"], authlens.ports["upstream"])
        finally:
            for proc in reversed(procs):
                proc.stop()
            server.stop()
        capture.seconds = time.monotonic() - started
        if not capture.flow_file.exists():
            raise DemoError("mitmdump wrote no capture:\n" + procs[-1].log()[-1500:])
        yield capture
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def _start_authlens(
    work: Path, gate_port: int, flow_file: Path, procs: list[MitmdumpProcess]
) -> MitmdumpProcess:
    # Two listeners: regular for most scenarios, upstream (through the gate) for the 407.
    # mitmproxy cannot open two servers on port 0, so the second port is picked here; a
    # port taken in between just means one more try.
    last: DemoError | None = None
    for _attempt in range(3):
        args = [
            "--mode", "regular@0",
            "--mode", f"upstream:http://{HOST}:{gate_port}@{_free_port()}",
            "-w", str(flow_file),
        ]  # fmt: skip
        proc = MitmdumpProcess("authlens", work, args, addon=True).start()
        procs.append(proc)
        try:
            return proc.wait_listening(modes=2)
        except DemoError as exc:
            last = exc
            procs.remove(proc)
    raise last or DemoError("mitmdump (authlens) did not start")
