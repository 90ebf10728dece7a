"""The HTML report as a user opens it: the content is there, every traffic value is inert
text, nothing secret leaks, and one self-contained file comes out."""

from __future__ import annotations

import base64
import io
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authlens import decode_credentials, parse_challenges
from authlens.report import html as report_html
from authlens.report.html import el, render_report, write_report
from authlens.secret import Secret

CANARY_PASSWORD = "c4n4ry-Pa55w0rd"
CANARY_TOKEN = "c4n4ryT0ken"
CANARY_COOKIE = "c4n4ry-S3ssion"
CANARIES = (CANARY_PASSWORD, CANARY_TOKEN, CANARY_COOKIE)
XSS = '"><script>alert(1)</script>'
ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "script",
    "a",
    "header",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "p",
    "nav",
    "main",
    "section",
    "ul",
    "ol",
    "li",
    "figure",
    "figcaption",
    "svg",
    "g",
    "rect",
    "text",
    "div",
    "table",
    "caption",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
    "code",
    "strong",
    "small",
    "dl",
    "dt",
    "dd",
    "details",
    "summary",
    "article",
    "meter",
    "form",
    "label",
    "select",
    "option",
    "input",
    "output",
    "footer",
    "em",
    "var",
}


# --- helpers --------------------------------------------------------------------------


class Page(HTMLParser):
    """Everything a browser would see as elements, attributes and text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.raw: dict[str, list[str]] = {"script": [], "style": []}
        self._in: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in self.raw:
            self._in = tag
            self.raw[tag].append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.raw[self._in][-1] += data
        else:
            self.text.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)

    def count(self, tag: str) -> int:
        return sum(1 for t, _ in self.tags if t == tag)

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if a.get("id")}  # type: ignore[misc]

    def hrefs(self) -> list[str]:
        return [a["href"] or "" for t, a in self.tags if "href" in a]


def assert_inert(text: str) -> Page:
    """The structural guarantees every report must keep, whatever the input."""
    page = Page(text)
    assert page.count("script") == 1 and page.count("style") == 1
    assert page.raw["script"][0] == report_html._asset("report.js")
    assert page.raw["style"][0] == report_html._asset("report.css")
    for tag, attrs in page.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs.items():
            assert not name.startswith("on") and name != "style", (tag, name)
            assert (
                not (value or "").strip().lower().startswith(("javascript:", "data:", "vbscript:"))
            )
    ids = page.ids()
    for href in page.hrefs():
        if href.startswith("#"):
            assert href[1:] in ids, f"dangling link {href}"
        else:
            assert re.fullmatch(
                r"https://www\.rfc-editor\.org/rfc/rfc\d+(#[a-z]+-[A-Z0-9.]+)?", href
            ), href
    assert " at 0x" not in text
    text.encode("utf-8")  # lone surrogates from traffic must not break writing the file
    return page


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True, slots=True)
class Ref:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Entry:
    """Shaped like the catalogue's dataclass entries (duck-typed by the report)."""

    id: str
    severity: str
    title: str
    explanation: str
    fix: str
    references: tuple[Any, ...]


CATALOGUE: list[Any] = [
    Entry(
        "scheme-mismatch",
        "error",
        "Credentials in a scheme the challenge does not offer",
        "The server lists the schemes it accepts; others are ignored.",
        "Answer with one of the offered schemes.",
        ("RFC 9110 §11.6.1",),
    ),
    Entry(
        "proxy-auth-required",
        "warning",
        "A proxy answered 407",
        "A proxy wants credentials.",
        "Configure proxy credentials.",
        (Ref("RFC 9110 §15.5.8", "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.8"),),
    ),
    {
        "id": "token-expired",
        "severity": "error",
        "title": "Token expired",
        "explanation": "The JWT exp claim lies before the response's Date.",
        "fix": "Get a fresh token.",
        "references": [{"label": "evil", "url": "javascript:alert(1)"}, "RFC 7519 §4.1.4"],
    },
]


