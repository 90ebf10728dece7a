"""The diagnosis catalogue and its registry of detectors (DESIGN.md §5)."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from authlens.diagnose import catalogue, rules
from authlens.diagnose.catalogue import (
    CATALOGUE,
    DEFERRED,
    ENGINE_EMITTED,
    INTERNAL_ERROR,
    Diagnosis,
    by_id,
    reference_url,
)
from authlens.diagnose.engine import DETECTORS
from authlens.findings import Severity

# The table of DESIGN.md §5, verbatim.
DESIGN_IDS = {
    "missing-credentials", "no-retry", "credentials-rejected", "scheme-mismatch",
    "token-expired", "token-not-yet-valid", "invalid-token", "insufficient-scope",
    "digest-stale-nonce", "digest-mismatch", "connection-auth-broken", "kerberos-fallback",
    "credentials-dropped-on-redirect", "proxy-auth-required", "wrong-auth-header",
    "preflight-requires-auth", "missing-challenge", "malformed-challenge",
    "cleartext-credentials", "missing-session-cookie", "missing-csrf-token",
    "client-fingerprint-rejected", "iis-substatus", "lockout-suspected", "login-redirect",
    "refused-by-mitmproxy", "channel-binding-broken", "basic-charset-mismatch", "har-sanitized",
}  # fmt: skip
RULES = Path(rules.__file__).parent
ENGINE = RULES.parent / "engine.py"
KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SLOT = re.compile(r"\{[a-z_]+\}")


def test_catalogue_covers_design_table() -> None:
    assert {d.id for d in CATALOGUE} >= DESIGN_IDS


def test_ids_are_unique_kebab_case_and_resolvable() -> None:
    assert len({d.id for d in CATALOGUE}) == len(CATALOGUE)
    for diagnosis in CATALOGUE:
        assert KEBAB.fullmatch(diagnosis.id)
        assert by_id(diagnosis.id) is diagnosis
    with pytest.raises(KeyError):
        by_id("no-such-diagnosis")


def test_entries_are_frozen_and_slotted() -> None:
    diagnosis = CATALOGUE[0]
    assert not hasattr(diagnosis, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        diagnosis.id = "x"  # type: ignore[misc]


def test_every_entry_is_complete() -> None:
    for diagnosis in CATALOGUE:
        assert diagnosis.title and diagnosis.headline and diagnosis.explanation and diagnosis.fix
        assert isinstance(diagnosis.severity, Severity)
        if diagnosis is not INTERNAL_ERROR:
            assert diagnosis.references, diagnosis.id
        # Templates render with every slot filled and leave no slot behind.
        rendered = diagnosis.render({slot: "X" for slot in diagnosis.slots()})
        for text in rendered:
            assert not SLOT.search(text), (diagnosis.id, text)


def test_comparison_ids_are_detected_not_deferred() -> None:
    assert not DEFERRED
    assert {d.id for d in catalogue.COMPARISON} == {
        "missing-session-cookie",
        "missing-csrf-token",
        "client-fingerprint-rejected",
    }
    assert {d.id for d in ENGINE_EMITTED} == {"internal-error"}


def test_every_detected_id_has_exactly_one_detector() -> None:
    detected = set(DETECTORS)
    assert detected == set(CATALOGUE) - DEFERRED - ENGINE_EMITTED
    assert rules.check(rules._DETECTORS) == []


def test_registry_check_reports_missing_duplicate_and_unexpected_detectors() -> None:
    def fake(ctx: rules.Context):  # type: ignore[no-untyped-def]
        return iter(())

    detectors = {d: [fake] for d in CATALOGUE if d not in DEFERRED | ENGINE_EMITTED}
    assert rules.check(detectors) == []
    missing = dict(detectors)
    del missing[catalogue.NO_RETRY]
    assert rules.check(missing) == ["no-retry has no detector"]
    twice = {**detectors, catalogue.NO_RETRY: [fake, fake]}
    assert "no-retry has 2 detectors" in rules.check(twice)[0]
    exempt = {**detectors, INTERNAL_ERROR: [fake]}
    assert "internal-error" in rules.check(exempt)[0]
    stray = Diagnosis("stray", Severity.INFO, "t", "h", "e", "f")
    assert rules.check({**detectors, stray: [fake]}) == [
        "stray is detected but not in the catalogue"
    ]


def _detector_hits() -> list[tuple[str, str, set[str], bool]]:
    """(file, constant, keyword names, has **kwargs) of every ``hit(...)`` in a detector."""
    found: list[tuple[str, str, set[str], bool]] = []
    for path in sorted(RULES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            constant = None
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Name)
                    and decorator.func.id == "detects"
                ):
                    argument = decorator.args[0]
                    assert isinstance(argument, ast.Name), (
                        f"{path.name}: detects() needs a constant"
                    )
                    constant = argument.id
            if constant is None:
                continue
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id == "hit"
                ):
                    names = {k.arg for k in call.keywords if k.arg is not None}
                    splat = any(k.arg is None for k in call.keywords)
                    found.append((path.name, constant, names, splat))
    return found


def test_every_template_slot_is_supplied_by_each_hit_of_its_detector() -> None:
    hits = _detector_hits()
    assert {constant for _, constant, _, _ in hits} == {
        name
        for name, value in vars(catalogue).items()
        if isinstance(value, Diagnosis) and value in DETECTORS
    }
    for filename, constant, names, splat in hits:
        diagnosis = getattr(catalogue, constant)
        assert not splat, f"{filename}: {constant} passes slots by **kwargs; name them"
        missing = diagnosis.slots() - names
        assert not missing, f"{filename}: a hit of {constant} lacks {sorted(missing)}"


def test_rules_and_engine_never_spell_an_id_as_a_string() -> None:
    ids = {d.id for d in CATALOGUE}
    for path in [*sorted(RULES.glob("*.py")), ENGINE]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in ids, f"{path.name}:{node.lineno} spells {node.value!r}"


def test_reference_urls() -> None:
    assert reference_url("RFC 7616 §3.3") == "https://www.rfc-editor.org/rfc/rfc7616#section-3.3"
    assert reference_url("RFC 9110") == "https://www.rfc-editor.org/rfc/rfc9110"
    assert reference_url("MS-NLMP §3.1.5") is None


def test_supersedes_and_demotes_refer_to_catalogue_entries() -> None:
    for table in (catalogue.SUPERSEDES, catalogue.DEMOTES):
        for key, values in table.items():
            assert key in CATALOGUE and values <= set(CATALOGUE)
            assert key not in values
