"""Detectors: one function per diagnosis, grouped by family, registered by decorator.

A detector is ``@detects(CONSTANT)`` on a function that takes a read-only
:class:`Context` and yields :class:`Hit` objects (usually none). Each hit carries
evidence sentences, a confidence in [0, 1], the template slots of its diagnosis, and
optionally a severity that overrides the catalogue default (``missing-credentials`` is
only ``info`` on a normal first leg). Evidence and slots hold no secrets: user names,
realms, hosts and :class:`~authlens.secret.Secret` fingerprints only.

:func:`registry` imports every module of this package once and checks the catalogue
against what registered: an ID with no detector, or two, is an import-time error (the
``DEFERRED`` IDs and the engine's own ``internal-error`` excepted), so a
diagnosis cannot be declared and silently never detected.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from authlens.challenge import PROXY_AUTHENTICATE, WWW_AUTHENTICATE, Challenge
from authlens.client import ClientInfo
from authlens.credentials import AUTHORIZATION, PROXY_AUTHORIZATION, Credentials
from authlens.diagnose.api import AnalyzerConfig
from authlens.diagnose.catalogue import CATALOGUE, DEFERRED, ENGINE_EMITTED, Diagnosis
from authlens.findings import Severity
from authlens.handshake import HandshakeView
from authlens.model import Exchange, Request, Response
from authlens.refusal import RefusedBy

if TYPE_CHECKING:
    from authlens.compare import Comparison


class RegistryError(RuntimeError):
    """The catalogue and the detectors disagree (raised at import time)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One reason to believe a diagnosis, from one detector."""

    evidence: tuple[str, ...]
    confidence: float
    slots: Mapping[str, str]
    severity: Severity | None = None


def hit(
    evidence: Iterable[str],
    confidence: float,
    severity: Severity | None = None,
    **slots: str,
) -> Hit:
    """Shorthand for detectors: ``yield hit(["..."], 0.9, field="Authorization")``."""
    return Hit(
        tuple(evidence), max(0.0, min(1.0, confidence)), MappingProxyType(dict(slots)), severity
    )


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a detector may read about one exchange. Nothing in it is mutable."""

    exchange: Exchange
    www: tuple[Challenge, ...]
    proxy: tuple[Challenge, ...]
    authorization: Credentials | None
    proxy_authorization: Credentials | None
    client: ClientInfo
    refused_by: RefusedBy
    view: HandshakeView
    config: AnalyzerConfig
    # Lower-cased names of auth fields whose value the capture does not show (HAR export).
    unknown_fields: frozenset[str] = field(default_factory=frozenset)
    # The browser-versus-script comparison of a refused request with its baseline.
    comparison: Comparison | None = None

    @property
    def request(self) -> Request:
        return self.exchange.request

    @property
    def response(self) -> Response | None:
        return self.exchange.response

    @property
    def status(self) -> int | None:
        return self.exchange.status

    @property
    def refused(self) -> bool:
        return self.status in (401, 407)

    @property
    def challenges(self) -> tuple[Challenge, ...]:
        return self.www + self.proxy

    @property
    def field(self) -> str:
        """The credentials field this exchange is about (Proxy-Authorization for a 407)."""
        return self.view.field or (PROXY_AUTHORIZATION if self.status == 407 else AUTHORIZATION)

    @property
    def challenge_field(self) -> str:
        return PROXY_AUTHENTICATE if self.field == PROXY_AUTHORIZATION else WWW_AUTHENTICATE

    @property
    def credentials(self) -> Credentials | None:
        """The credentials in :attr:`field`."""
        return self.proxy_authorization if self.field == PROXY_AUTHORIZATION else self.authorization

    @property
    def offered(self) -> tuple[Challenge, ...]:
        """The challenges for :attr:`field` (Proxy-Authenticate for a 407)."""
        return self.proxy if self.field == PROXY_AUTHORIZATION else self.www

    def is_unknown(self, field_name: str) -> bool:
        return field_name.lower() in self.unknown_fields

    def reference_time(self) -> tuple[float, str] | None:
        """The time to judge token lifetimes against, and how to name it in a sentence.

        The response's Date is the server's clock (RFC 9110 §6.6.1), which is what the
        server judged by; without one, the capture's own clock stands in and the text
        says so.
        """
        response = self.response
        date = response.headers.get("Date") if response is not None else None
        if date:
            parsed: datetime | None
            try:
                parsed = parsedate_to_datetime(date)
            except (TypeError, ValueError, IndexError):
                parsed = None
            if parsed is not None and parsed.tzinfo is not None:
                return parsed.timestamp(), f"the response's Date ({date.strip()})"
        stamp = self.exchange.timestamp_end or self.exchange.timestamp_start
        if stamp is not None:
            return stamp, "the time of the capture (the response has no Date header)"
        return None


