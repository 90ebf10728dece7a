"""The challenge corpus (tests/data/challenge_corpus.json), table-driven.

Each entry holds real or RFC field lines, the challenges they mean and the grammar
findings a lenient reading must report. Only grammar-level finding ids are compared
(the constants of :mod:`authlens.grammar`); what scheme decoders add is not this test's
business. A failing entry is a grammar bug (or a disputed reading) to report, never an
expectation to loosen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authlens import grammar, parse_challenges

CORPUS_PATH = Path(__file__).resolve().parent.parent / "data" / "challenge_corpus.json"
CORPUS: list[dict[str, Any]] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))

GRAMMAR_IDS = frozenset(
    value
    for name, value in vars(grammar).items()
    if name.isupper() and isinstance(value, str) and not name.startswith("REF_")
)

Parsed = list[tuple[str, dict[str, str], str | None]]


def _field(entry: dict[str, Any]) -> str:
    return str(entry.get("field", "WWW-Authenticate"))


def parse(lines: list[str], field: str = "WWW-Authenticate") -> tuple[Parsed, set[str]]:
    """The challenges as (scheme, params with lower-cased names, token68) and grammar ids.

    A field with no challenge at all comes back as one empty challenge that only carries
    findings; it is dropped here, so that "no challenge" compares as [].
    """
    challenges = parse_challenges(lines, field=field)
    parsed = [
        (c.scheme, {k.lower(): v for k, v in c.params.items()}, c.token68)
        for c in challenges
        if c.scheme or c.params or c.token68 is not None
    ]
    found = {f.id for c in challenges for f in c.findings} & GRAMMAR_IDS
    return parsed, found


def expected_of(entry: dict[str, Any]) -> Parsed:
    return [
        (c["scheme"], {k.lower(): v for k, v in c["params"].items()}, c["token68"])
        for c in entry["expected"]
    ]


def render(scheme: str, params: dict[str, str], token68: str | None) -> str:
    """One challenge in the strict form, every value quoted (quoting never changes a value)."""
    if token68 is not None:
        return f"{scheme} {token68}"
    if not params:
        return scheme
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in params.values())
    return scheme + " " + ", ".join(f'{k}="{v}"' for k, v in zip(params, quoted, strict=True))


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in entries]


# -- the corpus itself ---------------------------------------------------------------


def test_corpus_is_well_formed() -> None:
    names = [e["name"] for e in CORPUS]
    assert len(names) == len(set(names)), "entry names must be unique"
    assert len(CORPUS) >= 60
    for entry in CORPUS:
        assert set(entry) >= {"name", "source", "lines", "expected", "valid", "deviations"}
        assert entry["lines"] and all(isinstance(line, str) for line in entry["lines"])
        assert set(entry["deviations"]) <= GRAMMAR_IDS, entry["name"]
        # valid means strictly RFC 9110: nothing to report; lenient means something is.
        assert entry["valid"] == (not entry["deviations"]), entry["name"]
        for challenge in entry["expected"]:
            assert set(challenge) == {"scheme", "params", "token68"}, entry["name"]
            assert (
                challenge["token68"] is None
                or not challenge["params"]
                or ("token68-with-params" in entry["deviations"])
            ), entry["name"]
    assert any(e["valid"] for e in CORPUS) and any(not e["valid"] for e in CORPUS)


# -- each entry ----------------------------------------------------------------------


@pytest.mark.parametrize("entry", CORPUS, ids=_ids(CORPUS))
def test_entry_parses_to_expected(entry: dict[str, Any]) -> None:
    parsed, _ = parse(entry["lines"], _field(entry))
    assert parsed == expected_of(entry)


@pytest.mark.parametrize("entry", CORPUS, ids=_ids(CORPUS))
def test_entry_reports_exactly_its_deviations(entry: dict[str, Any]) -> None:
    _, found = parse(entry["lines"], _field(entry))
    assert found == set(entry["deviations"])
    if entry["valid"]:
        assert found == set()


# -- several lines behave as their comma-joined combination (RFC 9110 §5.3) ------------

MULTI_VALID = [e for e in CORPUS if e["valid"] and len(e["expected"]) > 1]


@pytest.mark.parametrize("entry", MULTI_VALID, ids=_ids(MULTI_VALID))
def test_multi_challenge_forms_parse_alike(entry: dict[str, Any]) -> None:
    """As given, on one line, one challenge per line, and those lines comma-joined."""
    field = _field(entry)
    expected = expected_of(entry)
    per_challenge = [render(*challenge) for challenge in expected]
    forms = {
        "as given": entry["lines"],
        "one line": [", ".join(entry["lines"])],
        "one challenge per line": per_challenge,
        "comma-joined": [", ".join(per_challenge)],
    }
    for form, lines in forms.items():
        assert parse(lines, field) == (expected, set()), form


# Joining a line that ends inside an unterminated quoted-string changes what the quote
# swallows, so those entries cannot be expected to parse alike.
MULTI_LINE = [
    e for e in CORPUS if len(e["lines"]) > 1 and "unterminated-quote" not in e["deviations"]
]


@pytest.mark.parametrize("entry", MULTI_LINE, ids=_ids(MULTI_LINE))
def test_repeated_lines_parse_as_their_comma_joined_value(entry: dict[str, Any]) -> None:
    """Challenges and grammar findings alike, valid or lenient."""
    field = _field(entry)
    assert parse(entry["lines"], field) == parse([", ".join(entry["lines"])], field)
