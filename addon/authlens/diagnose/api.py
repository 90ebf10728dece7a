"""The contract between the diagnosis engine and its callers (mitm layer, CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from authlens.findings import Severity
from authlens.model import Exchange

if TYPE_CHECKING:
    from authlens.pairing import Deferred

MARKER_ERROR = ":no_entry:"
MARKER_WARNING = ":warning:"
MARKER_INFO = ":key:"


@dataclass(frozen=True, slots=True)
class AnalyzerConfig:
    max_tracked: int = 10_000  # LRU cap on handshake state (connections, spaces, identities)
    no_retry_after: float = 30.0  # seconds without credentials before deciding `no-retry`
    # user -> password, opt-in, for verifying Digest/NTLM responses. Never logged or stored.
    known_credentials: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Verdict:
    """What to write on one flow. Returned again, complete, whenever it changes.

    ``metadata`` is the DESIGN.md §3 ``authlens`` dict; secrets in it are
    :class:`authlens.secret.Secret` (fingerprints when printed); writers decide on raw
    output. Its client, refused_by, challenges and credentials parts are shared by the
    verdicts of exchanges with the same decoded fields, and each entry of ``diagnoses``
    by the verdicts with an equal entry: read them, copy to change them. ``comment`` is
    at most a few lines, one per diagnosis, top first, each starting with the diagnosis
    ID so ``~comment`` filters work.

    ``revision`` lets a caller tell an updated verdict of an exchange from a repeat
    without comparing the metadata: two verdicts built from one judged exchange (its
    first judgement and later re-judgements) have equal revisions exactly when their
    metadata, comment and marker are equal. None when the engine could not say cheaply.

    Read-only for callers (not frozen only because one is built per judgement, and a
    frozen dataclass sets every field through ``object.__setattr__``).
    """

    exchange_id: str
    metadata: dict[str, Any]
    comment: str
    marker: str
    severity: Severity | None
    revision: int | None = None


class Analyzer:
    """Follows handshakes across exchanges and judges each relevant one.

    ``observe`` returns the verdict of the exchange it was given (if relevant) followed by
    updated verdicts of earlier exchanges that a later one explained (``no-retry``,
    ``lockout-suspected``, ...). ``expire(now)`` returns verdicts whose time-based
    decisions fell due; ``finish()`` settles everything still pending (end of a run).
    Never raises: an internal error becomes an ``internal-error`` diagnosis.
    """

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        from authlens.diagnose.engine import Engine

        self.config = config or AnalyzerConfig()
        self._engine = Engine(self.config)

    @staticmethod
    def is_relevant(exchange: Exchange) -> bool:
        from authlens.diagnose.engine import is_relevant

        return is_relevant(exchange)

    def observe(self, exchange: Exchange) -> list[Verdict]:
        return self._engine.observe(exchange)

    def note(self, exchange: Exchange) -> list[Verdict]:
        """Index an exchange that is not judged (an accepted browser request carrying only
        cookies) as a browser baseline; returns updated verdicts of refusals it explains.
        Cheap: no decoding."""
        return self._engine.note(exchange)

    def note_deferred(self, deferred: Deferred) -> list[Verdict]:
        """:meth:`note` for a baseline built only when a refusal needs it (see
        :class:`authlens.pairing.Deferred`)."""
        return self._engine.note_deferred(deferred)

    def expire(self, now: float) -> list[Verdict]:
        return self._engine.expire(now)

    def finish(self) -> list[Verdict]:
        return self._engine.finish()
