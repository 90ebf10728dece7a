"""mitmproxy flows to the core's :class:`~authlens.model.Exchange`, and capture files to flows.

This and the other ``authlens.mitm`` modules are the only code that imports mitmproxy; the
core works on :mod:`authlens.model` alone, so live traffic, flow files and HAR are judged by
the same code.

Facts about mitmproxy 12 this module relies on (checked against its source):

- mitmproxy's ``proxyauth`` answers 407 (or 401 in reverse mode) from its
  ``requestheaders``/``http_connect`` hook, before any server connection is opened; a
  valid ``Proxy-Authorization`` is *deleted* from the request and kept, in the clear, in
  ``flow.metadata["proxyauth"]``.
- Flows imported from HAR by ``mitmproxy.io.har.request_to_flow`` carry a fabricated client
  connection (peer and socket ``127.0.0.1:0``, a fresh id per entry): its identity, TLS and
  timing say nothing about the capture.
- An upstream proxy's 407 to mitmproxy's own CONNECT never becomes a response: it surfaces
  only as ``flow.error`` ("Upstream proxy ... refused HTTP CONNECT request: 407 ..."), and
  the upstream's Proxy-Authenticate is lost.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from mitmproxy import exceptions, http
from mitmproxy.flow import Error
from mitmproxy.io import FlowReader
from mitmproxy.io.har import request_to_flow

from authlens.model import (
    MAX_BODY_PREFIX,
    Connection,
    Exchange,
    Headers,
    Request,
    Response,
)
from authlens.pairing import Deferred, EndpointKey, endpoint_key

logger = logging.getLogger(__name__)

SOURCE_LIVE = "live"
SOURCE_FLOWFILE = "flowfile"
SOURCE_HAR = "har"

# Side information that only the HAR entry holds (sanitized fields, the browser's connection
# id), kept on flows that :func:`read_flows` made from a HAR. Plain JSON, so a flow file
# written from such flows keeps it.
HAR_METADATA_KEY = "authlens_har"
# Where the addon keeps its §3 annotation (``flow.metadata["authlens"]``); an annotated HAR
# carries it as each entry's ``_authlens``.
ANNOTATION_KEY = "authlens"
# The client's TLS ClientHello fingerprint (JA4), put there by the compare addon's
# ``tls_clienthello`` hook; plain JSON, so flow files keep it for offline comparison.
TLS_FINGERPRINT_KEY = "authlens_ja4"

# --- the cheap prefilter ---------------------------------------------------------------------

_CANDIDATE_STATUS = frozenset({401, 403, 407})
# Raw field names, lower-cased bytes: one set test over headers.fields is several times
# cheaper than mitmproxy's case-insensitive `name in headers` scan per name.
_REQUEST_AUTH_FIELDS = frozenset({b"authorization", b"proxy-authorization"})
_RESPONSE_AUTH_FIELDS = frozenset(
    {
        b"www-authenticate",
        b"proxy-authenticate",
        b"authentication-info",
        b"proxy-authentication-info",
    }
)
_SET_COOKIE = frozenset({b"set-cookie"})
_CONTENT_ENCODING = frozenset({b"content-encoding"})
# How mitmproxy reports an auth refusal it could not turn into a response (upstream CONNECT).
_AUTH_ERROR = re.compile(r"\b40[17]\b")


def _has_field(fields: Sequence[tuple[bytes, bytes]], names: frozenset[bytes]) -> bool:
    for name, _ in fields:  # noqa: SIM110 - a plain loop: this runs on every flow
        if name.lower() in names:
            return True
    return False


def may_be_baseline(flow: http.HTTPFlow) -> bool:
    """The cheap gate before a flow is offered as a browser baseline: accepted (2xx/3xx,
    not a tunnel), with a cookie or a browser-like User-Agent. One pass over raw fields."""
    response = flow.response
    if response is None or not 200 <= response.status_code < 400:
        return False
    request = flow.request
    if request.data.method == b"CONNECT":
        return False
    user_agent_seen = False
    for name, value in request.headers.fields:
        lowered = name.lower()
        if lowered == b"cookie":
            return True
        if lowered == b"user-agent" and not user_agent_seen:
            user_agent_seen = True  # the first one counts, as Headers.get would read it
            if value.startswith(b"Mozilla/"):
                return True
    return False


def is_candidate(flow: http.HTTPFlow) -> bool:
    """Could this flow matter to an authentication diagnosis? A cheap look at the raw flow.

    True for 401/403/407, for redirects (3xx with Location: credentials can be lost on
    the way), for any auth field in the request or response, for a request that mitmproxy's
    proxyauth accepted (it deletes the field, see the module docstring) and for an error
    that names 401/407. Everything else is skipped before any decoding, so ordinary
    traffic costs a few dictionary probes.
    """
    response = flow.response
    if response is not None:
        code = response.status_code
        if code in _CANDIDATE_STATUS:
            return True
        if 300 <= code < 400 and "location" in response.headers:
            return True
        if _has_field(response.headers.fields, _RESPONSE_AUTH_FIELDS):
            return True
    request = flow.request
    if request is not None and _has_field(request.headers.fields, _REQUEST_AUTH_FIELDS):
        return True
    if "proxyauth" in flow.metadata:
        return True
    error = flow.error
    return error is not None and bool(_AUTH_ERROR.search(error.msg or ""))


# --- flow -> Exchange ------------------------------------------------------------------------


def exchange_from_flow(
    flow: http.HTTPFlow,
    source: str = SOURCE_LIVE,
    *,
    made_by_proxy: bool | None = None,
) -> Exchange:
    """Build the core's view of ``flow``. Never raises on odd content.

    ``source`` is "live", "flowfile" or "har"; a flow recognisably imported from HAR is
    treated as "har" whatever the caller says, because its connection data is fabricated.
    ``made_by_proxy`` is what the live addon saw (True: a response already existed when
    the request was about to be sent upstream); None lets the flow's recorded state decide
    (see :func:`generated_by_proxy`).
    """
    har_info = _har_info(flow)
    if har_info is not None or looks_imported_from_har(flow):
        source = SOURCE_HAR
    is_har = source == SOURCE_HAR
    request = flow.request
    method, url, http_version, is_connect = _request_line(request)

    req_headers = _headers(request.headers)
    restored = _restored_proxyauth(flow, req_headers)
    if restored is not None:
        req_headers = Headers((*req_headers.fields, restored))

    exchange_request = Request(
        method=method,
        url=url,
        http_version=http_version,
        headers=req_headers,
        body=_body_prefix(request, req_headers),
        body_size=_body_size(request),
    )

    exchange_response: Response | None = None
    error = flow.error.msg if flow.error else None
    response = flow.response
    if response is not None:
        if is_har and response.status_code == 0:
            # Browsers export aborted or blocked requests with status 0: there was no answer.
            error = error or "no response recorded (HAR status 0)"
        else:
            resp_headers = _headers(response.headers)
            exchange_response = Response(
                status_code=response.status_code,
                reason=_har_status_text(har_info) or response.reason,
                http_version=_version(response.data.http_version),
                headers=resp_headers,
                body=_body_prefix(response, resp_headers),
                body_size=_body_size(response),
                generated_by_proxy=None
                if is_har
                else generated_by_proxy(flow, made_by_proxy=made_by_proxy),
            )

    if is_har:
        client, server = _har_connections(flow, har_info)
        mode = None
        upstream = None
    else:
        client = _client_connection(flow)
        server = _server_connection(flow)
        mode = _mode(flow)
        upstream = _upstream_proxy(flow)

    return Exchange(
        id=flow.id,
        request=exchange_request,
        response=exchange_response,
        error=error,
        client=client,
        server=server,
        timestamp_start=request.timestamp_start,
        timestamp_end=_timestamp_end(flow),
        source=source,
        mode=mode,
        is_connect=is_connect,
        sanitized=sanitized_fields(flow) if is_har else (),
        upstream_proxy=upstream,
    )


def defer_baseline(flow: http.HTTPFlow, source: str = SOURCE_LIVE) -> Deferred:
    """A possible browser baseline, built into an exchange only if a refusal at its
    endpoint needs it: the endpoint key and a few probes now, everything else later.

    What is kept is a flat record of the flow's parts (header tuples, body prefixes, the
    connection objects), not the flow: a flow kept alive for a while is promoted through
    the garbage collector's generations with its hundreds of objects, which cost more
    than the rest of this together. Bodies are cut to ``MAX_BODY_PREFIX``; a cut prefix
    that cannot be decoded on its own (compressed) is dropped: unknown, not garbage.
    """
    request = flow.request
    response = flow.response
    data = request.data
    raw = (data.method, data.scheme, data.host, data.port, data.path)
    key = _ENDPOINT_KEYS.get(raw)
    if key is None:
        if len(_ENDPOINT_KEYS) >= _MAX_ENDPOINT_KEYS:
            _ENDPOINT_KEYS.clear()  # crude but bounded; live traffic soon refills it
        key = endpoint_key(request.method, request.scheme, request.host, request.port, request.path)
        _ENDPOINT_KEYS[raw] = key
    sets_cookie = response is not None and _has_field(response.headers.fields, _SET_COOKIE)
    return Deferred(key, partial(_rebuilt_exchange, _parts(flow), source), sets_cookie=sets_cookie)


# Raw request target -> endpoint key: browsers ask for the same URLs over and over.
_ENDPOINT_KEYS: dict[tuple[bytes, bytes, str, int, bytes], EndpointKey] = {}
_MAX_ENDPOINT_KEYS = 4096

_Message = tuple[Any, ...]
_Parts = tuple[Any, ...]


def _parts(flow: http.HTTPFlow) -> _Parts:
    request = flow.request.data
    response = flow.response.data if flow.response is not None else None
    error = flow.error
    return (
        flow.id,
        flow.live,
        flow.is_replay,
        flow.client_conn,
        flow.server_conn,
        dict(flow.metadata) if flow.metadata else None,
        (error.msg, error.timestamp) if error is not None else None,
        (
            request.host,
            request.port,
            request.method,
            request.scheme,
            request.authority,
            request.path,
            request.http_version,
            request.headers.fields,
            _content_prefix(request.content, request.headers.fields),
            request.timestamp_start,
            request.timestamp_end,
        ),
        (
            response.http_version,
            response.status_code,
            response.reason,
            response.headers.fields,
            _content_prefix(response.content, response.headers.fields),
            response.timestamp_start,
            response.timestamp_end,
        )
        if response is not None
        else None,
    )


def _content_prefix(raw: bytes | None, fields: Sequence[tuple[bytes, bytes]]) -> bytes | None:
    if raw is None or len(raw) <= MAX_BODY_PREFIX:
        return raw
    return None if _has_field(fields, _CONTENT_ENCODING) else raw[:MAX_BODY_PREFIX]


def _rebuilt_exchange(parts: _Parts, source: str) -> Exchange:
    """The exchange of the flow :func:`_parts` recorded (the flow rebuilt, then read as
    any other by :func:`exchange_from_flow`)."""
    flow_id, live, is_replay, client, server, metadata, error, request, response = parts
    flow = http.HTTPFlow(client, server, live=live)
    flow.id = flow_id
    flow.is_replay = is_replay
    if metadata:
        flow.metadata = metadata
    host, port, method, scheme, authority, path, version, fields, content, start, end = request
    flow.request = http.Request(
        host, port, method, scheme, authority, path, version, http.Headers(fields), content,
        None, start, end,
    )  # fmt: skip
    if response is not None:
        version, status, reason, fields, content, start, end = response
        flow.response = http.Response(
            version, status, reason, http.Headers(fields), content, None, start, end
        )
    if error is not None:
        flow.error = Error(error[0], error[1])
    return exchange_from_flow(flow, source)


def generated_by_proxy(flow: http.HTTPFlow, *, made_by_proxy: bool | None = None) -> bool:
    """Did mitmproxy (or an addon in it) make ``flow.response`` rather than a server?

    Reasoning, in order:

    - a response replayed by ``server_replay`` (``is_replay == "response"``) was a
      server's answer once: False;
    - mitmproxy answers a client's CONNECT itself (200, proxyauth's 407, a 502), even in
      upstream mode, where it opens its own CONNECT to the upstream proxy: True;
    - the live addon's observation wins when it has one: our ``request`` hook runs after
      mitmproxy's built-in addons (proxyauth among them) and before the upstream request
      is sent, so a response that already exists there was made inside mitmproxy;
    - otherwise the recorded server connection decides: a response on a flow whose
      server connection has no address or was never opened (``timestamp_start`` None)
      cannot have come from a server. That is exactly what proxyauth's 407/401 and
      mitmproxy's CONNECT answers look like, live and in flow files alike.

    Known limit: offline, a response an addon made on an already open connection (a
    request inside an established tunnel) is indistinguishable from the server's.
    """
    if flow.is_replay == "response":
        return False
    if flow.request.method.upper() == "CONNECT":
        return True  # mitmproxy never forwards a client's CONNECT: it answers it itself
    if made_by_proxy is not None:
        return made_by_proxy
    server = flow.server_conn
    if server.address is None:
        return True
    return server.timestamp_start is None


def looks_imported_from_har(flow: http.HTTPFlow) -> bool:
    """True for flows made by mitmproxy's HAR reader (its fabricated ``127.0.0.1:0`` client)."""
    if HAR_METADATA_KEY in flow.metadata:
        return True
    client = flow.client_conn
    return (
        _address(client.peername) == "127.0.0.1:0"
        and _address(client.sockname) == "127.0.0.1:0"
        and client.tls_version is None
        and client.timestamp_tls_setup is None
    )


