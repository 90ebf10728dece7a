"""The HTML report: one self-contained file a person opens in any browser, offline.

Theory of operation
-------------------
Every piece of markup is made by :func:`el`, a small dominate-like builder: text
children and attribute values are escaped by construction, tag and attribute names come
from allow-lists, and a link target must be an in-page anchor or an ``https`` URL this
module built itself (RFC citations). Values from the traffic are never made into links;
they are shown as text, with control and invisible characters spelled out (``\\x1b``,
``\\u202e``) and long values cut with a note. A Content-Security-Policy ``<meta>`` admits
only the one inlined stylesheet and script by hash, so even a missed escape could neither
run script nor fetch anything.

The file is streamed: prologue, overview, one ``<article>`` per flow, glossary, epilogue.
The overview needs counts over all flows, which precede the cards in the document; a list
of flows is walked twice (counts, then cards), any other iterable is walked once while
cards are spooled to a temporary file. Either way only one card is in memory at a time.

CSS and JS live in ``assets/`` as package data and are inlined via ``importlib.resources``.
The page works without the script, which only adds filtering, search and opening every
``<details>`` for printing.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
import shutil
import string
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from importlib import resources
from typing import Any, TextIO

from authlens import __version__
from authlens.report.har import redact_url
from authlens.report.summary import (
    SEVERITIES,
    SummaryBuilder,
    diagnoses_of,
    normalize_severity,
    origin_of,
    party_of,
    status_of,
    worst_severity_of,
)
from authlens.secret import is_fingerprint

# --- limits ---------------------------------------------------------------------------
# A capture is untrusted input: every value and every list shown is capped, with a note
# saying how much was left out, so a 1 MB header cannot make a 1 MB card.
MAX_VALUE_CHARS = 500  # one traffic value (header parameter, evidence line, ...)
MAX_URL_CHARS = 600
MAX_PROSE_CHARS = 8_000  # explanation / fix text
MAX_ITEMS = 100  # entries shown per list or dict
MAX_DEPTH = 6  # nesting shown in decoded structures
MAX_GLOSSARY_EXTRA = 200  # diagnoses seen in flows but absent from the catalogue
MAX_CHART_BARS = 15
MAX_FILTER_OPTIONS = 200
SPOOL_MEMORY = 8 * 1024 * 1024  # bytes of cards kept in memory before spilling to disk

# --- the element builder --------------------------------------------------------------


class Markup(str):
    """HTML that is safe to emit as is. Only :func:`el` and this module create it."""

    __slots__ = ()


Child = Markup | str | int | float | None | Iterable["Child"]
AttrValue = str | int | float | bool | None

_TAGS = frozenset(
    [
        "a",
        "abbr",
        "article",
        "aside",
        "body",
        "caption",
        "code",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "em",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "head",
        "header",
        "html",
        "input",
        "label",
        "li",
        "main",
        "meter",
        "nav",
        "ol",
        "option",
        "output",
        "p",
        "section",
        "select",
        "small",
        "span",
        "strong",
        "summary",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "title",
        "tr",
        "ul",
        "svg",
        "var",
        "g",
        "rect",
        "text",
    ]
)
_VOID = frozenset({"input", "meta"})
_ATTR_NAME = re.compile(r"(?:[a-z][a-z0-9]*(?:-[a-z0-9]+)*|viewBox|preserveAspectRatio)\Z")
_FORBIDDEN_ATTRS = frozenset({"style", "srcdoc", "src", "formaction", "action", "background"})
_FRAGMENT = re.compile(r"#[A-Za-z][A-Za-z0-9_-]*\Z")
_SAFE_URL = re.compile(r"https://[A-Za-z0-9.-]+(?:/[A-Za-z0-9._~/-]*)?(?:#[A-Za-z0-9._-]*)?\Z")


def el(tag: str, attrs: Mapping[str, AttrValue] | None = None, *children: Child) -> Markup:
    """``<tag attrs>children</tag>`` with every text child and attribute value escaped.

    Attribute values ``None``/``False`` are left out and ``True`` is written bare. A link
    target (``href``) must be an in-page ``#anchor`` or a plain ``https`` URL; anything
    else is a programming error, since links are never made from traffic values.
    """
    if tag not in _TAGS:
        raise ValueError(f"tag not allowed: {tag!r}")
    parts = [f"<{tag}"]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        if not _ATTR_NAME.match(name) or name.startswith("on") or name in _FORBIDDEN_ATTRS:
            raise ValueError(f"attribute not allowed: {name!r}")
        if value is True:
            parts.append(f" {name}")
            continue
        text = value if isinstance(value, str) else _number(value)
        if name == "href" and not (_FRAGMENT.match(text) or _SAFE_URL.match(text)):
            raise ValueError("href must be an in-page anchor or an https URL made by authlens")
        parts.append(f' {name}="{_escape(text, prose=False)}"')
    parts.append(">")
    if tag in _VOID:
        if children:
            raise ValueError(f"<{tag}> takes no children")
        return Markup("".join(parts))
    parts.extend(_children(children))
    parts.append(f"</{tag}>")
    return Markup("".join(parts))


def _children(children: Iterable[Child]) -> Iterator[str]:
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, Markup):
            yield child
        elif isinstance(child, str):
            yield _escape(child, prose=True)
        elif isinstance(child, int | float):
            yield _number(child)
        else:
            yield from _children(child)


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return _escape(str(value), prose=False)


def _must_escape(ch: str, prose: bool) -> bool:
    """Characters shown as escapes rather than passed to the browser.

    In traffic values everything non-printable is spelled out (a NBSP or a zero-width
    space in a header is the diagnosis). Prose keeps newlines, tabs and ordinary spaces.
    """
    if prose:
        if ch in "\n\t":
            return False
        return unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}
    return not ch.isprintable()


def _spell(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escape(text: str, *, prose: bool) -> str:
    """HTML-escaped ``text`` with unsafe characters spelled out (lone surrogates too, so
    the output always encodes as UTF-8)."""
    if text.isprintable() or (prose and not any(_must_escape(c, True) for c in text)):
        return html.escape(text, quote=True)
    return html.escape(
        "".join(_spell(c) if _must_escape(c, prose) else c for c in text), quote=True
    )


def tv(value: str, limit: int = MAX_VALUE_CHARS) -> Markup:
    """A traffic value as inert text: escapes marked up, long values cut with a note."""
    shown = value[:limit]
    out: list[str] = []
    plain: list[str] = []
    for ch in shown:
        if ch.isprintable():
            plain.append(ch)
            continue
        if plain:
            out.append(html.escape("".join(plain)))
            plain = []
        out.append(el("span", {"class": "esc", "title": "escaped character"}, _spell(ch)))
    if plain:
        out.append(html.escape("".join(plain)))
    if is_fingerprint(value):
        return el(
            "span",
            {"class": "redacted", "title": "redacted secret (keyed fingerprint)"},
            Markup("".join(out)),
        )
    if len(value) > limit:
        out.append(
            el(
                "span",
                {"class": "cut"},
                f" … {len(value):,} characters, {len(value) - limit:,} not shown",
            )
        )
    return Markup("".join(out))


def prose(value: str, limit: int = MAX_PROSE_CHARS) -> Markup:
    """Explanations and fixes: newlines kept (the stylesheet preserves them), cut if long."""
    text = _escape(value[:limit], prose=True)
    if len(value) > limit:
        text += el("span", {"class": "cut"}, f" … {len(value) - limit:,} more characters not shown")
    return Markup(text)


def rich(value: str, limit: int = MAX_PROSE_CHARS, *, template: bool = False) -> Markup:
    """:func:`prose` plus the two bits of markup catalogue text uses: `backticks` become
    ``<code>``, and with ``template`` the ``{slot}`` names of an unfilled catalogue
    template become ``<var>`` (filled text from a flow is never read as a template)."""
    shown = value[:limit]
    pieces = shown.split("`")
    if len(pieces) % 2 == 0:  # unbalanced: show the backticks as they are
        pieces = [shown]
    out = [
        el("code", None, _slots(piece, template)) if i % 2 else _slots(piece, template)
        for i, piece in enumerate(pieces)
    ]
    if len(value) > limit:
        out.append(
            el("span", {"class": "cut"}, f" … {len(value) - limit:,} more characters not shown")
        )
    return Markup("".join(out))


def _slots(text: str, template: bool) -> Markup:
    if not template or "{" not in text:
        return prose(text, len(text))
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:  # not a valid template after all: show it literally
        return prose(text, len(text))
    out: list[str] = []
    for literal, name, _spec, _conv in parsed:
        out.append(prose(literal, len(literal)))
        if name is not None:
            out.append(el("var", None, name))
    return Markup("".join(out))


def slug(text: str) -> str:
    """An anchor-safe name for an ID; different IDs that clean up alike stay distinct."""
    clean = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:60] or "x"
    if clean != text:
        clean += "-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return clean


# --- assets ---------------------------------------------------------------------------


@cache
def _asset(name: str) -> str:
    text = resources.files("authlens.report").joinpath("assets", name).read_text("utf-8")
    closing = "</style" if name.endswith(".css") else "</script"
    if closing in text.lower() or "<!--" in text:
        raise RuntimeError(f"asset {name} would end its own element early")
    return text


def _csp_hash(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


# --- values ---------------------------------------------------------------------------


def _text_of(value: Any) -> str | None:
    return str.__str__(value) if isinstance(value, str) else None


def value(v: Any, depth: int = 0) -> Markup:
    """Any JSON-ish value from metadata, rendered inertly (dicts as key/value lists)."""
    if v is None:
        return el("span", {"class": "none"}, "(none)")
    if isinstance(v, bool):
        return el("span", {"class": "v"}, "yes" if v else "no")
    if isinstance(v, int | float):
        return el("span", {"class": "v"}, _number(v))
    text = _text_of(v)
    if text is not None:
        return el("span", {"class": "v"}, tv(text))
    if depth >= MAX_DEPTH:
        return el("span", {"class": "cut"}, "(nested too deeply to show)")
    if isinstance(v, Mapping):
        if not v:
            return el("span", {"class": "none"}, "(empty)")
        items = list(_take(v.items(), MAX_ITEMS))
        return el(
            "dl",
            {"class": "kv"},
            (
                el(
                    "div",
                    None,
                    el("dt", None, tv(_key_text(k), 200)),
                    el("dd", None, value(x, depth + 1)),
                )
                for k, x in items
            ),
            _more_note(len(v), len(items)),
        )
    if isinstance(v, list | tuple):
        if not v:
            return el("span", {"class": "none"}, "(empty)")
        items = list(_take(v, MAX_ITEMS))
        if all(
            _text_of(x) is not None or isinstance(x, int | float | bool) or x is None for x in items
        ):
            joined = _join([value(x, depth + 1) for x in items])
            return el("span", {"class": "list"}, joined, _more_note(len(v), len(items)))
        return el(
            "ul",
            {"class": "items"},
            (el("li", None, value(x, depth + 1)) for x in items),
            _more_note(len(v), len(items), tag="li"),
        )
    # Metadata is JSON data; anything else is shown by type name only, never by repr.
    return el("span", {"class": "none"}, f"(unsupported value of type {type(v).__name__})")


def _key_text(k: Any) -> str:
    text = _text_of(k)
    return (
        text if text is not None else _number(k) if isinstance(k, int | float) else type(k).__name__
    )


def _take(items: Iterable[Any], n: int) -> Iterator[Any]:
    for i, item in enumerate(items):
        if i >= n:
            return
        yield item


def _more_note(total: int, shown: int, tag: str = "span") -> Markup | None:
    if total <= shown:
        return None
    return el(tag, {"class": "cut"}, f" … {total - shown:,} more not shown")


def _join(parts: Sequence[Markup], sep: str = ", ") -> Markup:
    return Markup(html.escape(sep).join(parts))


def _str(d: Mapping[str, Any], key: str) -> str | None:
    return _text_of(d.get(key))


def _list(d: Mapping[str, Any], key: str) -> list[Any]:
    v = d.get(key)
    return list(v) if isinstance(v, list | tuple) else []


def _map(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


# --- severities, references -----------------------------------------------------------

_SEV_LABEL = {"error": "Error", "warning": "Warning", "info": "Info", "none": "No diagnosis"}
_SEV_ICON = {"error": "✖", "warning": "▲", "info": "ℹ", "none": "○"}


def badge(severity: str | None) -> Markup:
    sev = severity if severity in _SEV_LABEL else "none"
    return el(
        "span",
        {"class": f"badge sev-{sev}"},
        el("span", {"aria-hidden": "true"}, _SEV_ICON[sev] + " "),
        _SEV_LABEL[sev],
    )


_RFC = re.compile(
    r"RFC\s*(\d{3,5})(?:\s*(?:§|[Ss]ection|[Ss]ect\.?)\s*([0-9]+(?:\.[0-9]+)*|[A-Z](?:\.[0-9]+)*))?"
)


def rfc_url(citation: str) -> str | None:
    """An rfc-editor URL for a citation like ``RFC 9110 §11.6.1``, built from its digits
    only, so it is safe to link even when the citation came from a file."""
    m = _RFC.match(citation.strip())
    if not m:
        return None
    url = f"https://www.rfc-editor.org/rfc/rfc{m.group(1)}"
    if m.group(2):
        kind = "appendix" if m.group(2)[0].isalpha() else "section"
        url += f"#{kind}-{m.group(2)}"
    return url


def _reference(ref: Any, *, trusted: bool) -> Markup | None:
    """One citation: a string, or an object/dict with a label and a URL (catalogue).

    A given URL is linked only when ``trusted`` (the catalogue, which is code); citations
    from flow metadata link only to the rfc-editor URL built from their RFC number.
    """
    url: str | None = None
    if isinstance(ref, str):
        label = str.__str__(ref)
    else:
        label = _field(ref, "label", "title", "text", "name", "citation") or ""
        url = _field(ref, "url", "href") if trusted else None
        quote = _field(ref, "quote", "requirement")
        if quote:
            label = f"{label} — “{quote}”" if label else quote
    if url is None or not _SAFE_URL.match(url):
        url = rfc_url(label) if label else None
    if not label and not url:
        return None
    text = tv(label or url or "", 300)
    if url:
        return el("a", {"href": url, "rel": "noopener noreferrer", "class": "ref"}, text)
    return el("span", {"class": "ref"}, text)


def _references(refs: Any, *, trusted: bool = False) -> Markup | None:
    items = list(refs) if isinstance(refs, list | tuple) else []
    shown = [m for m in (_reference(r, trusted=trusted) for r in _take(items, 20)) if m]
    if not shown:
        return None
    return el(
        "p",
        {"class": "refs"},
        el("span", {"class": "label"}, "References: "),
        _join(shown, "; "),
        _more_note(len(items), min(len(items), 20)),
    )


def _field(obj: Any, *names: str) -> str | None:
    """The first named string field of a dict or an object (duck-typed catalogue)."""
    for name in names:
        v = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        text = _text_of(v)
        if text is not None:
            return text
    return None


# --- the glossary ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GlossaryEntry:
    id: str
    severity: str
    title: str
    explanation: str
    fix: str
    references: tuple[Any, ...]
    known_problems: str
    from_catalogue: bool

    @classmethod
    def of(cls, entry: Any, *, from_catalogue: bool = True) -> GlossaryEntry | None:
        """Read a catalogue entry (attributes or dict keys); ``None`` if it has no ID."""
        did = _field(entry, "id")
        if not did:
            return None
        refs = (
            entry.get("references")
            if isinstance(entry, Mapping)
            else getattr(entry, "references", ())
        )
        known = (
            entry.get("known_problems")
            if isinstance(entry, Mapping)
            else getattr(entry, "known_problems", None)
        )
        if isinstance(known, list | tuple):
            known = "\n".join(str.__str__(k) for k in known if isinstance(k, str))
        sev = (
            entry.get("severity")
            if isinstance(entry, Mapping)
            else getattr(entry, "severity", None)
        )
        return cls(
            id=did,
            severity=normalize_severity(str(sev) if isinstance(sev, str) else None),
            title=_field(entry, "title") or "",
            explanation=_field(entry, "explanation") or "",
            fix=_field(entry, "fix") or "",
            references=tuple(refs) if isinstance(refs, list | tuple) else (),
            known_problems=known if isinstance(known, str) else "",
            from_catalogue=from_catalogue,
        )


class Glossary:
    """The catalogue plus, for IDs the catalogue lacks, the first diagnosis seen with it,
    so that every diagnosis link in a card has a target."""

    def __init__(self, catalogue: Iterable[Any]) -> None:
        self.entries: dict[str, GlossaryEntry] = {}
        for item in catalogue:
            entry = GlossaryEntry.of(item)
            if entry and entry.id not in self.entries:
                self.entries[entry.id] = entry
        self.extra = 0

    def anchor(self, diagnosis: Mapping[str, Any]) -> str | None:
        """The anchor for ``diagnosis``'s ID, admitting it if there is room."""
        did = _str(diagnosis, "id")
        if did is None:
            return None
        if did not in self.entries:
            if self.extra >= MAX_GLOSSARY_EXTRA:
                return None
            entry = GlossaryEntry.of(diagnosis, from_catalogue=False)
            if entry is None:
                return None
            self.entries[did] = entry
            self.extra += 1
        return "dx-" + slug(did)

    def see(self, flow: Any) -> None:
        """Admit the diagnoses of ``flow`` before its card is written (overview links)."""
        if isinstance(flow, Mapping):
            for diagnosis in diagnoses_of(flow):
                self.anchor(diagnosis)


