"""Offline analysis: one :class:`~authlens.diagnose.Analyzer` over a recorded session.

``authlens analyze`` (and ``demo``) feed every exchange of one or more captures, in file
order, to one :class:`Session`, which judges them exactly as the live addon does (same
relevance gate, same capture-clock expiry of ``no-retry``) and keeps the *final* verdict
of each judged exchange: a later exchange, or the end of the run, may still change an
earlier verdict, so nothing is written out before :meth:`Session.finish`.

Memory bound. Flows are not kept: the caller streams them in and drops each one after
:meth:`Session.observe`. What stays is, per judged exchange, one index entry (its id,
position in the capture and where its record lies; a few hundred bytes) plus the
record itself (the JSON of its verdict, typically 1 to 5 KB) in a spooled temporary
file that moves to disk past :data:`SPOOL_MEMORY`. Handshake state inside the Analyzer
is capped by ``AnalyzerConfig.max_tracked``, like the live addon's.

Pure core: no mitmproxy import (the mitm layer turns flows into exchanges).
"""

from __future__ import annotations

import json
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from authlens.diagnose.api import Analyzer, AnalyzerConfig, Verdict
from authlens.model import Exchange
from authlens.pairing import Deferred
from authlens.report import jsonout
from authlens.report.har import redact_url
from authlens.report.summary import worst_severity_of

SPOOL_MEMORY = 8 * 1024 * 1024  # bytes of records kept in memory before spilling to disk


@dataclass(frozen=True, slots=True)
class Judged:
    """The final result for one judged exchange, as every writer needs it.

    ``metadata`` is the DESIGN.md §3 dict as JSON data (fingerprints, or raw values when
    the session does not redact); ``comment`` is the flow comment block (always
    redacted); ``ordinal`` is the exchange's position in the whole session (0-based).
    """

    ordinal: int
    id: str
    method: str
    url: str
    status: int | None
    comment: str
    marker: str
    metadata: dict[str, Any]

    @property
    def worst(self) -> str | None:
        """The worst diagnosis severity ("error", "warning", "info") or None."""
        return worst_severity_of(self.metadata)

    def flow(self, *, extra: bool = True) -> dict[str, Any]:
        """The ``analyze --json`` flow object: ``id``, ``method``, ``url``, ``status``,
        the §3 fields, then (``extra``) the flow ``comment`` and ``marker``."""
        out: dict[str, Any] = {
            "id": self.id,
            "method": self.method,
            "url": self.url,
            "status": self.status,
        }
        out.update((k, v) for k, v in self.metadata.items() if k not in out)
        if extra:
            out["comment"] = self.comment
            out["marker"] = self.marker
        return out

    def headline(self) -> str:
        """The top diagnosis line of the comment (``id: headline``)."""
        return self.comment.split("\n", 1)[0]

    def to_record(self) -> dict[str, Any]:
        return {
            "o": self.ordinal,
            "i": self.id,
            "m": self.method,
            "u": self.url,
            "s": self.status,
            "c": self.comment,
            "k": self.marker,
            "d": self.metadata,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Judged:
        return cls(
            ordinal=int(record["o"]),
            id=str(record["i"]),
            method=str(record["m"]),
            url=str(record["u"]),
            status=record["s"],
            comment=str(record["c"]),
            marker=str(record["k"]),
            metadata=dict(record["d"]),
        )


@dataclass(frozen=True, slots=True)
class Recorded:
    """An annotation an exchange already carries from an earlier authlens run (an entry
    of an annotated HAR): JSON data, as it was exported."""

    comment: str
    marker: str
    metadata: dict[str, Any]


@dataclass(slots=True)
class _Seen:
    """What a later verdict needs of an exchange that has left the caller's hands."""

    ordinal: int
    method: str
    url: str
    status: int | None
    fixed: bool = False  # keeps its recorded annotation: verdicts for it are ignored


class ResultStore:
    """Final :class:`Judged` records by exchange id, read back in capture order.

    A newer record for an id replaces the older one (late verdicts). Records are JSON
    lines in a spooled temporary file; only ``id -> (ordinal, offset, length)`` stays in
    memory. Single-threaded; iterate only after writing is over.
    """

    def __init__(self, spool_memory: int = SPOOL_MEMORY) -> None:
        # Closed by close(): the store outlives any one with-block of its user.
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=spool_memory, mode="w+b"
        )
        self._index: dict[str, tuple[int, int, int]] = {}
        self._end = 0

    def put(self, judged: Judged) -> None:
        data = json.dumps(judged.to_record(), ensure_ascii=False, separators=(",", ":"))
        raw = data.encode("utf-8", "surrogatepass") + b"\n"
        self._file.seek(self._end)
        self._file.write(raw)
        self._index[judged.id] = (judged.ordinal, self._end, len(raw))
        self._end += len(raw)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, exchange_id: object) -> bool:
        return exchange_id in self._index

    def __iter__(self) -> Iterator[Judged]:
        """Every record, in capture order (by ordinal)."""
        for ordinal, offset, length in sorted(self._index.values()):
            del ordinal
            self._file.seek(offset)
            raw = self._file.read(length)
            yield Judged.from_record(json.loads(raw.decode("utf-8", "surrogatepass")))

    def close(self) -> None:
        self._file.close()


