"""Offline benchmark: ``authlens analyze`` on a large capture against ``mitmdump -nr``.

Issue 6 (c) and (d): how long, how much CPU and how much memory does explaining a
100,000-flow capture take, next to mitmproxy merely reading the same file?

It builds (once; cached in the work directory, keyed by size, seed and the generator's code)
a mitmproxy flow file of mixed traffic from the soak test's generator
(``tests/soak/soak_addon.py`` ``Traffic``): about 90 % ordinary flows answered 200 (half
from a browser with cookies and Chrome's headers, half from scripts), 10 % in
authentication sessions: Basic (retried successfully, never retried, repeated refusals),
Digest, expired Bearer JWT, NTLM (on one connection and split across two), Negotiate
(SPNEGO wrapping NTLM, and challenges never answered), proxy 407s, login redirects and
browser-versus-script refusals. Flows are made with ``mitmproxy.test.tflow`` and written
with ``mitmproxy.io.FlowWriter``.

Then, in interleaved rounds (the order of the sides rotates every round), it runs each
side once on the whole capture:

* ``mitmdump``        ``mitmdump -q -n -r capture.mitm --set flow_detail=0``  (the baseline:
  mitmproxy only reads the file)
* ``mitmdump+addon``  the same with ``-s addon/authlens_addon.py`` (annotating a capture
  with the addon, the README's other way)
* ``analyze-json``    ``authlens analyze capture.mitm --json > out.json``
* ``analyze-all``     ``authlens analyze capture.mitm --json --html report.html --har
  annotated.har > out.json``

and reports per side the wall time, flows per second, CPU time (user + system) and peak
RSS (``ru_maxrss``) of the child, both from ``os.wait4``, and ratios against the baseline
(median of the per-round ratios: both sides of a ratio ran in the same round, minutes
apart, so slow phases of the shared machine cancel out partly).

``authlens`` is run as ``python -m authlens`` with ``PYTHONPATH`` set to a copy of
``addon/`` taken at start (the same copy the ``mitmdump+addon`` side loads), so that
edits made while the benchmark runs do not mix two versions into one result.

Examples::

    python tests/bench/bench_analyze.py                  # 100,000 flows, 3 rounds (~30-60 min here)
    python tests/bench/bench_analyze.py --quick          # 20,000 flows, 1 round (~5 min)
    python tests/bench/bench_analyze.py --rounds 5 --json results.json
    python tests/bench/bench_analyze.py --sides mitmdump,analyze-json
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
import types
import uuid
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "soak"))

import _loopback as lb

HERE = Path(__file__).resolve().parent

SIDES = ("mitmdump", "mitmdump+addon", "analyze-json", "analyze-all")
BASELINE = "mitmdump"
T0 = 1_700_000_000.0  # capture clock start (2023-11-14)
GENERATOR_VERSION = "1"  # bump when build_capture changes what it writes
DEFAULT_WORK = Path("/tmp/authlens-bench-analyze")

# --------------------------------------------------------------------------------------
# The capture
# --------------------------------------------------------------------------------------


def _traffic_class() -> type:
    """The soak test's traffic generator, with Negotiate sessions added and ordinary
    flows answered 200."""
    import soak_addon as soak

    class Traffic(soak.Traffic):  # type: ignore[misc,name-defined]
        NEGOTIATE_SHARE = 2 / 13  # two more session kinds next to soak's eleven

        def ordinary_leg(self) -> Any:
            leg = super().ordinary_leg()
            leg.status = 200
            return leg

        def new_session(self) -> Any:
            if self.rng.random() >= self.NEGOTIATE_SHARE:
                return super().new_session()
            self.counter += 1
            n = self.counter
            kind = self.rng.choice(("negotiate_fallback", "negotiate_noretry"))
            ip = self._client()
            conn = str(soak.uuid.uuid4())
            origin, _realm = self._space()
            url = f"{origin}/intranet/{n % 1000}"
            ua = [("User-Agent", self.rng.choice(["curl/8.5.0", "PowerShell/7.4"]))]
            offer = [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")]
            legs = [soak.Leg("GET", url, ua, 401, offer, ip, conn, kind=kind)]
            if kind == "negotiate_fallback":  # SPNEGO wrapping NTLM (no Kerberos ticket)
                token = [("Authorization", "Negotiate " + lb.NEGOTIATE_TOKEN)]
                legs.append(soak.Leg("GET", url, ua + token, 401, offer, ip, conn, kind=kind))
            return soak.Session(legs)

    return Traffic


def capture_key(n_flows: int, seed: int) -> str:
    """The cached capture's file name: size, seed and a hash of the code that writes it
    (the generator here and the soak test's traffic), so a changed generator rebuilds."""
    h = hashlib.sha256(GENERATOR_VERSION.encode())
    for fn in (_traffic_class, build_capture):
        h.update(inspect.getsource(fn).encode())
    h.update((HERE.parent / "soak" / "soak_addon.py").read_bytes())
    h.update(lb.NEGOTIATE_TOKEN.encode())
    return f"capture-{n_flows}-s{seed}-{h.hexdigest()[:10]}.mitm"


def build_capture(path: Path, n_flows: int, seed: int) -> dict[str, Any]:
    """Write ``n_flows`` flows to ``path`` (atomically); returns counts by status and kind."""
    import soak_addon as soak
    from mitmproxy import connection, http
    from mitmproxy.io import FlowWriter
    from mitmproxy.test import tflow

    # soak's generator names connections with uuid4(); seed those too so that the capture
    # is the same for the same --seed.
    id_rng = random.Random(seed ^ 0x5EED)
    soak.uuid = types.SimpleNamespace(uuid4=lambda: uuid.UUID(int=id_rng.getrandbits(128)))
    traffic = iter(_traffic_class()(seed, 20_000, 2_000, 0.9))
    clients: OrderedDict[str, connection.Client] = OrderedDict()
    servers: dict[tuple[str, int], connection.Server] = {}
    statuses: Counter[int] = Counter()
    kinds: Counter[str] = Counter()
    t = T0
    tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")  # two runs may build at once
    with open(tmp, "wb") as fh:
        writer = FlowWriter(fh)  # type: ignore[no-untyped-call]
        for _ in range(n_flows):
            leg = next(traffic)
            t += 0.002
            scheme, rest = leg.url.split("://", 1)
            hostport, _, path_ = rest.partition("/")
            host, _, port_s = hostport.partition(":")
            port = int(port_s or (443 if scheme == "https" else 80))
            client = clients.get(leg.connection)
            if client is None:
                client = tflow.tclient_conn()
                client.id = leg.connection
                client.peername = (leg.client_ip, 20_000 + int(leg.connection[:4], 16) % 40_000)
                client.sockname = ("127.0.0.1", 8080)
                client.timestamp_start = t
                clients[leg.connection] = client
                if len(clients) > 5_000:
                    clients.popitem(last=False)
            server = servers.get((host, port))
            if server is None:
                server = tflow.tserver_conn()
                server.address = (host, port)
                server.peername = ("127.0.0.2", port)
                server.timestamp_start = t
                servers[(host, port)] = server
            request = http.Request(
                host=host,
                port=port,
                method=leg.method.encode(),
                scheme=scheme.encode(),
                authority=b"",
                path=("/" + path_).encode(),
                http_version=b"HTTP/1.1",
                headers=http.Headers(
                    [(b"Host", hostport.encode())]
                    + [(k.encode(), v.encode()) for k, v in leg.request_headers]
                ),
                content=b"",
                trailers=None,
                timestamp_start=t,
                timestamp_end=t + 0.0005,
            )
            response = http.Response(
                http_version=b"HTTP/1.1",
                status_code=leg.status,
                reason=b"",
                headers=http.Headers(
                    [(k.encode(), v.encode()) for k, v in leg.response_headers]
                    + [(b"Content-Length", str(len(leg.body)).encode())]
                ),
                content=leg.body,
                trailers=None,
                timestamp_start=t + 0.0008,
                timestamp_end=t + 0.001,
            )
            flow = tflow.tflow(client_conn=client, server_conn=server, req=request, resp=response)
            writer.add(flow)
            statuses[leg.status] += 1
            kinds[leg.kind] += 1
    os.replace(tmp, path)
    # str keys: the same after the JSON round trip of the cache
    return {
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "kinds": dict(kinds.most_common()),
    }


def get_capture(args: argparse.Namespace, cache: Path) -> tuple[Path, dict[str, Any]]:
    path = cache / capture_key(args.flows, args.seed)
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        meta["cached"] = True
        return path, meta
    t0 = time.perf_counter()
    info = in_child("build", str(path), args.flows, args.seed, timeout=args.max_run_seconds)
    meta = {"flows": args.flows, "seed": args.seed, "build_s": time.perf_counter() - t0, **info}
    meta_path.write_text(json.dumps(meta, indent=1))
    meta["cached"] = False
    return path, meta


# --------------------------------------------------------------------------------------
# Heavy helpers run in a child process
# --------------------------------------------------------------------------------------
#
# Peak RSS comes from the measured child's ru_maxrss, and on Linux a child's ru_maxrss
# starts from its parent's: subprocess starts children with vfork, and exec() records the
# high-water mark of the memory it leaves, which is the parent's. So this process must
# stay small for the whole run: building the capture, counting flows and parsing the
# outputs (a 100,000-flow HAR is ~170 MB of JSON) each run in a short-lived child of
# their own. Every row also carries VmHWM read from /proc while the child runs, and a
# warning is printed when a child's ru_maxrss is not above this process's own peak.


def in_child(task: str, *params: Any, timeout: float = 3600.0) -> Any:
    """Run ``_child_task(task, params)`` in a fresh Python; returns its JSON result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-task", task, json.dumps(params)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=str(lb.REPO))
    try:
        out, _ = proc.communicate(timeout=timeout)
    except BaseException:
        lb.stop_process(proc)
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"helper {task} {params} failed with status {proc.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1])


def _child_task(task: str, params: list[Any]) -> Any:
    if task == "build":
        path, n_flows, seed = params
        return build_capture(Path(path), n_flows, seed)
    if task == "count":
        from mitmproxy.io import FlowReader

        with open(params[0], "rb") as fh:
            return sum(1 for _ in FlowReader(fh).stream())  # type: ignore[no-untyped-call]
    if task == "outputs":
        return _describe_outputs(*params)
    raise ValueError(task)


def describe_capture(path: Path, meta: dict[str, Any]) -> str:
    n = meta["flows"]
    st = meta["statuses"]
    refused = st.get("401", 0) + st.get("407", 0)
    auth = n - meta["kinds"].get("ordinary", 0)
    how = "cached" if meta.get("cached") else f"built in {meta['build_s']:.0f} s"
    sessions = {k: v for k, v in meta["kinds"].items() if k != "ordinary"}
    return (
        f"capture: {path} ({n:,} flows, {path.stat().st_size / 1e6:.0f} MB, {how}, seed {meta['seed']})\n"
        f"  statuses {st}; 401/407 = {refused / n:.1%}; "
        f"flows in authentication sessions = {auth / n:.1%}\n"
        f"  flows per session kind {sessions}"
    )


# --------------------------------------------------------------------------------------
# Running one side
# --------------------------------------------------------------------------------------


class Runner:
    def __init__(self, args: argparse.Namespace, run_dir: Path, cache: Path) -> None:
        self.args = args
        self.dir = run_dir
        self.mitmdump = args.mitmdump or lb.default_mitmdump()
        self.python = _script_python(self.mitmdump)
        self.addon = lb.check_addon(Path(args.addon))
        if not args.no_snapshot:
            self.addon = lb.snapshot_addon(self.addon, run_dir)
        # mitmproxy's CA is made once, outside every measurement.
        self.confdir = lb.make_confdir(cache, "confdir", self.mitmdump)
        self.env = lb.bench_env()
        self.analyze_env = dict(self.env, PYTHONPATH=str(self.addon.parent))
        self.current: subprocess.Popen[bytes] | None = None

    def command(self, side: str, capture: Path, tag: str) -> tuple[list[str], Path]:
        """(argv, stdout file) of one side."""
        out = self.dir / f"{side}{tag}.out"
        if side.startswith("mitmdump"):
            cmd = [self.python, self.mitmdump, "-q", "-n", "-r", str(capture)]
            cmd += ["--set", "flow_detail=0", "--set", f"confdir={self.confdir}"]
            if side == "mitmdump+addon":
                cmd += ["-s", str(self.addon)]
            return cmd, out
        cmd = [self.python, "-m", "authlens", "analyze", str(capture), "--json"]
        if side == "analyze-all":
            cmd += ["--html", str(self.dir / f"report{tag}.html")]
            cmd += ["--har", str(self.dir / f"annotated{tag}.har")]
        return cmd, out

    def display(self, side: str) -> str:
        """The command of a side as a user would type it."""
        if side.startswith("mitmdump"):
            s = "mitmdump -q -n -r capture.mitm --set flow_detail=0"
            return s + (" -s addon/authlens_addon.py" if side == "mitmdump+addon" else "")
        s = "authlens analyze capture.mitm --json"
        return (
            s
            + (" --html report.html --har annotated.har" if side == "analyze-all" else "")
            + " > out.json"
        )

    def run(self, side: str, capture: Path, tag: str = "") -> dict[str, Any]:
        cmd, out_path = self.command(side, capture, tag)
        err_path = out_path.with_suffix(".err")
        env = self.analyze_env if side.startswith("analyze") else self.env
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=str(lb.REPO))
            self.current = proc
            deadline = time.monotonic() + self.args.max_run_seconds
            hwm_kib = 0
            try:
                while True:
                    pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        proc.returncode = os.waitstatus_to_exitcode(status)
                        break
                    hwm_kib = max(hwm_kib, lb.proc_status_kib(proc.pid, "VmHWM"))
                    if time.monotonic() > deadline:
                        lb.stop_process(proc)
                        raise TimeoutError(
                            f"{side} exceeded --max-run-seconds {self.args.max_run_seconds:.0f}"
                        )
                    time.sleep(0.01)
            except BaseException:
                lb.stop_process(proc)
                raise
            finally:
                self.current = None
            wall = time.perf_counter() - t0
        err_text = err_path.read_text(errors="replace")
        # analyze: 0 = fine, 1 = only with --fail-on (not given); mitmdump: 0.
        if proc.returncode != 0:
            raise RuntimeError(
                f"{side} failed with status {proc.returncode}: {' '.join(cmd)}\n"
                f"stderr ({err_path}):\n{err_text[-3000:]}"
            )
        problems = [ln for ln in err_text.splitlines() if "Traceback" in ln or "rror" in ln]
        if side.startswith("mitmdump"):
            problems += [
                ln
                for ln in out_path.read_text(errors="replace").splitlines()
                if "Traceback" in ln or "rror" in ln
            ]
        if problems:
            print(
                f"WARNING: {side} logged errors (see {err_path}):\n  " + "\n  ".join(problems[:10]),
                flush=True,
            )
        return {
            "wall": wall,
            "cpu": ru.ru_utime + ru.ru_stime,
            "user": ru.ru_utime,
            "sys": ru.ru_stime,
            "maxrss_mib": ru.ru_maxrss / 1024,  # KiB on Linux
            "vmhwm_mib": hwm_kib / 1024,  # last VmHWM seen while it ran (a cross-check)
            "floor_mib": self_maxrss_mib(),
            "stdout_bytes": out_path.stat().st_size,
            "stdout": str(out_path),
        }


def _check_floor(side: str, res: dict[str, Any]) -> None:
    if res["maxrss_mib"] <= res["floor_mib"] + 0.5:
        print(
            f"WARNING: {side}: ru_maxrss {res['maxrss_mib']:.1f} MiB is not above the benchmark's "
            f"own peak RSS ({res['floor_mib']:.1f} MiB), which a child inherits as its floor: "
            f"the child's real peak may be lower (VmHWM seen: {res['vmhwm_mib']:.1f} MiB)",
            flush=True,
        )


def self_maxrss_mib() -> float:
    """This process's own peak RSS: no child can report a smaller ru_maxrss."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _script_python(mitmdump: str) -> str:
    """The interpreter of the mitmdump console script (its #! line)."""
    with open(mitmdump, "rb") as fh:
        first = fh.readline().decode(errors="replace").strip()
    if first.startswith("#!"):
        interp = first[2:].strip().split()[0]
        if os.path.exists(interp):
            return interp
    return sys.executable


def check_outputs(runner: Runner, side: str, res: dict[str, Any], tag: str) -> dict[str, Any]:
    """What an analyze side produced (so a fast run that judged nothing is noticed)."""
    if not side.startswith("analyze"):
        return {}
    info: dict[str, Any] = in_child("outputs", side, res["stdout"], str(runner.dir), tag)
    return info


def _describe_outputs(side: str, stdout: str, run_dir: str, tag: str) -> dict[str, Any]:
    data = json.loads(Path(stdout).read_text())
    flows = data.get("flows", [])
    diag: Counter[str] = Counter()
    for f in flows:
        for d in f.get("diagnoses", []) or []:
            if isinstance(d, dict) and d.get("id"):
                diag[d["id"]] += 1
    info: dict[str, Any] = {
        "judged_flows": len(flows),
        "json_mb": Path(stdout).stat().st_size / 1e6,
        "diagnoses": dict(diag.most_common()),
    }
    if side == "analyze-all":
        html = Path(run_dir) / f"report{tag}.html"
        har = Path(run_dir) / f"annotated{tag}.har"
        info["html_mb"] = html.stat().st_size / 1e6 if html.exists() else 0.0
        info["har_mb"] = har.stat().st_size / 1e6 if har.exists() else 0.0
        if har.exists():
            info["har_entries"] = len(json.loads(har.read_text())["log"]["entries"])
    return info


# --------------------------------------------------------------------------------------
# Rounds and the report
# --------------------------------------------------------------------------------------


def max_rss_gap(rows: list[dict[str, Any]]) -> float:
    return max((abs(r["maxrss_mib"] - r["vmhwm_mib"]) for r in rows), default=0.0)


def rotate(sides: list[str], k: int) -> list[str]:
    k %= len(sides)
    return sides[k:] + sides[:k]


def report(rows: list[dict[str, Any]], sides: list[str], n: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    table = []
    for side in sides:
        mine = [r for r in rows if r["side"] == side]
        wall = lb.median(r["wall"] for r in mine)
        cpu = lb.median(r["cpu"] for r in mine)
        rss = max(r["maxrss_mib"] for r in mine)
        s: dict[str, Any] = {
            "wall_s": wall,
            "flows_per_s": n / wall,
            "cpu_s": cpu,
            "us_cpu_per_flow": 1e6 * cpu / n,
            "peak_rss_mib": rss,
            "wall_min_max": [min(r["wall"] for r in mine), max(r["wall"] for r in mine)],
        }
        if BASELINE in sides:
            for metric in ("wall", "cpu", "maxrss_mib"):
                ratios = []
                for rnd in sorted({r["round"] for r in mine}):
                    a = [r[metric] for r in mine if r["round"] == rnd]
                    b = [r[metric] for r in rows if r["round"] == rnd and r["side"] == BASELINE]
                    if a and b and b[0] > 0:
                        ratios.append(a[0] / b[0])
                if ratios:
                    s[f"{metric}_ratio"] = lb.median(ratios)
                    s[f"{metric}_ratio_range"] = [min(ratios), max(ratios)]
        summary[side] = s

        def ratio(metric: str, s: dict[str, Any] = s, side: str = side) -> str:
            key = f"{metric}_ratio"
            if side == BASELINE:
                return "1 (baseline)"
            if key not in s:
                return "-"
            lo, hi = s[f"{key}_range"]
            return f"{s[key]:.2f}" + ("" if len(rows) <= len(sides) else f" ({lo:.2f}-{hi:.2f})")

        table.append(
            [
                side,
                wall,
                round(n / wall),
                cpu,
                1e6 * cpu / n,
                rss,
                ratio("wall"),
                ratio("cpu"),
                ratio("maxrss_mib"),
            ]
        )
    lb.table(
        table,
        [
            "side",
            "wall s",
            "flows/s",
            "CPU s",
            "CPU us/flow*",
            "peak RSS MiB",
            "wall ×mitmdump",
            "CPU ×mitmdump",
            "RSS ×mitmdump",
        ],
    )
    if BASELINE in summary:
        base = summary[BASELINE]
        print(
            f"\nIn words (plain mitmdump reads the {n:,} flows in {base['wall_s']:.0f} s, "
            f"{base['cpu_s']:.0f} s CPU, {base['peak_rss_mib']:.0f} MiB peak RSS):"
        )
        for side, s in summary.items():
            if side == BASELINE or "wall_ratio" not in s:
                continue
            print(
                f"  {side:15s} {s['flows_per_s']:,.0f} flows/s; {s['wall_ratio']:.2f}x mitmdump's "
                f"wall time, {s['cpu_ratio']:.2f}x its CPU time, {s['maxrss_mib_ratio']:.2f}x its "
                f"peak RSS ({s['peak_rss_mib']:.0f} MiB)"
            )
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--flows", type=int, default=0, help="flows in the capture (default 100,000)")
    ap.add_argument("--rounds", type=int, default=0, help="interleaved rounds (default 3)")
    ap.add_argument("--quick", action="store_true", help="20,000 flows and 1 round")
    ap.add_argument(
        "--sides",
        default=",".join(SIDES),
        help=f"comma-separated subset of {', '.join(SIDES)} (ratios need {BASELINE})",
    )
    ap.add_argument("--seed", type=int, default=1, help="traffic generator seed (default 1)")
    ap.add_argument(
        "--work",
        default=str(DEFAULT_WORK),
        help=f"work directory: the cached captures and confdir, and one run-* directory per "
        f"run with logs and outputs (default {DEFAULT_WORK})",
    )
    ap.add_argument("--capture", default="", help="measure this flow file instead of the built one")
    ap.add_argument(
        "--addon",
        default=str(lb.DEFAULT_ADDON),
        help="the addon script (default addon/authlens_addon.py); its authlens package is "
        "also the one `authlens analyze` runs",
    )
    ap.add_argument(
        "--mitmdump", default="", help="mitmdump executable (default: next to this Python)"
    )
    ap.add_argument(
        "--no-snapshot",
        action="store_true",
        help="run addon/ in place instead of a copy taken at start (edits mid-run then count)",
    )
    ap.add_argument(
        "--max-run-seconds", type=float, default=3600.0, help="bound of one run (default 3600)"
    )
    ap.add_argument("--json", default="", help="also write every sample and result to this file")
    ap.add_argument("--child-task", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.flows = args.flows or (20_000 if args.quick else 100_000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.side_list = [s.strip() for s in args.sides.split(",") if s.strip()]
    bad = [s for s in args.side_list if s not in SIDES]
    if bad or not args.side_list:
        ap.error(f"unknown side(s) {bad}; choose from {', '.join(SIDES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_task:
        task, params = args.child_task
        print(json.dumps(_child_task(task, json.loads(params))))
        return 0
    cache = Path(args.work)
    cache.mkdir(parents=True, exist_ok=True)
    run_dir = cache / time.strftime(f"run-%Y%m%d-%H%M%S-{os.getpid()}")
    run_dir.mkdir()
    runner = Runner(args, run_dir, cache)

    def _on_signal(signum: int, frame: object) -> None:
        if runner.current is not None:
            lb.stop_process(runner.current)
        sys.exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)

    facts = lb.machine_facts(runner.mitmdump)
    lb.print_facts(facts)
    fingerprint = lb.addon_fingerprint(Path(args.addon).resolve())
    print(
        f"addon/authlens code measured: {fingerprint}"
        + ("" if args.no_snapshot else f", run from the copy {runner.addon.parent}"),
        flush=True,
    )
    if args.capture:
        capture = Path(args.capture).resolve()
        n = int(in_child("count", str(capture), timeout=args.max_run_seconds))
        meta: dict[str, Any] = {"flows": n, "given": str(capture)}
        print(
            f"capture: {capture} ({n:,} flows, {capture.stat().st_size / 1e6:.0f} MB)", flush=True
        )
    else:
        print(f"capture: {args.flows:,} flows (built once, then cached in {cache})", flush=True)
        capture, meta = get_capture(args, cache)
        n = args.flows
        print(describe_capture(capture, meta), flush=True)
    print("\nsides (each a fresh process; CPU time and peak RSS of the child from os.wait4):")
    for side in args.side_list:
        print(f"  {side:15s} {runner.display(side)}")
    print(
        f"  (authlens runs as `{Path(runner.python).name} -m authlens` with PYTHONPATH="
        f"{runner.addon.parent}; out.json, report.html, annotated.har go to {run_dir})",
        flush=True,
    )

    # Warm-up: byte code compiled, the capture in the page cache, and every side checked
    # on a small capture before the long runs.
    small_args = argparse.Namespace(
        flows=min(1000, n), seed=args.seed, max_run_seconds=args.max_run_seconds
    )
    small, _ = get_capture(small_args, cache)
    print(f"\nwarm-up on {small_args.flows:,} flows (not counted):", flush=True)
    warm: dict[str, Any] = {}
    for side in args.side_list:
        res = runner.run(side, small, tag="-warmup")
        warm[side] = {**res, **check_outputs(runner, side, res, "-warmup")}
        print(
            f"  {side:15s} {res['wall']:6.2f} s wall, {res['cpu']:6.2f} s CPU, "
            f"{res['maxrss_mib']:6.1f} MiB peak RSS",
            flush=True,
        )
        _check_floor(side, res)
    with open(capture, "rb") as fh:  # read it once so every side finds it in the page cache
        while fh.read(1 << 22):
            pass

    rows: list[dict[str, Any]] = []
    outputs: dict[str, Any] = {}
    print(f"\n{args.rounds} interleaved round(s) on {n:,} flows (side order rotates each round)")
    print(
        "round  side             wall s  flows/s   CPU s  user s   sys s  peak RSS MiB  VmHWM MiB  output",
        flush=True,
    )
    t_start = time.perf_counter()
    for rnd in range(args.rounds):
        for side in rotate(args.side_list, rnd):
            tag = f"-r{rnd}"
            res = runner.run(side, capture, tag=tag)
            row = {"round": rnd, "side": side, **res}
            if side not in outputs and side.startswith("analyze"):
                outputs[side] = check_outputs(runner, side, res, tag)
            rows.append(row)
            out_note = (
                f"{res['stdout_bytes'] / 1e6:.1f} MB JSON" if side.startswith("analyze") else "-"
            )
            print(
                f"{rnd:5d}  {side:15s} {res['wall']:7.1f} {n / res['wall']:8.0f} {res['cpu']:7.1f} "
                f"{res['user']:7.1f} {res['sys']:7.1f} {res['maxrss_mib']:13.1f} {res['vmhwm_mib']:10.1f}"
                f"  {out_note}",
                flush=True,
            )
            _check_floor(side, res)
    total = time.perf_counter() - t_start

    print(
        f"\nResults: {n:,} flows, median of {args.rounds} round(s) "
        f"(×mitmdump = median of per-round ratios to plain mitmdump, range in brackets; "
        f"peak RSS = the largest ru_maxrss of the rounds; *CPU per flow includes the process's "
        f"start-up, see the warm-up lines)"
    )
    summary = report(rows, args.side_list, n)
    for side, info in outputs.items():
        extra = ", ".join(
            f"{k} {v:.1f} MB" if k.endswith("_mb") else f"{k} {v:,}"
            for k, v in info.items()
            if k != "diagnoses"
        )
        print(f"  {side}: {extra}")
    any_out = next(iter(outputs.values()), None)
    if any_out:
        top = list(any_out["diagnoses"].items())[:8]
        print("  diagnoses (top): " + ", ".join(f"{k} {v:,}" for k, v in top))
    print(
        "  (wall clock on this machine swings +-30 % with other load: compare the ratios, "
        f"not the seconds; the rounds took {total / 60:.1f} min)"
    )
    print(
        f"  (peak RSS is ru_maxrss from wait4; VmHWM, read from /proc every 10 ms while each "
        f"child ran, agrees to within {max_rss_gap(rows):.1f} MiB; this process's own peak RSS, "
        f"a floor for every child's ru_maxrss, stayed at {self_maxrss_mib():.0f} MiB)"
    )
    print(f"\nwork files: {run_dir}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": facts,
                    "addon_fingerprint": fingerprint,
                    "capture": {"path": str(capture), **meta},
                    "commands": {s: runner.display(s) for s in args.side_list},
                    "argv": {s: runner.command(s, capture, "")[0] for s in args.side_list},
                    "warmup": warm,
                    "rows": rows,
                    "summary": summary,
                    "outputs": outputs,
                    "args": {k: v for k, v in vars(args).items()},
                },
                indent=1,
                default=str,
            )
        )
        print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
