"""Browser versus script, for real: headless Chromium and requests/httpx/curl against servers
that let browsers in and refuse scripts (tests/e2e/compare_servers.py).

Traffic goes through a real ``mitmdump -w`` (the harness's :class:`Mitmdump`, with the
loopback guard, without the authlens addon: only the capture matters here); the flow file
is read back and turned into :class:`~authlens.model.Exchange` by the mitm layer's adapter.
Each browser session also records a HAR with Playwright, the cross-capture input a user
would export from DevTools; sanitized copies mimic Chrome's default export.

The claims under test, per refusing server: the first-ranked difference is the one that
decides, the headline names it in one sentence, replay (bisect) proves it with few
requests, and the accept-everyone server raises no alarm.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from authlens.bisect import (
    ReplayRequest,
    apply_differences,
    prove,
    replayable,
    send_via_http_client,
)
from authlens.compare import COOKIE, HEADER, Comparison, compare, compare_captures, explain
from authlens.fingerprint import (
    ClientHelloFields,
    describe_ja4,
    ja3,
    ja4,
    parse_client_hello,
    profile_request,
)
from authlens.mitm.adapter import exchange_from_flow, read_flows
from authlens.model import Exchange
from authlens.pairing import is_refused, pair
from authlens.snippets import snippets

from . import compare_servers
from .compare_servers import CompareServer
from .conftest import Mitmdump, chromium_missing, clean_env

pytestmark = pytest.mark.e2e

SPOOFED_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
TIMEOUT = 15
MAX_BISECT_REQUESTS = 24

# scenario -> (API method, path, the decisive difference (kind, name), diagnosis, status)
REFUSING: dict[str, tuple[str, str, tuple[str, str], str, int]] = {
    "ua": ("GET", "/api/data", (HEADER, "user-agent"), "client-fingerprint-rejected", 401),
    "session": ("GET", "/api/profile", (COOKIE, "sessionid"), "missing-session-cookie", 401),
    "csrf": ("POST", "/api/message", (HEADER, "x-csrf-token"), "missing-csrf-token", 403),
    "fetchmeta": (
        "GET",
        "/api/data",
        (HEADER, "sec-fetch-site"),
        "client-fingerprint-rejected",
        403,
    ),
    "hints": ("GET", "/api/data", (HEADER, "sec-ch-ua"), "client-fingerprint-rejected", 401),
}
# Every scripted client: (scenario, label). The label says which library and how.
SCRIPTS: tuple[tuple[str, str], ...] = (
    ("ua", "requests"),
    ("ua", "httpx"),
    ("ua", "curl"),
    ("session", "requests"),
    ("session", "curl"),
    ("csrf", "requests-session"),
    ("csrf", "httpx-client"),
    ("fetchmeta", "httpx-spoofed"),
    ("fetchmeta", "curl-spoofed"),
    ("hints", "requests-spoofed"),
    ("open", "requests"),
    ("open", "httpx"),
    ("open", "curl"),
)


def _ids(cases: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{scenario}-{label}" for scenario, label in cases]


@dataclass
class Run:
    """One scripted (or browser) request run: its time window and what the client saw."""

    scenario: str
    label: str
    started: float
    ended: float = 0.0
    status: int | None = None
    error: str | None = None


@dataclass
class World:
    servers: dict[str, CompareServer]
    exchanges: list[Exchange]
    hars: dict[str, Path]
    runs: list[Run]
    workdir: Path
    seconds: float
    chromium_skip: str | None = None
    report: dict[str, Any] = field(default_factory=dict)

    def api(self, scenario: str) -> tuple[str, str]:
        if scenario == "open":
            return "GET", "/api/data"
        method, path, *_ = REFUSING[scenario]
        return method, path

    def script_exchange(self, scenario: str, label: str) -> Exchange:
        run = next(r for r in self.runs if (r.scenario, r.label) == (scenario, label))
        method, path = self.api(scenario)
        origin = self.servers[scenario].origin
        found = [
            x
            for x in self.exchanges
            if x.request.method == method
            and x.request.url == origin + path
            and x.timestamp_start is not None
            and run.started <= x.timestamp_start <= run.ended
        ]
        assert len(found) == 1, (scenario, label, run, [x.request.url for x in found])
        return found[0]

    def browser_exchanges(self, scenario: str) -> list[Exchange]:
        origin = self.servers[scenario].origin
        return [
            x
            for x in self.exchanges
            if x.request.url.startswith(origin) and profile_request(x.request).browser_engine
        ]


# --- driving real clients ------------------------------------------------------------------


def _curl(proxy: str | None, url: str, *args: str) -> int | None:
    exe = shutil.which("curl")
    if exe is None:
        raise RuntimeError("curl is not installed")
    cmd = [exe, "-sS", "-o", os.devnull, "-w", "%{http_code}", "--max-time", str(TIMEOUT)]
    if proxy:
        cmd += ["-x", proxy]
    done = subprocess.run(
        [*cmd, *args, url], env=clean_env(), capture_output=True, timeout=TIMEOUT + 5, check=False
    )
    code = done.stdout.decode().strip()[-3:]
    return int(code) if code.isdigit() and code != "000" else None


def _script(proxy: str, server: CompareServer, label: str) -> int | None:
    """One scripted client doing what a user's script does."""
    import httpx
    import requests

    scenario = server.scenario
    path = {"csrf": "/api/message", "session": "/api/profile"}.get(scenario, "/api/data")
    url = server.url(path)
    login = {"username": compare_servers.USER, "password": compare_servers.PASSWORD}
    proxies = {"http": proxy}
    if label == "requests":
        with requests.Session() as s:
            s.trust_env = False
            return s.get(url, proxies=proxies, timeout=TIMEOUT).status_code
    if label == "requests-spoofed":
        with requests.Session() as s:
            s.trust_env = False
            return s.get(
                url, proxies=proxies, headers={"User-Agent": SPOOFED_UA}, timeout=TIMEOUT
            ).status_code
    if label == "requests-session":
        with requests.Session() as s:
            s.trust_env = False
            s.post(server.url("/login"), data=login, proxies=proxies, timeout=TIMEOUT)
            return s.post(url, json={"text": "hello"}, proxies=proxies, timeout=TIMEOUT).status_code
    if label == "httpx":
        with httpx.Client(proxy=proxy, trust_env=False, timeout=TIMEOUT) as c:
            return c.get(url).status_code
    if label == "httpx-spoofed":
        with httpx.Client(proxy=proxy, trust_env=False, timeout=TIMEOUT) as c:
            return c.get(url, headers={"User-Agent": SPOOFED_UA}).status_code
    if label == "httpx-client":
        with httpx.Client(proxy=proxy, trust_env=False, timeout=TIMEOUT) as c:
            c.post(server.url("/login"), data=login)
            return c.post(url, json={"text": "hello"}).status_code
    if label == "curl":
        return _curl(proxy, url)
    if label == "curl-spoofed":
        return _curl(proxy, url, "-A", SPOOFED_UA)
    raise AssertionError(label)


