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

import dataclasses
import functools
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


# Hit's generated __init__ sets each field through object.__setattr__ (it is frozen), which
# cost more than all the rest of hit(); hit() sets the slots through their descriptors.
_HIT_FIELDS = ("evidence", "confidence", "slots", "severity")
if tuple(f.name for f in dataclasses.fields(Hit)) != _HIT_FIELDS:  # pragma: no cover
    raise TypeError(f"hit() sets {_HIT_FIELDS}: update it with the fields of Hit")
_set_evidence, _set_confidence, _set_slots, _set_severity = (
    Hit.__dict__[name].__set__ for name in _HIT_FIELDS
)


def hit(
    evidence: Iterable[str],
    confidence: float,
    severity: Severity | None = None,
    **slots: str,
) -> Hit:
    """Shorthand for detectors: ``yield hit(["..."], 0.9, field="Authorization")``."""
    if not (type(confidence) is float and 0.0 < confidence <= 1.0):  # else min/max: a no-op
        confidence = max(0.0, min(1.0, confidence))
    made = object.__new__(Hit)
    _set_evidence(made, tuple(evidence))
    _set_confidence(made, confidence)
    # ``slots`` is this call's own fresh dict, so it needs no copy before it is wrapped.
    _set_slots(made, MappingProxyType(slots))
    _set_severity(made, severity)
    return made


@dataclass(slots=True)
class Context:
    """Everything a detector may read about one exchange. Detectors only read it; it is
    not frozen because one is built per judgement, and a frozen dataclass sets each field
    through ``object.__setattr__`` (the engine makes a new one rather than change one)."""

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

    # Detectors ask for the properties below dozens of times per exchange, so they call no
    # other property of this class: each such call cost more than what it computes.

    @property
    def status(self) -> int | None:
        response = self.exchange.response
        return response.status_code if response is not None else None

    @property
    def refused(self) -> bool:
        response = self.exchange.response
        return response is not None and response.status_code in (401, 407)

    @property
    def challenges(self) -> tuple[Challenge, ...]:
        return self.www + self.proxy

    @property
    def field(self) -> str:
        """The credentials field this exchange is about (Proxy-Authorization for a 407)."""
        return self.view.field or (
            PROXY_AUTHORIZATION if self.exchange.status == 407 else AUTHORIZATION
        )

    @property
    def for_proxy(self) -> bool:
        """Whether :attr:`field` is Proxy-Authorization."""
        field = self.view.field
        return field == PROXY_AUTHORIZATION if field else self.exchange.status == 407

    @property
    def challenge_field(self) -> str:
        return PROXY_AUTHENTICATE if self.for_proxy else WWW_AUTHENTICATE

    @property
    def credentials(self) -> Credentials | None:
        """The credentials in :attr:`field`."""
        field = self.view.field
        proxy = field == PROXY_AUTHORIZATION if field else self.exchange.status == 407
        return self.proxy_authorization if proxy else self.authorization

    @property
    def offered(self) -> tuple[Challenge, ...]:
        """The challenges for :attr:`field` (Proxy-Authenticate for a 407)."""
        field = self.view.field
        proxy = field == PROXY_AUTHORIZATION if field else self.exchange.status == 407
        return self.proxy if proxy else self.www

    def is_unknown(self, field_name: str) -> bool:
        return field_name.lower() in self.unknown_fields

    def reference_time(self) -> tuple[float, str] | None:
        """The time to judge token lifetimes against, and how to name it in a sentence.

        The response's Date is the server's clock (RFC 9110 §6.6.1), which is what the
        server judged by; without one, the capture's own clock stands in and the text
        says so.
        """
        response = self.exchange.response
        date = response.headers.get("Date") if response is not None else None
        if date:
            parsed = _date_timestamp(date)
            if parsed is not None:
                return parsed, f"the response's Date ({date.strip()})"
        stamp = self.exchange.timestamp_end or self.exchange.timestamp_start
        if stamp is not None:
            return stamp, "the time of the capture (the response has no Date header)"
        return None


@functools.lru_cache(maxsize=64)
def _date_timestamp(date: str) -> float | None:
    """A Date field value as a timestamp, None unless it parses with a zone. Cached by the
    value (a str, so never stale): two detectors ask per exchange, and a burst of
    responses shares one Date per second."""
    parsed: datetime | None
    try:
        parsed = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        return parsed.timestamp()
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
    text = text[:limit]
    if not text.isprintable():  # rare: escaping character by character is the slow part
        text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return text + "…" if cut else text


def asker(ctx: Context) -> str:
    """'The server' or 'The proxy': who asked for the credentials of :attr:`Context.field`."""
    return "The proxy" if ctx.for_proxy else "The server"


def schemes_text(challenges: Iterable[Challenge]) -> str:
    """'Basic or Digest': the schemes offered, as written, without repeats."""
    return _or_text([c.scheme for c in challenges if c.scheme]) or "no scheme"


def _or_text(names: list[str]) -> str:
    if len(names) < 2:  # the usual case, without building a dict to drop repeats
        return names[0] if names else ""
    return " or ".join(dict.fromkeys(names))


def space_text(ctx: Context) -> str:
    """The protection space in words: 'Basic realm "x" at https://h:443'."""
    proxy = ctx.for_proxy
    names: list[str] = []
    realm: str | None = None  # of the first challenge with a scheme and a realm
    for c in ctx.proxy if proxy else ctx.www:
        if c.scheme:
            names.append(c.scheme)
            if realm is None and "realm" in c.params:
                realm = c.params["realm"]
    if proxy:
        name = ctx.refused_by.name or ctx.exchange.upstream_proxy or ""
        where = f" at the proxy {summary_text(name, 60)}" if name else " at the proxy"
    else:
        where = " at " + ctx.exchange.request.origin
    if not names:
        return "an unnamed scheme" + where
    if realm is None:
        return _or_text(names) + where
    return f'{_or_text(names)} realm "{summary_text(realm, 60)}"{where}'


def request_target(request: Request) -> str:
    """The request target as a Digest ``uri`` should carry it: path and query (RFC 9112 §3.2)."""
    parts = urlsplit(request.url)
    if request.method.upper() == "CONNECT":
        return parts.netloc
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
