"""Soak: a million mixed flows through authlens, memory sampled; it must stay flat.

Not part of the normal test run (a small version is tests/fuzz/test_soak_small.py). Run::

    python tests/soak/soak_addon.py                          # 1,000,000 flows, addon + engine
    python tests/soak/soak_addon.py --mode engine --flows 1000000
    python tests/soak/soak_addon.py --mode addon --flows 200000 --sample-every 20000
    python tests/soak/soak_addon.py --no-tracemalloc          # faster; RSS only

What it drives (deterministic: ``--seed``):

- 90 % ordinary traffic (GET/POST answered 200/304/404, no auth fields; half of it from
  a browser with cookies, which the comparison indexes as possible baselines);
- 10 % authentication traffic in scripted sessions across ``--clients`` client machines
  (each session on fresh client connections, as browsers open them) and ``--spaces``
  protection spaces (origins x realms): Basic challenge then success, challenges never
  answered (``no-retry``), repeated refusals of one user (``lockout-suspected``), NTLM
  handshakes on one connection and split across two (``connection-auth-broken``), Digest,
  an expired Bearer JWT, proxy 407s answered on Proxy-Authorization, login redirects,
  and a browser let in where a script is then refused (browser-versus-script pairing).

``--mode addon`` runs mitmproxy flows through the hooks of every addon the entry script
loads (``AuthLens`` and its companions) in-process (a ``taddons`` context, hooks in
mitmproxy's order, flows dropped after their hooks as mitmdump drops them); ``--mode
engine`` runs :class:`authlens.model.Exchange` objects straight through
:class:`authlens.diagnose.Analyzer`. Both call ``expire`` about once a simulated second, as
the addon's expiry task does. ``--mode harness`` builds the same flows and calls no hook:
its time per flow is the harness's own, to subtract from ``--mode addon``.

Every ``--sample-every`` flows it prints RSS (``VmRSS`` of /proc/self/status), Python
heap in use (tracemalloc), the sizes of every bounded table (handshake tracker, engine's
stored contexts, the addon's id -> flow map and late annotations) and the time per flow.
At the end it compares the last sample with the first one after ``--warmup`` (a fraction
of the run, by then every LRU is full) and exits 1 when RSS or the traced heap grew by
more than ``--max-growth-mb``, or a table exceeded its cap.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import logging
import random
import struct
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "addon"))

# --- traffic -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Leg:
    """One planned request/response: what the generator hands to either driver."""

    method: str
    url: str
    request_headers: list[tuple[str, str]]
    status: int
    response_headers: list[tuple[str, str]]
    client_ip: str
    connection: str  # client connection id
    body: bytes = b""
    kind: str = "ordinary"


@dataclass(slots=True)
class Session:
    legs: list[Leg] = field(default_factory=list)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _jwt(exp: int) -> str:
    def seg(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{seg({'alg': 'RS256', 'typ': 'JWT'})}.{seg({'sub': 'svc', 'exp': exp, 'iat': exp - 3600})}.c2lnbmF0dXJl"


def _ntlm_negotiate() -> str:
    return _b64(b"NTLMSSP\x00" + struct.pack("<II", 1, 0xE2088297) + b"\x00" * 16)


def _ntlm_challenge(nonce: int) -> str:
    name = "CORP".encode("utf-16-le")
    info = struct.pack("<HH", 2, len(name)) + name + b"\x00\x00\x00\x00"
    msg = (
        b"NTLMSSP\x00" + struct.pack("<I", 2) + struct.pack("<HHI", len(name), len(name), 56)
        + struct.pack("<I", 0xE2898215) + nonce.to_bytes(8, "little") + b"\x00" * 8
        + struct.pack("<HHI", len(info), len(info), 56 + len(name)) + b"\x0a\x00\x63\x45\x00\x00\x00\x0f"
        + name + info
    )  # fmt: skip
    return _b64(msg)


def _ntlm_authenticate(user: str) -> str:
    parts = [b"\x00" * 24, b"\x11" * 16 + b"\x01\x01" + b"\x00" * 26 + b"\x00\x00\x00\x00",
             "CORP".encode("utf-16-le"), user.encode("utf-16-le"), "WS".encode("utf-16-le"), b""]  # fmt: skip
    offset, head = 88, b""
    for part in parts:
        head += struct.pack("<HHI", len(part), len(part), offset)
        offset += len(part)
    fixed = b"NTLMSSP\x00" + struct.pack("<I", 3) + head + struct.pack("<I", 0xE2888215)
    return _b64(fixed + b"\x0a\x00\x63\x45\x00\x00\x00\x0f" + b"\x00" * 16 + b"".join(parts))


class Traffic:
    """Deterministic mixed traffic: ``ordinary`` share of plain flows, the rest in sessions."""

    SESSION_KINDS = (
        "basic_ok", "basic_ok", "basic_noretry", "lockout", "ntlm_ok", "ntlm_split",
        "digest_ok", "bearer_expired", "proxy_407", "login_redirect", "browser_vs_script",
    )  # fmt: skip

    def __init__(self, seed: int, clients: int, spaces: int, ordinary: float) -> None:
        self.rng = random.Random(seed)
        self.clients = clients
        self.spaces = spaces
        self.ordinary = ordinary
        self.active: list[Session] = []
        self.counter = 0

    def _client(self) -> str:
        n = self.rng.randrange(self.clients)
        return f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255 or 1}"

    def _space(self) -> tuple[str, str]:
        n = self.rng.randrange(self.spaces)
        return f"https://app{n % 997}.test:{8000 + n % 7}", f"realm-{n}"

    def ordinary_leg(self) -> Leg:
        path = f"/static/{self.rng.randrange(100_000)}.js"
        headers = (
            self.browser_headers(f"sid={self.rng.randrange(10**9)}")
            if self.rng.random() < 0.5
            else [("User-Agent", "Go-http-client/1.1"), ("Accept", "*/*")]
        )
        return Leg(
            self.rng.choice(["GET", "GET", "GET", "POST"]),
            f"https://site{self.rng.randrange(5000)}.test{path}",
            headers,
            self.rng.choice([200, 200, 200, 304, 404]),
            [("Content-Type", "text/javascript"), ("Server", "nginx")],
            self._client(),
            str(uuid.uuid4()),
            body=b"x" * 64,
        )

    @staticmethod
    def browser_headers(cookie: str) -> list[tuple[str, str]]:
        """What Chrome 131 sends on a navigation (so the comparison takes it as a browser)."""
        return [
            ("sec-ch-ua", '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
            ("sec-ch-ua-mobile", "?0"),
            ("sec-ch-ua-platform", '"Windows"'),
            ("Upgrade-Insecure-Requests", "1"),
            ("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                           "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Sec-Fetch-Site", "same-origin"),
            ("Sec-Fetch-Mode", "navigate"),
            ("Sec-Fetch-User", "?1"),
            ("Sec-Fetch-Dest", "document"),
            ("Accept-Encoding", "gzip, deflate, br, zstd"),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("Cookie", cookie),
        ]  # fmt: skip

    def new_session(self) -> Session:
        kind = self.rng.choice(self.SESSION_KINDS)
        self.counter += 1
        n = self.counter
        ip = self._client()
        conn = str(uuid.uuid4())
        origin, realm = self._space()
        url = f"{origin}/api/{n % 1000}"
        ua = [
            (
                "User-Agent",
                self.rng.choice(["curl/8.5.0", "python-requests/2.32", "Mozilla/5.0 Chrome/131.0"]),
            )
        ]
        user = f"user{self.rng.randrange(50_000)}"
        basic = ("Authorization", "Basic " + _b64(f"{user}:pw{n}".encode()))
        challenge = [("WWW-Authenticate", f'Basic realm="{realm}"'), ("Server", "nginx")]

        def leg(status: int, req: list[tuple[str, str]], resp: list[tuple[str, str]], c: str = conn,
                u: str = url) -> Leg:  # fmt: skip
            return Leg("GET", u, ua + req, status, resp, ip, c, kind=kind)

        if kind == "basic_ok":
            legs = [leg(401, [], challenge), leg(200, [basic], [])]
        elif kind == "basic_noretry":
            legs = [leg(401, [], challenge)]
        elif kind == "lockout":
            legs = [leg(401, [basic], challenge) for _ in range(4)]
        elif kind in ("ntlm_ok", "ntlm_split"):
            third = str(uuid.uuid4()) if kind == "ntlm_split" else conn
            legs = [
                leg(401, [], [("WWW-Authenticate", "NTLM"), ("WWW-Authenticate", "Negotiate")]),
                leg(401, [("Authorization", "NTLM " + _ntlm_negotiate())],
                    [("WWW-Authenticate", "NTLM " + _ntlm_challenge(n))]),
                leg(200 if kind == "ntlm_ok" else 401, [("Authorization", "NTLM " + _ntlm_authenticate(user))],
                    [] if kind == "ntlm_ok" else [("WWW-Authenticate", "NTLM")], c=third),
            ]  # fmt: skip
        elif kind == "digest_ok":
            nonce = f"{n:032x}"
            legs = [
                leg(401, [], [("WWW-Authenticate", f'Digest realm="{realm}", nonce="{nonce}", qop="auth", algorithm=SHA-256')]),
                leg(200, [("Authorization", f'Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                           f'uri="/api/{n % 1000}", response="{n:064x}", qop=auth, nc=00000001, cnonce="c{n}", algorithm=SHA-256')], []),
            ]  # fmt: skip
        elif kind == "bearer_expired":
            legs = [leg(401, [("Authorization", "Bearer " + _jwt(1_600_000_000 + n))],
                        [("WWW-Authenticate", f'Bearer realm="{realm}", error="invalid_token"'),
                         ("Date", "Mon, 01 Jan 2024 00:00:00 GMT")])]  # fmt: skip
        elif kind == "proxy_407":
            proxy = ("Proxy-Authorization", "Basic " + _b64(f"{user}:px".encode()))
            legs = [
                leg(407, [], [("Proxy-Authenticate", 'Basic realm="proxy"')]),
                leg(200, [proxy], []),
            ]
        elif kind == "browser_vs_script":  # the browser is let in, the script is not
            session_cookie = f"session=s{n}; csrftoken=t{n}"
            browser = Leg(
                "GET", url, self.browser_headers(session_cookie), 200, [], ip, conn, kind=kind
            )
            script = Leg("GET", url, [("User-Agent", "python-requests/2.32.3"), ("Accept", "*/*")],
                         403, [("Content-Type", "text/html")], ip, str(uuid.uuid4()), kind=kind)  # fmt: skip
            legs = [browser, script]
        else:  # login_redirect
            legs = [leg(302, [], [("Location", f"{origin}/login?next=/api/{n % 1000}")])]
        return Session(legs)

    def __iter__(self) -> Iterator[Leg]:
        rng = self.rng
        while True:
            if rng.random() < self.ordinary:
                yield self.ordinary_leg()
                continue
            if len(self.active) < 200 and (not self.active or rng.random() < 0.4):
                self.active.append(self.new_session())
            session = self.active[rng.randrange(len(self.active))]
            yield session.legs.pop(0)
            if not session.legs:
                self.active.remove(session)


# --- drivers -----------------------------------------------------------------------------------


class EngineDriver:
    """Exchanges straight into the Analyzer (no mitmproxy)."""

    def __init__(self, max_tracked: int, no_retry_after: float) -> None:
        from authlens.diagnose.api import Analyzer, AnalyzerConfig

        self.analyzer = Analyzer(
            AnalyzerConfig(max_tracked=max_tracked, no_retry_after=no_retry_after)
        )
        self.verdicts = 0

    def feed(self, leg: Leg, index: int, now: float) -> None:
        from authlens.model import Connection, Exchange, Headers, Request, Response

        exchange = Exchange(
            id=f"f{index}",
            request=Request(
                leg.method, leg.url, "HTTP/1.1", Headers(tuple(leg.request_headers)), b"", 0
            ),
            response=Response(
                leg.status,
                "",
                "HTTP/1.1",
                Headers(tuple(leg.response_headers)),
                leg.body,
                len(leg.body),
                generated_by_proxy=False,
            ),
            client=Connection(id=leg.connection, tls=True, peer=f"{leg.client_ip}:50000"),
            server=Connection(id="s", tls=True, peer="127.0.0.1:443"),
            timestamp_start=now,
            timestamp_end=now + 0.001,
        )
        if self.analyzer.is_relevant(exchange):
            self.verdicts += len(self.analyzer.observe(exchange))

    def expire(self, now: float) -> None:
        self.verdicts += len(self.analyzer.expire(now))

    def finish(self) -> None:
        self.verdicts += len(self.analyzer.finish())

    def tables(self) -> dict[str, int]:
        engine = self.analyzer._engine
        return _engine_tables(engine)


def _sizes(owner: Any, names: tuple[str, ...], prefix: str = "") -> dict[str, int]:
    """len() of each named table that ``owner`` has (tables come and go as code evolves)."""
    out: dict[str, int] = {}
    for name in names:
        table = getattr(owner, name, None)
        if table is not None:
            out[prefix + name.lstrip("_")] = len(table)
    return out


def _engine_tables(engine: Any) -> dict[str, int]:
    out = _sizes(engine._tracker, (
        "_legs", "_pending", "_identities", "_conversations", "_digest_by_nonce",
        "_digest_latest", "_redirects", "_deadlines"))  # fmt: skip
    out.update(_sizes(engine, ("_stored", "_awaiting", "_cookie_history")))
    pairing = getattr(engine, "_pairing", None)
    if pairing is not None:
        out.update(_sizes(pairing, ("_baselines", "_waiting"), "pairing_"))
    return out


class AddonDriver:
    """mitmproxy flows through the AuthLens hooks inside a taddons context."""

    def __init__(self, max_tracked: int, no_retry_after: float, hooks: bool = True) -> None:
        from mitmproxy import connection, http
        from mitmproxy.test import taddons, tflow

        import authlens.mitm.entry as entry
        from authlens.mitm.addon import AuthLens

        self.http = http
        self.connection = connection
        self.tflow = tflow
        # Every addon the entry script loads (authlens and its companions), fresh.
        self.addons = [type(a)() for a in entry.addons]
        self.addon = next(a for a in self.addons if isinstance(a, AuthLens))
        self.context = taddons.context(*self.addons)
        self.tctx = self.context.__enter__()
        # The test Master's log handler queues a callback per log record on an event loop
        # that never runs here: a leak of the harness, not of authlens. Remove it.
        self.tctx.master._legacy_log_events.uninstall()
        self.tctx.configure(self.addon, authlens_max_tracked=max_tracked,
                            authlens_no_retry_after=int(no_retry_after))  # fmt: skip
        # The hooks each addon has once configured, as mitmproxy looks them up (some exist
        # only while needed). hooks=False (--mode harness): build and drop the same flows,
        # call no addon: the cost of the harness itself, to subtract from --mode addon.
        self.requests = [h for a in self.addons if hooks and callable(h := getattr(a, "request", None))]
        self.responses = [h for a in self.addons if hooks and callable(h := getattr(a, "response", None))]
        self.servers = [tflow.tserver_conn() for _ in range(8)]
        self.clients: dict[str, Any] = {}

    def _client(self, leg: Leg) -> Any:
        conn = self.clients.get(leg.connection)
        if conn is None:
            conn = self.tflow.tclient_conn()
            conn.id = leg.connection
            conn.peername = (leg.client_ip, 50_000)
            if len(self.clients) > 500:  # connections close; keep a few hundred open
                self.clients.pop(next(iter(self.clients)))
            self.clients[leg.connection] = conn
        return conn

    def feed(self, leg: Leg, index: int, now: float) -> None:
        http = self.http
        scheme, rest = leg.url.split("://", 1)
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        request = http.Request(
            host=host, port=int(port or 443), method=leg.method.encode(), scheme=scheme.encode(),
            authority=b"", path=("/" + path).encode(), http_version=b"HTTP/1.1",
            headers=http.Headers([(k.encode(), v.encode()) for k, v in leg.request_headers]),
            content=b"", trailers=None, timestamp_start=now, timestamp_end=now + 0.0005,
        )  # fmt: skip
        flow = http.HTTPFlow(self._client(leg), self.servers[index % len(self.servers)])
        flow.request = request
        flow.live = True
        for hook in self.requests:
            hook(flow)
        flow.response = http.Response(
            http_version=b"HTTP/1.1", status_code=leg.status, reason=b"",
            headers=http.Headers([(k.encode(), v.encode()) for k, v in leg.response_headers]),
            content=leg.body, trailers=None, timestamp_start=now + 0.0006, timestamp_end=now + 0.001,
        )  # fmt: skip
        for hook in self.responses:
            hook(flow)
        # mitmdump keeps no reference: the flow dies here.

    def expire(self, now: float) -> None:
        self.addon._expire(now)

    def finish(self) -> None:
        for addon in self.addons:
            done = getattr(addon, "done", None)
            if done is not None:
                done()
        self.context.__exit__(None, None, None)

    def tables(self) -> dict[str, int]:
        engine = self.addon.analyzer._engine  # type: ignore[union-attr]
        out = _engine_tables(engine)
        out.update(_sizes(self.addon, ("_tracked", "_late", "_made_by_proxy"), "addon_"))
        for other in self.addons:
            if other is not self.addon:
                out.update(_sizes(other, ("_ja4", "_compared", "_tasks", "flows"), "companion_"))
        return out


# --- measuring ---------------------------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Sample:
    flows: int
    rss_mb: float
    traced_mb: float | None
    seconds: float
    tables: dict[str, int]


class CountingHandler(logging.Handler):
    """Formats every authlens log record (its real cost) and counts it, nothing else."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)
        self.count += 1