def sample_flows() -> list[dict[str, Any]]:
    digest = [
        c.to_json()
        for c in parse_challenges(
            'Digest realm="intranet@corp.example", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth", stale=true'
        )
    ]
    bearer = decode_credentials(f"Bearer {CANARY_TOKEN}")
    return [
        {
            "id": "f-1",
            "method": "GET",
            "status": 401,
            "version": 1,
            "url": f"https://intranet.corp.example/reports?access_token={CANARY_TOKEN}&page=2",
            "client": {
                "kind": "automated",
                "name": "python-requests/2.32",
                "evidence": ["User-Agent: python-requests/2.32.3"],
            },
            "refused_by": {
                "kind": "origin",
                "name": "Microsoft-IIS/10.0",
                "evidence": ["Server: Microsoft-IIS/10.0"],
            },
            "challenges": digest,
            "credentials": decode_credentials(basic("alice", CANARY_PASSWORD)).to_json(),
            "diagnoses": [
                {
                    "id": "scheme-mismatch",
                    "severity": "error",
                    "title": "Credentials sent in a scheme the server does not offer",
                    "explanation": "The client sent Basic, the server offers Digest only.",
                    "fix": "Use HTTPDigestAuth(user, password).",
                    "evidence": ['WWW-Authenticate: Digest realm="intranet@corp.example"'],
                    "confidence": 0.92,
                    "references": ["RFC 9110 §11.6.1"],
                },
                {
                    "id": "digest-stale-nonce",
                    "severity": "info",
                    "title": "The nonce was stale",
                    "explanation": "stale=true",
                    "fix": "Retry with the new nonce.",
                    "evidence": [],
                    "confidence": 0.4,
                    "references": [],
                },
            ],
            "comparison": {
                "baseline": "b-7",
                "differences": [
                    {
                        "kind": "header",
                        "name": "User-Agent",
                        "browser": "Mozilla/5.0 Chrome/131.0",
                        "automated": "python-requests/2.32.3",
                        "decisive": True,
                    },
                    {
                        "kind": "cookie",
                        "name": "ASP.NET_SessionId",
                        "browser": Secret(CANARY_COOKIE),
                        "automated": None,
                        "decisive": True,
                    },
                ],
            },
            "handshake": {
                "scheme": "Digest",
                "legs": [
                    {"step": 1, "method": "GET", "status": 401, "note": "no credentials"},
                    {
                        "step": 2,
                        "method": "GET",
                        "status": 401,
                        "scheme": "Basic",
                        "note": "wrong scheme",
                    },
                ],
            },
        },
        {
            "id": "f-2",
            "method": "CONNECT",
            "url": "https://api.example.org:443",
            "status": 407,
            "version": 1,
            "client": {"kind": "automated", "name": "curl/8.5.0", "evidence": []},
            "refused_by": {"kind": "upstream-proxy", "name": "Squid/5.7", "evidence": []},
            "challenges": [
                c.to_json()
                for c in parse_challenges('Basic realm="Corporate proxy"', "Proxy-Authenticate")
            ],
            "credentials": None,
            "diagnoses": [
                {
                    "id": "proxy-auth-required",
                    "severity": "warning",
                    "title": "A proxy asked",
                    "explanation": "407 from the proxy.",
                    "fix": "Set --proxy-user.",
                    "evidence": ["407 from Squid/5.7"],
                    "confidence": 0.99,
                    "references": ["RFC 9110 §15.5.8"],
                }
            ],
            "comparison": None,
        },
        {
            "id": "f-3",
            "method": "GET",
            "url": "https://app.example.com/api/me",
            "status": 401,
            "version": 1,
            "client": {"kind": "browser", "name": "Chrome 131", "evidence": []},
            "refused_by": {"kind": "origin", "name": "nginx", "evidence": []},
            "challenges": [c.to_json() for c in parse_challenges('Bearer error="invalid_token"')],
            "credentials": bearer.to_json(),
            "diagnoses": [
                {
                    "id": "token-expired",
                    "severity": "error",
                    "title": "The token had expired",
                    "explanation": "exp lies before Date.",
                    "fix": "Refresh the token.",
                    "evidence": [bearer.summary.get("token", "")],
                    "confidence": 0.97,
                    "references": ["RFC 7519 §4.1.4"],
                }
            ],
            "comparison": None,
        },
    ]


