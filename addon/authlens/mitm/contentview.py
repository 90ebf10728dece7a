"""The "Auth" contentview: what a 401/407 or a credential says, next to the flow's diagnoses.

It renders from the message's header fields and ``flow.metadata["authlens"]``, never from
the body (like mitmproxy's own query view), so it works on empty 401 bodies, which is where
it bids highest. On a message with a body it bids below the raw view, so an HTML or JSON
error page keeps its own view; users can always pick "Auth" by name.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import http
from mitmproxy.contentviews import Contentview, Metadata, SyntaxHighlight

from authlens.challenge import PROXY_AUTHENTICATE, WWW_AUTHENTICATE, parse_challenges
from authlens.credentials import AUTHORIZATION, PROXY_AUTHORIZATION, decode_credentials
from authlens.report import terminal

METADATA_KEY = "authlens"

PRIORITY_EMPTY_BODY = 0.3  # as mitmproxy's query view: above raw (0.1), below real formats
PRIORITY_WITH_BODY = 0.05  # below raw: a body view is more useful; "Auth" stays selectable
_AUTH_STATUS = frozenset({401, 407})
_SEVERITY_MARK = {"error": "✖", "warning": "▲", "info": "·"}
_MAX_EVIDENCE = 20
_MAX_DEPTH = 6


class AuthContentview(Contentview):
    """Decoded challenges or credentials, the diagnoses and the handshake of the flow.

    ``redact`` follows the ``authlens_redact`` option (the addon sets it): secrets show as
    keyed fingerprints unless the user turned redaction off.
    """

    def __init__(self) -> None:
        self.redact = True

    @property
    def name(self) -> str:
        return "Auth"

    @property
    def syntax_highlight(self) -> SyntaxHighlight:
        return "none"

    def prettify(self, data: bytes, metadata: Metadata) -> str:
        message = metadata.http_message
        if not isinstance(message, http.Request | http.Response):
            raise ValueError("Not an HTTP message.")
        return render(message, metadata.flow, redact=self.redact)

    def render_priority(self, data: bytes, metadata: Metadata) -> float:
        message = metadata.http_message
        if isinstance(message, http.Response):
            relevant = message.status_code in _AUTH_STATUS
        elif isinstance(message, http.Request):
            relevant = AUTHORIZATION in message.headers or PROXY_AUTHORIZATION in message.headers
        else:
            relevant = False
        if not relevant:
            return -1
        return PRIORITY_WITH_BODY if data else PRIORITY_EMPTY_BODY


auth_view = AuthContentview()


def render(message: http.Request | http.Response, flow: Any, *, redact: bool = True) -> str:
    """The text of the view: fields first, then the diagnoses, then the handshake.

    Pure apart from reading ``message`` and ``flow.metadata``; control characters are
    escaped by the terminal renderer and again by mitmproxy.
    """
    style = terminal.Style(False)
    sections: list[str] = []
    if isinstance(message, http.Response):
        challenges = []
        for field in (WWW_AUTHENTICATE, PROXY_AUTHENTICATE):
            lines = message.headers.get_all(field)
            if lines:
                challenges.extend(parse_challenges(lines, field))
        head = f"HTTP {message.status_code} {terminal.printable(message.reason)}".rstrip()
        if challenges:
            sections.append(head + "\n\n" + _decode_block(challenges, [], style, redact))
        elif message.status_code in _AUTH_STATUS:
            sections.append(
                f"{head}\n\nNo {'Proxy' if message.status_code == 407 else 'WWW'}-Authenticate "
                "challenge in this response."
            )
    else:
        credentials = [
            decode_credentials(value, field)
            for field in (AUTHORIZATION, PROXY_AUTHORIZATION)
            for value in message.headers.get_all(field)
        ]
        if credentials:
            sections.append(_decode_block([], credentials, style, redact))

    annotation = _annotation(flow)
    if annotation:
        sections.extend(_annotation_sections(annotation))
    if not sections:
        sections.append("No authentication fields in this message, and no authlens diagnosis.")
    return "\n\n".join(s.rstrip("\n") for s in sections) + "\n"


def _decode_block(challenges: list[Any], credentials: list[Any], style: Any, redact: bool) -> str:
    text: str = terminal.render_decode(challenges, credentials, [], style, redact=redact)
    return text


def _annotation(flow: Any) -> dict[str, Any] | None:
    metadata = getattr(flow, "metadata", None)
    value = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    return value if isinstance(value, dict) else None


def _annotation_sections(annotation: dict[str, Any]) -> list[str]:
    sections: list[str] = []
    diagnoses = [d for d in annotation.get("diagnoses") or () if isinstance(d, dict)]
    if diagnoses:
        lines = ["Diagnoses (most likely first)"]
        for d in diagnoses:
            lines.append("")
            lines.extend(_diagnosis(d))
        sections.append("\n".join(lines))
    facts = []
    for key, label in (("refused_by", "Refused by"), ("client", "Client")):
        value = annotation.get(key)
        if isinstance(value, dict) and value:
            kind = _text(value.get("kind"))
            name = _text(value.get("name"))
            facts.append(f"{label}: {kind}{f' ({name})' if name else ''}")
            facts.extend(f"    - {_text(e)}" for e in _list(value.get("evidence")))
    if facts:
        sections.append("\n".join(facts))
    handshake = annotation.get("handshake")
    if handshake:
        sections.append("Handshake\n" + "\n".join(_generic(handshake, "  ", 0)))
    comparison = annotation.get("comparison")
    if isinstance(comparison, dict) and comparison:
        sections.append("Comparison\n" + "\n".join(_generic(comparison, "  ", 0)))
    return sections


def _diagnosis(d: dict[str, Any]) -> list[str]:
    severity = _text(d.get("severity")) or "info"
    confidence = d.get("confidence")
    conf = f", confidence {confidence:.2f}" if isinstance(confidence, int | float) else ""
    out = [
        f"{_SEVERITY_MARK.get(severity, '·')} {_text(d.get('id'))}  [{severity}{conf}]",
        f"  {_text(d.get('title'))}",
    ]
    if d.get("explanation"):
        out.append(f"  Why: {_text(d.get('explanation'))}")
    if d.get("fix"):
        out.append(f"  Fix: {_text(d.get('fix'))}")
    evidence = _list(d.get("evidence"))
    if evidence:
        out.append("  Evidence:")
        out.extend(f"    - {_text(e)}" for e in evidence[:_MAX_EVIDENCE])
        if len(evidence) > _MAX_EVIDENCE:
            out.append(f"    … {len(evidence) - _MAX_EVIDENCE} more")
    references = _list(d.get("references"))
    if references:
        out.append("  References: " + "; ".join(_text(r) for r in references))
    return out


def _generic(value: Any, indent: str, depth: int) -> list[str]:
    # The handshake and comparison shapes belong to the engine; show whatever JSON is there.
    if depth > _MAX_DEPTH:
        return [f"{indent}…"]
    if isinstance(value, dict):
        out: list[str] = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{indent}{_text(key)}:")
                out.extend(_generic(item, indent + "  ", depth + 1))
            else:
                out.append(f"{indent}{_text(key)}: {_scalar(item)}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict | list) and item:
                sub = _generic(item, indent + "  ", depth + 1)
                if sub:
                    sub[0] = f"{indent}- {sub[0].lstrip()}"
                out.extend(sub)
            else:
                out.append(f"{indent}- {_scalar(item)}")
        return out
    return [f"{indent}{_scalar(value)}"]


def _scalar(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return "(none)"
    return _text(value)


def _text(value: Any) -> str:
    return "" if value is None else terminal.printable(str(value), 1000)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []
