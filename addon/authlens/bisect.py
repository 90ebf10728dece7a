"""Proof by replay: which of the browser's differences turn the refusal into success.

Given the refused request and the differences to the accepted browser request
(:mod:`authlens.compare`), replay the refused request with subsets of the browser's side
applied and narrow them down to the smallest set that makes the server accept it: Zeller's
delta debugging (ddmin), which finds a 1-minimal set (dropping any one element of it brings
the refusal back) in O(n²) tests worst case and about 2·log₂(n) for a single culprit.

Two shortcuts keep it to a handful of requests on the common cases, both still proofs:
the refusal is first replayed unchanged (it must still be refused, or the server's state
moved on and nothing can be proven), then the top-ranked difference alone is tried (if it
succeeds, {top} is minimal, since the empty set failed). Only then does ddmin run, and only
after the full set is shown to succeed (otherwise what decides is not replayable: TLS,
HTTP version, expired state).

Every test is one real request, so the search has a hard cap (``max_requests``), caches
results per subset, and never runs by itself: callers invoke it on the user's request.

The sender here (:func:`send_via_http_client`) is deliberately tiny and refuses anything
but loopback addresses; the mitmproxy integration replays through mitmproxy instead.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlens.compare import BODY, COOKIE, HEADER, QUERY, Difference, Patch, parse_cookies
from authlens.model import Exchange

DEFAULT_MAX_REQUESTS = 32
HARD_MAX_REQUESTS = 256  # whatever the caller asks, never more than this
PROVEN = "proven"
CAPPED = "capped"
NOT_REPRODUCED = "not-reproduced"
INSUFFICIENT = "insufficient"
NOTHING = "nothing-to-test"

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "proxy-authorization",
    }
)


@dataclass(frozen=True, slots=True)
class BisectResult[T: Hashable]:
    """The outcome of :func:`minimal_set`.

    ``decisive`` is the minimal set found (in the input order), ``requests_sent`` how
    many tests ran, ``capped`` whether the cap stopped the search early (``decisive`` is
    then a set known to succeed, perhaps not minimal). ``outcome`` is "proven",
    "capped", "not-reproduced" (the unchanged request now succeeds), "insufficient"
    (even every difference together fails) or "nothing-to-test". ``trace`` lists each
    test: its size and result, for the report.
    """

    decisive: list[T]
    requests_sent: int
    capped: bool
    outcome: str = PROVEN
    trace: tuple[Mapping[str, Any], ...] = ()


class _Budget(Exception):
    """The request cap was reached."""


class _Tester[T: Hashable]:
    """Runs tests with a cache and a budget, keeping a trace."""

    def __init__(self, try_request: Callable[[set[T]], bool], max_requests: int) -> None:
        self.try_request = try_request
        self.max_requests = max(0, min(max_requests, HARD_MAX_REQUESTS))
        self.sent = 0
        self.cache: dict[frozenset[T], bool] = {}
        self.trace: list[Mapping[str, Any]] = []

    def __call__(self, subset: Iterable[T]) -> bool:
        key = frozenset(subset)
        if key in self.cache:
            return self.cache[key]
        if self.sent >= self.max_requests:
            raise _Budget
        self.sent += 1
        ok = bool(self.try_request(set(key)))
        self.cache[key] = ok
        self.trace.append({"size": len(key), "success": ok})
        return ok


def minimal_set[T: Hashable](
    differences: Sequence[T],
    try_request: Callable[[set[T]], bool],
    max_requests: int = DEFAULT_MAX_REQUESTS,
    *,
    confirm_refusal: bool = True,
) -> BisectResult[T]:
    """The smallest subset of ``differences`` for which ``try_request`` succeeds.

    ``differences`` should be ranked (most likely first): the top one is tried alone
    first. ``try_request(subset)`` sends the refused request with ``subset`` applied and
    returns True on success. ``confirm_refusal`` first replays the request unchanged (one
    request) so that "the empty set fails" is observed now, not assumed from the capture.
    """
    items = list(dict.fromkeys(differences))
    tester: _Tester[T] = _Tester(try_request, max_requests)

    def result(decisive: list[T], outcome: str, capped: bool = False) -> BisectResult[T]:
        ordered = [d for d in items if d in set(decisive)]
        return BisectResult(ordered, tester.sent, capped, outcome, tuple(tester.trace))

    if not items:
        return result([], NOTHING)
    best: list[T] = list(items)
    try:
        if confirm_refusal and tester([]):
            return result([], NOT_REPRODUCED)
        if tester(items[:1]):
            return result(items[:1], PROVEN)
        if len(items) == 1:
            return result([], INSUFFICIENT)
        if not tester(items):
            return result([], INSUFFICIENT)
        best = _ddmin(items, tester, best)
    except _Budget:
        return result(best if tester.cache.get(frozenset(best)) else [], CAPPED, capped=True)
    return result(best, PROVEN)


def _ddmin[T: Hashable](items: list[T], test: _Tester[T], best: list[T]) -> list[T]:
    """ddmin (Zeller & Hildebrandt 2002) over ``items``, known to succeed as a whole.

    ``best`` is updated in place through the returned list so a capped search still has
    the smallest succeeding set seen. Terminates: each round either shrinks ``current`` or
    doubles the granularity up to ``len(current)``.
    """
    current = list(items)
    n = 2
    while len(current) >= 2:
        chunks = _split(current, n)
        reduced = False
        for chunk in chunks:
            if test(chunk):
                current, n, reduced = chunk, 2, True
                break
        if not reduced and n > 2:
            # With two chunks each complement is the other chunk, already tested above.
            for chunk in chunks:
                complement = [d for d in current if d not in chunk]
                if test(complement):
                    current, n, reduced = complement, max(n - 1, 2), True
                    break
        if reduced:
            best[:] = current
            continue
        if n >= len(current):
            break
        n = min(2 * n, len(current))
    best[:] = current
    return current


def _split[T](items: list[T], n: int) -> list[list[T]]:
    size, extra = divmod(len(items), n)
    out: list[list[T]] = []
    start = 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        if end > start:
            out.append(items[start:end])
        start = end
    return out


# --- building the replayed request ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """A request to send: method, absolute URL, header fields in order, body."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @classmethod
    def from_exchange(cls, exchange: Exchange) -> ReplayRequest:
        request = exchange.request
        return cls(request.method, request.url, tuple(request.headers.fields), request.body)

    def header(self, name: str) -> str | None:
        key = name.lower()
        return next((v for k, v in self.headers if k.lower() == key), None)


