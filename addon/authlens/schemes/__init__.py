"""Registry of authentication schemes: what each challenge and credential means.

Every scheme module registers one :class:`Scheme` with a challenge decoder and/or a
credentials decoder. A decoder gets the already-parsed :class:`AuthInput` and returns a
:class:`Decoded`: a JSON-safe summary (secret material as :class:`authlens.secret.Secret`),
findings, and one sentence in plain words for people. Decoders are total: they never
raise; :func:`decode_challenge` and :func:`decode_credentials` still guard them so a bug
in one scheme becomes an ``internal-error`` finding instead of an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from authlens.findings import Finding, error


@dataclass(frozen=True, slots=True)
class AuthInput:
    """One challenge or credential as the grammar read it."""

    scheme: str
    params: Mapping[str, str]
    token68: str | None
    field: str = "WWW-Authenticate"

    @property
    def is_proxy(self) -> bool:
        return self.field.lower().startswith("proxy-")


@dataclass(slots=True)
class Decoded:
    summary: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    plain: str = ""


Decoder = Callable[[AuthInput], Decoded]


@dataclass(frozen=True, slots=True)
class Scheme:
    name: str  # canonical spelling, e.g. "Digest"
    reference: str  # defining document, e.g. "RFC 7616"
    decode_challenge: Decoder | None = None
    decode_credentials: Decoder | None = None
    aliases: tuple[str, ...] = ()


_REGISTRY: dict[str, Scheme] = {}
INTERNAL_ERROR = "internal-error"


def register(scheme: Scheme) -> Scheme:
    for name in (scheme.name, *scheme.aliases):
        _REGISTRY[name.lower()] = scheme
    return scheme


def lookup(name: str) -> Scheme | None:
    _load_all()
    return _REGISTRY.get(name.lower())


# The IANA HTTP Authentication Scheme Registry plus the unregistered schemes seen in the
# wild. The lenient grammar uses these names to tell "realm=My Realm" (one value with a
# space) from "realm=x Digest ..." (a missing comma before the next challenge).
WELL_KNOWN_SCHEMES = frozenset(
    name.lower()
    for name in (
        "Basic", "Bearer", "Concealed", "Digest", "DPoP", "GNAP", "HOBA", "Mutual",
        "Negotiate", "OAuth", "PrivateToken", "SCRAM-SHA-1", "SCRAM-SHA-256", "vapid",
        "NTLM", "Kerberos", "AWS4-HMAC-SHA256", "Token", "ApiKey",
    )
)  # fmt: skip

_known: frozenset[str] | None = None


def known_scheme_names() -> frozenset[str]:
    """Lower-cased names of every registered or well-known scheme."""
    global _known
    if _known is None:
        _load_all()
        _known = WELL_KNOWN_SCHEMES | frozenset(_REGISTRY)
    return _known


def decode_challenge(item: AuthInput) -> Decoded:
    scheme = lookup(item.scheme)
    decoder = scheme.decode_challenge if scheme else None
    return _run(decoder or _generic_challenge, item)


def decode_credentials(item: AuthInput) -> Decoded:
    scheme = lookup(item.scheme)
    decoder = scheme.decode_credentials if scheme else None
    return _run(decoder or _generic_credentials, item)


def _run(decoder: Decoder, item: AuthInput) -> Decoded:
    try:
        return decoder(item)
    except Exception as exc:  # a decoder bug must not become the user's problem
        return Decoded(
            findings=[
                error(
                    INTERNAL_ERROR,
                    f"authlens could not decode this {item.scheme} value "
                    f"({type(exc).__name__}); please report it.",
                )
            ]
        )


def _generic_challenge(item: AuthInput) -> Decoded:
    from authlens.schemes import unknown

    return unknown.decode_challenge(item)


def _generic_credentials(item: AuthInput) -> Decoded:
    from authlens.schemes import unknown

    return unknown.decode_credentials(item)


_loaded = False


def _load_all() -> None:
    """Import every scheme module once so that each registers itself."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
