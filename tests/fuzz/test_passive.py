"""Passive guarantee: authlens changes no byte of the traffic it watches.

A real loopback origin records the SHA-256 of every request it receives (request line,
header fields in order with their raw bytes, body); a real client (``http.client``, with
keep-alive, repeated fields, non-UTF-8 values, chunked and large bodies) sends one fixed
mixed run (401 challenges of every common scheme, credentials, NTLM on one connection,
redirects, 407s from the origin, errors) through two real mitmdump processes, one plain
and one with ``-s addon/authlens_addon.py``, and hashes every response it receives
(status, reason, header fields in order, body). Both sides must be identical, request by
request.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ENTRY_SCRIPT = ROOT / "addon" / "authlens_addon.py"
GUARD_SCRIPT = ROOT / "tests" / "e2e" / "loopback_only.py"
_LISTENING = re.compile(r"listening at (?:http://)?\[?([0-9.]+)\]?:(\d+)")
START_TIMEOUT = 60.0
NTLM_CHALLENGE = base64.b64encode(
    b"NTLMSSP\x00\x02\x00\x00\x00\x08\x00\x08\x00\x38\x00\x00\x00\x15\x82\x89\xe2"
    + b"\x01\x23\x45\x67\x89\xab\xcd\xef" + b"\x00" * 8 + b"\x00\x00\x00\x00\x40\x00\x00\x00"
    + b"\x0a\x00\x63\x45\x00\x00\x00\x0f" + "CORP".encode("utf-16-le")
).decode()  # fmt: skip


# --- the origin ---------------------------------------------------------------------------------


class Recorder:
    """Request hashes per run and case, in arrival order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hashes: dict[str, list[tuple[str, str]]] = {}
        self.run = ""

    def add(self, case: str, digest: str) -> None:
        with self.lock:
            self.hashes.setdefault(self.run, []).append((case, digest))


class Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    recorder: Recorder

    def version_string(self) -> str:  # no changing Server/Date: responses hash the same
        return "origin/1"

    def date_time_string(self, timestamp: float | None = None) -> str:
        return "Mon, 01 Jan 2024 00:00:00 GMT"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            for _ in range(100_000):
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
            raise ValueError("too many chunks")
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._body()
        digest = hashlib.sha256()
        digest.update(self.raw_requestline)
        for name, value in self.headers.raw_items():
            digest.update(
                name.encode("latin-1")
                + b": "
                + value.encode("latin-1", "surrogateescape")
                + b"\r\n"
            )
        digest.update(body)
        case = self.headers.get("X-Case", "?")
        self.recorder.add(case, digest.hexdigest())
        status, headers, payload = respond(self.path, self.headers, body)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_OPTIONS = do_HEAD = do_DELETE = _handle


def respond(path: str, headers: object, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    get = headers.get  # type: ignore[attr-defined]
    auth = get("Authorization") or ""
    route = path.split("?", 1)[0]
    if route == "/basic":
        if auth == "Basic " + base64.b64encode(b"alice:wonderland").decode():
            return 200, [("Content-Type", "text/plain")], b"welcome alice"
        return 401, [("WWW-Authenticate", 'Basic realm="r", charset="UTF-8"')], b"<h1>401</h1>"
    if route == "/digest":
        if auth.startswith("Digest "):
            return (
                401,
                [("WWW-Authenticate", 'Digest realm="d", nonce="n2", qop="auth", stale=true')],
                b"",
            )
        return 401, [("WWW-Authenticate", 'Digest realm="d", nonce="n1", qop="auth", algorithm=SHA-256'),
                     ("WWW-Authenticate", 'Digest realm="d", nonce="n1", qop="auth", algorithm=MD5')], b""  # fmt: skip
    if route == "/ntlm":
        if auth.startswith("NTLM TlRMTVNTUAAB"):
            return 401, [("WWW-Authenticate", "NTLM " + NTLM_CHALLENGE)], b""
        if auth.startswith("NTLM "):
            return 200, [], b"ntlm ok"
        return 401, [("WWW-Authenticate", "NTLM"), ("WWW-Authenticate", "Negotiate")], b""
    if route == "/bearer":
        return (
            401,
            [
                (
                    "WWW-Authenticate",
                    'Bearer realm="api", error="invalid_token", error_description="expired"',
                )
            ],
            b"{}",
        )
    if route == "/proxy":
        return 407, [("Proxy-Authenticate", 'Basic realm="corp"')], b"proxy says no"
    if route == "/redirect":
        return 302, [("Location", "/login?next=/private")], b""
    if route == "/bytes":
        return (
            401,
            [("WWW-Authenticate", 'Basic realm="caf\xe9"'), ("X-Raw", "\xff\xfe")],
            bytes(range(256)),
        )
    if route == "/echo":
        return (
            200,
            [("Content-Type", "application/octet-stream")],
            hashlib.sha256(body).digest() + body[:1000],
        )
    if route == "/big":
        return 200, [("Content-Type", "application/octet-stream")], b"\x00\x01" * 300_000
    return 404, [], b"nothing here"


@pytest.fixture(scope="module")
def origin() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    handler = type("BoundOrigin", (Origin,), {"recorder": recorder})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# --- the proxies --------------------------------------------------------------------------------


def mitmdump() -> list[str]:
    beside = Path(sys.executable).with_name("mitmdump")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mitmdump")
    if not found:
        pytest.skip("mitmdump not found")
    return [found]


@dataclass
class Proxy:
    name: str
    workdir: Path
    authlens: bool
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "mitmdump.log"

    def start(self) -> Proxy:
        cmd = [
            *mitmdump(), "--listen-host", "127.0.0.1", "--listen-port", "0",
            "--set", f"confdir={self.workdir / 'conf'}", "--set", "flow_detail=0",
            "--set", "termlog_verbosity=info", "-s", str(GUARD_SCRIPT),
        ]  # fmt: skip
        if self.authlens:
            cmd += ["-s", str(ENTRY_SCRIPT), "--set", "authlens_no_retry_after=1"]
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log())
            if match:
                self.port = int(match.group(2))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mitmdump {self.name} did not start:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


