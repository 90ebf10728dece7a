"""Secret hygiene, end to end: planted secrets never reach any authlens output.

Real clients send distinctive canary secrets through a real mitmdump running authlens to a
loopback server of this module: a Basic password, a Bearer JWT and an opaque Bearer token,
a session cookie, a Digest response (computed from a password authlens is told through
``authlens_credentials``), a real NTLM type-3 message (pyspnego, password also told to
authlens), a token in the query string (``?access_token=``) and an API key header. Then
every output is searched for every canary in every form it could take when an output
echoes it half-decoded: raw, URL-encoded, hex (lower and upper case), and base64
(standard and URL-safe, with and without padding, and as a substring of a longer base64
blob in each of the three byte alignments, which is how a password shows inside a Basic
token).

Outputs searched (redaction on, the default):

- flow comments and ``metadata["authlens"]`` of the flows saved with ``-w`` (rewritten at
  exit with the late diagnoses);
- mitmdump's log (stdout and stderr; ``flow_detail=0``, because at its default detail
  mitmdump's *own* dumper prints every URL with its query string: mitmproxy's behaviour,
  not authlens');
- the "Auth" content view, rendered in-process through mitmproxy's contentview API on
  every message of the saved flows;
- ``authlens analyze`` (terminal, ``--json``, ``--html``, ``--har``), ``authlens compare``
  (terminal and ``--json``), ``authlens decode`` (terminal and ``--json``) of every
  authentication header the traffic carried;
- the ``authlens_har_dump`` file, and the ``authlens.save_har`` / ``authlens.report``
  commands, called from a small script addon through mitmproxy's command manager at exit.

HAR exports: DESIGN.md §6 and :mod:`authlens.report.har` promise a redacted *whole* file
(Authorization, Proxy-Authorization, Cookie, Set-Cookie, token-like headers such as
X-API-Key, secret-named query parameters, URL passwords), not only clean annotations, so
the whole HAR files are searched.

Negative control: the same searches over ``--no-redact`` / ``authlens_redact=false``
output must find the canaries, so these tests can fail.
"""

from __future__ import annotations

import base64
import hashlib
import http.client as httpclient
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import pytest
from mitmproxy import contentviews, http
from mitmproxy.io import FlowReader
from mitmproxy.test import taddons

from .conftest import ROOT, Mitmdump, clean_env, mitmdump_command

pytestmark = pytest.mark.e2e

# --- the canaries -------------------------------------------------------------------------
# Distinctive, and with characters that URL-encoding changes ('!', '/', '+', '~', '*'),
# but none that HTML or JSON escaping changes, so the raw form is the one to look for.
BASIC_USER = "canary-basic-user"
BASIC_PASSWORD = "Cn4ry!Basic/Pw+Q7z"
OPAQUE_TOKEN = "cnryOpaque7Qx9Lm2Vb8Zt~Kp3Jw"  # a token68
JWT_KEY = "cnry-jwt-signing-key-long-enough-for-hs256"
SESSION_COOKIE = "cnrySess10nV4lue9Xq2Rt5"
QUERY_TOKEN = "cnryQueryTok3nZ8w1Ab*Y"
QUERY_TOKEN_DIGEST = "cnryQryDig3stTok7Hn4"
API_KEY = "cnryApiKey5Hj2Wq9Lx3Vn"
API_KEY_SCRIPT = "cnryApiKeyScr1pt8Mf4Ds"
LOGIN_TICKET = "cnryT1cketInL0cation5Gh"  # a server-issued secret in a redirect's Location
SET_COOKIE = "cnrySetC00kieVal7Nb3Xc"
REFRESH_TOKEN = "cnryRefreshT0kenInB0dy4Kd"  # a secret-named member of a JSON response body
PROXY_PASSWORD = "Cn4ry!Proxy/Pw+3x"
DIGEST_USER, DIGEST_PASSWORD = "canary-digest-user", "Cn4ry!Digest/Pw*5"
DIGEST_WRONG_PASSWORD = "Cn4ry!DigestWr0ng*Pw"
NTLM_DOMAIN, NTLM_USER, NTLM_PASSWORD = "CANARY", "canaryntlm", "Cn4ry!Ntlm+Pw~9"
NTLM_WRONG_PASSWORD = "Cn4ry!NtlmWr0ng~Pw"
REALM = "canary"
CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
BROWSER_HEADERS = {
    "User-Agent": CHROME_UA,
    "sec-ch-ua": '"Chromium";v="131", "Not_A Brand";v="24"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Linux"',
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Dest": "empty",
    "Accept": "application/json, text/plain, */*",
    "Accept-Language": "en-US,en;q=0.9",
}
TIMEOUT = 15