def render(flows: Any, **kw: Any) -> str:
    kw.setdefault("title", "authlens report")
    kw.setdefault("catalogue", CATALOGUE)
    return render_report(flows, **kw)


def cards(page: Page) -> list[dict[str, str | None]]:
    return [a for t, a in page.tags if t == "article" and "card" in (a.get("class") or "")]


# --- content --------------------------------------------------------------------------


def test_report_shows_what_a_reader_needs() -> None:
    text = render(
        sample_flows(), generated_at="2025-01-02T10:00:00Z", source_files=["capture.flows"]
    )
    page = assert_inert(text)
    body = page.all_text
    assert text.startswith("<!DOCTYPE html>")
    assert page.tags[0] == ("html", {"lang": "en"})
    # Header and overview.
    for words in (
        "authlens report",
        "2025-01-02T10:00:00Z",
        "capture.flows",
        "Overview",
        "Per diagnosis",
        "Per origin",
        "Per client kind",
        "Per refusing party",
        "https://intranet.corp.example",
        "https://api.example.org",
    ):
        assert words in body, words
    assert page.count("svg") == 1 and page.count("rect") == 4  # one bar per diagnosis
    # The cards: method, URL, status, client, refused_by.
    assert len(cards(page)) == 3
    for words in (
        "CONNECT",
        "401 Unauthorized",
        "407 Proxy Authentication Required",
        "python-requests/2.32",
        "Microsoft-IIS/10.0",
        "upstream-proxy",
        "Squid/5.7",
    ):
        assert words in body, words
    # Decoded challenges and credentials.
    assert "intranet@corp.example" in body and "dcd98b7102dd2f0e8b11d0f600bfb0c093" in body
    assert "Proxy-Authenticate" in body and "Corporate proxy" in body
    assert "alice" in body and "<redacted:sha256:" in body
    # Diagnoses with explanation, fix, evidence, references, confidence.
    for words in (
        "Credentials sent in a scheme the server does not offer",
        "Use HTTPDigestAuth(user, password).",
        'WWW-Authenticate: Digest realm="intranet@corp.example"',
        "92% confident",
        "RFC 9110 §11.6.1",
    ):
        assert words in body, words
    assert "https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1" in page.hrefs()
    # Browser vs script side by side.
    assert "Browser (accepted)" in body and "Automated (refused)" in body
    assert "Mozilla/5.0 Chrome/131.0" in body and "(absent)" in body and "decisive" in body
    # Handshake timeline.
    assert "Handshake" in body and "wrong scheme" in body and page.count("ol") >= 1
    # Glossary with anchors the cards link to; unsafe catalogue URLs are not links.
    assert "Diagnosis catalogue" in body
    for did in ("scheme-mismatch", "proxy-auth-required", "token-expired", "digest-stale-nonce"):
        assert f"dx-{did}" in page.ids()
        assert f"#dx-{did}" in page.hrefs()
    assert "evil" in body and not any("alert" in h for h in page.hrefs())
    assert "Not in the catalogue given to the report" in body  # digest-stale-nonce fallback


def test_cards_carry_filter_data_and_filters_need_the_script() -> None:
    page = assert_inert(render(sample_flows()))
    first = cards(page)[0]
    assert first["data-severity"] == "error"
    assert first["data-diagnoses"] == "scheme-mismatch digest-stale-nonce"
    assert first["data-origin"] == "https://intranet.corp.example"
    form = next(a for t, a in page.tags if t == "form")
    assert "hidden" in form  # shown by the script only; the page reads fine without it
    options = [a.get("value") for t, a in page.tags if t == "option"]
    assert "token-expired" in options and "https://api.example.org" in options


def test_self_contained_and_locked_down() -> None:
    text = render(sample_flows())
    page = assert_inert(text)
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv"))
    assert csp is not None
    assert (
        "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe-inline" not in csp
    )
    assert not re.search(r"<(link|img|iframe|object|embed)\b", text)
    assert "@media print" in page.raw["style"][0]
    assert "prefers-color-scheme: dark" in page.raw["style"][0]


def test_streamed_once_through_equals_list_rendering() -> None:
    flows = sample_flows()

    def one_shot() -> Iterator[dict[str, Any]]:
        yield from flows

    assert render(one_shot()) == render(flows)


