"""Case files: tests/cases/<diagnosis-id>_<n>.json, each a short capture and the IDs expected.

The runner feeds every exchange of a case to one Analyzer (then ``finish()`` unless the
case says not to), keeps the last verdict per exchange, and compares the diagnosis IDs
with the expectation exactly, as a user would see them. The meta-test requires at least
one positive and one negative case for every diagnosis a detector makes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from diagnose_helpers import all_cases, check_metadata, ids, load_case, run

from authlens.diagnose.api import MARKER_ERROR, MARKER_INFO, MARKER_WARNING
from authlens.diagnose.catalogue import CATALOGUE, DEFERRED, ENGINE_EMITTED
from authlens.report.jsonout import dumps
from authlens.secret import is_fingerprint

MARKERS = {"error": MARKER_ERROR, "warning": MARKER_WARNING, "info": MARKER_INFO}
DETECTED = [d for d in CATALOGUE if d not in DEFERRED | ENGINE_EMITTED]


@pytest.mark.parametrize("path", all_cases(), ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    case = load_case(path)
    verdicts = run(case.exchanges, case.config, case.finish)
    for exchange in case.exchanges:
        verdict = verdicts.get(exchange.id)
        got = ids(verdict)
        assert sorted(got) == sorted(case.expect[exchange.id]), (
            f"{path.name} {exchange.id}: got {got}, expected {case.expect[exchange.id]}"
        )
        if verdict is None:
            continue
        metadata = verdict.metadata
        check_metadata(metadata)
        lines = verdict.comment.splitlines()
        assert 1 <= len(lines) <= 3
        assert [line.split(":", 1)[0] for line in lines] == got[: len(lines)]
        worst = metadata["diagnoses"][0]["severity"]
        assert verdict.marker == MARKERS[worst]
        for diagnosis_id, severity in case.severity.get(exchange.id, {}).items():
            found = next(d for d in metadata["diagnoses"] if d["id"] == diagnosis_id)
            assert found["severity"] == severity, f"{path.name} {exchange.id} {diagnosis_id}"
        if exchange.id in case.marker:
            assert verdict.marker == case.marker[exchange.id]
        # No template slot left unfilled, no internal error.
        for diagnosis in metadata["diagnoses"]:
            for text in (diagnosis["explanation"], diagnosis["fix"], verdict.comment):
                assert not re.search(r"\{[a-z_]+\}", text), text
            assert diagnosis["id"] != "internal-error", diagnosis["evidence"]


def _coverage() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    positive: dict[str, list[str]] = {d.id: [] for d in DETECTED}
    negative: dict[str, list[str]] = {d.id: [] for d in DETECTED}
    for path in all_cases():
        case = load_case(path)
        expected = {i for ids_ in case.expect.values() for i in ids_}
        for diagnosis_id in positive:
            if diagnosis_id in expected:
                positive[diagnosis_id].append(path.stem)
        if case.diagnosis_id in negative and case.diagnosis_id not in expected:
            negative[case.diagnosis_id].append(path.stem)
    return positive, negative


def test_every_detected_diagnosis_has_a_positive_and_a_negative_case() -> None:
    positive, negative = _coverage()
    assert [i for i, found in positive.items() if not found] == []
    assert [i for i, found in negative.items() if not found] == []


def test_case_files_are_named_after_catalogue_ids() -> None:
    known = {d.id for d in CATALOGUE}
    for path in all_cases():
        stem, _, number = path.stem.rpartition("_")
        assert stem in known and number.isdigit(), path.name


def test_no_secret_reaches_comment_or_evidence() -> None:
    """Passwords and tokens from the cases never appear; fingerprints may."""
    secrets = [
        "s3cret",
        "Circle Of Life",
        "Wr0ng",
        "Passw0rd!",
        "pässwörd",
        "8f14e45fceea167a5a36dedd4bea2543",
    ]
    for path in all_cases():
        case = load_case(path)
        for verdict in run(case.exchanges, case.config, case.finish).values():
            texts = [verdict.comment]
            for diagnosis in verdict.metadata["diagnoses"]:
                texts += [diagnosis["explanation"], diagnosis["fix"], *diagnosis["evidence"]]
            blob = "\n".join(texts)
            for secret in secrets:
                assert secret not in blob, (path.name, secret)
            for word in blob.split():
                if word.startswith("<redacted"):
                    assert is_fingerprint(word.rstrip(".,;)'"))
        # Nor does any credential as sent (base64 token, Digest response), anywhere in
        # the redacted metadata.
        verdicts = run(case.exchanges, case.config, case.finish)
        for exchange in case.exchanges:
            verdict = verdicts.get(exchange.id)
            if verdict is None:
                continue
            everything = dumps(verdict.metadata) + verdict.comment
            for name in ("Authorization", "Proxy-Authorization"):
                for value in exchange.request.headers.get_all(name):
                    for secret in _secret_parts(value):
                        assert secret not in everything, (path.name, exchange.id, name)


def _secret_parts(value: str) -> list[str]:
    _scheme, _, rest = value.partition(" ")
    match = re.search(r'response="([0-9a-f]+)"', rest)
    if match:
        return [match.group(1)]
    rest = rest.strip()
    return [rest] if len(rest) >= 8 and "=" not in rest.rstrip("=") else []
