"""authlens.mitm.adapter: flows to Exchanges, the prefilter, and reading capture files."""

from __future__ import annotations

import base64
import io
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import connection, http
from mitmproxy.addons.savehar import SaveHar
from mitmproxy.io import FlowWriter
from mitmproxy.io.har import request_to_flow
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import tflow, tutils

from authlens.mitm import adapter
from authlens.mitm.adapter import CaptureError, exchange_from_flow, is_candidate, read_flows
from authlens.model import MAX_BODY_PREFIX

BASIC_ALICE = "Basic " + base64.b64encode(b"alice:wonderland").decode()


def hdrs(*pairs: tuple[str, str]) -> http.Headers:
    return http.Headers([(k.encode(), v.encode()) for k, v in pairs])


def flow_401(**resp: Any) -> http.HTTPFlow:
    resp.setdefault("status_code", 401)
    resp.setdefault("reason", b"Unauthorized")
    resp.setdefault("headers", hdrs(("WWW-Authenticate", 'Basic realm="x"')))
    resp.setdefault("content", b"")
    return tflow.tflow(resp=tutils.tresp(**resp))


# --- is_candidate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (401, (), True),
        (407, (), True),
        (403, (), True),
        (200, (), False),
        (404, (), False),
        (302, (("Location", "/login"),), True),
        (302, (), False),  # a redirect with nowhere to go loses nothing
        (200, (("WWW-Authenticate", "Negotiate abc"),), True),  # a final NTLM/Kerberos leg
        (200, (("Authentication-Info", 'nextnonce="n"'),), True),
    ],
)
def test_is_candidate_by_response(status: int, headers: Any, expected: bool) -> None:
    f = tflow.tflow(resp=tutils.tresp(status_code=status, headers=hdrs(*headers)))
    assert is_candidate(f) is expected


@pytest.mark.parametrize("field", ["Authorization", "proxy-authorization"])
def test_is_candidate_by_request_credentials(field: str) -> None:
    req = tutils.treq(headers=hdrs((field, BASIC_ALICE)))
    assert is_candidate(tflow.tflow(req=req, resp=True))


def test_is_candidate_error_naming_407() -> None:
    f = tflow.tflow(err=True)
    f.error.msg = "Upstream proxy 127.0.0.1:1 refused HTTP CONNECT request: 407 Proxy Auth"
    assert is_candidate(f)
    f.error.msg = "Connection refused"
    assert not is_candidate(f)


def test_is_candidate_proxyauth_metadata() -> None:
    f = tflow.tflow(resp=True)
    assert not is_candidate(f)
    f.metadata["proxyauth"] = ("alice", "secret")
    assert is_candidate(f)


# --- exchange_from_flow ---------------------------------------------------------------------


def test_headers_keep_order_casing_and_repeats() -> None:
    f = flow_401(
        headers=hdrs(
            ("WWW-Authenticate", "Negotiate"),
            ("x-custom", "1"),
            ("www-authenticate", "NTLM"),
        )
    )
    f.request.headers = hdrs(("Host", "h"), ("AUTHORIZATION", BASIC_ALICE))
    ex = exchange_from_flow(f)
    assert ex.response is not None
    assert ex.response.headers.fields == (
        ("WWW-Authenticate", "Negotiate"),
        ("x-custom", "1"),
        ("www-authenticate", "NTLM"),
    )
    assert ex.response.headers.get_all("WWW-Authenticate") == ["Negotiate", "NTLM"]
    assert ex.request.headers.names() == ["Host", "AUTHORIZATION"]


def test_undecodable_header_bytes_survive_as_surrogates() -> None:
    f = flow_401()
    f.request.headers = http.Headers([(b"Authorization", b"Basic \xff\xfe")])
    value = exchange_from_flow(f).request.headers.get("authorization")
    assert value is not None
    assert value.encode("utf-8", "surrogateescape") == b"Basic \xff\xfe"


