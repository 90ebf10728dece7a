"""Shared helpers for the authlens benchmarks (loopback only, every loop bounded).

* a fast HTTP/1.1 keep-alive origin server (``python _loopback.py origin``) that answers
  200, 401 or 407 by path, with real-world Basic/Digest/Bearer/NTLM/Negotiate challenges;
* the request catalogue of the three traffic kinds (``ordinary``, ``all401``, ``mixed``),
  shared by the live-proxy benchmark and the capture builder of the replay benchmark;
* load generators: ``wrk`` with a generated Lua script (preferred) or a multi-connection
  asyncio client (``python _loopback.py client``) when wrk is not installed;
* process control: start a process, wait for its port, stop it by its PID (SIGINT, then
  SIGTERM, then SIGKILL, each with a timeout); ``/proc`` readers for VmRSS / VmHWM;
* small statistics and table helpers.

Nothing here talks to any address outside 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_ADDON = REPO / "addon" / "authlens_addon.py"
LOOPBACK = "127.0.0.1"

# --------------------------------------------------------------------------------------
# Header values: real-world challenges and credentials (all static, so runs are repeatable)
# --------------------------------------------------------------------------------------

_DIGEST_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
_DIGEST_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
# NTLM messages made once with pyspnego (user alice, wrong password), kept verbatim.
NTLM_TYPE1 = "TlRMTVNTUAABAAAAN4II4gAAAAAoAAAAAAAAACgAAAAADAQAAAAADw=="
NTLM_TYPE2 = (
    "TlRMTVNTUAACAAAABAAEADgAAAA1gori/rEIyzgUl4EAAAAAAAAAADoAOgA8AAAAAAwEAAAAAA9WAE0AAQAEAFYA"
    "TQACABYAVwBPAFIASwBTAFQAQQBUAEkATwBOAAMABAB2AG0ABwAIAIDrAFy1et0BAAAAAA=="
)
NTLM_TYPE3 = (
    "TlRMTVNTUAADAAAAGAAYAFgAAACWAJYAcAAAAAAAAAAGAQAACgAKAAYBAAAEAAQAEAEAABAAEAAUAQAANYKK4gAM"
    "BAAAAAAPsUrp9FHxRFsadz09Uj6CVAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIKBYNIhiVtlz4J2MrX66QYBAQAA"
    "AAAAAIDrAFy1et0BMh6bIwMQ7oMAAAAAAQAEAFYATQACABYAVwBPAFIASwBTAFQAQQBUAEkATwBOAAMABAB2AG0A"
    "BwAIAIDrAFy1et0BCQAgAGgAbwBzAHQALwBvAHIAaQBnAGkAbgAuAHQAZQBzAHQABgAEAAIAAAAAAAAAAAAAAGEA"
    "bABpAGMAZQBWAE0AuTguWxh/iQ352o19Phnzqw=="
)
# SPNEGO NegTokenInit wrapping an NTLM type-1 message (what a client without Kerberos sends).
NEGOTIATE_TOKEN = (
    "YEgGBisGAQUFAqA+MDygDjAMBgorBgEEAYI3AgIKoioEKE5UTE1TU1AAAQAAADeCCOIAAAAAKAAAAAAAAAAoAAAA"
    "AAwEAAAAAA8="
)


def _b64url(obj: dict[str, Any]) -> str:
    raw = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# An expired HS256 JWT (the signature is 32 fixed bytes: nothing verifies it).
BEARER_JWT = ".".join(
    [
        _b64url({"alg": "HS256", "typ": "JWT", "kid": "bench-1"}),
        _b64url(
            {
                "sub": "alice",
                "aud": "https://api.bench.test",
                "iss": "https://issuer.bench.test",
                "iat": 1700000000,
                "exp": 1700003600,
                "scope": "read write",
            }
        ),
        base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode(),
    ]
)

CHALLENGES: dict[str, list[str]] = {
    "basic": ['Basic realm="bench", charset="UTF-8"'],
    "digest": [
        f'Digest realm="bench", qop="auth, auth-int", algorithm=SHA-256, nonce="{_DIGEST_NONCE}", opaque="{_DIGEST_OPAQUE}"',
        f'Digest realm="bench", qop="auth", algorithm=MD5, nonce="{_DIGEST_NONCE}", opaque="{_DIGEST_OPAQUE}"',
    ],
    "digest-stale": [
        f'Digest realm="bench", qop="auth", algorithm=SHA-256, nonce="{_DIGEST_NONCE[::-1]}", opaque="{_DIGEST_OPAQUE}", stale=true',
    ],
    "bearer": ['Bearer realm="bench", scope="read write"'],
    "bearer-expired": [
        'Bearer realm="bench", error="invalid_token", error_description="The access token expired"'
    ],
    "ntlm": ["NTLM", "Negotiate"],
    "ntlm-type2": [f"NTLM {NTLM_TYPE2}"],
    "negotiate": ["Negotiate", 'Basic realm="bench"'],
    "multi": ['Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"'],
}

CREDENTIALS: dict[str, str] = {
    "basic": "Basic " + base64.b64encode(b"alice:wrong-password").decode(),
    "basic-ok": "Basic " + base64.b64encode(b"alice:correct horse").decode(),
    "digest": (
        f'Digest username="alice", realm="bench", uri="/r401/digest", algorithm=SHA-256, '
        f'nonce="{_DIGEST_NONCE}", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", '
        f'qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", '
        f'opaque="{_DIGEST_OPAQUE}"'
    ),
    "bearer": f"Bearer {BEARER_JWT}",
    "ntlm1": f"NTLM {NTLM_TYPE1}",
    "ntlm3": f"NTLM {NTLM_TYPE3}",
    "negotiate": f"Negotiate {NEGOTIATE_TOKEN}",
}

BODY_200 = b"x" * 120 + b"bench-ok\n"  # a small body (129 bytes)
BODY_401 = b"<html><body><h1>401 Unauthorized</h1></body></html>\n"
BODY_407 = b"<html><body><h1>407 Proxy Authentication Required</h1></body></html>\n"
BODY_404 = b"not found\n"

# --------------------------------------------------------------------------------------
# The origin server
# --------------------------------------------------------------------------------------


def _response(
    status: int, reason: str, headers: Sequence[tuple[str, str]], body: bytes
) -> tuple[bytes, bytes]:
    """Pre-rendered response bytes: (keep-alive variant, connection-close variant)."""
    lines = [f"HTTP/1.1 {status} {reason}", "Server: bench-origin", "Content-Type: text/html"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines).encode("latin-1")
    return head + b"\r\n\r\n" + body, head + b"\r\nConnection: close\r\n\r\n" + body


def _r200() -> tuple[bytes, bytes]:
    return _response(200, "OK", [("Cache-Control", "no-store")], BODY_200)


def _r401(kind: str) -> tuple[bytes, bytes]:
    return _response(
        401, "Unauthorized", [("WWW-Authenticate", v) for v in CHALLENGES[kind]], BODY_401
    )


def _r407(kind: str) -> tuple[bytes, bytes]:
    return _response(
        407,
        "Proxy Authentication Required",
        [("Proxy-Authenticate", v) for v in CHALLENGES[kind]],
        BODY_407,
    )


@dataclass(frozen=True)
class Route:
    """What the origin answers on one path.

    ``always``: the answer without credentials (and with, unless ``ok_with`` says otherwise);
    ``ok_with``: a (lower-case) header whose presence turns the answer into 200;
    ``step``: (header prefix, answer) for a middle step of a handshake (NTLM type 1 -> 2).
    """

    always: tuple[bytes, bytes]
    ok_with: bytes | None = None
    step: tuple[bytes, tuple[bytes, bytes]] | None = None


def build_routes() -> dict[bytes, Route]:
    ok = _r200()
    routes: dict[bytes, Route] = {b"/ok": Route(ok)}
    for kind in (
        "basic",
        "digest",
        "digest-stale",
        "bearer",
        "bearer-expired",
        "ntlm",
        "ntlm-type2",
        "negotiate",
        "multi",
    ):
        # /r401/<kind>: always 401 (wrong or no credentials); /hs/<kind>: 401 until credentials come.
        routes[f"/r401/{kind}".encode()] = Route(_r401(kind))
        routes[f"/r407/{kind}".encode()] = Route(_r407(kind))
        routes[f"/hs/{kind}".encode()] = Route(_r401(kind), ok_with=b"\r\nauthorization:")
        routes[f"/hsp/{kind}".encode()] = Route(_r407(kind), ok_with=b"\r\nproxy-authorization:")
    # NTLM: no credentials -> 401 "NTLM"; type 1 -> 401 with type 2; type 3 -> 200.
    routes[b"/hs/ntlm"] = Route(
        _r401("ntlm"),
        ok_with=b"\r\nauthorization: ntlm tlrmtvntuaadaaaa",
        step=(b"\r\nauthorization: ntlm tlrmtvntuaaba", _r401("ntlm-type2")),
    )
    routes[b"/hsp/ntlm"] = Route(
        _r407("ntlm"),
        ok_with=b"\r\nproxy-authorization: ntlm tlrmtvntuaadaaaa",
        step=(b"\r\nproxy-authorization: ntlm tlrmtvntuaaba", _r407("ntlm-type2")),
    )
    return routes


class _OriginProtocol(asyncio.Protocol):
    routes: ClassVar[dict[bytes, Route]] = {}
    served = 0
    connections = 0

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        _OriginProtocol.connections += 1

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        out: list[bytes] = []
        close = False
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            line_end = head.find(b"\r\n")
            request_line = head if line_end < 0 else head[:line_end]
            fields = head[line_end:].lower() if line_end >= 0 else b""
            body_len = 0
            cl = fields.find(b"\r\ncontent-length:")
            if cl >= 0:
                eol = fields.find(b"\r\n", cl + 2)
                body_len = int(fields[cl + 17 : eol if eol >= 0 else None].strip() or b"0")
            if len(buf) < end + 4 + body_len:
                break
            buf = buf[end + 4 + body_len :]
            parts = request_line.split(b" ")
            target = parts[1] if len(parts) > 1 else b"/"
            if target.startswith(b"http://"):
                target = target[target.find(b"/", 7) :] if target.find(b"/", 7) > 0 else b"/"
            answer = dispatch(self.routes, target, fields)
            close = b"\r\nconnection: close" in fields
            out.append(answer[1] if close else answer[0])
            _OriginProtocol.served += 1
            if close:
                buf = b""
                break
        self.buf = buf
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
            if close:
                self.transport.close()


_OK = _r200()
_NOT_FOUND = _response(404, "Not Found", [], BODY_404)


def dispatch(routes: dict[bytes, Route], target: bytes, fields: bytes) -> tuple[bytes, bytes]:
    """The origin's answer (keep-alive, close) to an origin-form target and the request's
    lower-cased header block (starting with CRLF)."""
    q = target.find(b"?")
    route = routes.get(target if q < 0 else target[:q])
    if route is None:
        return _NOT_FOUND
    if route.ok_with is not None and route.ok_with in fields:
        return _OK
    if route.step is not None and route.step[0] in fields:
        return route.step[1]
    return route.always


def answer_for(
    req: Req, routes: dict[bytes, Route] | None = None
) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """What the origin answers to ``req``: (status, reason, header fields, body)."""
    fields = "".join(f"\r\n{k}: {v}" for k, v in req.headers).lower().encode("latin-1")
    raw = dispatch(routes or build_routes(), req.path.encode(), fields)[0]
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    _, status, reason = lines[0].split(" ", 2)
    headers = [(k, v.lstrip()) for k, _, v in (ln.partition(":") for ln in lines[1:])]
    return int(status), reason, headers, body


async def _serve_origin(host: str, port: int, max_seconds: float) -> None:
    _OriginProtocol.routes = build_routes()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_OriginProtocol, host, port, backlog=1024, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": bound}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=max_seconds)
    except TimeoutError:
        print("origin: max lifetime reached, stopping", file=sys.stderr)
    server.close()
    print(
        json.dumps({"served": _OriginProtocol.served, "connections": _OriginProtocol.connections}),
        file=sys.stderr,
        flush=True,
    )


# --------------------------------------------------------------------------------------
# The request catalogue of the traffic kinds
# --------------------------------------------------------------------------------------

KINDS = ("ordinary", "all401", "mixed")


@dataclass(frozen=True)
class Req:
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    expect: int = 200  # the status the origin answers with


_UA = ("User-Agent", "bench-client/1.0")
_ACCEPT = ("Accept", "application/json, text/plain;q=0.9, */*;q=0.1")


def request_mix(kind: str) -> list[Req]:
    """The cyclic request sequence of one traffic kind (origin paths and request fields).

    * ``ordinary``: GET /ok with browser-ish fields, every answer 200;
    * ``all401``: every answer is a 401 (first tries without credentials, and retries with
      wrong Basic, Digest, expired Bearer JWT, NTLM type 1/3 and Negotiate tokens);
    * ``mixed``: 100 requests, 90 answered 200 (some credentialed: completed Basic, Digest,
      Bearer and NTLM handshakes) and 10 answered 401/407 (Basic, Digest, stale Digest,
      Bearer, NTLM type 2, Negotiate, proxy Basic/NTLM).
    """
    if kind == "ordinary":
        return [
            Req(f"/ok?page={i}", (_UA, _ACCEPT, ("Cookie", f"session=s{i:04d}; theme=dark")))
            for i in range(10)
        ]
    if kind == "all401":
        return [
            Req("/r401/basic", (_UA, _ACCEPT), 401),
            Req("/r401/basic", (_UA, ("Authorization", CREDENTIALS["basic"])), 401),
            Req("/r401/digest", (_UA, _ACCEPT), 401),
            Req("/r401/digest-stale", (_UA, ("Authorization", CREDENTIALS["digest"])), 401),
            Req("/r401/bearer", (_UA, _ACCEPT), 401),
            Req("/r401/bearer-expired", (_UA, ("Authorization", CREDENTIALS["bearer"])), 401),
            Req("/r401/ntlm", (_UA,), 401),
            Req("/r401/ntlm-type2", (_UA, ("Authorization", CREDENTIALS["ntlm1"])), 401),
            Req("/r401/ntlm", (_UA, ("Authorization", CREDENTIALS["ntlm3"])), 401),
            Req("/r401/negotiate", (_UA, ("Authorization", CREDENTIALS["negotiate"])), 401),
            Req("/r401/multi", (_UA, _ACCEPT), 401),
            Req("/r401/basic", (_UA, ("Authorization", CREDENTIALS["bearer"])), 401),
        ]
    if kind == "mixed":
        auth: list[Req] = [
            # 10 refusals (401/407) ...
            Req("/hs/basic", (_UA, _ACCEPT), 401),
            Req("/hs/digest", (_UA, _ACCEPT), 401),
            Req("/r401/digest-stale", (_UA, ("Authorization", CREDENTIALS["digest"])), 401),
            Req("/hs/bearer", (_UA, _ACCEPT), 401),
            Req("/r401/bearer-expired", (_UA, ("Authorization", CREDENTIALS["bearer"])), 401),
            Req("/hs/ntlm", (_UA,), 401),
            Req("/hs/ntlm", (_UA, ("Authorization", CREDENTIALS["ntlm1"])), 401),
            Req("/r401/negotiate", (_UA, ("Authorization", CREDENTIALS["negotiate"])), 401),
            Req("/hsp/basic", (_UA,), 407),
            Req("/r407/basic", (_UA, ("Proxy-Authorization", CREDENTIALS["basic"])), 407),
        ]
        ok_auth: list[Req] = [
            # ... and the successful ends of handshakes (200)
            Req("/hs/basic", (_UA, ("Authorization", CREDENTIALS["basic-ok"]))),
            Req("/hs/digest", (_UA, ("Authorization", CREDENTIALS["digest"]))),
            Req("/hs/bearer", (_UA, ("Authorization", CREDENTIALS["bearer"]))),
            Req("/hs/ntlm", (_UA, ("Authorization", CREDENTIALS["ntlm3"]))),
            Req("/hsp/basic", (_UA, ("Proxy-Authorization", CREDENTIALS["basic-ok"]))),
        ]
        plain = request_mix("ordinary")
        seq: list[Req] = []
        # 100 slots: a refusal every 10th slot, its successful retry right after it when there is one.
        oks = iter(ok_auth)
        plain_i = 0
        for block in range(10):
            seq.append(auth[block])
            nxt = next(oks, None) if block % 2 == 0 else None
            if nxt is not None:
                seq.append(nxt)
            while len(seq) < (block + 1) * 10:
                seq.append(plain[plain_i % len(plain)])
                plain_i += 1
        assert len(seq) == 100 and sum(r.expect != 200 for r in seq) == 10
        return seq
    raise ValueError(f"unknown traffic kind {kind!r}")


def with_connection_close(seq: list[Req], close_every: int) -> list[Req]:
    """Mark every ``close_every``-th request ``Connection: close`` (the client reconnects)."""
    if close_every <= 0:
        return seq
    out = []
    for i, r in enumerate(seq, 1):
        if i % close_every == 0:
            r = Req(r.path, (*r.headers, ("Connection", "close")), r.expect)
        out.append(r)
    return out


def raw_request(req: Req, origin_port: int) -> bytes:
    """The absolute-form request a client sends to a regular-mode proxy."""
    host = f"{LOOPBACK}:{origin_port}"
    lines = [f"GET http://{host}{req.path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in req.headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# --------------------------------------------------------------------------------------
# Process control and /proc readers
# --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any] | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process {proc.pid} exited with {proc.returncode} before listening on {port}"
            )
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {LOOPBACK}:{port} after {timeout:.0f}s")


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
    """Stop one process we started, by its PID: SIGINT, then SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return proc.returncode
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


