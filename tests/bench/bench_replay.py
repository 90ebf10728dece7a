"""Replay benchmark: the addon's share of mitmproxy's own work per recorded flow.

Builds a recorded mixed capture (90 % ordinary flows, 10 % refused with 401/407: Basic,
Digest, stale Digest, Bearer with an expired JWT, NTLM type 1 -> type 2, Negotiate, proxy
Basic; plus the credentialed retries that succeed) as a mitmproxy flow file, then runs
``mitmdump -q -nr capture.mitm`` without and with ``-s addon/authlens_addon.py``.

Default (callgrind): each side runs under ``valgrind --tool=callgrind`` once on N flows and
once on an empty capture; instructions per flow = (I(N) - I(0)) / N isolates the per-flow
work from start-up (imports, option set-up), and the addon's overhead is
addon_per_flow / baseline_per_flow - 1. Instruction counts are deterministic to well under
1 % (same PYTHONHASHSEED, environment, confdir with the CA made beforehand), which is what a
5 % goal needs on a machine whose wall clock swings +-30 %.

``--no-valgrind``: the same four runs timed by the wall clock and by the child's CPU time,
interleaved (A,B,A,B, ...) for ``--rounds`` rounds; medians of per-round ratios.

``--profile``: cProfile of ``mitmdump -nr`` with the addon; prints the top functions and
those of authlens.

Goal (issue): the addon adds <= 5 % to mitmproxy's own work per flow.

Examples::

    python tests/bench/bench_replay.py --quick
    python tests/bench/bench_replay.py --flows 1000 --repeat 2
    python tests/bench/bench_replay.py --no-valgrind --flows 20000 --rounds 7
    python tests/bench/bench_replay.py --profile --flows 20000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _loopback as lb

GOAL_OVERHEAD = 0.05
T0 = 1_700_000_000.0  # capture clock start (2023-11-14)
HOSTS = (
    "api.bench.test",
    "www.bench.test",
    "intranet.bench.test",
    "files.bench.test",
    "sso.bench.test",
)
FLOWS_PER_CONNECTION = 10  # a refusal and its retry always share a client connection


def build_capture(path: Path, n_flows: int, kind: str = "mixed") -> dict[int, int]:
    """Write ``n_flows`` flows of one traffic kind of the catalogue (``mixed`` by default,
    see ``_loopback.request_mix``) to ``path``; returns the count of answers by status."""
    from mitmproxy import connection, http
    from mitmproxy.io import FlowWriter
    from mitmproxy.test import tflow

    seq = lb.request_mix(kind)
    routes = lb.build_routes()
    answers = [lb.answer_for(r, routes) for r in seq]
    statuses: dict[int, int] = {}
    client: connection.Client | None = None
    server: connection.Server | None = None
    t = T0
    with open(path, "wb") as fh:
        writer = FlowWriter(fh)  # type: ignore[no-untyped-call]
        for i in range(n_flows):
            req, (status, reason, resp_fields, body) = seq[i % len(seq)], answers[i % len(seq)]
            host = HOSTS[(i // FLOWS_PER_CONNECTION) % len(HOSTS)]
            if i % FLOWS_PER_CONNECTION == 0:
                client = tflow.tclient_conn()
                client.peername = ("127.0.0.1", 40000 + (i // FLOWS_PER_CONNECTION) % 20000)
                client.sockname = ("127.0.0.1", 8080)
                client.timestamp_start = t
                client.tls = False
                server = tflow.tserver_conn()
                server.address = (host, 80)
                server.peername = ("127.0.0.2", 80)
                server.sockname = ("127.0.0.1", 50000 + (i // FLOWS_PER_CONNECTION) % 10000)
                server.timestamp_start = t
            assert client is not None and server is not None
            method = b"POST" if i % 17 == 3 and req.expect == 200 else b"GET"
            content = b'{"query": "bench", "page": 1}' if method == b"POST" else b""
            fields = [(b"Host", host.encode()), *((k.encode(), v.encode()) for k, v in req.headers)]
            if content:
                fields += [
                    (b"Content-Type", b"application/json"),
                    (b"Content-Length", str(len(content)).encode()),
                ]
            request = http.Request(
                host=host,
                port=80,
                method=method,
                scheme=b"http",
                authority=b"",
                path=req.path.encode(),
                http_version=b"HTTP/1.1",
                headers=http.Headers(fields),
                content=content,
                trailers=None,
                timestamp_start=t,
                timestamp_end=t + 0.0005,
            )
            response = http.Response(
                http_version=b"HTTP/1.1",
                status_code=status,
                reason=reason.encode(),
                headers=http.Headers([(k.encode(), v.encode()) for k, v in resp_fields]),
                content=body,
                trailers=None,
                timestamp_start=t + 0.004,
                timestamp_end=t + 0.005,
            )
            flow = tflow.tflow(client_conn=client, server_conn=server, req=request, resp=response)
            writer.add(flow)
            statuses[status] = statuses.get(status, 0) + 1
            t += 0.01
    return statuses


# --------------------------------------------------------------------------------------
# Running mitmdump -nr
# --------------------------------------------------------------------------------------


class Runner:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.mitmdump = args.mitmdump or lb.default_mitmdump()
        self.python = _script_python(self.mitmdump)
        self.addon = lb.check_addon(Path(args.addon))
        if not args.no_snapshot:
            self.addon = lb.snapshot_addon(self.addon, work)
        self.confdir = lb.make_confdir(work, "confdir", self.mitmdump)
        self.env = lb.bench_env()

    def cmd(self, side: str, capture: Path) -> list[str]:
        # The interpreter is named explicitly so valgrind instruments Python itself.
        cmd = [self.python, self.mitmdump]
        if not self.args.no_quiet:
            cmd.append("-q")
        cmd += ["-n", "-r", str(capture), "--set", f"confdir={self.confdir}"]
        if side == "addon":
            cmd += ["-s", str(self.addon)]
        return cmd

    def run(
        self,
        side: str,
        capture: Path,
        prefix: list[str] | None = None,
        timeout: float = 1800,
        tag: str = "",
    ) -> dict[str, float]:
        """Run once; returns wall and CPU seconds and the output size."""
        log = self.work / f"run-{side}-{capture.stem}{tag}.log"
        with open(log, "w") as out:
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                (prefix or []) + self.cmd(side, capture),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=str(lb.REPO),
            )
            try:
                deadline = time.monotonic() + timeout
                while True:
                    pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        proc.returncode = os.waitstatus_to_exitcode(status)
                        break
                    if time.monotonic() > deadline:
                        lb.stop_process(proc)
                        raise TimeoutError(f"{side} run on {capture.name} exceeded {timeout:.0f}s")
                    time.sleep(0.01)
            except BaseException:
                lb.stop_process(proc)
                raise
            wall = time.perf_counter() - t0
        text = log.read_text(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"{side} run failed ({proc.returncode}); log {log}:\n{text[-3000:]}")
        errors = [ln for ln in text.splitlines() if "Traceback" in ln or "rror" in ln]
        if errors:
            print(
                f"WARNING: {side} run on {capture.name} logged errors (see {log}):\n  "
                + "\n  ".join(errors[:10]),
                flush=True,
            )
        return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "log_bytes": len(text)}


def _script_python(mitmdump: str) -> str:
    """The interpreter of the mitmdump console script (its #! line)."""
    with open(mitmdump, "rb") as fh:
        first = fh.readline().decode(errors="replace").strip()
    if first.startswith("#!"):
        interp = first[2:].strip().split()[0]
        if os.path.exists(interp):
            return interp
    return sys.executable


def callgrind_total(path: Path) -> int:
    """Total instructions (Ir) of a callgrind output file."""
    text = path.read_text(errors="replace")
    m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    if not m:
        raise RuntimeError(f"no summary/totals line in {path}")
    return int(m.group(1))


def run_callgrind(
    args: argparse.Namespace, runner: Runner, capture: Path, empty: Path, n: int
) -> dict[str, Any]:
    valgrind = shutil.which("valgrind")
    if not valgrind:
        raise SystemExit("valgrind not found: apt-get install -y valgrind (or use --no-valgrind)")
    # Warm the byte-code caches of both sides outside the measurement.
    for side in ("baseline", "addon"):
        runner.run(side, empty)
    results: dict[str, dict[str, list[int]]] = {
        "baseline": {"N": [], "0": []},
        "addon": {"N": [], "0": []},
    }
    jobs = [
        (rep, side, which)
        for rep in range(args.repeat)
        for side in ("baseline", "addon")
        for which in ("N", "0")
    ]
    print(
        f"\ncallgrind runs (N = {n:,} flows; {len(jobs)} runs, {args.jobs} at a time: "
        "instruction counts do not depend on what else runs)",
        flush=True,
    )
    print("side      capture    rep     instructions    wall s", flush=True)

    def one(job: tuple[int, str, str]) -> tuple[int, str, str, int, float]:
        rep, side, which = job
        cap = capture if which == "N" else empty
        out = runner.work / f"callgrind-{side}-{which}-{rep}.out"
        prefix = [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--dump-instr=no",
            "--collect-jumps=no",
            "--trace-children=no",
            "-q",
        ]
        r = runner.run(side, cap, prefix=prefix, timeout=args.max_run_seconds, tag=f"-cg{rep}")
        return rep, side, which, callgrind_total(out), r["wall"]

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for rep, side, which, ir, wall in pool.map(one, jobs):
            results[side][which].append(ir)
            label = "N=" + format(n, ",") if which == "N" else "empty"
            print(f"{side:8s}  {label:9s}  {rep:3d}  {ir:15,d}  {wall:8.1f}", flush=True)
    per_flow = {}
    for side in ("baseline", "addon"):
        i_n, i_0 = lb.median(results[side]["N"]), lb.median(results[side]["0"])
        per_flow[side] = (i_n - i_0) / n
    overhead = per_flow["addon"] / per_flow["baseline"] - 1
    print("\nInstructions per flow (callgrind; per_flow = (I(N) - I(0)) / N)")
    rows = []
    for side in ("baseline", "addon"):
        rows.append(
            [
                side,
                int(lb.median(results[side]["0"])),
                int(lb.median(results[side]["N"])),
                per_flow[side],
                _spread(results[side]["N"]),
                _spread(results[side]["0"]),
            ]
        )
    lb.table(rows, ["side", "I(0) start-up", "I(N)", "instr/flow", "I(N) spread", "I(0) spread"])
    verdict = "MET" if overhead <= GOAL_OVERHEAD else "MISSED"
    goal_note = f"goal <= {GOAL_OVERHEAD:.0%}: {verdict}"
    if args.capture or args.mix != "mixed":
        verdict = "-"
        goal_note = f"(the {GOAL_OVERHEAD:.0%} goal is stated for the mixed capture)"
    print(
        f"\naddon overhead per flow: {overhead:+.2%} of mitmproxy's own work "
        f"({per_flow['addon'] - per_flow['baseline']:,.0f} instructions/flow); {goal_note}"
    )
    print(
        f"addon start-up: {lb.median(results['addon']['0']) - lb.median(results['baseline']['0']):+,.0f} instructions "
        f"({lb.median(results['addon']['0']) / lb.median(results['baseline']['0']) - 1:+.1%}) once per process"
    )
    return {"instructions": results, "per_flow": per_flow, "overhead": overhead, "verdict": verdict}


def _spread(xs: list[int]) -> str:
    if len(xs) < 2:
        return "-"
    return f"{(max(xs) - min(xs)) / lb.median(xs):.3%}"


def run_wall(
    args: argparse.Namespace, runner: Runner, capture: Path, empty: Path, n: int
) -> dict[str, Any]:
    for side in ("baseline", "addon"):  # warm byte-code caches and the page cache
        runner.run(side, empty)
        runner.run(side, capture)
    rows: list[dict[str, Any]] = []
    print(f"\nwall-clock runs (N = {n:,} flows), interleaved", flush=True)
    print(
        "round  side      empty wall s  N wall s  N cpu s  us/flow (wall)  us/flow (cpu)",
        flush=True,
    )
    for rnd in range(args.rounds):
        sides = ("baseline", "addon") if rnd % 2 == 0 else ("addon", "baseline")
        for side in sides:
            e = runner.run(side, empty)
            f = runner.run(side, capture)
            row = {
                "round": rnd,
                "side": side,
                "empty_wall": e["wall"],
                "empty_cpu": e["cpu"],
                "wall": f["wall"],
                "cpu": f["cpu"],
                "us_wall": 1e6 * (f["wall"] - e["wall"]) / n,
                "us_cpu": 1e6 * (f["cpu"] - e["cpu"]) / n,
            }
            rows.append(row)
            print(
                f"{rnd:5d}  {side:8s}  {e['wall']:12.2f}  {f['wall']:8.2f}  {f['cpu']:7.2f}  "
                f"{row['us_wall']:14.1f}  {row['us_cpu']:13.1f}",
                flush=True,
            )
    out: dict[str, Any] = {"rows": rows}
    print("\nPer-flow time (medians; ratio = median of per-round addon/baseline)")
    table_rows = []
    for metric in ("us_wall", "us_cpu"):
        base = [r[metric] for r in rows if r["side"] == "baseline"]
        add = [r[metric] for r in rows if r["side"] == "addon"]
        ratios = [a / b for a, b in zip(add, base, strict=True) if b > 0]
        med = lb.median(ratios)
        table_rows.append(
            [
                metric.replace("us_", "us/flow "),
                lb.median(base),
                lb.median(add),
                f"{med - 1:+.1%}",
                f"{min(ratios) - 1:+.1%}..{max(ratios) - 1:+.1%}",
            ]
        )
        out[metric] = {"baseline": lb.median(base), "addon": lb.median(add), "overhead": med - 1}
    lb.table(table_rows, ["metric", "baseline", "addon", "overhead", "range"])
    print("  (wall clock here swings +-30 %: use the callgrind mode for the 5 % goal)")
    return out


PROFILE_CODE = r"""
import cProfile, pstats, sys
from mitmproxy.tools.main import mitmdump
out = sys.argv[1]
sys.argv = ["mitmdump"] + sys.argv[2:]
prof = cProfile.Profile()
prof.enable()
try:
    mitmdump()
except SystemExit:
    pass
finally:
    prof.disable()
    prof.dump_stats(out)
"""


def run_profile(args: argparse.Namespace, runner: Runner, capture: Path, n: int) -> dict[str, Any]:
    import pstats

    stats_path = runner.work / "addon.prof"
    script = runner.work / "profile_mitmdump.py"
    script.write_text(PROFILE_CODE)
    cmd = [runner.python, str(script), str(stats_path), *runner.cmd("addon", capture)[2:]]
    t0 = time.perf_counter()
    subprocess.run(
        cmd,
        env=runner.env,
        cwd=str(lb.REPO),
        check=True,
        timeout=args.max_run_seconds,
        stdout=subprocess.DEVNULL,
    )
    print(
        f"\ncProfile of mitmdump -nr ({n:,} flows) with the addon: {time.perf_counter() - t0:.1f} s; stats {stats_path}"
    )
    st = pstats.Stats(str(stats_path))
    raw: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())  # total internal time
    mine = {
        k: v for k, v in raw.items() if "/authlens/" in k[0] or k[0].endswith("authlens_addon.py")
    }
    own = sum(v[2] for v in mine.values())
    hooks = {
        k: v
        for k, v in mine.items()
        if k[2] in ("response", "request", "error") and k[0].endswith("mitm/addon.py")
    }
    hook_cum = sum(v[3] for v in hooks.values())
    print(
        f"total internal time {total:.2f} s; in authlens code (tottime) {own:.2f} s = {own / total:.1%}; "
        f"cumulative time of the addon's request/response/error hooks {hook_cum:.2f} s = {hook_cum / total:.1%}"
    )

    def show(items: list[tuple[Any, Any]], title: str) -> None:
        print(f"\n{title}")
        rows = []
        for (fname, line, func), (_cc, nc, tt, ct, _callers) in items:
            short = fname
            for cut in ("/addon-snapshot/", "/addon/", "site-packages/"):
                if cut in fname:
                    short = fname.split(cut)[-1]
                    break
            rows.append([f"{short}:{line}({func})", nc, tt, ct, 1e6 * ct / n])
        lb.table(rows, ["function", "calls", "tottime s", "cumtime s", "cum us/flow"])

    top = int(args.profile_top)
    show(
        sorted(mine.items(), key=lambda kv: -kv[1][3])[:top],
        f"authlens functions by cumulative time (top {top})",
    )
    show(
        sorted(mine.items(), key=lambda kv: -kv[1][2])[:top],
        f"authlens functions by own time (top {top})",
    )
    show(
        sorted(raw.items(), key=lambda kv: -kv[1][2])[:top],
        f"all functions by own time (top {top})",
    )
    return {
        "total_s": total,
        "authlens_tottime_s": own,
        "hooks_cumtime_s": hook_cum,
        "stats": str(stats_path),
    }


