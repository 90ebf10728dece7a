"""README promises that are checked: the diagnosis table and the two commands."""

from __future__ import annotations

import re
from pathlib import Path

from authlens.diagnose.catalogue import CATALOGUE

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_lists_every_diagnosis_with_its_catalogue_severity_and_title() -> None:
    rows = dict(
        (m.group(1), (m.group(2), m.group(3)))
        for m in re.finditer(r"^\| `([a-z0-9-]+)` \| (error|warning|info) \| (.+?) \|$", README, re.M)
    )
    assert rows == {d.id: (str(d.severity), d.title) for d in CATALOGUE}


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash tests/run.sh" in README
    assert "bash tests/run.sh" in ci