def make_jwt(exp_offset: int) -> str:
    import jwt

    now = int(time.time())
    claims = {"sub": "canary", "iat": now - 60, "exp": now + exp_offset, "scope": "read"}
    return jwt.encode(claims, JWT_KEY, algorithm="HS256")


# --- forms of a secret --------------------------------------------------------------------


def _b64_cores(data: bytes) -> list[str]:
    """The base64 characters that depend only on ``data`` when it sits inside a longer
    blob at each of the three byte alignments (the characters next to its edges mix in
    neighbouring bytes, so they are cut off)."""
    out = []
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + data).decode()
        start = -(-8 * k // 6)  # first character made of data bits only
        end = (8 * (k + len(data))) // 6  # one past the last such character
        out.append(encoded[start:end])
    return out


def forms(secret: str | bytes) -> dict[str, str]:
    """Every form a secret might take in an output, by a label for the failure message."""
    data = secret.encode() if isinstance(secret, str) else secret
    std = base64.b64encode(data).decode()
    url = base64.urlsafe_b64encode(data).decode()
    out: dict[str, str] = {
        "base64": std,
        "base64 unpadded": std.rstrip("="),
        "base64url": url,
        "base64url unpadded": url.rstrip("="),
        "hex": data.hex(),
        "HEX": data.hex().upper(),
    }
    for k, core in enumerate(_b64_cores(data)):
        out[f"base64 substring (alignment {k})"] = core
        out[f"base64url substring (alignment {k})"] = core.replace("+", "-").replace("/", "_")
    if isinstance(secret, str):
        out["raw"] = secret
        out["url-encoded"] = quote(secret, safe="")
        out["url-encoded (path)"] = quote(secret)
        out["form-encoded"] = quote_plus(secret)
    # Too short to be distinctive (never the case for the canaries here, but be safe).
    return {label: f for label, f in out.items() if len(f) >= 10}


@dataclass
class Canaries:
    named: dict[str, str | bytes] = field(default_factory=dict)

    def add(self, name: str, secret: str | bytes) -> None:
        self.named[name] = secret

    def leaks(self, text: str) -> list[str]:
        found = []
        for name, secret in self.named.items():
            for label, form in forms(secret).items():
                if form in text:
                    i = text.index(form)
                    found.append(f"{name} ({label}) …{text[max(0, i - 80) : i + 80]!r}…")
        return found


def assert_clean(canaries: Canaries, text: str, where: str) -> None:
    leaks = canaries.leaks(text)
    assert not leaks, f"secret canary in {where}:\n" + "\n".join(leaks[:20])


# --- the server ---------------------------------------------------------------------------


class CanaryHandler(BaseHTTPRequestHandler):
    """Routes (``?case=`` and any query ignored):

    /basic   Basic realm "canary"; every password is wrong (401)
    /bearer  Bearer; every token is invalid (401 invalid_token)
    /digest  Digest MD5 qop=auth; right password and ``uri`` equal to the request target
             get 200, anything else 401
    /ntlm    NTLM (pyspnego acceptor per connection)
    /api     200 with the session cookie, else a bare 401 (browser versus script)
    /account 302 to a login page whose Location carries a ticket, with a Set-Cookie
    """

    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT
    server: CanaryServer

    def setup(self) -> None:
        super().setup()
        self.ntlm: Any = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        route = urlsplit(self.path).path
        handler = {
            "/basic": self.basic,
            "/bearer": self.bearer,
            "/digest": self.digest,
            "/ntlm": self.ntlm_step,
            "/api": self.api,
            "/account": self.account,
        }.get(route)
        if handler is None:
            self.reply(404, b"not found\n")
        else:
            handler()

    def reply(
        self, status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def basic(self) -> None:
        self.reply(401, b"login required\n", (("WWW-Authenticate", f'Basic realm="{REALM}"'),))

    def bearer(self) -> None:
        challenge = 'Bearer realm="api", error="invalid_token", error_description="bad token"'
        self.reply(401, b"", (("WWW-Authenticate", challenge),))

    def digest(self) -> None:
        value = self.headers.get("Authorization") or ""
        if value.lower().startswith("digest "):
            p = parse_digest(value[7:])
            ha1 = md5(f"{p.get('username')}:{REALM}:{DIGEST_PASSWORD}")
            ha2 = md5(f"GET:{p.get('uri')}")
            expected = md5(
                f"{ha1}:{p.get('nonce')}:{p.get('nc')}:{p.get('cnonce')}:{p.get('qop')}:{ha2}"
            )
            if p.get("response") == expected and p.get("uri") == self.path:
                self.reply(200, b"digest ok\n")
                return
        nonce = secrets.token_hex(16)
        challenge = (
            f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{nonce}", opaque="o1"'
        )
        self.reply(401, b"digest required\n", (("WWW-Authenticate", challenge),))

    def ntlm_step(self) -> None:
        import spnego

        value = self.headers.get("Authorization") or ""
        if not value.startswith("NTLM "):
            self.reply(401, b"", (("WWW-Authenticate", "NTLM"),))
            return
        raw = base64.b64decode(value[5:])
        kind = int.from_bytes(raw[8:12], "little")
        if kind == 1:
            self.ntlm = spnego.server(protocol="ntlm")
            out = self.ntlm.step(raw)
            self.reply(401, b"", (("WWW-Authenticate", "NTLM " + base64.b64encode(out).decode()),))
            return
        try:
            self.ntlm.step(raw)
        except Exception:
            self.reply(401, b"", (("WWW-Authenticate", "NTLM"),))
            return
        self.reply(200, b"ntlm ok\n")

    def account(self) -> None:
        location = f"/login?return_to=/account&ticket={LOGIN_TICKET}"
        headers = (("Location", location), ("Set-Cookie", f"pre_session={SET_COOKIE}; HttpOnly"))
        self.reply(302, b"", headers)

    def api(self) -> None:
        if f"session={SESSION_COOKIE}" in (self.headers.get("Cookie") or ""):
            self.reply(200, b'{"ok": true, "refresh_token": "%s"}\n' % REFRESH_TOKEN.encode())
        else:
            self.reply(401, b'{"error": "login required"}\n')


class CanaryServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), CanaryHandler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1})
        self.thread.daemon = True

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def parse_digest(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.split(","):
        name, _, val = part.strip().partition("=")
        out[name.strip().lower()] = val.strip().strip('"')
    return out


# --- the clients --------------------------------------------------------------------------


class Client:
    """http.client through the proxy: one connection, absolute-form requests."""

    def __init__(self, proxy_port: int) -> None:
        self.conn = httpclient.HTTPConnection("127.0.0.1", proxy_port, timeout=TIMEOUT)

    def get(self, url: str, headers: dict[str, str]) -> tuple[int, httpclient.HTTPMessage]:
        self.conn.request("GET", url, headers=headers)
        r = self.conn.getresponse()
        r.read()
        return r.status, r.headers

    def close(self) -> None:
        self.conn.close()


def digest_answer(challenge: str, uri: str, password: str) -> str:
    p = parse_digest(challenge.partition(" ")[2])
    cnonce, nc = secrets.token_hex(8), "00000001"
    ha1 = md5(f"{DIGEST_USER}:{p['realm']}:{password}")
    ha2 = md5(f"GET:{uri}")
    response = md5(f"{ha1}:{p['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{DIGEST_USER}", realm="{p["realm"]}", nonce="{p["nonce"]}", '
        f'uri="{uri}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}", '
        f'response="{response}", opaque="{p["opaque"]}"'
    )


def drive(server: CanaryServer, port: int) -> dict[str, Any]:
    """All the traffic; returns what the clients sent that is only known afterwards."""
    sent: dict[str, Any] = {"digest": [], "ntlm": []}
    basic = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
    expired = make_jwt(-3600)
    sent["jwt"] = expired
    script = {"User-Agent": "python-requests/2.32.3", "Accept": "*/*"}

    c = Client(port)
    try:
        # Basic (wrong password) with an API key header.
        c.get(server.url("/basic?case=basic"), {**script, "Authorization": f"Basic {basic}",
                                                "X-API-Key": API_KEY_SCRIPT})  # fmt: skip
        # Bearer: an expired JWT, an opaque token, and a token in the query string.
        c.get(server.url("/bearer?case=jwt"), {**script, "Authorization": f"Bearer {expired}"})
        c.get(
            server.url("/bearer?case=opaque"), {**script, "Authorization": f"Bearer {OPAQUE_TOKEN}"}
        )
        proxy_basic = base64.b64encode(f"proxy-user:{PROXY_PASSWORD}".encode()).decode()
        c.get(
            server.url(f"/bearer?access_token={QUERY_TOKEN}&case=query"),
            {**script, "Proxy-Authorization": f"Basic {proxy_basic}"},
        )

        # Digest: the right password and uri (200), then a uri that leaves out the query
        # string (401 digest-mismatch, verified against the known password).
        target = f"/digest?access_token={QUERY_TOKEN_DIGEST}&case=digest-ok"
        _, h = c.get(server.url(target), script)
        answer = digest_answer(h["WWW-Authenticate"], target, DIGEST_PASSWORD)
        status, _ = c.get(server.url(target), {**script, "Authorization": answer})
        assert status == 200, "the Digest client is broken"
        sent["digest"].append(answer)
        target = f"/digest?access_token={QUERY_TOKEN_DIGEST}&case=digest-uri"
        _, h = c.get(server.url(target), script)
        answer = digest_answer(h["WWW-Authenticate"], "/digest", DIGEST_PASSWORD)
        status, _ = c.get(server.url(target), {**script, "Authorization": answer})
        assert status == 401
        sent["digest"].append(answer)
        # A wrong password with the right uri: refused, its uri (with the query) in the
        # decoded credentials.
        target = f"/digest?access_token={QUERY_TOKEN_DIGEST}&case=digest-wrong"
        _, h = c.get(server.url(target), script)
        answer = digest_answer(h["WWW-Authenticate"], target, DIGEST_WRONG_PASSWORD)
        status, _ = c.get(server.url(target), {**script, "Authorization": answer})
        assert status == 401
        sent["digest"].append(answer)
    finally:
        c.close()

    # NTLM on its own keep-alive connection each: negotiate, challenge, authenticate; once
    # with the right password (200), once with a wrong one (401, verified by authlens).
    for password, case, expected in ((NTLM_PASSWORD, "ntlm", 200),
                                     (NTLM_WRONG_PASSWORD, "ntlm-wrong", 401)):  # fmt: skip
        status, authenticate = ntlm_exchange(server.url(f"/ntlm?case={case}"), port, password)
        assert status == expected, f"the NTLM exchange {case} went wrong: {status}"
        sent["ntlm"].append(authenticate)

    # Browser versus script: the browser's session cookie gets in, the script is refused.
    c = Client(port)
    try:
        browser = {**BROWSER_HEADERS, "Cookie": f"session={SESSION_COOKIE}; theme=dark",
                   "X-API-Key": API_KEY}  # fmt: skip
        status, _ = c.get(server.url("/api/items?case=browser"), browser)
        status, _ = c.get(server.url("/api?case=browser"), browser)
        assert status == 200
        status, _ = c.get(server.url("/api?case=script"), {**script, "X-API-Key": API_KEY_SCRIPT})
        assert status == 401
        status, _ = c.get(server.url("/account?case=login"), script)
        assert status == 302
    finally:
        c.close()
    return sent


def ntlm_exchange(url: str, port: int, password: str) -> tuple[int, bytes]:
    import spnego

    ctx = spnego.client(f"{NTLM_DOMAIN}\\{NTLM_USER}", password, protocol="ntlm")
    script = {"User-Agent": "python-requests/2.32.3", "Accept": "*/*"}
    c = Client(port)
    try:
        c.get(url, script)
        negotiate = base64.b64encode(ctx.step() or b"").decode()
        _, h = c.get(url, {**script, "Authorization": f"NTLM {negotiate}"})
        challenge = base64.b64decode(h["WWW-Authenticate"].partition(" ")[2])
        authenticate = ctx.step(challenge) or b""
        token = base64.b64encode(authenticate).decode()
        status, _ = c.get(url, {**script, "Authorization": f"NTLM {token}"})
        return status, authenticate
    finally:
        c.close()


def ntlm_secrets(message: bytes) -> dict[str, bytes]:
    """The secret parts of an NTLM AUTHENTICATE message: NT response, its NTProofStr,
    LM response, encrypted session key."""

    def field_at(offset: int) -> bytes:
        length = int.from_bytes(message[offset : offset + 2], "little")
        start = int.from_bytes(message[offset + 4 : offset + 8], "little")
        return message[start : start + length]

    nt = field_at(20)
    out = {"NTLM NT response": nt, "NTLM NTProofStr": nt[:16]}
    lm = field_at(12)
    if lm.strip(b"\0"):
        out["NTLM LM response"] = lm
    key = field_at(52)
    if key:
        out["NTLM session key"] = key
    return out


# --- the run ------------------------------------------------------------------------------

HELPER_SCRIPT = '''
"""Test helper: at exit, call authlens' export commands on every flow seen."""
from mitmproxy import ctx


class CallExports:
    def __init__(self):
        self.flows = []

    def response(self, flow):
        self.flows.append(flow)

    def done(self):
        ctx.master.commands.call("authlens.save_har", self.flows, {har!r})
        ctx.master.commands.call("authlens.report", self.flows, {html!r})


addons = [CallExports()]
'''


@dataclass
class Run:
    dir: Path
    proxy: Mitmdump
    canaries: Canaries
    flows: list[http.HTTPFlow]
    har_dump: Path
    command_har: Path
    command_html: Path
    started: float


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in clean_env().items() if k != "AUTHLENS_DEBUG"}
    env["PYTHONPATH"] = str(ROOT / "addon")
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "authlens", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def read_flows(path: Path) -> list[http.HTTPFlow]:
    with path.open("rb") as fo:
        return [f for f in FlowReader(fo).stream() if isinstance(f, http.HTTPFlow)]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("canary")
    users = workdir / "ntlm_users"
    users.write_text(f"{NTLM_DOMAIN}:{NTLM_USER}:{NTLM_PASSWORD}\n")
    known = workdir / "known_credentials"
    known.write_text(
        f"{DIGEST_USER}:{DIGEST_PASSWORD}\n{NTLM_DOMAIN}\\{NTLM_USER}:{NTLM_PASSWORD}\n"
        f"{BASIC_USER}:not-the-canary-password\n"
    )
    har_dump = workdir / "har_dump.har"
    command_har, command_html = workdir / "command.har", workdir / "command.html"
    helper = workdir / "call_exports.py"
    helper.write_text(HELPER_SCRIPT.format(har=str(command_har), html=str(command_html)))

    saved_env = os.environ.get("NTLM_USER_FILE")
    os.environ["NTLM_USER_FILE"] = str(users)  # pyspnego's NTLM acceptor reads it
    server = CanaryServer()
    server.thread.start()
    proxy = Mitmdump(
        "canary",
        workdir,
        [
            "--set", f"authlens_credentials={known}",
            "--set", f"authlens_har_dump={har_dump}",
            "-s", str(helper),
        ],
    )  # fmt: skip
    try:
        proxy.start().wait_listening()
        sent = drive(server, proxy.port)
    finally:
        proxy.stop()
        server.stop()
        if saved_env is None:
            os.environ.pop("NTLM_USER_FILE", None)
        else:
            os.environ["NTLM_USER_FILE"] = saved_env

    canaries = Canaries()
    for name, value in (
        ("Basic password", BASIC_PASSWORD),
        ("Basic credentials", f"{BASIC_USER}:{BASIC_PASSWORD}"),
        ("opaque Bearer token", OPAQUE_TOKEN),
        ("JWT", sent["jwt"]),
        ("JWT signature", sent["jwt"].rsplit(".", 1)[1]),
        ("JWT signing key", JWT_KEY),
        ("session cookie", SESSION_COOKIE),
        ("query token", QUERY_TOKEN),
        ("query token (Digest request)", QUERY_TOKEN_DIGEST),
        ("API key (browser)", API_KEY),
        ("API key (script)", API_KEY_SCRIPT),
        ("ticket in a Location", LOGIN_TICKET),
        ("refresh token in a JSON body", REFRESH_TOKEN),
        ("Proxy-Authorization password", PROXY_PASSWORD),
        ("Set-Cookie value", SET_COOKIE),
        ("Digest password", DIGEST_PASSWORD),
        ("Digest wrong password", DIGEST_WRONG_PASSWORD),
        ("NTLM password", NTLM_PASSWORD),
        ("NTLM wrong password", NTLM_WRONG_PASSWORD),
    ):
        canaries.add(name, value)
    for i, answer in enumerate(sent["digest"]):
        canaries.add(f"Digest response {i}", parse_digest(answer[7:])["response"])
    for i, message in enumerate(sent["ntlm"]):
        canaries.add(f"NTLM AUTHENTICATE token {i}", base64.b64encode(message).decode())
        for name, value in ntlm_secrets(message).items():
            canaries.add(f"{name} {i}", value)
    yield Run(
        workdir,
        proxy,
        canaries,
        read_flows(proxy.flow_file),
        har_dump,
        command_har,
        command_html,
        started,
    )