def _browse(
    proxy: str, servers: dict[str, CompareServer], workdir: Path, runs: list[Run]
) -> dict[str, Path]:
    """Headless Chromium, one fresh context (cookie jar, HAR) per server, as a user would."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    args = [*CHROMIUM_ARGS, f"--proxy-server={proxy}", "--proxy-bypass-list=<-loopback>"]
    hars: dict[str, Path] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            for scenario, server in servers.items():
                har = workdir / f"browser-{scenario}.har"
                context = browser.new_context(record_har_path=str(har), record_har_content="omit")
                run = Run(scenario, "chromium", time.time())
                try:
                    page = context.new_page()
                    page.set_default_timeout(TIMEOUT * 1000)
                    if scenario in ("session", "csrf"):
                        page.goto(server.url("/login"))
                        page.fill("input[name=username]", compare_servers.USER)
                        page.fill("input[name=password]", compare_servers.PASSWORD)
                        with page.expect_navigation():
                            page.click("button[type=submit]")
                    else:
                        page.goto(server.url("/"))
                    if scenario == "csrf":
                        page.wait_for_function("document.title.startsWith('done')")
                        run.status = int(page.title().split()[-1])
                    else:
                        path = "/api/profile" if scenario == "session" else "/api/data"
                        run.status = int(page.evaluate(f"fetch({path!r}).then(r => r.status)"))
                except Exception as exc:
                    run.error = f"{type(exc).__name__}: {exc}"
                finally:
                    context.close()  # writes the HAR
                    run.ended = time.time()
                    runs.append(run)
                hars[scenario] = har
        finally:
            browser.close()
    return hars


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("compare")
    servers = compare_servers.start_all()
    proxy = Mitmdump("compare", workdir, [], authlens=False)
    runs: list[Run] = []
    hars: dict[str, Path] = {}
    skip = chromium_missing()
    try:
        proxy.start().wait_listening()
        if skip is None:
            hars = _browse(proxy.proxy, servers, workdir, runs)
        for scenario, label in SCRIPTS:
            run = Run(scenario, label, time.time())
            try:
                run.status = _script(proxy.proxy, servers[scenario], label)
            except Exception as exc:
                run.error = f"{type(exc).__name__}: {exc}"
            run.ended = time.time()
            runs.append(run)
            time.sleep(0.05)  # keeps the time windows apart
    finally:
        proxy.stop()
    exchanges = [exchange_from_flow(f, "flowfile") for f in proxy.flows()]
    env = World(servers, exchanges, hars, runs, workdir, time.monotonic() - started, skip)
    try:
        yield env
    finally:
        for server in servers.values():
            server.stop()
        report = os.environ.get("AUTHLENS_COMPARE_REPORT")
        if report:  # numbers for the engineer's report (bisect counts, timings)
            env.report["capture_seconds"] = round(env.seconds, 2)
            Path(report).write_text(json.dumps(env.report, indent=2))


@pytest.fixture(scope="module")
def browser_world(world: World) -> World:
    if world.chromium_skip:
        pytest.skip(world.chromium_skip)
    return world


def _baseline(world: World, refused: Exchange) -> Exchange:
    found = pair(refused, world.exchanges)
    assert found, f"no browser baseline for {refused.request.url}"
    return found[0]


def _matches(comparison: Comparison, kind: str, name: str) -> bool:
    top = comparison.top
    return top is not None and top.kind == kind and top.name.lower() == name


# --- what the clients saw ---------------------------------------------------------------------


def test_clients_saw_what_the_servers_said(world: World) -> None:
    seen = {(r.scenario, r.label): (r.status, r.error) for r in world.runs}
    for scenario, label in SCRIPTS:
        expected = 200 if scenario == "open" else REFUSING[scenario][4]
        assert seen[(scenario, label)] == (expected, None), (scenario, label)
    if world.chromium_skip is None:
        for scenario in compare_servers.SCENARIOS:
            assert seen[(scenario, "chromium")] == (200, None), scenario


def test_capture_is_fast(world: World) -> None:
    assert world.seconds < 60, world.seconds


def test_clients_are_classified(browser_world: World) -> None:
    world = browser_world
    for scenario in compare_servers.SCENARIOS:
        browsers = world.browser_exchanges(scenario)
        assert browsers, scenario
        assert all(profile_request(x.request).family == "Chrome" for x in browsers)
    expectations = {
        ("ua", "requests"): ("automated", "python-requests/"),
        ("ua", "httpx"): ("automated", "python-httpx/"),
        ("ua", "curl"): ("automated", "curl/"),
        ("fetchmeta", "httpx-spoofed"): ("automated", "python-httpx posing as Chrome 131"),
        ("fetchmeta", "curl-spoofed"): ("automated", "posing as Chrome 131"),
        ("hints", "requests-spoofed"): ("automated", "python-requests posing as Chrome 131"),
    }
    for (scenario, label), (kind, name) in expectations.items():
        profile = profile_request(world.script_exchange(scenario, label).request)
        assert profile.kind == kind, (scenario, label, profile)
        assert name in profile.name, (scenario, label, profile)
        assert not profile.browser_engine


# --- ranking and words ----------------------------------------------------------------------


REFUSED_SCRIPTS = [s for s in SCRIPTS if s[0] != "open"]


@pytest.mark.parametrize(("scenario", "label"), REFUSED_SCRIPTS, ids=_ids(REFUSED_SCRIPTS))
def test_first_difference_is_the_decisive_one(
    browser_world: World, scenario: str, label: str
) -> None:
    world = browser_world
    refused = world.script_exchange(scenario, label)
    baseline = _baseline(world, refused)
    assert profile_request(baseline.request).browser_engine
    assert baseline.status is not None and 200 <= baseline.status < 300
    comparison = compare(baseline, refused, history=world.exchanges)
    kind, name = REFUSING[scenario][2]
    top = comparison.top
    assert _matches(comparison, kind, name), (comparison.headline, comparison.differences[:4])
    assert top is not None and top.decisive
    assert comparison.refused and comparison.alarm
    # One sentence that names the decisive difference.
    headline = comparison.headline
    assert headline.count(". ") == 0 and headline.endswith("."), headline
    assert top.name.lower() in headline.lower(), headline
    ids = [d.id for d in comparison.diagnoses]
    assert ids and ids[0] == REFUSING[scenario][3], (ids, headline)
    # JSON: the DESIGN §3 comparison object, nothing secret in it.
    doc = comparison.to_json()
    json.dumps(doc)
    assert doc["baseline"] == baseline.id
    assert {"kind", "name", "browser", "automated", "decisive"} <= set(doc["differences"][0])
    _assert_no_secret(world, json.dumps([doc, comparison.diagnoses_json()]))
    world.report.setdefault("headlines", {})[f"{scenario}/{label}"] = headline
    world.report.setdefault("rankings", {})[f"{scenario}/{label}"] = [
        f"{d.weight:.2f}{' *' if d.decisive else ''} {d.label} [{d.category}, {d.change}]"
        for d in comparison.differences[:6]
    ]


def _assert_no_secret(world: World, text: str) -> None:
    """No raw session cookie or CSRF token of either side appears in ``text``."""
    for x in world.exchanges:
        for value in x.request.headers.get_all("Cookie"):
            for part in value.split(";"):
                _, _, raw = part.strip().partition("=")
                if len(raw) >= 16:
                    assert raw not in text
        token = x.request.headers.get("X-CSRF-Token")
        if token:
            assert token not in text


def test_whole_captures_compare_every_refusal_and_nothing_else(browser_world: World) -> None:
    """``authlens compare``'s core: one capture holding both kinds of client, and the
    browser's HAR files against the script capture."""
    world = browser_world
    expected = {world.script_exchange(sc, lbl).id: sc for sc, lbl in REFUSED_SCRIPTS}
    within = compare_captures(world.exchanges, world.exchanges)
    assert set(within) == set(expected)
    hars = [x for path in world.hars.values() for x in _har_exchanges(path)]
    across = compare_captures(hars, world.exchanges)
    assert set(across) == set(expected)
    for found in (within, across):
        for refused_id, comparison in found.items():
            kind, name = REFUSING[expected[refused_id]][2]
            assert _matches(comparison, kind, name), (expected[refused_id], comparison.headline)


