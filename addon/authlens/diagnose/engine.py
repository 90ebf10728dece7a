"""The diagnosis engine: from exchanges to ranked, explained verdicts.

Theory of operation
-------------------
:func:`is_relevant` is the cheap gate: only exchanges about authentication go further
(401/407, auth-related 403, a redirect to a login page, requests carrying credentials,
responses carrying challenges). For each relevant exchange :meth:`Engine.observe`

1. decodes both challenge fields and both credential fields once;
2. classifies the client (:mod:`authlens.client`) and who answered (:mod:`authlens.refusal`);
3. feeds the :class:`~authlens.handshake.Tracker`, which returns this exchange's
   :class:`~authlens.handshake.HandshakeView` and the IDs of earlier exchanges whose view
   a later one changed (a retry answers a challenge, a third refusal makes a streak);
4. runs every detector (:mod:`authlens.diagnose.rules`) on a read-only
   :class:`~authlens.diagnose.rules.Context`, merges the hits per diagnosis (evidence
   concatenated, confidence combined as a noisy-OR, worst severity), drops diagnoses a
   more specific one supersedes, and ranks by severity, then confidence, then catalogue
   order;
5. builds the DESIGN.md §3 metadata, the comment (one line per diagnosis, top three,
   each starting with the ID) and the marker (by the worst severity).

Earlier exchanges are re-judged from their stored context with their new view, and their
complete, updated :class:`~authlens.diagnose.api.Verdict` follows this exchange's. Only
contexts that can still change are stored, in an LRU capped at ``config.max_tracked``.

Browser versus script: accepted browser requests (relevant or only seen through
:meth:`Engine.note`, which indexes and never decodes) go into a bounded
:class:`~authlens.pairing.PairingIndex`. A refused (401/403/407) non-browser request is
compared (:func:`authlens.compare.compare`) with its best baseline; the comparison is put
on the context for the comparison detectors and into the metadata. A refusal with no
baseline yet waits (bounded); when one arrives, it is re-judged and its updated verdict
returned, like any other late update.

Nothing here raises: a failing detector becomes an ``internal-error`` diagnosis next to
the others, and a failure around them a verdict with only ``internal-error``.
"""

from __future__ import annotations

import dataclasses
import functools
import string
from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import Any, NamedTuple

from authlens.challenge import PROXY_AUTHENTICATE, WWW_AUTHENTICATE, Challenge, parse_challenges
from authlens.client import UNKNOWN as CLIENT_UNKNOWN
from authlens.client import ClientInfo, classify
from authlens.compare import compare
from authlens.credentials import AUTHORIZATION, PROXY_AUTHORIZATION, Credentials, decode_credentials
from authlens.diagnose.api import (
    MARKER_ERROR,
    MARKER_INFO,
    MARKER_WARNING,
    AnalyzerConfig,
    Verdict,
)
from authlens.diagnose.catalogue import CATALOGUE, DEMOTES, INTERNAL_ERROR, SUPERSEDES, Diagnosis
from authlens.diagnose.rules import Context, Detector, Hit, registry
from authlens.diagnose.rules.redirect import login_location
from authlens.findings import Severity
from authlens.handshake import Tracker
from authlens.model import Exchange
from authlens.pairing import Deferred, Pairing, PairingIndex, is_browser, is_refused, resolve
from authlens.refusal import UNKNOWN as REFUSAL_UNKNOWN
from authlens.refusal import RefusedBy, identify
from authlens.sightings import Sightings

METADATA_VERSION = 1
MAX_COMMENT_LINES = 3

# Fails at import time when a catalogue ID has no detector or two.
DETECTORS: Mapping[Diagnosis, Detector] = registry()
_ORDER_BY_ID = {d.id: i for i, d in enumerate(CATALOGUE)}
_SLOTS = {d: d.slots() for d in CATALOGUE}
_MARKERS = {
    Severity.ERROR: MARKER_ERROR,
    Severity.WARNING: MARKER_WARNING,
    Severity.INFO: MARKER_INFO,
}
_AUTH_FIELDS = ("authorization", "proxy-authorization")
_SANITIZABLE = ("authorization", "proxy-authorization", "cookie", "set-cookie")
_IIS_MARKERS = (b"HTTP Error 403.", b"Detailed Error - 403.", b"403.")
# Browser baselines: endpoints remembered (LRU) and baselines per endpoint; refusals that
# wait for a baseline; recent Set-Cookie responses (where the browser's session came from).
MAX_BASELINE_ENDPOINTS = 512
BASELINES_PER_ENDPOINT = 4
MAX_AWAITING = 256
MAX_COOKIE_HISTORY = 32


