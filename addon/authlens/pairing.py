"""Pairing: for a refused automated request, the accepted browser requests to the same endpoint.

A comparison is only as good as its baseline: the browser request must have asked for the
same thing. "The same endpoint" is the method, the origin and the path with its variable
parts (numeric ids, UUIDs, hex ids, opaque tokens, e-mail addresses) replaced by
placeholders, so ``GET /api/orders/123`` pairs with ``GET /api/orders/456``. Query *keys*
(not values) refine the choice. Among candidates the best is: the same exact path, then the
same query keys, then the closest in time.

Captures can come from different tools (a browser's DevTools HAR against a mitmproxy
capture of the script), so loopback aliases (``localhost``, ``127.0.0.1``, ``[::1]``) are
one origin, and nothing depends on connection identity.

:class:`PairingIndex` keeps accepted browser exchanges live, keyed by endpoint, under an
LRU cap on endpoints and a cap per endpoint, so memory stays bounded on long runs; it
also remembers refused automated exchanges still waiting for a baseline, so a browser
request arriving later pairs with them.

Pure: works on :mod:`authlens.model` only.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import SplitResult, parse_qsl, urlsplit

from authlens.fingerprint import is_loopback_host, profile_request
from authlens.model import Exchange

REFUSED_STATUSES = frozenset({401, 403, 407})
DEFAULT_LIMIT = 5
MAX_SEGMENTS = 64  # path segments normalised; a longer path keeps its tail as is
MAX_QUERY_KEYS = 64

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NUMBER = re.compile(r"\d+")
_HEX = re.compile(r"[0-9a-fA-F]{8,}")
_TOKENISH = re.compile(r"[A-Za-z0-9_\-+.~]{16,}={0,2}")
_EMAIL = re.compile(r"[^@/\s]{1,64}@[^@/\s]{1,255}\.[A-Za-z]{2,}")
_SLUG_PART = re.compile(r"[a-z]+|\d{1,4}")
_EXTENSION = re.compile(r"(.+?)(\.[A-Za-z][A-Za-z0-9]{0,5})")
_LOGIN_PATH = re.compile(r"(?i)(^|/)(log-?in|sign-?in|auth(enticate)?|sso|oauth2?|saml)(/|$|\?)")


def normalise_segment(segment: str) -> str:
    """One path segment with a variable part replaced by a placeholder.

    ``123`` → ``{int}``, a UUID → ``{uuid}``, 8+ hex digits with a digit in them →
    ``{hex}``, an e-mail address → ``{email}``, an opaque 16+ character token mixing
    letters and digits (base64, base64url) → ``{token}``. Words and slugs stay
    (``my-first-post``, ``v2``, ``2024``).
    """
    if not segment:
        return segment
    if _EMAIL.fullmatch(segment):
        return "{email}"
    whole = _normalise_stem(segment)
    if whole != segment:
        return whole
    m = _EXTENSION.fullmatch(segment)  # "123.json" -> "{int}.json"
    if m:
        return _normalise_stem(m.group(1)) + m.group(2)
    return segment


def _normalise_stem(stem: str) -> str:
    if _NUMBER.fullmatch(stem):
        return "{int}"
    if _UUID.fullmatch(stem):
        return "{uuid}"
    if _HEX.fullmatch(stem) and any(c.isdigit() for c in stem):
        return "{hex}"
    if _TOKENISH.fullmatch(stem) and not _is_slug(stem):
        has_digit = any(c.isdigit() for c in stem)
        has_alpha = any(c.isalpha() for c in stem)
        mixed_case = any(c.isupper() for c in stem) and any(c.islower() for c in stem)
        if has_alpha and (has_digit or mixed_case):
            return "{token}"
    return stem


def _is_slug(stem: str) -> bool:
    parts = re.split(r"[-_]", stem)
    return len(parts) > 1 and all(_SLUG_PART.fullmatch(p) for p in parts if p)


@lru_cache(maxsize=4096)  # live traffic repeats its paths; the cache keeps that cheap
def normalise_path(path: str) -> str:
    """The path with each variable segment replaced (see :func:`normalise_segment`).

    Path parameters (``;jsessionid=...``, Java servlet URL rewriting) are dropped: they
    carry the session, not the endpoint.
    """
    segments = path.split("/")
    out = [normalise_segment(s.split(";", 1)[0]) for s in segments[:MAX_SEGMENTS]]
    return "/".join(out + segments[MAX_SEGMENTS:]) or "/"


def origin_key(url: str) -> str:
    """scheme://host:port, lower-cased, default port filled in, loopback aliases merged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url[:256]
    return _origin_of_parts(parts, url)