def test_session_comparison_says_where_the_cookie_came_from(browser_world: World) -> None:
    world = browser_world
    refused = world.script_exchange("session", "requests")
    comparison = compare(_baseline(world, refused), refused, history=world.exchanges)
    notes = " ".join(comparison.notes)
    assert "state a clean browser would not have" in notes
    assert "POST /login" in notes, notes
    # The analytics and preference cookies are listed but ranked far below the session.
    names = [d.name for d in comparison.differences if d.kind == COOKIE]
    assert names[0] == "sessionid"
    assert {"_ga", "theme"} <= set(names)


def test_accept_everyone_raises_no_alarm(browser_world: World) -> None:
    world = browser_world
    for label in ("requests", "httpx", "curl"):
        accepted = world.script_exchange("open", label)
        assert not is_refused(accepted)
        assert explain(accepted, world.exchanges) is None
        comparison = compare(_baseline(world, accepted), accepted)
        assert not comparison.refused
        assert not comparison.alarm
        assert comparison.decisive == []
        assert comparison.diagnoses == ()
        assert comparison.headline.startswith("Both requests were accepted")
        assert comparison.differences  # it still lists what differs, without judging


# --- proof by replay --------------------------------------------------------------------------


BISECT_CASES = [
    ("ua", "requests"),
    ("session", "requests"),
    ("csrf", "requests-session"),
    ("fetchmeta", "httpx-spoofed"),
    ("hints", "requests-spoofed"),
]