def _headers(headers: http.Headers) -> Headers:
    # Raw field order and casing, as on the wire; undecodable bytes survive as surrogates
    # (the grammar reports them), exactly like the CLI's stdin reader.
    raw = headers.fields
    try:
        made = _HEADERS.get(raw)
    except TypeError:  # unhashable: mitmproxy always gives a tuple of (bytes, bytes)
        return _decoded(raw)
    if made is None:
        made = _decoded(raw)
        if sum(len(name) + len(value) for name, value in raw) <= _MAX_CACHED_HEADERS:
            if len(_HEADERS) >= _MAX_HEADER_BLOCKS:
                _HEADERS.clear()  # crude but bounded; traffic soon refills it
            _HEADERS[raw] = made
    return made


def _decoded(raw: Iterable[tuple[bytes, bytes]]) -> Headers:
    return Headers(
        tuple(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
            for name, value in raw
        )
    )


# Raw header block -> its decoded Headers (immutable, so shared): a client repeats its
# request headers and a server its refusals, and the lookup index built on the first
# question is then shared too. Bounded by entries and by the size of each block.
_HEADERS: dict[tuple[tuple[bytes, bytes], ...], Headers] = {}
_MAX_HEADER_BLOCKS = 512
_MAX_CACHED_HEADERS = 8192