def _origin_of_parts(parts: SplitResult, url: str) -> str:
    """:func:`origin_key` of ``url``, already split into ``parts``."""
    netloc = parts.netloc
    if "@" in netloc:  # user:password@: kept out of the cache
        origin = _netloc_origin.__wrapped__(parts.scheme, netloc)
    else:
        origin = _netloc_origin(parts.scheme, netloc)
    return url[:256] if origin is None else origin


@lru_cache(maxsize=1024)  # a run talks to a few origins; parsing the netloc was most of it
def _netloc_origin(scheme: str, netloc: str) -> str | None:
    """:func:`origin_of` for a URL's scheme and netloc; None when the port is not a number."""
    parts = SplitResult(scheme, netloc, "", "", "")  # host and port depend on these alone
    try:
        port = parts.port
    except ValueError:
        return None
    return origin_of(parts.scheme, parts.hostname or "", port)


def origin_of(scheme: str, host: str, port: int | None) -> str:
    """:func:`origin_key` from parts already split (a live flow has them so)."""
    scheme = scheme.lower()
    host = host.lower()
    if is_loopback_host(host):
        host = "loopback"
    port = port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}:{port}"


def query_keys(url: str) -> frozenset[str]:
    try:
        query = urlsplit(url).query
    except ValueError:
        return frozenset()
    pairs = bounded_qsl(query, MAX_QUERY_KEYS * 4)
    return frozenset(k for k, _ in pairs[:MAX_QUERY_KEYS])


def bounded_qsl(text: str, limit: int) -> list[tuple[str, str]]:
    """``parse_qsl(text, keep_blank_values=True)`` of the first ``limit`` fields only.

    parse_qsl's own ``max_num_fields`` raises past its limit instead, which turned a
    refusal with a long query string into an internal error."""
    return parse_qsl("&".join(text.split("&", limit)[:limit]), keep_blank_values=True)


EndpointKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a request asked for, without its variable parts."""

    method: str
    origin: str
    path: str
    query_keys: frozenset[str] = frozenset()

    @property
    def key(self) -> EndpointKey:
        """The index key: method, origin and normalised path (query keys only rank)."""
        return (self.method, self.origin, self.path)

    def __str__(self) -> str:
        keys = "?" + "&".join(sorted(self.query_keys)) if self.query_keys else ""
        return f"{self.method} {self.origin}{self.path}{keys}"


def endpoint(exchange: Exchange) -> Endpoint:
    method, origin, path = _endpoint_key(exchange)
    return Endpoint(method, origin, path, query_keys(exchange.request.url))


def _endpoint_key(exchange: Exchange) -> EndpointKey:
    """:attr:`Endpoint.key` of ``exchange``: the URL split once, no query keys (only
    ranking reads them)."""
    request = exchange.request
    url = request.url
    method = request.method.upper()
    try:
        parts = urlsplit(url)
    except ValueError:
        return (method, url[:256], normalise_path("/"))
    return (method, _origin_of_parts(parts, url), normalise_path(parts.path or "/"))


def is_refused(exchange: Exchange) -> bool:
    """401, 403 or 407: the refusals a browser-versus-script comparison can explain."""
    return exchange.status in REFUSED_STATUSES


def is_accepted(exchange: Exchange) -> bool:
    """2xx, or a 3xx that does not send the client to a login page (a "soft 401")."""
    status = exchange.status
    if status is None or exchange.is_connect:
        return False
    if 200 <= status < 300:
        return True
    if 300 <= status < 400 and exchange.response is not None:
        location = exchange.response.headers.get("Location") or ""
        try:
            path = urlsplit(location).path or ""
        except ValueError:  # "http://[::1" and the like: not a login page we can name
            path = location
        return not _LOGIN_PATH.search(path)
    return False


def is_browser(exchange: Exchange) -> bool:
    """Sent by a real browser engine (headed or headless), not by a script posing as one."""
    return profile_request(exchange.request, exchange.client.tls_fingerprint).browser_engine


def is_baseline(exchange: Exchange) -> bool:
    return is_accepted(exchange) and is_browser(exchange)


def _score(refused: Exchange, target: Endpoint, candidate: Exchange) -> tuple[float, ...]:
    """Higher is better: exact path, exact method, same query keys, overlap, closeness."""
    here = endpoint(candidate)
    same_path = _raw_path(candidate) == _raw_path(refused)
    same_method = here.method == target.method
    same_keys = here.query_keys == target.query_keys
    union = here.query_keys | target.query_keys
    overlap = len(here.query_keys & target.query_keys) / len(union) if union else 1.0
    a, b = refused.timestamp_start, candidate.timestamp_start
    distance = abs(a - b) if a is not None and b is not None else math.inf
    return (float(same_path), float(same_method), float(same_keys), overlap, -distance)


def _raw_path(exchange: Exchange) -> str:
    try:
        return urlsplit(exchange.request.url).path or "/"
    except ValueError:
        return "/"


_ALTERNATE_METHODS = {"HEAD": "GET", "GET": "HEAD"}


def _matches(target: Endpoint, other: Endpoint) -> bool:
    if (other.origin, other.path) != (target.origin, target.path):
        return False
    return other.method == target.method or _ALTERNATE_METHODS.get(target.method) == other.method


def pair(
    refused: Exchange,
    candidates: Iterable[Exchange],
    *,
    limit: int = DEFAULT_LIMIT,
    vetted: bool = False,
    target: Endpoint | None = None,
) -> list[Exchange]:
    """The accepted browser exchanges to ``refused``'s endpoint, best first (at most
    ``limit``; on a tie the later candidate first). ``candidates`` may hold anything: other clients, refusals, ``refused``
    itself; they are filtered here (``vetted``: already known to be baselines, as in
    :class:`PairingIndex`; ``target``: ``refused``'s endpoint, when known). A single pass
    with a bounded best-list."""
    if target is None:
        target = endpoint(refused)
    scored: list[tuple[tuple[float, ...], int, Exchange]] = []
    for order, candidate in enumerate(candidates):
        if candidate.id == refused.id or not _matches(target, endpoint(candidate)):
            continue
        if not vetted and not is_baseline(candidate):
            continue
        # Ties go to the later candidate: the browser's most recent state.
        scored.append((_score(refused, target, candidate), order, candidate))
        if len(scored) > 4 * max(1, limit):
            scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
            del scored[limit:]
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [c for _, _, c in scored[: max(0, limit)]]


def endpoint_key(method: str, scheme: str, host: str, port: int | None, path: str) -> EndpointKey:
    """:attr:`Endpoint.key` from a request's parts, without building an exchange; ``path``
    may carry a query or a fragment."""
    cut = len(path)
    for mark in ("?", "#"):
        at = path.find(mark)
        if 0 <= at < cut:
            cut = at
    return (method.upper(), origin_of(scheme, host, port), normalise_path(path[:cut] or "/"))


class Deferred:
    """A possible browser baseline not built yet: its endpoint key now, the exchange only
    when a refusal at that endpoint needs it.

    Most accepted traffic is never compared with anything, so the live addon records it
    this way for the price of a few attribute reads; ``build`` must not keep large
    objects alive (the adapter gives it a snapshot with body prefixes only).
    """

    __slots__ = ("_build", "_value", "key", "sets_cookie")

    def __init__(
        self, key: EndpointKey, build: Callable[[], Exchange], *, sets_cookie: bool = False
    ) -> None:
        self.key = key
        self.sets_cookie = sets_cookie
        self._build: Callable[[], Exchange] | None = build
        self._value: Exchange | None = None

    def exchange(self) -> Exchange | None:
        """The exchange (built once); None if it cannot be built."""
        build = self._build
        if build is not None:
            self._build = None  # build once, and let the snapshot go
            try:
                self._value = build()
            except Exception:  # a hostile flow the adapter cannot read: no baseline
                self._value = None
        return self._value

    def baseline(self) -> Exchange | None:
        """The exchange if it is a baseline, else None. (Whether it matches a refusal's
        endpoint is :func:`pair`'s business, as for any candidate.)"""
        exchange = self.exchange()
        if exchange is None or not is_baseline(exchange):
            return None
        return exchange


def resolve(entries: Iterable[Exchange | Deferred]) -> list[Exchange]:
    """The exchanges of ``entries``, building deferred ones (those that fail are left out)."""
    out: list[Exchange] = []
    for entry in entries:
        exchange = entry.exchange() if isinstance(entry, Deferred) else entry
        if exchange is not None:
            out.append(exchange)
    return out


@dataclass(frozen=True, slots=True)
class Pairing:
    """A refused automated exchange and its best browser baseline."""

    refused: Exchange
    baseline: Exchange


class PairingIndex:
    """Accepted browser exchanges by endpoint, for live use; bounded.

    ``max_endpoints`` caps how many endpoints are remembered (least recently used go
    first); ``per_endpoint`` how many baselines and how many waiting refusals each keeps
    (the newest). Each stored exchange holds at most two body prefixes
    (``MAX_BODY_PREFIX``), so memory is bounded by the product of the caps. Baselines may
    be :class:`Deferred`: they are built (and vetted) only when a refusal at their
    endpoint asks for them, or at once when one is already waiting there.
    """

    def __init__(self, max_endpoints: int = 512, per_endpoint: int = 4) -> None:
        self.max_endpoints = max(1, max_endpoints)
        self.per_endpoint = max(1, per_endpoint)
        self._baselines: OrderedDict[EndpointKey, deque[Exchange | Deferred]] = OrderedDict()
        self._waiting: OrderedDict[EndpointKey, deque[Exchange]] = OrderedDict()

    def __len__(self) -> int:
        return sum(len(q) for q in self._baselines.values())

    def add(self, exchange: Exchange) -> bool:
        """Remember ``exchange`` if it can serve as a baseline. True if it was kept."""
        if not is_baseline(exchange):
            return False
        self._put(self._baselines, _endpoint_key(exchange), exchange)
        return True

    def add_deferred(self, deferred: Deferred) -> list[Pairing]:
        """Remember a baseline not built yet. When refusals already wait at its endpoint
        it is built now and paired with them (as :meth:`observe` would)."""
        if deferred.key in self._waiting:
            exchange = deferred.baseline()
            if exchange is None:
                return []
            self._put(self._baselines, deferred.key, exchange)
            waiting = self._waiting.pop(deferred.key, None)
            return [Pairing(refused, exchange) for refused in waiting or ()]
        self._put(self._baselines, deferred.key, deferred)
        return []

    def pair(
        self, refused: Exchange, *, limit: int = DEFAULT_LIMIT, target: Endpoint | None = None
    ) -> list[Exchange]:
        """Baselines for ``refused``, best first."""
        if target is None:
            target = endpoint(refused)
        found: list[Exchange] = []
        for method in (target.method, _ALTERNATE_METHODS.get(target.method)):
            if method is None:
                continue
            key = (method, target.origin, target.path)
            queue = self._baselines.get(key)
            if queue:
                self._baselines.move_to_end(key)
                found.extend(self._vetted(queue))
        if not found:
            return []
        return pair(refused, found, limit=limit, vetted=True, target=target)

    @staticmethod
    def _vetted(queue: deque[Exchange | Deferred]) -> list[Exchange]:
        """The baselines of ``queue``, deferred ones built (and replaced) in place."""
        out: list[Exchange] = []
        for index, entry in enumerate(queue):
            if isinstance(entry, Deferred):
                exchange = entry.baseline()
                if exchange is None:
                    continue
                queue[index] = exchange
                entry = exchange
            out.append(entry)
        return out

    def observe(self, exchange: Exchange) -> list[Pairing]:
        """Feed every exchange, in order. Returns the pairs this one completes: itself with
        its baseline when it is a refused non-browser request that has one, or the
        refusals that waited for a baseline when it is an accepted browser request."""
        if is_refused(exchange) and not is_browser(exchange):
            key = _endpoint_key(exchange)
            if self._has_baselines(key):  # else pair() finds nothing: skip the full endpoint
                best = self.pair(exchange, limit=1, target=endpoint(exchange))
                if best:
                    return [Pairing(exchange, best[0])]
            self._put(self._waiting, key, exchange)
            return []
        if not is_baseline(exchange):
            return []
        key = _endpoint_key(exchange)
        self._put(self._baselines, key, exchange)
        waiting = self._waiting.pop(key, None)
        return [Pairing(refused, exchange) for refused in waiting or ()]

    def _has_baselines(self, key: EndpointKey) -> bool:
        """Whether :meth:`pair` would look at any baseline for an endpoint with ``key``."""
        method, origin, path = key
        if self._baselines.get(key):
            return True
        alternate = _ALTERNATE_METHODS.get(method)
        return alternate is not None and bool(self._baselines.get((alternate, origin, path)))

    def _put[T](
        self,
        table: OrderedDict[EndpointKey, deque[T]],
        key: EndpointKey,
        entry: T,
    ) -> None:
        queue = table.get(key)
        if queue is None:
            queue = table[key] = deque(maxlen=self.per_endpoint)
        queue.append(entry)
        table.move_to_end(key)
        while len(table) > self.max_endpoints:
            table.popitem(last=False)
