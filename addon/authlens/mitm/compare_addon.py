"""Browser versus script in mitmproxy: TLS fingerprints, and the compare/bisect/fix commands.

:class:`AuthLensCompare` sits beside :class:`~authlens.mitm.addon.AuthLens` (which does the
automatic comparison in its analyzer). It adds what needs mitmproxy itself:

- ``tls_clienthello`` records each client connection's JA4 (bounded map) and ``request``
  copies it into ``flow.metadata`` (:data:`adapter.TLS_FINGERPRINT_KEY`), where the adapter
  reads it, so live traffic and saved flow files both compare TLS fingerprints;
- ``authlens.compare <flows>``: the headline and ranked differences of each refused flow
  among the given ones, written into its ``authlens`` annotation;
- ``authlens.bisect <flow>``: only on request, replays the refused request with the
  browser's differences (at most ``authlens_bisect_max_requests`` requests, in a worker
  thread) and records the minimal set that turns the refusal into success;
- ``authlens.fix <flow>``: curl/requests/httpx code for the request with the decisive
  differences applied, secrets as environment-variable placeholders.

Nothing here sends a request unless the user runs ``authlens.bisect``.
"""

from __future__ import annotations

import asyncio
import http.client as http_client
import logging
import ssl
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from mitmproxy import command, ctx, exceptions, flow, http, tls
from mitmproxy.hooks import UpdateHook

from authlens.bisect import (
    HARD_MAX_REQUESTS,
    ReplayRequest,
    ReplayResponse,
    prove,
    send_via_http_client,
)
from authlens.compare import Comparison, compare_captures
from authlens.fingerprint import ja4, parse_client_hello
from authlens.mitm import adapter
from authlens.model import Exchange
from authlens.snippets import snippets

logger = logging.getLogger(__name__)

OptionsError: Any = exceptions.OptionsError

DEFAULT_BISECT_MAX_REQUESTS = 16
MAX_CONNECTIONS = 4096  # client connections whose JA4 is remembered (LRU)
MAX_COMPARISONS = 1024  # comparisons kept for bisect/fix (LRU)
REPLAY_TIMEOUT = 10.0
_F = TypeVar("_F", bound=Callable[..., Any])
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}
)


def _command(name: str) -> Callable[[_F], _F]:
    """``mitmproxy.command.command`` with a type mypy can see."""
    decorator: Callable[[_F], _F] = command.command(name)
    return decorator