# --- page sections --------------------------------------------------------------------


def _status_text(status: int | None) -> str:
    if status is None:
        return "no status"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _party(label: str, flow: Mapping[str, Any], key: str) -> Markup:
    party = _map(flow.get(key))
    kind, name = party_of(flow, key)
    evidence = _list(party, "evidence")
    body: list[Child] = [el("span", {"class": f"kind kind-{slug(kind)}"}, tv(kind, 60))]
    if name:
        body += [" ", el("span", {"class": "v"}, tv(name, 300))]
    if evidence:
        body.append(
            el(
                "details",
                {"class": "evidence"},
                el("summary", None, f"Evidence ({len(evidence)})"),
                _items(evidence),
            )
        )
    return el("div", None, el("dt", None, label), el("dd", None, body))


def _items(items: list[Any], cls: str = "items") -> Markup:
    shown = list(_take(items, MAX_ITEMS))
    return el(
        "ul",
        {"class": cls},
        (el("li", None, value(x)) for x in shown),
        _more_note(len(items), len(shown), tag="li"),
    )


def _findings(items: list[Any]) -> Markup | None:
    findings = [f for f in items if isinstance(f, Mapping)]
    if not findings:
        return None
    shown = list(_take(findings, MAX_ITEMS))
    rows = []
    for f in shown:
        sev = normalize_severity(f.get("severity"))
        ref = _str(f, "reference")
        rows.append(
            el(
                "li",
                {"class": f"finding sev-{sev}"},
                badge(sev),
                " ",
                prose(_str(f, "message") or "", MAX_VALUE_CHARS),
                " ",
                el("code", {"class": "fid"}, tv(_str(f, "id") or "", 100)),
                [" ", _reference(ref, trusted=False)] if ref else None,
            )
        )
    return el("ul", {"class": "findings"}, rows, _more_note(len(findings), len(shown), tag="li"))


