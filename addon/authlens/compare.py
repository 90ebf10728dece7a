"""Browser versus script: what differs between an accepted browser request and a refused
automated one, ranked by how likely each difference decided the refusal.

The server is a black box, so ranking rests on evidence any server leaves:

- *what* differs: a cookie whose name says "session" (``sessionid``, ``JSESSIONID``,
  ``PHPSESSID``, ``connect.sid``, ``auth*``, ``*token``) or whose value is an opaque
  token; an anti-CSRF header or form field (``X-CSRF-Token``, ``csrfmiddlewaretoken``,
  ``__RequestVerificationToken``); credentials (scheme, secret, a JWT's ``exp``); the
  client's identity (a script's User-Agent against a browser's, client hints and fetch
  metadata a browser always sends); bot-management cookies (``cf_clearance``, ``_abck``);
- *which way*: something the browser sent and the script lacked decides far more often
  than something only the script sent, or two values that merely differ (two sessions);
- *what the refusal says*: a body that mentions "CSRF", "log in", "browser" or "client
  hints", a ``WWW-Authenticate`` challenge, a Bearer ``error``, a 407.

Each difference gets a weight in [0, 1] (a prior for its category and direction, raised
by the refusal's hints); the top ones are marked decisive when their weight is high enough.
Replay (:mod:`authlens.bisect`) can then prove the decisive set; :meth:`Comparison.with_proof`
records the proof.

Values are never shown raw: cookie values, credentials, anti-CSRF tokens and secret-looking
headers, query parameters and fields appear as keyed fingerprints
(:func:`authlens.secret.fingerprint`), so equal secrets still compare equal in a report.
The raw values the replay needs live only in :class:`Patch` objects as
:class:`~authlens.secret.Secret` (which print as their fingerprint).

Pure: no mitmproxy; never raises (a failure becomes a comparison that says so).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from authlens.credentials import decode_credentials
from authlens.diagnose.catalogue import (
    CLIENT_FINGERPRINT_REJECTED,
    HAR_SANITIZED,
    MISSING_CSRF_TOKEN,
    MISSING_SESSION_COOKIE,
    SCHEME_MISMATCH,
    TOKEN_EXPIRED,
    Diagnosis,
)
from authlens.fingerprint import ClientProfile, profile_request
from authlens.model import MAX_BODY_PREFIX, Exchange
from authlens.pairing import PairingIndex, bounded_qsl, is_accepted, is_browser, is_refused, pair
from authlens.secret import Secret, fingerprint

if TYPE_CHECKING:
    from authlens.bisect import BisectResult

# --- the DESIGN §3 vocabulary -----------------------------------------------------------------

HEADER = "header"
COOKIE = "cookie"
CREDENTIALS = "credentials"
PROTOCOL = "protocol"
TLS = "tls"
QUERY = "query"
BODY = "body"
KINDS = (HEADER, COOKIE, CREDENTIALS, PROTOCOL, TLS, QUERY, BODY)

# Which way a difference goes.
MISSING = "missing"  # the browser sent it, the automated request did not
EXTRA = "extra"  # only the automated request sent it
DIFFERS = "differs"  # both sent it, with different values

# Categories: what a difference means, for ranking, headlines and diagnoses.
CAT_SESSION_COOKIE = "session-cookie"
CAT_TOKEN_COOKIE = "token-cookie"
CAT_BOT_COOKIE = "bot-management-cookie"
CAT_COOKIE = "cookie"
CAT_TRACKING_COOKIE = "tracking-cookie"
CAT_CSRF = "csrf"
CAT_AJAX = "ajax-marker"
CAT_CREDENTIALS = "credentials"
CAT_PROXY_CREDENTIALS = "proxy-credentials"
CATSECRET_HEADER_NAME = "secret-header"
CAT_USER_AGENT = "user-agent"
CAT_CLIENT_HINTS = "client-hints"
CAT_FETCH_METADATA = "fetch-metadata"
CAT_ORIGIN = "origin"
CAT_REFERER = "referer"
CAT_ACCEPT = "accept"
CAT_CONTENT_TYPE = "content-type"
CAT_CUSTOM = "custom-header"
CAT_OTHER = "other-header"
CAT_QUERY = "query"
CAT_SECRET_QUERY = "secret-query"
CAT_BODY = "body"
CAT_PROTOCOL = "protocol"
CAT_TLS = "tls"

#: Categories that describe the client rather than its authentication state.
IDENTITY_CATEGORIES = frozenset(
    {
        CAT_USER_AGENT,
        CAT_CLIENT_HINTS,
        CAT_FETCH_METADATA,
        CAT_ACCEPT,
        CAT_ORIGIN,
        CAT_REFERER,
        CAT_BOT_COOKIE,
        CAT_PROTOCOL,
        CAT_TLS,
        CAT_OTHER,
    }
)

DECISIVE_MIN = 0.5  # a difference weighs at least this much to be called decisive
DECISIVE_MARGIN = 0.05  # ... and lies this close to the top one
BLIND_CAP = 0.45  # weights while the comparison is blind where the refusal points
MAX_SHOWN = 160  # characters of a non-secret value shown
MAX_COOKIES = 128
MAX_FIELDS = 128
MAX_HISTORY = 20_000  # exchanges scanned for where a cookie came from
_HINT_TEXT = 4096  # bytes of the refusal's body read for hints

# --- the data -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Patch:
    """How to give the automated request the browser's side of one difference.

    ``target`` is "header", "cookie", "query", "form" or "json"; ``value`` None removes.
    A secret ``value`` is a :class:`~authlens.secret.Secret`: it prints as its fingerprint
    and only :meth:`raw` reveals it, for replay.
    """

    target: str
    name: str
    value: str | None
    secret: bool = False

    def raw(self) -> str | None:
        if isinstance(self.value, Secret):
            return self.value.reveal_text()
        return self.value


@dataclass(frozen=True, slots=True)
class Difference:
    """One semantic difference. ``browser``/``automated`` are display values, redacted
    (None: that side did not send it). ``weight`` ranks; ``decisive`` marks the ones
    believed (or, with ``proven``, shown by replay) to decide the refusal."""

    kind: str
    name: str
    browser: str | None
    automated: str | None
    decisive: bool = False
    weight: float = 0.0
    explanation: str = ""
    category: str = CAT_OTHER
    change: str = DIFFERS
    patch: Patch | None = None
    details: tuple[tuple[str, str | None, str | None], ...] = ()
    hints: tuple[str, ...] = ()
    proven: bool = False
    prior: float = 0.0  # the weight before the refusal's hints; breaks ties at the cap

    @property
    def replayable(self) -> bool:
        """Whether replay can apply it (HTTP version, TLS and header order cannot)."""
        return self.patch is not None

    @property
    def label(self) -> str:
        """A short name for sentences: "cookie 'sessionid'", "header 'User-Agent'"."""
        return _label(self)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "browser": None if self.browser is None else str(self.browser),
            "automated": None if self.automated is None else str(self.automated),
            "decisive": self.decisive,
            "weight": round(self.weight, 2),
            "category": self.category,
            "change": self.change,
            "explanation": self.explanation,
            "replayable": self.replayable,
        }
        if self.proven:
            out["proven"] = True
        if self.details:
            out["details"] = [{"name": n, "browser": b, "automated": a} for n, b, a in self.details]
        return out


@dataclass(frozen=True, slots=True)
class ImpliedDiagnosis:
    """A catalogue diagnosis the comparison implies, as plain data.

    ``slots`` fill the catalogue templates; ``to_json`` renders the DESIGN §3 diagnosis
    object. The engine can turn it into a detector hit unchanged (evidence, confidence,
    slots).
    """

    diagnosis: Diagnosis
    confidence: float
    evidence: tuple[str, ...]
    slots: Mapping[str, str]

    @property
    def id(self) -> str:
        return self.diagnosis.id

    def to_json(self) -> dict[str, Any]:
        try:
            headline, explanation, fix = (
                " ".join(t.split()) for t in self.diagnosis.render(self.slots)
            )
        except (KeyError, ValueError, IndexError):  # pragma: no cover - slots are tested
            headline, explanation, fix = self.diagnosis.title, "", ""
        return {
            "id": self.diagnosis.id,
            "severity": str(self.diagnosis.severity),
            "title": self.diagnosis.title,
            "headline": headline,
            "explanation": explanation,
            "fix": fix,
            "evidence": list(self.evidence),
            "confidence": round(self.confidence, 2),
            "references": list(self.diagnosis.references),
        }


@dataclass(frozen=True, slots=True)
class _Context:
    """What headline and diagnoses need besides the differences (kept for with_proof)."""

    browser_id: str
    automated_id: str
    browser_client: ClientProfile
    automated_client: ClientProfile
    refused: bool
    baseline_ok: bool
    blind: tuple[str, ...]
    declared_blind: bool
    blind_suspect: str | None
    same_credentials: bool
    cookie_sources: Mapping[str, str]
    challenge_schemes: tuple[str, ...]
    token_expired: Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """The ranked differences between a browser's accepted request and a script's."""

    baseline: str
    automated: str
    differences: tuple[Difference, ...]
    headline: str
    diagnoses: tuple[ImpliedDiagnosis, ...] = ()
    notes: tuple[str, ...] = ()
    blind: tuple[str, ...] = ()
    refused: bool = False
    browser_client: ClientProfile | None = None
    automated_client: ClientProfile | None = None
    proof: Mapping[str, Any] | None = None
    _context: _Context | None = field(default=None, repr=False, compare=False)

    @property
    def decisive(self) -> list[Difference]:
        return [d for d in self.differences if d.decisive]

    @property
    def top(self) -> Difference | None:
        return self.differences[0] if self.differences else None

    @property
    def alarm(self) -> bool:
        """True when the comparison explains a refusal (a decisive difference or a
        diagnosis); False for two accepted requests or nothing that matters."""
        return bool(self.decisive or self.diagnoses)

    def to_json(self) -> dict[str, Any]:
        """The DESIGN §3 ``comparison`` object (``baseline``, ``differences``), plus the
        headline, notes, blind fields, clients, implied diagnosis IDs and any proof."""
        return {
            "baseline": self.baseline,
            "differences": [d.to_json() for d in self.differences],
            "automated": self.automated,
            "headline": self.headline,
            "refused": self.refused,
            "notes": list(self.notes),
            "blind": list(self.blind),
            "clients": {
                "browser": self.browser_client.info.to_json() if self.browser_client else None,
                "automated": self.automated_client.info.to_json()
                if self.automated_client
                else None,
            },
            "diagnoses": [d.id for d in self.diagnoses],
            "proof": dict(self.proof) if self.proof is not None else None,
        }

    def diagnoses_json(self) -> list[dict[str, Any]]:
        """The implied diagnoses as DESIGN §3 diagnosis objects, for the engine to merge."""
        return [d.to_json() for d in self.diagnoses]

    def with_proof(self, result: BisectResult[Difference]) -> Comparison:
        """This comparison after replay: the proven set is what is decisive now."""
        proven = set(result.decisive)
        succeeded = result.outcome == "proven"
        differences = tuple(
            replace(d, decisive=d in proven, proven=d in proven and succeeded) if succeeded else d
            for d in self.differences
        )
        if succeeded:
            # Proven first, in their rank order; the rest keep their order.
            differences = tuple(sorted(differences, key=lambda d: 0 if d.proven else 1))
        proof = {
            "outcome": result.outcome,
            "requests_sent": result.requests_sent,
            "capped": result.capped,
            "decisive": [d.label for d in result.decisive],
            "trace": [dict(step) for step in result.trace],
        }
        if self._context is None:
            return replace(self, differences=differences, proof=proof)
        diagnoses = _diagnoses(differences, self._context)
        headline = _headline(differences, self._context, proof)
        return replace(
            self, differences=differences, diagnoses=diagnoses, headline=headline, proof=proof
        )


# --- the entry points -----------------------------------------------------------------------


def compare(
    browser: Exchange,
    automated: Exchange,
    *,
    history: Iterable[Exchange] = (),
) -> Comparison:
    """Compare ``browser`` (the accepted baseline) with ``automated`` (the refused one).

    ``history`` are other exchanges of the same captures (any order); they let the
    comparison say where the browser's cookies came from (a login response). Never raises.
    """
    try:
        return _compare(browser, automated, history)
    except Exception as exc:  # the one guard: a bug here must not hide the rest of a report
        return Comparison(
            baseline=browser.id,
            automated=automated.id,
            differences=(),
            headline=f"authlens could not compare these requests ({type(exc).__name__}).",
            notes=(f"{type(exc).__name__} in authlens.compare",),
        )


def explain(
    refused: Exchange, candidates: Iterable[Exchange], *, history: Iterable[Exchange] = ()
) -> Comparison | None:
    """Pair ``refused`` with its best browser baseline among ``candidates`` and compare;
    None when there is no baseline or ``refused`` was not refused."""
    if not is_refused(refused):
        return None
    pool = list(candidates)
    best = pair(refused, pool, limit=1)
    if not best:
        return None
    return compare(best[0], refused, history=[*pool, *history])


def compare_captures(
    browser_side: Iterable[Exchange],
    automated_side: Iterable[Exchange],
    *,
    max_history: int = MAX_HISTORY,
) -> dict[str, Comparison]:
    """Every refused non-browser exchange of ``automated_side`` compared with its best
    baseline from ``browser_side``, keyed by the refused exchange's id (in its order).

    This is ``authlens compare BROWSER_FILE AUTOMATED_FILE``; for one capture holding both
    kinds of client pass it twice. Baselines are indexed once by endpoint
    (:class:`~authlens.pairing.PairingIndex`), so the work is linear in the captures, not
    in their product. ``browser_side`` (up to ``max_history`` exchanges) also serves as
    history, for where the browser's cookies came from.
    """
    history = list(itertools.islice(browser_side, max_history))
    index = PairingIndex(max_endpoints=len(history) + 1, per_endpoint=8)
    for exchange in history:
        index.add(exchange)
    out: dict[str, Comparison] = {}
    for refused in automated_side:
        if not is_refused(refused) or is_browser(refused):
            continue
        best = index.pair(refused, limit=1)
        if best:
            out[refused.id] = compare(best[0], refused, history=history)
    return out


# --- the comparison ----------------------------------------------------------------------------


def _compare(browser: Exchange, automated: Exchange, history: Iterable[Exchange]) -> Comparison:
    bp = profile_request(browser.request, browser.client.tls_fingerprint)
    ap = profile_request(automated.request, automated.client.tls_fingerprint)
    refused = is_refused(automated)
    baseline_ok = is_accepted(browser)
    history = list(itertools.islice(history, MAX_HISTORY))
    blind, declared = _blind_fields(browser, automated, history)
    hints = _refusal_hints(automated)

    diffs: list[Difference] = []
    same_credentials = True
    expired: dict[str, str] | None = None
    for name in ("Authorization", "Proxy-Authorization"):
        found, same, exp = _credential_diffs(browser, automated, name, blind)
        diffs += found
        same_credentials = same_credentials and same
        expired = expired or exp
    if "cookie" not in blind:
        diffs += _cookie_diffs(browser, automated)
    diffs += _header_diffs(browser, automated, bp, ap)
    diffs += _query_diffs(browser, automated)
    diffs += _body_diffs(browser, automated)
    diffs += _protocol_diffs(browser, automated)
    diffs += _tls_diffs(browser, automated)

    diffs = [_weigh(d, hints, automated) for d in diffs]
    blind_suspect = _blind_suspect(blind, hints, automated)
    if blind_suspect is not None:
        diffs = [d if _specifically_hinted(d, hints) else _capped(d) for d in diffs]
    ranked = sorted(diffs, key=lambda d: (-d.weight, -d.prior, KINDS.index(d.kind), d.name.lower()))

    floor = math.inf  # nothing is decisive unless a refusal meets a strong enough difference
    if refused and baseline_ok and ranked and ranked[0].weight >= DECISIVE_MIN:
        floor = max(DECISIVE_MIN, ranked[0].weight - DECISIVE_MARGIN)

    challenge_schemes = _challenge_schemes(automated)
    context = _Context(
        browser_id=browser.id,
        automated_id=automated.id,
        browser_client=bp,
        automated_client=ap,
        refused=refused,
        baseline_ok=baseline_ok,
        blind=blind,
        declared_blind=declared,
        blind_suspect=blind_suspect,
        same_credentials=same_credentials,
        cookie_sources=_cookie_sources(browser, history),
        challenge_schemes=challenge_schemes,
        token_expired=expired,
    )
    differences = tuple(_explained(d, bp, ap, d.weight >= floor) for d in ranked)
    return Comparison(
        baseline=browser.id,
        automated=automated.id,
        differences=differences,
        headline=_headline(differences, context, None),
        diagnoses=_diagnoses(differences, context),
        notes=_notes(browser, automated, differences, context),
        blind=blind,
        refused=refused,
        browser_client=bp,
        automated_client=ap,
        _context=context,
    )


# --- credentials ----------------------------------------------------------------------------------


def _credential_diffs(
    browser: Exchange, automated: Exchange, name: str, blind: tuple[str, ...]
) -> tuple[list[Difference], bool, dict[str, str] | None]:
    """Differences in one credentials field; whether both sent the same; token expiry."""
    if name.lower() in blind:
        return [], True, None
    bv = browser.request.headers.get(name)
    av = automated.request.headers.get(name)
    if bv is None and av is None:
        return [], True, None
    if bv == av:
        return [], True, None
    category = CAT_PROXY_CREDENTIALS if name.lower() == "proxy-authorization" else CAT_CREDENTIALS
    bshown, ascheme_shown = _shown_credentials(bv), _shown_credentials(av)
    patch = Patch(HEADER, name, Secret(bv) if bv is not None else None, secret=True)
    if av is None:
        base = 0.9 if category == CAT_CREDENTIALS or automated.status == 407 else 0.35
        return [_diff(CREDENTIALS, name, bshown, None, MISSING, category, base, patch)], False, None
    if bv is None:
        return (
            [_diff(CREDENTIALS, name, None, ascheme_shown, EXTRA, category, 0.3, patch)],
            False,
            None,
        )
    bcred, acred = decode_credentials(bv, name), decode_credentials(av, name)
    details: list[tuple[str, str | None, str | None]] = []
    expired: dict[str, str] | None = None
    if bcred.scheme.lower() != acred.scheme.lower():
        base = 0.8
        details.append(("scheme", bcred.scheme or None, acred.scheme or None))
    else:
        base = 0.6
        details += _jwt_details(bcred.summary, acred.summary)
        expired = _expiry(bcred.summary, acred.summary, browser, automated)
        if expired is not None:
            base = 0.92
        for key in ("user", "username"):
            bu, au = bcred.summary.get(key), acred.summary.get(key)
            if bu != au and (bu is not None or au is not None):
                details.append((key, _text(bu), _text(au)))
    diff = _diff(CREDENTIALS, name, bshown, ascheme_shown, DIFFERS, category, base, patch)
    return [replace(diff, details=tuple(details))], False, expired


def _shown_credentials(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, rest = value.strip().partition(" ")
    if not rest:
        return fingerprint(value)
    return f"{scheme[:32]} {fingerprint(rest.strip())}"


_JWT_CLAIMS = (
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "scope",
    "scp",
    "azp",
    "client_id",
    "roles",
)


def _jwt(summary: Mapping[str, Any]) -> Mapping[str, Any] | None:
    jwt = summary.get("jwt")
    if not isinstance(jwt, Mapping):
        return None
    claims = jwt.get("claims")
    return claims if isinstance(claims, Mapping) else None


def _jwt_details(
    browser: Mapping[str, Any], automated: Mapping[str, Any]
) -> list[tuple[str, str | None, str | None]]:
    """JWT claims side by side, where they differ (both must be readable JWTs)."""
    bc, ac = _jwt(browser), _jwt(automated)
    if bc is None or ac is None:
        return []
    out: list[tuple[str, str | None, str | None]] = []
    for claim in _JWT_CLAIMS:
        bv, av = bc.get(claim), ac.get(claim)
        if bv != av:
            if claim in ("exp", "nbf", "iat"):
                out.append((f"jwt.{claim}", _iso(bv), _iso(av)))
            else:
                out.append((f"jwt.{claim}", _text(bv), _text(av)))
    return out


def _expiry(
    browser: Mapping[str, Any],
    automated: Mapping[str, Any],
    bx: Exchange,
    ax: Exchange,
) -> dict[str, str] | None:
    """Slots for token-expired when the script's JWT had expired and the browser's not."""
    bc, ac = _jwt(browser), _jwt(automated)
    if ac is None:
        return None
    a_exp = _number(ac.get("exp"))
    a_ref = _reference_time(ax)
    if a_exp is None or a_ref is None or a_exp >= a_ref[0]:
        return None
    if bc is not None:
        b_exp = _number(bc.get("exp"))
        b_ref = _reference_time(bx)
        if b_exp is not None and b_ref is not None and b_exp < b_ref[0]:
            return None  # both expired: expiry does not tell them apart
    return {
        "exp": _iso(a_exp) or str(a_exp),
        "delta": _duration(a_ref[0] - a_exp),
        "reference": a_ref[1],
    }


def _reference_time(exchange: Exchange) -> tuple[float, str] | None:
    response = exchange.response
    date = response.headers.get("Date") if response is not None else None
    if date:
        try:
            parsed = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.timestamp(), f"the response's Date ({date.strip()[:64]})"
    stamp = exchange.timestamp_end or exchange.timestamp_start
    if stamp is not None:
        return stamp, "the time of the capture (the response has no Date header)"
    return None


# --- cookies ---------------------------------------------------------------------------------------

CSRF_NAME = re.compile(r"(?i)csrf|xsrf|anti-?forgery|requestverificationtoken|authenticity.?token")
_BOT_COOKIE = re.compile(
    r"(?i)^(cf_clearance|__cf_bm|_cfuvid|_abck|bm_sz|bm_sv|ak_bmsc|datadome|"
    r"incap_ses_\w*|visid_incap_\w*|_px\w*|reese84|x-kpsdk-\w*|aws-waf-token)$"
)
_TRACKING_COOKIE = re.compile(
    r"(?i)^(_ga\w*|_gid|_gat\w*|_gcl_\w+|_fbp|_fbc|__utm\w|_hj\w+|ajs_\w+|mp_\w+|"
    r"optanon\w*|cookieconsent\w*|_clck|_clsk|amcv_\w+|s_cc|s_sq|_uetsid|_uetvid|"
    r"theme|lang|locale|tz|timezone)$"
)
_SESSION_COOKIE = re.compile(
    r"(?i)^(session|sessionid|session_id|sess|sessid|sid|_session|\w*[._-]session(id|_id)?|"
    r"session[._-]\w+|jsessionid|phpsessid|connect\.sid|asp\.net_sessionid|aspsessionid\w*|"
    r"\.aspxauth|\.aspnetcore\.(cookies|session)\w*|laravel_session|ci_session|"
    r"auth\w*|\w*[._-]auth|\w*token|token\w*|access[._-]?token|id[._-]?token|jwt|"
    r"remember[._-]?(me|token)\w*|sso\w*|\w*_sso|saml\w*|wordpress_logged_in_\w*|"
    r"user[._-]?session|login\w*|logged[._-]?in)$"
)
_TOKEN_VALUE = re.compile(r"[A-Za-z0-9+/_=.%-]{16,}")


def parse_cookies(values: Iterable[str]) -> dict[str, str]:
    """Cookie header value(s) to name → value (first occurrence wins; bounded)."""
    out: dict[str, str] = {}
    for value in values:
        for part in value.split(";"):
            name, eq, val = part.strip().partition("=")
            if not name or not eq:
                continue
            if len(out) >= MAX_COOKIES:
                return out
            out.setdefault(name.strip(), val.strip())
    return out


def cookie_category(name: str, value: str = "") -> str:
    """What a cookie is, judged by its name (and for unknown names, its value's shape)."""
    bare = re.sub(r"(?i)^__(host|secure)-", "", name)
    if CSRF_NAME.search(bare):
        return CAT_CSRF
    if _BOT_COOKIE.match(bare):
        return CAT_BOT_COOKIE
    if _TRACKING_COOKIE.match(bare):
        return CAT_TRACKING_COOKIE
    if _SESSION_COOKIE.match(bare):
        return CAT_SESSION_COOKIE
    if _token_like(value):
        return CAT_TOKEN_COOKIE
    return CAT_COOKIE


def _token_like(value: str) -> bool:
    return (
        bool(_TOKEN_VALUE.fullmatch(value))
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
    )


# category: (missing, differs, extra)
_COOKIE_WEIGHTS = {
    CAT_SESSION_COOKIE: (0.9, 0.4, 0.2),
    CAT_BOT_COOKIE: (0.75, 0.4, 0.05),
    CAT_CSRF: (0.5, 0.25, 0.05),
    CAT_TOKEN_COOKIE: (0.55, 0.25, 0.05),
    CAT_COOKIE: (0.3, 0.1, 0.05),
    CAT_TRACKING_COOKIE: (0.03, 0.01, 0.01),
}


def _cookie_diffs(browser: Exchange, automated: Exchange) -> list[Difference]:
    bc = parse_cookies(browser.request.headers.get_all("Cookie"))
    ac = parse_cookies(automated.request.headers.get_all("Cookie"))
    out: list[Difference] = []
    for name in [*bc, *(n for n in ac if n not in bc)]:
        bv, av = bc.get(name), ac.get(name)
        if bv == av:
            continue
        category = cookie_category(name, bv if bv is not None else av or "")
        missing, differs, extra = _COOKIE_WEIGHTS[category]
        change, base = (
            (MISSING, missing)
            if av is None
            else (EXTRA, extra)
            if bv is None
            else (DIFFERS, differs)
        )
        patch = Patch(COOKIE, name, Secret(bv) if bv is not None else None, secret=True)
        out.append(
            _diff(
                COOKIE,
                name,
                fingerprint(bv) if bv is not None else None,
                fingerprint(av) if av is not None else None,
                change,
                category,
                base,
                patch,
            )
        )
    return out


def _cookie_sources(browser: Exchange, history: Iterable[Exchange]) -> dict[str, str]:
    """Where the browser's cookies were set: "POST /login (303, flow 1a2b3c4d)"."""
    wanted = set(parse_cookies(browser.request.headers.get_all("Cookie")))
    if not wanted:
        return {}
    host = browser.request.host
    found: dict[str, str] = {}
    for count, exchange in enumerate(history):
        if count >= MAX_HISTORY or len(found) == len(wanted):
            break
        response = exchange.response
        if response is None or exchange.id == browser.id or exchange.request.host != host:
            continue
        later = (
            browser.timestamp_start is not None
            and exchange.timestamp_start is not None
            and exchange.timestamp_start > browser.timestamp_start
        )
        if later:
            continue
        for line in response.headers.get_all("Set-Cookie"):
            name = line.split("=", 1)[0].strip()
            if name in wanted:
                # The latest setter before the browser request wins.
                found[name] = (
                    f"{exchange.request.method} {exchange.request.path} "
                    f"({exchange.status}, flow {exchange.id[:8]})"
                )
    return found


# --- headers ---------------------------------------------------------------------------------------

_IGNORED_HEADERS = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "cookie",
        "authorization",
        "proxy-authorization",
        "expect",
        "via",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
    }
)
SECRET_HEADER_NAME = re.compile(
    r"(?i)(api[-_]?key|apikey|token|secret|signature|session|x-auth|auth-|password|passwd|"
    r"access[-_]?key|client[-_]?key)"
)
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# lower-cased header name: (category, missing, differs, extra)
_HEADER_WEIGHTS: dict[str, tuple[str, float, float, float]] = {
    "sec-ch-ua": (CAT_CLIENT_HINTS, 0.5, 0.15, 0.05),
    "sec-ch-ua-mobile": (CAT_CLIENT_HINTS, 0.3, 0.1, 0.03),
    "sec-ch-ua-platform": (CAT_CLIENT_HINTS, 0.3, 0.1, 0.03),
    "sec-fetch-site": (CAT_FETCH_METADATA, 0.55, 0.25, 0.05),
    "sec-fetch-mode": (CAT_FETCH_METADATA, 0.35, 0.2, 0.03),
    "sec-fetch-dest": (CAT_FETCH_METADATA, 0.3, 0.15, 0.03),
    "sec-fetch-user": (CAT_FETCH_METADATA, 0.2, 0.1, 0.02),
    "x-requested-with": (CAT_AJAX, 0.45, 0.2, 0.05),
    "referer": (CAT_REFERER, 0.3, 0.15, 0.05),
    "accept-language": (CAT_ACCEPT, 0.3, 0.08, 0.02),
    "accept": (CAT_ACCEPT, 0.2, 0.1, 0.02),
    "accept-encoding": (CAT_ACCEPT, 0.1, 0.05, 0.02),
    "content-type": (CAT_CONTENT_TYPE, 0.4, 0.35, 0.1),
    "upgrade-insecure-requests": (CAT_OTHER, 0.1, 0.05, 0.02),
    "dnt": (CAT_OTHER, 0.05, 0.03, 0.02),
    "sec-gpc": (CAT_OTHER, 0.05, 0.03, 0.02),
    "cache-control": (CAT_OTHER, 0.03, 0.02, 0.02),
    "pragma": (CAT_OTHER, 0.03, 0.02, 0.02),
    "priority": (CAT_OTHER, 0.03, 0.02, 0.02),
}


