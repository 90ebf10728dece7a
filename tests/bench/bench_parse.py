"""Speed and correctness of authlens against other WWW-Authenticate parsers, on the corpus.

    python tests/bench/bench_parse.py [--rounds N] [--quick] [--show-wrong] [--profile]

Parsers, each given the corpus headers (tests/data/challenge_corpus.json) the way it is
designed to take them:

* authlens (lex only): ``grammar.lex_challenges(lines, known)``, scheme + params, the fair
  row to compare with the others;
* authlens (parse+decode): ``parse_challenges(lines)``, which also runs scheme decoders;
* werkzeug: ``WWWAuthenticate.from_header(line)``, one challenge per header line by design,
  so a line holding several challenges can only come back as (a broken) first one;
* www-authenticate: ``www_authenticate.parse(value)`` on the comma-joined lines;
* authchallenge: ``authchallenge.parse_challenges(lines)`` (tolerant mode).

Timing runs interleaved rounds (each round times one pass of every parser over every
header, in an order rotated each round, with the garbage collector paused during a pass),
so that this machine's slow swings hit every parser alike. Per header, the median over
rounds is kept; the table gives the median and the mean of those over the headers.

Correctness: each parser's output is normalised to [(scheme lower-cased, params with
lower-cased names, token68)] and compared with the corpus ``expected``; an exception
counts as wrong. "first" only compares the first challenge, the fair measure for werkzeug.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "addon"))

import authchallenge  # noqa: E402
import www_authenticate  # noqa: E402
from werkzeug.datastructures import WWWAuthenticate  # noqa: E402

from authlens import grammar, parse_challenges, schemes  # noqa: E402

CORPUS_PATH = ROOT / "tests" / "data" / "challenge_corpus.json"
DEFAULT_ROUNDS = 1000
QUICK_ROUNDS = 30
WARMUP_ROUNDS = 3

Norm = list[tuple[str, dict[str, Any], str | None]]


@dataclass
class Parser:
    name: str
    prepare: Callable[[dict[str, Any]], Any]  # corpus entry -> the argument it is given
    run: Callable[[Any], Any]
    normalize: Callable[[Any], Norm]
    args: list[Any] = field(default_factory=list)
    times: list[list[float]] = field(default_factory=list)  # [header][round] seconds
    pass_means: list[float] = field(default_factory=list)  # mean s/header of each round


def _params(mapping: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in (mapping or {}).items()}


# -- authlens ----------------------------------------------------------------------------

KNOWN = schemes.known_scheme_names()


def _lex(lines: list[str]) -> grammar.Lexed:
    return grammar.lex_challenges(lines, KNOWN)


def _norm_lexed(lexed: grammar.Lexed) -> Norm:
    return [
        (c.scheme.lower(), _params(c.params), c.token68)
        for c in lexed.challenges
        if c.scheme or c.params or c.token68 is not None
    ]


def _norm_parsed(challenges: list[Any]) -> Norm:
    # A field without any challenge comes back as one empty carrier of findings.
    return [
        (c.scheme.lower(), _params(c.params), c.token68)
        for c in challenges
        if c.scheme or c.params or c.token68 is not None
    ]


# -- werkzeug: one challenge per header line ---------------------------------------------


def _werkzeug(lines: list[str]) -> list[WWWAuthenticate | None]:
    return [WWWAuthenticate.from_header(line) for line in lines]


def _norm_werkzeug(results: list[WWWAuthenticate | None]) -> Norm:
    return [
        (w.type.lower(), _params(w.parameters), w.token or None)  # bare scheme: token ""
        for w in results
        if w is not None
    ]


# -- www-authenticate: a dict keyed by scheme ---------------------------------------------


def _norm_www_authenticate(result: Any) -> Norm:
    out: Norm = []
    for scheme, value in result.items():
        if isinstance(value, str):
            out.append((scheme.lower(), {}, value))
        else:
            out.append((scheme.lower(), _params(value), None))
    return out


# -- authchallenge -----------------------------------------------------------------------


def _norm_authchallenge(challenges: Iterable[Any]) -> Norm:
    return [(c.scheme.lower(), _params(c.params), c.token68) for c in challenges]


def _authlens_parse(entry_args: tuple[list[str], str]) -> list[Any]:
    lines, field_name = entry_args
    return parse_challenges(lines, field=field_name)


PARSERS = [
    Parser("authlens (lex only)", lambda e: e["lines"], _lex, _norm_lexed),
    Parser(
        "authlens (parse+decode)",
        lambda e: (e["lines"], e.get("field", "WWW-Authenticate")),
        _authlens_parse,
        _norm_parsed,
    ),
    Parser("werkzeug", lambda e: e["lines"], _werkzeug, _norm_werkzeug),
    Parser(
        "www-authenticate",
        lambda e: ", ".join(e["lines"]),
        www_authenticate.parse,
        _norm_www_authenticate,
    ),
    Parser(
        "authchallenge", lambda e: e["lines"], authchallenge.parse_challenges, _norm_authchallenge
    ),
]


def expected_of(entry: dict[str, Any]) -> Norm:
    return [(c["scheme"].lower(), _params(c["params"]), c["token68"]) for c in entry["expected"]]


# -- correctness ---------------------------------------------------------------------------


@dataclass
class Score:
    exact: int = 0
    first: int = 0
    raised: int = 0
    valid: int = 0
    lenient: int = 0
    wrong: list[str] = field(default_factory=list)


def score(parser: Parser, corpus: list[dict[str, Any]]) -> Score:
    s = Score()
    for entry, arg in zip(corpus, parser.args, strict=True):
        expected = expected_of(entry)
        try:
            got = parser.normalize(parser.run(arg))
        except Exception:
            s.raised += 1
            s.wrong.append(f"{entry['name']} (raised)")
            continue
        if got[:1] == expected[:1]:
            s.first += 1
        if got == expected:
            s.exact += 1
            if entry["valid"]:
                s.valid += 1
            else:
                s.lenient += 1
        else:
            s.wrong.append(entry["name"])
    return s


# -- timing --------------------------------------------------------------------------------


def _one_pass(parser: Parser) -> None:
    run, times, clock = parser.run, parser.times, time.perf_counter
    gc.disable()
    try:
        start_pass = clock()
        for i, arg in enumerate(parser.args):
            t0 = clock()
            try:  # noqa: SIM105 - contextlib.suppress would add its own cost to every call
                run(arg)
            except Exception:
                pass
            times[i].append(clock() - t0)
        parser.pass_means.append((clock() - start_pass) / len(parser.args))
    finally:
        gc.enable()


def measure(parsers: list[Parser], rounds: int) -> None:
    for r in range(WARMUP_ROUNDS + rounds):
        order = parsers[r % len(parsers) :] + parsers[: r % len(parsers)]
        for parser in order:
            _one_pass(parser)
        gc.collect()
        if r == WARMUP_ROUNDS - 1:
            for parser in parsers:
                parser.times = [[] for _ in parser.args]
                parser.pass_means = []


def _per_header_medians(parser: Parser) -> list[float]:
    return [statistics.median(t) for t in parser.times]


# -- report --------------------------------------------------------------------------------


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f}"


def report(
    parsers: list[Parser], corpus: list[dict[str, Any]], rounds: int, show_wrong: bool
) -> None:
    n = len(corpus)
    n_valid = sum(1 for e in corpus if e["valid"])
    n_lenient = n - n_valid
    n_lines = sum(len(e["lines"]) for e in corpus)
    # More challenges than lines: at least one line holds several.
    one_line_multi = sum(1 for e in corpus if len(e["expected"]) > len(e["lines"]))
    print(
        f"corpus: {n} headers ({n_valid} valid, {n_lenient} lenient), {n_lines} field lines; "
        f"{rounds} interleaved rounds after {WARMUP_ROUNDS} warm-up; Python {sys.version.split()[0]}"
    )
    print()
    print(
        "| parser | median µs/header | mean µs/header | rounds p25–p75 µs | × lex | × parse+decode |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    base_lex = statistics.fmean(_per_header_medians(parsers[0]))
    base_full = statistics.fmean(_per_header_medians(parsers[1]))
    for p in parsers:
        med = _per_header_medians(p)
        q = statistics.quantiles(p.pass_means, n=4) if len(p.pass_means) > 1 else [0, 0, 0]
        mean = statistics.fmean(med)
        print(
            f"| {p.name} | {_us(statistics.median(med))} | {_us(mean)} | "
            f"{_us(q[0])}–{_us(q[2])} | {mean / base_lex:.2f} | {mean / base_full:.2f} |"
        )
    print()
    print(
        f"| parser | exact /{n} | valid /{n_valid} | lenient /{n_lenient} | first challenge /{n} | raised |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    scores = {p.name: score(p, corpus) for p in parsers}
    for p in parsers:
        s = scores[p.name]
        print(f"| {p.name} | {s.exact} | {s.valid} | {s.lenient} | {s.first} | {s.raised} |")
    print()
    print(
        f"werkzeug gets one header line at a time (its design: one challenge per header); "
        f"{one_line_multi} corpus headers put several challenges on one line, of which it "
        "can at best return the first."
    )
    if show_wrong:
        for p in parsers:
            wrong = scores[p.name].wrong
            print(f"\n{p.name}: wrong on {len(wrong)}: {', '.join(wrong) or '-'}")


def profile_lex(corpus_args: list[Any], repeat: int = 200) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        for arg in corpus_args:
            _lex(arg)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--rounds", type=int, default=None, help=f"timed rounds (default {DEFAULT_ROUNDS})"
    )
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_ROUNDS} rounds")
    ap.add_argument(
        "--show-wrong", action="store_true", help="list the entries each parser gets wrong"
    )
    ap.add_argument(
        "--profile", action="store_true", help="cProfile authlens lex-only over the corpus"
    )
    args = ap.parse_args(argv)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)

    corpus = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
    for parser in PARSERS:
        parser.args = [parser.prepare(entry) for entry in corpus]
        parser.times = [[] for _ in corpus]
    measure(PARSERS, rounds)
    report(PARSERS, corpus, rounds, args.show_wrong)
    if args.profile:
        profile_lex(PARSERS[0].args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