def _challenges(flow: Mapping[str, Any]) -> Markup | None:
    challenges = [c for c in _list(flow, "challenges") if isinstance(c, Mapping)]
    if not challenges:
        return None
    shown = list(_take(challenges, MAX_ITEMS))
    items = []
    for c in shown:
        params = _map(c.get("params"))
        token68 = _str(c, "token68")
        decoded = c.get("decoded")
        items.append(
            el(
                "li",
                {"class": "challenge"},
                el(
                    "p",
                    {"class": "head"},
                    el("span", {"class": "field"}, tv(_str(c, "field") or "WWW-Authenticate", 100)),
                    " ",
                    el("strong", {"class": "scheme"}, tv(_str(c, "scheme") or "(no scheme)", 200)),
                ),
                value(dict(params)) if params else None,
                el(
                    "p",
                    None,
                    el("span", {"class": "label"}, "token68 "),
                    el("code", None, tv(token68)),
                )
                if token68
                else None,
                el("details", {"class": "decoded"}, el("summary", None, "Decoded"), value(decoded))
                if decoded
                else None,
                _findings(_list(c, "findings")),
            )
        )
    return _section(
        "Challenges",
        el("ol", {"class": "challenges"}, items, _more_note(len(challenges), len(shown), tag="li")),
    )


