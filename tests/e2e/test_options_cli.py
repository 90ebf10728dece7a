"""``--set authlens_*`` given twice on a real mitmdump command line.

mitmproxy defers a ``--set`` for an option a script has not declared yet and applies it
when the script loads; an option given twice then fails, and mitmproxy 12 drops the
whole script without a word. authlens takes a value repeated unchanged once, and names
an option given different values, which mitmdump then refuses at start-up.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, clean_env, diagnosis_ids, mitmdump_command, read_flow_file

pytestmark = pytest.mark.e2e

CAPTURE = ROOT / "examples" / "basic-wrong-password.mitm"


def _replay(tmp_path: Path, *sets: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "out.mitm"
    cmd = [*mitmdump_command(), "-n", "-r", str(CAPTURE),
           "-s", str(ROOT / "addon" / "authlens_addon.py"),
           "--set", f"confdir={tmp_path / 'conf'}", "-w", str(out)]  # fmt: skip
    for spec in sets:
        cmd += ["--set", spec]
    done = subprocess.run(
        cmd, env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=90, check=False
    )
    return done, out


def test_an_option_repeated_with_the_same_value_is_used(tmp_path: Path) -> None:
    done, out = _replay(tmp_path, "authlens_no_retry_after=5", "authlens_no_retry_after=5")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--set authlens_no_retry_after was given 2 times with the same value" in done.stdout
    flows = read_flow_file(out)
    assert flows and any("credentials-rejected" in diagnosis_ids(f) for f in flows)


def test_an_option_given_different_values_is_named(tmp_path: Path) -> None:
    done, out = _replay(tmp_path, "authlens_filter=~u /nowhere", "authlens_filter=~u /secret")
    assert done.returncode != 0
    assert (
        "--set authlens_filter was given 2 times with different values; mitmproxy refuses"
        in done.stdout
    )
    assert "/secret" not in done.stdout  # a filter may quote a header value: never printed
    assert not read_flow_file(out)