@pytest.mark.parametrize(("scenario", "label"), BISECT_CASES, ids=_ids(BISECT_CASES))
def test_bisect_proves_the_decisive_difference(
    browser_world: World, scenario: str, label: str
) -> None:
    world = browser_world
    refused = world.script_exchange(scenario, label)
    comparison = compare(_baseline(world, refused), refused, history=world.exchanges)
    kind, name = REFUSING[scenario][2]
    sent: list[int] = []

    def send(request: ReplayRequest) -> int:
        status = send_via_http_client(request).status
        sent.append(status)
        return status

    ranked = prove(refused, comparison.differences, send=send, max_requests=MAX_BISECT_REQUESTS)
    assert ranked.outcome == "proven", ranked
    assert [(d.kind, d.name.lower()) for d in ranked.decisive] == [(kind, name)]
    assert ranked.requests_sent == len(sent) <= 3
    proven = comparison.with_proof(ranked)
    assert proven.decisive == [d for d in proven.differences if d.proven]
    assert "replay proved it" in proven.headline and proven.headline.endswith(".")
    assert proven.diagnoses[0].confidence == 0.99

    # Without the ranking (worst first), plain ddmin still finds exactly the same one.
    reversed_order = list(reversed(replayable(comparison.differences)))
    unranked = prove(refused, reversed_order, send=send, max_requests=MAX_BISECT_REQUESTS)
    assert unranked.outcome == "proven", unranked
    assert [(d.kind, d.name.lower()) for d in unranked.decisive] == [(kind, name)]
    assert unranked.requests_sent <= 2 * len(reversed_order).bit_length() + 4
    world.report.setdefault("bisect", {})[scenario] = {
        "client": label,
        "replayable_differences": len(reversed_order),
        "requests_ranked": ranked.requests_sent,
        "requests_unranked_ddmin": unranked.requests_sent,
        "decisive": [d.label for d in ranked.decisive],
    }