def _header_category(name: str, method: str) -> tuple[str, float, float, float]:
    lower = name.lower()
    if lower == "origin":
        unsafe = method.upper() in _UNSAFE_METHODS
        return (CAT_ORIGIN, 0.45, 0.45, 0.1) if unsafe else (CAT_ORIGIN, 0.2, 0.2, 0.05)
    if lower in _HEADER_WEIGHTS:
        return _HEADER_WEIGHTS[lower]
    if CSRF_NAME.search(lower):
        return (CAT_CSRF, 0.88, 0.3, 0.05)
    if lower.startswith("sec-ch-"):
        return (CAT_CLIENT_HINTS, 0.2, 0.05, 0.02)
    if lower.startswith("sec-fetch-"):
        return (CAT_FETCH_METADATA, 0.2, 0.1, 0.02)
    if SECRET_HEADER_NAME.search(lower):
        return (CATSECRET_HEADER_NAME, 0.8, 0.55, 0.1)
    if lower.startswith("if-"):
        return (CAT_OTHER, 0.02, 0.01, 0.01)
    if lower.startswith("x-"):
        return (CAT_CUSTOM, 0.4, 0.15, 0.05)
    return (CAT_OTHER, 0.1, 0.05, 0.02)


def _header_diffs(
    browser: Exchange, automated: Exchange, bp: ClientProfile, ap: ClientProfile
) -> list[Difference]:
    bh, ah = browser.request.headers, automated.request.headers
    names: dict[str, str] = {}
    for name in [*bh.names(), *ah.names()]:
        lower = name.lower()
        if lower in _IGNORED_HEADERS or lower.startswith(":"):
            continue
        names.setdefault(lower, name)
    out: list[Difference] = []
    method = automated.request.method
    for lower, name in names.items():
        if len(out) >= MAX_FIELDS:
            break
        bvals, avals = bh.get_all(lower), ah.get_all(lower)
        bv = ", ".join(bvals) if bvals else None
        av = ", ".join(avals) if avals else None
        if bv == av:
            continue
        if lower == "user-agent":
            out.append(_user_agent_diff(name, bv, av, bp, ap))
            continue
        category, missing, differs, extra = _header_category(name, method)
        change = MISSING if av is None else EXTRA if bv is None else DIFFERS
        base = {MISSING: missing, EXTRA: extra, DIFFERS: differs}[change]
        if lower == "sec-fetch-site" and change == DIFFERS and av == "cross-site":
            base = 0.5
        secret = category in (CAT_CSRF, CATSECRET_HEADER_NAME)
        shown_b = _shown_header(lower, bv, secret)
        shown_a = _shown_header(lower, av, secret)
        patch = Patch(HEADER, name, _secret_or(bv, secret), secret=secret)
        out.append(_diff(HEADER, name, shown_b, shown_a, change, category, base, patch))
    return out


