"""Counts over judged flows: the ``summary`` of ``analyze --json``, the HTML overview and
the terminal digest all come from this one pass, so they never disagree.

Input flows are the ``analyze --json`` flow dicts (``id``, ``method``, ``url``,
``status`` plus the DESIGN.md §3 metadata fields). They may come from a file someone else
wrote, so every field is read defensively: a missing or mistyped field counts as unknown,
never raises. Distinct names are capped so that a capture with a fresh User-Agent on every
request cannot make the summary as large as the capture.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from authlens.findings import Severity
from authlens.report.terminal import Style, printable

SEVERITIES = ("error", "warning", "info")
_RANK = {"error": 2, "warning": 1, "info": 0}
REFUSED_STATUSES = frozenset({401, 407})

MAX_KEY_CHARS = 200  # origins, names and IDs longer than this are cut (with "…")
MAX_NAMES_PER_KIND = 20  # distinct client / refused_by names kept per kind
MAX_ORIGINS = 1000
MAX_DIAGNOSIS_IDS = 500
OTHER = "(other)"
UNKNOWN_ORIGIN = "(no origin)"


def severity_rank(severity: str | None) -> int:
    """Higher is worse; ``None`` (no diagnosis) ranks below ``info``."""
    return _RANK.get(severity or "", -1)


def worse(a: str | None, b: str | None) -> str | None:
    return a if severity_rank(a) >= severity_rank(b) else b


def normalize_severity(value: Any) -> str:
    """A known severity; anything else (a hand-edited file) counts as ``info``."""
    text = str(value).lower() if isinstance(value, str) else ""
    return text if text in _RANK else "info"


def origin_of(url: Any) -> str:
    """``scheme://host[:port]`` of ``url``, default port dropped, userinfo never kept."""
    if not isinstance(url, str) or not url:
        return UNKNOWN_ORIGIN
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return UNKNOWN_ORIGIN
    if not parts.scheme or not host:
        return UNKNOWN_ORIGIN
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    suffix = f":{port}" if port is not None and port != default else ""
    return _key(f"{scheme}://{host}{suffix}")


def status_of(flow: Mapping[str, Any]) -> int | None:
    status = flow.get("status")
    if isinstance(status, bool):
        return None
    if isinstance(status, int):
        return status
    if isinstance(status, str) and status.isascii() and status.isdigit() and len(status) <= 3:
        return int(status)
    return None