Detector = Callable[[Context], Iterator[Hit]]

_DETECTORS: dict[Diagnosis, list[Detector]] = {}


def detects(diagnosis: Diagnosis) -> Callable[[Detector], Detector]:
    """Register the decorated function as the detector of ``diagnosis``."""

    def register(func: Detector) -> Detector:
        _DETECTORS.setdefault(diagnosis, []).append(func)
        return func

    return register


_loaded: Mapping[Diagnosis, Detector] | None = None


def registry() -> Mapping[Diagnosis, Detector]:
    """Every detector by diagnosis, in catalogue order; checked on first use.

    Raises :class:`RegistryError` when a catalogue ID has no detector or more than one
    (except :data:`DEFERRED` and :data:`ENGINE_EMITTED`), or a detector's ID is not in
    the catalogue.
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    problems = check(_DETECTORS)
    if problems:
        raise RegistryError("; ".join(problems))
    _loaded = MappingProxyType({d: _DETECTORS[d][0] for d in CATALOGUE if d in _DETECTORS})
    return _loaded


def check(detectors: Mapping[Diagnosis, list[Detector]]) -> list[str]:
    """What is wrong between the catalogue and ``detectors`` (empty when all is well)."""
    problems: list[str] = []
    exempt = DEFERRED | ENGINE_EMITTED
    for diagnosis in CATALOGUE:
        found = detectors.get(diagnosis, [])
        if diagnosis in exempt:
            if found:
                problems.append(f"{diagnosis.id} is not to be detected here, but has a detector")
        elif not found:
            problems.append(f"{diagnosis.id} has no detector")
        elif len(found) > 1:
            names = ", ".join(f"{f.__module__}.{f.__name__}" for f in found)
            problems.append(f"{diagnosis.id} has {len(found)} detectors: {names}")
    for diagnosis in detectors:
        if diagnosis not in CATALOGUE:
            problems.append(f"{diagnosis.id} is detected but not in the catalogue")
    return problems


def summary_text(value: Any, limit: int = 80) -> str:
    """A value from a decoded summary for a sentence: control characters escaped, cut."""
    text = str(value)
    cut = len(text) > limit
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text[:limit])
    return text + ("…" if cut else "")


def asker(ctx: Context) -> str:
    """'The server' or 'The proxy': who asked for the credentials of :attr:`Context.field`."""
    return "The proxy" if ctx.field == PROXY_AUTHORIZATION else "The server"


def schemes_text(challenges: Iterable[Challenge]) -> str:
    """'Basic or Digest': the schemes offered, as written, without repeats."""
    names = list(dict.fromkeys(c.scheme for c in challenges if c.scheme))
    return " or ".join(names) if names else "no scheme"


def space_text(ctx: Context) -> str:
    """The protection space in words: 'Basic realm "x" at https://h:443'."""
    offered = [c for c in ctx.offered if c.scheme]
    realm = next((c.params["realm"] for c in offered if "realm" in c.params), None)
    where = realm_text = ""
    if realm is not None:
        realm_text = f' realm "{summary_text(realm, 60)}"'
    if ctx.field == PROXY_AUTHORIZATION:
        name = ctx.refused_by.name or ctx.exchange.upstream_proxy or ""
        where = f" at the proxy {summary_text(name, 60)}" if name else " at the proxy"
    else:
        where = f" at {ctx.request.origin}"
    if not offered:
        return f"an unnamed scheme{where}"
    return f"{schemes_text(offered)}{realm_text}{where}"


def request_target(request: Request) -> str:
    """The request target as a Digest ``uri`` should carry it: path and query (RFC 9112 §3.2)."""
    parts = urlsplit(request.url)
    if request.method.upper() == "CONNECT":
        return parts.netloc
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
