"""The single place where results become JSON; raw output is a mode of it, not a second path."""

from __future__ import annotations

import json
import re
from typing import Any

from authlens.secret import Secret, reveal_all
from authlens.sightings import Sightings

# Lone surrogates: mitmproxy hands undecodable header bytes over as U+DC80..U+DCFF
# (surrogateescape), and they reach evidence, client names and summaries. Text holding
# them cannot be encoded as UTF-8 (a flow file's tnetstring, mitmweb's websocket), so
# where that matters they are written as visible escapes: ``\xff`` for an escaped byte,
# ``\ud800`` for any other surrogate.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _escape_surrogate(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by a visible escape (see above)."""
    if text.isascii():
        return text
    return _SURROGATE.sub(_escape_surrogate, text)


def dumps(value: Any, *, redact: bool = True, indent: int | None = 2, clean: bool = False) -> str:
    """JSON text of ``value``. Secrets show as fingerprints unless ``redact`` is False.

    ``clean`` makes the text encodable as UTF-8 whatever it holds: lone surrogates in
    strings become visible escapes (``\\xff``).
    """
    if not redact:
        value = reveal_all(value)
    text = json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False, default=_reject)
    if not clean or text.isascii():
        return text
    # With ensure_ascii=False surrogates only occur inside JSON strings, where the escape's
    # backslash must itself be escaped.
    return _SURROGATE.sub(lambda m: "\\" + _escape_surrogate(m), text)


def plain(value: Any, *, redact: bool = True) -> Any:
    """What ``json.loads(dumps(value, redact=redact, clean=True))`` returns, built directly.

    The live addon writes every verdict into ``flow.metadata``; going through JSON text
    and back cost it more than building the verdict. Strings are shared, not copied;
    containers are new, so the caller may edit the result.
    """
    return _plain(value, redact)


def plain_shared(value: Any, *, redact: bool = True) -> Any:
    """:func:`plain` of a container that never changes once made (the engine shares the
    metadata of a decoded part between verdicts): from its second conversion on, one
    result per object is remembered and returned each time, shared, so read-only; one
    converted once is not kept. Bounded."""
    if type(value) is not dict and type(value) is not list:
        return _plain(value, redact)
    key = (id(value), redact)
    entry = _SHARED.get(key)
    if entry is not None and entry[0] is value:
        return entry[1]
    made = _plain(value, redact)
    if not _SEEN_ONCE.seen_before(id(value) << 1 | redact):
        # Made for one verdict (its evidence names a flow, say): not kept, so it dies young
        # (:mod:`authlens.sightings`). A second sighting of the id keeps it: the same
        # source again or, now and then, a new one in its place.
        return made
    if len(_SHARED) >= _MAX_SHARED:
        _SHARED.clear()
    _SHARED[key] = (value, made)  # the source is kept, so its id is not reused meanwhile
    return made


_SHARED: dict[tuple[int, bool], tuple[Any, Any]] = {}
_MAX_SHARED = 1024
_SEEN_ONCE = Sightings(_MAX_SHARED * 4)


def plain_key(key: Any) -> str:
    """A mapping key as :func:`plain` writes it (json turns non-string keys into text)."""
    if type(key) is str and key.isascii():
        return key
    return _plain_key(key)


def _plain(value: Any, redact: bool) -> Any:
    # Containers hold mostly ASCII strings and small numbers: those are handled inline,
    # without a call per value (a metadata dict has about a hundred of them).
    kind = type(value)
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                key = _plain_key(key)
            kind = type(item)
            if (kind is str and item.isascii()) or item is None or kind is int or kind is bool:
                out[key] = item
            else:
                out[key] = _plain(item, redact)
        return out
    if kind is list or kind is tuple:
        items: list[Any] = []
        for item in value:
            kind = type(item)
            if (kind is str and item.isascii()) or item is None or kind is int or kind is bool:
                items.append(item)
            else:
                items.append(_plain(item, redact))
        return items
    if kind is str:
        return value if value.isascii() else clean_text(value)
    if value is None or kind is int or kind is bool:
        return value
    if kind is float:
        if value != value or value in (_INF, -_INF):
            raise ValueError("out of range float values are not JSON compliant")
        return value
    if isinstance(value, Secret):
        return clean_text(str.__str__(value) if redact else value.reveal_text())
    if isinstance(value, str):  # str enums and other subclasses: their text, as json writes it
        return clean_text(str.__str__(value))
    if isinstance(value, int):  # bool was handled; int enums become numbers, as in json
        return int(value)
    if isinstance(value, float):
        return _plain(float(value), redact)
    if isinstance(value, dict):
        return _plain(dict(value), redact)
    if isinstance(value, list | tuple):
        return _plain(list(value), redact)
    return _reject(value)


_INF = float("inf")


def _plain_key(key: Any) -> str:
    # json.dumps turns non-string keys into strings (True -> "true", None -> "null").
    if type(key) is str:
        return key if key.isascii() else clean_text(key)
    if isinstance(key, str):
        return clean_text(str.__str__(key))
    if key is True or key is False or key is None:
        return json.dumps(key)
    if isinstance(key, int | float):
        return json.dumps(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _reject(value: Any) -> Any:
    # Every field that reaches a writer must be a deliberate JSON value: an unknown type
    # is a bug, not something to stringify (which might print a secret).
    raise TypeError(f"not JSON-safe: {type(value).__name__}")