def _credentials(flow: Mapping[str, Any]) -> Markup | None:
    cred = flow.get("credentials")
    if not isinstance(cred, Mapping):
        return None
    return _section(
        "Credentials sent",
        el(
            "p",
            {"class": "head"},
            el("span", {"class": "field"}, tv(_str(cred, "field") or "Authorization", 100)),
            " ",
            el("strong", {"class": "scheme"}, tv(_str(cred, "scheme") or "(no scheme)", 200)),
        ),
        value(cred.get("summary")) if cred.get("summary") else None,
        _findings(_list(cred, "findings")),
    )


def _diagnoses(flow: Mapping[str, Any], glossary: Glossary) -> Markup:
    found = diagnoses_of(flow)
    if not found:
        return _section("Diagnoses", el("p", {"class": "none"}, "No diagnosis for this flow."))
    shown = list(_take(found, MAX_ITEMS))
    items = []
    for d in shown:
        sev = normalize_severity(d.get("severity"))
        did = str.__str__(d["id"])
        anchor = glossary.anchor(d)
        id_text = tv(did, 120)
        confidence = d.get("confidence")
        conf: Markup | None = None
        if (
            isinstance(confidence, int | float)
            and not isinstance(confidence, bool)
            and 0 <= confidence <= 1
        ):
            pct = round(confidence * 100)
            conf = el(
                "span",
                {"class": "confidence"},
                el(
                    "meter",
                    {"min": 0, "max": 100, "value": pct, "aria-label": "confidence"},
                    f"{pct}%",
                ),
                f" {pct}% confident",
            )
        evidence = _list(d, "evidence")
        fix = _str(d, "fix")
        explanation = _str(d, "explanation")
        items.append(
            el(
                "li",
                {"class": f"dx sev-{sev}"},
                el(
                    "h5",
                    None,
                    badge(sev),
                    " ",
                    el("span", {"class": "dx-title"}, prose(_str(d, "title") or did, 500)),
                ),
                el(
                    "p",
                    {"class": "dx-meta"},
                    el("a", {"href": "#" + anchor, "class": "dx-id"}, id_text)
                    if anchor
                    else el("code", {"class": "dx-id"}, id_text),
                    [" · ", conf] if conf else None,
                ),
                el("p", {"class": "prose"}, rich(explanation)) if explanation else None,
                el(
                    "div",
                    {"class": "fix"},
                    el("strong", None, "Fix: "),
                    el("span", {"class": "prose"}, rich(fix)),
                )
                if fix
                else None,
                el("div", {"class": "evidence"}, el("strong", None, "Evidence"), _items(evidence))
                if evidence
                else None,
                _references(d.get("references")),
            )
        )
    return _section(
        "Diagnoses",
        el("ol", {"class": "diagnoses"}, items, _more_note(len(found), len(shown), tag="li")),
    )