# --- the tests ----------------------------------------------------------------------------


def test_traffic_was_judged(run: Run) -> None:
    """The scenarios happened and authlens judged them (else the searches prove nothing)."""
    assert run.proxy.returncode == 0, run.proxy.log()[-3000:]
    assert "internal error" not in run.proxy.log(), run.proxy.log()[-3000:]
    ids: dict[str, set[str]] = {}
    for f in run.flows:
        case = (urlsplit(f.request.path).query.rpartition("case=")[2]) or "?"
        meta = f.metadata.get("authlens") or {}
        ids.setdefault(case, set()).update(d["id"] for d in meta.get("diagnoses") or ())
    assert "credentials-rejected" in ids["basic"], ids
    assert "token-expired" in ids["jwt"], ids
    assert "invalid-token" in ids["opaque"], ids
    assert "digest-mismatch" in ids["digest-uri"], ids
    assert "credentials-rejected" in ids["digest-wrong"], ids
    assert "credentials-rejected" in ids["ntlm-wrong"], ids
    assert "missing-session-cookie" in ids["script"], ids
    assert "login-redirect" in ids["login"], ids
    # The refused type-3 and the refused Digest answer are in the metadata, decoded.
    decoded = {
        (
            f.request.path.rpartition("case=")[2],
            (f.metadata["authlens"].get("credentials") or {}).get("scheme"),
        )
        for f in run.flows
        if "authlens" in f.metadata
    }
    assert {("ntlm-wrong", "NTLM"), ("digest-wrong", "Digest")} <= decoded, decoded


