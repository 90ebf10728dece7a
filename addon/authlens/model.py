"""The small exchange model the core works on, free of mitmproxy.

``authlens.mitm.adapter`` builds it from mitmproxy flows (live, flow files, HAR via
mitmproxy's reader); tests build it directly. Unknown is not absent: ``None`` in a field
typed ``X | None`` means *the capture cannot tell* (a HAR has no connection identity, no
raw header order from some browsers), while an empty value means *known to be empty*.
Diagnoses must say "cannot judge" on unknown rather than treat it as fine.

Nothing changes a model object once it is built (a new one is made instead), but
:class:`Request`, :class:`Response`, :class:`Connection` and :class:`Exchange` are not
frozen dataclasses: the live addon builds five per refused flow, and a frozen dataclass
sets every field through ``object.__setattr__``, which cost more than the rest of the
adapter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_AUTH_STATUS_IN_ERROR = re.compile(r"\b(401|407)\b")

# Bodies are kept only as a prefix: enough to recognise an IIS error page or a login
# form, never enough to make a long run grow.
MAX_BODY_PREFIX = 16 * 1024


@dataclass(frozen=True, slots=True)
class Headers:
    """Header fields in order, casing kept (h11 style); lookups are case-insensitive."""

    fields: tuple[tuple[str, str], ...] = ()
    # Lower-cased name -> values in order, built on the first lookup: the engine asks a
    # few dozen questions of each exchange, and lowering every name each time dominated.
    _index: dict[str, list[str]] | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def of(cls, items: Iterable[tuple[str, str]]) -> Headers:
        return cls(tuple(items))

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = {}
            for k, v in self.fields:
                key = k.lower()
                values = index.get(key)
                if values is None:
                    index[key] = [v]
                else:
                    values.append(v)
            object.__setattr__(self, "_index", index)
        return index

    def get_all(self, name: str) -> list[str]:
        return list(self._lookup().get(name.lower(), ()))

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._lookup().get(name.lower())
        return values[0] if values else default

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name.lower() in self._lookup()

    def names(self) -> list[str]:
        return [k for k, _ in self.fields]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        # Never print credential or cookie values through a repr.
        shown = [(k, "<hidden>" if k.lower() in SENSITIVE_HEADERS else v) for k, v in self.fields]
        return f"Headers({shown!r})"


SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-csrf-token", "x-xsrf-token"}
)


@dataclass(slots=True)
class Request:
    method: str
    url: str
    http_version: str = "HTTP/1.1"
    headers: Headers = field(default_factory=Headers)
    body: bytes | None = None  # a prefix of at most MAX_BODY_PREFIX bytes; None = unknown
    body_size: int | None = None
    # The parsed URL, on first use: rules ask for host, port and origin many times.
    _parts: tuple[str, str, int | None, str] | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    def _split(self) -> tuple[str, str, int | None, str]:
        parts = self._parts
        if parts is None:
            parts = _URL_PARTS.get(self.url)
            if parts is None:
                parts = _url_parts(self.url)
                if len(self.url) <= _MAX_CACHED_URL:
                    if len(_URL_PARTS) >= _MAX_URL_PARTS:
                        _URL_PARTS.clear()  # crude but bounded; traffic soon refills it
                    _URL_PARTS[self.url] = parts
            object.__setattr__(self, "_parts", parts)
        return parts

    @property
    def scheme(self) -> str:
        return self._split()[0]

    @property
    def host(self) -> str:
        return self._split()[1]

    @property
    def port(self) -> int | None:
        return self._split()[2]

    @property
    def origin(self) -> str:
        """scheme://host:port, the first part of a protection space (RFC 9110 §11.5)."""
        scheme, host, port, _ = self._split()
        return f"{scheme}://{host}:{port}"

    @property
    def path(self) -> str:
        return self._split()[3]


def _url_parts(url: str) -> tuple[str, str, int | None, str]:
    split = urlsplit(url)
    scheme = split.scheme.lower()
    try:
        port = split.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return (scheme, (split.hostname or "").lower(), port, split.path or "/")


# URL -> its parts: clients ask for the same URLs over and over, and urlsplit is not cheap.
_URL_PARTS: dict[str, tuple[str, str, int | None, str]] = {}
_MAX_URL_PARTS = 2048
_MAX_CACHED_URL = 2048


@dataclass(slots=True)
class Response:
    status_code: int
    reason: str = ""
    http_version: str = "HTTP/1.1"
    headers: Headers = field(default_factory=Headers)
    body: bytes | None = None  # prefix, decoded from Content-Encoding; None = unknown
    body_size: int | None = None
    # True when the proxy itself made the response (mitmproxy's proxyauth, an error page),
    # False when it came from upstream, None when the capture cannot tell (HAR).
    generated_by_proxy: bool | None = None


@dataclass(slots=True)
class Connection:
    """One side's connection. ``id`` None: the capture has no connection identity (HAR)."""

    id: str | None = None
    tls: bool | None = None
    alpn: str | None = None
    peer: str | None = None  # "host:port" of the other end, when known
    # TLS ClientHello fingerprint (JA3-style) of the client; only on client connections.
    tls_fingerprint: str | None = None
    sni: str | None = None


@dataclass(slots=True)
class Exchange:
    """One request and its response (or error), with where it travelled.

    ``source`` says where it came from: "live", "flowfile" or "har". ``mode`` is
    mitmproxy's proxy mode ("regular", "upstream", "reverse", ...), None when unknown.
    ``sanitized`` lists header names an exporter is known to have blanked (HAR).
    """

    id: str
    request: Request
    response: Response | None = None
    error: str | None = None
    client: Connection = field(default_factory=Connection)
    server: Connection = field(default_factory=Connection)
    timestamp_start: float | None = None
    timestamp_end: float | None = None
    source: str = "live"
    mode: str | None = None
    is_connect: bool = False
    sanitized: tuple[str, ...] = ()
    # Upstream proxy address when mitmproxy forwards through one ("upstream" mode).
    upstream_proxy: str | None = None

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response else None

    @property
    def error_status(self) -> int | None:
        """A 401/407 that exists only in the error text: mitmproxy reports an upstream
        proxy's 407 to its own CONNECT as the error of the request inside the tunnel."""
        if self.response is not None or not self.error:
            return None
        m = _AUTH_STATUS_IN_ERROR.search(self.error)
        return int(m.group(1)) if m else None
