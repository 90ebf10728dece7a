"""The annotated HAR (DESIGN.md §6): mitmproxy's own HAR, plus authlens's verdicts, minus
the secrets.

mitmproxy's ``SaveHar().make_har(flows)`` does the HAR work; this module only takes the
resulting dict and returns a new one in which each judged entry carries its HAR 1.2
``comment`` and an ``_authlens`` member (the §3 metadata), and, by default, every secret
is replaced by its keyed fingerprint ``<redacted:sha256:xxxxxx>``. Names stay visible
(header, cookie and parameter names, usernames in URLs): they are usually what a
diagnosis is about, and they are what lets a reader see *that* a secret was sent.

It also holds :func:`redact_url`, which the HTML report uses for the URLs it shows, and
:func:`validate_har`, a small in-code check of the HAR 1.2 required structure.

Pure: no I/O, no mitmproxy import; the input dict is never modified.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from authlens.report.jsonout import dumps
from authlens.secret import fingerprint, is_fingerprint

EntryAnnotation = tuple[str, Mapping[str, Any]]
"""``(comment, metadata)`` for one judged HAR entry: the flow comment and the §3 dict."""

HAR_VERSION = "1.2"

# Headers whose whole value is a credential or session state. Authorization-like values
# keep their scheme, cookie headers keep cookie names and attributes.
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_SECRET_HEADERS = frozenset(
    {
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
        "x-goog-api-key",
        "private-token",
    }
)
_URL_HEADERS = frozenset({"location", "content-location", "referer", "origin"})
# The server's Digest proof (RFC 7616 §3.5): as dictionary-attackable as the client's
# response, so fingerprinted like it; nextnonce, qop, cnonce and nc stay readable.
_AUTH_INFO_HEADERS = frozenset({"authentication-info", "proxy-authentication-info"})
_RSPAUTH = re.compile(r'(\brspauth[ \t]*=[ \t]*)("(?:[^"\\]|\\.)*"?|[^,\s]*)', re.IGNORECASE)
# A credential-only header value: a single word that is a scheme name is kept as is.
_SCHEME_ONLY = frozenset(
    {"basic", "bearer", "digest", "negotiate", "ntlm", "kerberos", "hoba", "mutual"}
)
_TOKEN_SCHEME = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]{1,40})([ \t]+)(.*)\Z", re.DOTALL)

# Parameter names (query, form, JSON) that carry secrets: compared after lower-casing and
# dropping everything but letters and digits, so "Access-Token" and "access_token" match.
_SECRET_PARAMS_EXACT = frozenset(
    {
        "code",
        "key",
        "sig",
        "pwd",
        "pass",
        "auth",
        "jwt",
        "otp",
        "session",
        "sid",
        "ticket",
        "assertion",
        "clientassertion",
        "samlresponse",
        "samlrequest",
        "oauthverifier",
    }
)
_SECRET_PARAMS_PART = (
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "signature",
    "credential",
    "sessionid",
    "apikey",
    "privatekey",
)
# ...unless the name says it describes the secret rather than holds it (token_type=bearer).
_DESCRIBES_SECRET = (
    "type",
    "hint",
    "expires",
    "expiresin",
    "expiresat",
    "expiry",
    "length",
    "uri",
    "url",
    "endpoint",
    "method",
    "policy",
)


def is_secret_name(name: str) -> bool:
    """Whether a query, form or JSON field called ``name`` holds a secret by its name."""
    norm = re.sub(r"[^a-z0-9]", "", name.lower())
    if norm in _SECRET_PARAMS_EXACT:
        return True
    return any(p in norm for p in _SECRET_PARAMS_PART) and not norm.endswith(_DESCRIBES_SECRET)


_MAX_NESTING = 3


def carries_secret(value: str, depth: int = 0) -> bool:
    """Whether ``value``, a decoded parameter value, is itself a URL or a query string
    with a secret-named parameter: ``return_to=/cb?access_token=...`` leaks the token
    under an innocent name. Bounded nesting, linear in ``value``."""
    if depth >= _MAX_NESTING or "=" not in value:
        return False
    rest, _, fragment = value.partition("#")
    _, qmark, query = rest.partition("?")
    for text in (query if qmark else rest, fragment):
        for pair in text.split("&"):
            name, eq, inner = pair.partition("=")
            if eq and (
                is_secret_name(unquote_plus(name)) or carries_secret(unquote_plus(inner), depth + 1)
            ):
                return True
    return False


def _redact_param(name: str, value: str) -> str:
    """A decoded query or form parameter's value as a redacted export shows it."""
    return _fp(value) if is_secret_name(name) or carries_secret(value) else value