def _user_agent_diff(
    name: str, bv: str | None, av: str | None, bp: ClientProfile, ap: ClientProfile
) -> Difference:
    patch = Patch(HEADER, name, bv)
    shown_b, shown_a = _short(bv), _short(av)
    if av is None:
        return _diff(HEADER, name, shown_b, None, MISSING, CAT_USER_AGENT, 0.72, patch)
    if bv is None:
        return _diff(HEADER, name, None, shown_a, EXTRA, CAT_USER_AGENT, 0.1, patch)
    if ap.browser_engine or ap.claimed is not None:
        # Both claim a browser: the User-Agent itself is not what a filter objects to.
        same_family = ap.family == bp.family
        base = 0.05 if same_family and ap.version == bp.version else 0.15 if same_family else 0.25
    elif ap.kind == "unknown":
        base = 0.6
    else:
        base = 0.72  # a script's product token against a browser's
    details = (("client", bp.name, ap.name),) if bp.name != ap.name else ()
    diff = _diff(HEADER, name, shown_b, shown_a, DIFFERS, CAT_USER_AGENT, base, patch)
    return replace(diff, details=details)


def _shown_header(lower: str, value: str | None, secret: bool) -> str | None:
    if value is None:
        return None
    if secret:
        return fingerprint(value)
    if lower in ("referer", "origin"):
        return _without_query(value)
    return _short(value)