def _request_line(request: http.Request) -> tuple[str, str, str, bool]:
    """(method, URL, HTTP version, is CONNECT) of ``request``, remembered per raw request
    line: mitmproxy decodes and joins them anew on each access, and a client repeats its
    requests."""
    data = request.data
    raw = (data.method, data.scheme, data.host, data.port, data.path, data.authority)
    line = _REQUEST_LINES.get(raw)
    if line is None:
        method = request.method
        is_connect = method.upper() == "CONNECT"
        line = (method, _url(request, is_connect), is_connect)
        # Only short targets are kept: every part of the key counts, a hostile Host too.
        if len(data.path) + len(data.host) + len(data.authority) <= _MAX_CACHED_TARGET:
            if len(_REQUEST_LINES) >= _MAX_REQUEST_LINES:
                _REQUEST_LINES.clear()  # crude but bounded; traffic soon refills it
            _REQUEST_LINES[raw] = line
    return line[0], line[1], _version(data.http_version), line[2]


def _version(raw: bytes) -> str:
    version = _VERSIONS.get(raw)
    if version is None:
        version = raw.decode("utf-8", "surrogateescape")
        if len(_VERSIONS) < 16:  # "HTTP/1.1", "HTTP/2.0", ...: a handful at most
            _VERSIONS[raw] = version
    return version