def replayable(differences: Iterable[Difference]) -> list[Difference]:
    """The differences replay can apply, in their order."""
    return [d for d in differences if d.patch is not None]


def apply_differences(base: ReplayRequest, differences: Iterable[Difference]) -> ReplayRequest:
    """``base`` with the browser's side of each difference applied (order kept where a
    field already exists, new ones appended). Differences without a patch are skipped."""
    request = base
    for diff in differences:
        if diff.patch is not None:
            request = apply_patch(request, diff.patch)
    return request


def apply_patch(request: ReplayRequest, patch: Patch) -> ReplayRequest:
    value = patch.raw()
    if patch.target == HEADER:
        return _set_header(request, patch.name, value)
    if patch.target == COOKIE:
        return _set_cookie(request, patch.name, value)
    if patch.target == QUERY:
        return _set_query(request, patch.name, value)
    if patch.target in ("form", "json", BODY):
        return _set_field(request, patch.target, patch.name, value)
    return request


def _set_header(request: ReplayRequest, name: str, value: str | None) -> ReplayRequest:
    key = name.lower()
    out: list[tuple[str, str]] = []
    placed = False
    for k, v in request.headers:
        if k.lower() != key:
            out.append((k, v))
        elif value is not None and not placed:
            out.append((name, value))
            placed = True
    if value is not None and not placed:
        out.append((name, value))
    return ReplayRequest(request.method, request.url, tuple(out), request.body)


def _set_cookie(request: ReplayRequest, name: str, value: str | None) -> ReplayRequest:
    cookies = parse_cookies(v for k, v in request.headers if k.lower() == "cookie")
    if value is None:
        cookies.pop(name, None)
    else:
        cookies[name] = value
    joined = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return _set_header(request, "Cookie", joined or None)