# --- the client ---------------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode()


NTLM_NEGOTIATE = base64.b64encode(
    b"NTLMSSP\x00\x01\x00\x00\x00\x97\x82\x08\xe2" + b"\x00" * 16
).decode()
NTLM_AUTHENTICATE = base64.b64encode(
    b"NTLMSSP\x00\x03\x00\x00\x00" + b"\x00" * 48 + b"\x15\x82\x88\xe2" + b"\x00" * 24
).decode()

# (case, method, path, header fields, body, new connection?)
Step = tuple[str, str, str, list[tuple[str, bytes]], bytes | None, bool]
STEPS: list[Step] = [
    ("plain", "GET", "/", [("Accept", b"*/*")], None, True),
    ("basic-1", "GET", "/basic", [("User-Agent", b"python-requests/2.32")], None, False),
    ("basic-2", "GET", "/basic", [("Authorization", f"Basic {b64('alice:wonderland')}".encode())], None, False),
    ("basic-wrong", "GET", "/basic", [("Authorization", f"Basic {b64('alice:nope')}".encode())], None, False),
    ("basic-wrong", "GET", "/basic", [("Authorization", f"Basic {b64('alice:nope')}".encode())], None, False),
    ("basic-wrong", "GET", "/basic", [("Authorization", f"Basic {b64('alice:nope')}".encode())], None, False),
    ("basic-latin1", "GET", "/basic", [("Authorization", b"Basic " + base64.b64encode(b"j\xf6rg:p\xe4ss"))], None, False),
    ("digest-1", "GET", "/digest?x=1", [], None, False),
    ("digest-2", "GET", "/digest?x=1", [("Authorization", b'Digest username="alice", realm="d", nonce="n1", uri="/digest", response="00112233445566778899aabbccddeeff", qop=auth, nc=00000001, cnonce="c"')], None, False),
    ("ntlm-1", "GET", "/ntlm", [], None, True),
    ("ntlm-2", "GET", "/ntlm", [("Authorization", f"NTLM {NTLM_NEGOTIATE}".encode())], None, False),
    ("ntlm-3", "GET", "/ntlm", [("Authorization", f"NTLM {NTLM_AUTHENTICATE}".encode())], None, False),
    ("ntlm-split", "GET", "/ntlm", [("Authorization", f"NTLM {NTLM_AUTHENTICATE}".encode())], None, True),
    ("bearer", "GET", "/bearer", [("Authorization", b"Bearer eyJhbGciOiJub25lIn0.eyJleHAiOjF9.")], None, False),
    ("proxy", "GET", "/proxy", [("Proxy-Authorization", f"Basic {b64('bob:pw')}".encode())], None, False),
    ("redirect", "GET", "/redirect", [("Authorization", b"Basic Zm9vOmJhcg==")], None, False),
    ("bytes", "GET", "/bytes", [("X-Raw", b"\xff\xfe\x80"), ("Authorization", b"Basic \xff\xff")], None, False),
    ("repeated", "GET", "/basic", [("Accept", b"a"), ("accept", b"b"), ("ACCEPT", b"c"), ("Cookie", b"s=1"), ("Cookie", b"t=2")], None, False),
    ("junk-auth", "GET", "/basic", [("Authorization", b'Digest realm="open, nonce=' + b"\\" * 2000)], None, False),
    ("post", "POST", "/echo", [("Content-Type", b"application/json"), ("Authorization", b"Bearer opaque-token")], b'{"a": 1}' * 1000, False),
    ("put-binary", "PUT", "/echo", [("Authorization", b"Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg")], bytes(range(256)) * 400, False),
    ("chunked", "POST", "/echo", [("Transfer-Encoding", b"chunked")], b"chunk" * 5000, False),
    ("options", "OPTIONS", "/basic", [("Origin", b"http://127.0.0.2"), ("Access-Control-Request-Method", b"GET")], None, False),
    ("head", "HEAD", "/basic", [], None, False),
    ("big", "GET", "/big", [], None, True),
    ("missing", "DELETE", "/nope", [("Authorization", b"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab")], None, False),
]  # fmt: skip


