"""Undecodable bytes in outputs (found by tests/fuzz/test_fuzz_outputs.py): JSON output
spells them as visible escapes, the annotated HAR reads back through mitmproxy's reader,
and the CLI's streams never raise UnicodeEncodeError."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from mitmproxy import http
from mitmproxy.io import FlowWriter
from mitmproxy.test import tflow, tutils

from authlens.commands import analyze
from authlens.mitm import adapter, export

ROOT = Path(__file__).resolve().parents[2]


def hostile_flow() -> http.HTTPFlow:
    request = tutils.treq(headers=http.Headers([(b"User-Agent", b"curl/8\xff\xfe")]))
    response = tutils.tresp(
        status_code=401,
        headers=http.Headers(
            [(b"WWW-Authenticate", b'Basic realm="\xff\xed\xa0\x80"'), (b"Server", b"\xff")]
        ),
        content=b"",
    )
    return tflow.tflow(req=request, resp=response)


def write(path: Path, flows: list[http.HTTPFlow]) -> Path:
    with path.open("wb") as fo:
        writer = FlowWriter(fo)
        for f in flows:
            writer.add(f)
    return path


def test_analyze_json_spells_undecodable_bytes(tmp_path: Path) -> None:
    capture = write(tmp_path / "c.mitm", [hostile_flow()])
    outcome = analyze.analyze_files([str(capture)])
    try:
        out = io.StringIO()
        analyze.write_json(out, outcome.session.results)
    finally:
        outcome.session.close()
    text = out.getvalue()
    text.encode("utf-8")  # strict: no lone surrogate
    doc = json.loads(text)
    assert doc["flows"]
    assert "\\xff" in json.dumps(doc)  # the byte is still visible, as an escape


def test_annotated_har_reads_back_with_undecodable_bytes(tmp_path: Path) -> None:
    flows = [hostile_flow()]
    path = tmp_path / "a.har"
    assert export.save_har_file(path, flows) == 1
    path.read_text(encoding="utf-8")
    assert "\\udc" not in path.read_text()  # no lone-surrogate JSON escapes
    assert len(list(adapter.read_flows(path))) == 1  # mitmproxy's reader took the entry


def cli(
    *args: str, stdin: bytes, encoding: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "AUTHLENS_DEBUG"}
    env["PYTHONPATH"] = str(ROOT / "addon")
    if encoding:
        env["PYTHONIOENCODING"] = encoding
    return subprocess.run(
        [sys.executable, "-m", "authlens", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_decode_never_fails_on_encoding() -> None:
    hostile = b'WWW-Authenticate: Basic realm="\xff\xed\xa0\x80 \xe2\x9c\x96"\n'
    for args, encoding in ((("--json", "-"), None), (("-",), None), (("-",), "ascii")):
        done = cli("decode", *args, stdin=hostile, encoding=encoding)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert b"Traceback" not in done.stderr and b"internal error" not in done.stderr
        done.stdout.decode("utf-8")


def test_annotated_har_writes_idn_hosts_in_ascii(tmp_path: Path) -> None:
    # mitmproxy reads an xn-- host as Unicode and would write it so; its HAR reader then
    # refuses the entry.
    flow = hostile_flow()
    flow.request.host = "xn--nxasmq6b"
    path = tmp_path / "idn.har"
    export.save_har_file(path, [flow])
    (read,) = adapter.read_flows(path)
    again = tmp_path / "again.har"
    export.save_har_file(again, [read])
    url = json.loads(again.read_text())["log"]["entries"][0]["request"]["url"]
    assert url.startswith("http://xn--nxasmq6b")
    assert len(list(adapter.read_flows(again))) == 1


def test_annotated_har_percent_encodes_non_ascii_paths(tmp_path: Path) -> None:
    flow = hostile_flow()
    flow.request.path = "/\u202eé\udcff?access_token=x&q=é"
    path = tmp_path / "path.har"
    export.save_har_file(path, [flow])
    url = json.loads(path.read_text())["log"]["entries"][0]["request"]["url"]
    assert url.isascii()
    assert "/%E2%80%AE%C3%A9%FF?" in url  # the undecodable byte is the byte it was
    (read,) = adapter.read_flows(path)
    assert read.request.path.startswith("/%E2%80%AE")