def is_relevant(exchange: Exchange) -> bool:
    """Whether ``exchange`` is about authentication at all. Cheap: header lookups only
    (plus a bounded look at a 403 body for an IIS sub-status)."""
    request_headers = exchange.request.headers
    if "authorization" in request_headers or "proxy-authorization" in request_headers:
        return True
    response = exchange.response
    if response is None:
        return exchange.error_status is not None
    status = response.status_code
    if status in (401, 407):
        return True
    headers = response.headers
    if "www-authenticate" in headers or "proxy-authenticate" in headers:
        return True
    if status == 403:
        body = (response.body or b"")[:4096]
        return any(marker in body for marker in _IIS_MARKERS)
    if 300 <= status < 400:
        location = headers.get("Location")
        return bool(location) and login_location(exchange.request.url, location or "") is not None
    return False


class _Judged(NamedTuple):
    # A tuple, not a frozen dataclass: two or three are made per judged exchange, and a
    # frozen dataclass sets each field through object.__setattr__.
    diagnosis: Diagnosis
    severity: Severity
    confidence: float
    evidence: tuple[str, ...]
    slots: Mapping[str, str]


class Engine:
    """Judges exchanges in order; see the module docstring. Never raises."""

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        self.config = config or AnalyzerConfig()
        self._tracker = Tracker(self.config.max_tracked, self.config.no_retry_after)
        # Contexts of exchanges whose verdict a later exchange (or time) can still change.
        self._stored: OrderedDict[str, Context] = OrderedDict()
        self._pairing = PairingIndex(
            min(max(1, self.config.max_tracked), MAX_BASELINE_ENDPOINTS), BASELINES_PER_ENDPOINT
        )
        # Refused non-browser exchanges with no baseline yet, for a late comparison.
        self._awaiting: OrderedDict[str, Context] = OrderedDict()
        self._cookie_history: deque[Exchange | Deferred] = deque(maxlen=MAX_COOKIE_HISTORY)

    # -- the contract -------------------------------------------------------------------

    def observe(self, exchange: Exchange) -> list[Verdict]:
        """The verdict of ``exchange`` (when relevant and diagnosed), then updated verdicts
        of earlier exchanges it changed."""
        try:
            # A plain 403 is about authentication only when a browser was let in there.
            if not is_relevant(exchange) and exchange.status != 403:
                response = exchange.response
                if response is not None and 300 <= response.status_code < 400:
                    self._tracker.redirect_hop(exchange)
                return self._note(exchange)
            context, changed = self._context(exchange)
            context, late = self._pair(context)
            verdicts: list[Verdict] = []
            judged = self._judged(context)
            if judged:  # nothing to say (an accepted retry, say): no verdict to build
                verdicts.append(_verdict(context, judged))
            self._store(context)
            verdicts += self._rejudge(changed)
            verdicts += late
            return verdicts
        except Exception as exc:  # the one guard: report, never raise into mitmproxy
            return [_failure(exchange, exc)]

    def note(self, exchange: Exchange) -> list[Verdict]:
        """Index ``exchange`` as a possible browser baseline without judging it (cheap: no
        decoding). Returns the updated verdicts of refusals it explains."""
        try:
            return self._note(exchange)
        except Exception as exc:
            return [_failure(exchange, exc)]

    def note_deferred(self, deferred: Deferred) -> list[Verdict]:
        """:meth:`note` for a baseline built only if a refusal at its endpoint needs it
        (the live addon's path: most accepted traffic is never compared)."""
        try:
            if deferred.sets_cookie:
                self._cookie_history.append(deferred)
            late: list[Verdict] = []
            for pairing in self._pairing.add_deferred(deferred):
                late += self._late_comparison(pairing)
            return late
        except Exception as exc:
            exchange = deferred.exchange()
            return [_failure(exchange, exc)] if exchange is not None else []

    def _note(self, exchange: Exchange) -> list[Verdict]:
        if not _may_be_baseline(exchange):
            return []
        self._remember_cookies(exchange)
        late: list[Verdict] = []
        for pairing in self._pairing.observe(exchange):
            late += self._late_comparison(pairing)
        return late

    def expire(self, now: float) -> list[Verdict]:
        """Verdicts whose time-based decisions (``no-retry``) fell due by ``now``."""
        try:
            due = self._tracker.expire(now)
        except Exception:  # pragma: no cover - the tracker only compares numbers
            return []
        return self._rejudge(due)

    def finish(self) -> list[Verdict]:
        """Settle everything still pending: the end of a run."""
        try:
            due = self._tracker.finish()
        except Exception:  # pragma: no cover - the tracker only flips flags
            return []
        return self._rejudge(due)

    # -- building a context ---------------------------------------------------------------

    def _context(self, exchange: Exchange) -> tuple[Context, tuple[str, ...]]:
        response = exchange.response
        www: tuple[Challenge, ...] = ()
        proxy: tuple[Challenge, ...] = ()
        if response is not None:
            lines = response.headers.get_all(WWW_AUTHENTICATE)
            if lines:
                www = _challenges(tuple(lines), WWW_AUTHENTICATE)
            lines = response.headers.get_all(PROXY_AUTHENTICATE)
            if lines:
                proxy = _challenges(tuple(lines), PROXY_AUTHENTICATE)
        unknown = _unknown_fields(exchange)
        authorization = _credentials(exchange, AUTHORIZATION, unknown)
        proxy_authorization = _credentials(exchange, PROXY_AUTHORIZATION, unknown)
        observation = self._tracker.observe(
            exchange, www, proxy, authorization, proxy_authorization, unknown
        )
        context = Context(
            exchange=exchange,
            www=www,
            proxy=proxy,
            authorization=authorization,
            proxy_authorization=proxy_authorization,
            client=classify(exchange.request),
            refused_by=identify(exchange),
            view=observation.view,
            config=self.config,
            unknown_fields=unknown,
        )
        return context, observation.changed

    def _pair(self, context: Context) -> tuple[Context, list[Verdict]]:
        """``context`` with its comparison (a refusal that has a baseline), and the late
        verdicts of refusals this exchange is the baseline of."""
        exchange = context.exchange
        self._remember_cookies(exchange)
        pairings = self._pairing.observe(exchange)
        late: list[Verdict] = []
        for pairing in pairings:
            if pairing.refused.id == exchange.id:
                comparison = compare(
                    pairing.baseline, exchange, history=resolve(self._cookie_history)
                )
                context = dataclasses.replace(context, comparison=comparison)
            else:
                late += self._late_comparison(pairing)
        if context.comparison is None and is_refused(exchange) and not is_browser(exchange):
            self._awaiting[exchange.id] = context
            self._awaiting.move_to_end(exchange.id)
            while len(self._awaiting) > min(MAX_AWAITING, max(1, self.config.max_tracked)):
                self._awaiting.popitem(last=False)
        return context, late

    def _late_comparison(self, pairing: Pairing) -> list[Verdict]:
        """Re-judge a refusal that waited, now that its baseline arrived."""
        exchange_id = pairing.refused.id
        waiting = self._awaiting.pop(exchange_id, None)
        if waiting is None:
            return []  # evicted, or never judged here
        try:
            stored = self._stored.get(exchange_id, waiting)
            comparison = compare(
                pairing.baseline, stored.exchange, history=resolve(self._cookie_history)
            )
            context = dataclasses.replace(
                stored,
                view=self._tracker.view(exchange_id) or stored.view,
                comparison=comparison,
            )
            if exchange_id in self._stored:
                self._stored[exchange_id] = context
            verdict = self.judge(context)
        except Exception as exc:
            return [_failure(waiting.exchange, exc)]
        return [verdict] if verdict.metadata["diagnoses"] else []

    def _remember_cookies(self, exchange: Exchange) -> None:
        response = exchange.response
        if response is not None and "set-cookie" in response.headers:
            self._cookie_history.append(exchange)

    def _store(self, context: Context) -> None:
        exchange_id = context.exchange.id
        if not self._tracker.may_change(exchange_id):
            self._stored.pop(exchange_id, None)
            return
        self._stored[exchange_id] = context
        self._stored.move_to_end(exchange_id)
        while len(self._stored) > max(1, self.config.max_tracked):
            self._stored.popitem(last=False)

    def _rejudge(self, exchange_ids: tuple[str, ...] | list[str]) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for exchange_id in dict.fromkeys(exchange_ids):
            stored = self._stored.get(exchange_id)
            view = self._tracker.view(exchange_id)
            if stored is None or view is None:
                continue  # evicted: too old to update
            try:
                context = dataclasses.replace(stored, view=view)
                verdicts.append(self.judge(context))
                self._store(context)
            except Exception as exc:
                verdicts.append(_failure(stored.exchange, exc))
        return verdicts

    # -- judging ------------------------------------------------------------------------------

    def judge(self, context: Context) -> Verdict:
        """Run every detector on ``context`` and build its verdict."""
        return _verdict(context, self._judged(context))

    def _judged(self, context: Context) -> list[_Judged]:
        """Every detector's hits on ``context``, merged, superseded and ranked."""
        hits: dict[Diagnosis, list[Hit]] = {}
        for diagnosis, detector in DETECTORS.items():
            try:
                for found in detector(context):
                    missing = _SLOTS[diagnosis] - found.slots.keys()
                    if missing:
                        raise KeyError(f"{diagnosis.id} hit lacks slots {sorted(missing)}")
                    hits.setdefault(diagnosis, []).append(found)
            except Exception as exc:
                hits.setdefault(INTERNAL_ERROR, []).append(_error_hit(diagnosis, exc))
        return _rank(_supersede([_merge(d, h) for d, h in hits.items()]))