_REQUEST_LINES: dict[tuple[bytes, bytes, str, int, bytes, bytes], tuple[str, str, bool]] = {}
_MAX_REQUEST_LINES = 1024
_MAX_CACHED_TARGET = 2048
_VERSIONS: dict[bytes, str] = {}


def _url(request: http.Request, is_connect: bool) -> str:
    if is_connect or request.first_line_format == "authority":
        # A CONNECT target is an authority, not a URL; "//host:port" (a network-path
        # reference, RFC 3986 §4.2) keeps host and port parseable and the scheme honestly
        # unknown.
        return f"//{request.host}:{request.port}"
    try:
        return request.url
    except Exception:  # a request mitmproxy could not unparse: still judge what we can
        return f"{request.scheme}://{request.host}:{request.port}{request.path}"


def _body_prefix(message: http.Message, headers: Headers) -> bytes | None:
    """At most MAX_BODY_PREFIX bytes of the decoded body; the raw bytes if decoding fails.
    ``headers`` are the message's, decoded (their lookup index is shared between flows)."""
    raw = message.raw_content
    if raw is None:
        return None  # streamed without storing: unknown, not empty
    if "content-encoding" not in headers:
        return bytes(raw[:MAX_BODY_PREFIX])  # nothing to decode (the usual case)
    try:
        content = message.get_content(strict=False)
    except Exception:  # e.g. a decoder bug on hostile input: the raw bytes still tell a lot
        content = raw
    if content is None:
        content = raw
    return bytes(content[:MAX_BODY_PREFIX])