def _comparison(flow: Mapping[str, Any]) -> Markup | None:
    cmp = flow.get("comparison")
    if not isinstance(cmp, Mapping):
        return None
    diffs = [d for d in _list(cmp, "differences") if isinstance(d, Mapping)]
    baseline = _str(cmp, "baseline")
    shown = list(_take(diffs, MAX_ITEMS))
    rows = [
        el(
            "tr",
            {"class": "decisive" if d.get("decisive") is True else None},
            el("td", None, tv(_str(d, "kind") or "", 60)),
            el("th", {"scope": "row"}, tv(_str(d, "name") or "", 300)),
            el("td", {"class": "side browser"}, _side(d, "browser")),
            el("td", {"class": "side automated"}, _side(d, "automated")),
            el(
                "td",
                None,
                el("strong", {"class": "decisive-mark"}, "decisive")
                if d.get("decisive") is True
                else "",
            ),
        )
        for d in shown
    ]
    intro = el(
        "p",
        None,
        "Compared with the accepted request ",
        el("code", None, tv(baseline, 200)) if baseline else "(baseline not recorded)",
        ". Decisive differences are highlighted.",
    )
    if not rows:
        return _section(
            "Browser vs script", intro, el("p", {"class": "none"}, "No differences recorded.")
        )
    table = el(
        "div",
        {"class": "table-wrap"},
        el(
            "table",
            {"class": "comparison"},
            el(
                "caption",
                None,
                "What the accepted browser request sent, beside the refused automated one",
            ),
            el(
                "thead",
                None,
                el(
                    "tr",
                    None,
                    el("th", {"scope": "col"}, "Kind"),
                    el("th", {"scope": "col"}, "Name"),
                    el("th", {"scope": "col"}, "Browser (accepted)"),
                    el("th", {"scope": "col"}, "Automated (refused)"),
                    el("th", {"scope": "col"}, el("span", {"class": "sr-only"}, "Decisive")),
                ),
            ),
            el("tbody", None, rows),
        ),
        _more_note(len(diffs), len(shown), tag="p"),
    )
    return _section("Browser vs script", intro, table)


def _side(d: Mapping[str, Any], key: str) -> Markup:
    if key not in d or d.get(key) is None:
        return el("span", {"class": "none"}, "(absent)")
    return value(d.get(key))


_LEG_HEAD = ("step", "direction", "method", "status", "scheme", "message", "type", "label", "note")


def _handshake(flow: Mapping[str, Any]) -> Markup | None:
    hs = flow.get("handshake")
    if isinstance(hs, list | tuple):
        legs, rest = list(hs), {}
    elif isinstance(hs, Mapping):
        legs = _list(hs, "legs")
        rest = {k: v for k, v in hs.items() if k != "legs"}
    else:
        return None
    if not legs and not rest:
        return None
    shown = list(_take(legs, MAX_ITEMS))
    items = []
    for i, leg in enumerate(shown, 1):
        if not isinstance(leg, Mapping):
            items.append(el("li", {"class": "leg"}, value(leg)))
            continue
        # The circle shows the position; a "step" equal to it would only repeat it.
        same_step = leg.get("step") == i
        head = [
            el("span", {"class": f"leg-{k}"}, value(leg[k]))
            for k in _LEG_HEAD
            if k in leg and leg[k] is not None and not (k == "step" and same_step)
        ]
        others = {k: v for k, v in leg.items() if k not in _LEG_HEAD}
        items.append(
            el(
                "li",
                {"class": "leg"},
                el("span", {"class": "leg-n", "aria-hidden": "true"}, str(i)),
                el(
                    "div",
                    None,
                    el("p", {"class": "leg-head"}, _join(head, " · ") if head else f"Leg {i}"),
                    value(others) if others else None,
                ),
            )
        )
    return _section(
        "Handshake",
        value(rest) if rest else None,
        el("ol", {"class": "timeline"}, items, _more_note(len(legs), len(shown), tag="li"))
        if items
        else None,
    )


_KNOWN_KEYS = frozenset(
    {
        "id",
        "method",
        "url",
        "status",
        "version",
        "client",
        "refused_by",
        "challenges",
        "credentials",
        "diagnoses",
        "comparison",
        "handshake",
    }
)


def _section(title: str, *body: Child) -> Markup:
    return el("section", {"class": "part"}, el("h4", None, title), *body)


