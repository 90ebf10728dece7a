"""Live-proxy benchmark: mitmdump throughput with and without the authlens addon.

Two mitmdump processes run side by side over the same loopback origin — the baseline
(``mitmdump -q``) and the addon side (``mitmdump -q -s addon/authlens_addon.py``), each with
its own confdir and port — and a load generator (wrk, or the asyncio client of
``_loopback.py``) sends absolute-form requests (``GET http://127.0.0.1:ORIGIN/... HTTP/1.1``)
to one side at a time. Each traffic kind gets fresh mitmdump processes, and its rounds
alternate the sides (A,B then B,A, ...), so drift of a noisy machine falls on both; each
round gives one ratio addon/baseline and the median of those ratios is the result. Fresh
processes per kind keep the kinds apart: none starts from the tables another filled, nor
pays for work another left for later (the addon decides `no-retry` for a refusal nobody
answered 30 s after it, ``authlens_no_retry_after``).

Traffic kinds: ``ordinary`` (every answer 200 with a small body), ``all401`` (every answer a
401 with Basic, Digest, Bearer, NTLM, Negotiate or multi-scheme challenges, half the
requests carrying wrong credentials) and ``mixed`` (90 % 200, 10 % 401/407 with handshakes).

Goals (issue): ordinary >= 97 % of the baseline, all401 >= 90 %.

``--floor``: a third mitmdump runs the addon with judging switched off (``_floor_addon.py``:
no detector, verdict or re-judgement; the exchange, decoding, handshake tracking and pairing
still run), and a second table splits the addon's CPU per request into that floor and what
judging adds: how far any cheaper judging could bring the ratio.

``--memory``: the long-run memory mode: N flows (default 200,000) of mixed traffic with
401/407 handshakes from many client connections (one connection per wrk thread, and every
25th request ``Connection: close`` so clients keep reconnecting) through a fresh addon
mitmdump (and, interleaved segment by segment, a fresh baseline one), VmRSS sampled every
``--sample-every`` flows; prints the series and the growth after warm-up.

Examples::

    python tests/bench/bench_proxy.py --quick
    python tests/bench/bench_proxy.py --seconds 5 --rounds 9
    python tests/bench/bench_proxy.py --memory --flows 200000 --sample-every 10000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _loopback as lb

GOALS = {"ordinary": 0.97, "all401": 0.90}
SIDES = ("baseline", "addon")
FLOOR_SCRIPT = Path(__file__).resolve().parent / "_floor_addon.py"


@dataclass
class Sample:
    kind: str
    side: str
    round: int
    rps: float
    requests: int
    seconds: float
    non2xx: int
    errors: int
    p50_ms: float
    cpu_ms_per_req: float  # mitmdump CPU time per request (less noisy than rps when busy)


class Bench:
    """The origin and the two mitmdump processes of one run."""

    def __init__(self, args: argparse.Namespace, procs: lb.Processes) -> None:
        self.args = args
        self.procs = procs
        self.work = lb.tmpdir("authlens-bench-proxy-")
        self.mitmdump = args.mitmdump or lb.default_mitmdump()
        self.addon = lb.check_addon(Path(args.addon))
        if not args.no_snapshot:
            self.addon = lb.snapshot_addon(self.addon, self.work)
        ncpu = os.cpu_count() or 1
        self.pin_proxy = {ncpu - 1} if args.pin and ncpu > 1 else None
        self.pin_other = {0} if args.pin and ncpu > 1 else None
        self.origin_port = self._start_origin()
        self.ports: dict[str, int] = {}
        self.pids: dict[str, subprocess.Popen[Any]] = {}
        self.logs: dict[str, Path] = {}

    def _preexec(self, cpus: set[int] | None) -> Any:
        return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None

    def _start_origin(self) -> int:
        log = open(self.work / "origin.log", "w")  # noqa: SIM115 (closed with the process)
        proc = self.procs.start(
            [
                sys.executable,
                str(Path(lb.__file__).resolve()),
                "origin",
                "--port",
                "0",
                "--max-seconds",
                str(self.args.max_lifetime),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=lb.bench_env(),
            preexec_fn=self._preexec(self.pin_other),
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = int(json.loads(line)["port"])
        lb.wait_port(port, proc)
        return port

    def start_side(self, side: str, tag: str = "") -> None:
        name = side + tag
        confdir = lb.make_confdir(self.work, "confdir-" + name, self.mitmdump)
        port = lb.free_port()
        cmd = [
            self.mitmdump,
            "-q",
            "--listen-host",
            lb.LOOPBACK,
            "--listen-port",
            str(port),
            "--set",
            f"confdir={confdir}",
        ]
        env = lb.bench_env()
        if side == "addon":
            cmd += ["-s", str(self.addon)]
        elif side == "floor":
            cmd += ["-s", str(FLOOR_SCRIPT)]
            env["AUTHLENS_ENTRY"] = str(self.addon)
        log_path = self.work / f"mitmdump-{name}.log"
        log = open(log_path, "w")  # noqa: SIM115 (closed with the process)
        proc = self.procs.start(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(lb.REPO),
            preexec_fn=self._preexec(self.pin_proxy),
        )
        lb.wait_port(port, proc)
        time.sleep(0.3)
        self.ports[side], self.pids[side], self.logs[side] = port, proc, log_path
        problems = self.log_problems(side)
        if problems:
            raise SystemExit(f"mitmdump ({side}) reported errors at start-up:\n{problems}")

    def stop_side(self, side: str) -> None:
        proc = self.pids.pop(side, None)
        if proc is not None:
            lb.stop_process(proc)
            if proc in self.procs.procs:
                self.procs.procs.remove(proc)

    def log_problems(self, side: str) -> str:
        text = self.logs[side].read_text(errors="replace")
        bad = [ln for ln in text.splitlines() if "Traceback" in ln or "rror" in ln]
        return "\n".join(bad[:20])

    def load(
        self,
        side: str,
        seq: list[lb.Req],
        seconds: float,
        max_requests: int = 0,
        connections: int | None = None,
    ) -> tuple[lb.LoadResult, float]:
        pid = self.pids[side].pid
        cpu0 = lb.proc_cpu_seconds(pid)
        res = lb.run_load(
            proxy_port=self.ports[side],
            origin_port=self.origin_port,
            seq=seq,
            seconds=seconds,
            connections=connections or self.args.connections,
            max_requests=max_requests,
            tool=self.args.load,
            workdir=self.work,
            cpus=self.pin_other,
        )
        return res, lb.proc_cpu_seconds(pid) - cpu0


# --------------------------------------------------------------------------------------
# Throughput
# --------------------------------------------------------------------------------------


def run_throughput(args: argparse.Namespace, bench: Bench) -> dict[str, Any]:
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    sides = (*SIDES, "floor") if args.floor else SIDES
    print(
        f"origin 127.0.0.1:{bench.origin_port}; load={args.load}, {args.connections} "
        f"connections, {args.seconds:g}s x {args.rounds} rounds per side and kind; each kind "
        "in fresh mitmdump processes",
        flush=True,
    )
    samples: list[Sample] = []
    hwm: dict[str, dict[str, int]] = {}
    rss: dict[str, dict[str, int]] = {}
    problems: dict[str, dict[str, str]] = {}
    for kind in kinds:
        # Fresh processes per kind: no kind starts from the tables another filled, and work
        # a kind leaves for later (no-retry decisions, `authlens_no_retry_after` seconds
        # on) falls into its own later rounds, not into the next kind's.
        for side in sides:
            bench.start_side(side, tag=f"-{kind}")
        print(
            f"\n{kind}: mitmdump "
            + ", ".join(
                f"{side} :{bench.ports[side]} (pid {bench.pids[side].pid})" for side in sides
            ),
            flush=True,
        )
        seq = lb.request_mix(kind)
        for side in sides:  # warm-up (discarded): imports, caches, first connections
            bench.load(side, seq, args.warmup)
        print("round  kind      side        req/s   non2xx  errors  p50 ms  cpu ms/req", flush=True)
        for rnd in range(args.rounds):
            order = sides if rnd % 2 == 0 else sides[::-1]
            for side in order:
                res, cpu = bench.load(side, seq, args.seconds)
                s = Sample(
                    kind,
                    side,
                    rnd,
                    res.rps,
                    res.requests,
                    res.seconds,
                    res.non2xx,
                    res.errors,
                    res.p50_ms,
                    1e3 * cpu / max(1, res.requests),
                )
                samples.append(s)
                print(
                    f"{rnd:5d}  {kind:8s}  {side:8s}  {s.rps:8.1f}  {s.non2xx:7d}  {s.errors:6d}  "
                    f"{s.p50_ms:6.2f}  {s.cpu_ms_per_req:10.3f}",
                    flush=True,
                )
        hwm[kind] = {side: lb.proc_status_kib(bench.pids[side].pid, "VmHWM") for side in sides}
        rss[kind] = {side: lb.proc_status_kib(bench.pids[side].pid, "VmRSS") for side in sides}
        problems[kind] = {side: bench.log_problems(side) for side in sides}
        for side in sides:
            bench.stop_side(side)

    print("\nThroughput (median over rounds; ratio = median of per-round addon/baseline)")
    rows = []
    summary: dict[str, Any] = {}
    for kind in kinds:
        per = {side: [s for s in samples if s.kind == kind and s.side == side] for side in sides}
        ratios = [
            a.rps / b.rps for a, b in zip(per["addon"], per["baseline"], strict=True) if b.rps > 0
        ]
        cpu_ratios = [
            b.cpu_ms_per_req / a.cpu_ms_per_req
            for a, b in zip(per["addon"], per["baseline"], strict=True)
            if a.cpu_ms_per_req > 0
        ]
        med = lb.median(ratios)
        goal = GOALS.get(kind)
        lo, hi, cover = lb.median_ci(ratios)
        # CPU per request moves less than throughput on a shared machine: its own interval
        # tells whether a goal is settled when the throughput's interval spans it.
        cpu_lo, cpu_hi, _ = lb.median_ci(cpu_ratios)
        verdict = "-" if goal is None else ("MET" if med >= goal else "MISSED")
        if goal is not None and lo < goal <= hi:
            verdict += " (CI spans goal)"
        expected_non2xx = {"ordinary": 0.0, "all401": 1.0, "mixed": 0.10}[kind]
        got_non2xx = sum(s.non2xx for s in per["addon"]) / max(
            1, sum(s.requests for s in per["addon"])
        )
        errors = sum(s.errors for s in per["addon"] + per["baseline"])
        rows.append(
            [
                kind,
                lb.median(s.rps for s in per["baseline"]),
                lb.median(s.rps for s in per["addon"]),
                f"{med:.3f}",
                f"{lo:.3f}..{hi:.3f} ({cover:.0%})",
                f"{lb.median(cpu_ratios):.3f} ({cpu_lo:.3f}..{cpu_hi:.3f})",
                f">= {goal:.2f}" if goal else "-",
                verdict,
                f"{got_non2xx:.0%}/{expected_non2xx:.0%}",
                errors,
            ]
        )
        summary[kind] = {
            "baseline_rps_median": lb.median(s.rps for s in per["baseline"]),
            "addon_rps_median": lb.median(s.rps for s in per["addon"]),
            "ratio_median": med,
            "ratio_ci": [lo, hi],
            "ratio_ci_coverage": cover,
            "ratios": ratios,
            "cpu_ratio_median": lb.median(cpu_ratios),
            "cpu_ratio_ci": [cpu_lo, cpu_hi],
            "goal": goal,
            "verdict": verdict,
            "errors": errors,
        }
    lb.table(
        rows,
        [
            "kind",
            "base req/s",
            "addon req/s",
            "ratio",
            "CI of ratio (coverage)",
            "cpu ratio (CI)",
            "goal",
            "verdict",
            "4xx seen/exp",
            "sock err",
        ],
    )
    print(
        "  (CI: distribution-free interval of the median ratio, 95 % from 6 rounds on; "
        "cpu ratio = baseline "
        "mitmdump CPU ms per request / addon's, from /proc/PID/stat, with its interval)"
    )
    if args.floor:
        summary["floor"] = _floor_split(kinds, samples)
    print("\nmitmdump memory after each kind's rounds")
    lb.table(
        [
            [kind, side, hwm[kind][side] / 1024, rss[kind][side] / 1024]
            for kind in kinds
            for side in sides
        ],
        ["kind", "side", "peak RSS (VmHWM) MiB", "VmRSS MiB"],
    )
    for kind in kinds:
        for side in sides:
            if problems[kind][side]:
                print(
                    f"\nWARNING: mitmdump ({side}, {kind}) logged errors:\n{problems[kind][side]}"
                )
    return {
        "samples": [asdict(s) for s in samples],
        "summary": summary,
        "vmhwm_kib": hwm,
        "vmrss_kib": rss,
    }


def _floor_split(kinds: list[str], samples: list[Sample]) -> dict[str, Any]:
    """Print and return, per kind, the addon's CPU per request over the baseline split into
    the floor (the addon with judging switched off) and judging (the rest)."""
    print(
        "\nWhere the addon's CPU goes (medians of per-round differences, ms per request; "
        "floor = the addon with judging switched off)"
    )
    rows = []
    out: dict[str, Any] = {}
    for kind in kinds:
        per = {
            side: [s.cpu_ms_per_req for s in samples if s.kind == kind and s.side == side]
            for side in (*SIDES, "floor")
        }
        rounds = list(zip(per["baseline"], per["addon"], per["floor"], strict=True))
        added = lb.median(a - b for b, a, _ in rounds)
        floor = lb.median(f - b for b, _, f in rounds)
        judging = lb.median(a - f for _, a, f in rounds)
        floor_cpu_ratios = [b / f for b, _, f in rounds if f > 0]
        floor_ratios = [
            f.rps / b.rps
            for b, f in zip(
                [s for s in samples if s.kind == kind and s.side == "baseline"],
                [s for s in samples if s.kind == kind and s.side == "floor"],
                strict=True,
            )
            if b.rps > 0
        ]
        floor_ratio, floor_rps = lb.median(floor_cpu_ratios), lb.median(floor_ratios)
        # Whether the floor alone misses a goal is the point: its interval says if settled.
        floor_lo, floor_hi, _ = lb.median_ci(floor_ratios)
        goal = GOALS.get(kind)
        # The most the addon may add per request and still meet the goal, by CPU.
        budget = lb.median(b / goal - b for b, _, _ in rounds) if goal else None
        rows.append(
            [
                kind,
                f"{lb.median(per['baseline']):.3f}",
                f"{added:+.3f}",
                f"{floor:+.3f}",
                f"{judging:+.3f}",
                f"{budget:.3f}" if budget is not None else "-",
                f"{floor_rps:.3f} ({floor_lo:.3f}..{floor_hi:.3f}) / {floor_ratio:.3f}",
            ]
        )
        out[kind] = {
            "baseline_cpu_ms": lb.median(per["baseline"]),
            "addon_over_baseline_ms": added,
            "floor_over_baseline_ms": floor,
            "judging_ms": judging,
            "budget_ms": budget,
            "floor_ratio_median": floor_rps,
            "floor_ratio_ci": [floor_lo, floor_hi],
            "floor_cpu_ratio_median": floor_ratio,
        }
    lb.table(
        rows,
        [
            "kind",
            "baseline cpu",
            "addon adds",
            "floor adds",
            "judging adds",
            "goal allows",
            "floor ratio (CI) / cpu ratio",
        ],
    )
    return out


# --------------------------------------------------------------------------------------
# Long-run memory
# --------------------------------------------------------------------------------------


def run_memory(args: argparse.Namespace, bench: Bench) -> dict[str, Any]:
    sides = ["addon"] if args.memory_sides == "addon" else list(SIDES)
    for side in sides:
        bench.start_side(side, tag="-memory")
    seq = lb.with_connection_close(lb.request_mix("mixed"), 25)
    print(
        f"long run: {args.flows:,} flows per side of mixed traffic (10 % 401/407, handshakes), "
        f"{args.memory_connections} client connections (Connection: close every 25th request), "
        f"VmRSS sampled every {args.sample_every:,} flows; sides: {', '.join(sides)}",
        flush=True,
    )
    series: dict[str, list[tuple[int, int]]] = {
        side: [(0, lb.proc_status_kib(bench.pids[side].pid, "VmRSS"))] for side in sides
    }
    flows = dict.fromkeys(sides, 0)
    errors = dict.fromkeys(sides, 0)
    t_start = time.monotonic()
    print(
        "\n   flows  " + "  ".join(f"{s + ' VmRSS MiB':>17s}" for s in sides) + "    req/s",
        flush=True,
    )
    seg = 0
    while min(flows.values()) < args.flows:
        order = sides if seg % 2 == 0 else sides[::-1]
        rates = []
        for side in order:
            want = min(args.sample_every, args.flows - flows[side])
            if want <= 0:
                continue
            # Bound: at least 20 flows/s, plus slack.
            res, _ = bench.load(
                side,
                seq,
                seconds=30 + want / 20,
                max_requests=want,
                connections=args.memory_connections,
            )
            flows[side] += res.requests
            errors[side] += res.errors
            rates.append(res.rps)
            series[side].append((flows[side], lb.proc_status_kib(bench.pids[side].pid, "VmRSS")))
        seg += 1
        print(
            f"{min(flows.values()):8d}  "
            + "  ".join(f"{series[s][-1][1] / 1024:17.1f}" for s in sides)
            + f"  {lb.median(rates):7.0f}",
            flush=True,
        )
        if time.monotonic() - t_start > args.max_lifetime - 120:
            print("stopping early: --max-lifetime reached", flush=True)
            break

    print(f"\nLong-run memory ({time.monotonic() - t_start:.0f} s)")
    rows = []
    result: dict[str, Any] = {"series": series}
    for side in sides:
        pts = series[side]
        warm_flows = pts[-1][0] * args.warmup_fraction
        warm = next((p for p in pts if p[0] >= warm_flows), pts[-1])
        post = [p for p in pts if p[0] >= warm[0]]
        half = [p for p in pts if p[0] >= pts[-1][0] / 2]
        growth_kib = pts[-1][1] - warm[1]
        slope_post = _slope(post) * 100_000 / 1024  # MiB per 100k flows
        slope_half = _slope(half) * 100_000 / 1024
        hwm = lb.proc_status_kib(bench.pids[side].pid, "VmHWM")
        first = pts[1] if len(pts) > 1 else pts[0]
        rows.append(
            [
                side,
                pts[-1][0],
                first[1] / 1024,
                warm[0],
                warm[1] / 1024,
                pts[-1][1] / 1024,
                growth_kib / 1024,
                slope_post,
                slope_half,
                hwm / 1024,
                errors[side],
            ]
        )
        result[side] = {
            "flows": pts[-1][0],
            "warm_at": warm[0],
            "rss_first_kib": first[1],
            "rss_warm_kib": warm[1],
            "rss_end_kib": pts[-1][1],
            "growth_after_warmup_kib": growth_kib,
            "slope_after_warmup_mib_per_100k": slope_post,
            "slope_last_half_mib_per_100k": slope_half,
            "vmhwm_kib": hwm,
            "errors": errors[side],
        }
    lb.table(
        rows,
        [
            "side",
            "flows",
            "RSS 1st MiB",
            "warm-up end",
            "RSS there MiB",
            "RSS end MiB",
            "growth after warm-up MiB",
            "slope MiB/100k",
            "last-half slope MiB/100k",
            "VmHWM MiB",
            "sock err",
        ],
    )
    a = result["addon"]
    b = result.get("baseline", {})
    extra_growth = (a["growth_after_warmup_kib"] - b.get("growth_after_warmup_kib", 0)) / 1024
    extra_slope = a["slope_last_half_mib_per_100k"] - b.get("slope_last_half_mib_per_100k", 0.0)
    flat = extra_slope <= args.flat_slope
    plateau = _plateau(series["addon"], args.plateau_mib)
    result["addon"]["plateau_from_flows"] = plateau[0] if plateau else None
    if flat:
        result["verdict"] = "FLAT"
    elif plateau and plateau[0] <= 0.75 * a["flows"]:
        result["verdict"] = f"PLATEAU from {plateau[0]:,} flows"
    else:
        result["verdict"] = "GROWS"
    print(
        f"  addon beyond the baseline: {extra_growth:+.1f} MiB growth after warm-up "
        f"(first {args.warmup_fraction:.0%} of the flows); slope over the last half "
        f"{extra_slope:+.2f} MiB per 100,000 flows"
    )
    if plateau:
        print(
            f"  addon plateau: from {plateau[0]:,} flows on, VmRSS stays within "
            f"{plateau[1] / 1024:.1f} MiB of {plateau[2] / 1024:.1f} MiB (to {a['flows']:,} flows)"
        )
    print(
        f"  verdict: {result['verdict']} (FLAT: last-half slope beyond the baseline's <= "
        f"{args.flat_slope:g} MiB/100k flows; PLATEAU: RSS within {args.plateau_mib:g} MiB over "
        "at least the last quarter of the run)"
    )
    for side in sides:
        p = bench.log_problems(side)
        if p:
            print(f"\nWARNING: mitmdump ({side}) logged errors:\n{p}")
    return result


def _plateau(points: list[tuple[int, int]], tol_mib: float) -> tuple[int, int, int] | None:
    """The earliest sample from which VmRSS never rises more than ``tol_mib`` above it:
    (flows there, the largest rise after it in KiB, RSS there in KiB); None if only the
    last sample qualifies."""
    tol = tol_mib * 1024
    for i, (flows, rss) in enumerate(points[:-2]):
        rise = max(p[1] for p in points[i:]) - rss
        if rise <= tol:
            return flows, rise, rss
    return None


def _slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of RSS (KiB) over flows."""
    if len(points) < 2:
        return 0.0
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


