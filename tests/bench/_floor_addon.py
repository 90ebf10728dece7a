"""Benchmark-only mitmproxy script: the authlens addons with judging switched off.

``bench_proxy.py --floor`` runs a third mitmdump with this script to split the addon's
cost in two. Everything around judging still runs on every flow: building the exchange,
decoding the fields, handshake tracking, client and refuser classification, pairing, and
storing and releasing the contexts kept for re-judgements. What is switched off is
judging itself: no detector runs and no verdict is built, so no annotation is written.
The gap between this side and the baseline is a floor that no cheaper judging can go
under; the gap between the full addon and this side is what judging costs.

The entry script to load comes from ``AUTHLENS_ENTRY`` (the benchmark passes its snapshot).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

_entry = Path(os.environ["AUTHLENS_ENTRY"]).resolve()
sys.path.insert(0, str(_entry.parent))

from authlens.diagnose import engine  # noqa: E402 (needs the path above)
from authlens.diagnose.api import Verdict  # noqa: E402

# What re-judging returns here: recognised and dropped below, so nothing is written.
_NOTHING = Verdict(exchange_id="", metadata={"diagnoses": []}, comment="", marker="", severity=None)


def _judge_nothing(self: engine.Engine, context: object) -> list[object]:
    return []  # a first judgement with nothing to say builds no verdict


def _verdict_of_nothing(self: engine.Engine, context: object) -> Verdict:
    return _NOTHING


_rejudge = engine.Engine._rejudge


def _rejudge_keeping_state(self: engine.Engine, exchange_ids: Any) -> list[Verdict]:
    # The engine's own re-judgement, so stored contexts are kept and released exactly as
    # with judging on; only the detectors and the verdict are skipped.
    return [v for v in _rejudge(self, exchange_ids) if v is not _NOTHING]


engine.Engine._judged = _judge_nothing  # type: ignore[method-assign,assignment]
engine.Engine.judge = _verdict_of_nothing  # type: ignore[method-assign]
engine.Engine._rejudge = _rejudge_keeping_state  # type: ignore[method-assign]

_spec = importlib.util.spec_from_file_location("authlens_floor_entry", _entry)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
addons = _module.addons
