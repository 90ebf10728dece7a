"""The annotated HAR: mitmproxy's own HAR with authlens's comment and metadata per judged
entry, secrets replaced by fingerprints, still valid HAR 1.2."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy.addons.savehar import SaveHar
from mitmproxy.test import tflow

from authlens import decode_credentials
from authlens.report.har import annotate_har, redact_header, redact_url, validate_har
from authlens.secret import fingerprint, is_fingerprint

PASSWORD = "c4n4ry-Pa55w0rd!"
TOKEN = "c4n4ryT0ken"
SESSION = "c4n4ry-S3ssion"
CANARIES = (PASSWORD, TOKEN, SESSION, "n3wS3ssion", "f0rmPw", "j50nT0k")


def encodings(secret: str) -> list[str]:
    return [
        secret,
        base64.b64encode(secret.encode()).decode(),
        quote(secret),
        quote(secret, safe=""),
    ]


def assert_no_canary(doc: Any) -> None:
    text = json.dumps(doc, ensure_ascii=False)
    for canary in CANARIES:
        for form in encodings(canary):
            assert form not in text, form
    assert base64.b64encode(f"alice:{PASSWORD}".encode()).decode() not in text


def flows() -> list[Any]:
    refused = tflow.tflow(resp=True)
    refused.request.url = f"https://example.com/api?access_token={TOKEN}&page=2"
    refused.request.headers["Authorization"] = (
        "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    )
    refused.request.headers["Cookie"] = f"sid={SESSION}; theme=dark"
    refused.response.status_code = 401
    refused.response.reason = "Unauthorized"
    refused.response.headers["WWW-Authenticate"] = 'Basic realm="api"'
    refused.response.headers["Set-Cookie"] = "sid=n3wS3ssion; Path=/; HttpOnly"

    login = tflow.tflow(resp=True)
    login.request.method = "POST"
    login.request.headers["Content-Type"] = "application/x-www-form-urlencoded"
    login.request.content = b"user=alice&password=f0rmPw&next=%2Fhome"
    login.response.headers["Content-Type"] = "application/json"
    login.response.content = b'{"access_token": "j50nT0k", "expires_in": 3600}'

    failed = tflow.tflow(err=True)  # no response: mitmproxy writes "content": {}
    tcp = tflow.ttcpflow()  # not HTTP: make_har skips it
    return [refused, tcp, login, failed]


def metadata() -> dict[str, Any]:
    cred = decode_credentials("Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode())
    return {
        "version": 1,
        "client": {"kind": "automated", "name": "curl/8.5.0", "evidence": []},
        "refused_by": {"kind": "origin", "name": "nginx", "evidence": []},
        "challenges": [],
        "credentials": cred.to_json(),  # holds a Secret: the password's fingerprint
        "diagnoses": [
            {
                "id": "credentials-rejected",
                "severity": "error",
                "title": "Refused",
                "explanation": "",
                "fix": "",
                "evidence": [],
                "confidence": 0.9,
                "references": [],
            }
        ],
        "comparison": None,
    }


def make() -> tuple[dict[str, Any], list[Any]]:
    har = SaveHar().make_har(flows())
    per_entry: list[Any] = [
        ("credentials-rejected: Basic credentials were refused", metadata()),
        None,
        None,
    ]
    return har, per_entry


def headers(message: dict[str, Any]) -> dict[str, str]:
    return {h["name"].lower(): h["value"] for h in message["headers"]}


def test_mitmproxy_har_is_annotated_valid_and_redacted() -> None:
    har, per_entry = make()
    original = copy.deepcopy(har)
    out = annotate_har(har, per_entry)
    assert har == original  # pure: the input is untouched

    assert validate_har(out) == []
    entries = out["log"]["entries"]
    assert len(entries) == 3
    first = entries[0]
    assert first["comment"] == "credentials-rejected: Basic credentials were refused"
    assert first["_authlens"]["diagnoses"][0]["id"] == "credentials-rejected"
    assert first["_authlens"]["credentials"]["summary"]["user"] == "alice"
    assert is_fingerprint(first["_authlens"]["credentials"]["summary"]["password"])
    assert "comment" not in entries[1] and "_authlens" not in entries[1]
    assert out["log"]["_authlens"] == {"version": 1, "redacted": True}

    req, res = headers(first["request"]), headers(first["response"])
    assert req["authorization"].startswith("Basic <redacted:sha256:")
    assert req["cookie"] == f"sid={fingerprint(SESSION)}; theme={fingerprint('dark')}"
    assert res["set-cookie"] == f"sid={fingerprint('n3wS3ssion')}; Path=/; HttpOnly"
    assert res["www-authenticate"] == 'Basic realm="api"'  # challenges are not secret
    assert {c["name"]: c["value"] for c in first["request"]["cookies"]}["sid"] == fingerprint(
        SESSION
    )
    assert first["response"]["cookies"][0]["value"] == fingerprint("n3wS3ssion")
    assert (
        first["request"]["url"]
        == f"https://example.com/api?access_token={fingerprint(TOKEN)}&page=2"
    )
    query = {q["name"]: q["value"] for q in first["request"]["queryString"]}
    assert query == {"access_token": fingerprint(TOKEN), "page": "2"}

    post = entries[1]["request"]["postData"]
    assert {p["name"]: p["value"] for p in post["params"]} == {
        "user": "alice",
        "password": fingerprint("f0rmPw"),
        "next": "/home",
    }
    assert post["text"] == f"user=alice&password={fingerprint('f0rmPw')}&next=%2Fhome"
    body = json.loads(entries[1]["response"]["content"]["text"])
    assert body == {"access_token": fingerprint("j50nT0k"), "expires_in": 3600}

    assert_no_canary(out)


def test_original_mitmproxy_har_has_the_secrets_and_one_gap() -> None:
    # The fixture is honest: without authlens the canaries are there, and mitmproxy's
    # entry for a flow without a response lacks the required content fields.
    har, _ = make()
    text = json.dumps(har)
    assert base64.b64encode(f"alice:{PASSWORD}".encode()).decode() in text
    assert TOKEN in text and SESSION in text
    problems = validate_har(har)
    assert problems == [
        "log.entries[2].response.content.size: required number is missing",
        "log.entries[2].response.content.mimeType: required string is missing",
    ]


def test_no_redact_keeps_values_and_reveals_metadata() -> None:
    har, per_entry = make()
    out = annotate_har(har, per_entry, redact=False)
    assert validate_har(out) == []
    assert out["log"]["_authlens"]["redacted"] is False
    first = out["log"]["entries"][0]
    assert headers(first["request"])["cookie"] == f"sid={SESSION}; theme=dark"
    assert first["_authlens"]["credentials"]["summary"]["password"] == PASSWORD


def test_redaction_is_idempotent_and_keeps_equal_secrets_equal() -> None:
    har, per_entry = make()
    once = annotate_har(har, per_entry)
    twice = annotate_har(once, [None] * 3)
    for a, b in zip(once["log"]["entries"], twice["log"]["entries"], strict=True):
        assert a["request"] == b["request"] and a["response"] == b["response"]


def test_an_existing_comment_is_kept_above() -> None:
    har, per_entry = make()
    har["log"]["entries"][0]["comment"] = "checked by Bob"
    out = annotate_har(har, per_entry)
    assert out["log"]["entries"][0]["comment"] == (
        "checked by Bob\ncredentials-rejected: Basic credentials were refused"
    )


def test_annotations_must_line_up_with_entries() -> None:
    har, per_entry = make()
    with pytest.raises(ValueError, match="3 HAR entries"):
        annotate_har(har, per_entry[:2])
    with pytest.raises(ValueError, match="not a HAR"):
        annotate_har({"log": {}}, [])


def test_metadata_must_be_json_data() -> None:
    har, _ = make()
    bad = dict(metadata(), client=object())
    with pytest.raises(TypeError, match="not JSON-safe"):
        annotate_har(har, [("c", bad), None, None])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://alice:pw@h.example/x", f"https://alice:{fingerprint('pw')}@h.example/x"),
        ("https://ghp_tok@h.example/", f"https://{fingerprint('ghp_tok')}@h.example/"),
        (
            "https://h.example/cb?code=abc&state=xyz",
            f"https://h.example/cb?code={fingerprint('abc')}&state=xyz",
        ),
        (
            "https://h.example/#access_token=t1&token_type=bearer",
            f"https://h.example/#access_token={fingerprint('t1')}&token_type=bearer",
        ),
        (
            "https://h.example/?Client_Secret=a%2Bb",
            f"https://h.example/?Client_Secret={fingerprint('a+b')}",
        ),
        (
            "https://h.example/?X-Amz-Signature=abc&X-Amz-Date=1",
            f"https://h.example/?X-Amz-Signature={fingerprint('abc')}&X-Amz-Date=1",
        ),
        ("https://h.example/path?page=2#top", "https://h.example/path?page=2#top"),
        ("https://h.example/a@b?x=1", "https://h.example/a@b?x=1"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Authorization", "Bearer abc.def", f"Bearer {fingerprint('abc.def')}"),
        ("proxy-authorization", "NTLM TlRMTVNTUAAB", f"NTLM {fingerprint('TlRMTVNTUAAB')}"),
        ("Authorization", "Negotiate", "Negotiate"),
        ("Authorization", "rawapikey123", fingerprint("rawapikey123")),
        ("Cookie", "a=1; b=", f"a={fingerprint('1')}; b="),
        ("Cookie", "lonely", fingerprint("lonely")),
        ("Set-Cookie", "a=1; Max-Age=0", f"a={fingerprint('1')}; Max-Age=0"),
        ("X-API-Key", "k123", fingerprint("k123")),
        ("X-CSRF-Token", "c123", fingerprint("c123")),
        (
            "Location",
            "https://h.example/cb?code=abc",
            f"https://h.example/cb?code={fingerprint('abc')}",
        ),
        ("WWW-Authenticate", 'Digest realm="r", nonce="n"', 'Digest realm="r", nonce="n"'),
        ("User-Agent", "curl/8", "curl/8"),
    ],
)
def test_redact_header(name: str, value: str, expected: str) -> None:
    assert redact_header(name, value) == expected


def test_browser_har_postdata_json_and_multipart() -> None:
    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "Chrome", "version": "131"},
            "entries": [
                entry(
                    "POST",
                    "https://h.example/token",
                    {
                        "mimeType": "application/json",
                        "text": '{"grant_type": "password", "password": "f0rmPw", "nested": [{"refresh_token": "j50nT0k"}]}',
                    },
                ),
                entry(
                    "POST",
                    "https://h.example/up",
                    {
                        "mimeType": "multipart/form-data; boundary=x",
                        "text": '--x\r\nContent-Disposition: form-data; name="password"\r\n\r\nf0rmPw\r\n--x--',
                    },
                ),
            ],
        }
    }
    out = annotate_har(har, [None, None])
    assert validate_har(out) == []
    doc = json.loads(out["log"]["entries"][0]["request"]["postData"]["text"])
    assert doc["grant_type"] == "password" and doc["password"] == fingerprint("f0rmPw")
    assert doc["nested"][0]["refresh_token"] == fingerprint("j50nT0k")
    assert is_fingerprint(out["log"]["entries"][1]["request"]["postData"]["text"])
    assert_no_canary(out)


def entry(method: str, url: str, post: dict[str, Any] | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {
        "startedDateTime": "2024-01-02T10:00:00.000Z",
        "time": 12.5,
        "request": {
            "method": method,
            "url": url,
            "httpVersion": "HTTP/2",
            "cookies": [],
            "headers": [],
            "queryString": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": 401,
            "statusText": "",
            "httpVersion": "HTTP/2",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "text/plain"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 0,
        },
        "cache": {},
        "timings": {
            "blocked": -1,
            "dns": -1,
            "connect": -1,
            "ssl": -1,
            "send": 0,
            "wait": 10,
            "receive": 2.5,
        },
    }
    if post:
        e["request"]["postData"] = post
    return e


def test_validate_har_reports_what_is_wrong() -> None:
    assert validate_har([]) == ["$: expected an object"]
    assert validate_har({}) == ["log: expected an object"]
    bad = {
        "log": {
            "version": 1.2,
            "creator": {"name": "x"},
            "entries": [
                {
                    **entry("GET", "https://h/"),
                    "startedDateTime": "yesterday",
                    "time": -1,
                    "timings": {"send": 0, "wait": "10"},
                },
                "nope",
            ],
            "pages": [{"id": "p"}],
        }
    }
    bad["log"]["entries"][0]["request"]["headers"] = [{"name": "a"}]
    bad["log"]["entries"][0]["response"]["status"] = "401"
    problems = validate_har(bad)
    for expected in (
        "log.version: expected string",
        "log.creator.version: required string is missing",
        "log.pages[0].startedDateTime: required string is missing",
        "log.entries[0].startedDateTime: not an ISO 8601 date-time",
        "log.entries[0].time: must not be negative",
        "log.entries[0].request.headers[0].value: required string is missing",
        "log.entries[0].response.status: expected number",
        "log.entries[0].timings.wait: expected number",
        "log.entries[0].timings.receive: required number is missing",
        "log.entries[1]: expected an object",
    ):
        assert expected in problems, (expected, problems)


# --- properties -----------------------------------------------------------------------

nasty = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ['"><script>', "\x00", "\udcff", "\ud800", "𝔘", "a=b; c=d", "Basic x y", "=", ";", "@:#?&"]
    ),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | nasty,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty, inner, max_size=3),
    max_leaves=10,
)
header_names = (
    st.sampled_from(
        [
            "Authorization",
            "Proxy-Authorization",
            "Cookie",
            "Set-Cookie",
            "Location",
            "X-Auth-Token",
            "Accept",
        ]
    )
    | nasty
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(header_names, nasty), max_size=4),
    st.lists(st.tuples(nasty, nasty), max_size=3),
    nasty,
    st.dictionaries(nasty, json_values, max_size=4),
    nasty,
)
def test_annotated_har_stays_valid(
    hdrs: list[tuple[str, str]],
    query: list[tuple[str, str]],
    url_tail: str,
    meta: dict[str, Any],
    comment: str,
) -> None:
    e = entry(
        "POST",
        "https://u:p@h.example/" + url_tail,
        {"mimeType": "application/x-www-form-urlencoded", "text": url_tail},
    )
    e["request"]["headers"] = [{"name": n, "value": v} for n, v in hdrs]
    e["response"]["headers"] = [{"name": n, "value": v} for n, v in hdrs]
    e["request"]["queryString"] = [{"name": n, "value": v} for n, v in query]
    e["request"]["cookies"] = [{"name": n, "value": v} for n, v in query]
    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "t", "version": "1"},
            "entries": [e, entry("GET", url_tail)],
        }
    }
    for redact in (True, False):
        out = annotate_har(har, [(comment, meta), None], redact=redact)
        assert validate_har(out) == []
        json.dumps(out)
        assert out["log"]["entries"][0]["_authlens"] == json.loads(json.dumps(meta))


def test_report_writers_never_import_mitmproxy() -> None:
    # The writers take plain data; the mitmproxy layer (and only it) reads flows.
    code = (
        "import sys; import authlens.report.html, authlens.report.har, authlens.report.summary; "
        "sys.exit('mitmproxy' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "addon")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example/login?return_to=/cb?access_token=NESTEDSECRET1&lang=en",
        "https://app.example/login?return_to=%2Fcb%3Faccess_token%3DNESTEDSECRET1&lang=en",
        "https://app.example/sso?next=https%3A%2F%2Fapi.example%2Fx%3Fa%3D1%26sig%3DNESTEDSECRET1&lang=en",
        # two levels down: the inner value is itself percent-encoded twice
        "https://app.example/a?r=%2Fb%3Fr%3D%252Fc%253Fapi_key%253DNESTEDSECRET1&lang=en",
    ],
)
def test_secrets_nested_in_innocent_parameters_are_redacted(url: str) -> None:
    from authlens.schemes._common import redact_query

    for redacted in (redact_url(url), redact_query(url)):
        assert "NESTEDSECRET1" not in redacted
        assert "lang=en" in redacted  # the rest stays readable
    assert redact_url("https://app.example/a?next=/home&page=2") == (
        "https://app.example/a?next=/home&page=2"  # a harmless nested path is kept
    )


def test_har_redacts_a_token_nested_in_an_innocent_parameter() -> None:
    flow = tflow.tflow(resp=True)
    flow.request.path = "/login?return_to=%2Fcb%3Faccess_token%3DNESTEDSECRET2&lang=en"
    flow.request.method = "POST"
    flow.request.headers["content-type"] = "application/x-www-form-urlencoded"
    flow.request.content = b"next=%2Fhome%3Fsig%3DNESTEDSECRET2&user=alice"
    har = SaveHar().make_har([flow])
    assert "NESTEDSECRET2" in json.dumps(har)  # the fixture holds the canary
    out = annotate_har(har, [None])
    text = json.dumps(out)
    assert "NESTEDSECRET2" not in text
    entry = out["log"]["entries"][0]["request"]
    assert {q["name"]: q["value"] for q in entry["queryString"]}["lang"] == "en"
    assert {p["name"]: p["value"] for p in entry["postData"]["params"]}["user"] == "alice"