# --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--seconds", type=float, default=5.0, help="length of one measured run (default 5)"
    )
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds per kind (default 9)")
    ap.add_argument(
        "--warmup", type=float, default=2.0, help="discarded warm-up seconds per side and kind"
    )
    ap.add_argument("--kinds", default="ordinary,all401,mixed")
    ap.add_argument("--connections", type=int, default=8, help="client connections (default 8)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="short smoke run: 2 s x 3 rounds; memory mode: 20,000 flows",
    )
    ap.add_argument(
        "--floor",
        action="store_true",
        help="also run the addon with judging switched off (_floor_addon.py) and split the "
        "addon's CPU per request into that floor and judging",
    )
    ap.add_argument("--memory", action="store_true", help="run the long-run memory mode instead")
    ap.add_argument("--flows", type=int, default=200_000, help="memory mode: flows per side")
    ap.add_argument(
        "--sample-every", type=int, default=10_000, help="memory mode: flows between samples"
    )
    ap.add_argument("--memory-connections", type=int, default=16)
    ap.add_argument(
        "--memory-sides",
        choices=("addon", "both"),
        default="both",
        help="memory mode: the addon side only, or both interleaved (default)",
    )
    ap.add_argument(
        "--warmup-fraction",
        type=float,
        default=0.2,
        help="memory mode: 'growth after warm-up' starts after this fraction of the flows",
    )
    ap.add_argument(
        "--plateau-mib",
        type=float,
        default=1.0,
        help="memory mode: a plateau is where VmRSS stays within this many MiB (default 1)",
    )
    ap.add_argument(
        "--flat-slope",
        type=float,
        default=2.0,
        help="memory mode: FLAT when the addon's RSS slope over the last half of the run "
        "exceeds the baseline's by at most this many MiB per 100,000 flows (default 2)",
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
        "--load",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator (auto: wrk when installed, else the asyncio client)",
    )
    ap.add_argument(
        "--pin",
        action="store_true",
        help="pin the mitmdumps to the last CPU and origin + load generator to CPU 0",
    )
    ap.add_argument(
        "--no-snapshot",
        action="store_true",
        help="run the addon in place instead of a copy taken at start (edits mid-run then "
        "make mitmproxy reload the script)",
    )
    ap.add_argument("--json", default="", help="also write all samples and results to this file")
    ap.add_argument(
        "--max-lifetime", type=float, default=7200.0, help="hard bound of the whole run (s)"
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds, args.warmup = 2.0, 3, 1.0
        if args.flows == 200_000:
            args.flows = 20_000
        if args.sample_every == 10_000:
            args.sample_every = 2_000
    if args.load == "auto":
        args.load = "wrk" if lb.have_wrk() else "python"
        if args.load == "python":
            print(
                "note: wrk not found (apt-get install wrk); using the asyncio client, which "
                "shares the CPUs with mitmdump",
                file=sys.stderr,
            )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mitmdump = args.mitmdump or lb.default_mitmdump()
    lb.print_facts(lb.machine_facts(mitmdump))
    print(f"addon: {args.addon} {lb.addon_fingerprint(Path(args.addon))}", flush=True)
    with lb.Processes() as procs:
        lb.install_signal_cleanup(procs)
        bench = Bench(args, procs)
        out = run_memory(args, bench) if args.memory else run_throughput(args, bench)
        out["args"] = vars(args)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1, default=str))
        print(f"\nlogs and scripts: {bench.work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
