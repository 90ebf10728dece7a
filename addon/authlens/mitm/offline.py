"""Recorded captures for the offline commands: flows in, exchanges out, the same way the
addon sees them when mitmproxy replays a file (``mitmdump -nr FILE -s authlens_addon.py``).

Several files make one session: their flows are numbered across files in order
(``ordinal``), and both passes over them (judging, then writing an annotated HAR) see
the same flows in the same order, so an ordinal names the same flow in both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mitmproxy import http

from authlens.analysis import Judged, Recorded
from authlens.diagnose.api import MARKER_ERROR, MARKER_INFO, MARKER_WARNING
from authlens.mitm import adapter
from authlens.model import Exchange
from authlens.pairing import Deferred
from authlens.report.summary import worst_severity_of

if TYPE_CHECKING:
    from authlens.mitm.addon import Annotation

# The addon's key for its own comment block inside the metadata (authlens.mitm.addon
# imports mitmproxy's contentviews and addons: too slow to load for a plain analysis).
COMMENT_KEY = "comment"

# Flows made from HAR entries get a fresh random id on every read; a stable one (from
# the file's position on the command line and the entry's in the file) keeps
# ``analyze --json`` output reproducible.
_HAR_ID_NAMESPACE = uuid.UUID("6d1a8f52-5c1e-4d0e-9a57-3b7f0c2a9e41")


@dataclass(frozen=True, slots=True)
class Captured:
    """One HTTP flow of a session: where it is (file, position) and the flow itself."""

    ordinal: int
    file_index: int
    flow: http.HTTPFlow


def check_files(paths: Sequence[str | Path]) -> None:
    """Fail early, before any work, on a file that cannot even be opened.

    Raises :class:`adapter.CaptureError` (one sentence naming the file).
    """
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise adapter.CaptureError(f"{path}: no such file")
        if path.is_dir():
            raise adapter.CaptureError(f"{path} is a directory, not a capture file")
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise adapter.CaptureError(f"cannot read {path}: {exc.strerror or exc}") from exc


def iter_session(
    paths: Sequence[str | Path],
    on_file: Callable[[int, Path], None] | None = None,
) -> Iterator[Captured]:
    """The HTTP flows of ``paths`` in order, numbered across files.

    ``on_file(index, path)`` is called before each file is read (progress display).
    Raises :class:`adapter.CaptureError` for a file that is not a usable capture.
    """
    ordinal = 0
    for file_index, raw in enumerate(paths):
        path = Path(raw)
        if on_file is not None:
            on_file(file_index, path)
        for position, flow in enumerate(adapter.read_flows(path)):
            if adapter.HAR_METADATA_KEY in flow.metadata:
                flow.id = str(uuid.uuid5(_HAR_ID_NAMESPACE, f"{file_index}:{position}"))
            yield Captured(ordinal, file_index, flow)
            ordinal += 1


def baseline_of(flow: http.HTTPFlow) -> Deferred | None:
    """An accepted request the addon would offer as a browser baseline although it skips
    judging it (2xx/3xx, carrying cookies or a browser User-Agent), else None; built into
    an exchange only if a refusal needs it. The same gate as ``AuthLens._note_baseline``."""
    if not adapter.may_be_baseline(flow):
        return None
    return adapter.defer_baseline(flow, adapter.SOURCE_FLOWFILE)


def exchange_of(flow: http.HTTPFlow, *, force: bool = False) -> Exchange | None:
    """The exchange the addon would judge for a recorded ``flow``, or None when its cheap
    prefilter skips it (ordinary traffic) and ``force`` is not set."""
    if not force and not adapter.is_candidate(flow):
        return None
    return adapter.exchange_from_flow(flow, adapter.SOURCE_FLOWFILE)


_MARKERS = {"error": MARKER_ERROR, "warning": MARKER_WARNING, "info": MARKER_INFO}


def recorded_annotation(flow: http.HTTPFlow, *, redact: bool = True) -> Recorded | None:
    """The annotation an entry of an authlens-annotated HAR carries, when it should stand.

    A HAR keeps less than the flows it was made from: no connection details (who really
    refused: mitmproxy or an upstream proxy), and by default no secrets (a JWT's ``exp``,
    a Basic password's charset). Judged again, such an entry could only say less than the
    annotation it carries, so that annotation stands, and ``analyze`` on an annotated HAR
    shows what the original run showed. One exception: an annotation exported with
    secrets in the clear is not reused when the output must be redacted (its JSON no
    longer says which values are secret); the entry is judged afresh instead.

    Flow files keep everything, so their flows are always judged afresh (a newer authlens
    then sees more than an older one did).
    """
    info = flow.metadata.get(adapter.HAR_METADATA_KEY)
    export = info.get("authlens_export") if isinstance(info, dict) else None
    metadata = flow.metadata.get(adapter.ANNOTATION_KEY)
    if not isinstance(export, dict) or not isinstance(metadata, dict):
        return None
    if metadata.get("version") != 1 or not isinstance(metadata.get("diagnoses"), list):
        return None  # another version's shape: judge afresh
    if redact and export.get("redacted") is not True:
        return None
    metadata = dict(metadata)
    block = metadata.pop(COMMENT_KEY, None)
    comment = block if isinstance(block, str) else (flow.comment or "")
    marker = _MARKERS.get(worst_severity_of(metadata) or "", "")
    return Recorded(comment, marker, metadata)


def annotated_flows(
    paths: Sequence[str | Path], results: Iterable[Judged]
) -> Iterator[http.HTTPFlow]:
    """Second pass for the annotated HAR: the session's flows again, each with its final
    annotation written on it (``results`` in capture order, joined by ordinal), and any
    annotation from an earlier run that this run did not confirm removed."""
    from authlens.mitm.addon import write_annotation
    from authlens.mitm.export import clear_annotation

    pending = iter(results)
    current = next(pending, None)
    for item in iter_session(paths):
        while current is not None and current.ordinal < item.ordinal:
            current = next(pending, None)
        if current is not None and current.ordinal == item.ordinal:
            write_annotation(item.flow, annotation_of(current))
        else:
            clear_annotation(item.flow)
        yield item.flow


def annotation_of(judged: Judged) -> Annotation:
    """The addon's :class:`~authlens.mitm.addon.Annotation` for an offline result."""
    from authlens.mitm.addon import Annotation

    metadata = {**judged.metadata, COMMENT_KEY: judged.comment}
    return Annotation(judged.comment, judged.marker, metadata, None)
