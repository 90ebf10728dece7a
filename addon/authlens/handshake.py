"""Cross-flow state: stitches exchanges into handshakes. All of it lives in this file.

Theory of operation
-------------------
One exchange rarely explains itself. "No credentials" is a normal first leg if a retry
with credentials follows and a real problem if none does; an NTLM AUTHENTICATE is only
broken if its NEGOTIATE went over another connection; a Digest response is only wrong
relative to the challenge it answers. :class:`Tracker` remembers just enough of earlier
exchanges to judge these, and reports which earlier exchanges a later one changed.

Every relevant exchange is one *leg*, classified by :func:`classify` for the field it
concerns (``Authorization`` for 401s and requests to origins, ``Proxy-Authorization``
for 407s):

==========  ===================================================================
CHALLENGE   refused (401/407) and the request lacked that field
CONTINUE    credentials sent, refused with the next handshake token (NTLM CHALLENGE,
            SPNEGO accept-incomplete): a normal middle leg, never a failure by itself
STALE       Digest credentials answered with ``stale=true``: right password, old nonce
REFUSED     credentials sent and finally refused
ACCEPTED    credentials sent and not refused
OTHER       nothing to follow (e.g. a redirect without credentials)
==========  ===================================================================

State is keyed by the *client* (the peer address without the port: one machine) and the
*target*: the origin for ``Authorization`` (RFC 9110 §11.5 protection space root) or the
proxy for ``Proxy-Authorization``. Within a target:

* **Answers** (``no-retry``). CHALLENGE and STALE legs wait for a later request of the
  same client to the same target carrying the field. Basic credentials do not name their
  realm, so any credentials in the field count as the answer. A leg no answer reaches
  within ``config.no_retry_after`` seconds (by exchange timestamps or :meth:`Tracker.expire`)
  or by :meth:`Tracker.finish` becomes UNANSWERED; a late answer still flips it back.
* **Identities** (``lockout-suspected``). Per (target, scheme, identity) the table
  :data:`IDENTITY_TRANSITIONS` counts consecutive refusals; at :data:`LOCKOUT_THRESHOLD`
  the earlier legs of the streak are reported changed too.
* **Conversations** (``connection-auth-broken``, NTLM/Negotiate). The table
  :data:`CONVERSATION_TRANSITIONS` follows NEGOTIATE → CHALLENGE → AUTHENTICATE with the
  client and server connection IDs and HTTP version of each leg.
* **Digest challenges** (``digest-mismatch``): the last challenge per realm and every
  recent nonce, so credentials can be compared with the challenge they answer.
* **Redirects** (``credentials-dropped-on-redirect``): a request that carried credentials
  and was redirected to another origin, until the request to the new URL arrives.

Everything is bounded: each table is an LRU (:class:`_LRU`) of at most
``config.max_tracked`` entries, oldest evicted first; per-key lists have small fixed
caps. No table grows per flow without bound, and each exchange costs a constant number
of dictionary operations.
"""

from __future__ import annotations

import functools
import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

from authlens.challenge import Challenge
from authlens.credentials import AUTHORIZATION, PROXY_AUTHORIZATION, Credentials
from authlens.model import Exchange
from authlens.schemes._ntlmmsg import NtlmFacts
from authlens.schemes.negotiate import find_ntlm
from authlens.secret import fingerprint

LOCKOUT_THRESHOLD = 3
_AUTHORIZATION_KEY = AUTHORIZATION.lower()  # as in ``unknown_fields``
_PROXY_AUTHORIZATION_KEY = PROXY_AUTHORIZATION.lower()
_MAX_PENDING_PER_TARGET = 32
_MAX_STREAK_IDS = 8
_MAX_NONCES_PER_TARGET = 16

CONNECTION_SCHEMES = frozenset({"ntlm", "negotiate", "kerberos"})

# NTLM/Negotiate challenge "state" values, as the scheme decoders write them.
STATE_CONTINUE = "continue"

# Message kinds in a conversation.
MSG_NEGOTIATE = "NEGOTIATE"
MSG_AUTHENTICATE = "AUTHENTICATE"
MSG_KERBEROS = "Kerberos"
MSG_OTHER = "other"