def _may_be_baseline(exchange: Exchange) -> bool:
    """The cheap gate before pairing: accepted, and with a cookie or a browser-like
    User-Agent (what a browser's accepted request carries when it has no auth field)."""
    status = exchange.status
    if status is None or not 200 <= status < 400:
        return False
    headers = exchange.request.headers
    return "cookie" in headers or (headers.get("user-agent") or "").startswith("Mozilla/")


_NOTHING_HIDDEN: frozenset[str] = frozenset()


def _unknown_fields(exchange: Exchange) -> frozenset[str]:
    """Auth fields whose value the capture hides: listed as sanitized, or blank in a HAR."""
    if not exchange.sanitized and exchange.source != "har":
        return _NOTHING_HIDDEN  # live traffic and flow files hide nothing
    unknown = {name.lower() for name in exchange.sanitized}
    if exchange.source == "har":
        for name, value in exchange.request.headers:
            if name.lower() in _SANITIZABLE and not value.strip():
                unknown.add(name.lower())
    return frozenset(unknown)


def _credentials(exchange: Exchange, name: str, unknown: frozenset[str]) -> Credentials | None:
    if name.lower() in unknown:
        return None
    value = exchange.request.headers.get(name)
    if value is None:
        return None
    if len(value) > _MAX_CACHED_VALUE:
        return decode_credentials(value, name)
    return _cached_credentials(value, name)