def test_write_report_writes_pieces_not_one_string() -> None:
    class Recorder(io.StringIO):
        writes = 0

        def write(self, s: str) -> int:
            self.writes += 1
            return super().write(s)

    out = Recorder()
    write_report(out, sample_flows() * 5, title="t", catalogue=CATALOGUE)
    assert out.writes >= 15  # at least one write per card
    assert_inert(out.getvalue())


def test_empty_report() -> None:
    page = assert_inert(render([], catalogue=()))
    assert "No refused requests were judged" in page.all_text
    assert cards(page) == []


# --- hostile input --------------------------------------------------------------------


def hostile_flow() -> dict[str, Any]:
    huge = "A" * 1_000_000
    return {
        "id": XSS,
        "method": "<b>GET</b>",
        "status": 401,
        "version": 1,
        "url": "javascript:alert(document.cookie)//</style><script>alert(2)</script>",
        "client": {"kind": XSS, "name": "curl\x1b[31m\x00/8 \u202etxt.exe", "evidence": [huge]},
        "refused_by": {
            "kind": "origin",
            "name": "</style><style>*{display:none}</style>",
            "evidence": [XSS],
        },
        "challenges": [
            {
                "field": "WWW-Authenticate",
                "scheme": "Basic",
                "params": {"realm": XSS, "onload": "alert(1)", XSS: "x"},
                "token68": None,
                "decoded": {"realm": XSS, "nested": [[[[[[[["deep"]]]]]]]]},
                "findings": [
                    {"id": XSS, "severity": XSS, "message": "m\udcff𝔘", "reference": "javascript:x"}
                ],
            }
        ],
        "credentials": {
            "field": "Authorization",
            "scheme": XSS,
            "summary": {"user": huge, "x": object()},
        },
        "diagnoses": [
            {
                "id": XSS,
                "severity": "error",
                "title": XSS,
                "explanation": "line1\nline2\x00",
                "fix": "<a href='javascript:alert(1)'>fix</a>",
                "evidence": [{"where": XSS}],
                "confidence": 7,
                "references": [
                    "javascript:alert(1)",
                    {"url": "javascript:alert(1)"},
                    {"label": "phish", "url": "https://evil.example/"},
                ],
            }
        ],
        "comparison": {
            "baseline": XSS,
            "differences": [
                {"kind": XSS, "name": XSS, "browser": XSS, "automated": huge, "decisive": "yes"}
            ],
        },
        "handshake": [{"step": XSS}, "leg", None],
        XSS: {"more": XSS},
    }


def test_hostile_values_stay_inert_text() -> None:
    text = render([hostile_flow(), "not a flow"], title=XSS, source_files=[XSS])
    page = assert_inert(text)
    body = page.all_text
    # The payloads are visible as the text they are, not as markup.
    assert XSS in body
    assert "javascript:alert(document.cookie)//</style><script>alert(2)</script>" in body
    assert "<a href='javascript:alert(1)'>fix</a>" in body
    # Control and invisible characters are spelled out.
    assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text
    assert "curl\\x1b[31m\\x00/8 \\u202etxt.exe" in body
    assert "\\udcff" in body and "𝔘" in body  # printable non-BMP kept, lone surrogate spelled
    # Huge values are cut with a note; the report stays small.
    assert len(text) < 150_000
    assert "1,000,000 characters" in body
    # Non-JSON values are named by type, never repr'd.
    assert "(unsupported value of type object)" in body
    assert "(nested too deeply to show)" in body
    # The unreadable entry still gets a card.
    assert "Flow 2: unreadable entry" in body


def test_a_non_bmp_and_escape_heavy_title_is_safe() -> None:
    text = render([], title="rapport \U0001f510 \x1b]0;x\x07", catalogue=())
    page = assert_inert(text)
    assert "<title>rapport \U0001f510 \\x1b]0;x\\x07</title>" in text  # the tab shows no markup
    assert page.all_text.count("rapport \U0001f510 \\x1b]0;x\\x07") == 2  # title and heading