def _body_size(message: http.Message) -> int | None:
    raw = message.raw_content
    return None if raw is None else len(raw)


def _timestamp_end(flow: http.HTTPFlow) -> float | None:
    if flow.response is not None and flow.response.timestamp_end is not None:
        return float(flow.response.timestamp_end)
    if flow.error is not None:
        return float(flow.error.timestamp)
    end = flow.request.timestamp_end
    return None if end is None else float(end)


def _address(address: Any) -> str | None:
    if not address:
        return None
    try:
        host, port = address[0], address[1]
    except (TypeError, IndexError):
        return None
    host = str(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _alpn(value: bytes | None) -> str | None:
    return value.decode("ascii", "backslashreplace") if value else None


def _client_connection(flow: http.HTTPFlow) -> Connection:
    conn = flow.client_conn
    fingerprint = _text_or_none(flow.metadata.get(TLS_FINGERPRINT_KEY))
    return _connection(conn, conn.tls_established, (conn.peername,), fingerprint)


def _server_connection(flow: http.HTTPFlow) -> Connection:
    conn = flow.server_conn
    tls = conn.tls_established if conn.timestamp_start is not None else None
    return _connection(conn, tls, (conn.peername, conn.address), None)


def _connection(
    conn: Any, tls: bool | None, addresses: tuple[Any, ...], fingerprint: str | None
) -> Connection:
    """The model of ``conn``, its peer the first of ``addresses`` that is known. Every
    flow on a connection gets the same one (immutable, so shared): remembered by every
    value it is made of, bounded."""
    key = (conn.id, tls, conn.alpn, addresses, conn.sni, fingerprint)
    try:
        made = _CONNECTIONS.get(key)
        hashable = True
    except TypeError:  # an odd, unhashable address: build it every time
        made, hashable = None, False
    if made is None:
        made = Connection(
            id=conn.id,
            tls=tls,
            alpn=_alpn(conn.alpn),
            peer=next((text for text in map(_address, addresses) if text), None),
            sni=conn.sni,
            tls_fingerprint=fingerprint,
        )
        if hashable:
            if len(_CONNECTIONS) >= _MAX_CONNECTIONS:
                _CONNECTIONS.clear()  # crude but bounded; live connections soon refill it
            _CONNECTIONS[key] = made
    return made


# What a connection looked like -> its model. Client and server keys differ in length.
_CONNECTIONS: dict[tuple[Any, ...], Connection] = {}
_MAX_CONNECTIONS = 1024


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mode(flow: http.HTTPFlow) -> str | None:
    mode = getattr(flow.client_conn, "proxy_mode", None)
    name = getattr(mode, "type_name", None)
    return str(name) if name else None


def _upstream_proxy(flow: http.HTTPFlow) -> str | None:
    """The upstream proxy this flow went (or was to go) through, as ``scheme://host:port``."""
    via = getattr(flow.server_conn, "via", None)
    if via:
        scheme, address = via
        return f"{scheme}://{_address(address)}"
    mode = getattr(flow.client_conn, "proxy_mode", None)
    if getattr(mode, "type_name", None) == "upstream":
        address = getattr(mode, "address", None)
        return f"{getattr(mode, 'scheme', 'http')}://{_address(address)}"
    return None


def _restored_proxyauth(flow: http.HTTPFlow, headers: Headers) -> tuple[str, str] | None:
    """Put back the Basic field mitmproxy's proxyauth accepted and deleted.

    Without it a successful proxy-authenticated request looks credential-less and the 407
    before it looks unanswered. The field is the one proxyauth reads: Proxy-Authorization
    as a forward proxy, Authorization in reverse mode. As a forward proxy only requests the
    client addressed to the proxy itself count (CONNECT, plain HTTP/1 proxy requests):
    requests inside an authenticated TLS tunnel inherit the same metadata but never
    carried the field. Known limit: plain HTTP tunnelled through CONNECT looks like a proxy
    request.
    """
    value = flow.metadata.get("proxyauth")
    if not (isinstance(value, tuple | list) and len(value) == 2):
        return None
    if _mode(flow) in ("regular", "upstream", None):
        name = "Proxy-Authorization"
        form = flow.request.first_line_format
        # mitmproxy rewrites a regular-mode absolute-form request to origin-form before any
        # addon sees it, so "not inside an intercepted TLS tunnel" stands in for
        # absolute-form. HTTP/2 sets :authority on every request: HTTP/1 only.
        http1 = flow.request.http_version.startswith("HTTP/1")
        to_proxy = form == "authority" or (
            http1 and (form == "absolute" or not flow.client_conn.tls_established)
        )
        if not to_proxy:
            return None
    else:
        name = "Authorization"
    if name in headers:
        return None
    user, password = (str(part) for part in value)
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return (name, f"Basic {token}")


# --- HAR specifics ---------------------------------------------------------------------------

_SANITIZABLE = ("Authorization", "Proxy-Authorization", "Cookie")
_SANITIZABLE_RESPONSE = ("Set-Cookie",)
# A header block this many bytes shorter than the exporter's headersSize lost a field.
_HEADERS_SIZE_SLACK = 16


def sanitized_fields(flow: http.HTTPFlow) -> tuple[str, ...]:
    """Header names a HAR exporter blanked or dropped on ``flow`` (sorted, no duplicates).

    Blank values are visible on the flow itself; dropped fields only in the HAR entry,
    whose findings :func:`read_flows` stores under :data:`HAR_METADATA_KEY`.
    """
    names: set[str] = set()
    info = _har_info(flow)
    if info is not None:
        names.update(str(n) for n in info.get("sanitized", ()) if isinstance(n, str))
    for name in _SANITIZABLE:
        if any(not v.strip() for v in flow.request.headers.get_all(name)):
            names.add(name)
    if flow.response is not None:
        for name in _SANITIZABLE_RESPONSE:
            if any(not v.strip() for v in flow.response.headers.get_all(name)):
                names.add(name)
    return tuple(sorted(names))


def har_entry_sanitized(
    entry: Mapping[str, Any], *, sizes_are_wire_sizes: bool = True
) -> tuple[str, ...]:
    """Which sensitive fields a HAR entry shows signs of having lost on export.

    Signs: a sensitive header with an empty value; parsed ``cookies`` without the header
    they were parsed from; cookies whose values are all blank; a header block clearly shorter than
    the exporter's own ``headersSize`` while no credential or cookie field is listed
    (Chrome's default "sanitized" export drops Authorization, Cookie and Set-Cookie whole).
    The last sign needs ``headersSize`` to be a wire size; mitmproxy's own HAR writer puts
    the length of the headers' Python repr there, so pass ``sizes_are_wire_sizes=False``
    for its files.
    """
    out: set[str] = set()
    for part, names, cookie_field in (
        ("request", _SANITIZABLE, "Cookie"),
        ("response", _SANITIZABLE_RESPONSE, "Set-Cookie"),
    ):
        message = entry.get(part)
        if not isinstance(message, Mapping):
            continue
        headers = [
            (str(h.get("name", "")), str(h.get("value", "")))
            for h in message.get("headers") or ()
            if isinstance(h, Mapping)
        ]
        present = {n.lower() for n, _ in headers}
        for name, value in headers:
            for wanted in names:
                if name.lower() == wanted.lower() and not value.strip():
                    out.add(wanted)
        cookies = [c for c in message.get("cookies") or () if isinstance(c, Mapping)]
        if cookies and cookie_field.lower() not in present:
            out.add(cookie_field)
        if cookies and all(not str(c.get("value", "")).strip() for c in cookies):
            out.add(cookie_field)  # one empty cookie is legal; all of them is an exporter
        size = message.get("headersSize")
        if (
            sizes_are_wire_sizes
            and isinstance(size, int)
            and size > 0
            and not any(n.lower() in present for n in names)
            and size - _header_block_size(part, message, headers) >= _HEADERS_SIZE_SLACK
        ):
            out.update(names if part == "response" else ("Authorization", "Cookie"))
    return tuple(sorted(out))


def _header_block_size(
    part: str, message: Mapping[str, Any], headers: list[tuple[str, str]]
) -> int:
    # HTTP/1.x wire size of the listed fields plus the first line and the blank line.
    if part == "request":
        first = f"{message.get('method', '')} {message.get('url', '')} HTTP/1.1\r\n"
    else:
        first = f"HTTP/1.1 {message.get('status', '')} {message.get('statusText', '')}\r\n"
    return len(first.encode()) + sum(len(f"{n}: {v}\r\n".encode()) for n, v in headers) + 2


def _har_info(flow: http.HTTPFlow) -> dict[str, Any] | None:
    info = flow.metadata.get(HAR_METADATA_KEY)
    return info if isinstance(info, dict) else None


def _har_status_text(info: dict[str, Any] | None) -> str | None:
    text = info.get("status_text") if info else None
    return text if isinstance(text, str) and text else None


def _har_connections(
    flow: http.HTTPFlow, info: dict[str, Any] | None
) -> tuple[Connection, Connection]:
    # mitmproxy's importer fabricates the client connection (a fresh id per entry): never
    # let that pass for connection identity. Chrome's HAR names the browser's socket in
    # "connection"; that one is real.
    conn_id = info.get("connection") if info else None
    tls = flow.request.scheme == "https"
    http_version = flow.request.http_version
    alpn = "h2" if http_version.startswith("HTTP/2") else None
    client = Connection(id=f"har-connection:{conn_id}" if conn_id else None, tls=tls, alpn=alpn)
    server_ip = info.get("server_ip") if info else None
    server = Connection(tls=tls, peer=str(server_ip) if server_ip else None)
    return client, server


# --- capture files ---------------------------------------------------------------------------


class CaptureError(Exception):
    """A capture file cannot be used (missing, unreadable, not a flow file or HAR).

    The message is one sentence naming the file; the CLI prints it and exits with 2.
    """


def read_flows(path: str | Path) -> Iterator[http.HTTPFlow]:
    """Yield the HTTP flows of a mitmproxy flow file, a HAR (``.har``) or a zlib HAR (``.zhar``).

    Flow files go through ``mitmproxy.io.FlowReader``; HAR entries through mitmproxy's
    own ``request_to_flow``, one entry at a time so that one odd entry (a ``data:`` URL, a
    missing field) is skipped with a warning instead of losing the file. HAR-only facts
    (fields blanked on export, the browser's connection id, the status text, how authlens
    exported an annotated HAR) are kept in ``flow.metadata[HAR_METADATA_KEY]``; an entry's
    ``comment`` and ``_authlens`` come back as ``flow.comment`` and
    ``flow.metadata["authlens"]``. Non-HTTP flows (TCP, DNS, ...) are skipped.

    Raises :class:`CaptureError` for a file that cannot be read or parsed at all; the
    error is raised before the first flow for HAR, and where the damage starts for flow
    files (flows before it have been yielded).
    """
    path = Path(path)
    try:
        data_head = _peek(path)
    except OSError as exc:
        raise CaptureError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if _is_zlib(data_head) and path.suffix.lower() == ".zhar":
        yield from _read_har(path, _load_zhar(path))
    elif data_head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        yield from _read_har(path, _load_json(path))
    else:
        yield from _read_flowfile(path)


def _peek(path: Path) -> bytes:
    with path.open("rb") as fo:
        return fo.read(64)


def _is_zlib(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0


def _load_json(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8-sig")
        return json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CaptureError(f"{path} is not a valid HAR file ({_short(exc)})") from exc


def _load_zhar(path: Path) -> Any:
    try:
        return json.loads(zlib.decompress(path.read_bytes()).decode("utf-8-sig"))
    except (OSError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise CaptureError(f"{path} is not a valid compressed HAR file ({_short(exc)})") from exc


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _read_har(path: Path, document: Any) -> Iterator[http.HTTPFlow]:
    log = document.get("log") if isinstance(document, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise CaptureError(f"{path} is JSON but not a HAR file (no log.entries)")
    creator = log.get("creator") if isinstance(log, dict) else None
    wire_sizes = not (isinstance(creator, dict) and creator.get("name") == "mitmproxy")
    # An annotated HAR says how authlens exported it ({"version": 1, "redacted": bool}).
    mark = log.get("_authlens") if isinstance(log, dict) else None
    export = dict(mark) if isinstance(mark, dict) else None
    skipped = 0
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            skipped += 1
            continue
        url = str((entry.get("request") or {}).get("url", ""))
        if not url.lower().startswith(("http://", "https://")):
            skipped += 1  # data:, blob:, chrome-extension: ... never went over HTTP
            continue
        try:
            flow = request_to_flow(entry)
        except Exception as exc:  # mitmproxy's reader raises KeyError/ValueError/...
            logger.warning("%s: HAR entry %d skipped (%s)", path, index, _short(exc))
            skipped += 1
            continue
        flow.metadata[HAR_METADATA_KEY] = _har_metadata(entry, wire_sizes)
        if export is not None:
            flow.metadata[HAR_METADATA_KEY]["authlens_export"] = dict(export)
        _restore_annotation(flow, entry)
        yield flow
    if skipped:
        logger.info("%s: %d HAR entries were not HTTP exchanges and were skipped", path, skipped)


def _restore_annotation(flow: http.HTTPFlow, entry: Mapping[str, Any]) -> None:
    """Give a flow read from HAR its entry's ``comment`` and authlens' ``_authlens``.

    mitmproxy's reader drops both. With them back, a re-judged flow replaces its old
    authlens block instead of stacking a second one, and a comment a person wrote in the
    HAR survives into the next export.
    """
    comment = entry.get("comment")
    if isinstance(comment, str) and comment:
        flow.comment = comment
    annotation = entry.get("_authlens")
    if isinstance(annotation, dict):
        flow.metadata[ANNOTATION_KEY] = annotation


def _har_metadata(entry: Mapping[str, Any], wire_sizes: bool = True) -> dict[str, Any]:
    response = entry.get("response")
    status_text = response.get("statusText") if isinstance(response, Mapping) else None
    connection = entry.get("connection")
    server_ip = entry.get("serverIPAddress")
    return {
        "sanitized": list(har_entry_sanitized(entry, sizes_are_wire_sizes=wire_sizes)),
        "connection": str(connection) if connection not in (None, "") else None,
        "server_ip": str(server_ip) if server_ip else None,
        "status_text": str(status_text) if status_text else None,
    }


def _read_flowfile(path: Path) -> Iterator[http.HTTPFlow]:
    try:
        fo = path.open("rb")
    except OSError as exc:
        raise CaptureError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with fo:
        reader = FlowReader(fo)
        count = 0
        try:
            for flow in reader.stream():
                count += 1
                if isinstance(flow, http.HTTPFlow):
                    yield flow
        # mitmproxy before 12.2 lets AttributeError out of stream() for a record that is
        # valid tnetstring but not a flow (migrate_flow calls .get on it).
        except (exceptions.FlowReadException, AttributeError) as exc:
            where = f" after {count} flows" if count else ""
            raise CaptureError(
                f"{path} is neither a mitmproxy flow file nor a HAR file, or is damaged{where} "
                f"({_short(exc)})"
            ) from exc
