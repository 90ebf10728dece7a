"""A small soak in the normal run: thousands of mixed flows, a small cap on remembered state.

The long run (a million flows, memory sampled) is tests/soak/soak_addon.py; this one
checks the bound itself: every table the handshake tracker, the engine (comparison
included), the addon and its companion addons keep stays at or under the cap while
thousands of clients and protection spaces come and go, and the caps are reached (so
eviction really happened).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[1] / "soak"
if str(SOAK) not in sys.path:
    sys.path.insert(0, str(SOAK))

import soak_addon  # noqa: E402

# The engine's comparison state: fixed caps (awaiting, cookie history), or the smaller
# of the cap and 512 (the pairing index).
FIXED_CAPS = {"awaiting": 256, "cookie_history": 32}
SCALED_CAPS = {"pairing_baselines": 512, "pairing_waiting": 512}


@pytest.mark.parametrize(("mode", "flows", "cap"), [("engine", 20_000, 500), ("addon", 6_000, 200)])
def test_state_is_capped(mode: str, flows: int, cap: int) -> None:
    args = soak_addon.parse_args(
        [
            "--flows",
            str(flows),
            "--sample-every",
            str(flows // 4),
            "--max-tracked",
            str(cap),
            "--clients",
            "3000",
            "--spaces",
            "400",
            "--ordinary",
            "0.5",
            "--no-tracemalloc",
        ]
    )
    samples, info = soak_addon.run(mode, args)
    assert info["flows"] == flows
    assert len(samples) == 4
    last = samples[-1].tables
    for name, size in last.items():
        # The deadline heap is compacted at twice the cap.
        if name == "deadlines":
            limit = 2 * cap + 1
        elif name in FIXED_CAPS:
            limit = FIXED_CAPS[name]
        else:
            limit = min(cap, SCALED_CAPS.get(name, cap))
        assert size <= limit, (mode, name, size, last)
    # Long enough to evict: the per-exchange tables are full, not merely under the cap.
    assert last["legs"] == cap, last
    if mode == "addon":
        assert last["addon_tracked"] == cap, last