def card(flow: Any, index: int, glossary: Glossary) -> Markup:
    """One ``<article>`` for one judged flow. Never raises on malformed metadata."""
    if not isinstance(flow, Mapping):
        return el(
            "article",
            {"class": "card", "id": f"flow-{index}", "data-severity": "none"},
            el("h3", None, f"Flow {index}: unreadable entry"),
        )
    method = _str(flow, "method") or "?"
    url = _str(flow, "url") or ""
    status = status_of(flow)
    sev = worst_severity_of(flow) or "none"
    ids = " ".join(
        dict.fromkeys(slug(str.__str__(d["id"])) for d in _take(diagnoses_of(flow), MAX_ITEMS))
    )
    origin = origin_of(flow.get("url"))
    flow_id = _str(flow, "id")
    extra = {k: v for k, v in flow.items() if isinstance(k, str) and k not in _KNOWN_KEYS}
    title_id = f"flow-{index}-h"
    return el(
        "article",
        {
            "class": f"card sev-{sev}",
            "id": f"flow-{index}",
            "aria-labelledby": title_id,
            "data-severity": sev,
            "data-diagnoses": ids,
            "data-origin": origin,
        },
        el(
            "header",
            None,
            el(
                "h3",
                {"id": title_id},
                el("span", {"class": "method"}, tv(method, 40)),
                " ",
                el("span", {"class": "url"}, tv(redact_url(url), MAX_URL_CHARS)),
            ),
            el(
                "p",
                {"class": "card-meta"},
                el(
                    "span",
                    {"class": f"status status-{status if status in (401, 407) else 'other'}"},
                    _status_text(status),
                ),
                " ",
                badge(sev),
                el("small", {"class": "flow-id"}, " flow ", tv(flow_id, 100)) if flow_id else None,
            ),
        ),
        el(
            "dl",
            {"class": "parties"},
            _party("Client", flow, "client"),
            _party("Refused by", flow, "refused_by"),
        ),
        _diagnoses(flow, glossary),
        _comparison(flow),
        _challenges(flow),
        _credentials(flow),
        _handshake(flow),
        el("details", {"class": "more"}, el("summary", None, "More metadata"), value(extra))
        if extra
        else None,
    )


def _chart(summary: Mapping[str, Any]) -> Markup | None:
    """A horizontal bar chart of flows per diagnosis, as inline SVG (no script needed)."""
    diagnoses = list(_map(summary.get("diagnoses")).items())[:MAX_CHART_BARS]
    if not diagnoses:
        return None
    top = max((_count(e, "flows") for _, e in diagnoses), default=1) or 1
    row, label_w, bar_w = 26, 250, 330
    height = row * len(diagnoses) + 8
    bars = []
    for i, (did, entry) in enumerate(diagnoses):
        n = _count(entry, "flows")
        sev = normalize_severity(_map(entry).get("severity"))
        y = 4 + i * row
        w = max(2, round(bar_w * n / top))
        label = did if len(did) <= 34 else did[:33] + "…"
        bars.append(
            el(
                "g",
                {"class": f"bar sev-{sev}"},
                el("title", None, f"{did}: {n} flow{'s' if n != 1 else ''} ({sev})"),
                el(
                    "text",
                    {"x": label_w - 8, "y": y + 17, "text-anchor": "end", "class": "bar-label"},
                    label,
                ),
                el("rect", {"x": label_w, "y": y + 3, "width": w, "height": row - 8, "rx": 3}),
                el("text", {"x": label_w + w + 6, "y": y + 17, "class": "bar-count"}, str(n)),
            )
        )
    return el(
        "figure",
        {"class": "chart"},
        el(
            "svg",
            {
                "viewBox": f"0 0 {label_w + bar_w + 50} {height}",
                "role": "img",
                "aria-labelledby": "chart-title",
                "xmlns": "http://www.w3.org/2000/svg",
                "preserveAspectRatio": "xMinYMin meet",
            },
            el("title", {"id": "chart-title"}, "Flows per diagnosis"),
            bars,
        ),
        el("figcaption", None, "Flows per diagnosis, worst severity first"),
    )


def _count(entry: Any, key: str) -> int:
    v = _map(entry).get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _table(caption: str, heads: Sequence[str], rows: list[Markup], total: int) -> Markup:
    return el(
        "div",
        {"class": "table-wrap"},
        el(
            "table",
            {"class": "counts"},
            el("caption", None, caption),
            el("thead", None, el("tr", None, (el("th", {"scope": "col"}, h) for h in heads))),
            el("tbody", None, rows),
        ),
        el("p", {"class": "cut"}, f"… {total - len(rows):,} more rows not shown")
        if total > len(rows)
        else None,
    )