def test_flow_file_annotations(run: Run) -> None:
    assert run.flows
    for f in run.flows:
        where = f"flow {f.request.method} {f.request.path[:60]}"
        assert_clean(run.canaries, f.comment or "", f"the comment of {where}")
        meta = f.metadata.get("authlens")
        if meta is not None:
            text = json.dumps(meta, ensure_ascii=False)
            assert_clean(run.canaries, text, f"metadata['authlens'] of {where}")


def test_mitmdump_log(run: Run) -> None:
    log = run.proxy.log()
    assert "authlens:" in log  # the addon logged its verdicts
    assert_clean(run.canaries, log, "mitmdump's log")


def test_auth_contentview(run: Run) -> None:
    from authlens.mitm.contentview import auth_view

    added = contentviews.registry.get("auth") is not auth_view
    if added:
        contentviews.add(auth_view)
    auth_view.redact = True
    try:
        rendered = 0
        with taddons.context() as tctx:  # mitmproxy's dispatcher reads options
            try:
                rendered = render_all(run)
            finally:
                # The test Master's log handler would outlive the context (see
                # tests/fuzz/test_fuzz_addon.py); take it off the root logger.
                tctx.master._legacy_log_events.uninstall()
        assert rendered
    finally:
        if added:
            by_name = getattr(contentviews.registry, "_by_name", {})
            by_name.pop("auth", None)


