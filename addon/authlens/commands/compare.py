"""``authlens compare``: why the browser was let in and the script was not (DESIGN.md §4).

Each refused non-browser request of AUTOMATED_FILE is paired with the browser's accepted
request to the same endpoint in BROWSER_FILE and compared (:mod:`authlens.compare`). The
human output leads with one sentence per refusal; ``--json`` is the ``analyze`` shape for
the automated file's judged or compared flows, with ``comparison`` and the diagnoses it
implies merged in. The same file twice, or one file holding both clients, compares within it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from authlens.client import classify
from authlens.commands._base import EXIT_OK, UsageError
from authlens.compare import Comparison, compare_captures
from authlens.diagnose.api import Analyzer, Verdict
from authlens.model import Exchange
from authlens.refusal import identify
from authlens.report import jsonout
from authlens.report.har import redact_url
from authlens.report.summary import SummaryBuilder, severity_rank
from authlens.report.terminal import printable

_DIAGNOSIS_KEYS = (
    "id",
    "severity",
    "title",
    "explanation",
    "fix",
    "evidence",
    "confidence",
    "references",
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "compare",
        help="compare a browser's capture with a script's: why was the script refused?",
        description=(
            "Pairs each refused (401/403/407) script request in AUTOMATED_FILE with the "
            "browser's accepted request to the same endpoint in BROWSER_FILE and ranks what "
            "differs. Each file is a mitmproxy flow file or a HAR; give the same file twice "
            "(or one holding both clients) to compare within it."
        ),
    )
    parser.add_argument("browser_file", metavar="BROWSER_FILE")
    parser.add_argument("automated_file", metavar="AUTOMATED_FILE")
    parser.add_argument("--json", action="store_true", help="print JSON (the analyze shape)")
    parser.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    same = _same_file(args.browser_file, args.automated_file)
    browser = _read(args.browser_file)
    automated = browser if same else _read(args.automated_file)
    comparisons = compare_captures(browser, automated)
    if args.json:
        flows = merged_flows(browser, automated, comparisons, same=same)
        builder = SummaryBuilder()
        for flow in flows:
            builder.add(flow)
        # clean: undecodable bytes as visible escapes (\xff), always valid UTF-8.
        print(jsonout.dumps({"flows": flows, "summary": builder.result()}, clean=True))
    else:
        sys.stdout.write(render(automated, comparisons, args.browser_file, args.automated_file))
    return EXIT_OK


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a == b


def _read(path: str) -> list[Exchange]:
    from authlens.mitm import adapter  # mitmproxy is imported only when needed

    try:
        return [
            adapter.exchange_from_flow(f, adapter.SOURCE_FLOWFILE) for f in adapter.read_flows(path)
        ]
    except adapter.CaptureError as exc:
        raise UsageError(str(exc)) from None


def merged_flows(
    browser: Sequence[Exchange],
    automated: Sequence[Exchange],
    comparisons: dict[str, Comparison],
    *,
    same: bool,
) -> list[dict[str, Any]]:
    """The ``analyze --json`` flow objects of ``automated`` (file order): the analyzer's
    verdicts, with each refusal's comparison and its implied diagnoses merged in."""
    analyzer = Analyzer()
    if not same:
        for exchange in browser:
            analyzer.note(exchange)  # baselines only: the browser file is not judged
    verdicts: dict[str, Verdict] = {}
    for exchange in automated:
        verdicts.update((v.exchange_id, v) for v in analyzer.observe(exchange))
    verdicts.update((v.exchange_id, v) for v in analyzer.finish())
    flows: list[dict[str, Any]] = []
    for exchange in automated:
        verdict = verdicts.get(exchange.id)
        comparison = comparisons.get(exchange.id)
        if verdict is None and comparison is None:
            continue
        metadata = dict(verdict.metadata) if verdict is not None else _bare_metadata(exchange)
        lines = verdict.comment.splitlines() if verdict is not None else []
        if comparison is not None:
            metadata["comparison"] = comparison.to_json()
            diagnoses = list(metadata["diagnoses"])
            known = {d["id"] for d in diagnoses}
            for implied in comparison.diagnoses_json():
                if implied["id"] not in known:
                    diagnoses.append({k: implied[k] for k in _DIAGNOSIS_KEYS})
                    lines.append(f"{implied['id']}: {implied['headline']}")
            diagnoses.sort(key=lambda d: (-severity_rank(d["severity"]), -d["confidence"]))
            metadata["diagnoses"] = diagnoses
        flow: dict[str, Any] = {
            "id": exchange.id,
            "method": exchange.request.method,
            # As analyze shows it: secret-named query values (?access_token=) fingerprinted.
            "url": redact_url(exchange.request.url),
            "status": exchange.status,
        }
        flow.update((k, v) for k, v in metadata.items() if k not in flow)
        flow["comment"] = "\n".join(lines[:3])
        flows.append(flow)
    return flows


def _bare_metadata(exchange: Exchange) -> dict[str, Any]:
    return {
        "version": 1,
        "client": classify(exchange.request).to_json(),
        "refused_by": identify(exchange).to_json(),
        "challenges": [],
        "credentials": None,
        "diagnoses": [],
        "comparison": None,
    }


def render(
    automated: Sequence[Exchange],
    comparisons: dict[str, Comparison],
    browser_file: str,
    automated_file: str,
) -> str:
    """The human output: per refusal, the one-sentence headline, then the details."""
    if not comparisons:
        return (
            f"No refused script request in {printable(automated_file, 300)} has a matching "
            f"accepted browser request in {printable(browser_file, 300)}.\n"
        )
    # Everything from the traffic goes through printable() (control characters escaped: a
    # header must not drive the terminal) and URLs through redact_url (?access_token=).
    out: list[str] = []
    for exchange in automated:
        comparison = comparisons.get(exchange.id)
        if comparison is None:
            continue
        request = exchange.request
        url = printable(redact_url(request.url), 300)
        out.append(f"{exchange.status} {printable(request.method, 20)} {url}")
        out.append(f"  {printable(comparison.headline, 1000)}")
        out.append(f"  compared with the browser's request {printable(comparison.baseline)}")
        if comparison.differences:
            out.append("  differences (most likely cause first; * decisive):")
        for d in comparison.differences:
            mark = "*" if d.decisive else "-"
            browser = printable(d.browser) if d.browser is not None else "(absent)"
            script = printable(d.automated) if d.automated is not None else "(absent)"
            out.append(f"    {mark} {printable(d.label)}: browser {browser}, script {script}")
        for implied in comparison.diagnoses_json():
            headline = printable(implied["headline"], 1000)
            out.append(f"  {implied['id']} ({implied['severity']}): {headline}")
        for note in comparison.notes:
            out.append(f"  note: {printable(note, 1000)}")
        out.append("")
    return "\n".join(out)
