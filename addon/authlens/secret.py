"""Secret material, redacted by construction.

A :class:`Secret` *is* a ``str`` whose text is its keyed fingerprint,
``<redacted:sha256:xxxxxx>``: every way of printing, formatting, logging, comparing or
JSON-encoding it shows the fingerprint, so a summary dict that holds Secrets is already
redacted and JSON-safe. Only :meth:`Secret.reveal` gives the raw value back.

Fingerprints are HMAC-SHA-256 under a random key made once per process (DESIGN.md §6):
equal secrets show equal fingerprints within one run, while a weak password cannot be
recovered from a report by hashing guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

_KEY = os.urandom(32)
FINGERPRINT_HEX_DIGITS = 6
PREFIX = "<redacted:sha256:"


def fingerprint(raw: str | bytes) -> str:
    """The keyed fingerprint of ``raw`` as shown in reports."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    digest = hmac.new(_KEY, data, hashlib.sha256).hexdigest()
    return f"{PREFIX}{digest[:FINGERPRINT_HEX_DIGITS]}>"


def is_fingerprint(text: str) -> bool:
    return text.startswith(PREFIX) and text.endswith(">")


class Secret(str):
    """A secret value whose text is its fingerprint.

    ``len(secret)`` is the fingerprint's length; use :attr:`size` for the raw length.
    Copying or pickling keeps only the fingerprint, by design.
    """

    _raw: str | bytes

    def __new__(cls, raw: str | bytes) -> Secret:
        self = super().__new__(cls, fingerprint(raw))
        self._raw = raw
        return self

    def reveal(self) -> str | bytes:
        """The raw value. Call only where the user asked for raw output."""
        return getattr(self, "_raw", str(self))

    def reveal_text(self) -> str:
        """The raw value as text (bytes shown as UTF-8, undecodable bytes escaped)."""
        raw = self.reveal()
        return raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")

    @property
    def size(self) -> int:
        """Length of the raw value (characters or bytes)."""
        return len(self.reveal())

    def __repr__(self) -> str:
        return f"Secret({str.__str__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle and deepcopy carry the fingerprint only: a secret never leaves the process
        # through them.
        return (str, (str.__str__(self),))


def reveal_all(value: Any) -> Any:
    """A copy of a JSON-safe structure with every Secret replaced by its raw text."""
    if isinstance(value, Secret):
        return value.reveal_text()
    if isinstance(value, dict):
        return {k: reveal_all(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reveal_all(v) for v in value]
    return value
