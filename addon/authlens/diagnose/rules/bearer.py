"""Detectors for Bearer (and DPoP) tokens: lifetimes and the server's own error codes."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from authlens.challenge import Challenge
from authlens.credentials import Credentials
from authlens.diagnose.catalogue import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    TOKEN_EXPIRED,
    TOKEN_NOT_YET_VALID,
)
from authlens.diagnose.rules import Context, Hit, detects, hit, summary_text

_TOKEN_SCHEMES = frozenset({"bearer", "dpop"})
_REFUSALS = (401, 403, 407)
# Below this, "not yet valid" is as likely rounding as skew: said with less confidence.
_SMALL_SKEW = 5.0
_NUMBER = (int, float)  # for isinstance: a tuple, not ``int | float`` built at each call


def _jwt(credentials: Credentials | None) -> Mapping[str, Any] | None:
    if credentials is None or credentials.scheme.lower() not in _TOKEN_SCHEMES:
        return None
    jwt = credentials.summary.get("jwt")
    # A decoded summary holds plain dicts: checking for one first skips the slow ABC check.
    return jwt if type(jwt) is dict or isinstance(jwt, Mapping) else None


def _claim(jwt: Mapping[str, Any], name: str) -> float | None:
    claims = jwt.get("claims")
    if not (type(claims) is dict or isinstance(claims, Mapping)):
        return None
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer claim beyond float range is no date at all
        return None
    return number if math.isfinite(number) else None


@functools.lru_cache(maxsize=256)  # a refused client resends the same token: same exp
def _iso(seconds: float) -> str:
    try:
        m = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{seconds:.0f}"
    if m.year < 1000:  # where glibc's %Y does not pad to four digits: keep its spelling
        return m.strftime("%Y-%m-%dT%H:%M:%SZ")
    return m.isoformat()[:19] + "Z"  # the same text as strftime, at half its cost


def duration(seconds: float) -> str:
    """'3 h 12 min', '45 s', '2 days 4 h': a human span."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours, minutes = divmod(int(minutes), 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


@detects(TOKEN_EXPIRED)
def token_expired(ctx: Context) -> Iterator[Hit]:
    jwt = _jwt(ctx.credentials)
    if jwt is None or ctx.status not in _REFUSALS:
        return
    exp = _claim(jwt, "exp")
    if exp is None:
        return
    reference = ctx.reference_time()
    if reference is None:
        return
    now, named = reference
    if exp >= now:
        return
    from_date = named.startswith("the response's Date")
    when, delta = _iso(exp), duration(now - exp)
    yield hit(
        [f"JWT exp = {when}", f"{named}: {_iso(now)}", f"expired {delta} earlier"],
        0.95 if from_date else 0.8,
        exp=when,
        delta=delta,
        reference=named,
    )


@detects(TOKEN_NOT_YET_VALID)
def token_not_yet_valid(ctx: Context) -> Iterator[Hit]:
    jwt = _jwt(ctx.credentials)
    if jwt is None or ctx.status not in _REFUSALS:
        return
    nbf, iat = _claim(jwt, "nbf"), _claim(jwt, "iat")
    if nbf is None and iat is None:
        return  # no reference time to work out
    reference = ctx.reference_time()
    if reference is None:
        return
    now, named = reference
    for claim, base, value in (("nbf", 0.85, nbf), ("iat", 0.7, iat)):
        if value is None or value <= now:
            continue
        skew = value - now
        when = _iso(value)
        yield hit(
            [f"JWT {claim} = {when}", f"{named}: {_iso(now)}"],
            base if skew >= _SMALL_SKEW else base * 0.7,
            claim=claim,
            when=when,
            delta=duration(skew),
            reference=named,
        )
        return  # nbf explains it; iat would only repeat it


def _error(ctx: Context, code: str) -> Challenge | None:
    """The first token challenge (WWW-Authenticate, then Proxy-) with ``error=code``."""
    for challenges in (ctx.www, ctx.proxy):
        for challenge in challenges:
            if (
                challenge.decoded.get("error") == code
                and challenge.scheme.lower() in _TOKEN_SCHEMES
            ):
                return challenge
    return None


@detects(INVALID_TOKEN)
def invalid_token(ctx: Context) -> Iterator[Hit]:
    challenge = _error(ctx, "invalid_token")
    if challenge is None:
        return
    described = challenge.decoded.get("error_description")
    description = f" ({summary_text(described, 120)})" if isinstance(described, str) else ""
    jwt = _jwt(ctx.credentials)
    if ctx.credentials is None:
        note = "This request carried no token at all."
    elif jwt is not None:
        claims = jwt.get("claims")
        claims = claims if isinstance(claims, Mapping) else {}
        parts = [
            f"{name} {summary_text(claims[name], 60)}"
            for name in ("iss", "aud", "azp")
            if name in claims
        ]
        note = "The token is a JWT" + (f" with {', '.join(parts)}." if parts else ".")
        note += " Compare those with what this API expects."
    else:
        note = "The token is opaque, so only its issuer can say why."
    yield hit(
        [f'{challenge.field}: {challenge.scheme} error="invalid_token"{description}'],
        0.9,
        description=description,
        token_note=note,
    )


@detects(INSUFFICIENT_SCOPE)
def insufficient_scope(ctx: Context) -> Iterator[Hit]:
    challenge = _error(ctx, "insufficient_scope")
    if challenge is None:
        return
    scopes = challenge.decoded.get("scope")
    required = (
        f" ({' '.join(summary_text(s, 60) for s in scopes)})"
        if isinstance(scopes, list) and scopes
        else ""
    )
    granted = ""
    jwt = _jwt(ctx.credentials)
    if jwt is not None:
        claims = jwt.get("claims")
        claims = claims if isinstance(claims, Mapping) else {}
        held = claims.get("scope", claims.get("scp"))
        if isinstance(held, list):
            held = " ".join(str(s) for s in held)
        if isinstance(held, str):
            granted = f"The token grants: {summary_text(held, 160)}."
        else:
            granted = "The token carries no scope claim."
    yield hit(
        [f'{challenge.field}: {challenge.scheme} error="insufficient_scope"{required}']
        + ([granted] if granted else []),
        0.9,
        required=required,
        granted=granted,
    )
