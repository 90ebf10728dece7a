"""The captures in examples/ stay what README says they are: small, readable by
``authlens analyze`` as flow file and as HAR, showing their diagnosis, with a report."""

from __future__ import annotations

from pathlib import Path

import pytest

from authlens import demo
from authlens.commands.analyze import analyze_files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHOWS = {
    "basic-ok": "missing-credentials",
    "basic-wrong-password": "credentials-rejected",
    "digest-stale-nonce": "digest-stale-nonce",
    "bearer-expired": "token-expired",
    "no-challenge": "missing-challenge",
    "session-cookie": "missing-session-cookie",
    "login-redirect": "login-redirect",
    "proxy-407": "proxy-auth-required",
}
MAX_BYTES = 200_000


def test_every_demo_scenario_has_an_example() -> None:
    assert set(SHOWS) == {s.name for s in demo.SCENARIOS}


@pytest.mark.parametrize("name", sorted(SHOWS))
@pytest.mark.parametrize("suffix", [".mitm", ".har"])
def test_example(name: str, suffix: str) -> None:
    path = EXAMPLES / f"{name}{suffix}"
    for companion in (path, EXAMPLES / f"{name}.html"):
        assert 0 < companion.stat().st_size < MAX_BYTES, companion
    outcome = analyze_files([str(path)])
    try:
        found = {d["id"] for j in outcome.session.results for d in j.metadata["diagnoses"]}
    finally:
        outcome.session.close()
    if name == "proxy-407" and suffix == ".har":
        # A HAR has no connection details: realm "mitmproxy" is all there is, and the demo's
        # upstream proxy is a mitmproxy too.
        assert found & {SHOWS[name], "refused-by-mitmproxy"}, found
    else:
        assert SHOWS[name] in found, found
    if name == "basic-ok":
        assert outcome.summary["worst_severity"] == "info"  # a normal handshake


def test_example_reports_are_authlens_reports() -> None:
    for name in SHOWS:
        text = (EXAMPLES / f"{name}.html").read_text()
        assert text.startswith("<!DOCTYPE html>")
        assert f"authlens example: {name}" in text
        assert demo.DEMO_PASSWORD not in text and demo.WRONG_PASSWORD not in text
