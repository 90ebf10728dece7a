"""The fix as code: curl, python-requests and httpx that send what the browser sent.

For the refused request, with the browser's decisive differences applied (or all
replayable ones), write code a user can paste. Secrets never appear inline: cookie values,
credentials, anti-CSRF tokens and anything secret-looking become environment variables
(``$AUTHLENS_COOKIE_SESSIONID`` in the shell, ``os.environ["AUTHLENS_COOKIE_SESSIONID"]``
in Python), and :attr:`Snippets.env` says what to put in each, by the value's fingerprint.
A secret the automated request already carried is a placeholder too: a snippet is meant
to be shared.

Shell words are quoted with :func:`shlex.quote` and joined with ``"${VAR}"`` pieces, so
any value survives; Python literals use :func:`repr`. The ideas (``--compressed`` for
Accept-Encoding, dropping Host and Content-Length, ``-X`` only when needed) follow
mitmproxy's own export addon (``mitmproxy.addons.export.curl_command``), which the pure
core cannot import.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlens.bisect import ReplayRequest, apply_differences
from authlens.compare import (
    CSRF_FIELD_NAME,
    CSRF_NAME,
    SECRET_FIELD_NAME,
    SECRET_HEADER_NAME,
    Difference,
    parse_cookies,
)
from authlens.model import Exchange
from authlens.secret import Secret, fingerprint

ENV_PREFIX = "AUTHLENS_"
# Left to the tool: curl and the Python libraries set these themselves. Accept-Encoding
# becomes curl's --compressed (as mitmproxy's export does) and is left to requests/httpx,
# which decode only the encodings they support.
_DROP = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "proxy-connection",
        "keep-alive",
        "transfer-encoding",
        "accept-encoding",
    }
)
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})
_TIMEOUT = 30


@dataclass(frozen=True, slots=True)
class EnvRef:
    """A placeholder for a secret: the variable's name."""

    name: str


Piece = str | EnvRef


@dataclass(frozen=True, slots=True)
class Snippets:
    """The three programs and the environment variables they read."""

    curl: str
    requests: str
    httpx: str
    env: dict[str, str] = field(default_factory=dict)  # variable -> what to put in it
    # variable -> the captured value, as a Secret (prints as its fingerprint)
    secrets: Mapping[str, Secret] = field(default_factory=dict, repr=False)

    def environment(self) -> dict[str, str]:
        """The captured values for the variables, revealed: only for running the code
        here and now (tests, a local proof), never for a report."""
        return {name: value.reveal_text() for name, value in self.secrets.items()}

    def to_json(self) -> dict[str, object]:
        return {
            "curl": self.curl,
            "python-requests": self.requests,
            "httpx": self.httpx,
            "env": dict(self.env),
        }


@dataclass
class _Template:
    """The request with secrets cut out: every value is a list of pieces."""

    method: str
    url: list[Piece]
    headers: list[tuple[str, list[Piece]]]
    cookies: list[tuple[str, list[Piece]]]
    body: list[Piece] | None
    compressed: bool
    env: dict[str, str]
    secrets: dict[str, Secret]


def snippets(
    refused: Exchange | ReplayRequest,
    differences: Iterable[Difference] = (),
    *,
    prefix: str = ENV_PREFIX,
) -> Snippets:
    """Code for ``refused`` with ``differences`` (the decisive ones, usually) applied."""
    base = refused if isinstance(refused, ReplayRequest) else ReplayRequest.from_exchange(refused)
    request = apply_differences(base, differences)
    template = _Cutter(prefix).template(request)
    return Snippets(
        _curl(template),
        _python(template, "requests"),
        _python(template, "httpx"),
        template.env,
        template.secrets,
    )


# --- cutting the secrets out -----------------------------------------------------------------


def env_name(prefix: str, *parts: str) -> str:
    """``AUTHLENS_COOKIE_SESSIONID``: upper case, non-alphanumerics folded to ``_``."""
    text = "_".join(parts)
    return prefix + (re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper() or "VALUE")