def _fp(value: str) -> str:
    """The fingerprint of a secret; empty values and existing fingerprints stay as they are
    (an empty cookie says something, and redacting twice must change nothing)."""
    if not value or is_fingerprint(value):
        return value
    try:
        return fingerprint(value)
    except UnicodeEncodeError:  # a lone surrogate, as a JSON "\ud800" escape makes
        return fingerprint(value.encode("utf-8", "surrogatepass"))


# --- values ---------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """``url`` with its password (or a user-only userinfo, usually a token) and the values
    of secret-named query and fragment parameters replaced by fingerprints. Everything
    else is kept byte for byte, so the URL still reads as the one that was sent."""
    rest, hash_, fragment = url.partition("#")
    rest, qmark, query = rest.partition("?")
    scheme_end = rest.find("://")
    if scheme_end >= 0:
        start = scheme_end + 3
        end = len(rest)
        for sep in "/\\":
            i = rest.find(sep, start)
            if i >= 0:
                end = min(end, i)
        authority = rest[start:end]
        if "@" in authority:
            userinfo, _, hostport = authority.rpartition("@")
            user, colon, password = userinfo.partition(":")
            userinfo = f"{user}:{_fp(password)}" if colon else _fp(userinfo)
            rest = f"{rest[:start]}{userinfo}@{hostport}{rest[end:]}"
    if qmark:
        query = _redact_pairs(query)
    if hash_ and "=" in fragment:  # implicit-flow tokens travel in the fragment
        fragment = _redact_pairs(fragment)
    return rest + qmark + query + hash_ + fragment


def _redact_pairs(text: str) -> str:
    """``a=1&b=2`` with secret-named values fingerprinted (decoded first, so they match
    the fingerprints in HAR ``queryString``/``params``)."""
    out = []
    for pair in text.split("&"):
        name, eq, val = pair.partition("=")
        if eq and (is_secret_name(unquote_plus(name)) or carries_secret(unquote_plus(val))):
            pair = f"{name}={_fp(unquote_plus(val))}"
        out.append(pair)
    return "&".join(out)


def redact_header(name: str, value: str) -> str:
    """The value of header ``name`` as it may appear in a redacted export."""
    lname = name.lower()
    if lname in _AUTH_HEADERS:
        return _redact_credentials(value)
    if lname == "cookie":
        return "; ".join(_redact_cookie_pair(p.strip()) for p in value.split(";"))
    if lname == "set-cookie":
        first, semi, attrs = value.partition(";")
        return _redact_cookie_pair(first.strip()) + semi + attrs
    if lname in _SECRET_HEADERS or is_secret_name(lname.removeprefix("x-")):
        return _fp(value)
    if lname in _URL_HEADERS:
        return redact_url(value)
    if lname in _AUTH_INFO_HEADERS:
        return _RSPAUTH.sub(_redact_rspauth, value)
    return value


def _redact_rspauth(m: re.Match[str]) -> str:
    value = m.group(2)
    quoted = value.startswith('"')
    inner = value[1:-1] if quoted and len(value) > 1 and value.endswith('"') else value.lstrip('"')
    shown = _fp(inner)
    return m.group(1) + (f'"{shown}"' if quoted else shown)


def _redact_credentials(value: str) -> str:
    m = _TOKEN_SCHEME.match(value)
    if m and m.group(3):
        return f"{m.group(1)}{m.group(2)}{_fp(m.group(3))}"
    if value.strip().lower() in _SCHEME_ONLY:
        return value
    return _fp(value)


def _redact_cookie_pair(pair: str) -> str:
    name, eq, val = pair.partition("=")
    if not eq:
        return _fp(pair)
    return f"{name}={_fp(val)}"


def _redact_json_text(text: str) -> str | None:
    """JSON text with secret-named members fingerprinted; ``None`` if not a JSON document
    (or nothing changed, so the original keeps its formatting)."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    changed = [False]

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if is_secret_name(k) and isinstance(x, str) and x and not is_fingerprint(x):
                    changed[0] = True
                    out[k] = _fp(x)
                elif is_secret_name(k) and isinstance(x, int | float) and not isinstance(x, bool):
                    changed[0] = True
                    out[k] = _fp(json.dumps(x))
                else:
                    out[k] = walk(x)
            return out
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    redacted = walk(doc)
    return json.dumps(redacted, ensure_ascii=False) if changed[0] else None


