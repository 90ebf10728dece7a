"""Replays every case the fuzzers found (tests/fuzz/regressions/*.json), fixed for good.

A case file is JSON: ``name``, ``found_by``, ``bug`` (what went wrong), ``fixed_in``, and
by ``kind``:

- ``fields``: ``values`` (base64 of raw field values), each read as challenges and as
  credentials;
- ``challenges``: ``lines`` (base64 of WWW-Authenticate field lines) read as one field,
  with ``expect`` bounds (``max_challenges``, ``max_findings``);
- ``flow``: ``flows``, each ``{"request_headers": [[name, base64 value]], "status",
  "response_headers": [...]}``, run in order through the addon hooks, then checked as the
  fuzz tests check flows (no internal error, JSON-safe, saved by FlowWriter, Auth view).

To keep a libFuzzer artifact (``crash-*`` from tests/fuzz/atheris_fuzz.py), write a
``fields`` case with its bytes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from strategies import FlowSpec
from test_fuzz_addon import AuthLens, Harness, addon_context, captured_logs, check_flow, check_logs
from test_fuzz_core import serialized

from authlens import decode_credentials, parse_challenges

CASES = sorted((Path(__file__).parent / "regressions").glob("*.json"))


def _raw(text: str) -> bytes:
    return base64.b64decode(text)


def _fields(pairs: list[list[str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), _raw(value)) for name, value in pairs]


def test_there_are_cases() -> None:
    assert len(CASES) >= 7


def _case_params() -> list[Any]:
    """Cases with an ``open`` note (a cause outside the fixed code still fails) are strict
    xfails: they pass once that is fixed too, and then the note must go."""
    out = []
    for path in CASES:
        case = json.loads(path.read_text(encoding="utf-8"))
        marks = [pytest.mark.xfail(strict=True, reason=case["open"])] if case.get("open") else []
        out.append(pytest.param(path, id=path.stem, marks=marks))
    return out


def test_tracker_ignores_an_unfollowable_location() -> None:
    """Case 002, the part fixed in authlens.handshake: the tracker alone."""
    from authlens.handshake import Tracker
    from authlens.model import Connection, Exchange, Headers, Request, Response

    for auth in ((), (("Authorization", "Basic YTpi"),)):
        exchange = Exchange(
            id=f"x{len(auth)}",
            request=Request("GET", "https://127.0.0.1/", headers=Headers(auth)),
            response=Response(302, headers=Headers((("Location", "http://[::1"),))),
            client=Connection(id="c", peer="127.0.0.1:5000"),
            timestamp_start=1.0,
        )
        Tracker().observe(exchange, [], [], None, None)


@pytest.mark.parametrize("path", _case_params())
def test_regression_case(path: Path) -> None:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert case["bug"] and case["fixed_in"] and case["found_by"]
    kind = case["kind"]
    if kind == "fields":
        for value in map(_raw, case["values"]):
            for text in (value, value.decode("utf-8", "surrogateescape")):
                serialized([c.to_json() for c in parse_challenges(text)], path.name)
                serialized(decode_credentials(text).to_json(), path.name)
    elif kind == "challenges":
        lines = [_raw(line) for line in case["lines"]]
        challenges = parse_challenges(lines)
        serialized([c.to_json() for c in challenges], path.name)
        expect = case.get("expect", {})
        assert len(challenges) <= expect.get("max_challenges", 10**9)
        findings = sum(len(c.findings) for c in challenges)
        assert findings <= expect.get("max_findings", 10**9), findings
    elif kind == "flow":
        addon = AuthLens()
        with captured_logs() as logs, addon_context(addon) as tctx:
            tctx.configure(addon)
            harness = Harness(tctx, addon, logs)
            flows = []
            for item in case["flows"]:
                spec = FlowSpec(
                    request_headers=_fields(item.get("request_headers", [])),
                    status=item.get("status"),
                    response_headers=_fields(item.get("response_headers", [])),
                    dt=1.0,
                )
                flows.append(harness.run(spec))
            for flow in flows:
                check_flow(flow)
            addon.done()
            for flow in flows:
                check_flow(flow)
            # Judged without an internal error (check_flow); a case may rightly leave
            # every flow unannotated when nothing is wrong with it.
            if case.get("expect_annotation", True):
                assert any("authlens" in f.metadata for f in flows)
        check_logs(logs.take())
    else:
        raise AssertionError(f"unknown kind {kind!r} in {path.name}")