# --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--flows",
        type=int,
        default=0,
        help="flows in the capture (default: 1,000 with callgrind, 20,000 otherwise)",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small capture (callgrind: 200 flows; otherwise 2,000 flows and 3 rounds)",
    )
    ap.add_argument(
        "--no-valgrind", action="store_true", help="wall-clock/CPU-time mode (interleaved rounds)"
    )
    ap.add_argument(
        "--rounds", type=int, default=7, help="--no-valgrind: interleaved rounds (default 7)"
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="callgrind: runs per side and capture (instruction counts are deterministic; 2 shows the spread)",
    )
    ap.add_argument("--jobs", type=int, default=2, help="callgrind: runs at a time (default 2)")
    ap.add_argument(
        "--profile", action="store_true", help="cProfile mitmdump -nr with the addon instead"
    )
    ap.add_argument("--profile-top", type=int, default=25)
    ap.add_argument(
        "--mix",
        choices=lb.KINDS,
        default="mixed",
        help="traffic of the built capture: mixed (90 %% ordinary, 10 %% 401/407; the "
        "issue's capture, default), ordinary (all 200) or all401 (every answer a 401)",
    )
    ap.add_argument("--capture", default="", help="use this flow file instead of building one")
    ap.add_argument("--keep", default="", help="also copy the built capture to this path")
    ap.add_argument(
        "--no-quiet",
        action="store_true",
        help="run mitmdump without -q (its dumper then prints every flow: more baseline work)",
    )
    ap.add_argument(
        "--addon",
        default=str(lb.DEFAULT_ADDON),
        help="the addon script (default addon/authlens_addon.py)",
    )
    ap.add_argument(
        "--mitmdump", default="", help="mitmdump executable (default: next to this Python)"
    )
    ap.add_argument(
        "--no-snapshot",
        action="store_true",
        help="run the addon in place instead of a copy taken at start (edits mid-run then count)",
    )
    ap.add_argument("--max-run-seconds", type=float, default=1800.0, help="bound of one run")
    ap.add_argument("--json", default="", help="also write the results to this file")
    args = ap.parse_args(argv)
    if not args.flows:
        if args.no_valgrind or args.profile:
            args.flows = 2000 if args.quick else 20000
        else:
            args.flows = 200 if args.quick else 1000
    if args.quick and args.rounds == 7:
        args.rounds = 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = lb.tmpdir("authlens-bench-replay-")
    runner = Runner(args, work)
    lb.print_facts(lb.machine_facts(runner.mitmdump))
    print(
        f"addon: {args.addon} {lb.addon_fingerprint(Path(args.addon).resolve())}"
        + ("" if args.no_snapshot else f", measured as the copy {runner.addon}"),
        flush=True,
    )
    empty = work / "empty.mitm"
    empty.touch()
    if args.capture:
        capture = Path(args.capture).resolve()
        n = _count_flows(capture)
        print(f"capture: {capture} ({n:,} flows)")
    else:
        capture = work / "capture.mitm"
        t0 = time.perf_counter()
        statuses = build_capture(capture, args.flows, args.mix)
        n = args.flows
        refused = statuses.get(401, 0) + statuses.get(407, 0)
        print(
            f"capture ({args.mix}): {capture} ({n:,} flows, {capture.stat().st_size / 1e6:.1f} MB, built in "
            f"{time.perf_counter() - t0:.1f} s); statuses {dict(sorted(statuses.items()))}; "
            f"401/407 = {refused / n:.0%}",
            flush=True,
        )
        if args.keep:
            shutil.copyfile(capture, args.keep)
    if args.profile:
        out = run_profile(args, runner, capture, n)
    elif args.no_valgrind:
        out = run_wall(args, runner, capture, empty, n)
    else:
        out = run_callgrind(args, runner, capture, empty, n)
    out["args"] = vars(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    print(f"\nwork files: {work}")
    return 0


def _count_flows(path: Path) -> int:
    from mitmproxy.io import FlowReader

    with open(path, "rb") as fh:
        return sum(1 for _ in FlowReader(fh).stream())


if __name__ == "__main__":
    sys.exit(main())