class Processes:
    """Every process a benchmark starts; ``close()`` stops each by its PID (also at exit)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []

    def start(self, cmd: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen(list(cmd), **kw)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        while self.procs:
            stop_process(self.procs.pop())

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def install_signal_cleanup(procs: Processes) -> None:
    """On SIGTERM/SIGHUP stop our children before exiting (SIGINT raises KeyboardInterrupt)."""

    def _handler(signum: int, frame: object) -> None:
        procs.close()
        sys.exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _handler)


def proc_status_kib(pid: int, field_name: str) -> int:
    """A ``VmRSS``/``VmHWM``... field of /proc/PID/status in KiB (0 when unavailable)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            rest = fh.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(rest[11]) + int(rest[12])) / ticks
    except (OSError, IndexError, ValueError):
        return 0.0


def bench_env() -> dict[str, str]:
    """An identical environment for every measured process (deterministic hashing)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MITMPROXY"))}
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    env["LC_ALL"] = "C.UTF-8"
    return env


def default_mitmdump() -> str:
    cand = Path(sys.executable).with_name("mitmdump")
    if cand.exists():
        return str(cand)
    found = shutil.which("mitmdump")
    if found:
        return found
    raise SystemExit("mitmdump not found next to this Python nor on PATH; pass --mitmdump")


def check_addon(path: Path) -> Path:
    if not path.exists():
        raise SystemExit(
            f"addon script {path} does not exist (yet); pass --addon PATH to measure another one"
        )
    return path.resolve()


def make_confdir(root: Path, name: str, mitmdump: str) -> Path:
    """A private confdir with mitmproxy's CA already generated (key generation is random
    work that must not land in a measurement)."""
    confdir = root / name
    confdir.mkdir(parents=True, exist_ok=True)
    if not (confdir / "mitmproxy-ca.pem").exists():
        empty = root / "empty.mitm"
        empty.touch()
        subprocess.run(
            [mitmdump, "-q", "-n", "-r", str(empty), "--set", f"confdir={confdir}"],
            env=bench_env(),
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )
    return confdir


# --------------------------------------------------------------------------------------
# Load generation
# --------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int  # socket errors (connect/read/write/timeout)
    non2xx: int  # responses with status >= 400
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def _lua_str(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid Lua string literal here (ASCII)


def wrk_script(seq: list[Req], origin_port: int, limit: int, marker: Path | None = None) -> str:
    """wrk's Lua script: each thread (one connection each when -t == -c) walks ``seq``
    cyclically from its own offset; with ``limit`` > 0 each thread stops after ``limit``
    responses and appends a line to ``marker`` (wrk's main thread only wakes on its -d or
    on SIGINT, which the harness sends when every thread has written its line)."""
    host = f"{LOOPBACK}:{origin_port}"
    lines = [
        "local reqs = {}",
        "local n = 0",
        "local i = 0",
        "local done_n = 0",
        f"local limit = {limit}",
        "local counter = 0",
        'setup = function(thread)\n  counter = counter + 1\n  thread:set("tid", counter)\nend',
        "init = function(args)",
    ]
    for r in seq:
        hdrs = ", ".join(
            f"[{_lua_str(k)}] = {_lua_str(v)}" for k, v in (("Host", host), *r.headers)
        )
        lines.append(
            f'  reqs[#reqs + 1] = wrk.format("GET", {_lua_str(f"http://{host}{r.path}")}, {{{hdrs}}})'
        )
    lines.append("  n = #reqs")
    # Start each thread at its own place in the cycle (7 is prime to typical lengths).
    lines.append('  i = ((tonumber(wrk.thread:get("tid")) or 1) - 1) * 7 % n')
    lines.append("end")
    lines.append("request = function()\n  i = i % n + 1\n  return reqs[i]\nend")
    if limit > 0:
        assert marker is not None
        lines.append(
            "response = function(status, headers, body)\n"
            "  done_n = done_n + 1\n"
            "  if done_n == limit then\n"
            f'    local f = io.open({_lua_str(str(marker))}, "a")\n'
            '    f:write("done\\n")\n'
            "    f:close()\n"
            "    wrk.thread:stop()\n"
            "  end\n"
            "end"
        )
    lines.append(
        "done = function(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        '  io.write(string.format("BENCH-RESULT requests=%d duration_us=%d errors=%d non2xx=%d p50_us=%d p99_us=%d\\n",\n'
        "    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,\n"
        "    latency:percentile(50), latency:percentile(99)))\n"
        "end"
    )
    return "\n".join(lines) + "\n"


def _parse_result(out: str) -> LoadResult:
    for line in out.splitlines():
        if line.startswith("BENCH-RESULT "):
            kv = dict(item.split("=", 1) for item in line.split()[1:])
            return LoadResult(
                requests=int(kv["requests"]),
                seconds=int(kv["duration_us"]) / 1e6,
                errors=int(kv["errors"]),
                non2xx=int(kv["non2xx"]),
                p50_ms=int(kv.get("p50_us", 0)) / 1e3,
                p99_ms=int(kv.get("p99_us", 0)) / 1e3,
            )
    raise RuntimeError(f"load generator printed no result:\n{out[-2000:]}")


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


_script_serial = 0


def run_load(
    *,
    proxy_port: int,
    origin_port: int,
    seq: list[Req],
    seconds: float,
    connections: int,
    threads: int | None = None,
    max_requests: int = 0,
    tool: str = "wrk",
    workdir: Path,
    cpus: set[int] | None = None,
) -> LoadResult:
    """One bounded load run against the proxy. ``max_requests`` > 0: stop after about that
    many responses (``seconds`` stays the upper bound). ``threads`` (wrk only) defaults to
    one per connection, so that each connection walks its own handshake sequence."""
    global _script_serial
    _script_serial += 1
    threads = max(1, min(threads or connections, connections))
    marker: Path | None = None
    if tool == "wrk":
        per_thread = (max_requests + threads - 1) // threads if max_requests > 0 else 0
        if per_thread:
            marker = workdir / f"load-{os.getpid()}-{_script_serial}.done"
            marker.unlink(missing_ok=True)
        script = workdir / f"load-{os.getpid()}-{_script_serial}.lua"
        script.write_text(wrk_script(seq, origin_port, per_thread, marker))
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{LOOPBACK}:{proxy_port}/",
        ]
    else:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "client",
            "--proxy-port",
            str(proxy_port),
            "--origin-port",
            str(origin_port),
            "--seconds",
            str(seconds),
            "--connections",
            str(connections),
            "--max-requests",
            str(max_requests),
            "--seq-json",
            json.dumps([[r.path, r.headers] for r in seq]),
        ]
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=preexec
    )
    try:
        if marker is not None:
            # Counted wrk run: wake wrk with SIGINT once every thread reached its count.
            deadline = time.monotonic() + seconds + 5
            while proc.poll() is None and time.monotonic() < deadline:
                if marker.exists() and marker.read_text().count("done") >= threads:
                    os.kill(proc.pid, signal.SIGINT)
                    break
                time.sleep(0.02)
        out, _ = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        raise
    finally:
        if proc.poll() is None:
            stop_process(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}):\n{out[-2000:]}")
    return _parse_result(out)


async def _client_main(
    proxy_port: int,
    origin_port: int,
    seconds: float,
    connections: int,
    max_requests: int,
    seq: list[Req],
) -> LoadResult:
    payloads = [raw_request(r, origin_port) for r in seq]
    closes = [
        any(k.lower() == "connection" and v.lower() == "close" for k, v in r.headers) for r in seq
    ]
    state = {"done": 0, "errors": 0, "non2xx": 0}
    lat: list[float] = []
    deadline = time.monotonic() + seconds

    def more() -> bool:
        return time.monotonic() < deadline and (max_requests <= 0 or state["done"] < max_requests)

    async def worker(wid: int) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        pos = wid * 7  # each connection walks the sequence from its own offset
        while more():
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(LOOPBACK, proxy_port)
                assert reader is not None
                k = pos % len(payloads)
                pos += 1
                t0 = time.perf_counter()
                writer.write(payloads[k])
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                status = int(head.split(b" ", 2)[1])
                lower = head.lower()
                cl = lower.find(b"\r\ncontent-length:")
                n = int(lower[cl + 17 : lower.find(b"\r\n", cl + 2)]) if cl >= 0 else 0
                if n:
                    await asyncio.wait_for(reader.readexactly(n), 10)
                lat.append(time.perf_counter() - t0)
                state["done"] += 1
                if status >= 400:
                    state["non2xx"] += 1
                if closes[k] or b"\r\nconnection: close" in lower:
                    writer.close()
                    writer = reader = None
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError):
                state["errors"] += 1
                if writer is not None:
                    writer.close()
                writer = reader = None
        if writer is not None:
            writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(connections)))
    elapsed = time.monotonic() - t0
    lat.sort()

    def pick(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3 if lat else 0.0

    return LoadResult(
        state["done"], elapsed, state["errors"], state["non2xx"], pick(0.5), pick(0.99)
    )


# --------------------------------------------------------------------------------------
# Statistics, tables, machine facts
# --------------------------------------------------------------------------------------


def median(xs: Iterable[float]) -> float:
    xs = list(xs)
    return statistics.median(xs) if xs else float("nan")


def median_ci(xs: Iterable[float], conf: float = 0.95) -> tuple[float, float, float]:
    """Distribution-free confidence interval of the median (order statistics, binomial):
    [x_(k), x_(n-k+1)] with the largest k whose coverage is still >= ``conf``; returns
    (low, high, coverage). With fewer than 6 values no interval reaches 95 %: then
    (min, max) and its smaller coverage (75 % for 3 values, 94 % for 5)."""
    ys = sorted(xs)
    n = len(ys)
    if not n:
        return float("nan"), float("nan"), 0.0
    alpha = (1 - conf) / 2
    cum, k, tail = 0.0, 0, 0.0
    for j in range(n + 1):
        p = math.comb(n, j) / 2**n
        if cum + p > alpha:
            break
        cum += p
        k, tail = j + 1, cum
    if k == 0:
        return ys[0], ys[-1], 1 - 2 / 2**n
    return ys[k - 1], ys[n - k], 1 - 2 * tail


def table(rows: Sequence[Sequence[Any]], header: Sequence[str], out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print(
            "  ".join(
                c.rjust(w) if n and _numeric(c) else c.ljust(w)
                for c, w in zip(row, widths, strict=True)
            ).rstrip(),
            file=out,
        )
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)
    out.flush()


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:,.1f}" if abs(c) >= 100 else f"{c:.3f}"
    if isinstance(c, int):
        return f"{c:,}"
    return str(c)


def _numeric(c: str) -> bool:
    return bool(c) and (c[0].isdigit() or c[0] in "+-.") and not c.startswith("--")


def machine_facts(mitmdump: str) -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        ver = subprocess.run(
            [mitmdump, "--version"], capture_output=True, text=True, timeout=60
        ).stdout
        mitm = next(
            (ln.split(":", 1)[1].strip() for ln in ver.splitlines() if ln.startswith("Mitmproxy")),
            "?",
        )
    except (OSError, subprocess.TimeoutExpired):
        mitm = "?"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "mitmproxy": mitm,
        "loadavg": load,
    }


def addon_fingerprint(addon: Path) -> str:
    """A short hash of the addon script and the ``authlens`` package beside it (``*.py``),
    so runs made while the addon changes can be told apart."""
    h = hashlib.sha256()
    files = [addon, *sorted((addon.parent / "authlens").rglob("*.py"))]
    newest = 0.0
    for f in files:
        with contextlib.suppress(OSError):
            h.update(str(f.relative_to(addon.parent)).encode() + b"\0" + f.read_bytes())
            newest = max(newest, f.stat().st_mtime)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(newest)) if newest else "?"
    return f"{h.hexdigest()[:12]} ({len(files)} files, newest modified {stamp})"


def snapshot_addon(addon: Path, work: Path) -> Path:
    """Copy the addon script and the ``authlens`` package beside it into ``work`` and
    return the copied script: every run of one benchmark then measures the same code even
    while the addon is being edited (and mitmproxy does not reload the script mid-run).
    mitmproxy puts the script's directory first on ``sys.path``, so the copy is imported."""
    dest = work / "addon-snapshot"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(addon, dest / addon.name)
    pkg = addon.parent / "authlens"
    if pkg.is_dir():
        shutil.copytree(
            pkg, dest / "authlens", ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True
        )
    return dest / addon.name


