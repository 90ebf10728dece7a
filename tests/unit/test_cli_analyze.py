"""``authlens analyze`` as a user runs it: a real ``python -m authlens`` subprocess on flow
files written with mitmproxy's FlowWriter and on HAR files (mitmproxy's and a browser's).

Captures are built from ``mitmproxy.test`` flows with fixed timestamps, so every run
judges the same thing; the engine itself is tested elsewhere, here it is the command:
JSON shape, exit statuses, redaction, sessions over several files, the annotated HAR.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.addons.savehar import SaveHar
from mitmproxy.io import FlowWriter
from mitmproxy.test import tflow, tutils

from authlens.mitm.adapter import read_flows
from authlens.report.har import validate_har

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Tr0ub4dor&3-canary"
CHALLENGE = ("WWW-Authenticate", 'Basic realm="shop"')
T0 = 1_700_000_000.0
META_KEYS = {"version", "client", "refused_by", "challenges", "credentials", "diagnoses"}


def hdrs(*pairs: tuple[str, str]) -> http.Headers:
    return http.Headers([(k.encode(), v.encode()) for k, v in pairs])


def basic(user: str, password: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


def exchange(
    path: str,
    status: int,
    *,
    req: tuple[tuple[str, str], ...] = (),
    resp: tuple[tuple[str, str], ...] = (),
    t: float = T0,
) -> http.HTTPFlow:
    request = tutils.treq(
        host="127.0.0.1",
        port=8080,
        path=path.encode(),
        headers=hdrs(("Host", "127.0.0.1:8080"), ("User-Agent", "python-requests/2.32.3"), *req),
        timestamp_start=t,
        timestamp_end=t + 0.01,
    )
    response = tutils.tresp(
        status_code=status,
        reason=b"Unauthorized" if status == 401 else b"OK",
        headers=hdrs(*resp),
        content=b"",
        timestamp_start=t + 0.02,
        timestamp_end=t + 0.03,
    )
    return tflow.tflow(req=request, resp=response)


def wrong_password() -> list[http.HTTPFlow]:
    """A challenge, a retry with a wrong password (refused), and unrelated traffic."""
    return [
        exchange("/orders", 401, resp=(CHALLENGE,)),
        exchange("/orders", 401, req=(basic("alice", PASSWORD),), resp=(CHALLENGE,), t=T0 + 1),
        exchange("/plain", 200, t=T0 + 2),
    ]


def good_login() -> list[http.HTTPFlow]:
    """A normal handshake: challenge, then accepted credentials (info only)."""
    return [
        exchange("/home", 401, resp=(CHALLENGE,)),
        exchange("/home", 200, req=(basic("alice", "right-one"),), t=T0 + 1),
    ]


def write_flows(path: Path, flows: list[http.HTTPFlow]) -> Path:
    with path.open("wb") as fo:
        writer = FlowWriter(fo)
        for f in flows:
            writer.add(f)
    return path


def write_har(path: Path, flows: list[http.HTTPFlow]) -> Path:
    path.write_text(json.dumps(SaveHar().make_har(flows)))
    return path


def analyze(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AUTHLENS_DEBUG"}
    env["PYTHONPATH"] = str(ROOT / "addon")
    return subprocess.run(
        [sys.executable, "-m", "authlens", "analyze", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def as_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(done.stdout)
    assert isinstance(data, dict)
    return data


def ids(doc: dict[str, Any]) -> list[list[str]]:
    return [[d["id"] for d in f["diagnoses"]] for f in doc["flows"]]


def secrets_of(user: str = "alice", password: str = PASSWORD) -> list[str]:
    return [password, base64.b64encode(f"{user}:{password}".encode()).decode()]


# --- output ------------------------------------------------------------------------------


def test_json_shape(tmp_path: Path) -> None:
    capture = write_flows(tmp_path / "cap.mitm", wrong_password())
    done = analyze(capture, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = as_json(done)
    assert set(doc) == {"flows", "summary"}
    assert len(doc["flows"]) == 2  # the 200 without auth is not about authentication
    first, second = doc["flows"]
    for flow in doc["flows"]:
        assert {"id", "method", "url", "status", "comparison"} | META_KEYS <= set(flow)
        assert flow["method"] == "GET"
        assert flow["url"] == "http://127.0.0.1:8080/orders"
        assert flow["status"] == 401
        assert flow["version"] == 1
        assert flow["client"]["kind"] == "automated"
    assert "credentials-rejected" in ids(doc)[1]
    assert second["credentials"]["scheme"] == "Basic"
    assert second["comment"].startswith(ids(doc)[1][0])
    assert second["marker"] == ":no_entry:"
    assert first["id"] != second["id"]
    summary = doc["summary"]
    assert summary["totals"]["flows"] == 2
    assert summary["totals"]["refused"] == 2
    assert summary["worst_severity"] == "error"
    assert "credentials-rejected" in summary["diagnoses"]
    assert "http://127.0.0.1:8080" in summary["origins"]
    for secret in secrets_of():
        assert secret not in done.stdout + done.stderr


def test_terminal_digest(tmp_path: Path) -> None:
    capture = write_flows(tmp_path / "cap.mitm", wrong_password())
    done = analyze(capture, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("authlens summary: 2 flows, 2 refused")
    for section in ("By diagnosis", "By origin", "By client", "Refused by", "Findings"):
        assert section in out
    # One line per flow with a finding: method URL status → top diagnosis.
    line = next(x for x in out.splitlines() if "→" in x)
    assert "GET http://127.0.0.1:8080/orders 401" in line
    assert "credentials-rejected:" in line
    assert "information only" in out
    assert "\x1b[" not in out  # not a terminal: no colours
    assert done.stderr == ""  # no progress line when stderr is not a terminal
    for secret in secrets_of():
        assert secret not in out


def test_nothing_about_authentication(tmp_path: Path) -> None:
    capture = write_flows(tmp_path / "cap.mitm", [exchange("/a", 200), exchange("/b", 404)])
    done = analyze(capture, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 flows read; none is about authentication" in done.stdout
    doc = as_json(analyze(capture, "--json", "--fail-on", "warning", cwd=tmp_path))
    assert doc["flows"] == []
    assert doc["summary"]["totals"]["flows"] == 0


# --- exit status -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flows", "fail_on", "status"),
    [
        ("wrong", "error", 1),
        ("wrong", "warning", 1),
        ("good", "warning", 0),
    ],
)
def test_fail_on(tmp_path: Path, flows: str, fail_on: str | None, status: int) -> None:
    capture = write_flows(
        tmp_path / "cap.mitm", wrong_password() if flows == "wrong" else good_login()
    )
    args = ["--fail-on", fail_on] if fail_on else []
    done = analyze(capture, "--json", *args, cwd=tmp_path)
    assert done.returncode == status, done.stderr
    assert json.loads(done.stdout)["flows"]  # output is complete whatever the status


def _damaged(tmp_path: Path) -> Path:
    good = write_flows(tmp_path / "good.mitm", wrong_password()).read_bytes()
    path = tmp_path / "damaged.mitm"
    path.write_bytes(good + b"7:garbage,")
    return path


UNUSABLE = {
    "missing": (lambda p: p / "nope.har", "no such file"),
    "directory": (lambda p: p, "is a directory"),
    "text": (
        lambda p: (p / "notes.txt", (p / "notes.txt").write_text("hello, not a capture\n"))[0],
        "neither a mitmproxy flow file nor a HAR file",
    ),
    "json-not-har": (
        lambda p: (p / "x.har", (p / "x.har").write_text('{"log": {"pages": []}}'))[0],
        "not a HAR file",
    ),
    "broken-json": (
        lambda p: (p / "y.har", (p / "y.har").write_text('{"log": {"entries": ['))[0],
        "not a valid HAR file",
    ),
    "damaged-flow-file": (_damaged, "damaged after 3 flows"),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_unusable_input_is_one_line_and_status_2(tmp_path: Path, case: str) -> None:
    make, expected = UNUSABLE[case]
    path = make(tmp_path)
    html = tmp_path / "out.html"
    done = analyze(path, "--json", "--html", html, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("authlens: ")
    assert expected in lines[0]
    assert "Traceback" not in done.stderr
    assert not html.exists()


def test_a_bad_file_among_good_ones_stops_before_any_work(tmp_path: Path) -> None:
    good = write_flows(tmp_path / "good.mitm", wrong_password())
    done = analyze(good, tmp_path / "missing.mitm", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "missing.mitm: no such file" in done.stderr


def test_unwritable_output_is_status_2(tmp_path: Path) -> None:
    capture = write_flows(tmp_path / "cap.mitm", wrong_password())
    done = analyze(capture, "--html", tmp_path / "no" / "such" / "dir.html", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("authlens: cannot write ")
    assert "Traceback" not in done.stderr


# --- redaction ---------------------------------------------------------------------------------


def test_no_redact_keeps_secrets_everywhere(tmp_path: Path) -> None:
    capture = write_flows(tmp_path / "cap.mitm", wrong_password())
    outputs = {"html": tmp_path / "r.html", "har": tmp_path / "r.har"}
    redacted = analyze(
        capture, "--json", "--html", outputs["html"], "--har", outputs["har"], cwd=tmp_path
    )
    texts = [redacted.stdout, *(p.read_text() for p in outputs.values())]
    for secret in secrets_of():
        assert all(secret not in text for text in texts)
    assert "<redacted:sha256:" in redacted.stdout

    raw = analyze(
        capture,
        "--json",
        "--no-redact",
        "--html",
        outputs["html"],
        "--har",
        outputs["har"],
        cwd=tmp_path,
    )
    doc = as_json(raw)
    assert doc["flows"][1]["credentials"]["summary"]["password"] == PASSWORD
    har_text = outputs["har"].read_text()
    assert secrets_of()[1] in har_text  # the Authorization header, whole
    assert json.loads(har_text)["log"]["_authlens"] == {"version": 1, "redacted": False}
    html = outputs["html"].read_text()
    assert "not redacted" in html
    assert PASSWORD.replace("&", "&amp;") in html


# --- sessions over several files ---------------------------------------------------------------------


def test_several_files_are_one_session(tmp_path: Path) -> None:
    challenge, retry, plain = wrong_password()
    first = write_flows(tmp_path / "1.mitm", [challenge])
    second = write_flows(tmp_path / "2.mitm", [retry, plain])
    alone = as_json(analyze(first, "--json", cwd=tmp_path))
    together = as_json(analyze(first, second, "--json", cwd=tmp_path))
    assert [f["id"] for f in together["flows"]] == [challenge.id, retry.id]  # file order
    assert "credentials-rejected" in ids(together)[1]
    # Alone, the challenge is never answered; with the second file it is answered there.
    assert "no-retry" in ids(alone)[0]
    assert "no-retry" not in ids(together)[0]
    assert together["flows"][0]["marker"] == ":key:"


def test_equal_secrets_have_equal_fingerprints_across_files(tmp_path: Path) -> None:
    a = exchange("/a", 401, req=(basic("alice", PASSWORD),), resp=(CHALLENGE,))
    b = exchange("/b", 401, req=(basic("alice", PASSWORD),), resp=(CHALLENGE,), t=T0 + 5)
    c = exchange("/c", 401, req=(basic("alice", "other"),), resp=(CHALLENGE,), t=T0 + 9)
    doc = as_json(
        analyze(
            write_flows(tmp_path / "a.mitm", [a]),
            write_har(tmp_path / "b.har", [b, c]),
            "--json",
            cwd=tmp_path,
        )
    )
    prints = [f["credentials"]["summary"]["password"] for f in doc["flows"]]
    assert prints[0] == prints[1] != prints[2]
    assert all(p.startswith("<redacted:sha256:") for p in prints)


# --- HAR in and out ------------------------------------------------------------------------


def test_har_input_is_judged_like_the_flow_file(tmp_path: Path) -> None:
    flows = wrong_password()
    from_flows = as_json(analyze(write_flows(tmp_path / "c.mitm", flows), "--json", cwd=tmp_path))
    from_har = as_json(analyze(write_har(tmp_path / "c.har", flows), "--json", cwd=tmp_path))
    assert ids(from_har) == ids(from_flows)
    # mitmproxy's headersSize is not a wire size: its HAR must not look sanitized.
    assert all("har-sanitized" not in i for i in ids(from_har))
    again = as_json(analyze(tmp_path / "c.har", "--json", cwd=tmp_path))
    assert [f["id"] for f in again["flows"]] == [f["id"] for f in from_har["flows"]]  # stable


def test_browser_devtools_har_with_sanitized_fields(tmp_path: Path) -> None:
    # What Chrome's default export looks like: Authorization and Cookie left out.
    entry = {
        "startedDateTime": "2024-05-01T10:00:00.000Z",
        "time": 12.5,
        "request": {
            "method": "GET",
            "url": "https://app.example.test/api/me",
            "httpVersion": "http/2.0",
            "headers": [
                {"name": ":authority", "value": "app.example.test"},
                {
                    "name": "user-agent",
                    "value": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
                    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                },
            ],
            "queryString": [],
            "cookies": [{"name": "session", "value": ""}],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": 401,
            "statusText": "",
            "httpVersion": "http/2.0",
            "headers": [{"name": "www-authenticate", "value": 'Bearer realm="api"'}],
            "cookies": [],
            "content": {"size": 0, "mimeType": "application/json"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 0,
        },
        "cache": {},
        "timings": {"send": 0.1, "wait": 10, "receive": 2.4},
    }
    har = {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}}}
    har["log"]["entries"] = [entry]
    path = tmp_path / "devtools.har"
    path.write_text(json.dumps(har))
    doc = as_json(analyze(path, "--json", cwd=tmp_path))
    assert len(doc["flows"]) == 1
    assert doc["flows"][0]["client"]["kind"] == "browser"
    assert "har-sanitized" in ids(doc)[0]


def test_annotated_har_round_trip(tmp_path: Path) -> None:
    source = write_flows(tmp_path / "cap.mitm", wrong_password())
    first = tmp_path / "first.har"
    original = as_json(analyze(source, "--json", "--har", first, cwd=tmp_path))

    har = json.loads(first.read_text())
    assert validate_har(har) == []
    entries = har["log"]["entries"]
    assert len(entries) == 3  # every flow, judged or not
    judged = [e for e in entries if "_authlens" in e]
    assert len(judged) == 2
    assert [e["comment"] for e in judged] == [f["comment"] for f in original["flows"]]
    assert judged[1]["_authlens"]["diagnoses"][0]["id"] == ids(original)[1][0]
    assert "comment" not in entries[2]
    for secret in secrets_of():
        assert secret not in first.read_text()

    # mitmproxy reads it back with the annotations in place.
    back = list(read_flows(first))
    assert [f.comment for f in back[:2]] == [f["comment"] for f in original["flows"]]
    assert back[1].metadata["authlens"]["diagnoses"] == judged[1]["_authlens"]["diagnoses"]

    # authlens reads its own annotations back: same diagnoses, nothing stacked twice.
    second = tmp_path / "second.har"
    again = as_json(analyze(first, "--json", "--har", second, cwd=tmp_path))
    assert ids(again) == ids(original)
    assert [f["comment"] for f in again["flows"]] == [f["comment"] for f in original["flows"]]
    assert [e.get("comment") for e in json.loads(second.read_text())["log"]["entries"]] == [
        e.get("comment") for e in entries
    ]


def test_a_comment_someone_wrote_survives(tmp_path: Path) -> None:
    flows = wrong_password()
    flows[1].comment = "ticket 4711: why is this refused?"
    first = tmp_path / "first.har"
    analyze(write_flows(tmp_path / "c.mitm", flows), "--har", first, cwd=tmp_path)
    second = tmp_path / "second.har"
    analyze(first, "--har", second, cwd=tmp_path)
    comment = json.loads(second.read_text())["log"]["entries"][1]["comment"]
    lines = comment.splitlines()
    assert lines[0] == "ticket 4711: why is this refused?"
    assert lines[1].startswith("credentials-rejected")
    assert comment.count("credentials-rejected:") == 1


def test_html_report(tmp_path: Path) -> None:
    capture = write_flows(tmp_path / "cap.mitm", wrong_password())
    html = tmp_path / "report.html"
    done = analyze(capture, "--html", html, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"HTML report: {html}" in done.stdout
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "credentials-rejected" in text
    assert "cap.mitm" in text
    assert "<link" not in text and " src=" not in text  # self-contained
    for secret in secrets_of():
        assert secret not in text


def test_raw_annotated_har_is_redacted_when_analyzed_again(tmp_path: Path) -> None:
    # An annotation exported in the clear is not reused for redacted output (its JSON no
    # longer says which values are secret): the entry is judged afresh, redacted.
    raw = tmp_path / "raw.har"
    analyze(
        write_flows(tmp_path / "c.mitm", wrong_password()),
        "--no-redact",
        "--har",
        raw,
        cwd=tmp_path,
    )
    assert PASSWORD in raw.read_text()
    done = analyze(raw, "--json", "--har", tmp_path / "again.har", cwd=tmp_path)
    doc = as_json(done)
    assert "credentials-rejected" in ids(doc)[1]
    for secret in secrets_of():
        assert secret not in done.stdout
        assert secret not in (tmp_path / "again.har").read_text()