def run(mode: str, args: argparse.Namespace) -> tuple[list[Sample], dict[str, Any]]:
    driver: EngineDriver | AddonDriver
    flows = args.flows if mode == "addon" or args.engine_flows is None else args.engine_flows
    if mode == "engine":
        driver = EngineDriver(args.max_tracked, args.no_retry_after)
    else:
        driver = AddonDriver(args.max_tracked, args.no_retry_after, hooks=mode == "addon")
    logs = CountingHandler()
    logger = logging.getLogger("authlens")
    logger.addHandler(logs)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    traffic = iter(Traffic(args.seed, args.clients, args.spaces, args.ordinary))
    samples: list[Sample] = []
    gc.collect()
    if args.tracemalloc:
        tracemalloc.start()
    start = time.perf_counter()
    clock = 1_700_000_000.0
    next_expire = clock + 1.0
    auth = 0
    print(f"\n== {mode}: {flows:,} flows, max_tracked={args.max_tracked}, "
          f"clients={args.clients:,}, spaces={args.spaces:,}", flush=True)  # fmt: skip
    print(f"{'flows':>10} {'RSS MB':>8} {'heap MB':>8} {'us/flow':>8}  tables", flush=True)
    last_t, last_n = start, 0
    for index in range(1, flows + 1):
        leg = next(traffic)
        clock += args.tick
        if leg.kind != "ordinary":
            auth += 1
        driver.feed(leg, index, clock)
        if clock >= next_expire:
            driver.expire(clock)
            next_expire = clock + 1.0
        if index % args.sample_every == 0 or index == flows:
            now = time.perf_counter()
            gc.collect()
            traced = tracemalloc.get_traced_memory()[0] / 2**20 if args.tracemalloc else None
            sample = Sample(index, rss_mb(), traced, now - start, driver.tables())
            samples.append(sample)
            per_flow = (now - last_t) / max(1, index - last_n) * 1e6
            last_t, last_n = time.perf_counter(), index
            heap = f"{traced:8.1f}" if traced is not None else f"{'-':>8}"
            tables = " ".join(f"{k}={v}" for k, v in sample.tables.items())
            print(f"{index:>10,} {sample.rss_mb:8.1f} {heap} {per_flow:8.1f}  {tables}", flush=True)
    elapsed = time.perf_counter() - start
    driver.finish()
    if args.tracemalloc:
        tracemalloc.stop()
    logger.removeHandler(logs)
    logger.propagate = True
    info = {"mode": mode, "flows": flows, "auth_flows": auth, "seconds": elapsed,
            "us_per_flow": elapsed / flows * 1e6, "log_records": logs.count}  # fmt: skip
    if isinstance(driver, EngineDriver):
        info["verdicts"] = driver.verdicts
    return samples, info