# Servers repeat their challenges and clients their credentials (a token is sent on every
# request): decoding is pure, its results are never changed after it, so equal field
# values share one decoding. Bounded by entries and by the size of what is cached.
_MAX_CACHED_VALUE = 8192
_cached_credentials = functools.lru_cache(maxsize=512)(decode_credentials)


@functools.lru_cache(maxsize=512)
def _cached_challenges(lines: tuple[str, ...], field: str) -> tuple[Challenge, ...]:
    return tuple(parse_challenges(lines, field))


def _challenges(lines: tuple[str, ...], field: str) -> tuple[Challenge, ...]:
    if sum(map(len, lines)) > _MAX_CACHED_VALUE:
        return tuple(parse_challenges(lines, field))
    return _cached_challenges(lines, field)  # shared: a tuple, which nothing can change


def _merge(diagnosis: Diagnosis, hits: list[Hit]) -> _Judged:
    """One diagnosis from several hits: the strongest hit's slots, all evidence, the
    worst severity, and the confidence that at least one hit is right (noisy-OR)."""
    if len(hits) == 1:  # the usual case, the same result without the loops
        only = hits[0]
        return _Judged(
            diagnosis,
            only.severity or diagnosis.severity,
            round(min(0.99, 1.0 - (1.0 - only.confidence)), 2),
            tuple(dict.fromkeys(only.evidence)),
            only.slots,
        )
    best = max(hits, key=lambda h: h.confidence)
    severities = [h.severity or diagnosis.severity for h in hits]
    doubt = 1.0
    for h in hits:
        doubt *= 1.0 - h.confidence
    evidence = tuple(dict.fromkeys(e for h in hits for e in h.evidence))
    return _Judged(
        diagnosis,
        max(severities, key=lambda s: s.rank),
        round(min(0.99, 1.0 - doubt), 2),
        evidence,
        best.slots,
    )