def render_all(run: Run) -> int:
    rendered = 0
    for f in run.flows:
        for message in (f.request, f.response):
            if message is None:
                continue
            result = contentviews.prettify_message(message, f, view_name="auth")
            assert result.view_name == "Auth", result.text[:1000]
            assert_clean(run.canaries, result.text, f"the Auth view of {f.request.path[:60]}")
            rendered += 1
    return rendered


def test_analyze_outputs(run: Run) -> None:
    html, har = run.dir / "analyze.html", run.dir / "analyze.har"
    done = cli(
        "analyze", str(run.proxy.flow_file), "--json", "--html", str(html), "--har", str(har)
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["flows"]
    assert_clean(run.canaries, done.stdout, "analyze --json")
    assert_clean(run.canaries, done.stderr, "analyze's stderr")
    assert_clean(run.canaries, html.read_text(), "analyze --html")
    har_text = har.read_text()
    assert json.loads(har_text)["log"]["_authlens"]["redacted"] is True
    assert_clean(run.canaries, har_text, "analyze --har")

    terminal = cli("analyze", str(run.proxy.flow_file))
    assert terminal.returncode == 0, terminal.stderr
    assert "Findings" in terminal.stdout
    assert_clean(run.canaries, terminal.stdout + terminal.stderr, "analyze (terminal)")

    # The annotated HAR read back: its annotations stand, nothing is revealed.
    again = cli("analyze", str(har), "--json")
    assert again.returncode == 0, again.stderr
    assert_clean(run.canaries, again.stdout + again.stderr, "analyze --json of the annotated HAR")


def test_compare_outputs(run: Run) -> None:
    path = str(run.proxy.flow_file)
    text = cli("compare", path, path)
    assert text.returncode == 0, text.stderr
    assert "session" in text.stdout  # the comparison found the cookie
    assert_clean(run.canaries, text.stdout + text.stderr, "compare (terminal)")
    js = cli("compare", path, path, "--json")
    assert js.returncode == 0, js.stderr
    doc = json.loads(js.stdout)
    assert any(f.get("comparison") for f in doc["flows"])
    assert_clean(run.canaries, js.stdout + js.stderr, "compare --json")


def auth_lines(flows: list[http.HTTPFlow]) -> list[str]:
    lines = []
    for f in flows:
        for name in ("Authorization", "Proxy-Authorization"):
            lines += [f"{name}: {v}" for v in f.request.headers.get_all(name)]
        if f.response is not None:
            for name in ("WWW-Authenticate", "Proxy-Authenticate"):
                lines += [f"{name}: {v}" for v in f.response.headers.get_all(name)]
    return list(dict.fromkeys(lines))


def test_decode_outputs(run: Run) -> None:
    lines = auth_lines(run.flows)
    assert any(line.startswith("Authorization: NTLM ") for line in lines)
    for extra in ((), ("--json",)):
        done = cli("decode", *extra, *lines)
        assert done.returncode == 0, done.stderr
        assert_clean(run.canaries, done.stdout + done.stderr, f"decode {' '.join(extra)}")
        piped = cli("decode", *extra, "-", stdin="\n".join(lines) + "\n")
        assert piped.returncode == 0, piped.stderr
        assert_clean(run.canaries, piped.stdout + piped.stderr, f"decode {' '.join(extra)} -")
    # (Several credentials in one run: the first is "credentials", the others
    # "more_credentials", each decoded in full.)


def test_har_dump_option(run: Run) -> None:
    text = run.har_dump.read_text()
    doc = json.loads(text)
    assert doc["log"]["_authlens"]["redacted"] is True
    assert any("_authlens" in e for e in doc["log"]["entries"])
    assert_clean(run.canaries, text, "the authlens_har_dump file")


def test_export_commands(run: Run) -> None:
    har_text = run.command_har.read_text()
    assert any("_authlens" in e for e in json.loads(har_text)["log"]["entries"])
    assert_clean(run.canaries, har_text, "authlens.save_har")
    html_text = run.command_html.read_text()
    assert "<html" in html_text.lower()
    assert_clean(run.canaries, html_text, "authlens.report")


# --- negative controls: raw output shows the canaries -----------------------------------


def test_no_redact_shows_secrets(run: Run) -> None:
    done = cli("analyze", str(run.proxy.flow_file), "--json", "--no-redact")
    assert done.returncode == 0, done.stderr
    leaked = run.canaries.leaks(done.stdout)
    assert any(leak.startswith("Basic password") for leak in leaked), leaked
    assert any(leak.startswith("opaque Bearer token") for leak in leaked), leaked
    lines = [line for line in auth_lines(run.flows) if line.startswith("Authorization: Bearer")]
    raw = cli("decode", "--no-redact", *lines)
    assert raw.returncode == 0, raw.stderr
    assert run.canaries.leaks(raw.stdout)


def test_redact_false_in_mitmdump_keeps_secrets(run: Run) -> None:
    """``authlens_redact=false`` on a replay of the capture: the metadata holds raw secrets."""
    out = run.dir / "raw.mitm"
    cmd = [
        *mitmdump_command(),
        "-n", "-r", str(run.proxy.flow_file),
        "-s", str(ROOT / "addon" / "authlens_addon.py"),
        "--set", f"confdir={run.dir / 'conf-raw'}",
        "--set", "authlens_redact=false",
        "--set", "flow_detail=0",
        "-w", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        cmd, env=clean_env(), cwd=ROOT, capture_output=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metadata = "\n".join(
        json.dumps(f.metadata.get("authlens"), ensure_ascii=False) for f in read_flows(out)
    )
    assert run.canaries.leaks(metadata)


def test_canary_module_is_fast(run: Run) -> None:
    assert time.monotonic() - run.started < 60
