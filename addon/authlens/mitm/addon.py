"""The authlens mitmproxy addon: judges auth-relevant flows and annotates them.

Theory of operation
-------------------
Each hook is thin: a cheap prefilter on the raw flow (:func:`adapter.is_candidate`), the
user's filter, then the flow becomes an :class:`~authlens.model.Exchange` and goes to one
:class:`~authlens.diagnose.Analyzer`, which follows handshakes across flows. Every
:class:`~authlens.diagnose.Verdict` it returns is written onto its flow as three things
mitmproxy already has: ``flow.comment`` (authlens' block below any comment the user wrote),
``flow.marked`` (a severity emoji) and ``flow.metadata["authlens"]`` (plain JSON, so flow
files keep it). Nothing else is touched: not one byte of the traffic changes.

Verdicts can arrive late: a later flow explains an earlier one, a timer decides
``no-retry``, the end of the run settles what is pending. Judged flows are remembered by id
through weak references (bounded by ``authlens_max_tracked``); a late verdict is applied to
the flow object if something (mitmweb's view) still holds it, followed by mitmproxy's
``update`` hook so the UI refreshes. mitmproxy's ``-w`` writes a flow when its response
completes, before late verdicts exist, so at exit the addon rewrites that file with the
final annotations (``authlens_update_flowfile``, on by default). The offline route gives
the same result: ``mitmdump -nr in.mitm -s authlens_addon.py -w out.mitm``.

Every hook runs behind one guard: an unexpected exception is logged as an internal error
(without its message, which might quote traffic) and never reaches mitmproxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
import os
import sys
import tempfile
import time
import traceback
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mitmproxy import contentviews, ctx, exceptions, flowfilter, http
from mitmproxy.addonmanager import traverse
from mitmproxy.hooks import UpdateHook
from mitmproxy.io import FlowReader, FlowWriter
from mitmproxy.log import LegacyLogEvents

from authlens.diagnose.api import (
    MARKER_ERROR,
    MARKER_INFO,
    MARKER_WARNING,
    Analyzer,
    AnalyzerConfig,
    Verdict,
)
from authlens.findings import Severity
from authlens.mitm import adapter
from authlens.mitm.contentview import auth_view
from authlens.model import Exchange
from authlens.report import jsonout

logger = logging.getLogger(__name__)

# mitmproxy leaves these untyped; calling them through Any keeps mypy --strict quiet
# without scattering ignores.
OptionsError: Any = exceptions.OptionsError
_FlowWriter: Any = FlowWriter

METADATA_KEY = "authlens"
COMMENT_KEY = "comment"  # authlens' own comment block, kept so re-annotation replaces it
OUR_MARKERS = frozenset({MARKER_ERROR, MARKER_WARNING, MARKER_INFO})
WEB_COMMENT_COLUMN = "comment"
OPTION_NAMES = (
    "authlens_filter",
    "authlens_redact",
    "authlens_credentials",
    "authlens_no_retry_after",
    "authlens_max_tracked",
    "authlens_update_flowfile",
)
# Periodic expiry: often enough that no-retry lands about when it is due, never busy.
MIN_EXPIRE_INTERVAL = 0.1
MAX_EXPIRE_INTERVAL = 5.0


class AnalyzerLike(Protocol):
    """What the addon needs of :class:`authlens.diagnose.Analyzer` (tests pass fakes)."""

    def is_relevant(self, exchange: Exchange) -> bool: ...
    def observe(self, exchange: Exchange) -> list[Verdict]: ...
    def expire(self, now: float) -> list[Verdict]: ...
    def finish(self) -> list[Verdict]: ...


AnalyzerFactory = Callable[[AnalyzerConfig], AnalyzerLike]


def _default_factory(config: AnalyzerConfig) -> AnalyzerLike:
    return Analyzer(config)


# Analyzer imports its engine lazily. Import it now, while mitmproxy's script loader has
# the entry script's directory on sys.path (a plain checkout is not installed); a broken
# engine then fails once, loudly, when configure builds the Analyzer, not at import.
with contextlib.suppress(ImportError):
    import authlens.diagnose.engine  # noqa: F401


@dataclass(slots=True)
class Annotation:
    """What one verdict writes on a flow: the comment block, marker and JSON metadata."""

    block: str
    marker: str
    metadata: dict[str, Any]
    severity: Severity | None


class _Tracked(weakref.ref[http.HTTPFlow]):
    """A weak reference to a judged flow, with what its log lines need. One object, not a
    record holding a reference: one is kept per judged flow until the LRU drops it, long
    enough for the garbage collector to promote it, and each kept object makes its full
    collections come sooner."""

    __slots__ = ("digest", "label")

    def __new__(cls, flow: http.HTTPFlow, label: str) -> _Tracked:
        return super().__new__(cls, flow)  # weakref.ref's second argument is a callback

    def __init__(self, flow: http.HTTPFlow, label: str) -> None:  # __new__ made the reference
        self.label = label  # "401 GET http://host:port/path" for log lines ("" if none print)
        self.digest = 0  # of the last annotation applied (revision or content): log changes


class AuthLens:
    """mitmproxy addon: explains refused (401/407) requests on the flows themselves."""

    def __init__(self, analyzer_factory: AnalyzerFactory | None = None) -> None:
        self._factory: AnalyzerFactory = analyzer_factory or _default_factory
        self.analyzer: AnalyzerLike | None = None
        self._filter: flowfilter.TFilter | None = None
        self._redact = True
        self._max_tracked = 10_000
        self._no_retry_after = 30
        self._credentials: dict[str, str] = {}
        self._tracked: OrderedDict[str, _Tracked] = OrderedDict()
        # Final annotations of flows changed after their own hook (for the -w rewrite).
        self._late: OrderedDict[str, Annotation] = OrderedDict()
        # Live flows that already had a response when our `request` hook ran: made inside
        # mitmproxy (proxyauth's 407, another addon). Usually empty: nothing is stored for
        # ordinary traffic.
        self._made_by_proxy: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()
        self._offline_now: float | None = None
        self._saw_live = False
        self._expire_task: asyncio.Task[None] | None = None
        # Whether any loaded addon listens to `update` (mitmweb's and the console's view
        # do; mitmdump has none), and when that was last looked up.
        self._update_listeners = True
        self._listeners_checked = -1e9
        # `request` is a hook only while mitmproxy serves live traffic (not `-n`): every
        # hook an addon has costs a dispatch on every flow.
        self.request: Callable[[http.HTTPFlow], None] | None = self._request_hook

    # --- options -----------------------------------------------------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option(
            "authlens_filter",
            str,
            "",
            "mitmproxy filter expression selecting the flows authlens judges "
            '(default "": every flow that looks auth-related).',
        )
        loader.add_option(
            "authlens_redact",
            bool,
            True,
            "Show passwords, tokens and cookie values as keyed fingerprints in flow "
            "metadata and the Auth view. Set to false to keep them raw (flow files will "
            "then hold secrets).",
        )
        loader.add_option(
            "authlens_credentials",
            str,
            "",
            "Path of a file of known test credentials, one 'user:password' per line, used "
            "to verify Digest and NTLM answers. Opt-in; never logged or stored.",
        )
        loader.add_option(
            "authlens_no_retry_after",
            int,
            30,
            "Seconds after a challenge without a retry before authlens reports no-retry.",
        )
        loader.add_option(
            "authlens_max_tracked",
            int,
            10_000,
            "Upper bound on flows, connections and identities authlens remembers (LRU).",
        )
        loader.add_option(
            "authlens_update_flowfile",
            bool,
            True,
            "At exit, rewrite the file mitmproxy streams flows to (-w) so that flows "
            "annotated after they were written (no-retry, lockout) carry their final "
            "annotation.",
        )
        self._guard("load", self._register_view)
        self._guard("load", _settle_repeated_options, ctx.options)

    def configure(self, updated: set[str]) -> None:
        # Validation errors must reach mitmproxy as OptionsError (not through the guard).
        opts = ctx.options
        if self.analyzer is None:
            updated = set(updated) | set(OPTION_NAMES)  # first time: read every option
        if "authlens_filter" in updated:
            expr = opts.authlens_filter
            if expr:
                try:
                    self._filter = flowfilter.parse(expr)
                except ValueError as exc:
                    raise OptionsError(f"authlens_filter: {exc}") from exc
            else:
                self._filter = None
        if "server" in updated and "server" in opts:
            self.request = self._request_hook if opts.server else None
        if "authlens_redact" in updated:
            self._redact = bool(opts.authlens_redact)
            auth_view.redact = self._redact
        rebuild = False
        if "authlens_no_retry_after" in updated:
            if opts.authlens_no_retry_after < 0:
                raise OptionsError("authlens_no_retry_after must be 0 or more seconds")
            self._no_retry_after = opts.authlens_no_retry_after
            rebuild = True
        if "authlens_max_tracked" in updated:
            if opts.authlens_max_tracked < 1:
                raise OptionsError("authlens_max_tracked must be at least 1")
            self._max_tracked = opts.authlens_max_tracked
            rebuild = True
        if "authlens_credentials" in updated:
            self._credentials = load_credentials(opts.authlens_credentials)
            rebuild = True
        if rebuild or self.analyzer is None:
            self._guard("configure", self._rebuild_analyzer)

    def _rebuild_analyzer(self) -> None:
        old = self.analyzer
        self.analyzer = self._factory(
            AnalyzerConfig(
                max_tracked=self._max_tracked,
                no_retry_after=float(self._no_retry_after),
                known_credentials=dict(self._credentials),
            )
        )
        if old is not None:  # settle what the old one knew rather than drop it
            self._apply(old.finish(), current=None)

    # --- lifecycle -----------------------------------------------------------------------------

    def running(self) -> None:
        self._guard("running", self._running)

    def _running(self) -> None:
        self._register_view()
        opts: Any = ctx.options
        # mitmweb hides the comment column by default; show it unless the user chose columns.
        if "web_columns" in opts and not opts.has_changed("web_columns"):
            columns = list(opts.web_columns)
            if WEB_COMMENT_COLUMN not in columns:
                opts.update(web_columns=[*columns, WEB_COMMENT_COLUMN])
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (unit tests): expiry happens at done
        if self._expire_task is None:
            self._expire_task = loop.create_task(self._expire_loop(), name="authlens-expire")

    def done(self) -> None:
        self._guard("done", self._stop_expiry)
        self._guard("done", self._finish)
        self._guard("done", self._unregister_view)

    def _stop_expiry(self) -> None:
        if self._expire_task is not None:
            self._expire_task.cancel()
            self._expire_task = None

    def _finish(self) -> None:
        if self.analyzer is not None:
            self._apply(self.analyzer.finish(), current=None)
        if self._shutting_down() and ctx.options.authlens_update_flowfile:
            self._update_flowfile()

    def _shutting_down(self) -> bool:
        # `done` also runs when a script is reloaded; only a real exit may close -w.
        should_exit = getattr(ctx.master, "should_exit", None)
        return bool(should_exit is not None and should_exit.is_set())

    def _update_flowfile(self) -> None:
        if not self._late:
            return
        addons: Any = ctx.master.addons
        save = addons.get("save")
        path = getattr(save, "current_path", None)
        if save is None or not path:
            return
        # Our `done` runs before Save's (script addons precede it in the chain). Let Save
        # flush and close first (its done is idempotent), then patch the complete file.
        save.done()
        try:
            count = patch_flow_file(Path(path), self._late)
        # AttributeError: mitmproxy before 12.2 raises it for a damaged record.
        except (OSError, exceptions.FlowReadException, AttributeError) as exc:
            logger.warning(
                "authlens: could not add late diagnoses to %s (%s); "
                "run `mitmdump -nr %s -s <authlens entry script> -w <out>` to get them",
                path,
                type(exc).__name__,
                path,
            )
        else:
            if count:
                logger.info("authlens: updated %d flows in %s with late diagnoses", count, path)

    async def _expire_loop(self) -> None:
        while True:
            interval = min(MAX_EXPIRE_INTERVAL, max(MIN_EXPIRE_INTERVAL, self._no_retry_after / 4))
            await asyncio.sleep(interval)
            if self._saw_live and self.analyzer is not None:
                self._guard("expire", self._expire, time.time())

    def _expire(self, now: float) -> None:
        if self.analyzer is not None:
            self._apply(self.analyzer.expire(now), current=None)

    # --- the contentview --------------------------------------------------------------------

    def _register_view(self) -> None:
        auth_view.redact = self._redact
        registry = contentviews.registry
        if registry.get(auth_view.name.lower()) is not auth_view:
            contentviews.add(auth_view)

    def _unregister_view(self) -> None:
        # mitmproxy 12 has no public removal (contentviews.remove is a deprecated no-op);
        # drop our own entry so a reloaded script does not leave a stale view behind.
        by_name = getattr(contentviews.registry, "_by_name", None)
        if isinstance(by_name, dict) and by_name.get(auth_view.name.lower()) is auth_view:
            del by_name[auth_view.name.lower()]

    # --- hooks ------------------------------------------------------------------------------

    def _request_hook(self, flow: http.HTTPFlow) -> None:
        # Runs after mitmproxy's own addons and before the request goes upstream, on every
        # live flow: the usual case (no response yet) costs one attribute test. Only live
        # traffic counts: a flow loaded from a file (`-r`) replays its hooks with the
        # recorded response already in place, which says nothing about who made it.
        if flow.response is not None and flow.live:
            self._guard("request", self._made_by_proxy.add, flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._guard("response", self._judge, flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._guard("error", self._judge, flow)

    def http_connect_error(self, flow: http.HTTPFlow) -> None:
        # A CONNECT that did not succeed: proxyauth's 407 in regular mode, or an eager
        # connection failure. mitmproxy never calls `response` for CONNECT flows, and `-w`
        # does not save them: the log line is where such a refusal shows up.
        self._guard("http_connect_error", self._judge, flow)

    def http_connected(self, flow: http.HTTPFlow) -> None:
        # A successful CONNECT only matters when it answered proxy authentication: it
        # settles the 407 before it. The prefilter lets nothing else through.
        self._guard("http_connected", self._judge, flow)

    # No `http_connect_upstream`: the CONNECT mitmproxy sends to an upstream proxy has no
    # response on the flow; an upstream 407 surfaces as the `error` of the inner request
    # ("Upstream proxy ... refused HTTP CONNECT request: 407 ..."), handled by `error`.

    def _judge(self, flow: http.HTTPFlow) -> None:
        if not adapter.is_candidate(flow):
            self._note_baseline(flow)
            return
        if self._filter is not None and not self._filter(flow):
            return
        if self.analyzer is None:
            return
        live = bool(flow.live)
        source = adapter.SOURCE_LIVE if live else adapter.SOURCE_FLOWFILE
        # Live: our request hook saw the truth. Recorded: the flow's own state decides.
        made_by_proxy = (flow in self._made_by_proxy) if live else None
        exchange = adapter.exchange_from_flow(flow, source, made_by_proxy=made_by_proxy)
        # A plain 403 still goes to the analyzer: a browser let in there explains it.
        if not self.analyzer.is_relevant(exchange) and exchange.status != 403:
            status = exchange.status
            if status is not None and 300 <= status < 400:
                # A hop in a redirect chain: the tracker carries the credentials a client
                # sent at the start over it (credentials-dropped-on-redirect).
                self._apply(self.analyzer.observe(exchange), current=None)
            else:
                self._note(exchange)
            return
        self._track(flow)
        verdicts = list(self.analyzer.observe(exchange))
        if live:
            self._saw_live = True
        else:
            # Recorded flows keep their own clock: time-based decisions (no-retry) follow
            # the capture's timestamps, not the wall clock of the replay.
            stamp = exchange.timestamp_end or exchange.timestamp_start
            if stamp is not None:
                self._offline_now = max(self._offline_now or stamp, stamp)
            if self._offline_now is not None:
                verdicts.extend(self.analyzer.expire(self._offline_now))
        self._apply(verdicts, current=flow)

    def _note_baseline(self, flow: http.HTTPFlow) -> None:
        """Offer an accepted browser request that is not judged (it often carries only
        cookies) as a baseline for the browser-versus-script comparison. Cheap: a few
        header probes on the raw flow, and the exchange is built only if a refusal at the
        same endpoint ever needs it (:func:`adapter.defer_baseline`)."""
        if self.analyzer is None or not adapter.may_be_baseline(flow):
            return
        if self._filter is not None and not self._filter(flow):
            return
        source = adapter.SOURCE_LIVE if flow.live else adapter.SOURCE_FLOWFILE
        note_deferred = getattr(self.analyzer, "note_deferred", None)
        if note_deferred is None:  # test fakes may not have it
            self._note(adapter.exchange_from_flow(flow, source))
            return
        self._apply(note_deferred(adapter.defer_baseline(flow, source)), current=None)

    def _note(self, exchange: Exchange) -> None:
        note = getattr(self.analyzer, "note", None)  # test fakes may not have it
        if note is not None:
            self._apply(note(exchange), current=None)

    def _track(self, flow: http.HTTPFlow) -> None:
        # The label only serves log lines: not made when no handler prints them (-q).
        label = _label(flow) if _someone_prints(logging.WARNING) else ""
        entry = self._tracked.get(flow.id)
        if entry is None:
            self._tracked[flow.id] = _Tracked(flow, label)
            while len(self._tracked) > self._max_tracked:
                self._tracked.popitem(last=False)
        else:
            entry.label = label
            self._tracked.move_to_end(flow.id)

    # --- writing verdicts -------------------------------------------------------------------

    def _apply(self, verdicts: Iterable[Verdict], current: http.HTTPFlow | None) -> None:
        updated: list[http.HTTPFlow] = []
        for verdict in verdicts:
            try:
                flow = self._apply_one(verdict, current)
            except Exception:
                _internal_error("verdict", raw=not self._redact)
                continue
            if flow is not None and flow is not current:
                updated.append(flow)
        if updated and self._wants_updates():
            # Tell mitmweb (and any other addon) that earlier flows changed.
            ctx.master.addons.trigger(UpdateHook(updated))

    def _wants_updates(self) -> bool:
        """Whether an addon other than this one handles `update`. Dispatching a hook walks
        every addon, which on mitmdump (nobody listening) cost more than the verdict
        itself. Looked up again every few seconds: scripts can come and go."""
        now = time.monotonic()
        if now - self._listeners_checked > _LISTENER_RECHECK_SECONDS:
            self._listeners_checked = now
            self._update_listeners = any(
                addon is not self
                and type(addon).__name__ != "Proxyserver"  # its update() is about modes
                and callable(getattr(addon, UpdateHook.name, None))
                for addon in traverse(ctx.master.addons.chain)  # type: ignore[no-untyped-call]
            )
        return self._update_listeners

    def _apply_one(self, verdict: Verdict, current: http.HTTPFlow | None) -> http.HTTPFlow | None:
        entry = self._tracked.get(verdict.exchange_id)
        if entry is None:
            return None  # never judged here, or forgotten (LRU): nothing to write on
        flow = entry()
        is_late = current is None or current.id != verdict.exchange_id
        saving = is_late and bool(getattr(ctx.options, "save_stream_file", None))
        if flow is None and not saving and not _someone_prints(_log_level(verdict.severity)):
            # mitmdump -q without -w, for a flow it has let go: no flow, file or log line
            # to write the annotation on.
            return None
        # Re-judged flows may come out the same: then nothing is logged or rewritten.
        annotation: Annotation | None = None
        if verdict.revision is not None and (is_late or not entry.digest):
            # The stored exchange judged again (or its first verdict): the engine's
            # revision tells a repeat before anything is built. Redaction is the one
            # thing outside it that changes what is written.
            digest = hash((verdict.revision, self._redact))
        else:
            # No revision, or the flow judged again by its own hook (a replayed flow has a
            # new response): compare what would be written.
            annotation = make_annotation(verdict, redact=self._redact)
            digest = _digest(annotation)
            if (
                current is not None
                and not is_late
                and entry.digest
                and not _merged(current, annotation)[2]
            ):
                entry.digest = digest  # the flow already carries exactly this
                return None
        if digest == entry.digest:
            return None
        entry.digest = digest
        if annotation is None:
            annotation = make_annotation(verdict, redact=self._redact)
        if saving:
            self._late[verdict.exchange_id] = annotation
            self._late.move_to_end(verdict.exchange_id)
            while len(self._late) > self._max_tracked:
                self._late.popitem(last=False)
        _log_verdict(entry.label or f"flow {verdict.exchange_id}", annotation)
        if flow is None:
            return None  # nobody holds the flow any more (mitmdump): the -w rewrite has it
        changed = write_annotation(flow, annotation)
        return flow if changed else None

    def _guard(self, hook: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except exceptions.OptionsError:
            raise
        except Exception:
            _internal_error(hook, raw=not self._redact)


# --- pure helpers (tested without a mitmproxy context) -------------------------------------


def make_annotation(verdict: Verdict, *, redact: bool = True) -> Annotation:
    """The JSON-safe annotation of a verdict.

    The metadata is what the one serializer (:mod:`authlens.report.jsonout`) would write,
    as plain values (:func:`~authlens.report.jsonout.plain`): tnetstring can save them,
    secrets are fingerprints unless ``redact`` is False, and undecodable header bytes (lone
    surrogates) are visible escapes, or the flow could not be saved (tnetstring encodes
    strings as UTF-8). The comment is always redacted. The parts that come from decoded
    fields (client, refused_by, challenges, credentials) and the diagnosis entries, which
    the engine shares between verdicts, are converted once they recur and then shared by
    the flows that have them: flow metadata is to be read, not edited in place.
    """
    source = verdict.metadata
    if not isinstance(source, dict):
        raise TypeError("verdict metadata is not a JSON object")
    metadata: dict[str, Any] = {}
    for key, value in source.items():
        if key in _SHARED_PARTS:
            # What the engine made once per decoded part or distinct diagnosis: converted
            # once, and shared between flows (flow metadata is read, never edited in place).
            if type(value) is list:
                value = [jsonout.plain_shared(item, redact=redact) for item in value]
            else:
                value = jsonout.plain_shared(value, redact=redact)
        else:
            value = jsonout.plain(value, redact=redact)
        metadata[jsonout.plain_key(key)] = value
    block = jsonout.clean_text(str.__str__(verdict.comment).strip("\n"))
    metadata[COMMENT_KEY] = block
    marker = jsonout.clean_text(str.__str__(verdict.marker))
    return Annotation(block, marker, metadata, verdict.severity)


_SHARED_PARTS = frozenset({"client", "refused_by", "challenges", "credentials", "diagnoses"})


def _digest(annotation: Annotation) -> int:
    # marshal (format 2: no back-references, so equal values give equal bytes) is the
    # cheapest exact serialization of plain JSON values; the block is in the metadata.
    return hash((annotation.marker, marshal.dumps(annotation.metadata, 2)))


def write_annotation(flow: http.HTTPFlow, annotation: Annotation) -> bool:
    """Write ``annotation`` onto ``flow``; True if anything changed.

    The user's own comment stays on top; authlens' previous block (remembered in the
    metadata) is replaced, never duplicated. A marker the user set (anything but
    authlens' three) is kept.
    """
    comment, marked, changed = _merged(flow, annotation)
    flow.comment = comment
    flow.marked = marked
    flow.metadata[METADATA_KEY] = annotation.metadata
    return changed


def _merged(flow: http.HTTPFlow, annotation: Annotation) -> tuple[str, str, bool]:
    """The comment and marker ``flow`` gets from ``annotation``, and whether anything of
    the flow changes (see :func:`write_annotation`)."""
    previous = flow.metadata.get(METADATA_KEY)
    old_block = previous.get(COMMENT_KEY) if isinstance(previous, dict) else None
    user = flow.comment or ""
    if isinstance(old_block, str) and old_block:
        if user == old_block:
            user = ""
        elif user.endswith("\n" + old_block):
            user = user[: -len(old_block) - 1]
    comment = "\n".join(part for part in (user, annotation.block) if part)
    marked = flow.marked
    if not marked or marked in OUR_MARKERS:
        marked = annotation.marker
    changed = comment != flow.comment or marked != flow.marked or previous != annotation.metadata
    return comment, marked, changed


def patch_flow_file(path: Path, annotations: Mapping[str, Annotation]) -> int:
    """Rewrite a flow file with ``annotations`` applied to the flows they name.

    Streams flow by flow into a temporary file beside ``path`` and replaces ``path``
    atomically, so a failure leaves the original intact. Returns how many flows changed.
    """
    changed = 0
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".authlens", dir=directory)
    try:
        with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
            writer = _FlowWriter(dst)
            for flow in FlowReader(src).stream():
                annotation = annotations.get(flow.id)
                if annotation is not None and isinstance(flow, http.HTTPFlow):
                    changed += write_annotation(flow, annotation)
                writer.add(flow)
        if changed:
            os.replace(tmp_name, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    return changed


def _settle_repeated_options(options: Any) -> None:
    """Say what mitmproxy does not when an ``authlens_*`` option is given twice.

    mitmproxy keeps a ``--set`` for an option no addon has declared yet and applies it
    when a script declares it. Given twice, applying it fails ("multiple values") and the
    whole script is dropped without a word (mitmproxy 12): no annotation, no log line.
    Runs in ``load``, after our options are declared and before mitmproxy applies them.
    The same value repeated is taken once (wrapper scripts that add a ``--set`` do
    that); different values are an error the user must settle, named here. Values are
    not printed: a filter expression may quote a header value. (Every ``authlens_*``
    option holds one value; a list-valued one would take repeats as its items.)
    """
    deferred = getattr(options, "deferred", None)
    if not isinstance(deferred, dict):
        return
    for name, pending in deferred.items():
        values = getattr(pending, "val", None)
        if not name.startswith("authlens_") or not isinstance(values, list) or len(values) < 2:
            continue
        given = len(values)
        if len(set(values)) == 1:
            del values[1:]  # in place: mitmproxy applies this list next
            logger.warning(
                "authlens: --set %s was given %d times with the same value; using it once",
                name,
                given,
            )
        else:
            logger.error(
                "authlens: --set %s was given %d times with different values; mitmproxy "
                "refuses an option given more than once, and does not load authlens: "
                "give it once",
                name,
                given,
            )


def load_credentials(path: str) -> dict[str, str]:
    """Read the ``authlens_credentials`` file: ``user:password`` per line.

    The password is everything after the first colon (it may contain colons). Blank lines
    and lines starting with ``#`` are skipped. Errors name the file and line, never the
    content. Raises OptionsError.
    """
    if not path:
        return {}
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise OptionsError(f"authlens_credentials: cannot read {path}: {reason}") from None
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip("\r\n")
        if not stripped.strip() or stripped.lstrip().startswith("#"):
            continue
        user, sep, password = stripped.partition(":")
        if not sep or not user:
            raise OptionsError(f"authlens_credentials: {path} line {number} is not 'user:password'")
        out[user] = password
    return out


def _label(flow: http.HTTPFlow) -> str:
    request = flow.request
    status = str(flow.response.status_code) if flow.response is not None else "error"
    if request.method.upper() == "CONNECT":
        return f"{status} CONNECT {request.host}:{request.port}"
    # Scheme, host, port and path only: a query string may carry a token.
    path = request.path.split("?", 1)[0]
    return f"{status} {request.method} {request.scheme}://{request.host}:{request.port}{path}"


_LISTENER_RECHECK_SECONDS = 5.0


def _log_level(severity: Severity | None) -> int:
    return logging.WARNING if severity == Severity.ERROR else logging.INFO


def _log_verdict(label: str, annotation: Annotation) -> None:
    level = _log_level(annotation.severity)
    if not _someone_prints(level):  # mitmdump -q: not even the record is made
        return
    lines = [line for line in annotation.block.splitlines() if line.strip()]
    if not lines:
        return
    logger.log(level, "authlens: %s: %s", label, " | ".join(lines))


def _someone_prints(level: int) -> bool:
    """Whether a handler would emit a record of ``level`` from this module's logger.

    mitmproxy's root logger passes everything and leaves filtering to its handlers
    (termlog by ``termlog_verbosity``, mitmweb's event log); a record every handler
    drops still costs a dispatch of the deprecated ``add_log`` hook to every addon,
    which is not counted as a reader here.
    """
    if not logger.isEnabledFor(level):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if level >= handler.level and not isinstance(handler, LegacyLogEvents):
                return True
        if not current.propagate:
            break
        current = current.parent
    return False


def _internal_error(hook: str, *, raw: bool = False) -> None:
    # The exception text may quote traffic (a header value, a token): it is never in the
    # error line, and at debug level only when the user asked for raw output
    # (authlens_redact=false); otherwise the debug record has the frames without it.
    exc = sys.exc_info()[1]
    tb = exc.__traceback__ if exc is not None else None
    where = ""
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
    logger.error(
        "authlens: internal error in %s hook (%s%s); traffic is unaffected",
        hook,
        type(exc).__name__ if exc is not None else "?",
        where,
    )
    if raw:
        logger.debug("authlens: internal error details", exc_info=True)
    elif exc is not None:
        logger.debug(
            "authlens: internal error details (%s; its message is withheld because it may "
            "quote traffic, set authlens_redact=false to include it):\n%s",
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
        )


__all__: Sequence[str] = [
    "Annotation",
    "AuthLens",
    "load_credentials",
    "make_annotation",
    "patch_flow_file",
    "write_annotation",
]
