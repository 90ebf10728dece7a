"""jsonout.plain builds what the JSON round trip built, without the text in between."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authlens.report import jsonout
from authlens.secret import Secret


class _Kind(enum.StrEnum):
    A = "alpha"


class _Num(enum.IntEnum):
    ONE = 1


_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=12
) | st.sampled_from(["", "\udcff", "caf\u00e9", "\ud800x", "<script>"])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
    | _text.map(Secret)
    | st.just(_Kind.A)
    | st.just(_Num.ONE)
)
_keys = _text | st.integers(-5, 5) | st.booleans() | st.none() | _text.map(Secret)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=25,
)


def _round_trip(value: Any, redact: bool) -> Any:
    return json.loads(jsonout.dumps(value, redact=redact, indent=None, clean=True))


@settings(max_examples=300, deadline=None)
@given(value=_values, redact=st.booleans())
def test_plain_equals_the_json_round_trip(value: Any, redact: bool) -> None:
    assert jsonout.plain(value, redact=redact) == _round_trip(value, redact)


def test_plain_copies_containers_and_types_exactly() -> None:
    inner = {"k": [1, 2]}
    value = {"a": inner, "t": (Secret("hunter2"),), "s": "x\udcffy"}
    out = jsonout.plain(value, redact=True)
    assert out["a"] is not inner and out["a"]["k"] is not inner["k"]
    assert type(out["t"]) is list and type(out["t"][0]) is str
    assert out["t"][0].startswith("<redacted:sha256:") and "hunter2" not in out["t"][0]
    assert out["s"] == "x\\xffy"
    assert jsonout.plain(value, redact=False)["t"] == ["hunter2"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, object(), {1j: 1}, b"bytes"])
def test_plain_refuses_what_json_refuses(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        jsonout.plain({"x": bad})
    with pytest.raises((TypeError, ValueError)):
        _round_trip({"x": bad}, True)


def test_plain_shared_is_plain_made_once_per_object() -> None:
    """A container that never changes is converted as plain() converts it; from its
    second conversion (per redaction mode) on, one result is remembered and shared.
    Anything else is converted as plain() converts it."""
    part = {"user": "alice", "password": Secret("Pa55"), "list": ("a", 1)}
    first = jsonout.plain_shared(part)
    assert first == jsonout.plain(part)
    second = jsonout.plain_shared(part)
    assert second == first and jsonout.plain_shared(part) is second
    jsonout.plain_shared(part, redact=False)
    raw = jsonout.plain_shared(part, redact=False)
    assert raw == jsonout.plain(part, redact=False) and raw["password"] == "Pa55"
    assert raw is not second and jsonout.plain_shared(part, redact=False) is raw
    other = dict(part)
    assert jsonout.plain_shared(other) == second and jsonout.plain_shared(other) is not second
    assert jsonout.plain_shared(("t", "u")) == ["t", "u"]
    assert jsonout.plain_shared("caf\udcff") == "caf\\xff"


def test_plain_shared_keeps_nothing_converted_once() -> None:
    """A part converted for one verdict only (its evidence names a flow) is not kept:
    kept, it would live on and be promoted by the garbage collector for nothing."""
    jsonout._SHARED.clear()
    jsonout._SEEN_ONCE.clear()  # ids of parts gone since may come back for new ones
    parts = [{"evidence": [f"answered by flow {i}"]} for i in range(100)]
    for part in parts:  # all alive at once: no id is reused
        assert jsonout.plain_shared(part) == part
    assert not jsonout._SHARED


def test_plain_shared_is_bounded() -> None:
    jsonout._SHARED.clear()
    parts = [{"n": i} for i in range(jsonout._MAX_SHARED * 2 + 5)]
    for part in parts:
        for _ in range(2):
            assert jsonout.plain_shared(part) == part
        assert len(jsonout._SHARED) <= jsonout._MAX_SHARED
        assert len(jsonout._SEEN_ONCE) <= jsonout._MAX_SHARED * 4


def test_plain_key_is_what_plain_writes() -> None:
    for key in ("a", "caf\u00e9", "\udcff", 1, 2.5, True, None):
        assert jsonout.plain_key(key) == next(iter(jsonout.plain({key: 0})))