# --- query and body ---------------------------------------------------------------------------------

SECRET_FIELD_NAME = re.compile(
    r"(?i)^(token|access_token|id_token|refresh_token|code|key|api_?key|apikey|sig|"
    r"signature|x-amz-signature|auth\w*|session\w*|sid|jwt|password|passwd|secret|"
    r"client_secret|ticket|nonce|otp)$"
)
_CACHE_BUSTERS = frozenset({"_", "t", "ts", "timestamp", "cb", "nocache", "rand", "r", "v"})
CSRF_FIELD_NAME = re.compile(
    r"(?i)^(csrfmiddlewaretoken|_csrf|csrf|csrf_token|csrftoken|_csrf_token|authenticity_token|"
    r"__requestverificationtoken|_token|xsrf|_xsrf|anti-?forgery\w*|\w*csrf\w*|\w*xsrf\w*)$"
)


def _query_diffs(browser: Exchange, automated: Exchange) -> list[Difference]:
    return _field_diffs(
        QUERY,
        QUERY,
        _query(browser.request.url),
        _query(automated.request.url),
        _query_category,
        (CAT_CSRF, CAT_SECRET_QUERY),
    )


def _query_category(key: str) -> tuple[str, tuple[float, float, float]]:
    """A query parameter's category and its weights when missing, different, extra."""
    if CSRF_FIELD_NAME.match(key):
        return CAT_CSRF, (0.85, 0.3, 0.05)
    if SECRET_FIELD_NAME.match(key):
        return CAT_SECRET_QUERY, (0.7, 0.4, 0.1)
    if key in _CACHE_BUSTERS:
        return CAT_QUERY, (0.02, 0.01, 0.01)
    return CAT_QUERY, (0.35, 0.1, 0.1)