def _set_query(request: ReplayRequest, key: str, value: str | None) -> ReplayRequest:
    parts = urlsplit(request.url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != key]
    if value is not None:
        pairs.append((key, value))
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs), parts.fragment))
    return ReplayRequest(request.method, url, request.headers, request.body)


def _set_field(request: ReplayRequest, target: str, key: str, value: str | None) -> ReplayRequest:
    body = (request.body or b"").decode("utf-8", "replace")
    if target == "form":
        pairs = [(k, v) for k, v in parse_qsl(body, keep_blank_values=True) if k != key]
        if value is not None:
            pairs.append((key, value))
        new = urlencode(pairs).encode()
    elif target == "json":
        try:
            doc = json.loads(body) if body.strip() else {}
        except ValueError:
            return request
        if not isinstance(doc, dict):
            return request
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = json.loads(value)  # compare stores JSON values as JSON text
        new = json.dumps(doc).encode()
    else:
        return request
    return ReplayRequest(request.method, request.url, request.headers, new)


# --- sending (loopback only) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayResponse:
    status: int
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def send_via_http_client(
    request: ReplayRequest, *, timeout: float = 10.0, max_body: int = 64 * 1024
) -> ReplayResponse:
    """Send ``request`` with ``http.client`` and return the status and a body prefix.

    Only to loopback (127.0.0.0/8, ::1, localhost): this helper exists for tests and
    local proofs, and must never become a way to fire requests at someone else's server.
    Hop-by-hop fields are dropped and Content-Length recomputed; header order and case
    are kept. Raises ValueError for other hosts and OSError on network failure.
    """
    parts = urlsplit(request.url)
    host = parts.hostname or ""
    if not _loopback(host):
        raise ValueError(f"send_via_http_client only sends to loopback, not {host!r}")
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {parts.scheme!r}")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # loopback test servers use throwaway certs
        conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
        has_host = False
        for name, value in request.headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP or lower.startswith(":"):
                continue
            has_host = has_host or lower == "host"
            conn.putheader(name, value)
        if not has_host:
            conn.putheader("Host", parts.netloc)
        body = request.body or b""
        if body or request.method.upper() in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        data = response.read(max_body)
        return ReplayResponse(response.status, response.reason, tuple(response.getheaders()), data)
    except TimeoutError as exc:
        raise OSError(f"replay timed out after {timeout} s") from exc
    finally:
        conn.close()


def is_success(status: int) -> bool:
    """2xx or 3xx: the refusal turned into acceptance."""
    return 200 <= status < 400


@dataclass
class Replayer:
    """``try_request`` for :func:`minimal_set`: applies a subset to the base request and
    sends it. ``send`` is any function from :class:`ReplayRequest` to a status code or a
    :class:`ReplayResponse` (the mitmproxy integration passes its own)."""

    base: ReplayRequest
    send: Callable[[ReplayRequest], ReplayResponse | int] = send_via_http_client
    success: Callable[[int], bool] = is_success
    order: Sequence[Difference] = ()
    statuses: list[int] = field(default_factory=list)

    def __call__(self, subset: set[Difference]) -> bool:
        ordered = [d for d in self.order if d in subset] or list(subset)
        answer = self.send(apply_differences(self.base, ordered))
        status = answer if isinstance(answer, int) else answer.status
        self.statuses.append(status)
        return self.success(status)


def prove(
    refused: Exchange,
    differences: Sequence[Difference],
    *,
    send: Callable[[ReplayRequest], ReplayResponse | int] = send_via_http_client,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    success: Callable[[int], bool] = is_success,
) -> BisectResult[Difference]:
    """Replay ``refused`` with the browser's replayable differences and find the minimal
    set that makes it succeed (see :func:`minimal_set`). Never runs by itself: call it
    when the user asks (``authlens.bisect``)."""
    candidates = replayable(differences)
    replayer = Replayer(ReplayRequest.from_exchange(refused), send, success, candidates)
    return minimal_set(candidates, replayer, max_requests)