def drive(proxy_port: int, origin_port: int) -> list[tuple[str, str]]:
    """Send every step through the proxy; the SHA-256 of each response as received."""
    out: list[tuple[str, str]] = []
    conn: http.client.HTTPConnection | None = None
    for case, method, path, fields, body, new_connection in STEPS:
        if conn is None or new_connection:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=30)
        url = f"http://127.0.0.1:{origin_port}{path}"
        conn.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", f"127.0.0.1:{origin_port}")
        conn.putheader("X-Case", case)
        chunked = any(name.lower() == "transfer-encoding" for name, _ in fields)
        for name, value in fields:
            conn.putheader(name, value)
        if body is not None and not chunked:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body is not None and chunked:
            for i in range(0, len(body), 997):
                part = body[i : i + 997]
                conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            conn.send(b"0\r\n\r\n")
        elif body is not None:
            conn.send(body)
        response = conn.getresponse()
        payload = response.read()
        digest = hashlib.sha256(f"{response.status} {response.reason}\r\n".encode())
        for name, value in response.getheaders():
            digest.update(name.encode("latin-1") + b": " + value.encode("latin-1") + b"\r\n")
        digest.update(payload)
        out.append((case, digest.hexdigest()))
    if conn is not None:
        conn.close()
    return out


def test_forwarded_bytes_identical_with_and_without_authlens(
    origin: tuple[Recorder, int], tmp_path: Path
) -> None:
    recorder, origin_port = origin
    client_side: dict[str, list[tuple[str, str]]] = {}
    logs: dict[str, str] = {}
    for name, with_addon in (("plain", False), ("authlens", True)):
        proxy = Proxy(name, tmp_path / name, with_addon).start()
        try:
            recorder.run = name
            client_side[name] = drive(proxy.port, origin_port)
            time.sleep(1.5)  # let the expiry task fire (no-retry after 1 s) while running
        finally:
            proxy.stop()
            logs[name] = proxy.log()
    assert "authlens" in logs["authlens"], logs["authlens"][-3000:]
    assert "internal error" not in logs["authlens"], logs["authlens"][-3000:]
    assert "Traceback" not in logs["authlens"], logs["authlens"][-3000:]
    # The addon did judge this traffic (so the comparison means something).
    for diagnosis in (
        "credentials-rejected",
        "token-expired",
        "preflight-requires-auth",
        "login-redirect",
        "digest-stale-nonce",
        "basic-charset-mismatch",
    ):
        assert diagnosis in logs["authlens"], (diagnosis, logs["authlens"][-3000:])
    server_side = recorder.hashes
    assert len(server_side["plain"]) >= len(STEPS) - 1  # the proxy 407 still reaches us
    assert server_side["plain"] == server_side["authlens"]
    assert [c for c, _ in client_side["plain"]] == [step[0] for step in STEPS]
    assert client_side["plain"] == client_side["authlens"]


def test_origin_hashes_detect_a_changed_byte(origin: tuple[Recorder, int]) -> None:
    """The comparison is sharp: one header byte differing changes the hash."""
    recorder, port = origin
    recorder.run = "probe"
    for value in (b"a", b"b"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(
                b"GET / HTTP/1.1\r\nHost: x\r\nX-Case: probe\r\nX-V: "
                + value
                + b"\r\nConnection: close\r\n\r\n"
            )
            while s.recv(65536):
                pass
    first, second = recorder.hashes["probe"]
    assert first[1] != second[1]