def test_basic_fields() -> None:
    f = flow_401()
    f.request.http_version = "HTTP/2.0"
    f.client_conn.alpn = b"h2"
    f.client_conn.timestamp_tls_setup = 1.0
    f.server_conn.sni = "example.test"
    ex = exchange_from_flow(f)
    assert ex.id == f.id
    assert ex.source == "live"
    assert ex.request.method == "GET"
    assert ex.request.url == "http://address:22/path"
    assert ex.request.http_version == "HTTP/2.0"
    assert ex.response is not None
    assert ex.response.status_code == 401
    assert ex.response.reason == "Unauthorized"
    assert ex.client.id == f.client_conn.id
    assert ex.server.id == f.server_conn.id
    assert ex.client.alpn == "h2"
    assert ex.client.tls is True
    assert ex.client.peer == "127.0.0.1:22"
    assert ex.server.sni == "example.test"
    assert ex.mode == "regular"
    assert ex.upstream_proxy is None
    assert not ex.is_connect
    assert ex.timestamp_start == f.request.timestamp_start
    assert ex.timestamp_end == f.response.timestamp_end
    assert ex.sanitized == ()


def test_body_prefix_is_capped() -> None:
    f = flow_401(content=b"x" * (MAX_BODY_PREFIX + 10))
    ex = exchange_from_flow(f)
    assert ex.response is not None
    assert ex.response.body == b"x" * MAX_BODY_PREFIX
    assert ex.response.body_size == MAX_BODY_PREFIX + 10


def test_body_decoded_from_content_encoding() -> None:
    resp = tutils.tresp(status_code=401, headers=hdrs(("Content-Encoding", "gzip")))
    resp.content = b"HTTP Error 401.2"  # encodes with gzip
    assert resp.raw_content != b"HTTP Error 401.2"
    ex = exchange_from_flow(tflow.tflow(resp=resp))
    assert ex.response is not None and ex.response.body == b"HTTP Error 401.2"


def test_undecodable_body_falls_back_to_raw() -> None:
    resp = tutils.tresp(status_code=401, headers=hdrs(("Content-Encoding", "gzip")))
    resp.raw_content = b"not gzip at all"
    ex = exchange_from_flow(tflow.tflow(resp=resp))
    assert ex.response is not None and ex.response.body == b"not gzip at all"


def test_streamed_body_is_unknown_not_empty() -> None:
    f = flow_401()
    f.response.raw_content = None
    ex = exchange_from_flow(f)
    assert ex.response is not None
    assert ex.response.body is None and ex.response.body_size is None


def test_error_flow() -> None:
    f = tflow.tflow(err=True)
    ex = exchange_from_flow(f)
    assert ex.response is None
    assert ex.error == "error"
    assert ex.timestamp_end == f.error.timestamp


def test_connect_flow() -> None:
    req = tutils.treq(method=b"CONNECT", host="example.test", port=443, scheme=b"", path=b"")
    req.authority = "example.test:443"
    f = tflow.tflow(req=req, resp=tutils.tresp(status_code=407, content=b""))
    ex = exchange_from_flow(f)
    assert ex.is_connect
    assert ex.request.url == "//example.test:443"
    assert ex.request.host == "example.test" and ex.request.port == 443
    assert ex.response is not None and ex.response.generated_by_proxy is True


def test_upstream_mode_and_via() -> None:
    f = flow_401(status_code=407)
    f.client_conn.proxy_mode = ProxyMode.parse("upstream:http://127.0.0.1:3128")
    ex = exchange_from_flow(f)
    assert ex.mode == "upstream"
    assert ex.upstream_proxy == "http://127.0.0.1:3128"
    f.server_conn.via = ("https", ("proxy.test", 8443))
    assert exchange_from_flow(f).upstream_proxy == "https://proxy.test:8443"


# --- generated_by_proxy ---------------------------------------------------------------------


def test_response_from_server_is_not_generated_by_proxy() -> None:
    ex = exchange_from_flow(flow_401())
    assert ex.response is not None and ex.response.generated_by_proxy is False