def _body_category(key: str) -> tuple[str, tuple[float, float, float]]:
    """A body field's category and its weights when missing, different, extra."""
    if CSRF_FIELD_NAME.match(key):
        return CAT_CSRF, (0.88, 0.3, 0.05)
    if SECRET_FIELD_NAME.match(key):
        return CAT_CREDENTIALS, (0.6, 0.3, 0.1)
    return CAT_BODY, (0.3, 0.05, 0.1)


def _field_diffs(
    where: str,
    target: str,
    browser: Mapping[str, str],
    automated: Mapping[str, str],
    categorize: Callable[[str], tuple[str, tuple[float, float, float]]],
    secret_categories: tuple[str, ...],
) -> list[Difference]:
    """The differences between two sets of named fields (query parameters, form or JSON
    body fields), browser's order first; values of secret categories are never shown."""
    out: list[Difference] = []
    for key in [*browser, *(k for k in automated if k not in browser)]:
        bv, av = browser.get(key), automated.get(key)
        if bv == av:
            continue
        category, weights = categorize(key)
        change = MISSING if av is None else EXTRA if bv is None else DIFFERS
        base = weights[(MISSING, DIFFERS, EXTRA).index(change)]
        secret = category in secret_categories
        patch = Patch(target, key, _secret_or(bv, secret), secret=secret)
        out.append(
            _diff(
                where,
                key,
                _shown_value(bv, secret),
                _shown_value(av, secret),
                change,
                category,
                base,
                patch,
            )
        )
        if len(out) >= MAX_FIELDS:
            break
    return out


def _query(url: str) -> dict[str, str]:
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    out: dict[str, str] = {}
    for key, value in bounded_qsl(query, MAX_FIELDS * 4):
        out.setdefault(key, value)
    return out


def _body_diffs(browser: Exchange, automated: Exchange) -> list[Difference]:
    breq, areq = browser.request, automated.request
    if breq.body is None or areq.body is None:
        return []  # unknown on one side: cannot judge
    bform, bkind = _fields(breq.body, breq.headers.get("Content-Type"))
    aform, akind = _fields(areq.body, areq.headers.get("Content-Type"))
    out: list[Difference] = []
    if bkind is None or akind is None or bkind != akind:
        if breq.body and not areq.body:
            out.append(
                _diff(BODY, "(body)", f"{len(breq.body)} bytes", None, MISSING, CAT_BODY, 0.4, None)
            )
        return out
    target = "form" if bkind == "form" else "json"
    return _field_diffs(BODY, target, bform, aform, _body_category, (CAT_CSRF, CAT_CREDENTIALS))


