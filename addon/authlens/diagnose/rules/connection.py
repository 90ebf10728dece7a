"""Detectors for connection-oriented schemes (NTLM, Negotiate): split handshakes, NTLM
fallback, and channel bindings broken by interception.

A failed conversation is explained once, at its final refusal: middle legs (the server's
NTLM CHALLENGE, SPNEGO accept-incomplete) are classified CONTINUE by the handshake
tracker and never produce these diagnoses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from authlens.diagnose.catalogue import (
    CHANNEL_BINDING_BROKEN,
    CONNECTION_AUTH_BROKEN,
    KERBEROS_FALLBACK,
)
from authlens.diagnose.rules import Context, Hit, detects, hit
from authlens.findings import Severity
from authlens.handshake import (
    CONNECTION_SCHEMES,
    MSG_AUTHENTICATE,
    MSG_KERBEROS,
    MSG_NEGOTIATE,
    ConnLeg,
    LegKind,
    ntlm_facts,
)
from authlens.schemes._ntlmmsg import CB_PRESENT
from authlens.schemes.negotiate import NEGOTIATE_CARRIES_NTLM

_INTERCEPTED_SOURCES = frozenset({"live", "flowfile"})


def _http2(version: str | None) -> bool:
    if not version or version.startswith("HTTP/1"):  # the usual spelling, without upper()
        return False
    return not version.upper().startswith(("HTTP/1", "HTTP/0"))


def _conn(value: str | None) -> str:
    return value if value is not None else "unknown"


@detects(CONNECTION_AUTH_BROKEN)
def connection_auth_broken(ctx: Context) -> Iterator[Hit]:
    credentials = ctx.credentials
    if (
        credentials is None
        or credentials.scheme.lower() not in CONNECTION_SCHEMES
        or ctx.view.kind is not LegKind.REFUSED
    ):
        return
    legs = ctx.view.conversation
    scheme = credentials.scheme
    over_h2 = [leg for leg in legs if _http2(leg.http_version) or _http2(leg.response_http_version)]
    if over_h2:
        kerberos_only = all(leg.message == MSG_KERBEROS for leg in legs)
        yield hit(
            [f"{leg.exchange_id}: {leg.message} over {leg.http_version}" for leg in over_h2],
            0.6 if kerberos_only else 0.9,
            scheme=scheme,
            problem=f"was attempted over {over_h2[0].http_version}",
            details=(
                f"This handshake ran over {over_h2[0].http_version}, which multiplexes many "
                "requests on one connection and so cannot carry connection-bound "
                "authentication; IIS and http.sys refuse it (HTTP_1_1_REQUIRED) and expect "
                "the client to fall back to HTTP/1.1."
            ),
        )
        return
    first = next((leg for leg in legs if leg.message == MSG_NEGOTIATE), None)
    last = legs[-1] if legs else None
    if first is None or last is None or last.message != MSG_AUTHENTICATE:
        return
    yield from _split(ctx, scheme, first, last)


def _split(ctx: Context, scheme: str, first: ConnLeg, last: ConnLeg) -> Iterator[Hit]:
    ids = (first.client_conn, last.client_conn, first.server_conn, last.server_conn)
    closing = first.connection_close
    if (
        first.client_conn is not None
        and last.client_conn is not None
        and first.client_conn != last.client_conn
    ):
        evidence = [
            f"NEGOTIATE ({first.exchange_id}) on client connection {first.client_conn}",
            f"AUTHENTICATE ({last.exchange_id}) on client connection {last.client_conn}",
        ]
        if closing:
            evidence.append("the CHALLENGE leg said Connection: close")
        yield hit(
            evidence,
            0.95 if closing else 0.9,
            scheme=scheme,
            problem="was split across two client connections",
            details=(
                "The client sent NEGOTIATE on one connection and AUTHENTICATE on another "
                f"({first.client_conn} → {last.client_conn}), so the server never connected "
                "the two and refused the second."
                + (
                    " The CHALLENGE leg closed its connection (Connection: close)."
                    if closing
                    else ""
                )
            ),
        )
        return
    if (
        first.server_conn is not None
        and last.server_conn is not None
        and first.server_conn != last.server_conn
    ):
        yield hit(
            [
                f"NEGOTIATE ({first.exchange_id}) reached the server on connection {first.server_conn}",
                f"AUTHENTICATE ({last.exchange_id}) reached it on connection {last.server_conn}",
            ],
            0.85,
            scheme=scheme,
            problem="reached the server over two different connections",
            details=(
                "The client kept its connection, but the legs reached the server over "
                f"different upstream connections ({first.server_conn} → {last.server_conn}): "
                "a proxy or load balancer in between (or mitmproxy's upstream connection) did "
                "not keep them paired."
            ),
        )
        return
    if any(value is None for value in ids):
        yield hit(
            [
                "the capture has no connection identity for these legs "
                f"(client {_conn(first.client_conn)}/{_conn(last.client_conn)}, "
                f"server {_conn(first.server_conn)}/{_conn(last.server_conn)})"
            ],
            0.3,
            Severity.WARNING,
            scheme=scheme,
            problem="could not be checked for connection affinity",
            details=(
                "This capture does not record which connection each request used (a HAR "
                "file never does), so authlens cannot judge whether the legs shared one "
                "connection. If a proxy or load balancer sits in between, that is the first "
                "thing to check."
            ),
        )


def _carries_ntlm(ctx: Context) -> bool:
    credentials = ctx.credentials
    if credentials is None or credentials.scheme.lower() not in ("negotiate", "kerberos"):
        return False
    if any(f.id == NEGOTIATE_CARRIES_NTLM for f in credentials.findings):
        return True
    return ntlm_facts(credentials.scheme, credentials.summary) is not None


@detects(KERBEROS_FALLBACK)
def kerberos_fallback(ctx: Context) -> Iterator[Hit]:
    if not _carries_ntlm(ctx) or ctx.view.kind not in (LegKind.REFUSED, LegKind.ACCEPTED):
        return
    credentials = ctx.credentials
    assert credentials is not None
    evidence = [f"{credentials.field}: Negotiate token carries an NTLM message, not Kerberos"]
    evidence += [f.message for f in credentials.findings if f.id == NEGOTIATE_CARRIES_NTLM][:1]
    accepted = ctx.view.kind is LegKind.ACCEPTED
    yield hit(
        evidence,
        0.9,
        Severity.INFO if accepted else None,
        host=ctx.request.host,
        outcome="it still succeeded over NTLM" if accepted else "and it was refused",
    )


@detects(CHANNEL_BINDING_BROKEN)
def channel_binding_broken(ctx: Context) -> Iterator[Hit]:
    credentials = ctx.credentials
    if credentials is None or ctx.view.kind is not LegKind.REFUSED:
        return
    exchange = ctx.exchange
    # TLS before the NTLM facts: the scheme is already parsed, the facts are built per call.
    tls = exchange.request.scheme == "https" or exchange.client.tls is True
    if not tls:
        return
    facts = ntlm_facts(credentials.scheme, credentials.summary)
    if (
        facts is None
        or facts.message_type != "AUTHENTICATE"
        or facts.channel_bindings != CB_PRESENT
    ):
        return
    host = ctx.request.host
    evidence = [
        "the NTLMv2 AUTHENTICATE carries a non-zero channel-binding hash (MsvAvChannelBindings)",
        f"over TLS to {host}",
    ]
    if (
        exchange.source in _INTERCEPTED_SOURCES
        and exchange.response is not None
        and not exchange.response.generated_by_proxy
    ):
        evidence.append("mitmproxy terminated the client's TLS connection (interception)")
        certainty = (
            "authlens saw this exchange decrypted, so mitmproxy was the TLS peer the client "
            "bound to."
        )
        confidence = 0.85
        interceptor = "mitmproxy"
    else:
        certainty = (
            "This capture is a HAR file: if it was recorded through an intercepting proxy, "
            "that proxy's certificate was bound; if a browser recorded it directly, a "
            "TLS-terminating device in front of the server has the same effect."
        )
        confidence = 0.4
        interceptor = "the intercepting proxy"
    yield hit(
        evidence,
        confidence,
        scheme=credentials.scheme,
        host=host,
        host_re=re.escape(host),
        interceptor=interceptor,
        certainty=certainty,
    )
