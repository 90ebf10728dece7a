"""Client classification (DESIGN.md §3 ``client``): browser, automated or unknown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authlens.client import AUTOMATED, BROWSER, UNKNOWN, classify
from authlens.model import Headers, Request

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
EDGE = CHROME + " Edg/131.0.2903.86"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"
POWERSHELL = "Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.19045; en-US) PowerShell/7.4.6"
WINPS = "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.5247"
BROWSER_HEADERS = [
    ("sec-ch-ua", '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-Site", "none"),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
]


def request(ua: str | None, *extra: tuple[str, str], url: str = "https://h.example/") -> Request:
    headers = [("User-Agent", ua)] if ua is not None else []
    return Request("GET", url, headers=Headers.of([*headers, *extra]))


@pytest.mark.parametrize(
    ("ua", "kind", "name"),
    [
        ("curl/8.5.0", AUTOMATED, "curl/8.5.0"),
        ("Wget/1.21.4", AUTOMATED, "Wget/1.21.4"),
        ("python-requests/2.32.3", AUTOMATED, "python-requests/2.32.3"),
        ("python-httpx/0.28.1", AUTOMATED, "python-httpx/0.28.1"),
        ("Python/3.12 aiohttp/3.9.5", AUTOMATED, "aiohttp/3.9.5"),
        ("Python-urllib/3.12", AUTOMATED, "Python-urllib/3.12"),
        ("Go-http-client/1.1", AUTOMATED, "Go-http-client/1.1"),
        ("Java/17.0.9", AUTOMATED, "Java/17.0.9"),
        ("Java-http-client/21.0.1", AUTOMATED, "Java-http-client/21.0.1"),
        ("okhttp/4.12.0", AUTOMATED, "okhttp/4.12.0"),
        ("node", AUTOMATED, "node"),
        ("undici", AUTOMATED, "undici"),
        ("axios/1.7.7", AUTOMATED, "axios/1.7.7"),
        ("PostmanRuntime/7.42.0", AUTOMATED, "PostmanRuntime/7.42.0"),
        (POWERSHELL, AUTOMATED, "PowerShell/7.4.6"),
        (WINPS, AUTOMATED, "WindowsPowerShell/5.1.19041.5247"),
        (HEADLESS, AUTOMATED, "HeadlessChrome/131.0.0.0"),
        ("MyTool/1.0 (+https://tool.example)", UNKNOWN, "MyTool/1.0"),
        (None, UNKNOWN, ""),
    ],
)
def test_user_agents(ua: str | None, kind: str, name: str) -> None:
    info = classify(request(ua))
    assert (info.kind, info.name) == (kind, name)
    assert info.evidence


@pytest.mark.parametrize(
    ("ua", "name"),
    [(CHROME, "Chrome 131"), (EDGE, "Edge 131"), (FIREFOX, "Firefox 133"), (SAFARI, "Safari 18")],
)
def test_browsers_with_browser_headers(ua: str, name: str) -> None:
    info = classify(request(ua, *BROWSER_HEADERS))
    assert (info.kind, info.name) == (BROWSER, name)
    joined = " ".join(info.evidence)
    assert "sec-ch-ua" in joined and "fetch metadata" in joined


def test_browser_user_agent_without_browser_headers_is_flagged() -> None:
    info = classify(request(CHROME))
    assert info.kind == BROWSER
    assert any("possibly a script" in e for e in info.evidence)
    # Over plain http browsers omit fetch metadata, so nothing is flagged there.
    plain = classify(request(CHROME, url="http://h.example/"))
    assert not any("possibly a script" in e for e in plain.evidence)


def test_client_hints_without_a_user_agent_still_mean_a_browser() -> None:
    info = classify(request(None, *BROWSER_HEADERS))
    assert (info.kind, info.name) == (BROWSER, "Chrome 131")


def test_to_json_is_the_design_shape() -> None:
    assert set(classify(request("curl/8.5.0")).to_json()) == {"kind", "name", "evidence"}


@given(st.text(max_size=600), st.text(max_size=200))
def test_total_on_any_header_text(ua: str, hints: str) -> None:
    info = classify(request(ua, ("sec-ch-ua", hints)))
    assert info.kind in (BROWSER, AUTOMATED, UNKNOWN)
    assert len(info.name) <= 200