def test_server_never_connected_means_proxy_made_it() -> None:
    # What mitmproxy's proxyauth 407 looks like, live and in a flow file.
    f = flow_401(status_code=407)
    f.server_conn = connection.Server(address=None)
    ex = exchange_from_flow(f)
    assert ex.response is not None and ex.response.generated_by_proxy is True
    f.server_conn = connection.Server(address=("example.test", 80))  # never opened
    assert exchange_from_flow(f).response.generated_by_proxy is True  # type: ignore[union-attr]


def test_live_observation_wins() -> None:
    f = flow_401()
    assert exchange_from_flow(f, made_by_proxy=True).response.generated_by_proxy is True  # type: ignore[union-attr]


def test_server_replay_counts_as_server() -> None:
    f = flow_401()
    f.server_conn = connection.Server(address=None)
    f.is_replay = "response"
    assert exchange_from_flow(f).response.generated_by_proxy is False  # type: ignore[union-attr]


# --- proxyauth restoration ------------------------------------------------------------------


def test_proxyauth_accepted_field_is_restored_for_absolute_form() -> None:
    # proxyauth deleted the valid field; without it the 407 before looks unanswered.
    req = tutils.treq(authority=b"example.test:80", headers=hdrs(("Host", "example.test")))
    assert req.first_line_format == "absolute"
    f = tflow.tflow(req=req, resp=True)
    f.metadata["proxyauth"] = ("alice", "se:cret")
    value = exchange_from_flow(f).request.headers.get("Proxy-Authorization")
    assert value == "Basic " + base64.b64encode(b"alice:se:cret").decode()
    assert "Proxy-Authorization" not in f.request.headers  # the flow itself is untouched


def test_proxyauth_restored_next_to_origin_credentials() -> None:
    # Authorization is for the origin; it says nothing about the proxy's field.
    req = tutils.treq(authority=b"example.test:80", headers=hdrs(("Authorization", BASIC_ALICE)))
    f = tflow.tflow(req=req, resp=True)
    f.metadata["proxyauth"] = ("proxyuser", "pw")
    headers = exchange_from_flow(f).request.headers
    assert headers.get("Authorization") == BASIC_ALICE
    assert (
        headers.get("Proxy-Authorization") == "Basic " + base64.b64encode(b"proxyuser:pw").decode()
    )


def test_proxyauth_in_reverse_mode_restores_authorization() -> None:
    f = tflow.tflow(resp=True)
    f.client_conn.proxy_mode = ProxyMode.parse("reverse:http://127.0.0.1:8000")
    f.metadata["proxyauth"] = ("alice", "secret")
    headers = exchange_from_flow(f).request.headers
    assert headers.get("Authorization") == "Basic " + base64.b64encode(b"alice:secret").decode()
    assert "Proxy-Authorization" not in headers


def test_proxyauth_not_restored_for_http2_authority() -> None:
    req = tutils.treq(authority=b"example.test", http_version=b"HTTP/2.0")
    f = tflow.tflow(req=req, resp=True)
    f.metadata["proxyauth"] = ("alice", "secret")
    assert "Proxy-Authorization" not in exchange_from_flow(f).request.headers


def test_proxyauth_restored_for_plain_proxy_request_in_origin_form() -> None:
    # mitmproxy turns a regular-mode absolute-form request into origin-form itself.
    f = tflow.tflow(resp=True)
    f.client_conn.timestamp_tls_setup = None  # plain HTTP to the proxy
    f.metadata["proxyauth"] = ("alice", "secret")
    assert "Proxy-Authorization" in exchange_from_flow(f).request.headers


def test_proxyauth_not_restored_inside_a_tunnel() -> None:
    f = tflow.tflow(resp=True)  # TLS-intercepted request inside an authenticated CONNECT
    f.metadata["proxyauth"] = ("alice", "secret")
    assert "Proxy-Authorization" not in exchange_from_flow(f).request.headers


def test_proxyauth_restored_on_connect() -> None:
    req = tutils.treq(method=b"CONNECT", host="example.test", port=443, scheme=b"", path=b"")
    req.authority = "example.test:443"
    f = tflow.tflow(req=req, resp=True)
    f.metadata["proxyauth"] = ["alice", "secret"]  # a list after a flow-file round trip
    value = exchange_from_flow(f).request.headers.get("Proxy-Authorization")
    assert value == "Basic " + base64.b64encode(b"alice:secret").decode()


