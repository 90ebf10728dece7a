"""Basic (RFC 7617): challenge parameters, credential decoding, encodings, redaction."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import authlens
from authlens.schemes import AuthInput, basic
from authlens.secret import Secret


def ids(findings: list[authlens.Finding]) -> set[str]:
    return {f.id for f in findings}


def b64(text: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(text.encode(encoding)).decode("ascii")


def creds(value: str, field: str = "Authorization") -> authlens.Credentials:
    return authlens.decode_credentials(value, field)


# -- challenges ------------------------------------------------------------------------

CHALLENGES: list[tuple[str, dict[str, Any], set[str]]] = [
    # RFC 7617 §2
    ('Basic realm="WallyWorld"', {"realm": "WallyWorld", "charset": None, "utf8": False}, set()),
    # RFC 7617 §2.1
    ('Basic realm="foo", charset="UTF-8"', {"realm": "foo", "utf8": True}, set()),
    ('Basic realm="foo", charset="utf-8"', {"utf8": True}, set()),  # case-insensitive
    ('Basic realm="foo", charset="ISO-8859-1"', {"utf8": False}, {basic.BASIC_BAD_CHARSET}),
    ("Basic", {"realm": None}, {basic.BASIC_MISSING_REALM}),
    ('Basic charset="UTF-8"', {"realm": None, "utf8": True}, {basic.BASIC_MISSING_REALM}),
    ("Basic abc==", {}, {basic.BASIC_MISSING_REALM, basic.BASIC_CHALLENGE_TOKEN68}),
    ('Basic realm="r", title="x"', {"realm": "r"}, {"unknown-parameter"}),
    # Real servers.
    ('Basic realm="Restricted Content"', {"realm": "Restricted Content"}, set()),  # Apache
    ('Basic realm="Administrator\'s Area"', {"realm": "Administrator's Area"}, set()),  # nginx
    ('Basic realm="intranet.example.com"', {"realm": "intranet.example.com"}, set()),  # IIS
    ('Basic realm="Jenkins"', {"realm": "Jenkins"}, set()),
]


@pytest.mark.parametrize(("header", "expected", "finding_ids"), CHALLENGES)
def test_challenge(header: str, expected: dict[str, Any], finding_ids: set[str]) -> None:
    (challenge,) = authlens.parse_challenges(header)
    for key, value in expected.items():
        assert challenge.decoded[key] == value, key
    assert ids(challenge.findings) >= finding_ids
    assert not ids(challenge.findings) & (
        {v for k, v in vars(basic).items() if k.startswith("BASIC_")} - finding_ids
    )
    assert challenge.plain.endswith(".") and "\n" not in challenge.plain


def test_challenge_sentence_names_realm_and_proxy() -> None:
    (challenge,) = authlens.parse_challenges('Basic realm="mitmproxy"', "Proxy-Authenticate")
    assert challenge.plain.startswith("The proxy wants a user name and password")
    assert "'mitmproxy'" in challenge.plain
    (utf8,) = authlens.parse_challenges('Basic realm="a", charset="UTF-8"')
    assert "UTF-8" in utf8.plain


# -- credentials -----------------------------------------------------------------------


def test_rfc7617_aladdin() -> None:
    c = creds("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    assert c.scheme == "Basic"
    assert c.summary["user"] == "Aladdin"
    assert isinstance(c.summary["password"], Secret)
    assert c.summary["password"].reveal() == "open sesame"
    assert c.summary["password_length"] == 11
    assert c.summary["encoding"] == basic.ASCII
    assert c.summary["base64"] == "strict"
    assert not c.findings
    assert c.plain == "The client sent a user name and password (Basic) as user 'Aladdin'."


def test_rfc7617_charset_example_utf8_and_latin1() -> None:
    """RFC 7617 §2.1: user "test", password "123£" in UTF-8 and in ISO-8859-1."""
    utf8 = creds("Basic dGVzdDoxMjPCow==")
    assert utf8.summary["user"] == "test"
    assert utf8.summary["password"].reveal() == "123£"
    assert utf8.summary["encoding"] == basic.UTF8
    assert ids(utf8.findings) == {basic.BASIC_NON_ASCII}

    latin1 = creds("Basic dGVzdDoxMjOj")
    assert latin1.summary["password"].reveal() == "123£"
    assert latin1.summary["encoding"] == basic.LATIN1
    assert ids(latin1.findings) == {basic.BASIC_LATIN1}
    assert "ISO-8859-1" in latin1.plain
    # The same password text gives the same fingerprint whatever the wire encoding.
    assert utf8.summary["password"] == latin1.summary["password"]


CREDENTIALS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("Basic " + b64("alice:s3cret"), {"user": "alice", "password_length": 6}, set()),
    # Only the first colon splits (RFC 7617 §2: the user-id cannot contain one).
    (
        "Basic " + b64("alice:pa:ss"),
        {"user": "alice", "password_length": 5},
        {basic.BASIC_COLON_IN_PASSWORD},
    ),
    ("Basic " + b64(":pw"), {"user": ""}, {basic.BASIC_EMPTY_USER}),
    (
        "Basic " + b64("alice:"),
        {"user": "alice", "password_length": 0},
        {basic.BASIC_EMPTY_PASSWORD},
    ),
    (
        "Basic " + b64("apikeyonly"),
        {"user": None, "password": None, "value_length": 10},
        {basic.BASIC_MISSING_COLON},
    ),
    ("Basic " + b64("al\x01ce:pw"), {"user": "al\x01ce"}, {basic.BASIC_CONTROL_CHARS}),
    # Lenient base64: missing padding, URL-safe alphabet.
    (
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ",
        {"user": "Aladdin", "base64": "lenient"},
        {basic.BASIC_LENIENT_BASE64},
    ),
    (
        "Basic " + base64.urlsafe_b64encode(b"u:\xfb\xff").decode(),
        {"user": "u", "encoding": basic.LATIN1},
        {basic.BASIC_LENIENT_BASE64, basic.BASIC_LATIN1},
    ),
    ("Basic A", {"base64": "invalid", "token_length": 1}, {basic.BASIC_BAD_BASE64}),
    ("Basic abc=def", {}, {basic.BASIC_PARAMS_NOT_TOKEN}),
    ("Basic", {}, {basic.BASIC_MISSING_CREDENTIALS}),
    # UTF-8 encoded twice ("Jürgen" → "JÃ¼rgen").
    (
        "Basic " + b64("Jürgen:pässwörd".encode().decode("latin-1")),
        {"encoding": basic.UTF8},
        {basic.BASIC_NON_ASCII, basic.BASIC_MOJIBAKE},
    ),
    (
        "Basic " + b64("Jürgen:pässwörd"),
        {"user": "Jürgen", "encoding": basic.UTF8},
        {basic.BASIC_NON_ASCII},
    ),
    (
        "Basic " + b64("Jürgen:pässwörd", "latin-1"),
        {"user": "Jürgen", "encoding": basic.LATIN1},
        {basic.BASIC_LATIN1},
    ),
]


@pytest.mark.parametrize(("header", "expected", "finding_ids"), CREDENTIALS)
def test_credentials(header: str, expected: dict[str, Any], finding_ids: set[str]) -> None:
    c = creds(header)
    for key, value in expected.items():
        assert c.summary[key] == value, key
    basic_ids = {f.id for f in c.findings if f.id.startswith("basic-")}
    assert basic_ids == finding_ids
    json.dumps(c.summary)


def test_password_with_colon_reveals_rest() -> None:
    c = creds("Basic " + b64("alice:pa:ss"))
    assert c.summary["password"].reveal() == "pa:ss"


def test_token_user_is_redacted() -> None:
    token = "ghp_" + "A1b2C3d4" * 5
    c = creds("Basic " + b64(token + ":"))
    assert isinstance(c.summary["user"], Secret)
    assert ids(c.findings) >= {basic.BASIC_USER_IS_TOKEN, basic.BASIC_EMPTY_PASSWORD}
    assert token not in json.dumps(c.summary) + c.plain + repr(c)


def test_proxy_authorization() -> None:
    c = creds("Basic " + b64("u:p"), "Proxy-Authorization")
    assert c.field == "Proxy-Authorization"
    assert c.summary["user"] == "u"


# -- redaction and totality ------------------------------------------------------------

CANARY = "Zq9!canary"


def _everything(c: authlens.Credentials) -> str:
    return "\n".join(
        [
            json.dumps(c.summary, ensure_ascii=False),
            json.dumps(c.to_json(), ensure_ascii=False),
            repr(c),
            str(c.summary),
            c.plain,
            *(f.message for f in c.findings),
        ]
    )


@settings(max_examples=200, deadline=None)
@given(
    user=st.text(
        st.characters(blacklist_characters=":", blacklist_categories=("Cs", "Cc")), max_size=20
    ),
    password=st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    encoding=st.sampled_from(["utf-8", "latin-1"]),
)
def test_password_and_its_base64_never_shown(user: str, password: str, encoding: str) -> None:
    secret = CANARY + password
    try:
        raw = f"{user}:{secret}".encode(encoding)
    except UnicodeEncodeError:
        raw = f"{user}:{secret}".encode()
    token = base64.b64encode(raw).decode("ascii")
    c = creds("Basic " + token)
    shown = _everything(c)
    assert CANARY not in shown
    assert token not in shown
    assert base64.b64encode(secret.encode()).decode()[:12] not in shown
    assert c.summary["password"].reveal().startswith(CANARY)
    if encoding == "utf-8" or raw.isascii():
        assert c.summary["user"] == user


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_total_on_any_text(text: str) -> None:
    for value in ("Basic " + text, "Basic " + b64(text)):
        c = creds(value)
        json.dumps(c.summary)
        json.dumps(c.to_json())
        assert "internal-error" not in ids(c.findings)
    for challenge in authlens.parse_challenges("Basic " + text):
        json.dumps(challenge.to_json())
        assert "internal-error" not in ids(challenge.findings)


@settings(max_examples=200, deadline=None)
@given(
    params=st.dictionaries(st.sampled_from(["realm", "charset", "x"]), st.text(max_size=20)),
    token=st.none() | st.text(max_size=50),
)
def test_decoders_total_on_any_input(params: dict[str, str], token: str | None) -> None:
    for decode in (basic.decode_challenge, basic.decode_credentials):
        result = decode(AuthInput("Basic", params, token))
        json.dumps(result.summary)
        assert result.plain