_DEMOTED_FACTOR = 0.6
_DEMOTING_CONFIDENCE = 0.5


def _supersede(judged: list[_Judged]) -> list[_Judged]:
    """Drop what a more specific diagnosis supersedes; demote what it explains."""
    if len(judged) < 2:  # nothing else to supersede or demote (the usual case)
        return judged
    # Only a diagnosis that is itself kept may supersede another: two passes settle
    # chains such as refused-by-mitmproxy > proxy-auth-required > no-retry. By ID: a
    # diagnosis hashes in Python, its ID in C.
    first = {d for j in judged for d in _SUPERSEDES_IDS.get(j.diagnosis.id, ())}
    dropped: set[str] = {
        d
        for j in judged
        if j.diagnosis.id not in first
        for d in _SUPERSEDES_IDS.get(j.diagnosis.id, ())
    }
    demoted_by: dict[str, list[str]] = {}
    for j in judged:
        if j.severity is Severity.ERROR and j.confidence >= _DEMOTING_CONFIDENCE:
            # Only a confident, error-level cause explains the refusal away.
            for other in _DEMOTES_IDS.get(j.diagnosis.id, ()):
                demoted_by.setdefault(other, []).append(j.diagnosis.id)
    out: list[_Judged] = []
    for j in judged:
        if j.diagnosis.id in dropped:
            continue
        causes = demoted_by.get(j.diagnosis.id)
        if causes:
            j = j._replace(
                confidence=round(j.confidence * _DEMOTED_FACTOR, 2),
                evidence=(
                    *j.evidence,
                    "a more specific cause was found: " + ", ".join(sorted(causes)),
                ),
            )
        out.append(j)
    return out


_SUPERSEDES_IDS = {d.id: frozenset(o.id for o in others) for d, others in SUPERSEDES.items()}
_DEMOTES_IDS = {d.id: frozenset(o.id for o in others) for d, others in DEMOTES.items()}


def _rank(judged: list[_Judged]) -> list[_Judged]:
    if len(judged) < 2:
        return judged
    return sorted(
        judged, key=lambda j: (-j.severity.rank, -j.confidence, _ORDER_BY_ID[j.diagnosis.id])
    )


