"""End-to-end harness: real servers, real mitmdump processes, real clients, loopback only.

One session fixture (:func:`e2e`) does all the traffic once, because starting processes is
the slow part:

- origin servers on 127.0.0.1 and 127.0.0.2 (tests/e2e/servers.py);
- mitmdump ``live`` (regular mode), ``proxyauth`` (``--proxyauth alice:secret``), and the
  pair ``upstream`` (authlens, ``--mode upstream:``) -> ``gate`` (plain mitmdump with
  proxyauth), each with ``-s addon/authlens_addon.py`` (not ``gate``), ``-w`` to a flow
  file, a fresh confdir and ``tests/e2e/loopback_only.py`` so nothing leaves 127.0.0.0/8;
- curl, python-requests, httpx, a pyspnego-driven http.client and headless Chromium;
- every proxy is stopped by PID with SIGINT, so ``done`` runs and late diagnoses land in
  the ``-w`` file (the addon rewrites it at exit, ``authlens_update_flowfile``).

Tests then read the flow files back with ``mitmproxy.io.FlowReader``. A scenario that
fails on the client side is recorded, not raised, so one broken client does not hide the
other scenarios' results.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from mitmproxy import http as mhttp
from mitmproxy.io import FlowReader

from . import servers

ROOT = Path(__file__).resolve().parents[2]
ENTRY_SCRIPT = ROOT / "addon" / "authlens_addon.py"
GUARD_SCRIPT = Path(__file__).with_name("loopback_only.py")
PROXY_USER, PROXY_PASSWORD = "alice", "secret"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
CLIENT_TIMEOUT = 15
NO_RETRY_AFTER = 1  # authlens_no_retry_after for the live proxies (seconds)
_LISTENING = re.compile(r"listening at (?:http://)?\[?([0-9a-fA-F.:]+)\]?:(\d+)")


def mitmdump_command() -> list[str]:
    """The mitmdump of the interpreter running the tests (a venv's bin/), else PATH."""
    beside = Path(sys.executable).with_name("mitmdump")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mitmdump")
    if found:
        return [found]
    pytest.skip("mitmdump not found")
    raise AssertionError("unreachable")


def clean_env() -> dict[str, str]:
    """The environment for child processes: no proxy variables, unbuffered Python."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Mitmdump:
    """One mitmdump subprocess; started on a free port, stopped by its PID."""

    def __init__(self, name: str, workdir: Path, args: list[str], *, authlens: bool = True) -> None:
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.flow_file = self.dir / "flows.mitm"
        self.log_file = self.dir / "mitmdump.log"
        self.args = args
        self.authlens = authlens
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.returncode: int | None = None

    def command(self) -> list[str]:
        cmd = [
            *mitmdump_command(),
            "--listen-host", "127.0.0.1",
            "--listen-port", "0",
            "--set", f"confdir={self.dir / 'conf'}",
            "--set", "flow_detail=0",
            "--set", "termlog_verbosity=info",
            "-w", str(self.flow_file),
            "-s", str(GUARD_SCRIPT),
        ]  # fmt: skip
        if self.authlens:
            cmd += ["-s", str(ENTRY_SCRIPT), "--set", f"authlens_no_retry_after={NO_RETRY_AFTER}"]
        return cmd + self.args

    def start(self) -> Mitmdump:
        log = self.log_file.open("wb")
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=clean_env(), cwd=ROOT
        )
        log.close()
        return self

    def wait_listening(self) -> Mitmdump:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log())
            if match:
                self.port = int(match.group(2))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mitmdump {self.name} did not start:\n{self.log()[-3000:]}")

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int | None:
        """SIGINT (mitmproxy shuts down cleanly and runs `done`), then SIGKILL if stuck."""
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.returncode = self.proc.returncode
        return self.returncode

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def flows(self) -> list[mhttp.HTTPFlow]:
        return read_flow_file(self.flow_file)


def read_flow_file(path: Path) -> list[mhttp.HTTPFlow]:
    if not path.exists():
        return []
    with path.open("rb") as fo:
        return [f for f in FlowReader(fo).stream() if isinstance(f, mhttp.HTTPFlow)]


def run_offline(workdir: Path, source: Path, name: str) -> tuple[list[mhttp.HTTPFlow], str]:
    """``mitmdump -nr SOURCE -s authlens_addon.py -w OUT``: annotate a recorded capture."""
    out = workdir / f"{name}.mitm"
    cmd = [
        *mitmdump_command(),
        "-n", "-r", str(source),
        "-s", str(ENTRY_SCRIPT),
        "--set", f"confdir={workdir / 'conf-offline'}",
        "--set", f"authlens_no_retry_after={NO_RETRY_AFTER}",
        "--set", "flow_detail=0",
        "-w", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        cmd, env=clean_env(), cwd=ROOT, capture_output=True, timeout=90, check=False
    )
    log = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, log[-3000:]
    return read_flow_file(out), log


# --- the scenarios ------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a client saw: the final status, or the error it raised."""

    status: int | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class E2E:
    main: servers.AuthServer
    other: servers.AuthServer
    lonely: servers.AuthServer
    live: Mitmdump
    proxyauth: Mitmdump
    upstream: Mitmdump
    gate: Mitmdump
    workdir: Path
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    flows: dict[str, list[mhttp.HTTPFlow]] = field(default_factory=dict)
    seconds: float = 0.0
    chromium_skip: str | None = None

    def case(self, proxy: str, case: str) -> list[mhttp.HTTPFlow]:
        """The flows of one scenario (``?case=``), in the order they happened."""
        found = [f for f in self.flows[proxy] if case_of(f) == case]
        return sorted(found, key=lambda f: f.request.timestamp_start)


def case_of(flow: mhttp.HTTPFlow) -> str | None:
    values = parse_qs(urlsplit(flow.request.path).query).get("case")
    return values[0] if values else None


def curl(proxy: str, url: str, *args: str) -> Outcome:
    exe = shutil.which("curl")
    if exe is None:
        return Outcome(error="curl not installed")
    cmd = [exe, "-sS", "-o", os.devnull, "-w", "%{http_code}", "--max-time", str(CLIENT_TIMEOUT)]
    cmd += ["-x", proxy, *args, url]
    done = subprocess.run(
        cmd, env=clean_env(), capture_output=True, timeout=CLIENT_TIMEOUT + 5, check=False
    )
    code = done.stdout.decode().strip()[-3:]
    return Outcome(
        status=int(code) if code.isdigit() and code != "000" else None,
        error=done.stderr.decode(errors="replace").strip() or None,
    )


def requests_get(proxy: str, url: str, **kwargs: Any) -> Outcome:
    import requests

    with requests.Session() as session:
        session.trust_env = False
        r = session.get(url, proxies={"http": proxy}, timeout=CLIENT_TIMEOUT, **kwargs)
        return Outcome(status=r.status_code, extra={"history": [h.status_code for h in r.history]})


def httpx_get(proxy: str, url: str, **kwargs: Any) -> Outcome:
    import httpx

    with httpx.Client(proxy=proxy, trust_env=False, timeout=CLIENT_TIMEOUT) as client:
        r = client.get(url, **kwargs)
        return Outcome(status=r.status_code)


def ntlm_two_connections(proxy_port: int, url: str) -> Outcome:
    """NTLM whose type-3 travels on a new connection, because the server closed the first."""
    import spnego

    ctx = spnego.client(
        f"{servers.NTLM_DOMAIN}\\{servers.NTLM_USER}", servers.NTLM_PASSWORD, protocol="ntlm"
    )
    first = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=CLIENT_TIMEOUT)
    try:
        negotiate = base64.b64encode(ctx.step() or b"").decode()
        first.request("GET", url, headers={"Authorization": f"NTLM {negotiate}"})
        r1 = first.getresponse()
        r1.read()
        challenge = (r1.headers.get("WWW-Authenticate") or "").partition(" ")[2]
    finally:
        first.close()
    authenticate = base64.b64encode(ctx.step(base64.b64decode(challenge)) or b"").decode()
    second = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=CLIENT_TIMEOUT)
    try:
        second.request("GET", url, headers={"Authorization": f"NTLM {authenticate}"})
        r2 = second.getresponse()
        r2.read()
        return Outcome(status=r2.status, extra={"type2_status": r1.status})
    finally:
        second.close()


