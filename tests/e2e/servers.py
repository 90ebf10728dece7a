"""Loopback origin servers for the end-to-end tests: real Basic, Digest, Bearer and NTLM.

Stdlib ``http.server`` on ``127.0.0.x`` port 0, one thread per connection, HTTP/1.1
keep-alive (NTLM needs it). Every route is a small, honest server behaviour a real site
shows; the tests send real clients through a real mitmdump to them. Each request may carry
``?case=NAME``, ignored here, so the tests can find a scenario's flows.

Routes:
  /basic             Basic realm "e2e" (alice / wonderland)
  /lonely            Basic realm "lonely": a protection space no other scenario answers
  /redirect          Basic as above, then 302 to ``redirect_target`` (another origin)
  /digest-md5        Digest qop=auth, MD5          (alice / wonderland)
  /digest-sha256     Digest qop=auth, SHA-256
  /digest-stale      Digest MD5; the first correct answer gets ``stale=true`` and a new nonce
  /bearer            Bearer HS256 JWTs: invalid_token (bad signature, expired) or 200
  /bearer-admin      as /bearer, but needs scope "admin": 403 insufficient_scope
  /ntlm              NTLM (pyspnego acceptor) on one keep-alive connection
  /ntlm-close        NTLM, but the type-2 answer carries ``Connection: close``
  /iis               IIS 401.2 error page, ``Server: Microsoft-IIS/10.0``
  /nochallenge       401 without WWW-Authenticate
  /cors-page         an HTML page whose script calls ``cors_target`` with Authorization
  /cors-api          answers the CORS preflight (OPTIONS) with 401, as a misconfigured API
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlsplit

import jwt
import spnego

BASIC_USER, BASIC_PASSWORD = "alice", "wonderland"
NTLM_DOMAIN, NTLM_USER, NTLM_PASSWORD = "E2E", "ntlmuser", "NtlmPass1"
JWT_KEY = "e2e-signing-key-that-is-long-enough-for-hs256"
REALM = "e2e"
IIS_401_2 = (
    b"<!DOCTYPE html><html><head><title>401 - Unauthorized: Access is denied due to invalid"
    b' credentials.</title></head><body><div id="header"><h1>Server Error</h1></div>'
    b'<div id="content"><fieldset><h2>401 - Unauthorized: Access is denied due to invalid'
    b" credentials.</h2><h3>You do not have permission to view this directory or page using"
    b" the credentials that you supplied.</h3></fieldset></div>"
    b"<p>HTTP Error 401.2 - Unauthorized</p></body></html>"
)
SOCKET_TIMEOUT = 15  # seconds a kept-alive connection may idle before the server drops it


def make_jwt(*, exp_offset: int = 3600, scope: str = "read", key: str = JWT_KEY) -> str:
    now = int(time.time())
    claims = {"sub": "alice", "iat": now - 60, "exp": now + exp_offset, "scope": scope}
    return jwt.encode(claims, key, algorithm="HS256")


def ntlm_user_file(path: str) -> str:
    """Write pyspnego's NTLM acceptor credential store (``DOMAIN:user:password``)."""
    with open(path, "w", encoding="utf-8") as fo:
        fo.write(f"{NTLM_DOMAIN}:{NTLM_USER}:{NTLM_PASSWORD}\n")
    return path