def overview(summary: Mapping[str, Any], glossary: Glossary) -> Markup:
    totals = _map(summary.get("totals"))
    by_worst = _map(totals.get("by_worst_severity"))
    tiles = [
        ("Flows", _count(totals, "flows"), "total"),
        ("Refused (401/407)", _count(totals, "refused"), "total"),
        *((_SEV_LABEL[s], _count(by_worst, s), f"sev-{s}") for s in SEVERITIES),
    ]
    diagnoses = _map(summary.get("diagnoses"))
    origins = _map(summary.get("origins"))
    dx_rows = [
        el(
            "tr",
            None,
            el("th", {"scope": "row"}, _dx_link(did, glossary)),
            el("td", None, badge(normalize_severity(_map(e).get("severity")))),
            el("td", {"class": "num"}, _count(e, "flows")),
            el("td", {"class": "num"}, _count(e, "top")),
            el("td", None, tv(_str(_map(e), "title") or "", 200)),
        )
        for did, e in _take(diagnoses.items(), MAX_ITEMS)
    ]
    origin_rows = [
        el(
            "tr",
            None,
            el("th", {"scope": "row", "class": "url"}, tv(o, 300)),
            el("td", {"class": "num"}, _count(row, "flows")),
            el("td", {"class": "num"}, _count(row, "refused")),
            el("td", None, badge(_str(_map(row), "worst_severity"))),
            el(
                "td",
                None,
                _join([_dx_link(d, glossary) for d in list(_map(_map(row).get("diagnoses")))[:6]]),
            ),
        )
        for o, row in _take(origins.items(), MAX_ITEMS)
    ]
    party_tables = []
    for key, caption, head in (
        ("clients", "Per client kind", "Client"),
        ("refused_by", "Per refusing party", "Refused by"),
    ):
        table = _map(summary.get(key))
        rows = [
            el(
                "tr",
                None,
                el("th", {"scope": "row"}, tv(kind, 60)),
                el("td", {"class": "num"}, _count(party, "flows")),
                el("td", None, _names(_map(_map(party).get("names")))),
            )
            for kind, party in _take(table.items(), MAX_ITEMS)
        ]
        if rows:
            party_tables.append(_table(caption, (head, "Flows", "Names"), rows, len(table)))
    return el(
        "section",
        {"id": "overview", "aria-labelledby": "overview-h"},
        el("h2", {"id": "overview-h"}, "Overview"),
        el(
            "ul",
            {"class": "tiles"},
            (
                el(
                    "li",
                    {"class": f"tile {cls}"},
                    el("span", {"class": "n"}, n),
                    el("span", {"class": "t"}, label),
                )
                for label, n, cls in tiles
            ),
        ),
        _chart(summary),
        _table(
            "Per diagnosis",
            ("Diagnosis", "Severity", "Flows", "First cause", "Title"),
            dx_rows,
            len(diagnoses),
        )
        if dx_rows
        else None,
        _table(
            "Per origin",
            ("Origin", "Flows", "Refused", "Worst", "Diagnoses"),
            origin_rows,
            len(origins),
        )
        if origin_rows
        else None,
        el("div", {"class": "grid"}, party_tables) if party_tables else None,
    )


def _names(names: Mapping[str, Any], limit: int = 5) -> Markup:
    parts = [
        Markup(f"{tv(n, 120)} ×{c if isinstance(c, int) else 0}")
        for n, c in list(names.items())[:limit]
    ]
    if len(names) > limit:
        parts.append(Markup(f"+{len(names) - limit} more"))
    return _join(parts)


def _dx_link(did: str, glossary: Glossary) -> Markup:
    if did in glossary.entries:
        return el("a", {"href": "#dx-" + slug(did)}, tv(did, 120))
    return el("code", None, tv(did, 120))


def _filters(summary: Mapping[str, Any]) -> Markup:
    """Filtering controls; hidden until the script runs, since they need it."""
    diagnoses = list(_map(summary.get("diagnoses")))[:MAX_FILTER_OPTIONS]
    origins = list(_map(summary.get("origins")))[:MAX_FILTER_OPTIONS]

    def select(name: str, label: str, options: Iterable[tuple[str, str]]) -> Markup:
        return el(
            "label",
            None,
            el("span", None, label),
            el(
                "select",
                {"name": name, "id": f"filter-{name}"},
                el("option", {"value": ""}, "any"),
                (el("option", {"value": v}, tv(t, 100)) for v, t in options),
            ),
        )

    return el(
        "form",
        {
            "class": "filters",
            "id": "filters",
            "role": "search",
            "hidden": True,
            "aria-label": "Filter flows",
        },
        select("severity", "Worst severity", [(s, _SEV_LABEL[s]) for s in (*SEVERITIES, "none")]),
        select("diagnosis", "Diagnosis", [(slug(d), d) for d in diagnoses]),
        select("origin", "Origin", [(o, o) for o in origins]),
        el(
            "label",
            None,
            el("span", None, "Search"),
            el(
                "input",
                {"type": "search", "name": "q", "id": "filter-q", "placeholder": "text in a card"},
            ),
        ),
        el("output", {"id": "filter-count", "aria-live": "polite"}),
    )


def glossary_section(glossary: Glossary) -> Markup:
    entries = sorted(glossary.entries.values(), key=lambda e: (not e.from_catalogue, e.id))
    if not entries:
        return Markup("")
    items = []
    for e in entries:
        items.append(
            el(
                "article",
                {
                    "class": f"entry sev-{e.severity}",
                    "id": "dx-" + slug(e.id),
                    "aria-labelledby": "dx-" + slug(e.id) + "-h",
                },
                el(
                    "h3",
                    {"id": "dx-" + slug(e.id) + "-h"},
                    el("code", None, tv(e.id, 120)),
                    " ",
                    badge(e.severity),
                ),
                el("p", {"class": "entry-title"}, prose(e.title, 500)) if e.title else None,
                el("p", {"class": "prose"}, rich(e.explanation, template=e.from_catalogue))
                if e.explanation
                else None,
                el(
                    "div",
                    {"class": "fix"},
                    el("strong", None, "Fix: "),
                    el("span", {"class": "prose"}, rich(e.fix, template=e.from_catalogue)),
                )
                if e.fix
                else None,
                el(
                    "div",
                    {"class": "known"},
                    el("strong", None, "Known problems: "),
                    el("span", {"class": "prose"}, rich(e.known_problems)),
                )
                if e.known_problems
                else None,
                _references(list(e.references), trusted=e.from_catalogue),
                None
                if e.from_catalogue
                else el(
                    "p",
                    {"class": "none"},
                    "Not in the catalogue given to the report; text taken from the first flow with this diagnosis.",
                ),
            )
        )
    return el(
        "section",
        {"id": "catalogue", "aria-labelledby": "catalogue-h"},
        el("h2", {"id": "catalogue-h"}, "Diagnosis catalogue"),
        el(
            "p",
            None,
            "Every diagnosis authlens can make, with why it happens and what to change. Diagnosis names in the cards link here.",
        ),
        el("div", {"class": "glossary"}, items),
    )


# --- the document ---------------------------------------------------------------------