# --- HAR ------------------------------------------------------------------------------------


def har_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "startedDateTime": "2024-01-01T00:00:00.000Z",
        "time": 12,
        "request": {
            "method": "GET",
            "url": "https://example.test/api?x=1",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Host", "value": "example.test"}],
            "cookies": [],
            "queryString": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": 401,
            "statusText": "Unauthorized",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "WWW-Authenticate", "value": 'Bearer realm="api"'}],
            "cookies": [],
            "content": {"size": 0, "mimeType": "text/plain", "text": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 0,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 12, "receive": 0},
    }
    for key, value in overrides.items():
        part, _, field = key.partition("__")
        if field:
            entry[part][field] = value
        else:
            entry[part] = value
    return entry


def write_har(tmp_path: Path, *entries: dict[str, Any], name: str = "c.har") -> Path:
    path = tmp_path / name
    doc = {"log": {"version": "1.2", "creator": {"name": "WebInspector"}, "entries": list(entries)}}
    path.write_text(json.dumps(doc))
    return path


def test_har_exchange(tmp_path: Path) -> None:
    entry = har_entry(connection="4711", serverIPAddress="10.0.0.1")
    flows = list(read_flows(write_har(tmp_path, entry)))
    assert len(flows) == 1
    ex = exchange_from_flow(flows[0], "flowfile")
    assert ex.source == "har"  # a HAR flow is a HAR flow whatever the caller says
    assert ex.client.id == "har-connection:4711"
    assert ex.client.tls is True
    assert ex.server.peer == "10.0.0.1"
    assert ex.response is not None
    assert ex.response.generated_by_proxy is None  # a HAR cannot tell
    assert ex.response.reason == "Unauthorized"
    assert ex.mode is None


def test_har_without_connection_has_no_identity(tmp_path: Path) -> None:
    flows = list(read_flows(write_har(tmp_path, har_entry(), har_entry())))
    ids = [exchange_from_flow(f).client.id for f in flows]
    assert ids == [None, None]  # mitmproxy's fabricated per-entry ids must not leak


def test_har_imported_by_mitmproxy_itself_is_recognised() -> None:
    # `mitmdump -nr capture.har` reads HAR through FlowReader: no authlens metadata.
    f = request_to_flow(har_entry())
    assert adapter.looks_imported_from_har(f)
    ex = exchange_from_flow(f, "flowfile")
    assert ex.source == "har" and ex.client.id is None


def test_live_flow_is_not_mistaken_for_har() -> None:
    assert not adapter.looks_imported_from_har(flow_401())


def test_har_status_zero_is_no_response(tmp_path: Path) -> None:
    entry = har_entry(response__status=0, response__statusText="")
    (f,) = read_flows(write_har(tmp_path, entry))
    ex = exchange_from_flow(f)
    assert ex.response is None
    assert ex.error is not None and "status 0" in ex.error


@pytest.mark.parametrize(
    ("request_overrides", "response_overrides", "expected"),
    [
        # an empty Authorization value
        (
            {"headers": [{"name": "Authorization", "value": ""}]},
            {},
            ("Authorization",),
        ),
        # parsed cookies but no Cookie header: the header was dropped on export
        (
            {"cookies": [{"name": "sid", "value": "abc"}]},
            {},
            ("Cookie",),
        ),
        # every cookie value blanked
        (
            {
                "headers": [{"name": "Cookie", "value": "sid=; csrftoken="}],
                "cookies": [{"name": "sid", "value": ""}, {"name": "csrftoken", "value": ""}],
            },
            {},
            ("Cookie",),
        ),
        # Set-Cookie dropped from the response
        ({}, {"cookies": [{"name": "sid", "value": "abc"}]}, ("Set-Cookie",)),
        # the raw header block was much longer than the listed fields (Chrome "sanitized")
        (
            {"headersSize": 400, "url": "https://example.test/", "method": "GET"},
            {},
            ("Authorization", "Cookie"),
        ),
        # nothing lost
        ({"headers": [{"name": "Cookie", "value": "sid=abc"}]}, {}, ()),
    ],
)
def test_har_sanitized_detection(
    request_overrides: dict[str, Any], response_overrides: dict[str, Any], expected: Any
) -> None:
    entry = har_entry()
    entry["request"].update(request_overrides)
    entry["response"].update(response_overrides)
    assert adapter.har_entry_sanitized(entry) == expected