def _verdict(context: Context, judged: list[_Judged]) -> Verdict:
    diagnoses: list[dict[str, Any]] = []
    lines: list[str] = []
    # What a re-judgement can change, for Verdict.revision: the rest of the metadata comes
    # from the exchange and its decoded fields, which a stored context keeps.
    changeable: list[tuple[Any, ...]] = []
    for j in judged:
        try:
            headline, explanation, fix = _rendered(j.diagnosis, j.slots)
        except (KeyError, ValueError, IndexError) as exc:  # a template bug
            j = _merge(INTERNAL_ERROR, [_error_hit(j.diagnosis, exc)])
            headline, explanation, fix = (_one_line(t) for t in j.diagnosis.render(j.slots))
        severity = str(j.severity)
        key = (j.diagnosis.id, severity, explanation, fix, j.evidence, j.confidence)
        diagnoses.append(_entry(j.diagnosis, key))
        changeable.append(key)
        if len(lines) < MAX_COMMENT_LINES:
            lines.append(f"{j.diagnosis.id}: {headline}")
    worst = max((j.severity for j in judged), key=lambda s: s.rank, default=None)
    metadata = _metadata(context, diagnoses)
    comment = "\n".join(lines)
    marker = _MARKERS[worst] if worst is not None else ""
    return Verdict(
        exchange_id=context.exchange.id,
        metadata=metadata,
        comment=comment,
        marker=marker,
        severity=worst,
        # A comparison is not hashed here (rare live; the caller compares the metadata).
        revision=hash((comment, marker, tuple(changeable))) if context.comparison is None else None,
    )


def _entry(diagnosis: Diagnosis, key: tuple[Any, ...]) -> dict[str, Any]:
    """The metadata entry of one diagnosis. A repeated refusal has the same entries: once
    a content comes back (:func:`_seen_before`), its entry is remembered and shared by
    the verdicts that have it, so read-only, like :func:`_json_of`'s (bounded; the
    writers copy it)."""
    _, severity, explanation, fix, evidence, confidence = key
    # Only plain text is remembered: a Secret in the evidence equals its fingerprint as a
    # string (so it would find a plain entry), but writes its raw value in raw mode.
    plain_text = all(type(item) is str for item in evidence)
    if plain_text:
        remembered = _ENTRIES.get(key)
        if remembered is not None and remembered[0] is diagnosis:
            return remembered[1]
        plain_text = _seen_before(key)  # evidence naming one flow never comes back
    made = {
        "id": diagnosis.id,
        "severity": severity,
        "title": diagnosis.title,
        "explanation": explanation,
        "fix": fix,
        "evidence": list(evidence),
        "confidence": confidence,
        "references": list(diagnosis.references),
    }
    if plain_text:
        if len(_ENTRIES) >= _MAX_ENTRIES:
            _ENTRIES.clear()  # crude but bounded; traffic soon refills it
        _ENTRIES[key] = (diagnosis, made)  # the diagnosis is kept: its identity is checked
    return made


_ENTRIES: dict[tuple[Any, ...], tuple[Diagnosis, dict[str, Any]]] = {}
_MAX_ENTRIES = 1024


def _seen_before(key: tuple[Any, ...]) -> bool:
    """Whether an entry or text with this content was made before, so worth remembering
    (:mod:`authlens.sightings`): evidence naming a flow or a time makes most entries of a
    re-judged handshake unique."""
    return _SEEN.seen_before(hash(key))


_MAX_SEEN = 4096
_SEEN = Sightings(_MAX_SEEN)


def _metadata(context: Context, diagnoses: list[dict[str, Any]]) -> dict[str, Any]:
    credentials = context.credentials or context.authorization or context.proxy_authorization
    return {
        "version": METADATA_VERSION,
        "client": _json_of(context.client),
        "refused_by": _json_of(context.refused_by),
        "challenges": [_json_of(c) for c in context.challenges],
        "credentials": _json_of(credentials) if credentials is not None else None,
        "diagnoses": diagnoses,
        "comparison": context.comparison.to_json() if context.comparison is not None else None,
    }


def _json_of(part: ClientInfo | RefusedBy | Challenge | Credentials) -> dict[str, Any]:
    """The metadata of a decoded part, made once per object and shared by every verdict
    that has it (the classifiers and decoders return the same object for the same input).
    Shared, so read-only: writers copy it (:func:`authlens.report.jsonout.plain`)."""
    entry = _JSON.get(id(part))
    if entry is not None and entry[0] is part:
        return entry[1]
    if isinstance(part, Credentials):
        made = {"field": part.field, "scheme": part.scheme, "summary": dict(part.summary)}
    else:
        made = part.to_json()
    if len(_JSON) >= _MAX_JSON:
        _JSON.clear()  # crude but bounded; traffic soon refills it
    _JSON[id(part)] = (part, made)  # the part is kept, so its id is not reused meanwhile
    return made


