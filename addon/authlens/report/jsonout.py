"""The single place where results become JSON; raw output is a mode of it, not a second path."""

from __future__ import annotations

import json
import re
from typing import Any

from authlens.secret import reveal_all

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


def _reject(value: Any) -> Any:
    # Every field that reaches a writer must be a deliberate JSON value: an unknown type
    # is a bug, not something to stringify (which might print a secret).
    raise TypeError(f"not JSON-safe: {type(value).__name__}")