def test_bisect_respects_the_cap(browser_world: World) -> None:
    world = browser_world
    refused = world.script_exchange("fetchmeta", "httpx-spoofed")
    comparison = compare(_baseline(world, refused), refused)
    count = 0

    def send(request: ReplayRequest) -> int:
        nonlocal count
        count += 1
        return send_via_http_client(request).status

    result = prove(refused, list(reversed(comparison.differences)), send=send, max_requests=3)
    assert result.capped and result.outcome == "capped"
    assert result.requests_sent == count == 3


# --- the fix as code -----------------------------------------------------------------------------


SNIPPET_CASES = [
    ("session", "requests"),
    ("csrf", "requests-session"),
    ("hints", "requests-spoofed"),
]


@pytest.mark.parametrize(("scenario", "label"), SNIPPET_CASES, ids=_ids(SNIPPET_CASES))
def test_snippets_send_what_the_browser_sent(
    browser_world: World, scenario: str, label: str
) -> None:
    world = browser_world
    refused = world.script_exchange(scenario, label)
    baseline = _baseline(world, refused)
    comparison = compare(baseline, refused)
    code = snippets(refused, comparison.decisive)
    secrets_env = code.environment()
    for text in (code.curl, code.requests, code.httpx):
        for raw in secrets_env.values():
            assert raw not in text  # secrets only through the environment
    env = {**clean_env(), **secrets_env}
    curl = subprocess.run(
        ["bash", "-c", code.curl + " -sS -o /dev/null -w '%{http_code}'"],
        env=env,
        capture_output=True,
        timeout=TIMEOUT + 5,
        check=False,
    )
    assert curl.stdout.decode().strip() == "200", (code.curl, curl.stderr)
    for program in (code.requests, code.httpx):
        done = subprocess.run(
            [sys.executable, "-c", program],
            env=env,
            capture_output=True,
            timeout=TIMEOUT + 10,
            check=False,
        )
        assert done.stdout.decode().strip() == "200", (program, done.stderr.decode()[-2000:])


# --- across captures: the browser's own HAR ----------------------------------------------------------


def _har_exchanges(path: Path) -> list[Exchange]:
    return [exchange_from_flow(flow, "har") for flow in read_flows(path)]


def _sanitize(src: Path, dst: Path, *, drop: bool) -> Path:
    """Chrome's default export: Cookie, Set-Cookie and Authorization blanked or dropped."""
    doc = json.loads(src.read_text())
    for entry in doc["log"]["entries"]:
        for part in ("request", "response"):
            message = entry[part]
            kept = []
            for header in message["headers"]:
                if header["name"].lower() in ("cookie", "set-cookie", "authorization"):
                    if drop:
                        continue
                    header = {**header, "value": ""}
                kept.append(header)
            message["headers"] = kept
            if drop:
                message["cookies"] = []
            else:
                message["cookies"] = [{**c, "value": ""} for c in message.get("cookies", [])]
    dst.write_text(json.dumps(doc))
    return dst


@pytest.mark.parametrize("scenario", ["session", "csrf", "ua", "hints"])
def test_har_from_chromium_against_the_script_capture(browser_world: World, scenario: str) -> None:
    world = browser_world
    label = next(lbl for sc, lbl in SCRIPTS if sc == scenario)
    refused = world.script_exchange(scenario, label)
    har = _har_exchanges(world.hars[scenario])
    comparison = explain(refused, har, history=har)
    assert comparison is not None, [x.request.url for x in har]
    kind, name = REFUSING[scenario][2]
    assert _matches(comparison, kind, name), (comparison.headline, comparison.differences[:3])
    assert "har-sanitized" not in [d.id for d in comparison.diagnoses]
    assert any("HAR files do not keep them" in n for n in comparison.notes)


@pytest.mark.parametrize("drop", [False, True], ids=["blanked", "dropped"])
def test_sanitized_har_is_flagged_and_blind(browser_world: World, drop: bool) -> None:
    world = browser_world
    refused = world.script_exchange("session", "requests")
    path = _sanitize(world.hars["session"], world.workdir / f"sanitized-{drop}.har", drop=drop)
    har = _har_exchanges(path)
    comparison = explain(refused, har, history=har)
    assert comparison is not None
    ids = [d.id for d in comparison.diagnoses]
    assert "har-sanitized" in ids, (ids, comparison.headline)
    assert "cookie" in comparison.blind
    assert not any(d.kind == COOKIE for d in comparison.differences)
    assert comparison.decisive == []  # it must not blame the User-Agent instead
    assert "sanitized" in comparison.headline
    assert any("blind" in n for n in comparison.notes)


def test_sanitized_har_still_finds_what_it_can_see(browser_world: World) -> None:
    """Blind on cookies, but the refusal names the browser: the User-Agent is still found."""
    world = browser_world
    refused = world.script_exchange("ua", "requests")
    path = _sanitize(world.hars["ua"], world.workdir / "sanitized-ua.har", drop=False)
    har = _har_exchanges(path)
    comparison = explain(refused, har, history=har)
    assert comparison is not None
    assert _matches(comparison, HEADER, "user-agent")
    assert comparison.top is not None and comparison.top.decisive


# --- TLS fingerprints of the real clients ---------------------------------------------------------


