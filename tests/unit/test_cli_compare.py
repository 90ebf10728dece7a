"""``authlens compare`` as a user runs it: a real ``python -m authlens`` subprocess on a
browser HAR and a script's flow file, on one file holding both, and on unusable input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from diagnose_helpers import CHROME, COOKIE_VALUE, SCRIPT, SESSION
from mitmproxy import http
from mitmproxy.io import FlowWriter
from mitmproxy.test import tflow, tutils

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


def make_flow(headers: tuple[tuple[str, str], ...], status: int, t: float) -> http.HTTPFlow:
    pairs = (("Host", "127.0.0.1:8080"), *headers)
    request = tutils.treq(
        host="127.0.0.1",
        port=8080,
        path=b"/api/me",
        headers=http.Headers([(k.encode(), v.encode()) for k, v in pairs]),
        timestamp_start=t,
        timestamp_end=t + 0.01,
    )
    response = tutils.tresp(
        status_code=status,
        headers=http.Headers(),
        content=b"",
        timestamp_start=t + 0.02,
        timestamp_end=t + 0.03,
    )
    return tflow.tflow(req=request, resp=response)


def write_flows(path: Path, flows: list[http.HTTPFlow]) -> Path:
    with path.open("wb") as fh:
        writer = FlowWriter(fh)
        for f in flows:
            writer.add(f)
    return path


def browser_har(path: Path) -> Path:
    headers = [{"name": k, "value": v} for k, v in (*CHROME, SESSION)]
    entry = {
        "startedDateTime": "2023-11-14T22:13:20.000Z",
        "time": 10,
        "request": {
            "method": "GET",
            "url": "http://127.0.0.1:8080/api/me",
            "httpVersion": "HTTP/1.1",
            "headers": headers,
            "queryString": [],
            "cookies": [{"name": "sessionid", "value": COOKIE_VALUE}],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": 200,
            "statusText": "OK",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "cookies": [],
            "content": {"size": 2, "mimeType": "application/json", "text": "{}"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 2,
        },
        "cache": {},
        "timings": {"send": 1, "wait": 8, "receive": 1},
    }
    doc = {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "entries": [entry],
        }
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def authlens(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "addon")}
    return subprocess.run(
        [sys.executable, "-m", "authlens", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_human_output_leads_with_one_sentence(tmp_path: Path) -> None:
    har = browser_har(tmp_path / "browser.har")
    script = write_flows(tmp_path / "script.mitm", [make_flow(SCRIPT, 403, T0 + 5)])
    done = authlens("compare", str(har), str(script))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("403 GET http://127.0.0.1:8080/api/me")
    headline = lines[1].strip()
    assert "sessionid" in headline and headline.endswith(".")
    assert any(line.strip().startswith("* cookie 'sessionid'") for line in lines)
    assert any(line.strip().startswith("missing-session-cookie (error)") for line in lines)
    assert COOKIE_VALUE not in done.stdout


def test_json_is_the_analyze_shape_with_the_comparison(tmp_path: Path) -> None:
    baseline = make_flow((*CHROME, SESSION), 200, T0)
    browser = write_flows(tmp_path / "browser.mitm", [baseline])
    refused = make_flow(SCRIPT, 403, T0 + 5)
    accepted = make_flow(SCRIPT, 200, T0 + 6)
    script = write_flows(tmp_path / "script.mitm", [refused, accepted])
    done = authlens("compare", str(browser), str(script), "--json")
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    assert set(doc) == {"flows", "summary"}
    [flow] = doc["flows"]
    assert flow["id"] == refused.id and flow["status"] == 403
    assert {
        "version",
        "client",
        "refused_by",
        "challenges",
        "credentials",
        "diagnoses",
        "comparison",
    } <= set(flow)
    assert flow["comparison"]["baseline"] == baseline.id
    decisive = [d for d in flow["comparison"]["differences"] if d["decisive"]]
    assert decisive[0]["name"] == "sessionid" and decisive[0]["kind"] == "cookie"
    assert flow["diagnoses"][0]["id"] == "missing-session-cookie"
    assert flow["comment"].startswith("missing-session-cookie: ")
    assert COOKIE_VALUE not in done.stdout


def test_one_file_with_both_clients_compares_within_it(tmp_path: Path) -> None:
    browser = make_flow((*CHROME, SESSION), 200, T0)
    refused = make_flow(SCRIPT, 403, T0 + 5)
    both = write_flows(tmp_path / "both.mitm", [browser, refused])
    done = authlens("compare", str(both), str(both), "--json")
    assert done.returncode == 0, done.stderr
    [flow] = json.loads(done.stdout)["flows"]
    assert flow["id"] == refused.id
    assert flow["comparison"]["baseline"] == browser.id


def test_nothing_to_compare_says_so(tmp_path: Path) -> None:
    script = write_flows(tmp_path / "script.mitm", [make_flow(SCRIPT, 403, T0)])
    done = authlens("compare", str(script), str(script))
    assert done.returncode == 0
    assert done.stdout.startswith("No refused script request")


def test_unusable_input_exits_2_without_traceback(tmp_path: Path) -> None:
    junk = tmp_path / "junk.har"
    junk.write_text("{not json", encoding="utf-8")
    script = write_flows(tmp_path / "script.mitm", [make_flow(SCRIPT, 403, T0)])
    for args in ((str(junk), str(script)), (str(script), str(tmp_path / "missing.mitm"))):
        done = authlens("compare", *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("authlens: ") and "Traceback" not in done.stderr
