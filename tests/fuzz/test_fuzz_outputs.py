"""Fuzzing the outputs: hostile flows through every exporter and the real command line.

Flows come from :func:`strategies.output_sessions` (the hostile flows of
:func:`strategies.flow_specs`, plus markup, terminal escapes, undecodable bytes and lone
surrogates in realms, paths, reasons, User-Agent, Server, Location and header names). Each
session is written as a mitmproxy flow file (``FlowWriter``) and as mitmproxy's own HAR
(``SaveHar``), and then:

- in-process, through what ``authlens analyze`` does (one session over both files): the
  ``--json`` document, the terminal digest, the summary, the HTML report, the annotated
  HAR, the "Auth" content view on every message, and :func:`export.write_har` of the raw
  flows. Nothing raises; every text encodes as strict UTF-8; JSON parses and holds no
  ``internal-error``; the HTML decodes as UTF-8 and holds no live injected markup; the
  HAR is HAR 1.2 and reads back through mitmproxy's reader; no terminal output holds an
  escape character; no secret canary appears (redaction on);
- with a few examples only (subprocesses are slow), through the real CLI:
  ``authlens analyze --json/--html/--har``, ``analyze`` (terminal), ``compare`` (terminal
  and ``--json``), ``decode`` and ``decode --json`` of the flows' auth fields on standard
  input. Exit status 0 (1 only with ``--fail-on``), 2 for unusable input; never a
  traceback, never "internal error", never a UnicodeEncodeError.

Undecodable bytes and lone surrogates in outputs (the choice, implemented in
:mod:`authlens.report.jsonout`, :func:`authlens.report.terminal.printable` and
:mod:`authlens.mitm.export`):

- JSON outputs (``analyze --json``, ``compare --json``, ``decode --json``) write them as
  visible backslash escapes inside the string: ``\\xff`` for an undecodable byte
  (mitmproxy hands those over surrogate-escaped), ``\\ud800`` for any other lone
  surrogate, exactly as flow metadata stores them; never U+FFFD, which would hide which
  byte it was;
- terminal output escapes them like every other non-printable character;
- the annotated HAR writes every string the same way (HAR text cannot hold raw bytes, and
  mitmproxy's own HAR reader skips an entry holding a JSON ``\\udcff`` escape), and
  request URLs as ASCII, as browsers do: IDNA host, non-ASCII percent-encoded as UTF-8,
  an undecodable byte as the byte it was (``%FF``); so every entry reads back;
- as a last resort the CLI's standard streams use ``errors="backslashreplace"``, so no
  terminal encoding (not even ASCII) can make a command fail.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from mitmproxy import connection, http
from mitmproxy.addons.savehar import SaveHar
from mitmproxy.contentviews import Metadata
from mitmproxy.flow import Error
from mitmproxy.io import FlowWriter
from mitmproxy.test import tflow, tutils
from strategies import (
    CANARY_FORMS,
    XSS_MARK,
    FlowSpec,
    fuzz_settings,
    internal_errors,
    output_sessions,
)

from authlens.commands import analyze
from authlens.mitm import adapter, export, offline
from authlens.mitm.contentview import auth_view
from authlens.report import jsonout
from authlens.report.har import validate_har
from authlens.report.summary import render_terminal_summary
from authlens.report.terminal import Style

ROOT = Path(__file__).resolve().parents[2]
START = 1_700_000_000.0
# Each CLI example runs six `python -m authlens` processes (about 4 s); raise it for a
# longer run with AUTHLENS_CLI_EXAMPLES=50.
CLI_EXAMPLES = int(os.environ.get("AUTHLENS_CLI_EXAMPLES", "3"))


# --- flows ---------------------------------------------------------------------------------


def _client(i: int) -> connection.Client:
    c = tflow.tclient_conn()
    c.peername = (f"127.0.0.{i % 3 + 1}", 50_000 + i)
    return c


def _server(i: int) -> connection.Server:
    s = tflow.tserver_conn()
    s.address = ("127.0.0.1", 8000 + i)
    s.peername = ("127.0.0.1", 8000 + i)
    return s


def build_flows(specs: list[FlowSpec]) -> list[http.HTTPFlow]:
    """mitmproxy flows of ``specs``, as tests/fuzz/test_fuzz_addon.py builds them."""
    clients = [_client(i) for i in range(6)]
    servers = [_server(i) for i in range(6)]
    clock = START
    flows = []
    for spec in specs:
        clock += spec.dt
        client = clients[spec.client % len(clients)]
        client.timestamp_tls_setup = START if spec.tls else None
        connect = spec.method == b"CONNECT"
        request = tutils.treq(
            method=spec.method,
            scheme=spec.scheme,
            host=spec.host,
            port=spec.port,
            authority=f"{spec.host}:{spec.port}".encode() if connect else b"",
            path=b"" if connect else spec.path,
            http_version=spec.http_version,
            headers=http.Headers(spec.request_headers),
            content=spec.request_body,
            timestamp_start=clock,
            timestamp_end=clock + 0.001,
        )
        flow = tflow.tflow(
            client_conn=client, server_conn=servers[spec.server % len(servers)], req=request
        )
        if spec.proxyauth is not None:
            flow.metadata["proxyauth"] = spec.proxyauth
        if spec.error is not None:
            flow.error = Error(spec.error, timestamp=clock + 0.002)
        elif spec.status is not None:
            flow.response = tutils.tresp(
                status_code=spec.status,
                reason=spec.reason,
                http_version=spec.http_version,
                headers=http.Headers(spec.response_headers),
                content=spec.response_body,
                timestamp_start=clock + 0.002,
                timestamp_end=clock + 0.003,
            )
        flows.append(flow)
    return flows


def write_mitm(path: Path, flows: list[http.HTTPFlow]) -> Path:
    with path.open("wb") as fo:
        writer = FlowWriter(fo)
        for f in flows:
            writer.add(f)
    return path


def write_mitmproxy_har(path: Path, flows: list[http.HTTPFlow]) -> Path:
    """mitmproxy's own HAR export (what ``hardump`` writes) of ``flows``."""
    har = SaveHar().make_har(flows)
    path.write_text(json.dumps(har, indent=1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    # Module-scoped, with a fresh directory per example (example_dir): hypothesis runs
    # many examples per test function.
    with tempfile.TemporaryDirectory(prefix="authlens-fuzz-out-") as d:
        yield Path(d)


def example_dir(base: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=base))


# --- checks --------------------------------------------------------------------------------

# Live markup built from the injections: the mark right after a tag opener or inside an
# unescaped attribute of a tag the report did not write.
_LIVE_MARKUP = re.compile(
    r"<(?:script|img|svg|textarea|style)\b[^<>]*" + XSS_MARK + r"|<script>" + XSS_MARK
    + r"|<!--" + XSS_MARK,
    re.IGNORECASE,
)  # fmt: skip


def no_canary(text: str, where: str) -> None:
    """:func:`strategies.assert_no_canary`, with the text around the leak in the message."""
    lowered = text.lower()
    for form in CANARY_FORMS:
        i = lowered.find(form.lower())
        assert i < 0, f"secret canary ({form}) in {where}: …{text[max(0, i - 600) : i + 200]!r}…"


def check_text(text: str, where: str, *, terminal: bool = False) -> None:
    text.encode("utf-8")  # strict: no lone surrogate reaches an output
    no_canary(text, where)
    if terminal:
        assert "\x1b" not in text, f"terminal escape in {where}"
        assert "\x07" not in text and "\r" not in text.replace("\r\n", "\n"), where


def check_json(text: str, where: str) -> Any:
    check_text(text, where)
    doc = json.loads(text)
    assert not internal_errors(doc), json.dumps(internal_errors(doc))[:2000]
    return doc


def check_html(path: Path) -> None:
    data = path.read_bytes()
    text = data.decode("utf-8")  # strict
    no_canary(text, "the HTML report")
    assert not _LIVE_MARKUP.search(text), _LIVE_MARKUP.search(text)
    # One script and one style element: the report's own; nothing injected added one.
    assert len(re.findall(r"<script\b", text, re.IGNORECASE)) <= 1
    assert len(re.findall(r"<style\b", text, re.IGNORECASE)) <= 1


def check_har(path: Path, expected_entries: int | None, *, where: str) -> None:
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert validate_har(doc) == [], validate_har(doc)[:10]
    if expected_entries is not None:
        assert len(doc["log"]["entries"]) == expected_entries
    for entry in doc["log"]["entries"]:
        annotations = json.dumps([entry.get("comment"), entry.get("_authlens")], ensure_ascii=False)
        check_text(annotations, f"the annotations of {where}")
    no_canary(text, where)
    # It reads back through mitmproxy's HAR reader, as `authlens analyze` reads it. Entries
    # mitmproxy's reader cannot take (an authority-form CONNECT has "No hostname") are
    # skipped with a log line; undecodable bytes must never be the reason (export._clean
    # spells them out).
    with skipped_entries() as skipped:
        count = len(list(adapter.read_flows(path)))
    assert count + len(skipped) == len(doc["log"]["entries"])
    for reason in skipped:
        assert "surrogate" not in reason and "codec" not in reason, reason


@contextlib.contextmanager
def skipped_entries() -> Iterator[list[str]]:
    """The "HAR entry N skipped (...)" warnings of authlens' HAR reader."""
    found: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if "skipped (" in message:
                found.append(message)

    handler = Handler(logging.WARNING)
    log = logging.getLogger("authlens.mitm.adapter")
    log.addHandler(handler)
    try:
        yield found
    finally:
        log.removeHandler(handler)


# --- in-process ----------------------------------------------------------------------------


@fuzz_settings(scale=1)
@given(output_sessions(max_flows=5))
def test_reports_in_process(workdir: Path, specs: list[FlowSpec]) -> None:
    flows = build_flows(specs)
    d = example_dir(workdir)
    mitm = write_mitm(d / "in.mitm", flows)
    har_in = write_mitmproxy_har(d / "in.har", flows)
    html_out, har_out = d / "out.html", d / "out.har"
    outcome = analyze.analyze_files([str(mitm), str(har_in)], html=str(html_out), har=str(har_out))
    try:
        buffer = io.StringIO()
        analyze.write_json(buffer, outcome.session.results)
        doc = check_json(buffer.getvalue(), "analyze --json")
        assert len(doc["flows"]) == len(outcome.session.results)
        check_text(analyze.render_text(outcome, Style(False)), "analyze (terminal)", terminal=True)
        check_json(jsonout.dumps(outcome.summary, clean=True), "the summary")
        check_text(
            render_terminal_summary(outcome.summary, Style(False)), "the summary", terminal=True
        )
        check_html(html_out)
        check_har(har_out, outcome.flows_read, where="the annotated HAR")
        # The Auth view on every message of the annotated flows.
        for f in offline.annotated_flows([str(mitm)], outcome.session.results):
            for message in (f.request, f.response):
                if message is None:
                    continue
                meta = Metadata(flow=f, http_message=message)
                auth_view.render_priority(message.raw_content or b"", meta)
                check_text(auth_view.prettify(message.raw_content or b"", meta), "the Auth view")
    finally:
        outcome.session.close()
    # The exporter on flows as they are (no annotation), and on the live-style HAR path.
    out = io.StringIO()
    assert export.write_har(out, flows) == len(flows)
    check_har_text(out.getvalue(), len(flows))


def check_har_text(text: str, entries: int) -> None:
    doc = json.loads(text)
    assert validate_har(doc) == []
    assert len(doc["log"]["entries"]) == entries
    no_canary(text, "export.write_har")


# --- the real command line -------------------------------------------------------------------


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("AUTHLENS_DEBUG", "NO_COLOR")}
    env["PYTHONPATH"] = str(ROOT / "addon")
    return subprocess.run(
        [sys.executable, "-m", "authlens", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def check_run(done: subprocess.CompletedProcess[bytes], allowed: tuple[int, ...], what: str) -> str:
    stderr = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, f"{what}: {stderr[-3000:]}"
    assert "internal error" not in stderr, f"{what}: {stderr[-3000:]}"
    assert done.returncode in allowed, f"{what}: exit {done.returncode}: {stderr[-2000:]}"
    out = done.stdout.decode("utf-8")  # strict: the CLI writes UTF-8
    no_canary(out, what)
    return out


def auth_field_lines(flows: list[http.HTTPFlow]) -> bytes:
    lines: list[bytes] = []
    for f in flows:
        for name, value in f.request.headers.fields:
            lines.append(name + b": " + value)
        if f.response is not None:
            for name, value in f.response.headers.fields:
                lines.append(name + b": " + value)
    return b"\n".join(line.replace(b"\r", b" ").replace(b"\n", b" ") for line in lines) + b"\n"


@settings(fuzz_settings(), max_examples=CLI_EXAMPLES)
@given(output_sessions(max_flows=4))
def test_cli_on_hostile_captures(workdir: Path, specs: list[FlowSpec]) -> None:
    flows = build_flows(specs)
    d = example_dir(workdir)
    mitm = write_mitm(d / "in.mitm", flows)
    har_in = write_mitmproxy_har(d / "in.har", flows)
    html_out, har_out = d / "out.html", d / "out.har"

    out = check_run(
        cli(
            "analyze",
            str(mitm),
            str(har_in),
            "--json",
            "--html",
            str(html_out),
            "--har",
            str(har_out),
        ),
        (0,),
        "analyze --json --html --har",
    )
    check_json(out, "analyze --json (CLI)")
    check_html(html_out)
    check_har(har_out, None, where="analyze --har (CLI)")
    text = check_run(cli("analyze", str(mitm), "--fail-on", "warning"), (0, 1), "analyze")
    check_text(text, "analyze (CLI terminal)", terminal=True)
    text = check_run(cli("compare", str(har_in), str(mitm)), (0,), "compare")
    check_text(text, "compare (CLI terminal)", terminal=True)
    check_json(
        check_run(cli("compare", str(mitm), str(mitm), "--json"), (0,), "compare --json"),
        "compare --json",
    )
    lines = auth_field_lines(flows)
    text = check_run(cli("decode", "-", stdin=lines), (0, 2), "decode -")
    check_text(text, "decode (CLI terminal)", terminal=True)
    done = cli("decode", "--json", "-", stdin=lines)
    out = check_run(done, (0, 2), "decode --json -")
    if done.returncode == 0:
        check_json(out, "decode --json (CLI)")


def test_cli_unusable_input_exits_2_without_traceback(workdir: Path) -> None:
    started = time.monotonic()
    empty = workdir / "empty.mitm"
    empty.write_bytes(b"")
    garbage = workdir / "garbage.har"
    garbage.write_bytes(b'{"log": {"entries": [{"request": 1}]}}\xff\xfe')
    binary = workdir / "binary.mitm"
    binary.write_bytes(b"\x00\xff" * 500)
    for args in (
        ("analyze", str(garbage)),
        ("analyze", str(binary), "--json"),
        ("analyze", str(workdir / "missing.mitm")),
        ("analyze", str(workdir)),
        ("compare", str(garbage), str(binary)),
        ("compare", str(workdir / "missing.har"), str(empty)),
    ):
        check_run(cli(*args), (2,), " ".join(args))
    # An empty flow file is a capture with nothing in it.
    check_run(cli("analyze", str(empty)), (0,), "analyze of an empty file")
    # decode: nothing to decode is a usage error; hostile bytes on stdin are not.
    check_run(cli("decode", "-", stdin=b"Content-Type: text/plain\n"), (2,), "decode of nothing")
    hostile = (
        b'WWW-Authenticate: Basic realm="\xff\xed\xa0\x80\x1b[2J"\nAuthorization: Basic \xff\xfe\n'
    )
    check_run(cli("decode", "--json", "-", stdin=hostile), (0,), "decode --json of bad bytes")
    text = check_run(cli("decode", "-", stdin=hostile), (0,), "decode of bad bytes")
    check_text(text, "decode of bad bytes", terminal=True)
    assert time.monotonic() - started < 30