_MULTIPART_NAME = re.compile(r'name="([^"\r\n]{0,200})"')


def _redact_body(text: str, mime: str) -> str:
    mime = mime.lower()
    if "x-www-form-urlencoded" in mime:
        return _redact_pairs(text)
    if "json" in mime or text.lstrip().startswith(("{", "[")):
        redacted = _redact_json_text(text)
        if redacted is not None:
            return redacted
    if "multipart/form-data" in mime and any(
        is_secret_name(n) for n in _MULTIPART_NAME.findall(text[:1_000_000])
    ):
        # Rebuilding multipart faithfully is not worth the risk of leaking a part.
        return _fp(text)
    return text


# --- entries --------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    """A copy of a JSON structure's containers (strings and numbers are immutable)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _pairs(items: Any, fn: Callable[[str, str], str]) -> None:
    if not isinstance(items, list):
        return
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("value"), str):
            item["value"] = fn(str(item.get("name", "")), item["value"])


def _redact_message(msg: Any, *, is_request: bool) -> None:
    if not isinstance(msg, dict):
        return
    _pairs(msg.get("headers"), redact_header)
    _pairs(msg.get("cookies"), lambda _n, v: _fp(v))
    if is_request:
        if isinstance(msg.get("url"), str):
            msg["url"] = redact_url(msg["url"])
        _pairs(msg.get("queryString"), _redact_param)
        post = msg.get("postData")
        if isinstance(post, dict):
            _pairs(post.get("params"), _redact_param)
            if isinstance(post.get("text"), str):
                post["text"] = _redact_body(post["text"], str(post.get("mimeType") or ""))
    else:
        if isinstance(msg.get("redirectURL"), str):
            msg["redirectURL"] = redact_url(msg["redirectURL"])
        content = msg.get("content")
        if (
            isinstance(content, dict)
            and isinstance(content.get("text"), str)
            and content.get("encoding") != "base64"
        ):
            content["text"] = _redact_body(content["text"], str(content.get("mimeType") or ""))


def _repair(entry: dict[str, Any]) -> None:
    """Fill the two gaps mitmproxy's writer leaves in otherwise valid HAR 1.2: an empty
    ``content`` for flows without a response, and ``postData.text`` of ``None`` when the
    body was not kept."""
    response = entry.get("response")
    if isinstance(response, dict) and isinstance(response.get("content"), dict):
        response["content"].setdefault("size", 0)
        response["content"].setdefault("mimeType", "")
    request = entry.get("request")
    post = request.get("postData") if isinstance(request, dict) else None
    if isinstance(post, dict) and "text" in post and post["text"] is None:
        post["text"] = ""