class _Nonces:
    """Digest nonces the server issued, and which of them it will call stale once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.issued: set[str] = set()
        self.stale_once: set[str] = set()

    def new(self, *, stale_once: bool = False) -> str:
        nonce = secrets.token_hex(16)
        with self.lock:
            self.issued.add(nonce)
            if stale_once:
                self.stale_once.add(nonce)
        return nonce

    def consume_stale(self, nonce: str) -> bool:
        with self.lock:
            if nonce in self.stale_once:
                self.stale_once.discard(nonce)
                return True
            return False


class AuthHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    server: AuthServer
    routes: ClassVar[dict[str, str]] = {
        "/basic": "basic",
        "/lonely": "lonely",
        "/redirect": "redirect",
        "/digest-md5": "digest_md5",
        "/digest-sha256": "digest_sha256",
        "/digest-stale": "digest_stale",
        "/bearer": "bearer",
        "/bearer-admin": "bearer_admin",
        "/ntlm": "ntlm",
        "/ntlm-close": "ntlm_close",
        "/iis": "iis",
        "/nochallenge": "nochallenge",
        "/cors-page": "cors_page",
        "/cors-api": "cors_api",
    }

    def setup(self) -> None:
        super().setup()
        self.ntlm: Any = None  # the NTLM acceptor of *this connection*
        self.server_header = "authlens-e2e/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows failures, not access logs

    def version_string(self) -> str:
        return self.server_header

    # --- plumbing -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        path = urlsplit(self.path).path
        name = self.routes.get(path)
        if name is None:
            self.reply(404, b"not found\n")
            return
        handler: Callable[[], None] = getattr(self, "route_" + name)
        handler()

    def reply(
        self,
        status: int,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        *,
        close: bool = False,
        content_type: str = "text/plain",
    ) -> None:
        self.send_response(status)
        for name, value in headers or ():
            self.send_header(name, value)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def authorization(self) -> tuple[str, str]:
        value = self.headers.get("Authorization") or ""
        scheme, _, rest = value.partition(" ")
        return scheme.lower(), rest.strip()

    # --- Basic ------------------------------------------------------------------------------

    def basic_ok(self) -> bool:
        scheme, token = self.authorization()
        if scheme != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token).decode().partition(":")
        except Exception:
            return False
        return (user, password) == (BASIC_USER, BASIC_PASSWORD)

    def basic_refuse(self) -> None:
        self.reply(401, b"login required\n", [("WWW-Authenticate", f'Basic realm="{REALM}"')])

    def route_basic(self) -> None:
        if self.basic_ok():
            self.reply(200, b"hello alice\n")
        else:
            self.basic_refuse()

    def route_lonely(self) -> None:
        self.reply(401, b"login required\n", [("WWW-Authenticate", 'Basic realm="lonely"')])

    def route_redirect(self) -> None:
        if not self.basic_ok():
            self.basic_refuse()
            return
        self.reply(302, b"", [("Location", self.server.redirect_target)])

    # --- Digest -----------------------------------------------------------------------------

    def route_digest_md5(self) -> None:
        self.digest("MD5")

    def route_digest_sha256(self) -> None:
        self.digest("SHA-256")

    def route_digest_stale(self) -> None:
        self.digest("MD5", stale_first=True)

    def digest_challenge(self, algorithm: str, *, stale: bool, stale_once: bool) -> None:
        nonce = self.server.nonces.new(stale_once=stale_once)
        value = (
            f'Digest realm="{REALM}", qop="auth", algorithm={algorithm}, '
            f'nonce="{nonce}", opaque="e2e-opaque"'
        )
        if stale:
            value += ", stale=true"
        self.reply(401, b"digest required\n", [("WWW-Authenticate", value)])

    def digest(self, algorithm: str, *, stale_first: bool = False) -> None:
        scheme, rest = self.authorization()
        if scheme != "digest":
            self.digest_challenge(algorithm, stale=False, stale_once=stale_first)
            return
        params = _parse_digest(rest)
        nonce = params.get("nonce", "")
        if nonce not in self.server.nonces.issued:
            self.digest_challenge(algorithm, stale=False, stale_once=stale_first)
            return
        h = _hash(algorithm)
        ha1 = h(f"{BASIC_USER}:{REALM}:{BASIC_PASSWORD}")
        ha2 = h(f"{self.command}:{params.get('uri', '')}")
        expected = h(
            f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:"
            f"{params.get('qop', '')}:{ha2}"
        )
        if params.get("username") != BASIC_USER or params.get("response") != expected:
            self.digest_challenge(algorithm, stale=False, stale_once=False)
            return
        if self.server.nonces.consume_stale(nonce):
            # Correct answer, but the server has retired the nonce: RFC 7616 §3.3 stale.
            self.digest_challenge(algorithm, stale=True, stale_once=False)
            return
        self.reply(200, b"digest ok\n")

    # --- Bearer -----------------------------------------------------------------------------

    def route_bearer(self) -> None:
        self.bearer(None)

    def route_bearer_admin(self) -> None:
        self.bearer("admin")

    def bearer(self, needed_scope: str | None) -> None:
        scheme, token = self.authorization()
        if scheme != "bearer":
            self.reply(401, b"", [("WWW-Authenticate", 'Bearer realm="api"')])
            return
        try:
            claims = jwt.decode(token, JWT_KEY, algorithms=["HS256"])
        except jwt.ExpiredSignatureError:
            self.reply(
                401,
                b"",
                [("WWW-Authenticate", _bearer_error("invalid_token", "The access token expired"))],
            )
            return
        except jwt.InvalidTokenError:
            self.reply(
                401,
                b"",
                [
                    (
                        "WWW-Authenticate",
                        _bearer_error("invalid_token", "The access token is invalid"),
                    )
                ],
            )
            return
        if needed_scope and needed_scope not in str(claims.get("scope", "")).split():
            challenge = _bearer_error("insufficient_scope", "Needs the admin scope")
            self.reply(403, b"", [("WWW-Authenticate", challenge + f', scope="{needed_scope}"')])
            return
        self.reply(200, b"bearer ok\n", content_type="application/json")

    # --- NTLM -------------------------------------------------------------------------------

    def route_ntlm(self) -> None:
        self.ntlm_step(close_after_type2=False)

    def route_ntlm_close(self) -> None:
        self.ntlm_step(close_after_type2=True)

    def ntlm_step(self, *, close_after_type2: bool) -> None:
        scheme, token = self.authorization()
        if scheme != "ntlm" or not token:
            self.ntlm = None
            self.reply(401, b"", [("WWW-Authenticate", "NTLM")])
            return
        raw = base64.b64decode(token)
        message_type = int.from_bytes(raw[8:12], "little") if len(raw) >= 12 else 0
        if message_type == 1:
            self.ntlm = spnego.server(protocol="ntlm")
            out = self.ntlm.step(raw)
            self.reply(
                401,
                b"",
                [("WWW-Authenticate", "NTLM " + base64.b64encode(out).decode())],
                close=close_after_type2,
            )
            return
        if message_type == 3 and self.ntlm is not None:
            try:
                self.ntlm.step(raw)
            except Exception:
                self.ntlm = None
                self.reply(401, b"", [("WWW-Authenticate", "NTLM")])
                return
            self.reply(200, b"ntlm ok\n")
            return
        # A type-3 on a connection that never saw type 1/2: the handshake state is gone.
        self.ntlm = None
        self.reply(401, b"", [("WWW-Authenticate", "NTLM")])

    # --- odd servers ------------------------------------------------------------------------

    def route_iis(self) -> None:
        self.server_header = "Microsoft-IIS/10.0"
        self.reply(
            401,
            IIS_401_2,
            [
                ("WWW-Authenticate", "Negotiate"),
                ("WWW-Authenticate", "NTLM"),
                ("X-Powered-By", "ASP.NET"),
            ],
            content_type="text/html",
        )
        self.server_header = "authlens-e2e/1.0"

    def route_nochallenge(self) -> None:
        self.reply(401, b"unauthorized\n")

    # --- CORS -------------------------------------------------------------------------------

    def route_cors_page(self) -> None:
        target = self.server.cors_target
        page = f"""<!doctype html><html><head><title>loading</title></head><body>
