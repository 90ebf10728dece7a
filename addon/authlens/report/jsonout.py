"""The single place where results become JSON; raw output is a mode of it, not a second path."""

from __future__ import annotations

import json
from typing import Any

from authlens.secret import reveal_all


def dumps(value: Any, *, redact: bool = True, indent: int | None = 2) -> str:
    """JSON text of ``value``. Secrets show as fingerprints unless ``redact`` is False."""
    if not redact:
        value = reveal_all(value)
    return json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False, default=_reject)


def _reject(value: Any) -> Any:
    # Every field that reaches a writer must be a deliberate JSON value: an unknown type
    # is a bug, not something to stringify (which might print a secret).
    raise TypeError(f"not JSON-safe: {type(value).__name__}")
