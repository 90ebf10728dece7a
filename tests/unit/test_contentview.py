"""authlens.mitm.contentview: the "Auth" view, its bids and what it shows."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from mitmproxy import contentviews, http
from mitmproxy.contentviews import Metadata
from mitmproxy.test import taddons, tflow, tutils

from authlens.mitm.contentview import (
    PRIORITY_EMPTY_BODY,
    PRIORITY_WITH_BODY,
    AuthContentview,
    auth_view,
)

CANARY = "Canary-Pa55w0rd!"
BASIC = "Basic " + base64.b64encode(f"alice:{CANARY}".encode()).decode()


def hdrs(*pairs: tuple[str, str]) -> http.Headers:
    return http.Headers([(k.encode(), v.encode()) for k, v in pairs])


def response(status: int = 401, body: bytes = b"", *pairs: tuple[str, str]) -> http.Response:
    return tutils.tresp(
        status_code=status, reason=b"Unauthorized", headers=hdrs(*pairs), content=body
    )


def meta(message: http.Message, flow: Any = None) -> Metadata:
    return Metadata(flow=flow, http_message=message)


ANNOTATION = {
    "version": 1,
    "refused_by": {"kind": "origin", "name": "Microsoft-IIS/10.0", "evidence": ["Server header"]},
    "client": {"kind": "automated", "name": "curl/8.5", "evidence": ["User-Agent"]},
    "diagnoses": [
        {
            "id": "credentials-rejected",
            "severity": "error",
            "title": "The server refused the credentials",
            "explanation": "Basic credentials for alice were sent and refused.",
            "fix": "Check the password for alice.",
            "evidence": ["Authorization: Basic <redacted:sha256:abcdef>"],
            "confidence": 0.9,
            "references": ["RFC 9110 §11.6.1"],
        }
    ],
    "handshake": {"legs": [{"flow": "f1", "status": 401}, {"flow": "f2", "status": 401}]},
    "comment": "credentials-rejected: The server refused the credentials",
}


# --- render_priority ------------------------------------------------------------------------


def test_bids_for_empty_401_and_407() -> None:
    view = AuthContentview()
    assert view.render_priority(b"", meta(response(401))) == PRIORITY_EMPTY_BODY
    assert view.render_priority(b"", meta(response(407))) == PRIORITY_EMPTY_BODY


def test_bids_low_when_a_body_view_is_better() -> None:
    view = AuthContentview()
    resp = response(401, b"<html>401.2</html>")
    assert view.render_priority(b"<html>401.2</html>", meta(resp)) == PRIORITY_WITH_BODY
    assert PRIORITY_WITH_BODY < 0.1  # the raw view's bid


def test_bids_for_requests_with_credentials() -> None:
    view = AuthContentview()
    req = tutils.treq(headers=hdrs(("Proxy-Authorization", BASIC)), content=b"")
    assert view.render_priority(b"", meta(req)) == PRIORITY_EMPTY_BODY


@pytest.mark.parametrize(
    "message",
    [
        tutils.tresp(status_code=200),
        tutils.tresp(status_code=403),
        tutils.treq(),
        None,
    ],
)
def test_no_bid_elsewhere(message: Any) -> None:
    assert AuthContentview().render_priority(b"", Metadata(http_message=message)) < 0


def test_auto_selection_through_mitmproxy() -> None:
    with taddons.context():
        contentviews.add(auth_view)
        try:
            f = tflow.tflow(resp=response(401, b"", ("WWW-Authenticate", 'Basic realm="x"')))
            result = contentviews.prettify_message(f.response, f)
            assert result.view_name == "Auth"
            assert "Basic" in result.text
            html = tflow.tflow(
                resp=response(401, b"<html><body>no</body></html>", ("Content-Type", "text/html"))
            )
            assert contentviews.prettify_message(html.response, html).view_name != "Auth"
        finally:
            contentviews.registry._by_name.pop("auth", None)


# --- prettify -------------------------------------------------------------------------------


def test_challenges_are_decoded() -> None:
    resp = response(
        401,
        b"",
        ("WWW-Authenticate", 'Basic realm="intranet"'),
        ("WWW-Authenticate", 'Digest realm="r", nonce="abc", qop="auth", algorithm=SHA-256'),
    )
    text = AuthContentview().prettify(b"", meta(resp))
    assert "WWW-Authenticate: 2 challenges" in text
    assert "intranet" in text and "SHA-256" in text
    assert "\x1b[" not in text  # no terminal colours in mitmproxy's UI


def test_missing_challenge_is_said() -> None:
    text = AuthContentview().prettify(b"", meta(response(407)))
    assert "No Proxy-Authenticate challenge" in text


def test_credentials_are_redacted_by_default() -> None:
    req = tutils.treq(headers=hdrs(("Authorization", BASIC)))
    text = AuthContentview().prettify(b"", meta(req))
    assert "alice" in text
    assert "<redacted:sha256:" in text
    assert CANARY not in text
    assert base64.b64encode(f"alice:{CANARY}".encode()).decode() not in text


def test_credentials_raw_when_redaction_is_off() -> None:
    view = AuthContentview()
    view.redact = False
    req = tutils.treq(headers=hdrs(("Authorization", BASIC)))
    assert CANARY in view.prettify(b"", meta(req))


def test_diagnoses_and_handshake_from_flow_metadata() -> None:
    f = tflow.tflow(resp=response(401, b"", ("WWW-Authenticate", "Negotiate, NTLM")))
    f.metadata["authlens"] = ANNOTATION
    text = AuthContentview().prettify(b"", meta(f.response, f))
    assert "✖ credentials-rejected  [error, confidence 0.90]" in text
    assert "Fix: Check the password for alice." in text
    assert "Authorization: Basic <redacted:sha256:abcdef>" in text
    assert "RFC 9110 §11.6.1" in text
    assert "Refused by: origin (Microsoft-IIS/10.0)" in text
    assert "Client: automated (curl/8.5)" in text
    assert "Handshake" in text and "status: 401" in text
    # the request side of the same flow shows the same diagnoses
    assert "credentials-rejected" in AuthContentview().prettify(b"", meta(f.request, f))


def test_plain_request_without_anything() -> None:
    text = AuthContentview().prettify(b"", meta(tutils.treq(), tflow.tflow()))
    assert text.startswith("No authentication fields")


def test_hostile_metadata_does_not_break_rendering() -> None:
    f = tflow.tflow(resp=response(401))
    f.metadata["authlens"] = {
        "diagnoses": [{"id": "x\x1b[31m", "evidence": "not a list", "confidence": "high"}, 3],
        "handshake": [[[[[[[[[["deep"]]]]]]]]]],
        "client": "not a dict",
    }
    text = AuthContentview().prettify(b"", meta(f.response, f))
    assert "\x1b" not in text
    assert "x\\x1b[31m" in text


def test_not_an_http_message() -> None:
    with pytest.raises(ValueError):
        AuthContentview().prettify(b"", Metadata())


def test_name() -> None:
    assert auth_view.name == "Auth"
    assert auth_view.syntax_highlight == "none"