<script>
fetch({target!r}, {{headers: {{"Authorization": "Bearer e2e-token"}}}})
  .then(r => {{ document.title = "done " + r.status; }})
  .catch(e => {{ document.title = "done blocked"; }});
</script></body></html>"""
        self.reply(200, page.encode(), content_type="text/html")

    def route_cors_api(self) -> None:
        # The classic mistake: authentication demanded on the preflight too.
        self.reply(401, b"", [("WWW-Authenticate", 'Bearer realm="api"')])


class AuthServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer on ``host`` port 0 in a daemon thread; stop with :meth:`stop`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), AuthHandler)
        self.nonces = _Nonces()
        self.redirect_target = ""
        self.cors_target = ""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, case: str | None = None) -> str:
        query = f"?case={case}" if case else ""
        return f"http://{self.host}:{self.port}{path}{query}"

    def start(self) -> AuthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


def _bearer_error(code: str, description: str) -> str:
    return f'Bearer realm="api", error="{code}", error_description="{description}"'


def _hash(algorithm: str) -> Callable[[str], str]:
    name = {"MD5": "md5", "SHA-256": "sha256"}[algorithm]
    return lambda text: hashlib.new(name, text.encode()).hexdigest()


def _parse_digest(value: str) -> dict[str, str]:
    """Just enough Digest parsing for the server side (the thing under test is authlens)."""
    out: dict[str, str] = {}
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " ,":
            i += 1
        eq = value.find("=", i)
        if eq < 0:
            break
        key = value[i:eq].strip().lower()
        i = eq + 1
        if i < n and value[i] == '"':
            end = value.find('"', i + 1)
            end = n if end < 0 else end
            out[key] = value[i + 1 : end]
            i = end + 1
        else:
            end = value.find(",", i)
            end = n if end < 0 else end
            out[key] = value[i:end].strip()
            i = end
    return out


def start_servers(ntlm_users_path: str) -> tuple[AuthServer, AuthServer, AuthServer]:
    """The main origin on 127.0.0.1, a second origin on 127.0.0.2 (redirect, CORS) and a
    third on 127.0.0.3 that only the no-retry scenario talks to: Basic credentials name no
    realm, so any later Basic request to the same origin could count as the retry."""
    # pyspnego's NTLM acceptor reads its credential store from this variable; the caller
    # restores the environment when the servers stop (see conftest).
    os.environ["NTLM_USER_FILE"] = ntlm_user_file(ntlm_users_path)
    main = AuthServer("127.0.0.1").start()
    other = AuthServer("127.0.0.2").start()
    lonely = AuthServer("127.0.0.3").start()
    main.redirect_target = other.url("/basic", "redirect")
    main.cors_target = other.url("/cors-api", "chromium")
    return main, other, lonely