class LegKind(StrEnum):
    CHALLENGE = "challenge"
    CONTINUE = "continue"
    STALE = "stale"
    REFUSED = "refused"
    ACCEPTED = "accepted"
    OTHER = "other"


class Answer(StrEnum):
    """Whether a CHALLENGE/STALE leg was followed by credentials."""

    NOT_APPLICABLE = "n/a"
    PENDING = "pending"
    ANSWERED = "answered"
    UNANSWERED = "unanswered"


class IdentityState(StrEnum):
    UNSEEN = "unseen"
    ACCEPTED = "accepted"
    REFUSING = "refusing"
    LOCKED_OUT = "locked-out"


# (state, leg kind) -> next state. REFUSING becomes LOCKED_OUT by count, not by table.
IDENTITY_TRANSITIONS: Mapping[tuple[IdentityState, LegKind], IdentityState] = {
    (IdentityState.UNSEEN, LegKind.REFUSED): IdentityState.REFUSING,
    (IdentityState.UNSEEN, LegKind.ACCEPTED): IdentityState.ACCEPTED,
    (IdentityState.ACCEPTED, LegKind.REFUSED): IdentityState.REFUSING,
    (IdentityState.ACCEPTED, LegKind.ACCEPTED): IdentityState.ACCEPTED,
    (IdentityState.REFUSING, LegKind.REFUSED): IdentityState.REFUSING,
    (IdentityState.REFUSING, LegKind.ACCEPTED): IdentityState.ACCEPTED,
    (IdentityState.LOCKED_OUT, LegKind.REFUSED): IdentityState.LOCKED_OUT,
    (IdentityState.LOCKED_OUT, LegKind.ACCEPTED): IdentityState.ACCEPTED,
}


class ConversationState(StrEnum):
    IDLE = "idle"
    NEGOTIATE_SENT = "negotiate-sent"  # NEGOTIATE (type 1) sent, CHALLENGE expected
    CHALLENGED = "challenged"  # CHALLENGE (type 2) received, AUTHENTICATE expected
    DONE = "done"


# (state, message the client sent) -> next state; a pair not in the table restarts.
CONVERSATION_TRANSITIONS: Mapping[tuple[ConversationState, str], ConversationState] = {
    (ConversationState.IDLE, MSG_NEGOTIATE): ConversationState.NEGOTIATE_SENT,
    (ConversationState.DONE, MSG_NEGOTIATE): ConversationState.NEGOTIATE_SENT,
    (ConversationState.NEGOTIATE_SENT, MSG_NEGOTIATE): ConversationState.NEGOTIATE_SENT,
    (ConversationState.CHALLENGED, MSG_NEGOTIATE): ConversationState.NEGOTIATE_SENT,
    (ConversationState.CHALLENGED, MSG_AUTHENTICATE): ConversationState.DONE,
    (ConversationState.NEGOTIATE_SENT, MSG_AUTHENTICATE): ConversationState.DONE,
    (ConversationState.IDLE, MSG_AUTHENTICATE): ConversationState.DONE,
    (ConversationState.DONE, MSG_AUTHENTICATE): ConversationState.DONE,
}


@dataclass(frozen=True, slots=True)
class ConnLeg:
    """One leg of an NTLM/Negotiate conversation, with where it travelled."""

    exchange_id: str
    message: str  # MSG_*
    client_conn: str | None
    server_conn: str | None
    http_version: str
    response_http_version: str | None
    server_challenge: str | None = None  # hex, from the CHALLENGE this leg received
    connection_close: bool = False  # request or response said "Connection: close"


@dataclass(frozen=True, slots=True)
class RedirectRef:
    """Credentials were sent to ``from_origin`` and redirected to ``to_origin``."""

    from_exchange: str
    from_origin: str
    to_origin: str
    field: str
    scheme: str
    status: int


@dataclass(frozen=True, slots=True)
class DigestRef:
    """The Digest challenge some credentials answer, and how it was found."""

    params: Mapping[str, str]
    decoded: Mapping[str, Any]
    exchange_id: str
    matched_by: str  # "nonce" (the client used its nonce) or "realm" / "latest"