def diagnoses_of(flow: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The flow's diagnoses that are dicts with a string ``id``, in the engine's order."""
    items = flow.get("diagnoses")
    if not isinstance(items, list):
        return []
    return [d for d in items if isinstance(d, Mapping) and isinstance(d.get("id"), str)]


def worst_severity_of(flow: Mapping[str, Any]) -> str | None:
    worst: str | None = None
    for diagnosis in diagnoses_of(flow):
        worst = worse(worst, normalize_severity(diagnosis.get("severity")))
    return worst


def party_of(flow: Mapping[str, Any], key: str) -> tuple[str, str]:
    """``(kind, name)`` of ``client`` or ``refused_by``; ``unknown`` / ``""`` when absent."""
    party = flow.get(key)
    if not isinstance(party, Mapping):
        return "unknown", ""
    kind = party.get("kind")
    name = party.get("name")
    return (
        _key(kind) if isinstance(kind, str) and kind else "unknown",
        _key(name) if isinstance(name, str) else "",
    )


def _key(text: str) -> str:
    return text if len(text) <= MAX_KEY_CHARS else text[: MAX_KEY_CHARS - 1] + "…"


def _admit(table: dict[str, Any], key: str, cap: int) -> str:
    """``key`` if the table has room for it (or has it), else the shared overflow key."""
    return key if key in table or len(table) < cap else OTHER


class SummaryBuilder:
    """Incremental :func:`summarize`: ``add`` flows one at a time, then ``result``.

    The HTML writer streams cards and counts in the same pass, so it needs this form.
    """

    def __init__(self) -> None:
        self.flows = 0
        self.refused = 0
        self.with_diagnoses = 0
        self.worst: str | None = None
        self.by_worst = {s: 0 for s in (*SEVERITIES, "none")}
        self.statuses: dict[str, int] = {}
        self.origins: dict[str, dict[str, Any]] = {}
        self.diagnoses: dict[str, dict[str, Any]] = {}
        self.parties: dict[str, dict[str, dict[str, Any]]] = {"client": {}, "refused_by": {}}

    def add(self, flow: Any) -> None:
        """Count one flow; anything but a mapping counts as a flow with nothing known."""
        if not isinstance(flow, Mapping):
            flow = {}
        self.flows += 1
        status = status_of(flow)
        refused = status in REFUSED_STATUSES
        self.refused += refused
        status_key = str(status) if status is not None else "(none)"
        self.statuses[status_key] = self.statuses.get(status_key, 0) + 1

        worst = worst_severity_of(flow)
        self.worst = worse(self.worst, worst)
        self.by_worst[worst or "none"] += 1

        origin = _admit(self.origins, origin_of(flow.get("url")), MAX_ORIGINS)
        row = self.origins.setdefault(
            origin,
            {"flows": 0, "refused": 0, "worst_severity": None, "statuses": {}, "diagnoses": {}},
        )
        row["flows"] += 1
        row["refused"] += refused
        row["worst_severity"] = worse(row["worst_severity"], worst)
        row["statuses"][status_key] = row["statuses"].get(status_key, 0) + 1

        seen: set[str] = set()
        for rank, diagnosis in enumerate(diagnoses_of(flow)):
            did = _admit(self.diagnoses, _key(diagnosis["id"]), MAX_DIAGNOSIS_IDS)
            severity = normalize_severity(diagnosis.get("severity"))
            title = diagnosis.get("title")
            entry = self.diagnoses.setdefault(
                did, {"severity": severity, "title": "", "flows": 0, "top": 0}
            )
            entry["severity"] = worse(entry["severity"], severity)
            if not entry["title"] and isinstance(title, str) and did != OTHER:
                entry["title"] = _key(title)
            if did in seen:  # a flow counts once per diagnosis, however often it repeats
                continue
            seen.add(did)
            entry["flows"] += 1
            entry["top"] += rank == 0
            row["diagnoses"][did] = row["diagnoses"].get(did, 0) + 1
        self.with_diagnoses += bool(seen)

        for key, table in self.parties.items():
            kind, name = party_of(flow, key)
            kind = _admit(table, kind, MAX_NAMES_PER_KIND)
            party = table.setdefault(kind, {"flows": 0, "names": {}})
            party["flows"] += 1
            if name:
                name = _admit(party["names"], name, MAX_NAMES_PER_KIND)
                party["names"][name] = party["names"].get(name, 0) + 1

    def result(self) -> dict[str, Any]:
        """The summary dict (JSON-safe, plain types, sorted worst / largest first)."""
        origins = {
            origin: {
                **row,
                "statuses": _by_count(row["statuses"]),
                "diagnoses": dict(
                    sorted(
                        row["diagnoses"].items(),
                        key=lambda kv: (
                            -severity_rank(self.diagnoses[kv[0]]["severity"]),
                            -kv[1],
                            kv[0],
                        ),
                    )
                ),
            }
            for origin, row in sorted(
                self.origins.items(),
                key=lambda kv: (-severity_rank(kv[1]["worst_severity"]), -kv[1]["flows"], kv[0]),
            )
        }
        diagnoses = {
            did: dict(entry)
            for did, entry in sorted(
                self.diagnoses.items(),
                key=lambda kv: (-severity_rank(kv[1]["severity"]), -kv[1]["flows"], kv[0]),
            )
        }
        parties = {
            key: {
                kind: {"flows": party["flows"], "names": _by_count(party["names"])}
                for kind, party in sorted(table.items(), key=lambda kv: (-kv[1]["flows"], kv[0]))
            }
            for key, table in self.parties.items()
        }
        return {
            "totals": {
                "flows": self.flows,
                "refused": self.refused,
                "with_diagnoses": self.with_diagnoses,
                "by_worst_severity": dict(self.by_worst),
            },
            "worst_severity": self.worst,
            "statuses": _by_count(self.statuses),
            "origins": origins,
            "diagnoses": diagnoses,
            "clients": parties["client"],
            "refused_by": parties["refused_by"],
        }


def _by_count(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def summarize(flows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts per origin, diagnosis, client kind and refusing party, plus totals.

    Shape (all counts are numbers of flows)::

        {"totals": {"flows", "refused", "with_diagnoses",
                    "by_worst_severity": {"error", "warning", "info", "none"}},
         "worst_severity": "error" | "warning" | "info" | null,
         "statuses": {"401": n, ...},
         "origins": {"https://host": {"flows", "refused", "worst_severity",
                                      "statuses": {...}, "diagnoses": {id: n}}},
         "diagnoses": {id: {"severity", "title", "flows", "top"}},
         "clients": {kind: {"flows", "names": {name: n}}},
         "refused_by": {kind: {"flows", "names": {name: n}}}}

    ``top`` counts the flows where that diagnosis was ranked first. A diagnosis's
    ``severity`` is the worst it was given. Never raises on malformed flows.
    """
    builder = SummaryBuilder()
    for flow in flows:
        builder.add(flow)
    return builder.result()


# --- terminal -------------------------------------------------------------------------

_MARK = {"error": "✖", "warning": "▲", "info": "·"}
TERMINAL_ROWS = 12  # rows per section before "… and N more"
TERMINAL_NAMES = 3  # names shown per client / refused_by kind


def render_terminal_summary(summary: Mapping[str, Any], style: Style) -> str:
    """A digest a person reads at a glance: totals, then per diagnosis, origin, client and
    refusing party, worst first. Every value is escaped with :func:`printable`."""
    totals = _mapping(summary.get("totals"))
    flows = _int(totals.get("flows"))
    worst = summary.get("worst_severity")
    head = (
        f"{flows} flow{'s' if flows != 1 else ''}, {_int(totals.get('refused'))} refused (401/407)"
    )
    if isinstance(worst, str) and worst in _RANK:
        head += ", worst: " + _sev(style, worst, worst)
    lines = [style.bold("authlens summary: ") + head]

    diagnoses = _mapping(summary.get("diagnoses"))
    if diagnoses:
        lines += ["", style.bold("By diagnosis")]
        width = min(max(len(printable(str(k), 40)) for k in diagnoses), 40)
        for did, raw in _limited(diagnoses, lines, style):
            entry = _mapping(raw)
            sev = normalize_severity(entry.get("severity"))
            count = _int(entry.get("flows"))
            top = _int(entry.get("top"))
            mark = _sev(style, sev, f"{_MARK[sev]} {sev:<7}")
            note = f" (first cause in {top})" if top and top != count else ""
            title = entry.get("title")
            title_text = (
                f"  {style.dim(printable(title, 80))}" if isinstance(title, str) and title else ""
            )
            lines.append(
                f"  {mark} {printable(str(did), 40).ljust(width)}  {_flows(count)}{note}{title_text}"
            )

    origins = _mapping(summary.get("origins"))
    if origins:
        lines += ["", style.bold("By origin")]
        width = min(max(len(printable(str(k), 60)) for k in origins), 60)
        for origin, raw in _limited(origins, lines, style):
            row = _mapping(raw)
            worst_sev = row.get("worst_severity")
            mark = (
                _sev(style, worst_sev, _MARK[worst_sev])
                if isinstance(worst_sev, str) and worst_sev in _MARK
                else " "
            )
            statuses = " ".join(
                f"{printable(str(s), 8)}×{_int(n)}"
                for s, n in _mapping(row.get("statuses")).items()
            )
            ids = ", ".join(printable(str(d), 40) for d in list(_mapping(row.get("diagnoses")))[:4])
            more = len(_mapping(row.get("diagnoses"))) - 4
            ids += f", +{more}" if more > 0 else ""
            lines.append(
                f"  {mark} {printable(str(origin), 60).ljust(width)}  {_flows(_int(row.get('flows')))}"
                f"  {style.dim(statuses)}{'  ' + ids if ids else ''}"
            )

    for key, label in (("clients", "By client"), ("refused_by", "Refused by")):
        table = _mapping(summary.get(key))
        if not table:
            continue
        lines += ["", style.bold(label)]
        width = min(max(len(printable(str(k), 30)) for k in table), 30)
        for kind, raw in _limited(table, lines, style):
            party = _mapping(raw)
            names = _mapping(party.get("names"))
            shown = ", ".join(
                f"{printable(str(n), 60)} ×{_int(c)}"
                for n, c in list(names.items())[:TERMINAL_NAMES]
            )
            if len(names) > TERMINAL_NAMES:
                shown += f", +{len(names) - TERMINAL_NAMES} more"
            lines.append(
                f"  {printable(str(kind), 30).ljust(width)}  {_flows(_int(party.get('flows')))}"
                f"{'  ' + style.dim(shown) if shown else ''}"
            )
    return "\n".join(lines) + "\n"


def _limited(table: Mapping[str, Any], lines: list[str], style: Style) -> Iterable[tuple[str, Any]]:
    items = list(table.items())
    yield from items[:TERMINAL_ROWS]
    if len(items) > TERMINAL_ROWS:
        lines.append(style.dim(f"  … and {len(items) - TERMINAL_ROWS} more"))


def _sev(style: Style, severity: str, text: str) -> str:
    return style.severity(Severity(severity), text)


def _flows(n: int) -> str:
    return f"{n:>4} flow{'s' if n != 1 else ' '}"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