def chromium_missing() -> str | None:
    """Why the browser scenario cannot run here, or None."""
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "Chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


def chromium_preflight(proxy: str, page_url: str) -> Outcome:
    """Headless Chromium loads a page whose fetch() needs a CORS preflight (answered 401)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        f"--proxy-server={proxy}",
        "--proxy-bypass-list=<-loopback>",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            page = browser.new_page()
            page.goto(page_url, timeout=CLIENT_TIMEOUT * 1000)
            page.wait_for_function(
                "document.title.startsWith('done')", timeout=CLIENT_TIMEOUT * 1000
            )
            return Outcome(status=200, extra={"title": page.title()})
        finally:
            browser.close()


def _run(outcomes: dict[str, Outcome], name: str, fn: Callable[[], Outcome]) -> None:
    try:
        outcomes[name] = fn()
    except Exception as exc:
        outcomes[name] = Outcome(error="".join(traceback.format_exception_only(exc)).strip())


def drive_traffic(env: E2E) -> None:
    main, other, out = env.main, env.other, env.outcomes
    live = env.live.proxy
    basic = ("-u", f"{servers.BASIC_USER}:{servers.BASIC_PASSWORD}")

    # First, so that its no-retry timer (1 s) falls due while the proxy still runs.
    _run(out, "no-retry", lambda: curl(live, env.lonely.url("/lonely", "no-retry")))
    _run(
        out,
        "basic-anyauth",
        lambda: curl(live, main.url("/basic", "basic-anyauth"), "--anyauth", *basic),
    )
    _run(
        out,
        "basic-wrong",
        lambda: requests_get(
            live, main.url("/basic", "basic-wrong"), auth=("alice", "not-the-password")
        ),
    )
    _run(
        out,
        "digest-md5",
        lambda: curl(live, main.url("/digest-md5", "digest-md5"), "--digest", *basic),
    )

    import httpx

    def good_digest() -> httpx.DigestAuth:
        # One per scenario: a DigestAuth reuses its last challenge preemptively.
        return httpx.DigestAuth(servers.BASIC_USER, servers.BASIC_PASSWORD)

    _run(
        out,
        "digest-sha256",
        lambda: httpx_get(live, main.url("/digest-sha256", "digest-sha256"), auth=good_digest()),
    )
    _run(
        out,
        "digest-wrong",
        lambda: httpx_get(
            live, main.url("/digest-md5", "digest-wrong"), auth=httpx.DigestAuth("alice", "nope")
        ),
    )
    _run(
        out,
        "digest-stale",
        lambda: httpx_get(live, main.url("/digest-stale", "digest-stale"), auth=good_digest()),
    )

    expired = servers.make_jwt(exp_offset=-3600)
    forged = servers.make_jwt(key="not-the-server-key-but-long-enough-for-hs256")
    reader = servers.make_jwt(scope="read")
    _run(
        out,
        "bearer-expired",
        lambda: requests_get(
            live,
            main.url("/bearer", "bearer-expired"),
            headers={"Authorization": f"Bearer {expired}"},
        ),
    )
    _run(
        out,
        "bearer-invalid",
        lambda: requests_get(
            live,
            main.url("/bearer", "bearer-invalid"),
            headers={"Authorization": f"Bearer {forged}"},
        ),
    )
    _run(
        out,
        "bearer-scope",
        lambda: httpx_get(
            live,
            main.url("/bearer-admin", "bearer-scope"),
            headers={"Authorization": f"Bearer {reader}"},
        ),
    )
    env.outcomes["bearer-tokens"] = Outcome(extra={"tokens": [expired, forged, reader]})

    ntlm_user = f"{servers.NTLM_DOMAIN}\\{servers.NTLM_USER}:{servers.NTLM_PASSWORD}"
    _run(
        out, "ntlm-ok", lambda: curl(live, main.url("/ntlm", "ntlm-ok"), "--ntlm", "-u", ntlm_user)
    )
    _run(
        out,
        "ntlm-close",
        lambda: ntlm_two_connections(env.live.port, main.url("/ntlm-close", "ntlm-close")),
    )

    _run(out, "iis", lambda: curl(live, main.url("/iis", "iis")))
    _run(out, "nochallenge", lambda: curl(live, main.url("/nochallenge", "nochallenge")))
    _run(
        out,
        "redirect",
        lambda: requests_get(
            live,
            main.url("/redirect", "redirect"),
            auth=(servers.BASIC_USER, servers.BASIC_PASSWORD),
        ),
    )
    _run(
        out,
        "preflight-curl",
        lambda: curl(
            live,
            other.url("/cors-api", "preflight-curl"),
            "-X", "OPTIONS",
            "-H", f"Origin: http://{main.host}:{main.port}",
            "-H", "Access-Control-Request-Method: GET",
            "-H", "Access-Control-Request-Headers: authorization",
        ),
    )  # fmt: skip

    # mitmproxy's own proxy authentication, and an upstream proxy's.
    pa = env.proxyauth.proxy
    _run(
        out,
        "proxyauth-none",
        lambda: curl(pa, main.url("/basic", "proxyauth-none"), *basic, "--basic"),
    )
    _run(
        out,
        "proxyauth-anyauth",
        lambda: curl(
            pa,
            main.url("/basic", "proxyauth-anyauth"),
            *basic,
            "--basic",
            "--proxy-anyauth",
            "-U",
            f"{PROXY_USER}:{PROXY_PASSWORD}",
        ),
    )
    _run(
        out,
        "proxyauth-connect",
        lambda: curl(pa, f"https://127.0.0.1:{main.port}/basic?case=proxyauth-connect"),
    )
    _run(
        out,
        "upstream-connect",
        lambda: curl(
            env.upstream.proxy, f"https://127.0.0.1:{main.port}/basic?case=upstream-connect", "-k"
        ),
    )
    _run(
        out,
        "upstream-none",
        lambda: curl(env.upstream.proxy, main.url("/basic", "upstream-none"), *basic, "--basic"),
    )

    env.chromium_skip = chromium_missing()
    if env.chromium_skip is None:
        _run(out, "chromium", lambda: chromium_preflight(live, main.url("/cors-page", "chromium")))


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("e2e")
    saved_ntlm_env = os.environ.get("NTLM_USER_FILE")
    main, other, lonely = servers.start_servers(str(workdir / "ntlm_users"))
    gate = Mitmdump(
        "gate", workdir, ["--proxyauth", f"{PROXY_USER}:{PROXY_PASSWORD}"], authlens=False
    )
    live = Mitmdump("live", workdir, [])
    proxyauth = Mitmdump("proxyauth", workdir, ["--proxyauth", f"{PROXY_USER}:{PROXY_PASSWORD}"])
    procs = [gate, live, proxyauth]
    upstream: Mitmdump | None = None
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.wait_listening()
        upstream = Mitmdump("upstream", workdir, ["--mode", f"upstream:{gate.proxy}"]).start()
        procs.append(upstream)
        upstream.wait_listening()
        env = E2E(main, other, lonely, live, proxyauth, upstream, gate, workdir)
        drive_traffic(env)
        # Let the live proxy's periodic expiry decide no-retry (authlens_no_retry_after=1).
        time.sleep(NO_RETRY_AFTER + 0.5)
    finally:
        with ThreadPoolExecutor(len(procs)) as pool:
            list(pool.map(lambda p: p.stop(), procs))
        for server in (main, other, lonely):
            server.stop()
        # All traffic is over: give the other test modules their environment back.
        if saved_ntlm_env is None:
            os.environ.pop("NTLM_USER_FILE", None)
        else:
            os.environ["NTLM_USER_FILE"] = saved_ntlm_env
    for name in ("live", "proxyauth", "upstream"):
        env.flows[name] = getattr(env, name).flows()
    env.seconds = time.monotonic() - started
    yield env


# --- helpers for the tests -----------------------------------------------------------------


def annotation(flow: mhttp.HTTPFlow) -> dict[str, Any]:
    value = flow.metadata.get("authlens")
    return value if isinstance(value, dict) else {}


def diagnosis_ids(flow: mhttp.HTTPFlow) -> list[str]:
    return [str(d.get("id")) for d in annotation(flow).get("diagnoses") or ()]


def all_ids(flows: list[mhttp.HTTPFlow]) -> set[str]:
    return {i for f in flows for i in diagnosis_ids(f)}


def severities(flow: mhttp.HTTPFlow) -> set[str]:
    return {str(d.get("severity")) for d in annotation(flow).get("diagnoses") or ()}