@dataclass(slots=True)
class HandshakeView:
    """What the tracker knows about one exchange: read-only input for the detectors (not
    frozen only because one is built per judgement; a new view replaces an old one)."""

    kind: LegKind = LegKind.OTHER
    field: str | None = None
    answer: Answer = Answer.NOT_APPLICABLE
    answered_by: str | None = None
    answer_status: int | None = None
    answer_kind: LegKind | None = None  # what the answering exchange was
    unanswered_reason: str = ""
    identity: str | None = None  # a label: "user 'alice'", "token <redacted:…>"
    refusals: int = 0  # consecutive refusals of this identity, this leg included
    lockout_streak: bool = False
    accepted_before: str | None = None  # an exchange where this identity was accepted
    digest: DigestRef | None = None
    conversation: tuple[ConnLeg, ...] = ()
    redirect: RedirectRef | None = None


# -- classification --------------------------------------------------------------------


def client_key(exchange: Exchange) -> str:
    """The client machine: the peer host without its (per-connection) port."""
    peer = exchange.client.peer
    if not peer:
        return ""
    return _peer_host(peer)


@functools.lru_cache(maxsize=1024)  # a connection's exchanges share their peer
def _peer_host(peer: str) -> str:
    if peer.startswith("["):
        return peer[1 : peer.find("]")] if "]" in peer else peer
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else peer


def proxy_target(exchange: Exchange) -> str:
    if exchange.response is not None and exchange.response.generated_by_proxy:
        return "proxy:mitmproxy"
    return "proxy:" + (exchange.upstream_proxy or "upstream")


def concerned_field(exchange: Exchange) -> str | None:
    """The credentials field this exchange is about (see the module docstring)."""
    status = exchange.status
    if status == 407:
        return PROXY_AUTHORIZATION
    if status == 401:
        return AUTHORIZATION
    headers = exchange.request.headers
    if AUTHORIZATION in headers:
        return AUTHORIZATION
    if PROXY_AUTHORIZATION in headers:
        return PROXY_AUTHORIZATION
    return None


def ntlm_facts(scheme: str, summary: Mapping[str, Any]) -> NtlmFacts | None:
    """The NTLM message in an NTLM or Negotiate summary (challenge or credentials)."""
    lowered = scheme.lower()
    if lowered == "ntlm":
        return NtlmFacts.from_summary(summary) if summary.get("message_type") else None
    if lowered in ("negotiate", "kerberos"):
        return find_ntlm(summary)
    return None


def message_kind(credentials: Credentials) -> str:
    """MSG_* for connection-oriented credentials."""
    facts = ntlm_facts(credentials.scheme, credentials.summary)
    if facts is not None:
        if facts.message_type == "NEGOTIATE":
            return MSG_NEGOTIATE
        if facts.message_type == "AUTHENTICATE":
            return MSG_AUTHENTICATE
        return MSG_OTHER
    if credentials.scheme.lower() in ("negotiate", "kerberos"):
        return MSG_KERBEROS
    return MSG_OTHER


def is_continuation(challenges: Iterable[Challenge], scheme: str) -> bool:
    """The refusal carries the next token of an NTLM/Negotiate handshake in ``scheme``."""
    lowered = scheme.lower()
    if lowered not in CONNECTION_SCHEMES:
        return False
    for challenge in challenges:
        if challenge.scheme.lower() != lowered or challenge.token68 is None:
            continue
        if challenge.decoded.get("state") == STATE_CONTINUE:
            return True
    return False


def is_stale(challenges: Iterable[Challenge]) -> bool:
    return any(c.scheme.lower() == "digest" and c.decoded.get("stale") is True for c in challenges)