def test_har_sanitized_reaches_the_exchange(tmp_path: Path) -> None:
    entry = har_entry()
    entry["request"]["cookies"] = [{"name": "sid", "value": "abc"}]
    entry["request"]["headers"].append({"name": "Authorization", "value": ""})
    (f,) = read_flows(write_har(tmp_path, entry))
    assert exchange_from_flow(f).sanitized == ("Authorization", "Cookie")


def test_blank_header_detected_without_authlens_metadata() -> None:
    entry = har_entry()
    entry["request"]["headers"].append({"name": "Cookie", "value": ""})
    assert exchange_from_flow(request_to_flow(entry)).sanitized == ("Cookie",)


def test_mitmproxy_exported_har_is_not_sanitized(tmp_path: Path) -> None:
    f = flow_401()
    f.request.headers = hdrs(("Host", "address"), ("Authorization", BASIC_ALICE), ("Cookie", "a=b"))
    har = SaveHar().make_har([f])
    path = tmp_path / "mitm.har"
    path.write_text(json.dumps(har))
    (back,) = read_flows(path)
    assert exchange_from_flow(back).sanitized == ()
    assert back.request.headers["Authorization"] == BASIC_ALICE


def test_har_skips_non_http_and_broken_entries(tmp_path: Path) -> None:
    data_url = har_entry(request__url="data:image/png;base64,AAAA")
    broken = har_entry()
    del broken["response"]
    flows = list(read_flows(write_har(tmp_path, data_url, broken, har_entry())))
    assert len(flows) == 1


def test_zhar(tmp_path: Path) -> None:
    doc = {"log": {"entries": [har_entry()]}}
    path = tmp_path / "c.zhar"
    path.write_bytes(zlib.compress(json.dumps(doc).encode()))
    assert len(list(read_flows(path))) == 1


def test_har_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.har"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"log": {"entries": [har_entry()]}}).encode())
    assert len(list(read_flows(path))) == 1


# --- flow files and errors ------------------------------------------------------------------


def test_flow_file_round_trip_skips_non_http(tmp_path: Path) -> None:
    path = tmp_path / "flows.mitm"
    with path.open("wb") as fo:
        writer = FlowWriter(fo)
        writer.add(flow_401())
        writer.add(tflow.ttcpflow())
        writer.add(flow_401(status_code=407))
    flows = list(read_flows(path))
    assert [f.response.status_code for f in flows] == [401, 407]  # type: ignore[union-attr]
    ex = exchange_from_flow(flows[0], "flowfile")
    assert ex.source == "flowfile"
    assert ex.client.id == flows[0].client_conn.id


def test_empty_flow_file_has_no_flows(tmp_path: Path) -> None:
    path = tmp_path / "empty.mitm"
    path.write_bytes(b"")
    assert list(read_flows(path)) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a capture", "neither a mitmproxy flow file nor a HAR"),
        (b'{"not": "a har"}', "not a HAR file"),
        (b"{broken json", "not a valid HAR file"),
    ],
)
def test_unusable_files_raise_capture_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=message) as info:
        list(read_flows(path))
    assert str(path) in str(info.value)


def test_missing_file_raises_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot read"):
        list(read_flows(tmp_path / "nope.mitm"))


def test_truncated_flow_file_yields_what_it_can_then_raises(tmp_path: Path) -> None:
    buf = io.BytesIO()
    FlowWriter(buf).add(flow_401())
    good = buf.getvalue()
    path = tmp_path / "trunc.mitm"
    path.write_bytes(good + good[: len(good) // 2])
    seen = []
    with pytest.raises(CaptureError, match="after 1 flows"):
        for f in read_flows(path):
            seen.append(f)
    assert len(seen) == 1