def _prologue(
    title: str,
    generated_at: str | None,
    source_files: Sequence[str],
    glossary: Glossary,
    redacted: bool = True,
) -> str:
    css, js = _asset("report.css"), _asset("report.js")
    csp = (
        "default-src 'none'; "
        f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    sources = [s for s in source_files if isinstance(s, str)]
    meta_bits: list[Child] = [f"authlens {__version__}"]
    if generated_at:
        meta_bits += [" · generated ", tv(generated_at, 100)]
    if sources:
        meta_bits += [
            " · from ",
            _join([el("code", None, tv(s, 300)) for s in sources[:MAX_ITEMS]]),
        ]
        if len(sources) > MAX_ITEMS:
            meta_bits.append(f" and {len(sources) - MAX_ITEMS:,} more")
    if not redacted:
        meta_bits += [" · ", el("strong", None, "not redacted: secrets are shown in the clear")]
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f'<meta name="generator" content="authlens {html.escape(__version__)}">\n'
        # <title> is plain text to the browser: escapes are spelled, never marked up.
        f"{el('title', None, Markup(_escape(title[:300], prose=False)))}\n"
        f"<style>{css}</style>\n</head>\n<body>\n"
        '<a class="skip" href="#flows">Skip to the flows</a>\n'
    )
    header = el(
        "header",
        {"class": "page"},
        el("h1", None, tv(title, 300)),
        el("p", {"class": "meta"}, meta_bits),
        el(
            "nav",
            {"aria-label": "Sections"},
            el("a", {"href": "#overview"}, "Overview"),
            " · ",
            el("a", {"href": "#flows"}, "Flows"),
            [" · ", el("a", {"href": "#catalogue"}, "Diagnosis catalogue")]
            if glossary.entries
            else None,
        ),
    )
    return head + header + "\n<main>\n"


def _flows_open(summary: Mapping[str, Any]) -> str:
    n = _count(_map(summary.get("totals")), "flows")
    intro = (
        "No refused requests were judged in this capture."
        if n == 0
        else f"{n:,} judged flow{'s' if n != 1 else ''}, in capture order. Each card shows the likeliest cause first."
    )
    return (
        '\n<section id="flows" aria-labelledby="flows-h">\n'
        + el("h2", {"id": "flows-h"}, "Flows")
        + el("p", None, intro)
        + _filters(summary)
        + "\n"
    )


def _epilogue(redacted: bool = True) -> str:
    note = (
        "Secrets appear only as keyed fingerprints (<redacted:sha256:…>): equal values show equal fingerprints within one run."
        if redacted
        else "This report was made with redaction turned off: it may show passwords, tokens and cookies in the clear."
    )
    footer = el(
        "footer", {"class": "page"}, el("p", None, f"Made by authlens {__version__}. {note}")
    )
    return f"\n</main>\n{footer}\n<script>{_asset('report.js')}</script>\n</body>\n</html>\n"


def _safe_card(flow: Any, index: int, glossary: Glossary) -> str:
    try:
        return card(flow, index, glossary) + "\n"
    except Exception as exc:  # one broken flow must not cost the whole report
        return (
            el(
                "article",
                {"class": "card sev-none", "id": f"flow-{index}", "data-severity": "none"},
                el("h3", None, f"Flow {index}: could not be rendered"),
                el(
                    "p",
                    None,
                    f"authlens hit an internal error ({type(exc).__name__}) showing this flow; please report it.",
                ),
            )
            + "\n"
        )


def write_report(
    out: TextIO,
    flows: Iterable[Mapping[str, Any]],
    *,
    title: str,
    catalogue: Sequence[Any] = (),
    generated_at: str | None = None,
    source_files: Sequence[str] = (),
    redacted: bool = True,
) -> None:
    """Write the HTML report for ``flows`` (``analyze --json`` flow dicts) to ``out``.

    ``catalogue`` entries are duck-typed (attributes or dict keys ``id``, ``severity``,
    ``title``, ``explanation``, ``fix``, ``references``; optionally ``known_problems``);
    they make the glossary the cards link to. Streams: only one card is held at a time.
    Every value is escaped; never raises on malformed flow data. ``redacted`` says
    whether the flows hold fingerprints (the default) or raw secrets; the page says so.
    """
    glossary = Glossary(catalogue)
    if isinstance(flows, Sequence):
        builder = SummaryBuilder()
        for flow in flows:
            builder.add(flow)
            glossary.see(flow)
        summary = builder.result()
        out.write(_prologue(title, generated_at, source_files, glossary, redacted))
        out.write(overview(summary, glossary) + _flows_open(summary))
        for i, flow in enumerate(flows, 1):
            out.write(_safe_card(flow, i, glossary))
    else:
        with tempfile.SpooledTemporaryFile(
            max_size=SPOOL_MEMORY, mode="w+", encoding="utf-8", newline=""
        ) as spool:
            builder = SummaryBuilder()
            for i, flow in enumerate(flows, 1):
                builder.add(flow)
                spool.write(_safe_card(flow, i, glossary))
            summary = builder.result()
            out.write(_prologue(title, generated_at, source_files, glossary, redacted))
            out.write(overview(summary, glossary) + _flows_open(summary))
            spool.seek(0)
            shutil.copyfileobj(spool, out)
    out.write("</section>\n" + glossary_section(glossary) + _epilogue(redacted))


def render_report(
    flows: Iterable[Mapping[str, Any]],
    *,
    title: str,
    catalogue: Sequence[Any] = (),
    generated_at: str | None = None,
    source_files: Sequence[str] = (),
    redacted: bool = True,
) -> str:
    """:func:`write_report` into a string (small reports, tests)."""
    buffer = io.StringIO()
    write_report(
        buffer,
        flows,
        title=title,
        catalogue=catalogue,
        generated_at=generated_at,
        source_files=source_files,
        redacted=redacted,
    )
    return buffer.getvalue()