def classify(
    exchange: Exchange,
    field_name: str | None,
    credentials: Credentials | None,
    challenges: Iterable[Challenge],
) -> LegKind:
    status = exchange.status
    if field_name is None or status is None:
        return LegKind.OTHER
    refused = status in (401, 407)
    if credentials is None:
        return LegKind.CHALLENGE if refused else LegKind.OTHER
    if not refused:
        return LegKind.ACCEPTED if status < 400 or status >= 500 else LegKind.OTHER
    challenges = list(challenges)
    if is_continuation(challenges, credentials.scheme):
        return LegKind.CONTINUE
    if credentials.scheme.lower() == "digest" and is_stale(challenges):
        return LegKind.STALE
    return LegKind.REFUSED


def identity_of(credentials: Credentials) -> str | None:
    """A stable, redacted label for who the credentials speak for, or None."""
    scheme = credentials.scheme.lower()
    summary = credentials.summary
    if scheme == "basic":
        user = summary.get("user")
        if isinstance(user, str):
            return f"user '{user}'"
    elif scheme == "digest":
        user = summary.get("username")
        if isinstance(user, str):
            return f"user '{user}'"
    elif scheme in CONNECTION_SCHEMES:
        facts = ntlm_facts(credentials.scheme, summary)
        if facts is None or facts.message_type != "AUTHENTICATE" or not facts.user:
            return None  # NEGOTIATE names nobody; Kerberos tickets are encrypted
        who = f"{facts.domain}\\{facts.user}" if facts.domain else facts.user
        return f"user '{who}'"
    token = credentials.token68
    if token:
        label = f"token {fingerprint(token)}"
        jwt = summary.get("jwt")
        claims = jwt.get("claims") if isinstance(jwt, Mapping) else None
        sub = claims.get("sub") if isinstance(claims, Mapping) else None
        if isinstance(sub, str) and sub:
            label += f" (sub '{sub[:60]}')"
        return label
    if credentials.params:
        canonical = ",".join(f"{k}={v}" for k, v in sorted(credentials.params.items()))
        return f"{credentials.scheme} credentials {fingerprint(canonical)}"
    return None


def _says_close(exchange: Exchange) -> bool:
    values = exchange.request.headers.get_all("Connection")
    if exchange.response is not None:
        values += exchange.response.headers.get_all("Connection")
    return any("close" in v.lower() for v in values)


def normalize_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return url
    host = (parts.hostname or "").lower()
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host}:{port}{parts.path or '/'}{query}"


def origin_of(url: str) -> str:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return url
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


# Credentials and challenges recur as the very same objects (the engine caches their
# decoding), and what the tracker reads from them (NTLM facts, message kind, identity label
# with its keyed fingerprint) cost more than the rest of an observation: it is remembered
# per object. An entry holds its object, so the id cannot be reused while it lives; bounded.
_MAX_REMEMBERED = 512
_remembered_values: dict[tuple[int, object], tuple[object, object]] = {}


def _remembered[O, T](obj: O, compute: Callable[[O], T]) -> T:
    """``compute(obj)``, a pure function of the immutable ``obj``, remembered per object."""
    key = (id(obj), compute)
    hit = _remembered_values.get(key)
    if hit is not None and hit[0] is obj:
        return cast(T, hit[1])
    value = compute(obj)
    if len(_remembered_values) >= _MAX_REMEMBERED:
        del _remembered_values[next(iter(_remembered_values))]  # the oldest
    _remembered_values[key] = (obj, value)
    return value


def _server_challenge(challenge: Challenge) -> str | None:
    facts = ntlm_facts(challenge.scheme, challenge.decoded)
    return facts.server_challenge if facts is not None else None


# -- the tracker ------------------------------------------------------------------------------