def test_the_builder_refuses_unsafe_markup() -> None:
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil.example/", "http://x.example/"):
        with pytest.raises(ValueError):
            el("a", {"href": bad}, "x")
    for attr in ("onclick", "style", "src", "bad name", 'x"y'):
        with pytest.raises(ValueError):
            el("span", {attr: "1"})
    with pytest.raises(ValueError):
        el("script", None, "alert(1)")
    assert el("a", {"href": "#dx-x"}, "<b>") == '<a href="#dx-x">&lt;b&gt;</a>'
    assert el("span", {"title": '"><x>'}) == '<span title="&quot;&gt;&lt;x&gt;"></span>'


def test_the_real_catalogue_renders_as_the_glossary() -> None:
    catalogue = pytest.importorskip("authlens.diagnose.catalogue")
    page = assert_inert(render(sample_flows(), catalogue=catalogue.CATALOGUE))
    for entry in catalogue.CATALOGUE:
        assert f"dx-{entry.id}" in page.ids()
        assert entry.title in page.all_text
    # Unfilled template slots show as named placeholders, `code` as code.
    assert page.count("var") > 0 and page.count("code") > 0


def test_catalogue_text_markup() -> None:
    entry = {
        "id": "x",
        "severity": "warning",
        "title": "T",
        "explanation": "{asker} refused {space}; literal {{braces}}",
        "fix": "run `curl -u {user}` then <b>",
        "references": [],
    }
    text = render([], catalogue=[entry])
    assert "<var>asker</var> refused <var>space</var>; literal {braces}" in text
    assert "run <code>curl -u <var>user</var></code> then &lt;b&gt;" in text
    # Filled text from a flow is never read as a template.
    flow = sample_flows()[1]
    flow["diagnoses"][0]["explanation"] = "realm {x} and `y`"
    assert "realm {x} and <code>y</code>" in render([flow], catalogue=())


# --- secrets --------------------------------------------------------------------------


def test_no_secret_in_the_html() -> None:
    text = render(sample_flows())
    for canary in CANARIES:
        for form in (canary, base64.b64encode(canary.encode()).decode(), quote(canary)):
            assert form not in text, form
    assert base64.b64encode(f"alice:{CANARY_PASSWORD}".encode()).decode() not in text


# --- properties -----------------------------------------------------------------------

nasty = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            XSS,
            "</style>",
            "</script>",
            "<!--",
            "javascript:alert(1)",
            "\x1b[2J",
            "\x00",
            "\udcff",
            "\ud800",
            "\U000e0001",
            "𝔘",
            "&amp;",
            "A" * 3000,
            "scheme-mismatch",
        ]
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty, inner, max_size=3),
    max_leaves=12,
)
diagnosis = st.fixed_dictionaries(
    {"id": nasty, "severity": st.sampled_from(["error", "warning", "info"]) | nasty},
    optional={
        k: json_values
        for k in ("title", "explanation", "fix", "evidence", "confidence", "references")
    },
)
flows = st.fixed_dictionaries(
    {"id": nasty, "method": nasty, "url": nasty, "status": st.integers(0, 999) | nasty},
    optional={
        "client": st.fixed_dictionaries(
            {"kind": nasty, "name": nasty}, optional={"evidence": json_values}
        ),
        "refused_by": json_values,
        "challenges": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    k: json_values
                    for k in ("field", "scheme", "params", "token68", "decoded", "findings")
                },
            ),
            max_size=2,
        ),
        "credentials": json_values,
        "diagnoses": st.lists(diagnosis, max_size=3),
        "comparison": json_values
        | st.fixed_dictionaries(
            {"baseline": nasty, "differences": st.lists(json_values, max_size=2)}
        ),
        "handshake": json_values,
    },
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(flows, max_size=3), st.lists(diagnosis, max_size=3))
def test_random_metadata_renders_and_parses(fs: list[dict[str, Any]], catalogue: list[Any]) -> None:
    text = render(fs, catalogue=catalogue, title="t")
    page = assert_inert(text)
    assert len(cards(page)) == len(fs)
    assert "could not be rendered" not in page.all_text


# --- a real browser -------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.e2e
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_headless_chromium_renders_the_report(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text(render([*sample_flows(), hostile_flow()]), encoding="utf-8")
    shot = tmp_path / "report.png"
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,2000",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 2000)
    assert len(png) > 20_000  # a blank page compresses to a few kilobytes
