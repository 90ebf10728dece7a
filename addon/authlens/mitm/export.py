"""Shareable exports from mitmproxy flows: the annotated HAR and the HTML report.

Two users: the :class:`AuthLensExport` addon (commands ``authlens.save_har`` and
``authlens.report``, option ``authlens_har_dump``) works on the flows mitmproxy holds;
``authlens analyze --har`` streams re-read capture flows through :func:`write_har`.

The HAR is mitmproxy's own (``SaveHar().make_har``), made :data:`HAR_CHUNK` flows at a
time and streamed out entry by entry, then annotated and redacted by
:func:`authlens.report.har.annotate_har` (DESIGN.md §6). Memory is one chunk of entries
plus whatever the caller holds; the price of chunking is that mitmproxy's "connection
reused, no connect time" note restarts at each chunk boundary (a reused connection's
first flow in a chunk shows its original connect timing again).

Ordering at exit: ``AuthLens.done`` settles the last verdicts (``no-retry``, lockout) onto
the flows; this addon's ``done`` must run after it. mitmproxy calls ``done`` along the
addon chain in order, so the entry scripts list ``AuthLens()`` before
``AuthLensExport()``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar
from urllib.parse import urlsplit

from mitmproxy import command, ctx, exceptions, flow, http, types
from mitmproxy.addons.savehar import SaveHar
from mitmproxy.log import ALERT

from authlens.diagnose.catalogue import CATALOGUE
from authlens.mitm.addon import COMMENT_KEY, METADATA_KEY, OUR_MARKERS
from authlens.report import jsonout
from authlens.report.har import annotate_har
from authlens.report.html import write_report

logger = logging.getLogger(__name__)

# mitmproxy leaves these untyped; through Any they keep mypy --strict quiet.
CommandError: Any = exceptions.CommandError
_F = TypeVar("_F", bound=Callable[..., Any])


def _command(name: str) -> Callable[[_F], _F]:
    """``mitmproxy.command.command`` with a type mypy can see."""
    decorator: Callable[[_F], _F] = command.command(name)
    return decorator


HAR_CHUNK = 200  # flows per make_har call: bounds the entries held at once
HAR_DUMP_OPTION = "authlens_har_dump"
REPORT_TITLE = "authlens report"


# --- annotated HAR ---------------------------------------------------------------------


def _annotation(f: http.HTTPFlow) -> tuple[str, dict[str, Any]] | None:
    metadata = f.metadata.get(METADATA_KEY)
    if not isinstance(metadata, dict):
        return None
    return jsonout.clean_text(f.comment or ""), metadata


def har_entries(flows: Iterable[http.HTTPFlow], *, redact: bool = True) -> Iterator[dict[str, Any]]:
    """Annotated HAR entries of ``flows``, in order, :data:`HAR_CHUNK` flows at a time.

    Each judged flow's entry carries the flow comment as its HAR ``comment`` and the
    ``flow.metadata["authlens"]`` dict as ``_authlens``; an unjudged flow keeps a comment
    someone wrote (mitmproxy's writer drops comments).
    """
    saver = SaveHar()
    http_flows = (f for f in flows if isinstance(f, http.HTTPFlow))
    while chunk := list(itertools.islice(http_flows, HAR_CHUNK)):
        har = saver.make_har(chunk)
        annotated = annotate_har(har, [_annotation(f) for f in chunk], redact=redact)
        for f, entry in zip(chunk, annotated["log"]["entries"], strict=True):
            if "comment" not in entry and f.comment:
                entry["comment"] = jsonout.clean_text(f.comment)
            request = entry.get("request")
            if isinstance(request, dict) and isinstance(request.get("url"), str):
                request["url"] = _ascii_url(request["url"])
            yield _clean(entry)


def _clean(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (and keys) written as a visible
    escape (``\\xff`` for an undecodable byte, see :func:`jsonout.clean_text`).

    mitmproxy hands undecodable header bytes over as surrogates and its HAR writer keeps
    them as JSON ``\\udcff`` escapes, which its own HAR reader (and so ``authlens
    analyze``) then refuses: the whole entry is skipped. HAR text cannot hold raw bytes
    anyway, so the annotated HAR spells them out and every entry reads back."""
    if isinstance(value, str):
        return jsonout.clean_text(value)
    if isinstance(value, dict):
        return {jsonout.clean_text(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _ascii_host(url: str) -> str:
    """``url`` with an internationalised host name in its ASCII (IDNA) form (mitmproxy
    turns ``xn--`` hosts into Unicode when it reads a flow)."""
    if url.isascii():
        return url
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return url
    userinfo, at, hostport = netloc.rpartition("@")
    host, colon, port = hostport.rpartition(":") if hostport.count(":") == 1 else (hostport, "", "")
    if not host or host.isascii():
        return url
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:  # not a valid IDN (a label too long, a forbidden character)
        return url
    return url.replace(netloc, f"{userinfo}{at}{ascii_host}{colon}{port}", 1)


def _ascii_url(url: str) -> str:
    """``url`` as ASCII, as browsers write HAR URLs: an IDN host in its IDNA form, any
    other non-ASCII character percent-encoded as UTF-8, and an undecodable byte (a
    surrogate-escaped one, as mitmproxy hands it over) as the byte it was (``%FF``).

    mitmproxy's HAR writer keeps such characters as they are, and its HAR reader then
    refuses the entry (it encodes host and path as ASCII)."""
    if url.isascii():
        return url
    url = _ascii_host(url)
    if url.isascii():
        return url
    return "".join(ch if ch.isascii() else _percent(ch) for ch in url)


def _percent(ch: str) -> str:
    try:
        data = ch.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        data = ch.encode("utf-8", "surrogatepass")
    return "".join(f"%{b:02X}" for b in data)


def write_har(out: TextIO, flows: Iterable[http.HTTPFlow], *, redact: bool = True) -> int:
    """Stream an annotated HAR 1.2 document of ``flows`` into ``out``; returns the number of
    entries. Secrets are redacted unless ``redact`` is False (DESIGN.md §6)."""
    log = SaveHar().make_har([])["log"]
    head = {k: v for k, v in log.items() if k != "entries"}
    head["comment"] = "annotated by authlens: each judged entry's comment and _authlens"
    out.write('{"log": {')
    for key, value in head.items():
        out.write(f"\n {json.dumps(key)}: {json.dumps(value)},")
    out.write('\n "entries": [')
    count = 0
    for entry in har_entries(flows, redact=redact):
        out.write(("\n" if count == 0 else ",\n") + json.dumps(entry))
        count += 1
    tail = json.dumps({"version": 1, "redacted": redact})
    out.write(f'\n ],\n "_authlens": {tail}\n}}}}\n')
    return count


def save_har_file(path: str | Path, flows: Iterable[http.HTTPFlow], *, redact: bool = True) -> int:
    """:func:`write_har` into ``path`` atomically (a failure leaves no partial file)."""
    with atomic_text(Path(path)) as out:
        return write_har(out, flows, redact=redact)


@contextlib.contextmanager
def atomic_text(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text file beside ``path`` that replaces ``path`` only when the block ends
    without an exception."""
    # open(..., "x") rather than mkstemp: the file gets the user's usual permissions
    # (umask), not 0600, since reports are made to be shared.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as fo:
            yield fo
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def clear_annotation(f: http.HTTPFlow) -> None:
    """Remove an earlier authlens annotation (block, marker, metadata) from ``f``; what a
    person wrote stays."""
    previous = f.metadata.pop(METADATA_KEY, None)
    block = previous.get(COMMENT_KEY) if isinstance(previous, dict) else None
    if isinstance(block, str) and block:
        if f.comment == block:
            f.comment = ""
        elif f.comment.endswith("\n" + block):
            f.comment = f.comment[: -len(block) - 1]
    if f.marked in OUR_MARKERS:
        f.marked = ""


# --- HTML report -----------------------------------------------------------------------


def flow_url(f: http.HTTPFlow) -> str:
    """The URL shown for ``f``: as the adapter builds it (a CONNECT is ``//host:port``)."""
    request = f.request
    if request.method.upper() == "CONNECT" or request.first_line_format == "authority":
        return f"//{request.host}:{request.port}"
    try:
        return str(request.pretty_url)
    except Exception:  # a request mitmproxy cannot unparse
        return f"{request.scheme}://{request.host}:{request.port}{request.path}"


def report_flows(flows: Iterable[flow.Flow]) -> Iterator[dict[str, Any]]:
    """``analyze --json``-shaped flow dicts of the judged flows among ``flows``."""
    for f in flows:
        if not isinstance(f, http.HTTPFlow):
            continue
        metadata = f.metadata.get(METADATA_KEY)
        if not isinstance(metadata, dict):
            continue
        item: dict[str, Any] = {
            "id": f.id,
            "method": jsonout.clean_text(f.request.method),
            "url": jsonout.clean_text(flow_url(f)),
            "status": f.response.status_code if f.response is not None else None,
        }
        item.update((k, v) for k, v in metadata.items() if k not in item and k != COMMENT_KEY)
        yield item


def save_report_file(
    path: str | Path,
    flows: Iterable[dict[str, Any]],
    *,
    title: str = REPORT_TITLE,
    source_files: Sequence[str] = (),
    redacted: bool = True,
) -> None:
    """The self-contained HTML report of ``flows`` (flow dicts), written atomically."""
    with atomic_text(Path(path)) as out:
        write_report(
            out,
            flows,
            title=title,
            catalogue=CATALOGUE,
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            source_files=source_files,
            redacted=redacted,
        )


# --- the addon -------------------------------------------------------------------------


FlowHook = Callable[[http.HTTPFlow], None]


class AuthLensExport:
    """mitmproxy addon: ``authlens.save_har``, ``authlens.report`` and
    ``authlens_har_dump``. Must follow :class:`~authlens.mitm.addon.AuthLens` in the
    addon list (see the module docstring)."""

    def __init__(self) -> None:
        self.flows: list[http.HTTPFlow] = []
        # The flow hooks exist only while authlens_har_dump is set: mitmproxy pays a
        # dispatch for every hook an addon has, on every flow.
        self.response: FlowHook | None = None
        self.error: FlowHook | None = None
        self.http_connect_error: FlowHook | None = None
        self.websocket_end: FlowHook | None = None

    def load(self, loader: Any) -> None:
        loader.add_option(
            HAR_DUMP_OPTION,
            str,
            "",
            "At exit, save an annotated HAR of all flows (authlens' comment and "
            "_authlens metadata on each judged entry, secrets redacted unless "
            'authlens_redact=false) to this path; "-" prints it. Like hardump, flows are '
            "kept in memory until then.",
        )

    def configure(self, updated: set[str]) -> None:
        if HAR_DUMP_OPTION in updated:
            dumping = bool(ctx.options.authlens_har_dump)
            self.response = self.error = self._keep if dumping else None
            self.http_connect_error = self._keep_judged_connect if dumping else None
            self.websocket_end = self._keep_websocket if dumping else None
            if not dumping:
                self.flows = []

    def _keep(self, f: http.HTTPFlow) -> None:
        if f.websocket is None:
            self.flows.append(f)

    def _keep_websocket(self, f: http.HTTPFlow) -> None:
        self.flows.append(f)

    def _keep_judged_connect(self, f: http.HTTPFlow) -> None:
        # A refused CONNECT (proxyauth's 407) never reaches -w or hardump; keep the ones
        # authlens judged, since they are often the whole story.
        if METADATA_KEY in f.metadata:
            self._keep(f)

    def done(self) -> None:
        path = ctx.options.authlens_har_dump
        if not path:
            return
        redact = bool(ctx.options.authlens_redact)
        try:
            if path == "-":
                write_har(sys.stdout, self.flows, redact=redact)
                sys.stdout.flush()
            else:
                count = save_har_file(Path(path).expanduser(), self.flows, redact=redact)
                logger.info("authlens: annotated HAR with %d entries saved to %s", count, path)
        except (OSError, ValueError, TypeError) as exc:
            logger.error("authlens: could not save the annotated HAR to %s (%s)", path, exc)

    @_command("authlens.save_har")
    def save_har(self, flows: Sequence[flow.Flow], path: types.Path) -> None:
        """Save flows as an annotated HAR: authlens' comment and _authlens per entry."""
        try:
            count = save_har_file(
                Path(path).expanduser(),
                [f for f in flows if isinstance(f, http.HTTPFlow)],
                redact=bool(ctx.options.authlens_redact),
            )
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
        logger.log(ALERT, "authlens: annotated HAR saved (%d entries)", count)

    @_command("authlens.report")
    def report(self, flows: Sequence[flow.Flow], path: types.Path) -> None:
        """Save the self-contained HTML report of the judged flows among flows."""
        try:
            save_report_file(
                Path(path).expanduser(),
                report_flows(flows),
                redacted=bool(ctx.options.authlens_redact),
            )
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
        logger.log(ALERT, "authlens: HTML report saved to %s", path)


__all__: Sequence[str] = [
    "AuthLensExport",
    "clear_annotation",
    "har_entries",
    "report_flows",
    "save_har_file",
    "save_report_file",
    "write_har",
]
