"""Parser- and decoder-level findings: what a header got wrong, with the rule it breaks.

Diagnoses (why a request was refused) live in ``authlens.diagnose``; findings are the
smaller facts about a single field value that diagnoses are built from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse; for sorting."""
        return _RANK[self]


_RANK = {Severity.ERROR: 2, Severity.WARNING: 1, Severity.INFO: 0}


@dataclass(frozen=True, slots=True)
class Finding:
    """One fact about a field value.

    ``id`` is a stable kebab-case identifier (the constants in each module), ``message``
    a sentence for people, ``reference`` the RFC section it rests on, if any.
    """

    id: str
    severity: Severity
    message: str
    reference: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "severity": str(self.severity),
            "message": self.message,
        }
        if self.reference:
            out["reference"] = self.reference
        return out


def error(id: str, message: str, reference: str | None = None) -> Finding:
    return Finding(id, Severity.ERROR, message, reference)


def warning(id: str, message: str, reference: str | None = None) -> Finding:
    return Finding(id, Severity.WARNING, message, reference)


def info(id: str, message: str, reference: str | None = None) -> Finding:
    return Finding(id, Severity.INFO, message, reference)


def worst(findings: list[Finding]) -> Severity | None:
    """The most severe severity among ``findings``, or None when there are none."""
    return max((f.severity for f in findings), key=lambda s: s.rank, default=None)
