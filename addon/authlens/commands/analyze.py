"""``authlens analyze``: judge recorded captures; terminal digest, JSON, HTML, annotated HAR.

Pipeline (memory bounded, see :mod:`authlens.analysis`):

1. one pass over every FILE in order (mitmproxy flow files and HAR, through mitmproxy's
   own readers): each flow becomes an exchange, is judged by one shared Session and is
   dropped; only judged flows' final results are kept, spooled to a temporary file;
2. ``--har``: a second pass over the files re-reads the flows, writes each judged flow's
   final annotation on it and streams mitmproxy's HAR of them out in chunks;
3. ``--html``: the streamed report over the results;
4. standard output: JSON (``--json``) or the terminal digest, summary first.

Output files are written atomically, so a failed run leaves no half file behind.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from authlens.analysis import Judged, ResultStore, Session
from authlens.commands._base import EXIT_FAIL_ON, EXIT_OK, UsageError
from authlens.findings import Severity
from authlens.report import jsonout
from authlens.report.summary import (
    SummaryBuilder,
    render_terminal_summary,
    severity_rank,
)
from authlens.report.terminal import Style, printable

TERMINAL_FLOWS = 30  # finding lines printed before "… and N more"
PROGRESS_INTERVAL = 0.1  # seconds between progress updates
_MARK = {"error": "✖", "warning": "▲", "info": "·"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    analyze = sub.add_parser(
        "analyze",
        help="explain the refused requests in mitmproxy flow files or HAR files",
        description=(
            "Judge every 401/407 and every authentication exchange in FILE... (mitmproxy "
            "flow files, HAR exported by browsers, mitmproxy or other tools). Several files "
            "are one session, read in order. Prints a summary and one line per flow with a "
            "finding; secrets are shown as keyed fingerprints unless --no-redact."
        ),
    )
    analyze.add_argument("files", nargs="+", metavar="FILE")
    analyze.add_argument("--json", action="store_true", help="print JSON (DESIGN.md §4)")
    analyze.add_argument("--html", metavar="OUT", help="write a self-contained HTML report")
    analyze.add_argument(
        "--har", metavar="OUT", help="write an annotated HAR (comment and _authlens per entry)"
    )
    analyze.add_argument(
        "--no-redact",
        action="store_true",
        help="keep passwords, tokens and cookies in the clear in every output",
    )
    analyze.add_argument(
        "--fail-on",
        choices=("error", "warning"),
        help="exit with status 1 if a diagnosis of this severity (or worse) is found",
    )
    analyze.set_defaults(handler=run_analyze)


def run_analyze(args: argparse.Namespace) -> int:
    outcome = analyze_files(
        args.files,
        redact=not args.no_redact,
        html=args.html,
        har=args.har,
        progress=sys.stderr,
    )
    try:
        if args.json:
            write_json(sys.stdout, outcome.session.results)
        else:
            sys.stdout.write(render_text(outcome, Style.for_stream(sys.stdout)))
        sys.stdout.flush()
    finally:
        outcome.session.close()
    worst = outcome.summary.get("worst_severity")
    if args.fail_on and severity_rank(worst) >= severity_rank(args.fail_on):
        return EXIT_FAIL_ON
    return EXIT_OK


# --- the pipeline ------------------------------------------------------------------------


@dataclass
class Outcome:
    """A finished analysis: the session (results inside), its summary, files written."""

    session: Session
    summary: dict[str, Any]
    files: Sequence[str]
    flows_read: int = 0
    written: list[tuple[str, str]] = field(default_factory=list)  # (what, path)


def analyze_files(
    files: Sequence[str],
    *,
    redact: bool = True,
    html: str | None = None,
    har: str | None = None,
    progress: TextIO | None = None,
    title: str | None = None,
) -> Outcome:
    """Judge ``files`` as one session and write the requested files.

    Raises :class:`UsageError` (exit status 2) for unusable input or an unwritable output;
    the caller closes ``outcome.session`` when done with the results.
    """
    from authlens.mitm import adapter, offline  # mitmproxy is imported only when needed

    try:
        offline.check_files(files)
    except adapter.CaptureError as exc:
        raise UsageError(str(exc)) from None
    session = Session(redact=redact)
    flows_read = 0
    try:
        meter = Progress(progress, len(files))
        try:
            for item in offline.iter_session(files, on_file=meter.file):
                recorded = offline.recorded_annotation(item.flow, redact=redact)
                exchange = offline.exchange_of(item.flow, force=recorded is not None)
                if exchange is not None:
                    session.observe(exchange, item.ordinal, recorded)
                elif (baseline := offline.baseline_of(item.flow)) is not None:
                    session.note(baseline)
                flows_read = item.ordinal + 1
                meter.tick(flows_read, len(session.results))
        except adapter.CaptureError as exc:
            raise UsageError(str(exc)) from None
        finally:
            meter.clear()
        results = session.finish()
        outcome = Outcome(session, summarize(results), files, flows_read)
        if har:
            meter.note(f"writing the annotated HAR (reading {len(files)} file(s) again)")
            _write(har, "annotated HAR", lambda: _save_har(files, results, har, redact), outcome)
        if html:
            meter.note("writing the HTML report")
            _write(
                html,
                "HTML report",
                lambda: _save_html(files, results, html, redact, title),
                outcome,
            )
        meter.clear()
        return outcome
    except BaseException:
        session.close()
        raise


def _write(path: str, what: str, fn: Any, outcome: Outcome) -> None:
    from authlens.mitm import adapter

    try:
        fn()
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    except adapter.CaptureError as exc:  # a file changed between the two passes
        raise UsageError(str(exc)) from None
    outcome.written.append((what, path))


def _save_har(files: Sequence[str], results: ResultStore, path: str, redact: bool) -> None:
    from authlens.mitm import export, offline

    export.save_har_file(path, offline.annotated_flows(files, results), redact=redact)


def _save_html(
    files: Sequence[str], results: ResultStore, path: str, redact: bool, title: str | None
) -> None:
    from authlens.mitm import export

    names = [Path(f).name for f in files]
    export.save_report_file(
        path,
        (j.flow(extra=False) for j in results),
        title=title or f"authlens report: {', '.join(names)[:200]}",
        source_files=names,
        redacted=redact,
    )


def summarize(results: Iterable[Judged]) -> dict[str, Any]:
    """The ``summary`` of ``analyze --json``, over the judged flows."""
    builder = SummaryBuilder()
    for judged in results:
        builder.add(judged.flow(extra=False))
    return builder.result()


# --- output ------------------------------------------------------------------------------


def write_json(out: TextIO, results: ResultStore) -> None:
    """``{"flows": [...], "summary": {...}}``, streamed flow by flow (DESIGN.md §4).

    ``clean``: undecodable header bytes (lone surrogates, as mitmproxy hands them over)
    are written as visible escapes inside the JSON strings (``\\xff``), the form flow
    metadata stores them in, so the output is always valid UTF-8 (a surrogate would make
    writing it fail)."""
    builder = SummaryBuilder()
    out.write('{\n  "flows": [')
    for i, judged in enumerate(results):
        flow = judged.flow()
        builder.add(flow)
        text = textwrap.indent(jsonout.dumps(flow, indent=2, clean=True), "    ")
        out.write(("\n" if i == 0 else ",\n") + text)
    summary = jsonout.dumps(builder.result(), indent=2, clean=True)
    summary = textwrap.indent(summary, "  ").lstrip()
    out.write(f'\n  ],\n  "summary": {summary}\n}}\n')


def render_text(outcome: Outcome, style: Style) -> str:
    """The terminal digest: summary, one line per flow with a finding, files written."""
    results = outcome.session.results
    read = outcome.flows_read
    lines: list[str] = []
    if not len(results):
        lines.append(
            f"authlens: {read:,} flow{'s' if read != 1 else ''} read; "
            "none is about authentication (no 401/407, challenge or credentials)."
        )
    else:
        lines.append(render_terminal_summary(outcome.summary, style).rstrip("\n"))
        lines += ["", style.bold("Findings") + style.dim("  (capture order, top diagnosis)")]
        lines += finding_lines(results, style)
    for what, path in outcome.written:
        lines.append(f"{what}: {printable(path, 300)}")
    return "\n".join(lines) + "\n"


def finding_lines(
    results: Iterable[Judged], style: Style, limit: int = TERMINAL_FLOWS
) -> list[str]:
    """One line per judged flow with an error or warning (info-only flows, normal
    handshake legs, are counted, not listed, unless nothing else was found)."""
    serious: list[Judged] = []
    quiet: list[Judged] = []
    more = quiet_count = 0
    for judged in results:
        if severity_rank(judged.worst) >= severity_rank("warning"):
            if len(serious) < limit:
                serious.append(judged)
            else:
                more += 1
        else:
            quiet_count += 1
            if len(quiet) < limit:
                quiet.append(judged)
    shown = serious or quiet
    lines = [_finding(j, style) for j in shown]
    if serious:
        if more:
            lines.append(style.dim(f"  … and {more:,} more (see --json or --html)"))
        if quiet_count:
            lines.append(
                style.dim(
                    f"  + {quiet_count:,} flow(s) with information only (normal handshake legs)"
                )
            )
    elif quiet_count > len(quiet):
        lines.append(style.dim(f"  … and {quiet_count - len(quiet):,} more"))
    return lines


def _finding(judged: Judged, style: Style) -> str:
    worst = judged.worst or "info"
    mark = style.severity(Severity(worst), _MARK[worst])
    status = str(judged.status) if judged.status is not None else "error"
    head = f"{printable(judged.method, 20)} {printable(judged.url, 100)} {status}"
    return f"  {mark} {head}  → {printable(judged.headline(), 160)}"


# --- progress ------------------------------------------------------------------------------


class Progress:
    """A one-line progress indicator on ``stream`` when it is a terminal (else silent)."""

    def __init__(self, stream: TextIO | None, files: int) -> None:
        self.stream = stream
        self.enabled = bool(stream is not None and stream.isatty())
        self.files = files
        self.name = ""
        self.index = 0
        self._last = 0.0
        self._shown = False

    def file(self, index: int, path: Path) -> None:
        self.index = index
        self.name = printable(path.name, 60)
        self._show(0, 0, force=True)

    def tick(self, flows: int, judged: int) -> None:
        if self.enabled and time.monotonic() - self._last >= PROGRESS_INTERVAL:
            self._show(flows, judged)

    def _show(self, flows: int, judged: int, force: bool = False) -> None:
        if not self.enabled or self.stream is None:
            return
        if not force and time.monotonic() - self._last < PROGRESS_INTERVAL:
            return
        self._last = time.monotonic()
        where = f" ({self.index + 1}/{self.files})" if self.files > 1 else ""
        counts = f": {flows:,} flows, {judged:,} judged" if flows else ""
        self.stream.write(f"\r\x1b[Kauthlens: reading {self.name}{where}{counts}")
        self.stream.flush()
        self._shown = True

    def note(self, text: str) -> None:
        """Say what a longer step after reading is doing (until :meth:`clear`)."""
        if self.enabled and self.stream is not None:
            self.stream.write(f"\r\x1b[Kauthlens: {text} …")
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown and self.stream is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