def annotate_har(
    har: Mapping[str, Any],
    per_entry: Sequence[EntryAnnotation | None],
    *,
    redact: bool = True,
) -> dict[str, Any]:
    """A copy of ``har`` with authlens's annotations and, unless ``redact`` is False, no
    secrets.

    ``per_entry[i]`` annotates ``har["log"]["entries"][i]``: ``(comment, metadata)`` for
    a judged entry, ``None`` for the rest. mitmproxy's ``make_har`` keeps the order of
    the flows it is given but skips non-HTTP flows, so build ``per_entry`` from the HTTP
    flows only. The comment is appended below any comment the entry already has; the
    metadata goes to ``_authlens`` as JSON data (its Secrets as fingerprints, or raw when
    ``redact`` is False). Redaction covers every entry, judged or not: Authorization,
    Proxy-Authorization (scheme kept), Cookie and Set-Cookie (names and attributes
    kept), token-like headers, request and response cookie values, URL passwords,
    secret-named query, fragment, form and JSON members, and secret-named members of
    JSON response bodies. ``log._authlens`` records whether the file was redacted.

    Raises ``ValueError`` when ``per_entry`` does not have one item per entry (a caller
    bug: annotations would land on the wrong requests), and ``TypeError``/``ValueError``
    when metadata is not strict JSON data (an unknown type, NaN or infinity).
    """
    out: dict[str, Any] = _copy(dict(har))
    log = out.get("log")
    if not isinstance(log, dict) or not isinstance(log.get("entries"), list):
        raise ValueError("not a HAR document: log.entries is missing")
    entries: list[Any] = log["entries"]
    if len(per_entry) != len(entries):
        raise ValueError(
            f"{len(per_entry)} annotations for {len(entries)} HAR entries; "
            "pass one (or None) per entry, in order"
        )
    for entry, annotation in zip(entries, per_entry, strict=True):
        if not isinstance(entry, dict):
            continue
        _repair(entry)
        if redact:
            _redact_message(entry.get("request"), is_request=True)
            _redact_message(entry.get("response"), is_request=False)
        if annotation is not None:
            comment, metadata = annotation
            old = entry.get("comment")
            if isinstance(old, str) and old.strip() and comment and comment not in old:
                comment = f"{old}\n{comment}"
            elif isinstance(old, str) and old.strip() and not comment:
                comment = old
            entry["comment"] = comment
            # Through the one JSON serializer: it renders Secrets (fingerprint or raw by
            # mode) and rejects any non-JSON value instead of stringifying it.
            entry["_authlens"] = json.loads(dumps(dict(metadata), redact=redact, indent=None))
    log["_authlens"] = {"version": 1, "redacted": redact}
    return out


# --- validation -----------------------------------------------------------------------


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_STR, _NUM, _OBJ, _LIST, _BOOL = "string", "number", "object", "array", "boolean"
_CHECK: dict[str, Callable[[Any], bool]] = {
    _STR: lambda v: isinstance(v, str),
    _NUM: _is_num,
    _OBJ: lambda v: isinstance(v, dict),
    _LIST: lambda v: isinstance(v, list),
    _BOOL: lambda v: isinstance(v, bool),
}