_JSON: dict[int, tuple[object, dict[str, Any]]] = {}
_MAX_JSON = 1024


def _rendered(diagnosis: Diagnosis, slots: Mapping[str, str]) -> tuple[str, str, str]:
    """The diagnosis' (headline, explanation, fix) for ``slots``, each on one line.

    Re-judged and repeated refusals fill the same templates with the same values again,
    and a slot that names a flow changes only the templates that use it (the fix rarely
    does): each text is remembered by its template and the values of the slots it uses
    (bounded by entries; slot values are short).
    """
    parts = _TEMPLATES.get(diagnosis.id)
    if parts is None or parts[0] is not diagnosis:  # not a catalogue entry (tests)
        headline, explanation, fix = diagnosis.render(slots)
        return _one_line(headline), _one_line(explanation), _one_line(fix)
    return _text(parts[1], slots), _text(parts[2], slots), _text(parts[3], slots)


def _text(part: tuple[str, tuple[str, ...]], slots: Mapping[str, str]) -> str:
    template, names = part
    try:
        key = (template, tuple([slots[name] for name in names]))  # KeyError: as format_map
        text = _RENDERED.get(key)
    except TypeError:  # an unhashable slot value: render it, remember nothing
        return _one_line(template.format_map(slots))
    if text is None:
        text = _one_line(template.format_map(slots))
        if _seen_before(key):  # a slot naming one flow is filled once: not worth keeping
            if len(_RENDERED) >= _MAX_RENDERED:
                _RENDERED.clear()
            _RENDERED[key] = text
    return text


def _template_part(template: str) -> tuple[str, tuple[str, ...]] | None:
    """The template and the names of the slots it uses, when it uses them plainly."""
    names: list[str] = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier():  # "{0}", "{a.b}", "{a[0]}": not a plain slot
            return None
        names.append(name)
    return template, tuple(dict.fromkeys(names))


def _catalogue_templates() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in CATALOGUE:
        parts = [_template_part(t) for t in (d.headline, d.explanation, d.fix)]
        if all(part is not None for part in parts):
            out[d.id] = (d, *parts)
    return out


_TEMPLATES = _catalogue_templates()
_RENDERED: dict[tuple[str, tuple[str, ...]], str] = {}
_MAX_RENDERED = 2048


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error_hit(diagnosis: Diagnosis, exc: BaseException) -> Hit:
    # The exception's type and the detector only: its message might quote traffic.
    where = f"detector for {diagnosis.id}" if diagnosis is not INTERNAL_ERROR else "engine"
    text = f"{type(exc).__name__} in the {where}"
    return Hit((text,), 1.0, {"error": text})


def _failure(exchange: Exchange, exc: BaseException) -> Verdict:
    """A verdict carrying only ``internal-error``, for a failure outside the detectors."""
    text = f"{type(exc).__name__} in the engine"
    headline, explanation, fix = INTERNAL_ERROR.render({"error": text})
    diagnosis = {
        "id": INTERNAL_ERROR.id,
        "severity": str(INTERNAL_ERROR.severity),
        "title": INTERNAL_ERROR.title,
        "explanation": explanation,
        "fix": fix,
        "evidence": [text],
        "confidence": 1.0,
        "references": list(INTERNAL_ERROR.references),
    }
    metadata: dict[str, Any] = {
        "version": METADATA_VERSION,
        "client": ClientInfo(CLIENT_UNKNOWN, "").to_json(),
        "refused_by": RefusedBy(REFUSAL_UNKNOWN, "").to_json(),
        "challenges": [],
        "credentials": None,
        "diagnoses": [diagnosis],
        "comparison": None,
    }
    return Verdict(
        exchange_id=exchange.id,
        metadata=metadata,
        comment=f"{INTERNAL_ERROR.id}: {headline}",
        marker=_MARKERS[INTERNAL_ERROR.severity],
        severity=INTERNAL_ERROR.severity,
    )
