"""Builders for diagnosis tests: exchanges, real credentials, and the case-file format.

Credentials come from independent implementations (pyjwt, pyspnego, httpx.DigestAuth),
so the engine is tested against what real clients send, not against authlens's own idea
of it.

Case files (``tests/cases/<diagnosis-id>_<n>.json``) hold::

    {"description": "...",
     "config": {"no_retry_after": 30, "known_credentials": {"alice": "pw"}},  # optional
     "finish": true,                                   # call finish() at the end (default)
     "exchanges": [
       {"id": "f1",                                    # default "f<n>"
        "request": {"method": "GET", "url": "https://h/", "http_version": "HTTP/1.1",
                    "headers": [["Name", VALUE], ...], "body": "text"},
        "response": {"status": 401, "reason": "", "http_version": "HTTP/1.1",
                     "headers": [[...]], "body": "text", "generated_by_proxy": null},
        "client": {"id": "c1", "peer": "192.0.2.10:50000", "tls": null},
        "server": {"id": "s1"},
        "timestamp_start": 1700000000.0, "timestamp_end": ...,
        "source": "live", "mode": "regular", "sanitized": [], "upstream_proxy": null,
        "error": null,                                  # mitmproxy's error text, if any
        "expect": ["missing-credentials"],             # exactly these IDs, final state
        "severity": {"missing-credentials": "info"},   # optional
        "marker": ":key:"}]}                           # optional

A header VALUE is a string or a generator object: ``{"$basic": [user, password,
encoding?]}``, ``{"$jwt": {claims}}`` (a Bearer JWT signed with pyjwt),
``{"$digest": {"user", "password", "challenge", "override": {...}}}`` (httpx.DigestAuth
answering ``challenge`` for this request, then parameters overridden), and
``{"$ntlm": {"conversation": "a", "step": 1|2|3, "user", "password", "scheme",
"bindings": true}}`` (a pyspnego NTLM client/server pair per conversation: steps 1 and 3
are the client's messages, step 2 the server's CHALLENGE).
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authlens.diagnose import Analyzer, AnalyzerConfig, Verdict
from authlens.model import Connection, Exchange, Headers, Request, Response

CASES = Path(__file__).resolve().parent.parent / "cases"
T0 = 1_700_000_000.0
NTLM_PASSWORD = "Passw0rd!"

# DESIGN.md §3, exactly.
METADATA_KEYS = {
    "version",
    "client",
    "refused_by",
    "challenges",
    "credentials",
    "diagnoses",
    "comparison",
}
DIAGNOSIS_KEYS = {
    "id",
    "severity",
    "title",
    "explanation",
    "fix",
    "evidence",
    "confidence",
    "references",
}
CLIENT_KEYS = {"kind", "name", "evidence"}
REFUSED_KEYS = {"kind", "name", "evidence"}
CREDENTIALS_KEYS = {"field", "scheme", "summary"}


def http_date(seconds: float) -> str:
    from email.utils import formatdate

    return formatdate(seconds, usegmt=True)


# -- credentials from independent implementations ---------------------------------------------


def basic(user: str, password: str, encoding: str = "utf-8") -> str:
    raw = f"{user}:{password}".encode(encoding)
    return "Basic " + base64.b64encode(raw).decode("ascii")


def jwt_bearer(**claims: Any) -> str:
    import jwt

    return "Bearer " + jwt.encode(
        claims, "test-key-not-secret-at-all-0123456789", algorithm="HS256"
    )


def digest_header(
    user: str,
    password: str,
    challenge: str,
    method: str = "GET",
    url: str = "https://h.example/",
    override: dict[str, str] | None = None,
) -> str:
    """What httpx.DigestAuth sends for ``challenge``, with parameters overridden."""
    import httpx

    auth = httpx.DigestAuth(user, password)
    flow = auth.sync_auth_flow(httpx.Request(method, url))
    first = next(flow)
    answered = flow.send(
        httpx.Response(401, headers={"WWW-Authenticate": challenge}, request=first)
    )
    value = answered.headers["Authorization"]
    for name, new in (override or {}).items():
        quoted = name not in ("algorithm", "qop", "nc")
        rendered = f'{name}="{new}"' if quoted else f"{name}={new}"
        pattern = re.compile(rf'\b{re.escape(name)}=("[^"]*"|[^,\s]*)')
        if pattern.search(value):
            value = pattern.sub(rendered.replace("\\", "\\\\"), value, count=1)
        else:
            value += f", {rendered}"
    return value


class NtlmPair:
    """A pyspnego NTLM client and server: the three real handshake messages."""

    _user_file: str | None = None

    def __init__(
        self, user: str = "CORP\\alice", password: str = NTLM_PASSWORD, *, bindings: bool = False
    ) -> None:
        import spnego
        from spnego.channel_bindings import GssChannelBindings

        if NtlmPair._user_file is None:
            folder = tempfile.mkdtemp(prefix="authlens-ntlm-")
            path = os.path.join(folder, "users")
            Path(path).write_text(f"CORP:alice:{NTLM_PASSWORD}\n")
            NtlmPair._user_file = path
        os.environ["NTLM_USER_FILE"] = NtlmPair._user_file
        cb = (
            GssChannelBindings(application_data=b"tls-server-end-point:" + b"\x5a" * 32)
            if bindings
            else None
        )
        self.client = spnego.client(
            user, password, hostname="srv", protocol="ntlm", channel_bindings=cb
        )
        self.server = spnego.server(protocol="ntlm")
        self.type1 = self.client.step()
        self.type2 = self.server.step(self.type1)
        self.type3 = self.client.step(self.type2)

    def token(self, step: int) -> str:
        raw = {1: self.type1, 2: self.type2, 3: self.type3}[step]
        return base64.b64encode(raw).decode("ascii")


# -- exchanges ------------------------------------------------------------------------------------


def exchange(
    url: str = "https://h.example/",
    *,
    id: str = "f1",
    method: str = "GET",
    headers: Iterable[tuple[str, str]] = (),
    status: int | None = 401,
    response_headers: Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
    request_body: bytes | None = None,
    http_version: str = "HTTP/1.1",
    generated_by_proxy: bool | None = False,
    client: Connection | None = None,
    server: Connection | None = None,
    t: float = T0,
    source: str = "live",
    sanitized: tuple[str, ...] = (),
    upstream_proxy: str | None = None,
    mode: str | None = "regular",
) -> Exchange:
    request = Request(method, url, http_version, Headers.of(headers), request_body)
    response = (
        Response(
            status, "", http_version, Headers.of(response_headers), body, None, generated_by_proxy
        )
        if status is not None
        else None
    )
    return Exchange(
        id=id,
        request=request,
        response=response,
        client=client or Connection(id="c1", tls=url.startswith("https"), peer="192.0.2.10:50000"),
        server=server or Connection(id="s1"),
        timestamp_start=t,
        timestamp_end=t + 0.05,
        source=source,
        mode=mode,
        sanitized=sanitized,
        upstream_proxy=upstream_proxy,
    )


def ids(verdict: Verdict | None) -> list[str]:
    if verdict is None:
        return []
    return [d["id"] for d in verdict.metadata["diagnoses"]]


def latest(verdicts: Iterable[Verdict]) -> dict[str, Verdict]:
    """The last verdict returned for each exchange ID."""
    out: dict[str, Verdict] = {}
    for verdict in verdicts:
        out[verdict.exchange_id] = verdict
    return out


def check_metadata(metadata: dict[str, Any]) -> None:
    """Assert the DESIGN.md §3 shape, exactly, and that it serializes."""
    assert set(metadata) == METADATA_KEYS
    assert metadata["version"] == 1
    assert set(metadata["client"]) == CLIENT_KEYS
    assert metadata["client"]["kind"] in ("browser", "automated", "unknown")
    assert set(metadata["refused_by"]) == REFUSED_KEYS
    assert metadata["refused_by"]["kind"] in (
        "origin",
        "upstream-proxy",
        "mitmproxy",
        "cdn-waf",
        "unknown",
    )
    assert isinstance(metadata["challenges"], list)
    for challenge in metadata["challenges"]:
        assert {"field", "scheme", "params", "token68", "decoded"} <= set(challenge)
    if metadata["credentials"] is not None:
        assert set(metadata["credentials"]) == CREDENTIALS_KEYS
    comparison = metadata["comparison"]
    assert comparison is None or {"baseline", "differences"} <= set(comparison)
    for diagnosis in metadata["diagnoses"]:
        assert set(diagnosis) == DIAGNOSIS_KEYS
        assert diagnosis["severity"] in ("error", "warning", "info")
        assert 0.0 <= diagnosis["confidence"] <= 1.0
        assert all(isinstance(e, str) for e in diagnosis["evidence"])
        assert all(isinstance(r, str) for r in diagnosis["references"])
    json.dumps(metadata, allow_nan=False)


# -- case files -------------------------------------------------------------------------------------


@dataclass
class Case:
    path: Path
    description: str
    config: AnalyzerConfig
    finish: bool
    exchanges: list[Exchange]
    expect: dict[str, list[str]]
    severity: dict[str, dict[str, str]] = field(default_factory=dict)
    marker: dict[str, str] = field(default_factory=dict)

    @property
    def diagnosis_id(self) -> str:
        return self.path.stem.rsplit("_", 1)[0]


class _Generators:
    def __init__(self) -> None:
        self.ntlm: dict[str, NtlmPair] = {}

    def value(self, raw: Any, request: dict[str, Any]) -> str:
        if isinstance(raw, str):
            return raw
        if not isinstance(raw, dict) or len(raw) != 1:
            raise ValueError(f"bad header value {raw!r}")
        ((kind, spec),) = raw.items()
        if kind == "$basic":
            return basic(*spec)
        if kind == "$jwt":
            return jwt_bearer(**spec)
        if kind == "$digest":
            return digest_header(
                spec["user"],
                spec["password"],
                spec["challenge"],
                request.get("method", "GET"),
                spec.get("url", request["url"]),
                spec.get("override"),
            )
        if kind == "$ntlm":
            name = spec.get("conversation", "a")
            if name not in self.ntlm:
                self.ntlm[name] = NtlmPair(
                    spec.get("user", "CORP\\alice"),
                    spec.get("password", NTLM_PASSWORD),
                    bindings=spec.get("bindings", False),
                )
            return f"{spec.get('scheme', 'NTLM')} {self.ntlm[name].token(spec['step'])}"
        raise ValueError(f"unknown generator {kind}")


def load_case(path: Path) -> Case:
    data = json.loads(path.read_text(encoding="utf-8"))
    generators = _Generators()
    config_data = data.get("config", {})
    config = AnalyzerConfig(
        max_tracked=config_data.get("max_tracked", 10_000),
        no_retry_after=config_data.get("no_retry_after", 30.0),
        known_credentials=config_data.get("known_credentials", {}),
    )
    exchanges: list[Exchange] = []
    expect: dict[str, list[str]] = {}
    severity: dict[str, dict[str, str]] = {}
    marker: dict[str, str] = {}
    for n, item in enumerate(data["exchanges"], start=1):
        exchange_id = item.get("id", f"f{n}")
        req = item["request"]
        headers = [(k, generators.value(v, req)) for k, v in req.get("headers", [])]
        body = req.get("body")
        request = Request(
            req.get("method", "GET"),
            req["url"],
            req.get("http_version", "HTTP/1.1"),
            Headers.of(headers),
            body.encode("utf-8") if body is not None else None,
        )
        response = None
        if item.get("response") is not None:
            resp = item["response"]
            resp_headers = [(k, generators.value(v, req)) for k, v in resp.get("headers", [])]
            resp_body = resp.get("body")
            response = Response(
                resp["status"],
                resp.get("reason", ""),
                resp.get("http_version", req.get("http_version", "HTTP/1.1")),
                Headers.of(resp_headers),
                resp_body.encode("utf-8") if resp_body is not None else None,
                None,
                resp.get("generated_by_proxy", False),
            )
        client = item.get("client", {})
        server = item.get("server", {})
        start = item.get("timestamp_start", T0 + n)
        exchanges.append(
            Exchange(
                id=exchange_id,
                request=request,
                response=response,
                error=item.get("error"),
                client=Connection(
                    id=client.get("id", "c1"),
                    tls=client.get("tls", req["url"].startswith("https")),
                    peer=client.get("peer", "192.0.2.10:50000"),
                ),
                server=Connection(id=server.get("id", "s1")),
                timestamp_start=start,
                timestamp_end=item.get(
                    "timestamp_end", start + 0.05 if start is not None else None
                ),
                source=item.get("source", "live"),
                mode=item.get("mode", "regular"),
                sanitized=tuple(item.get("sanitized", ())),
                upstream_proxy=item.get("upstream_proxy"),
            )
        )
        expect[exchange_id] = list(item.get("expect", []))
        if "severity" in item:
            severity[exchange_id] = item["severity"]
        if "marker" in item:
            marker[exchange_id] = item["marker"]
    return Case(
        path,
        data.get("description", ""),
        config,
        data.get("finish", True),
        exchanges,
        expect,
        severity,
        marker,
    )


def run(
    exchanges: Iterable[Exchange], config: AnalyzerConfig | None = None, finish: bool = True
) -> dict[str, Verdict]:
    analyzer = Analyzer(config)
    verdicts: list[Verdict] = []
    for item in exchanges:
        verdicts += analyzer.observe(item)
    if finish:
        verdicts += analyzer.finish()
    return latest(verdicts)


def all_cases() -> list[Path]:
    return sorted(CASES.glob("*.json"))


# A browser's and a script's request fields, for the browser-versus-script tests.
CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CHROME = (
    ("User-Agent", CHROME_UA),
    ("sec-ch-ua", '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Linux"'),
    ("Accept", "application/json"),
    ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Dest", "empty"),
)
SCRIPT = (("User-Agent", "python-requests/2.32.3"), ("Accept", "*/*"))
COOKIE_VALUE = "q7Zr2LmN8xPw4KcT9vBd"
SESSION = ("Cookie", f"sessionid={COOKIE_VALUE}")
