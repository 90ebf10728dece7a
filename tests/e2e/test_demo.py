"""``authlens demo`` for real: its own server, two real mitmdump processes, real clients,
then the three reports. Run once per session (it takes a few seconds)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from authlens import demo
from authlens.report.har import validate_har

from .conftest import ROOT, clean_env

pytestmark = pytest.mark.e2e

EXPECTED = {
    "credentials-rejected",
    "digest-stale-nonce",
    "token-expired",
    "invalid-token",
    "missing-challenge",
    "login-redirect",
    "proxy-auth-required",
    "missing-credentials",
    "missing-session-cookie",
}


@dataclass
class DemoRun:
    out: Path
    stdout: str
    stderr: str
    returncode: int
    seconds: float


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    out = tmp_path_factory.mktemp("demo") / "reports"
    env = {**clean_env(), "PYTHONPATH": str(ROOT / "addon")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "authlens", "demo", "--out", str(out)],
        env=env,
        cwd=out.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return DemoRun(out, done.stdout, done.stderr, done.returncode, time.monotonic() - started)


def test_demo_runs_quickly_and_writes_its_files(run: DemoRun) -> None:
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.seconds < 60
    for name in ("report.html", "annotated.har", "analysis.json"):
        path = run.out / name
        assert path.stat().st_size > 0
        assert str(path) in run.stdout  # the user is told where it is
    assert sorted(p.name for p in run.out.iterdir()) == [
        "analysis.json",
        "annotated.har",
        "report.html",
    ]


def test_demo_prints_the_summary_and_what_clients_saw(run: DemoRun) -> None:
    assert "authlens summary:" in run.stdout
    assert "Findings" in run.stdout
    saw = {
        tuple(line.split()[:3])
        for line in run.stdout.split("What the clients saw", 1)[1].splitlines()
        if line.startswith("  ")
    }
    assert ("basic-ok", "browser-like", "200") in saw
    assert ("basic-wrong-password", "script", "401") in saw
    assert ("digest-stale-nonce", "script", "200") in saw  # answered again, and let in
    assert ("bearer-expired", "script", "401") in saw
    assert ("proxy-407", "script", "407") in saw
    assert ("session-cookie", "browser-like", "200") in saw
    assert ("session-cookie", "script", "401") in saw


def test_demo_reports_hold_the_expected_diagnoses(run: DemoRun) -> None:
    html = (run.out / "report.html").read_text()
    doc = json.loads((run.out / "analysis.json").read_text())
    found = {d["id"] for f in doc["flows"] for d in f["diagnoses"]}
    assert found >= EXPECTED
    assert set(doc["summary"]["diagnoses"]) >= EXPECTED
    for did in EXPECTED:
        assert f'id="dx-{did}"' in html or did in html
    by_path = {f["url"].split("/", 3)[3]: f for f in doc["flows"]}
    assert by_path["reports"]["refused_by"]["kind"] == "upstream-proxy"
    assert by_path["account"]["client"]["kind"] == "automated"
    assert by_path["intranet"]["client"]["kind"] == "browser"
    # Browser versus script: the script's refusal is explained by the browser's request.
    profile = by_path["api/profile"]
    assert profile["diagnoses"][0]["id"] == "missing-session-cookie"
    assert profile["comparison"] is not None


def test_demo_har_is_valid_and_annotated(run: DemoRun) -> None:
    har = json.loads((run.out / "annotated.har").read_text())
    assert validate_har(har) == []
    assert har["log"]["_authlens"] == {"version": 1, "redacted": True}
    annotated = [e for e in har["log"]["entries"] if "_authlens" in e]
    assert annotated
    assert all(e["comment"] for e in annotated)
    doc = json.loads((run.out / "analysis.json").read_text())
    assert [e["comment"] for e in annotated] == [f["comment"] for f in doc["flows"]]


def test_nothing_secret_in_the_demo_outputs(run: DemoRun) -> None:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    jwt_header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    secrets = [
        demo.DEMO_PASSWORD,
        demo.WRONG_PASSWORD,
        demo.PROXY_PASSWORD,
        demo.SESSION_ID,
        demo.JWT_KEY.decode(),
        b64(f"{demo.DEMO_USER}:{demo.DEMO_PASSWORD}"),
        b64(f"{demo.DEMO_USER}:{demo.WRONG_PASSWORD}"),
        b64(f"{demo.PROXY_USER}:{demo.PROXY_PASSWORD}"),
        jwt_header,  # the token itself never appears, only its decoded claims
    ]
    texts = {p.name: p.read_text() for p in run.out.iterdir()}
    texts["stdout"] = run.stdout + run.stderr
    for secret in secrets:
        for name, text in texts.items():
            assert secret not in text, (secret, name)