class _Validator:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fields(
        self,
        obj: Any,
        path: str,
        required: Mapping[str, str],
        optional: Mapping[str, str] | None = None,
    ) -> bool:
        if not isinstance(obj, dict):
            self.errors.append(f"{path}: expected an object")
            return False
        for name, kind in required.items():
            if name not in obj:
                self.errors.append(f"{path}.{name}: required {kind} is missing")
            elif not _CHECK[kind](obj[name]):
                self.errors.append(f"{path}.{name}: expected {kind}")
        for name, kind in (optional or {}).items():
            if name in obj and obj[name] is not None and not _CHECK[kind](obj[name]):
                self.errors.append(f"{path}.{name}: expected {kind}")
        return True

    def pairs(self, items: Any, path: str, extra: Mapping[str, str] | None = None) -> None:
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            self.fields(
                item,
                f"{path}[{i}]",
                {"name": _STR, "value": _STR},
                {"comment": _STR, **(extra or {})},
            )

    def date(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            return
        try:
            datetime.fromisoformat(value)
        except ValueError:
            self.errors.append(f"{path}: not an ISO 8601 date-time")


_COOKIE_OPTIONAL = {
    "path": _STR,
    "domain": _STR,
    "expires": _STR,
    "httpOnly": _BOOL,
    "secure": _BOOL,
}


def validate_har(har: Any) -> list[str]:
    """Problems with ``har`` against the HAR 1.2 required structure (empty when valid).

    Checks ``log.version``, ``log.creator``, optional ``pages``, and for every entry
    ``startedDateTime`` (ISO 8601), ``time``, ``request``, ``response`` (with
    ``content``), ``cache`` and ``timings`` with their required fields and JSON types.
    Custom ``_``-prefixed members are allowed anywhere, as the format permits.
    """
    v = _Validator()
    if not isinstance(har, dict):
        return ["$: expected an object"]
    log = har.get("log")
    if not v.fields(
        log,
        "log",
        {"version": _STR, "creator": _OBJ, "entries": _LIST},
        {"browser": _OBJ, "pages": _LIST, "comment": _STR},
    ):
        return v.errors
    assert isinstance(log, dict)
    if isinstance(log.get("creator"), dict):
        v.fields(log["creator"], "log.creator", {"name": _STR, "version": _STR}, {"comment": _STR})
    if "browser" in log:
        v.fields(log["browser"], "log.browser", {"name": _STR, "version": _STR}, {"comment": _STR})
    for i, page in enumerate(log.get("pages") or []):
        p = f"log.pages[{i}]"
        if v.fields(
            page, p, {"startedDateTime": _STR, "id": _STR, "title": _STR, "pageTimings": _OBJ}
        ):
            v.date(page.get("startedDateTime"), f"{p}.startedDateTime")
            v.fields(
                page.get("pageTimings", {}),
                f"{p}.pageTimings",
                {},
                {"onContentLoad": _NUM, "onLoad": _NUM, "comment": _STR},
            )
    entries = log.get("entries")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        _validate_entry(v, entry, f"log.entries[{i}]")
    return v.errors


def _validate_entry(v: _Validator, entry: Any, p: str) -> None:
    if not v.fields(
        entry,
        p,
        {
            "startedDateTime": _STR,
            "time": _NUM,
            "request": _OBJ,
            "response": _OBJ,
            "cache": _OBJ,
            "timings": _OBJ,
        },
        {"pageref": _STR, "serverIPAddress": _STR, "connection": _STR, "comment": _STR},
    ):
        return
    v.date(entry.get("startedDateTime"), f"{p}.startedDateTime")
    if _is_num(entry.get("time")) and entry["time"] < 0:
        v.errors.append(f"{p}.time: must not be negative")

    req, rp = entry.get("request"), f"{p}.request"
    if isinstance(req, dict):
        v.fields(
            req,
            rp,
            {
                "method": _STR,
                "url": _STR,
                "httpVersion": _STR,
                "cookies": _LIST,
                "headers": _LIST,
                "queryString": _LIST,
                "headersSize": _NUM,
                "bodySize": _NUM,
            },
            {"postData": _OBJ, "comment": _STR},
        )
        v.pairs(req.get("cookies"), f"{rp}.cookies", _COOKIE_OPTIONAL)
        v.pairs(req.get("headers"), f"{rp}.headers")
        v.pairs(req.get("queryString"), f"{rp}.queryString")
        post = req.get("postData")
        if isinstance(post, dict):
            v.fields(
                post,
                f"{rp}.postData",
                {"mimeType": _STR},
                {"params": _LIST, "text": _STR, "comment": _STR},
            )
            for j, param in enumerate(post.get("params") or []):
                v.fields(
                    param,
                    f"{rp}.postData.params[{j}]",
                    {"name": _STR},
                    {"value": _STR, "fileName": _STR, "contentType": _STR, "comment": _STR},
                )

    res, sp = entry.get("response"), f"{p}.response"
    if isinstance(res, dict):
        v.fields(
            res,
            sp,
            {
                "status": _NUM,
                "statusText": _STR,
                "httpVersion": _STR,
                "cookies": _LIST,
                "headers": _LIST,
                "content": _OBJ,
                "redirectURL": _STR,
                "headersSize": _NUM,
                "bodySize": _NUM,
            },
            {"comment": _STR},
        )
        v.pairs(res.get("cookies"), f"{sp}.cookies", _COOKIE_OPTIONAL)
        v.pairs(res.get("headers"), f"{sp}.headers")
        if isinstance(res.get("content"), dict):
            v.fields(
                res["content"],
                f"{sp}.content",
                {"size": _NUM, "mimeType": _STR},
                {"compression": _NUM, "text": _STR, "encoding": _STR, "comment": _STR},
            )

    cache = entry.get("cache")
    if isinstance(cache, dict):
        for key in ("beforeRequest", "afterRequest"):
            if cache.get(key) is not None:
                v.fields(
                    cache[key],
                    f"{p}.cache.{key}",
                    {"lastAccess": _STR, "eTag": _STR, "hitCount": _NUM},
                    {"expires": _STR, "comment": _STR},
                )

    timings = entry.get("timings")
    if isinstance(timings, dict):
        v.fields(
            timings,
            f"{p}.timings",
            {"send": _NUM, "wait": _NUM, "receive": _NUM},
            {"blocked": _NUM, "dns": _NUM, "connect": _NUM, "ssl": _NUM, "comment": _STR},
        )