class _HelloCatcher:
    """A TCP listener on loopback that keeps each client's first TLS record and hangs up."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.hellos: list[bytes] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(3)
                data = b""
                try:
                    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
                        chunk = conn.recv(65536)
                        if not chunk or len(data) > 1 << 16:
                            break
                        data += chunk
                except OSError:
                    pass
                if data[:1] == b"\x16":
                    self.hellos.append(data)

    def __enter__(self) -> _HelloCatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def catch(self, client: Callable[[str], object]) -> bytes:
        before = len(self.hellos)
        with contextlib.suppress(Exception):  # the handshake never completes, by design
            client(f"https://127.0.0.1:{self.port}/")
        deadline = time.monotonic() + 5
        while len(self.hellos) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.hellos) > before, "no ClientHello arrived"
        return self.hellos[before]


def test_tls_fingerprints_of_real_clients(world: World) -> None:
    import httpx
    import requests
    from mitmproxy.tls import ClientHello

    def chromium(url: str) -> None:
        from playwright.sync_api import sync_playwright

        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
            try:
                browser.new_page().goto(url, timeout=5000)
            finally:
                browser.close()

    clients: dict[str, Callable[[str], object]] = {
        "curl": lambda url: _curl(None, url, "-k"),
        "requests": lambda url: requests.get(url, timeout=3, verify=False),
        "httpx": lambda url: httpx.get(url, timeout=3, verify=False),
    }
    if world.chromium_skip is None:
        clients["chromium"] = chromium
    prints: dict[str, str] = {}
    with _HelloCatcher() as catcher:
        for name, client in clients.items():
            record = catcher.catch(client)
            mine = parse_client_hello(record)
            assert mine is not None, name
            # Cross-check the pure parser against mitmproxy's own ClientHello parser.
            body = record[9 : 9 + int.from_bytes(record[6:9], "big")]
            theirs = ClientHello(body)
            assert list(mine.cipher_suites) == list(theirs.cipher_suites), name
            assert list(mine.extensions) == [t for t, _ in theirs.extensions], name
            assert [bytes(a) for a in mine.alpn] == list(theirs.alpn_protocols), name
            from_raw = ClientHelloFields.from_extensions(
                mine.version, theirs.cipher_suites, theirs.extensions
            )
            assert ja4(from_raw) == ja4(mine) and ja3(from_raw) == ja3(mine), name
            prints[name] = ja4(mine)
    world.report["ja4"] = prints
    for name, value in prints.items():
        described = describe_ja4(value)
        assert described is not None and described["sni"] is False, (name, value)  # an IP
    if "chromium" in prints:
        chrome = describe_ja4(prints["chromium"])
        assert chrome is not None and chrome["alpn"] == "h2" and chrome["version"] == "13"
        assert all(prints["chromium"] != v for k, v in prints.items() if k != "chromium")


def test_replayed_request_is_the_script_request_plus_the_patch(browser_world: World) -> None:
    world = browser_world
    refused = world.script_exchange("session", "requests")
    comparison = compare(_baseline(world, refused), refused)
    base = ReplayRequest.from_exchange(refused)
    top = comparison.top
    assert top is not None
    patched = apply_differences(base, [top])
    changed = [h for h in patched.headers if h not in base.headers]
    assert [name for name, _ in changed] == ["Cookie"]
    assert copy.copy(patched.method) == "GET" and patched.url == base.url


def test_live_addon_annotates_the_refused_script_flow(tmp_path: Path) -> None:
    """The real addon in mitmdump (``-s addon/authlens_addon.py``): Chromium logs in and is
    let in, requests is refused; the saved flow of the refusal names the decisive cookie in
    its ``comparison`` and carries the diagnosis ID in its comment."""
    skip = chromium_missing()
    if skip is not None:
        pytest.skip(skip)
    server = compare_servers.CompareServer("session").start()
    proxy = Mitmdump("compare-addon", tmp_path, [], authlens=True)
    runs: list[Run] = []
    try:
        proxy.start().wait_listening()
        _browse(proxy.proxy, {"session": server}, tmp_path, runs)
        assert [r.status for r in runs] == [200], runs
        assert _script(proxy.proxy, server, "requests") == 401
    finally:
        proxy.stop()
        server.stop()
    refused = [
        f
        for f in proxy.flows()
        if f.response is not None
        and f.response.status_code == 401
        and f.request.path == "/api/profile"
        and "python-requests" in f.request.headers.get("user-agent", "")
    ]
    assert len(refused) == 1, proxy.log()[-2000:]
    flow = refused[0]
    comparison = flow.metadata["authlens"]["comparison"]
    assert comparison is not None, flow.metadata["authlens"]
    decisive = [d for d in comparison["differences"] if d["decisive"]]
    assert [(d["kind"], d["name"]) for d in decisive][:1] == [(COOKIE, "sessionid")]
    assert "sessionid" in comparison["headline"]
    assert flow.comment.splitlines()[0].startswith("missing-session-cookie: ")
    _assert_no_secret_value(flow.metadata["authlens"], flow.comment)


def _assert_no_secret_value(metadata: dict[str, Any], comment: str) -> None:
    text = json.dumps(metadata) + comment
    assert compare_servers.PASSWORD not in text