def _secret_field(key: str) -> bool:
    return bool(CSRF_FIELD_NAME.match(key) or SECRET_FIELD_NAME.match(key))


class _Cutter:
    """Turns a request into a template, each secret replaced by an environment variable."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.env: dict[str, str] = {}
        self.secrets: dict[str, Secret] = {}

    def secret(self, value: str, what: str, *name: str) -> EnvRef:
        var = env_name(self.prefix, *name)
        self.env.setdefault(var, f"{what} (captured value {fingerprint(value)})")
        self.secrets.setdefault(var, Secret(value))
        return EnvRef(var)

    def template(self, request: ReplayRequest) -> _Template:
        headers: list[tuple[str, list[Piece]]] = []
        cookies: list[tuple[str, list[Piece]]] = []
        compressed = False
        for name, value in request.headers:
            lower = name.lower()
            if lower == "accept-encoding":
                compressed = True
            if lower in _DROP:
                continue
            if lower == "cookie":
                for cname, cvalue in parse_cookies([value]).items():
                    ref = self.secret(cvalue, f"the value of cookie {cname!r}", "COOKIE", cname)
                    cookies.append((cname, [ref]))
            elif lower in _CREDENTIAL_HEADERS:
                scheme, _, rest = value.partition(" ")
                if rest:
                    what = f"the {name} credentials after {scheme + ' '!r}"
                    headers.append((name, [scheme + " ", self.secret(rest, what, name)]))
                else:
                    headers.append((name, [self.secret(value, f"the value of {name}", name)]))
            elif CSRF_NAME.search(lower) or SECRET_HEADER_NAME.search(lower):
                ref = self.secret(value, f"the value of header {name!r}", "HEADER", name)
                headers.append((name, [ref]))
            else:
                headers.append((name, [value]))
        return _Template(
            request.method.upper(),
            self._url(request.url),
            headers,
            cookies,
            self._body(request),
            compressed,
            self.env,
            self.secrets,
        )

    def _url(self, url: str) -> list[Piece]:
        parts = urlsplit(url)
        pieces: list[Piece] = [urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))]
        for i, (key, value) in enumerate(parse_qsl(parts.query, keep_blank_values=True)):
            pieces.append(("?" if i == 0 else "&") + urlencode([(key, "")]))
            if _secret_field(key):
                pieces.append(self.secret(value, f"query parameter {key!r}", "QUERY", key))
            elif value:
                pieces.append(urlencode([("", value)])[1:])
        return pieces

    def _body(self, request: ReplayRequest) -> list[Piece] | None:
        if not request.body:
            return None
        text = request.body.decode("utf-8", "replace")
        ctype = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/x-www-form-urlencoded":
            pieces: list[Piece] = []
            for i, (key, value) in enumerate(parse_qsl(text, keep_blank_values=True)):
                pieces.append(("&" if i else "") + urlencode([(key, "")]))
                if _secret_field(key):
                    pieces.append(self.secret(value, f"form field {key!r}", "FIELD", key))
                else:
                    pieces.append(urlencode([("", value)])[1:])
            return pieces
        if ctype == "application/json" or ctype.endswith("+json"):
            try:
                doc = json.loads(text)
            except ValueError:
                return [text]
            if isinstance(doc, dict):
                return self._json(doc)
        return [text]

    def _json(self, doc: dict[str, object]) -> list[Piece]:
        # Secret string fields become markers in the dump, then placeholders. The marker is
        # plain ASCII (json.dumps would escape control characters) and absent from the doc.
        plain = json.dumps(doc)
        marker = "AUTHLENS" + secrets.token_hex(8)
        while marker in plain:  # pragma: no cover - 64 random bits
            marker = "AUTHLENS" + secrets.token_hex(8)
        refs: list[EnvRef] = []
        for key, value in doc.items():
            if isinstance(value, str) and _secret_field(key):
                refs.append(self.secret(value, f"JSON field {key!r}", "FIELD", key))
                doc[key] = f"{marker}{len(refs) - 1}{marker}"
        pieces: list[Piece] = []
        for i, chunk in enumerate(json.dumps(doc).split(marker)):
            if i % 2 == 1:
                # The marker sat inside a JSON string: its quotes stay, the value goes in.
                # Known limit: a secret holding a quote or backslash needs JSON escaping.
                pieces.append(refs[int(chunk)])
            elif chunk:
                pieces.append(chunk)
        return pieces


# --- curl ---------------------------------------------------------------------------------------


def _merged(pieces: Sequence[Piece]) -> list[Piece]:
    """Adjacent literal pieces joined, so each is quoted once."""
    out: list[Piece] = []
    for piece in pieces:
        last = out[-1] if out else None
        if isinstance(piece, str) and isinstance(last, str):
            out[-1] = last + piece
        elif piece != "":
            out.append(piece)
    return out


def _shell(pieces: Sequence[Piece]) -> str:
    """One shell word: literal parts via shlex.quote, secrets as "${VAR}"."""
    out = []
    for piece in _merged(pieces):
        if isinstance(piece, EnvRef):
            out.append(f'"${{{piece.name}}}"')
        elif piece:
            out.append(shlex.quote(piece))
    return "".join(out) or "''"


def _curl(t: _Template) -> str:
    args: list[str] = ["curl"]
    if t.method == "HEAD":
        args.append("--head")
    elif t.method != "GET" and not (t.method == "POST" and t.body):
        args += ["-X", shlex.quote(t.method)]
    for name, pieces in t.headers:
        args += ["-H", _shell([f"{name}: ", *pieces])]
    if t.cookies:
        cookie: list[Piece] = []
        for i, (cname, pieces) in enumerate(t.cookies):
            cookie += [("; " if i else "") + f"{cname}=", *pieces]
        args += ["-H", _shell(["Cookie: ", *cookie])]
    if t.compressed:
        args.append("--compressed")
    if t.body is not None:
        args += ["--data-binary", _shell(t.body)]
    args.append(_shell(t.url))
    return " \\\n  ".join(_lines(args))


def _lines(args: list[str]) -> list[str]:
    """Group "-H value" pairs on one line each."""
    lines: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in ("-H", "-X", "--data-binary") and i + 1 < len(args):
            lines.append(f"{args[i]} {args[i + 1]}")
            i += 2
        else:
            lines.append(args[i])
            i += 1
    return lines


# --- Python -------------------------------------------------------------------------------------


def _py(pieces: Sequence[Piece]) -> str:
    """A Python expression: literals via repr, secrets via os.environ[...]."""
    out = [f"os.environ[{p.name!r}]" if isinstance(p, EnvRef) else repr(p) for p in _merged(pieces)]
    return " + ".join(out) if out else "''"


def _python(t: _Template, library: str) -> str:
    lines = ["import os", "", f"import {library}", ""]
    lines.append(f"url = {_py(t.url)}")
    lines.append("headers = {")
    for name, pieces in t.headers:
        lines.append(f"    {name!r}: {_py(pieces)},")
    lines.append("}")
    call_args = ["headers=headers"]
    if t.cookies:
        lines.append("cookies = {")
        for cname, pieces in t.cookies:
            lines.append(f"    {cname!r}: {_py(pieces)},")
        lines.append("}")
    if t.body is not None:
        lines.append(f"data = {_py(t.body)}")
        call_args.append("content=data" if library == "httpx" else "data=data.encode()")
    if library == "requests":
        if t.cookies:
            call_args.append("cookies=cookies")
        lines.append(
            f"response = requests.request({t.method!r}, url, {', '.join(call_args)}, "
            f"timeout={_TIMEOUT})"
        )
    else:
        client_args = f"cookies=cookies, timeout={_TIMEOUT}" if t.cookies else f"timeout={_TIMEOUT}"
        lines.append(f"with httpx.Client({client_args}) as client:")
        lines.append(f"    response = client.request({t.method!r}, url, {', '.join(call_args)})")
    lines.append("print(response.status_code)")
    return "\n".join(lines) + "\n"
