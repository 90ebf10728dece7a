"""mitmproxy script for the e2e proxies: refuse every destination outside 127.0.0.0/8.

Headless Chromium talks to the network on its own (component updates, safe browsing);
the tests must only ever touch loopback. Refused flows get a 502 made by mitmproxy, which
authlens' prefilter ignores, and no upstream connection is ever opened for them.
"""

from mitmproxy import http


def _loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("localhost", "::1")


def _refuse(flow: http.HTTPFlow) -> None:
    if not _loopback(flow.request.host):
        flow.response = http.Response.make(502, b"e2e: only loopback destinations\n")


def http_connect(flow: http.HTTPFlow) -> None:
    _refuse(flow)


def requestheaders(flow: http.HTTPFlow) -> None:
    _refuse(flow)