def _fields(body: bytes, content_type: str | None) -> tuple[dict[str, str], str | None]:
    """Top-level fields of a form or JSON-object body ("form"/"json"), else ({}, None)."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    text = body[:MAX_BODY_PREFIX].decode("utf-8", "replace")
    if ctype == "application/x-www-form-urlencoded":
        pairs = bounded_qsl(text, MAX_FIELDS * 4)
        out: dict[str, str] = {}
        for key, value in pairs:
            out.setdefault(key, value)
        return out, "form"
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return {}, None
        if isinstance(value, dict):
            return (
                {
                    str(k): json.dumps(v, sort_keys=True)
                    for k, v in list(value.items())[:MAX_FIELDS]
                },
                "json",
            )
    return {}, None


# --- protocol and TLS -----------------------------------------------------------------------------


def _protocol_diffs(browser: Exchange, automated: Exchange) -> list[Difference]:
    out: list[Difference] = []
    bv, av = browser.request.http_version, automated.request.http_version
    if bv != av:
        out.append(_diff(PROTOCOL, "HTTP version", bv, av, DIFFERS, CAT_PROTOCOL, 0.08, None))
    if "har" in (browser.source, automated.source):
        return out  # HAR exporters do not keep header order or case
    common = _common_names(browser, automated)
    border = [n for n in _names(browser) if n in common]
    aorder = [n for n in _names(automated) if n in common]
    if len(border) > 1 and border != aorder:
        out.append(
            _diff(
                PROTOCOL,
                "header order",
                _short(", ".join(border)),
                _short(", ".join(aorder)),
                DIFFERS,
                CAT_PROTOCOL,
                0.04,
                None,
            )
        )
    if not any(v.startswith("HTTP/2") or v.startswith("HTTP/3") for v in (bv, av)):
        bcase = {n.lower(): n for n in browser.request.headers.names()}
        acase = {n.lower(): n for n in automated.request.headers.names()}
        changed = sorted(bcase[n] for n in common if bcase[n] != acase[n])
        if changed:
            out.append(
                _diff(
                    PROTOCOL,
                    "header case",
                    _short(", ".join(changed)),
                    _short(", ".join(acase[n.lower()] for n in changed)),
                    DIFFERS,
                    CAT_PROTOCOL,
                    0.03,
                    None,
                )
            )
    return out


def _names(exchange: Exchange) -> list[str]:
    out: list[str] = []
    for name in exchange.request.headers.names():
        lower = name.lower()
        if lower not in out and lower not in _IGNORED_HEADERS and not lower.startswith(":"):
            out.append(lower)
    return out


def _common_names(browser: Exchange, automated: Exchange) -> set[str]:
    return set(_names(browser)) & set(_names(automated))


def _tls_diffs(browser: Exchange, automated: Exchange) -> list[Difference]:
    out: list[Difference] = []
    bt, at = browser.client.tls_fingerprint, automated.client.tls_fingerprint
    if bt and at and bt != at:
        out.append(_diff(TLS, "TLS fingerprint", bt[:100], at[:100], DIFFERS, CAT_TLS, 0.05, None))
    ba, aa = browser.client.alpn, automated.client.alpn
    if ba and aa and ba != aa:
        out.append(_diff(TLS, "ALPN", ba, aa, DIFFERS, CAT_TLS, 0.04, None))
    return out


# --- the refusal's hints -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Hint:
    name: str
    said: str  # for evidence: "the refusal's body mentions 'csrf'"
    boosts: Mapping[str, float]
    specific: frozenset[str]  # categories this hint names outright


_HINT_RULES: tuple[tuple[str, re.Pattern[str], Mapping[str, float], frozenset[str]], ...] = (
    (
        "csrf",
        re.compile(r"csrf|xsrf|forgery|verification token|requestverificationtoken"),
        {CAT_CSRF: 0.35, CAT_AJAX: 0.2, CAT_ORIGIN: 0.1},
        frozenset({CAT_CSRF}),
    ),
    (
        "session",
        re.compile(r"session|cookie|\blog ?in\b|logged|sign ?in|signed in|not authenticated"),
        {
            CAT_SESSION_COOKIE: 0.3,
            CAT_TOKEN_COOKIE: 0.25,
            CAT_COOKIE: 0.15,
            CAT_CREDENTIALS: 0.1,
        },
        frozenset({CAT_SESSION_COOKIE, CAT_TOKEN_COOKIE}),
    ),
    (
        "client-hints",
        re.compile(r"client.?hints?|sec-ch-ua"),
        {CAT_CLIENT_HINTS: 0.35},
        frozenset({CAT_CLIENT_HINTS}),
    ),
    (
        "fetch-metadata",
        re.compile(r"sec-fetch|fetch.?metadata|cross.?site|resource.?isolation"),
        {CAT_FETCH_METADATA: 0.35},
        frozenset({CAT_FETCH_METADATA}),
    ),
    (
        "identity",
        re.compile(r"browser|user.?agent|robot|\bbots?\b|automat|crawler|scraper|captcha"),
        {
            CAT_USER_AGENT: 0.25,
            CAT_CLIENT_HINTS: 0.15,
            CAT_FETCH_METADATA: 0.15,
            CAT_BOT_COOKIE: 0.2,
            CAT_ACCEPT: 0.1,
        },
        frozenset({CAT_USER_AGENT, CAT_BOT_COOKIE}),
    ),
    (
        "origin",
        re.compile(r"\borigin\b|referr?er|hotlink"),
        {CAT_ORIGIN: 0.3, CAT_REFERER: 0.3},
        frozenset({CAT_ORIGIN, CAT_REFERER}),
    ),
    (
        "credentials",
        re.compile(r"token|expired|bearer|api.?key|credential|password"),
        {CAT_CREDENTIALS: 0.3, CATSECRET_HEADER_NAME: 0.3, CAT_SECRET_QUERY: 0.2},
        frozenset({CAT_CREDENTIALS, CATSECRET_HEADER_NAME, CAT_SECRET_QUERY}),
    ),
)


def _refusal_hints(automated: Exchange) -> tuple[_Hint, ...]:
    """What the refusal itself says about its cause."""
    response = automated.response
    if response is None or not is_refused(automated):
        return ()
    body = (response.body or b"")[:_HINT_TEXT].decode("utf-8", "replace")
    text = f"{response.reason} {body}".lower()
    hints: list[_Hint] = []
    for name, pattern, boosts, specific in _HINT_RULES:
        scanned = CSRF_NAME.sub(" ", text) if name == "credentials" else text
        m = pattern.search(scanned)
        if m:
            said = f"the refusal mentions {m.group(0).strip()!r}"
            hints.append(_Hint(name, said, boosts, specific))
    headers = response.headers
    if "WWW-Authenticate" in headers:
        challenge = (headers.get("WWW-Authenticate") or "")[:200]
        boosts = {CAT_CREDENTIALS: 0.2, CATSECRET_HEADER_NAME: 0.1}
        if "invalid_token" in challenge:
            boosts = {CAT_CREDENTIALS: 0.3, CATSECRET_HEADER_NAME: 0.1}
        hints.append(
            _Hint(
                "challenge",
                "the refusal carries a WWW-Authenticate challenge (HTTP authentication)",
                boosts,
                frozenset({CAT_CREDENTIALS}),
            )
        )
    if automated.status == 407 or "Proxy-Authenticate" in headers:
        hints.append(
            _Hint(
                "proxy",
                "a proxy asked for authentication (407)",
                {CAT_PROXY_CREDENTIALS: 0.5},
                frozenset({CAT_PROXY_CREDENTIALS}),
            )
        )
    if headers.get("cf-mitigated") or headers.get("x-datadome"):
        hints.append(
            _Hint(
                "bot-wall",
                "the refusal comes from a bot-management layer (cf-mitigated / DataDome)",
                {CAT_BOT_COOKIE: 0.2, CAT_USER_AGENT: 0.15, CAT_CLIENT_HINTS: 0.1},
                frozenset({CAT_BOT_COOKIE, CAT_USER_AGENT}),
            )
        )
    return tuple(hints)


def _weigh(diff: Difference, hints: Sequence[_Hint], automated: Exchange) -> Difference:
    """The prior weight raised by the strongest hint that speaks for its category.

    Hints raise what the browser sent and the script lacked, or values that differ; an
    extra the script alone sent is rarely what a refusal complains about.
    """
    boost = 0.0
    said: list[str] = []
    for hint in hints:
        amount = hint.boosts.get(diff.category, 0.0)
        if amount and diff.change != EXTRA:
            boost = max(boost, amount)
            said.append(hint.said)
    return replace(
        diff,
        weight=round(min(0.99, diff.weight + boost), 3),
        prior=diff.weight,
        hints=tuple(said),
    )


def _specifically_hinted(diff: Difference, hints: Sequence[_Hint]) -> bool:
    return any(diff.category in h.specific and h.said in diff.hints for h in hints)


# --- blindness ---------------------------------------------------------------------------------------

_SANITIZABLE = {
    "authorization": "Authorization",
    "proxy-authorization": "Proxy-Authorization",
    "cookie": "Cookie",
}


def _blind_fields(
    browser: Exchange, automated: Exchange, history: Sequence[Exchange] = ()
) -> tuple[tuple[str, ...], bool]:
    """Request fields an exporter blanked on either side (lower-cased), and whether the
    capture declared it (rather than authlens inferring it from blank values).

    An export is sanitized as a whole, but one entry may not show it: a browser that drops
    Cookie whole and writes no ``headersSize`` (Playwright does so for fetch()) leaves no
    trace on that entry. So HAR entries of the same host in ``history`` that show
    sanitized fields (a dropped Set-Cookie, a blank Cookie) make a HAR baseline blind too.
    """
    blind: set[str] = set()
    declared = False
    if browser.source == "har":
        for count, other in enumerate(history):
            if count >= MAX_HISTORY:
                break
            if other.source != "har" or other.request.host != browser.request.host:
                continue
            for name in other.sanitized:
                lower = name.lower()
                if lower == "set-cookie":
                    blind.add("cookie")
                elif lower in _SANITIZABLE:
                    blind.add(lower)
    for exchange in (browser, automated):
        for name in exchange.sanitized:
            if name.lower() in _SANITIZABLE:
                blind.add(name.lower())
                declared = True
        if exchange.source == "har":
            for name, value in exchange.request.headers:
                if name.lower() in _SANITIZABLE and not value.strip():
                    blind.add(name.lower())
    return tuple(sorted(blind)), declared


def _blind_suspect(
    blind: tuple[str, ...], hints: Sequence[_Hint], automated: Exchange
) -> str | None:
    """The blind field the refusal points at, if any: then no visible difference may be
    called decisive unless a hint names its category outright."""
    if not blind or not is_refused(automated):
        return None
    names = {h.name for h in hints}
    if "cookie" in blind and ("session" in names or not names):
        return "cookie"
    if ("authorization" in blind) and ({"credentials", "challenge"} & names or not names):
        return "authorization"
    if "proxy-authorization" in blind and "proxy" in names:
        return "proxy-authorization"
    return None


def _capped(diff: Difference) -> Difference:
    return replace(diff, weight=min(diff.weight, BLIND_CAP))


# --- words ---------------------------------------------------------------------------------------------

_CATEGORY_WHY = {
    CAT_SESSION_COOKIE: "Its name marks it as a session cookie: servers authenticate browsers by it.",
    CAT_TOKEN_COOKIE: "Its value is an opaque token, the shape of a session or auth cookie.",
    CAT_BOT_COOKIE: "It is a bot-management cookie (Cloudflare, Akamai, DataDome, ...): the "
    "bot wall sets it after a browser passes its checks.",
    CAT_CSRF: "It is an anti-CSRF token: frameworks refuse state-changing requests without it.",
    CAT_AJAX: "Some frameworks accept API calls only with this marker (a weak CSRF defence).",
    CAT_CREDENTIALS: "Credentials decide who the request is from.",
    CAT_PROXY_CREDENTIALS: "Proxy credentials decide whether the proxy forwards the request.",
    CATSECRET_HEADER_NAME: "Its name marks it as a key or token.",
    CAT_USER_AGENT: "Servers and bot filters refuse User-Agents that name a script.",
    CAT_CLIENT_HINTS: "Chromium browsers send client hints to secure origins; bot filters "
    "refuse requests claiming Chrome without them.",
    CAT_FETCH_METADATA: "Browsers send fetch metadata; resource-isolation policies refuse "
    "requests without it or from another site.",
    CAT_ORIGIN: "CSRF defences compare Origin with the site.",
    CAT_REFERER: "CSRF and hotlink defences check the Referer.",
    CAT_ACCEPT: "Browsers always send these; some filters check them.",
    CAT_CONTENT_TYPE: "The server may read a different body format, or refuse it.",
    CAT_CUSTOM: "Applications often require their own headers (a client version, an API key).",
    CAT_QUERY: "",
    CAT_SECRET_QUERY: "Its name marks it as a key, signature or token.",
    CAT_BODY: "",
    CAT_PROTOCOL: "Rarely decisive; some bot filters compare it with the claimed browser. "
    "Replay cannot change it.",
    CAT_TLS: "Through mitmproxy the server sees mitmproxy's TLS, not the client's: a TLS "
    "difference cannot explain a refusal of proxied traffic. Replay cannot change it.",
    CAT_COOKIE: "",
    CAT_TRACKING_COOKIE: "An analytics or preference cookie: almost never decisive.",
    CAT_OTHER: "",
}


def _label(diff: Difference) -> str:
    if diff.kind == COOKIE:
        return f"cookie {diff.name!r}"
    if diff.kind == HEADER:
        return f"header {diff.name!r}"
    if diff.kind == CREDENTIALS:
        return f"{diff.name} credentials"
    if diff.kind == QUERY:
        return f"query parameter {diff.name!r}"
    if diff.kind == BODY:
        return "the request body" if diff.name == "(body)" else f"body field {diff.name!r}"
    return diff.name


def _explained(
    diff: Difference, bp: ClientProfile, ap: ClientProfile, decisive: bool
) -> Difference:
    """The difference with its explanation and decisive mark (one copy, not two)."""
    label = _label(diff)
    if diff.change == MISSING:
        text = f"The browser sent {label}; the script did not."
    elif diff.change == EXTRA:
        text = f"Only the script sent {label}."
    else:
        text = f"Both sent {label}, with different values."
    if diff.category == CAT_USER_AGENT and diff.change == DIFFERS:
        text = f"The browser's User-Agent names {bp.name or 'a browser'}, the script's {ap.name or 'something else'}."
    why = _CATEGORY_WHY.get(diff.category, "")
    parts = [text, why, *(f"{h[:1].upper()}{h[1:]}." for h in diff.hints)]
    return replace(diff, explanation=" ".join(p for p in parts if p), decisive=decisive)


def _who(ap: ClientProfile) -> str:
    return f"the script ({ap.name})" if ap.name else "the script"


def _headline(
    differences: Sequence[Difference], ctx: _Context, proof: Mapping[str, Any] | None
) -> str:
    """One sentence: what decided, or why nothing can be said."""
    who = _who(ctx.automated_client)
    if not ctx.refused:
        if ctx.baseline_ok:
            return "Both requests were accepted; no difference needs explaining."
        return "The automated request was not refused; there is nothing to explain."
    if not ctx.baseline_ok:
        return "The browser request was not accepted either, so it cannot serve as a baseline."
    decisive = [d for d in differences if d.decisive]
    if proof is not None:
        outcome = proof.get("outcome")
        n = proof.get("requests_sent")
        if outcome == "not-reproduced":
            return (
                f"Replay could not reproduce the refusal ({n} requests): the server now "
                "accepts the script's request as it was, so its state has changed."
            )
        if outcome == "insufficient":
            return (
                f"Even with every replayable browser difference applied the server still "
                f"refused ({n} requests): what decides is not replayable (TLS, HTTP version, "
                "expired state)."
            )
    if ctx.blind_suspect is not None and not decisive:
        field_name = _SANITIZABLE.get(ctx.blind_suspect, ctx.blind_suspect)
        removed = ", ".join(_SANITIZABLE.get(b, b) for b in ctx.blind)
        return (
            f"The browser's capture was sanitized on export ({removed} removed) and the "
            f"refusal points at exactly that, so authlens cannot tell which {field_name} "
            "value decides; export the HAR with sensitive data."
        )
    if not decisive:
        return "No difference between the browser's and the script's requests explains the refusal."
    top = decisive[0]
    value = f" ({top.browser})" if top.category == CAT_FETCH_METADATA and top.browser else ""
    needs = _claim(decisive, proof, "needs it")
    if top.category in (CAT_SESSION_COOKIE, CAT_TOKEN_COOKIE):
        if top.change == MISSING:
            return f"The browser sent the session cookie {top.name!r} that {who} lacked{needs}."
        return f"The browser's session cookie {top.name!r} differs from the one {who} sent{needs}."
    if top.category == CAT_CSRF and top.change == MISSING:
        return f"The browser sent the anti-CSRF token {_label(top)} that {who} lacked{needs}."
    if top.category in (CAT_CREDENTIALS, CAT_PROXY_CREDENTIALS):
        if ctx.token_expired is not None:
            return (
                f"The script's token expired at {ctx.token_expired['exp']} while the "
                f"browser's was still valid{_claim(decisive, proof, 'needs a valid one')}."
            )
        scheme = next((d for d in top.details if d[0] == "scheme"), None)
        if scheme is not None:
            return (
                f"The browser authenticated with {scheme[1]} while {who} sent {scheme[2]} "
                f"credentials{_claim(decisive, proof, f'needs {scheme[1]}')}."
            )
        if top.change == MISSING:
            return f"The browser sent {top.name} credentials that {who} lacked{needs}."
        return f"The browser sent different {top.name} credentials than {who}{needs}."
    if top.category == CAT_USER_AGENT and top.change == DIFFERS:
        bname = ctx.browser_client.name or "a browser"
        refuses = _claim(decisive, proof, "refuses clients that do not look like a browser")
        return (
            f"The browser identified itself as {bname} while the script sent the User-Agent "
            f"{top.automated!r}{refuses}."
        )
    kind_word = {
        CAT_CLIENT_HINTS: "the client-hint header",
        CAT_FETCH_METADATA: "the fetch-metadata header",
        CAT_BOT_COOKIE: "the bot-management cookie",
    }.get(top.category)
    thing = f"{kind_word} {top.name!r}" if kind_word else _label(top)
    if top.change == MISSING:
        return f"The browser sent {thing}{value} that {who} lacked{needs}."
    if top.change == EXTRA:
        refuses = _claim(decisive, proof, "refuses it")
        return f"Only {who} sent {thing}, which the browser did not{refuses}."
    return f"The browser sent {thing}{value} with a different value than {who}{needs}."


def _claim(decisive: Sequence[Difference], proof: Mapping[str, Any] | None, verb: str) -> str:
    """The end of a headline: how sure authlens is that "the server {verb}".

    Proven by replay: said plainly, with the request count. Otherwise "most likely", and
    a close second candidate is named.
    """
    outcome = proof.get("outcome") if proof else None
    sent = proof.get("requests_sent") if proof else None
    if outcome == "proven":
        also = ""
        if len(decisive) > 1:
            also = f" (together with {', '.join(d.label for d in decisive[1:3])})"
        return f"{also}; the server {verb}: replay proved it with {sent} requests"
    if outcome == "capped":
        return (
            f"; the server most likely {verb}, but replay stopped at its cap of {sent} "
            "requests before proving it"
        )
    second = f" (or {decisive[1].label})" if len(decisive) > 1 else ""
    return f"; the server most likely {verb}{second}"


def _diagnoses(differences: Sequence[Difference], ctx: _Context) -> tuple[ImpliedDiagnosis, ...]:
    out: list[ImpliedDiagnosis] = []
    baseline = f"{ctx.browser_client.name or 'browser'} request {ctx.browser_id}"
    if ctx.blind:
        fields = ", ".join(_SANITIZABLE.get(b, b) for b in ctx.blind)
        out.append(
            ImpliedDiagnosis(
                HAR_SANITIZED,
                1.0 if ctx.declared_blind else 0.8,
                (f"the comparison cannot see {fields}: blanked or dropped on export",),
                {"fields": fields},
            )
        )
    if not (ctx.refused and ctx.baseline_ok):
        return tuple(out)
    decisive = [d for d in differences if d.decisive]
    seen: set[str] = set()

    def confidence(d: Difference) -> float:
        return 0.99 if d.proven else round(d.weight, 2)

    for d in decisive:
        evidence = _evidence(d, ctx)
        if d.category in (CAT_SESSION_COOKIE, CAT_TOKEN_COOKIE) and d.change == MISSING:
            if MISSING_SESSION_COOKIE.id not in seen:
                seen.add(MISSING_SESSION_COOKIE.id)
                out.append(
                    ImpliedDiagnosis(
                        MISSING_SESSION_COOKIE,
                        confidence(d),
                        evidence,
                        {"cookie": repr(d.name), "baseline": baseline},
                    )
                )
        elif d.category == CAT_CSRF and d.change == MISSING:
            if MISSING_CSRF_TOKEN.id not in seen:
                seen.add(MISSING_CSRF_TOKEN.id)
                out.append(
                    ImpliedDiagnosis(
                        MISSING_CSRF_TOKEN,
                        confidence(d),
                        evidence,
                        {"token": _label(d), "baseline": baseline},
                    )
                )
        elif d.category == CAT_CREDENTIALS and d.change == DIFFERS:
            scheme = next((x for x in d.details if x[0] == "scheme"), None)
            if ctx.token_expired is not None and TOKEN_EXPIRED.id not in seen:
                seen.add(TOKEN_EXPIRED.id)
                out.append(
                    ImpliedDiagnosis(
                        TOKEN_EXPIRED, confidence(d), evidence, dict(ctx.token_expired)
                    )
                )
            elif scheme is not None and SCHEME_MISMATCH.id not in seen:
                seen.add(SCHEME_MISMATCH.id)
                offered = ", ".join(ctx.challenge_schemes) or f"{scheme[1]} (what the browser used)"
                out.append(
                    ImpliedDiagnosis(
                        SCHEME_MISMATCH,
                        confidence(d),
                        evidence,
                        {"sent": str(scheme[2]), "asker": "the server", "offered": offered},
                    )
                )
    identity = [d for d in decisive if d.category in IDENTITY_CATEGORIES]
    auth_state = [
        d
        for d in decisive
        if d.category
        in (CAT_SESSION_COOKIE, CAT_TOKEN_COOKIE, CAT_CSRF, CAT_CREDENTIALS, CAT_PROXY_CREDENTIALS)
    ]
    if identity and not auth_state and ctx.same_credentials:
        shown = [_identity_text(d) for d in identity[:4]]
        evidence = tuple(e for d in identity[:4] for e in _evidence(d, ctx))
        out.append(
            ImpliedDiagnosis(
                CLIENT_FINGERPRINT_REJECTED,
                max(confidence(d) for d in identity),
                evidence,
                {"differences": "; ".join(shown), "baseline": baseline},
            )
        )
    return tuple(out)


def _identity_text(d: Difference) -> str:
    if d.category == CAT_USER_AGENT and d.details:
        return f"User-Agent {d.details[0][2]} instead of {d.details[0][1]}"
    if d.change == MISSING:
        return f"no {d.name}"
    return f"{d.name} {d.automated!r} instead of {d.browser!r}"


def _evidence(d: Difference, ctx: _Context) -> tuple[str, ...]:
    out = [
        f"{_label(d)}: browser {d.browser if d.browser is not None else '(absent)'}, "
        f"script {d.automated if d.automated is not None else '(absent)'}"
    ]
    source = ctx.cookie_sources.get(d.name) if d.kind == COOKIE else None
    if source:
        out.append(f"the browser got cookie {d.name!r} from {source}")
    out += list(d.hints)
    if d.proven:
        out.append("replay: applying it alone turned the refusal into success")
    return tuple(out)


def _notes(
    browser: Exchange,
    automated: Exchange,
    differences: Sequence[Difference],
    ctx: _Context,
) -> tuple[str, ...]:
    notes: list[str] = []
    cookies = parse_cookies(browser.request.headers.get_all("Cookie"))
    stateful = [n for n in cookies if cookie_category(n, cookies[n]) != CAT_TRACKING_COOKIE]
    if stateful:
        sources = [
            f"{n!r} from {ctx.cookie_sources[n]}" for n in stateful if n in ctx.cookie_sources
        ]
        where = f" ({'; '.join(sources[:4])})" if sources else " (set outside this capture)"
        notes.append(
            "The browser request carried state a clean browser would not have: cookies "
            f"{', '.join(repr(n) for n in stateful[:8])} from earlier responses{where}. "
            "The script must obtain them the same way (for example by logging in first)."
        )
    if ctx.blind:
        fields = ", ".join(_SANITIZABLE.get(b, b) for b in ctx.blind)
        notes.append(
            f"The capture was sanitized on export: {fields} values are missing, so the "
            "comparison is blind there (browsers strip them from HAR exports by default)."
        )
    if "har" in (browser.source, automated.source):
        notes.append("Header order and case were not compared: HAR files do not keep them.")
    if any(d.kind == TLS for d in differences) and automated.source != "har":
        notes.append(
            "TLS fingerprints are what mitmproxy saw; the server saw mitmproxy's TLS, so "
            "they cannot explain the refusal of proxied traffic."
        )
    return tuple(notes)


# --- small helpers ----------------------------------------------------------------------------------


def _diff(
    kind: str,
    name: str,
    browser: str | None,
    automated: str | None,
    change: str,
    category: str,
    weight: float,
    patch: Patch | None,
) -> Difference:
    return Difference(
        kind=kind,
        name=name,
        browser=browser,
        automated=automated,
        weight=weight,
        category=category,
        change=change,
        patch=patch,
    )


def _secret_or(value: str | None, secret: bool) -> str | None:
    if value is None:
        return None
    return Secret(value) if secret else value


def _shown_value(value: str | None, secret: bool) -> str | None:
    if value is None:
        return None
    return fingerprint(value) if secret else _short(value)


def _short(value: str | None) -> str | None:
    if value is None:
        return None
    return value if len(value) <= MAX_SHOWN else value[: MAX_SHOWN - 1] + "…"


def _without_query(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return _short(url) or ""
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else url.split("?")[0]
    return (_short(shown) or "") + ("?…" if parts.query else "")


def _challenge_schemes(exchange: Exchange) -> tuple[str, ...]:
    response = exchange.response
    if response is None:
        return ()
    schemes: list[str] = []
    for line in response.headers.get_all("WWW-Authenticate")[:8]:
        for part in re.findall(r"(?:^|,)\s*([A-Za-z][\w!#$%&'*+.^`|~-]*)(?=\s|,|$)", line):
            if part.lower() not in {s.lower() for s in schemes} and "=" not in part:
                schemes.append(part)
    return tuple(schemes[:8])


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _iso(value: Any) -> str | None:
    number = _number(value)
    if number is None:
        return _text(value)
    try:
        return datetime.fromtimestamp(number, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return _short(" ".join(str(v) for v in value[:16]))
    return _short(str(value))


def _duration(seconds: float) -> str:
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
