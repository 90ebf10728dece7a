"""Reports in a real browser: headless Chromium (Playwright) opens

- the HTML report ``authlens analyze`` makes from a real capture: a loopback server sends
  hostile challenges (script in a realm, ``javascript:`` URIs, control characters, a
  20 000-character value) through a real mitmdump running the addon, and a client sends
  a hostile User-Agent. The page must show them as text: no dialog, no console error, no
  request beyond the file itself;
- a real mitmweb started by ``authlens web``, where a refused request's diagnosis and
  marker must show in the flow list (authlens enables the comment column).

The same mitmdump run also writes ``authlens_har_dump`` at exit, which must hold the
verdict that only the end of the run decides (``no-retry``): the export runs after
AuthLens' own ``done``.

Screenshots are saved beside the test's files, and also in ``$AUTHLENS_SCREENSHOTS`` when
that is set (to look at them).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from authlens.report.har import validate_har

from .conftest import ROOT, STOP_TIMEOUT, Mitmdump, chromium_missing, clean_env

pytestmark = pytest.mark.e2e

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCRIPT_REALM = '"><script>alert(1)</script>'
JS_URI = "javascript:alert(2)"
HOSTILE_UA = "<img src=x onerror=alert(3)>"
HUGE = 20_000
CONTROL = "\x1b[31mred\x07bell\u202eevil"
PASSWORD = "Browser-Canary-9"
WEB_TOKEN = "authlens-e2e-web-token"
TIMEOUT_MS = 15_000


# --- a server with hostile challenges -----------------------------------------------------


class HostileHandler(socketserver.StreamRequestHandler):
    """Writes raw bytes: ``http.server`` would refuse non-Latin-1 header values."""

    def handle(self) -> None:
        line = self.rfile.readline(65536)
        for _ in range(200):
            if self.rfile.readline(65536) in (b"\r\n", b"\n", b""):
                break
        parts = line.split()
        path = parts[1].decode("ascii", "replace") if len(parts) > 1 else "/"
        if "huge" in path:
            realm = (CONTROL + "A" * HUGE).encode("utf-8")
        else:
            realm = SCRIPT_REALM.replace('"', '\\"').encode()
        challenges = [b'Basic realm="' + realm + b'"']
        if "plain" in path:  # an ordinary Basic server, for the expected-content checks
            challenges = [b'Basic realm="e2e"']
        else:
            challenges.append(
                f'Bearer realm="x", error="invalid_token", error_uri="{JS_URI}"'.encode()
            )
        head = b"HTTP/1.1 401 Unauthorized\r\nServer: hostile/1.0\r\n"
        for value in challenges:
            head += b"WWW-Authenticate: " + value + b"\r\n"
        self.wfile.write(head + b"Content-Length: 0\r\nConnection: close\r\n\r\n")


class HostileServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HostileHandler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1})
        self.thread.daemon = True

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


def proxied_get(proxy_port: int, url: str, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=15)
    try:
        conn.request("GET", url, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


# --- the capture -------------------------------------------------------------------------


class LateMitmdump(Mitmdump):
    """The harness's mitmdump with ``no-retry`` left to the end of the run, so the HAR dump
    proves the export ran after AuthLens' ``done``. (The option is replaced, not set twice:
    mitmproxy drops a script's deferred options when one is given twice.)"""

    def command(self) -> list[str]:
        return [
            "authlens_no_retry_after=3600" if arg.startswith("authlens_no_retry_after=") else arg
            for arg in super().command()
        ]