class AuthLensCompare:
    """mitmproxy addon: TLS fingerprints for the comparison, and its commands."""

    def __init__(self) -> None:
        self._ja4: OrderedDict[str, str] = OrderedDict()
        # The `request` hook exists only once a ClientHello was fingerprinted: mitmproxy
        # pays a dispatch for every hook an addon has, on every flow.
        self.request: Callable[[http.HTTPFlow], None] | None = None
        # flow id -> (the refused exchange, its comparison), for bisect and fix.
        self._compared: OrderedDict[str, tuple[Exchange, Comparison]] = OrderedDict()
        self._max_requests = DEFAULT_BISECT_MAX_REQUESTS
        self._tasks: set[asyncio.Task[None]] = set()

    def load(self, loader: Any) -> None:
        loader.add_option(
            "authlens_bisect_max_requests",
            int,
            DEFAULT_BISECT_MAX_REQUESTS,
            f"Most requests authlens.bisect may send for one flow (1 to {HARD_MAX_REQUESTS}).",
        )

    def configure(self, updated: set[str]) -> None:
        if "authlens_bisect_max_requests" in updated:
            value = ctx.options.authlens_bisect_max_requests
            if not 1 <= value <= HARD_MAX_REQUESTS:
                raise OptionsError(
                    f"authlens_bisect_max_requests must be 1 to {HARD_MAX_REQUESTS}, not {value}"
                )
            self._max_requests = value

    # --- hooks --------------------------------------------------------------------------------

    def done(self) -> None:
        # A bisect still running is abandoned: its thread ends after its current request.
        for task in list(self._tasks):
            task.cancel()

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        try:
            hello = parse_client_hello(data.client_hello.raw_bytes(False))
            if hello is None:
                return
            conn_id = data.context.client.id
            self._ja4[conn_id] = ja4(hello)
            self.request = self._attach_fingerprint
            self._ja4.move_to_end(conn_id)
            while len(self._ja4) > MAX_CONNECTIONS:
                self._ja4.popitem(last=False)
        except Exception:  # a fingerprint is a nicety: never break the handshake
            logger.warning("authlens: internal error reading a ClientHello")

    def _attach_fingerprint(self, f: http.HTTPFlow) -> None:
        fingerprint = self._ja4.get(f.client_conn.id)
        if fingerprint is not None:
            f.metadata[adapter.TLS_FINGERPRINT_KEY] = fingerprint

    # --- commands -----------------------------------------------------------------------------

    @_command("authlens.compare")
    def compare_flows(self, flows: Sequence[flow.Flow]) -> Sequence[str]:
        """Compare each refused script flow among ``flows`` with a browser's accepted one."""
        exchanges = [
            adapter.exchange_from_flow(f, _source(f))
            for f in flows
            if isinstance(f, http.HTTPFlow) and f.response is not None
        ]
        by_id = {f.id: f for f in flows if isinstance(f, http.HTTPFlow)}
        exchange_by_id = {e.id: e for e in exchanges}
        out: list[str] = []
        updated: list[http.HTTPFlow] = []
        for refused_id, comparison in compare_captures(exchanges, exchanges).items():
            self._remember(exchange_by_id[refused_id], comparison)
            lines = describe(comparison)
            for line in lines:
                logger.info("authlens: %s", line)
            out.append("\n".join(lines))
            target = by_id.get(refused_id)
            if target is not None and _annotate(target, comparison):
                updated.append(target)
        if not out:
            logger.info("authlens: no refused script flow with a browser baseline among these")
        if updated:
            ctx.master.addons.trigger(UpdateHook(updated))
        return out

    @_command("authlens.bisect")
    def bisect(self, f: flow.Flow) -> None:
        """Replay the refused flow with the browser's differences to prove which decide."""
        found = self._compared.get(f.id)
        if found is None or not isinstance(f, http.HTTPFlow):
            logger.warning("authlens: run authlens.compare on this flow and its baseline first")
            return
        refused, comparison = found
        cap = self._max_requests
        logger.info("authlens: bisect %s: at most %d requests", f.id, cap)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._proved(f, _run_bisect(refused, comparison, cap))
            return
        task = loop.create_task(self._bisect_async(f, refused, comparison, cap))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bisect_async(
        self, f: http.HTTPFlow, refused: Exchange, comparison: Comparison, cap: int
    ) -> None:
        try:
            proved = await asyncio.to_thread(_run_bisect, refused, comparison, cap)
            self._proved(f, proved)
        except Exception:
            logger.warning("authlens: internal error in authlens.bisect")

    def _proved(self, f: http.HTTPFlow, proved: Comparison) -> None:
        entry = self._compared.get(f.id)
        if entry is not None:
            self._remember(entry[0], proved)
        proof = proved.proof or {}
        logger.info(
            "authlens: bisect %s: %s after %s requests; minimal set: %s",
            f.id,
            proof.get("outcome"),
            proof.get("requests_sent"),
            ", ".join(proof.get("decisive") or []) or "(none)",
        )
        if _annotate(f, proved):
            ctx.master.addons.trigger(UpdateHook([f]))

    @_command("authlens.fix")
    def fix(self, f: flow.Flow) -> str:
        """curl, requests and httpx code for the flow with the decisive differences applied."""
        found = self._compared.get(f.id)
        if found is not None:
            refused, comparison = found
            code = snippets(refused, comparison.decisive)
        elif isinstance(f, http.HTTPFlow):
            code = snippets(adapter.exchange_from_flow(f, _source(f)))
        else:
            return ""
        env = "\n".join(f"export {name}=..." for name in code.env) or "(no secrets)"
        text = (
            f"# environment\n{env}\n\n# curl\n{code.curl}\n\n# requests\n{code.requests}\n\n"
            f"# httpx\n{code.httpx}"
        )
        logger.info("authlens: fix for %s:\n%s", f.id, text)
        return text

    def _remember(self, refused: Exchange, comparison: Comparison) -> None:
        self._compared[refused.id] = (refused, comparison)
        self._compared.move_to_end(refused.id)
        while len(self._compared) > MAX_COMPARISONS:
            self._compared.popitem(last=False)


def describe(comparison: Comparison) -> list[str]:
    """The headline, then the ranked differences (decisive marked) and implied diagnoses."""
    lines = [comparison.headline]
    for d in comparison.differences[:10]:
        mark = "*" if d.decisive else "-"
        lines.append(f"  {mark} {d.label}: browser {d.browser!s}, script {d.automated!s}")
    lines += [f"  => {d.id}" for d in comparison.diagnoses]
    return lines


def _source(f: flow.Flow) -> str:
    return adapter.SOURCE_LIVE if f.live else adapter.SOURCE_FLOWFILE


def _annotate(f: http.HTTPFlow, comparison: Comparison) -> bool:
    """Put the comparison into the flow's ``authlens`` annotation (when it has one)."""
    metadata = f.metadata.get(adapter.ANNOTATION_KEY)
    if not isinstance(metadata, dict):
        return False
    metadata["comparison"] = comparison.to_json()
    return True


def _run_bisect(refused: Exchange, comparison: Comparison, cap: int) -> Comparison:
    result = prove(refused, comparison.differences, send=send_direct, max_requests=cap)
    return comparison.with_proof(result)


def send_direct(request: ReplayRequest) -> ReplayResponse:
    """Send one replay straight to the server (not through mitmproxy): loopback through
    :func:`authlens.bisect.send_via_http_client`, anything else with verified TLS."""
    parts = urlsplit(request.url)
    host = parts.hostname or ""
    try:
        return send_via_http_client(request, timeout=REPLAY_TIMEOUT)
    except ValueError:
        if parts.scheme not in ("http", "https") or not host:
            raise
    conn: http_client.HTTPConnection
    if parts.scheme == "https":
        conn = http_client.HTTPSConnection(
            host, parts.port, timeout=REPLAY_TIMEOUT, context=ssl.create_default_context()
        )
    else:
        conn = http_client.HTTPConnection(host, parts.port, timeout=REPLAY_TIMEOUT)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
        has_host = False
        for name, value in request.headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP or lower.startswith(":") or lower == "content-length":
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
        data = response.read(64 * 1024)
        return ReplayResponse(response.status, response.reason, tuple(response.getheaders()), data)
    finally:
        conn.close()
