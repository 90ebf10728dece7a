"""Who refused (DESIGN.md §3 ``refused_by``): origin, upstream proxy, mitmproxy, CDN/WAF."""

from __future__ import annotations

import pytest
from diagnose_helpers import exchange

from authlens.refusal import CDN_WAF, MITMPROXY, ORIGIN, UNKNOWN, UPSTREAM_PROXY, identify

MITM_BODY = (
    b"<html><head><title>407 Proxy Authentication Required</title></head>"
    b"<body><h1>407 Proxy Authentication Required</h1></body></html>"
)


def test_mitmproxy_made_it_itself() -> None:
    found = identify(
        exchange(
            status=407,
            response_headers=[("Proxy-Authenticate", 'Basic realm="mitmproxy"')],
            generated_by_proxy=True,
        )
    )
    assert (found.kind, found.name) == (MITMPROXY, "mitmproxy")
    assert "generated this response itself" in found.evidence[0]


@pytest.mark.parametrize(
    ("status", "field"), [(407, "Proxy-Authenticate"), (401, "WWW-Authenticate")]
)
def test_mitmproxy_recognised_from_a_har_by_its_realm(status: int, field: str) -> None:
    found = identify(
        exchange(
            status=status,
            response_headers=[(field, 'Basic realm="mitmproxy"')],
            body=MITM_BODY,
            generated_by_proxy=None,
            source="har",
        )
    )
    assert found.kind == MITMPROXY
    assert any("realm" in e for e in found.evidence)


def test_a_realm_named_mitmproxy_from_upstream_is_not_mitmproxy() -> None:
    found = identify(
        exchange(
            status=401,
            response_headers=[("WWW-Authenticate", 'Basic realm="mitmproxy"')],
            generated_by_proxy=False,
        )
    )
    assert found.kind == ORIGIN


def test_upstream_squid() -> None:
    found = identify(
        exchange(
            "http://h.example/",
            status=407,
            response_headers=[
                ("Proxy-Authenticate", 'Basic realm="corp"'),
                ("Server", "squid/5.7"),
                ("Via", "1.1 proxy.corp (squid/5.7)"),
            ],
            upstream_proxy="proxy.corp:3128",
            mode="upstream",
        )
    )
    assert (found.kind, found.name) == (UPSTREAM_PROXY, "squid/5.7")
    joined = " ".join(found.evidence)
    assert "proxy.corp:3128" in joined and "realm 'corp'" in joined


def test_a_407_without_an_upstream_proxy_comes_from_the_network_path() -> None:
    found = identify(exchange(status=407, response_headers=[("Proxy-Agent", "Zscaler/6.2")]))
    assert (found.kind, found.name) == (UPSTREAM_PROXY, "Zscaler/6.2")
    assert any("network path" in e for e in found.evidence)


def test_cloudflare_block_page_is_the_cdn() -> None:
    found = identify(
        exchange(
            status=403,
            response_headers=[("Server", "cloudflare"), ("CF-RAY", "8f0c1a2b3c4d5e6f-FRA")],
            body=b"<title>Attention Required! | Cloudflare</title>",
        )
    )
    assert (found.kind, found.name) == (CDN_WAF, "Cloudflare")


def test_cdn_passing_on_the_origins_challenge_is_the_origin() -> None:
    found = identify(
        exchange(
            status=401,
            response_headers=[
                ("Server", "cloudflare"),
                ("CF-RAY", "8f0c1a2b3c4d5e6f-FRA"),
                ("WWW-Authenticate", 'Bearer realm="api"'),
            ],
        )
    )
    assert found.kind == ORIGIN
    assert "Cloudflare" in found.name
    assert any("passed on" in e for e in found.evidence)


@pytest.mark.parametrize(
    ("headers", "vendor"),
    [
        ([("x-amz-cf-id", "abc"), ("Server", "CloudFront")], "Amazon CloudFront"),
        ([("Server", "AkamaiGHost")], "Akamai"),
        ([("X-Sucuri-ID", "15015")], "Sucuri WAF"),
        (
            [("X-Iinfo", "10-1234-0 NNNN CT(0 0 0) RT(1 0) q(0 0 0 -1) r(0 0) U5")],
            "Imperva Incapsula",
        ),
        ([("Server", "awselb/2.0")], "AWS Elastic Load Balancing"),
    ],
)
def test_edges_that_refuse_without_a_challenge(headers: list[tuple[str, str]], vendor: str) -> None:
    found = identify(exchange(status=401, response_headers=headers))
    assert (found.kind, found.name) == (CDN_WAF, vendor)


def test_origin_named_by_server_header() -> None:
    found = identify(
        exchange(
            status=401,
            response_headers=[("Server", "Microsoft-IIS/10.0"), ("WWW-Authenticate", "NTLM")],
        )
    )
    assert (found.kind, found.name) == (ORIGIN, "Microsoft-IIS/10.0")
    assert found.describe() == "the origin server (Microsoft-IIS/10.0)"


def test_no_response() -> None:
    found = identify(exchange(status=None))
    assert found.kind == UNKNOWN
    assert set(found.to_json()) == {"kind", "name", "evidence"}