def judge(samples: list[Sample], info: dict[str, Any], args: argparse.Namespace) -> list[str]:
    problems: list[str] = []
    cap = max(16, args.max_tracked)
    # Warm-up ends at --warmup, or later while the capped tables are still filling: growth
    # while an LRU fills up to its cap is the cap at work, not a leak. (The deadline heap
    # is left out: it is compacted, so it oscillates by design.)
    filling = [k for k, v in samples[-1].tables.items() if v >= 0.9 * cap and k != "deadlines"]
    warm = [
        s
        for s in samples
        if s.flows >= args.warmup * info["flows"]
        and all(s.tables.get(k, 0) >= 0.9 * cap for k in filling)
    ]
    if len(warm) < 2:
        return ["not enough samples after warm-up (lower --sample-every or run longer)"]
    first, last = warm[0], warm[-1]
    info["warm_after_flows"] = first.flows
    rss_growth = last.rss_mb - first.rss_mb
    info["rss_after_warmup_mb"] = round(first.rss_mb, 1)
    info["rss_end_mb"] = round(last.rss_mb, 1)
    info["rss_growth_mb"] = round(rss_growth, 2)
    if rss_growth > args.max_growth_mb:
        problems.append(f"RSS grew {rss_growth:.1f} MB after warm-up (limit {args.max_growth_mb})")
    if first.traced_mb is not None and last.traced_mb is not None:
        heap_growth = last.traced_mb - first.traced_mb
        info["heap_after_warmup_mb"] = round(first.traced_mb, 2)
        info["heap_end_mb"] = round(last.traced_mb, 2)
        info["heap_growth_mb"] = round(heap_growth, 2)
        if heap_growth > args.max_growth_mb:
            problems.append(f"traced heap grew {heap_growth:.1f} MB after warm-up")
    for name, size in last.tables.items():
        # The heap of no-retry deadlines is compacted at twice the cap.
        limit = 2 * cap + 1 if name == "deadlines" else cap
        if size > limit:
            problems.append(f"table {name} holds {size} entries, above its cap {limit}")
    info["largest_tables"] = dict(sorted(last.tables.items(), key=lambda kv: -kv[1])[:4])
    return problems


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("addon", "engine", "both", "harness"), default="both")
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument(
        "--engine-flows", type=int, default=None, help="flows for the engine run (default --flows)"
    )
    parser.add_argument("--sample-every", type=int, default=50_000)
    parser.add_argument("--max-tracked", type=int, default=10_000)
    parser.add_argument("--no-retry-after", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--spaces", type=int, default=2_000)
    parser.add_argument("--ordinary", type=float, default=0.9)
    parser.add_argument("--tick", type=float, default=0.002, help="simulated seconds between flows")
    parser.add_argument(
        "--warmup", type=float, default=0.3, help="fraction of the run before judging growth"
    )
    parser.add_argument("--max-growth-mb", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-tracemalloc", dest="tracemalloc", action="store_false")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    failed = False
    for mode in ("engine", "addon") if args.mode == "both" else (args.mode,):
        samples, info = run(mode, args)
        problems = judge(samples, info, args)
        print(json.dumps(info, indent=1))
        for problem in problems:
            print("FAIL:", problem)
        failed = failed or bool(problems)
    print("soak:", "FAILED" if failed else "ok (flat after warm-up, tables within their caps)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