def print_facts(facts: dict[str, str]) -> None:
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)


def tmpdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def cycle(seq: Sequence[Req]) -> Iterator[Req]:
    while True:
        yield from seq


# --------------------------------------------------------------------------------------
# Entry points of the helper processes
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("origin", help='run the loopback origin server; prints {"port": N}')
    o.add_argument("--port", type=int, default=0)
    o.add_argument("--max-seconds", type=float, default=3600.0, help="lifetime bound")
    c = sub.add_parser("client", help="asyncio load generator (fallback for wrk)")
    c.add_argument("--proxy-port", type=int, required=True)
    c.add_argument("--origin-port", type=int, required=True)
    c.add_argument("--seconds", type=float, default=5.0)
    c.add_argument("--connections", type=int, default=16)
    c.add_argument("--max-requests", type=int, default=0)
    c.add_argument("--kind", choices=KINDS, default="ordinary")
    c.add_argument("--seq-json", default="")
    args = ap.parse_args(argv)
    if args.cmd == "origin":
        asyncio.run(_serve_origin(LOOPBACK, args.port, args.max_seconds))
        return 0
    seq = (
        [Req(p, tuple((k, v) for k, v in hs)) for p, hs in json.loads(args.seq_json)]
        if args.seq_json
        else request_mix(args.kind)
    )
    res = asyncio.run(
        _client_main(
            args.proxy_port,
            args.origin_port,
            args.seconds,
            args.connections,
            args.max_requests,
            seq,
        )
    )
    print(
        f"BENCH-RESULT requests={res.requests} duration_us={int(res.seconds * 1e6)} errors={res.errors} "
        f"non2xx={res.non2xx} p50_us={int(res.p50_ms * 1e3)} p99_us={int(res.p99_ms * 1e3)}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