class _LRU[K, V](OrderedDict[K, V]):
    """An OrderedDict that keeps at most ``cap`` entries, evicting the least recently set."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = max(1, cap)

    def put(self, key: K, value: V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.cap:
            self.popitem(last=False)

    def touch(self, key: K) -> V | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


@dataclass(slots=True)
class _Leg:
    """Mutable per-exchange record behind a :class:`HandshakeView`."""

    kind: LegKind
    field: str | None
    since: float | None
    answer: Answer = Answer.NOT_APPLICABLE
    answered_by: str | None = None
    answer_status: int | None = None
    answer_kind: LegKind | None = None  # what the answering exchange was
    unanswered_reason: str = ""
    identity: str | None = None
    refusals: int = 0
    lockout_streak: bool = False
    accepted_before: str | None = None
    digest: DigestRef | None = None
    conversation: tuple[ConnLeg, ...] = ()
    redirect: RedirectRef | None = None

    def view(self) -> HandshakeView:
        return HandshakeView(
            kind=self.kind,
            field=self.field,
            answer=self.answer,
            answered_by=self.answered_by,
            answer_status=self.answer_status,
            answer_kind=self.answer_kind,
            unanswered_reason=self.unanswered_reason,
            identity=self.identity,
            refusals=self.refusals,
            lockout_streak=self.lockout_streak,
            accepted_before=self.accepted_before,
            digest=self.digest,
            conversation=self.conversation,
            redirect=self.redirect,
        )


@dataclass(slots=True)
class _Identity:
    state: IdentityState = IdentityState.UNSEEN
    streak: list[str] = field(default_factory=list)  # exchange IDs of the current streak
    count: int = 0
    accepted_in: str | None = None


@dataclass(slots=True)
class _Conversation:
    state: ConversationState
    legs: list[ConnLeg]


@dataclass(slots=True)
class Observation:
    """The view of the observed exchange, and earlier exchanges whose view changed."""

    view: HandshakeView
    changed: tuple[str, ...] = ()


class Tracker:
    """Follows handshakes across exchanges. Feed it every relevant exchange in order."""

    def __init__(self, max_tracked: int = 10_000, no_retry_after: float = 30.0) -> None:
        cap = max(16, max_tracked)
        self.no_retry_after = no_retry_after
        self._legs: _LRU[str, _Leg] = _LRU(cap)
        self._pending: _LRU[tuple[str, str, str], list[str]] = _LRU(cap)
        self._identities: _LRU[tuple[str, ...], _Identity] = _LRU(cap)
        self._conversations: _LRU[tuple[str, str, str], _Conversation] = _LRU(cap)
        self._digest_by_nonce: _LRU[tuple[str, str, str], DigestRef] = _LRU(cap)
        self._digest_latest: _LRU[tuple[str, str, str], DigestRef] = _LRU(cap)
        self._redirects: _LRU[tuple[str, str], RedirectRef] = _LRU(cap)
        self._deadlines: list[tuple[float, int, str]] = []  # heap of (since, seq, leg)
        self._sequence = 0
        self._cap = cap

    def __len__(self) -> int:
        """Entries held across all tables (for tests of the bound)."""
        return sum(
            len(t)
            for t in (
                self._legs, self._pending, self._identities, self._conversations,
                self._digest_by_nonce, self._digest_latest, self._redirects,
            )
        ) + len(self._deadlines)  # fmt: skip

    def view(self, exchange_id: str) -> HandshakeView | None:
        leg = self._legs.get(exchange_id)
        return leg.view() if leg is not None else None

    def may_change(self, exchange_id: str) -> bool:
        """Whether a later exchange or time can still change this exchange's view."""
        leg = self._legs.get(exchange_id)
        if leg is None:
            return False
        if leg.kind in (LegKind.CHALLENGE, LegKind.STALE):
            return leg.answer in (Answer.PENDING, Answer.UNANSWERED)
        return leg.kind is LegKind.REFUSED and not leg.lockout_streak and leg.identity is not None

    # -- observing ------------------------------------------------------------------------

    def observe(
        self,
        exchange: Exchange,
        www: Sequence[Challenge],
        proxy: Sequence[Challenge],
        authorization: Credentials | None,
        proxy_authorization: Credentials | None,
        unknown_fields: frozenset[str] = frozenset(),
    ) -> Observation:
        """Record ``exchange``; ``unknown_fields`` are lower-cased auth fields whose value
        the capture hides (a sanitized HAR): such a leg is neither a challenge nor a
        refusal of credentials, since either may be true."""
        exchange_id = exchange.id
        client = client_key(exchange)
        field_name = concerned_field(exchange)
        credentials = proxy_authorization if field_name == PROXY_AUTHORIZATION else authorization
        challenges = proxy if field_name == PROXY_AUTHORIZATION else www
        kind = classify(exchange, field_name, credentials, challenges)
        if unknown_fields and field_name is not None and field_name.lower() in unknown_fields:
            kind = LegKind.OTHER
        since = exchange.timestamp_end or exchange.timestamp_start
        leg = _Leg(kind, field_name, since)
        self._legs.put(exchange_id, leg)
        changed: list[str] = []

        # 1. Answers: credentials in a field answer every waiting leg for that target. A
        # field in unknown_fields was blanked or dropped: maybe sent, so it answers too.
        if authorization is not None or _AUTHORIZATION_KEY in unknown_fields:
            answer_kind = kind if field_name == AUTHORIZATION else LegKind.OTHER
            target = self._target(exchange, AUTHORIZATION)
            changed += self._answer(client, target, AUTHORIZATION, exchange, answer_kind)
        if proxy_authorization is not None or _PROXY_AUTHORIZATION_KEY in unknown_fields:
            answer_kind = kind if field_name == PROXY_AUTHORIZATION else LegKind.OTHER
            target = self._target(exchange, PROXY_AUTHORIZATION)
            changed += self._answer(client, target, PROXY_AUTHORIZATION, exchange, answer_kind)

        # 2. The redirect this request may be the end of.
        leg.redirect = self._arrived(client, exchange)

        if credentials is not None:
            scheme = credentials.scheme.lower()
            # 3. What the credentials are measured against: the Digest challenge they answer.
            if scheme == "digest":
                leg.digest = self._digest_answered(client, exchange, field_name, credentials)

            # 4. Connection-oriented conversations.
            if scheme in CONNECTION_SCHEMES:
                leg.conversation = self._converse(
                    client, exchange, field_name, credentials, challenges
                )

            # 5. Identities and lockout streaks.
            if kind is LegKind.REFUSED or kind is LegKind.ACCEPTED:
                changed += self._identity(client, exchange, field_name, credentials, leg)

        # 6. This leg now waits for an answer, if it is a challenge.
        if kind in (LegKind.CHALLENGE, LegKind.STALE) and field_name is not None:
            leg.answer = Answer.PENDING
            key = (client, self._target(exchange, field_name), field_name)
            waiting = self._pending.touch(key)
            if waiting is None:
                waiting = []
                self._pending.put(key, waiting)
            if exchange_id not in waiting:
                waiting.append(exchange_id)
                del waiting[:-_MAX_PENDING_PER_TARGET]
            if since is not None:
                self._schedule(since, exchange_id)

        # 7. Remember what this response teaches for later requests.
        self._remember_digest(client, exchange, www, AUTHORIZATION)
        self._remember_digest(client, exchange, proxy, PROXY_AUTHORIZATION)
        self._remember_redirect(client, exchange, leg.redirect)

        # 8. Time passes: legs older than the no-retry window, by this exchange's clock.
        if exchange.timestamp_start is not None:
            changed += self.expire(exchange.timestamp_start, exclude=exchange_id)
        if not changed:
            return Observation(leg.view())
        return Observation(leg.view(), tuple(dict.fromkeys(i for i in changed if i != exchange_id)))

    def redirect_hop(self, exchange: Exchange) -> None:
        """An exchange not otherwise relevant: carry a pending redirect over its own redirect."""
        client = client_key(exchange)
        ref = self._arrived(client, exchange)
        if ref is not None:
            self._remember_redirect(client, exchange, ref)

    def expire(self, now: float, exclude: str | None = None) -> list[str]:
        """Mark legs that waited longer than the no-retry window as unanswered.

        Deadlines sit in a heap, so a call costs O(log n) per leg that falls due, not a
        walk over everything pending.
        """
        changed: list[str] = []
        horizon = now - self.no_retry_after
        deferred: list[tuple[float, int, str]] = []
        while self._deadlines and self._deadlines[0][0] <= horizon:
            entry = heapq.heappop(self._deadlines)
            exchange_id = entry[2]
            if exchange_id == exclude:
                deferred.append(entry)
                continue
            leg = self._legs.get(exchange_id)
            if leg is None or leg.answer is not Answer.PENDING:
                continue
            leg.answer = Answer.UNANSWERED
            leg.unanswered_reason = f"within {self.no_retry_after:g} s"
            changed.append(exchange_id)
        for entry in deferred:
            heapq.heappush(self._deadlines, entry)
        return changed

    def finish(self) -> list[str]:
        """The end of a run: every leg still waiting for an answer never got one."""
        changed: list[str] = []
        for waiting in self._pending.values():
            for exchange_id in waiting:
                leg = self._legs.get(exchange_id)
                if leg is not None and leg.answer is Answer.PENDING:
                    leg.answer = Answer.UNANSWERED
                    leg.unanswered_reason = "by the end of the capture"
                    changed.append(exchange_id)
        return changed

    # -- internals ---------------------------------------------------------------------------

    def _schedule(self, since: float, exchange_id: str) -> None:
        self._sequence += 1
        heapq.heappush(self._deadlines, (since, self._sequence, exchange_id))
        if len(self._deadlines) > 2 * self._cap:
            # Drop entries of legs that were answered or evicted since; keeps the heap bounded.
            self._deadlines = [
                e
                for e in self._deadlines
                if (leg := self._legs.get(e[2])) is not None and leg.answer is Answer.PENDING
            ]  # at most one entry per tracked leg, and legs are capped
            heapq.heapify(self._deadlines)

    @staticmethod
    def _target(exchange: Exchange, field_name: str) -> str:
        return (
            proxy_target(exchange) if field_name == PROXY_AUTHORIZATION else exchange.request.origin
        )

    def _answer(
        self, client: str, target: str, field_name: str, exchange: Exchange, kind: LegKind
    ) -> list[str]:
        waiting = self._pending.get((client, target, field_name))
        if not waiting:
            return []
        changed: list[str] = []
        for exchange_id in waiting:
            leg = self._legs.get(exchange_id)
            if leg is None or exchange_id == exchange.id:
                continue
            if leg.answer in (Answer.PENDING, Answer.UNANSWERED):
                leg.answer = Answer.ANSWERED
                leg.answered_by = exchange.id
                leg.answer_status = exchange.status
                leg.answer_kind = kind
                leg.unanswered_reason = ""
                changed.append(exchange_id)
        self._pending.pop((client, target, field_name), None)
        return changed

    def _arrived(self, client: str, exchange: Exchange) -> RedirectRef | None:
        if not self._redirects:  # the usual case: spare normalising the URL
            return None
        return self._redirects.pop((client, normalize_url(exchange.request.url)), None)

    def _remember_redirect(
        self, client: str, exchange: Exchange, carried: RedirectRef | None
    ) -> None:
        response = exchange.response
        if response is None or not 300 <= response.status_code < 400:
            return
        location = response.headers.get("Location")
        if not location:
            return
        try:
            target = urljoin(exchange.request.url, location.strip())
        except ValueError:  # e.g. "http://[::1": the server's Location cannot be followed
            return
        to_origin = origin_of(target)
        headers = exchange.request.headers
        ref: RedirectRef | None = None
        value = headers.get(AUTHORIZATION)
        if value and value.strip() and to_origin != exchange.request.origin:
            ref = RedirectRef(
                exchange.id, exchange.request.origin, to_origin, AUTHORIZATION,
                value.split(None, 1)[0], response.status_code,
            )  # fmt: skip
        if ref is None and carried is not None and to_origin != carried.from_origin:
            ref = RedirectRef(
                carried.from_exchange, carried.from_origin, to_origin, carried.field,
                carried.scheme, carried.status,
            )  # fmt: skip
        if ref is not None:
            self._redirects.put((client, normalize_url(target)), ref)

    def _digest_answered(
        self, client: str, exchange: Exchange, field_name: str | None, credentials: Credentials
    ) -> DigestRef | None:
        name = field_name or credentials.field
        target = self._target(exchange, name)
        nonce = credentials.params.get("nonce")
        if nonce is not None:
            found = self._digest_by_nonce.get((client, target, nonce))
            if found is not None:
                return found
        realm = credentials.params.get("realm")
        if realm is not None:
            found = self._digest_latest.get((client, target, "realm:" + realm))
            if found is not None:
                return DigestRef(found.params, found.decoded, found.exchange_id, "realm")
        found = self._digest_latest.get((client, target, ""))
        if found is not None:
            return DigestRef(found.params, found.decoded, found.exchange_id, "latest")
        return None

    def _remember_digest(
        self, client: str, exchange: Exchange, challenges: Sequence[Challenge], field_name: str
    ) -> None:
        if not challenges:
            return
        target = self._target(exchange, field_name)
        for challenge in challenges:
            if challenge.scheme.lower() != "digest":
                continue
            ref = DigestRef(dict(challenge.params), challenge.decoded, exchange.id, "nonce")
            nonce = challenge.params.get("nonce")
            if nonce is not None:
                self._digest_by_nonce.put((client, target, nonce), ref)
            realm = challenge.params.get("realm")
            if realm is not None:
                self._digest_latest.put((client, target, "realm:" + realm), ref)
            self._digest_latest.put((client, target, ""), ref)

    def _converse(
        self,
        client: str,
        exchange: Exchange,
        field_name: str | None,
        credentials: Credentials,
        challenges: Sequence[Challenge],
    ) -> tuple[ConnLeg, ...]:
        message = _remembered(credentials, message_kind)
        response = exchange.response
        server_challenge = None
        for challenge in challenges:
            found = _remembered(challenge, _server_challenge)
            if found:
                server_challenge = found
                break
        this = ConnLeg(
            exchange.id,
            message,
            exchange.client.id,
            exchange.server.id,
            exchange.request.http_version,
            response.http_version if response is not None else None,
            server_challenge,
            _says_close(exchange),
        )
        if message not in (MSG_NEGOTIATE, MSG_AUTHENTICATE):
            return (this,)
        # Keyed by client machine and target, not by connection: the point is to notice
        # when the legs of one conversation did *not* share a connection.
        key = (
            client,
            self._target(exchange, field_name or credentials.field),
            credentials.scheme.lower(),
        )
        conversation = self._conversations.touch(key) or _Conversation(ConversationState.IDLE, [])
        state = CONVERSATION_TRANSITIONS.get((conversation.state, message), ConversationState.IDLE)
        legs = [this] if message == MSG_NEGOTIATE else [*conversation.legs[-2:], this]
        self._conversations.put(key, _Conversation(state, legs))
        return tuple(legs)

    def _identity(
        self,
        client: str,
        exchange: Exchange,
        field_name: str | None,
        credentials: Credentials,
        leg: _Leg,
    ) -> list[str]:
        label = _remembered(credentials, identity_of)
        leg.identity = label
        if label is None:
            return []
        # Realm is left out on purpose: Basic credentials do not name theirs, and an
        # accepted request carries no challenge to learn it from.
        key = (
            client, self._target(exchange, field_name or credentials.field),
            credentials.scheme.lower(), label,
        )  # fmt: skip
        record = self._identities.touch(key)
        if record is None:
            record = _Identity()
            self._identities.put(key, record)
        nxt = IDENTITY_TRANSITIONS.get((record.state, leg.kind), record.state)
        changed: list[str] = []
        if leg.kind is LegKind.ACCEPTED:
            record.accepted_in = exchange.id
            record.streak.clear()
            record.count = 0
        else:
            leg.accepted_before = record.accepted_in
            record.count += 1
            record.streak.append(exchange.id)
            del record.streak[:-_MAX_STREAK_IDS]
            leg.refusals = record.count
            if record.count >= LOCKOUT_THRESHOLD:
                nxt = IdentityState.LOCKED_OUT
                leg.lockout_streak = True
                for earlier in record.streak[:-1]:
                    other = self._legs.get(earlier)
                    if other is not None and not other.lockout_streak:
                        other.lockout_streak = True
                        other.refusals = record.count
                        changed.append(earlier)
        record.state = nxt
        return changed