class Session:
    """Judges a recorded session; see the module docstring.

    ``redact`` decides how secrets in the metadata are stored (and so shown by every
    writer): fingerprints (default) or raw values. The comment is always redacted.
    """

    def __init__(self, config: AnalyzerConfig | None = None, *, redact: bool = True) -> None:
        self.config = config or AnalyzerConfig()
        self.redact = redact
        self.results = ResultStore()
        self.flows = 0  # exchanges observed (relevant or not)
        self._analyzer = Analyzer(self.config)
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._clock: float | None = None
        self._finished = False

    def observe(self, exchange: Exchange, ordinal: int, recorded: Recorded | None = None) -> None:
        """Judge one exchange (``ordinal``: its position in the session) and apply what it
        settled about earlier ones.

        With ``recorded``, the exchange keeps that annotation as its result: the caller
        passes one only when re-judging could say less than the run that made it (see
        :func:`authlens.mitm.offline.recorded_annotation`). It still goes through the
        Analyzer, so the exchanges around it are judged with it in view.
        """
        self.flows += 1
        if recorded is not None:
            seen = self._remember(exchange, ordinal, fixed=True)
            self.results.put(
                Judged(
                    ordinal=ordinal,
                    id=exchange.id,
                    method=seen.method,
                    url=seen.url,
                    status=seen.status,
                    comment=jsonout.clean_text(recorded.comment),
                    marker=jsonout.clean_text(recorded.marker),
                    metadata=recorded.metadata,
                )
            )
        # As the addon does: a plain 403 is judged too (a browser let in there explains
        # it); anything else not about authentication may still be a browser baseline.
        if not self._analyzer.is_relevant(exchange) and exchange.status != 403:
            self.note(exchange)
            return
        if recorded is None:
            self._remember(exchange, ordinal)
        verdicts = list(self._analyzer.observe(exchange))
        # Recorded flows keep their own clock, as in the addon: time-based decisions
        # (no-retry) follow the capture's timestamps, never the wall clock.
        stamp = exchange.timestamp_end or exchange.timestamp_start
        if stamp is not None:
            self._clock = max(self._clock or stamp, stamp)
        if self._clock is not None:
            verdicts.extend(self._analyzer.expire(self._clock))
        self._apply(verdicts)

    def note(self, exchange: Exchange | Deferred) -> None:
        """Offer an exchange that is not judged (an accepted browser request) as a
        baseline for the browser-versus-script comparison; apply what it explains. A
        :class:`~authlens.pairing.Deferred` one is built only if a refusal needs it."""
        if isinstance(exchange, Deferred):
            self._apply(self._analyzer.note_deferred(exchange))
            return
        note = getattr(self._analyzer, "note", None)
        if note is not None:
            self._apply(note(exchange))

    def finish(self) -> ResultStore:
        """Settle what is still pending (end of the session) and return the results."""
        if not self._finished:
            self._finished = True
            self._apply(self._analyzer.finish())
        return self.results

    def close(self) -> None:
        self.results.close()

    def _remember(self, exchange: Exchange, ordinal: int, *, fixed: bool = False) -> _Seen:
        url = jsonout.clean_text(exchange.request.url)
        seen = self._seen[exchange.id] = _Seen(
            ordinal,
            jsonout.clean_text(exchange.request.method),
            redact_url(url) if self.redact else url,
            exchange.status,
            fixed,
        )
        self._seen.move_to_end(exchange.id)
        while len(self._seen) > max(1, self.config.max_tracked):
            self._seen.popitem(last=False)
        return seen

    def _apply(self, verdicts: list[Verdict]) -> None:
        for verdict in verdicts:
            seen = self._seen.get(verdict.exchange_id)
            if seen is None or seen.fixed:
                continue  # forgotten (LRU, as in the Analyzer), or keeps its recorded one
            metadata = json.loads(jsonout.dumps(verdict.metadata, redact=self.redact, indent=None))
            self.results.put(
                Judged(
                    ordinal=seen.ordinal,
                    id=verdict.exchange_id,
                    method=seen.method,
                    url=seen.url,
                    status=seen.status,
                    comment=jsonout.clean_text(str.__str__(verdict.comment).strip("\n")),
                    marker=jsonout.clean_text(str.__str__(verdict.marker)),
                    metadata=metadata if isinstance(metadata, dict) else {},
                )
            )