@dataclass
class Capture:
    workdir: Path
    flows: Path
    dump: Path
    report: Path
    log: str


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    workdir = tmp_path_factory.mktemp("browser")
    dump = workdir / "dump.har"
    proxy = LateMitmdump("hostile", workdir, ["--set", f"authlens_har_dump={dump}"])
    # Two origins: the credentials sent to the second must not count as the answer to the
    # first one's challenges, which stay unanswered until the end of the run.
    with HostileServer() as server, HostileServer() as other:
        proxy.start().wait_listening()
        try:
            base = f"http://127.0.0.1:{server.port}"
            wrong = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
            statuses = [
                proxied_get(proxy.port, f"{base}/realm", {"User-Agent": HOSTILE_UA}),
                proxied_get(proxy.port, f"{base}/huge", {"User-Agent": "curl/8.5.0"}),
                proxied_get(
                    proxy.port,
                    f"http://127.0.0.1:{other.port}/plain/login",
                    {"User-Agent": "curl/8.5.0", "Authorization": f"Basic {wrong}"},
                ),
            ]
        finally:
            assert proxy.stop() == 0, proxy.log()[-2000:]
    assert statuses == [401, 401, 401]
    report = workdir / "report.html"
    env = {**clean_env(), "PYTHONPATH": str(ROOT / "addon")}
    done = subprocess.run(
        [sys.executable, "-m", "authlens", "analyze", str(proxy.flow_file), "--html", str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    yield Capture(workdir, proxy.flow_file, dump, report, proxy.log())


def screenshot_path(tmp_path: Path, name: str) -> Path:
    return tmp_path / name


def keep_screenshot(path: Path) -> None:
    wanted = os.environ.get("AUTHLENS_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(wanted) / path.name)


@pytest.fixture
def browser() -> Iterator[Any]:
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, headless=True, args=BROWSER_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@dataclass
class Watch:
    """Everything a page did that it must not: dialogs, errors, requests elsewhere."""

    dialogs: list[str]
    console_errors: list[str]
    page_errors: list[str]
    outside: list[str]


def watch(page: Any, allowed: str) -> Watch:
    seen = Watch([], [], [], [])

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_route(route: Any) -> None:
        url = route.request.url
        if url.startswith(allowed):
            route.continue_()
        else:
            seen.outside.append(url)
            route.abort()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
    page.route("**/*", on_route)
    return seen


# --- the HTML report ----------------------------------------------------------------------


def test_report_of_a_real_capture_in_chromium(
    capture: Capture, browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = watch(page, capture.report.as_uri())
    page.goto(capture.report.as_uri())

    # Expected content, as a reader sees it.
    assert "authlens report" in page.title()
    cards = page.locator("article.card")
    assert cards.count() == 3
    assert page.get_by_text("Showing 3 of 3 flows").is_visible()  # the script ran under CSP
    assert page.get_by_role("heading", name="The credentials were refused").first.is_visible()
    login = page.locator("article.card", has_text="/login")
    assert login.get_by_text("credentials-rejected").first.is_visible()

    # Hostile values are text, visible as such, and nothing ran.
    assert page.get_by_text(SCRIPT_REALM).first.is_visible()
    assert page.get_by_text(JS_URI).first.is_visible()
    assert page.get_by_text("<img").first.is_visible()
    assert page.locator("script").count() == 1  # the report's own
    assert page.locator("img").count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    huge = page.locator("article.card", has_text="/huge")
    assert huge.locator("span.esc", has_text="\\x1b").first.is_visible()
    assert huge.locator("span.esc", has_text="\\u202e").first.is_visible()
    assert huge.get_by_text("characters,").first.is_visible()  # cut, with a note
    for secret in (PASSWORD, base64.b64encode(f"alice:{PASSWORD}".encode()).decode()):
        assert secret not in page.content()

    shot = screenshot_path(tmp_path, "report-overview.png")
    page.screenshot(path=str(shot))
    keep_screenshot(shot)
    card = screenshot_path(tmp_path, "report-hostile-card.png")
    page.locator("article.card", has_text="/realm").screenshot(path=str(card))
    keep_screenshot(card)

    assert seen.dialogs == []
    assert seen.console_errors == []
    assert seen.page_errors == []
    assert seen.outside == []


def test_har_dump_at_exit_holds_late_verdicts(capture: Capture) -> None:
    assert "annotated HAR with 3 entries saved" in capture.log
    har = json.loads(capture.dump.read_text())
    assert validate_har(har) == []
    by_path = {e["request"]["url"].rsplit("/", 1)[1]: e for e in har["log"]["entries"]}
    # With authlens_no_retry_after=3600 only AuthLens.done (finish) can decide no-retry;
    # the dump has it, so the export wrote after AuthLens settled.
    for name in ("realm", "huge"):
        ids = [d["id"] for d in by_path[name]["_authlens"]["diagnoses"]]
        assert "no-retry" in ids
        assert "no-retry" in by_path[name]["comment"]
    assert PASSWORD not in capture.dump.read_text()


# --- mitmweb ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mitmweb(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    web_port, proxy_port = _free_port(), _free_port()
    log_path = tmp_path / "mitmweb.log"
    command = [
        sys.executable, "-m", "authlens", "web",
        "--no-web-open-browser",
        "--web-host", "127.0.0.1", "--web-port", str(web_port),
        "--listen-host", "127.0.0.1", "--listen-port", str(proxy_port),
        "--set", f"confdir={tmp_path / 'conf'}",
        "--set", f"web_password={WEB_TOKEN}",
    ]  # fmt: skip
    env = {**clean_env(), "PYTHONPATH": str(ROOT / "addon")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while "Web server listening" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mitmweb did not start:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.05)
        yield web_port, proxy_port, log_path
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)  # `authlens web` execs mitmweb: same PID
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def test_mitmweb_shows_the_diagnosis(
    mitmweb: tuple[int, int, Path], browser: Any, tmp_path: Path
) -> None:
    web_port, proxy_port, log_path = mitmweb
    with HostileServer() as server:
        wrong = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
        status = proxied_get(
            proxy_port,
            f"http://127.0.0.1:{server.port}/plain/login",
            {"User-Agent": "curl/8.5.0", "Authorization": f"Basic {wrong}"},
        )
    assert status == 401
    assert "Loading script" in log_path.read_text() and "entry.py" in log_path.read_text()

    page = browser.new_page(viewport={"width": 1400, "height": 600})
    origin = f"http://127.0.0.1:{web_port}/"
    seen = watch(page, origin)
    page.goto(f"{origin}?token={WEB_TOKEN}")
    comment = page.locator("td.col-comment", has_text="credentials-rejected")
    comment.first.wait_for(timeout=TIMEOUT_MS)
    row = page.locator("tr", has=comment.first)
    assert "refused" in row.locator("td.col-comment").inner_text()
    assert row.locator("span.marker").inner_text() == "⛔"  # :no_entry:, an error
    assert row.locator("td.col-status").inner_text() == "401"
    shot = screenshot_path(tmp_path, "mitmweb-flow-list.png")
    page.screenshot(path=str(shot))
    keep_screenshot(shot)
    assert seen.dialogs == []
    assert seen.page_errors == []
    assert seen.outside == []
