"""Digest (RFC 7616, RFC 2617, RFC 2069): challenge, credentials, and response computation.

The computation is checked against the RFC examples and against an independent client,
httpx.DigestAuth, for every algorithm httpx implements, with and without qop.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import authlens
from authlens.schemes import AuthInput, digest
from authlens.schemes._sha512_256 import sha512_256
from authlens.secret import Secret

# RFC 7616 §3.9.1
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"'
)
RFC7616_CREDENTIALS = (
    'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
    f'algorithm={{alg}}, nonce="{RFC7616_NONCE}", nc=00000001, cnonce="{RFC7616_CNONCE}", '
    f'qop=auth, response="{{response}}", opaque="{RFC7616_OPAQUE}"'
)
RFC7616_RESPONSES = {
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
}

# RFC 2617 §3.5
RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_CREDENTIALS = (
    'Digest username="Mufasa", realm="testrealm@host.com", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
    'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)

# RFC 7616 §3.9.2 with the values of erratum 4897 (the RFC's own were computed with a
# draft SHA-512/256).
RFC7616_USERHASH_CREDENTIALS = (
    'Digest username="793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b", '
    'realm="api@example.org", uri="/doe.json", algorithm=SHA-512-256, '
    'nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", nc=00000001, '
    'cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v", qop=auth, '
    'response="3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5", '
    'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", userhash=true'
)


def ids(findings: list[authlens.Finding]) -> set[str]:
    return {f.id for f in findings}


def digest_ids(findings: list[authlens.Finding]) -> set[str]:
    return {f.id for f in findings if f.id.startswith("digest-")}


# -- the RFC examples ------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["SHA-256", "MD5"])
def test_rfc7616_challenges(alg: str) -> None:
    (challenge,) = authlens.parse_challenges(RFC7616_CHALLENGE.format(alg=alg))
    d = challenge.decoded
    assert d["realm"] == "http-auth@example.org"
    assert d["algorithm"] == alg
    assert d["qop"] == ["auth", "auth-int"]
    assert d["nonce"] == RFC7616_NONCE and d["opaque"] == RFC7616_OPAQUE
    assert d["stale"] is False and d["userhash"] is False
    expected = {digest.DIGEST_WEAK_ALGORITHM} if alg == "MD5" else set()
    assert digest_ids(challenge.findings) == expected
    assert challenge.plain == (
        f"The server wants Digest authentication with {alg} for realm 'http-auth@example.org'; "
        f"your client must hash the password with {alg} and include a cnonce and nonce count "
        "(qop=auth/auth-int)."
    )


def test_rfc7616_both_challenges_in_one_field() -> None:
    lines = [RFC7616_CHALLENGE.format(alg="SHA-256"), RFC7616_CHALLENGE.format(alg="MD5")]
    assert [c.decoded["algorithm"] for c in authlens.parse_challenges(lines)] == ["SHA-256", "MD5"]


@pytest.mark.parametrize("alg", ["SHA-256", "MD5"])
def test_rfc7616_credentials(alg: str) -> None:
    value = RFC7616_CREDENTIALS.format(alg=alg, response=RFC7616_RESPONSES[alg])
    c = authlens.decode_credentials(value)
    s = c.summary
    assert s["username"] == "Mufasa" and s["username_form"] == "plain"
    assert s["uri"] == "/dir/index.html" and s["qop"] == "auth"
    assert s["nc"] == "00000001" and s["nonce_count"] == 1
    assert s["cnonce"] == RFC7616_CNONCE and s["algorithm"] == alg
    assert isinstance(s["response"], Secret)
    assert RFC7616_RESPONSES[alg] not in json.dumps(s) + repr(c) + c.plain
    assert digest.check_response(c.params, "Circle of Life", "GET") is True
    assert digest.check_response(c.params, "Circle of life", "GET") is False
    assert digest.check_response(c.params, "Circle of Life", "POST") is False


def test_rfc2617_example() -> None:
    (challenge,) = authlens.parse_challenges(RFC2617_CHALLENGE)
    assert challenge.decoded["algorithm"] == "MD5"
    assert challenge.decoded["algorithm_given"] is False
    assert digest.DIGEST_DEFAULT_ALGORITHM in ids(challenge.findings)
    c = authlens.decode_credentials(RFC2617_CREDENTIALS)
    assert digest.check_response(c.params, "Circle Of Life", "GET") is True
    assert not digest_ids(c.findings)


def test_rfc7616_userhash_example() -> None:
    c = authlens.decode_credentials(RFC7616_USERHASH_CREDENTIALS)
    assert c.summary["username"] is None
    assert c.summary["username_form"] == "userhash"
    assert c.summary["username_hash"].startswith("793263ca")
    assert not digest_ids(c.findings)
    assert "hashed user name" in c.plain
    assert digest.check_response(c.params, "Secret, or not?", "GET") is None  # name unknown
    assert digest.check_response(c.params, "Secret, or not?", "GET", username="Jäsøn Doe") is True
    assert digest.compute_userhash("SHA-512-256", "Jäsøn Doe", "api@example.org") == (
        "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    )


def test_rfc7616_username_star() -> None:
    value = RFC7616_USERHASH_CREDENTIALS.replace(
        'username="793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"',
        "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe",
    ).replace(", userhash=true", "")
    c = authlens.decode_credentials(value)
    assert c.summary["username"] == "Jäsøn Doe"
    assert c.summary["username_form"] == "ext-value"
    assert digest.check_response(c.params, "Secret, or not?", "GET") is True


COMPUTE_VECTORS = [
    # (algorithm, user, realm, password, method, uri, nonce, nc, cnonce, qop, response)
    ("SHA-256", "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
     RFC7616_NONCE, "00000001", RFC7616_CNONCE, "auth", RFC7616_RESPONSES["SHA-256"]),
    ("MD5", "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
     RFC7616_NONCE, "00000001", RFC7616_CNONCE, "auth", RFC7616_RESPONSES["MD5"]),
    ("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
     "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth",
     "6629fae49393a05397450978507c4ef1"),
    # RFC 2069 form (no qop): H(HA1:nonce:HA2).
    (None, "Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
     "dcd98b7102dd2f0e8b11d0f600bfb0c093", None, None, None, "670fd8c2df070c60b045671b8b24ff02"),
    ("SHA-512-256", "Jäsøn Doe", "api@example.org", "Secret, or not?", "GET", "/doe.json",
     "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", "00000001",
     "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v", "auth",
     "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"),
]  # fmt: skip


@pytest.mark.parametrize("vector", COMPUTE_VECTORS)
def test_compute_response_vectors(vector: tuple[Any, ...]) -> None:
    *args, expected = vector
    assert digest.compute_response(*args) == expected


def _independent(alg: str, qop: str | None, body: bytes = b"") -> str:
    """RFC 7616 §3.4 written out longhand with hashlib, as a second implementation."""
    name = alg.upper().removesuffix("-SESS")
    new = {
        "MD5": hashlib.md5,
        "SHA-256": hashlib.sha256,
        "SHA-512-256": lambda data: type(
            "H", (), {"hexdigest": lambda self: sha512_256(data).hex()}
        )(),
    }[name]

    def h(text: bytes) -> bytes:
        return new(text).hexdigest().encode()  # type: ignore[no-any-return]

    ha1 = h(b"u:r:p")
    if alg.upper().endswith("-SESS"):
        ha1 = h(ha1 + b":n:c")
    a2 = b"POST:/x" + (b":" + h(body) if qop == "auth-int" else b"")
    if qop is None:
        return h(ha1 + b":n:" + h(a2)).decode()
    return h(ha1 + b":n:00000002:c:" + qop.encode() + b":" + h(a2)).decode()


@pytest.mark.parametrize(
    "alg", ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"]
)
@pytest.mark.parametrize("qop", [None, "auth", "auth-int"])
def test_compute_response_every_algorithm_and_qop(alg: str, qop: str | None) -> None:
    got = digest.compute_response(
        alg, "u", "r", "p", "POST", "/x", "n", "00000002", "c", qop, b"body"
    )
    assert got == _independent(alg, qop, b"body")
    assert len(got) == digest.lookup_algorithm(alg).hex_length  # type: ignore[union-attr]


def test_compute_response_rejects_unknown() -> None:
    with pytest.raises(ValueError):
        digest.compute_response("SHA-3", "u", "r", "p", "GET", "/", "n", "1", "c", "auth")
    with pytest.raises(ValueError):
        digest.compute_response("MD5", "u", "r", "p", "GET", "/", "n", "1", "c", "auth-conf")


def test_sha512_256_fallback_matches_hashlib() -> None:
    try:
        native = hashlib.new("sha512_256")
    except ValueError:
        pytest.skip("this OpenSSL has no SHA-512/256")
    for data in (b"", b"abc", b"a" * 111, b"a" * 112, b"a" * 239, bytes(range(256)) * 5):
        native = hashlib.new("sha512_256", data)
        assert sha512_256(data) == native.digest()
    # FIPS 180-4 example "abc"
    assert sha512_256(b"abc").hex() == (
        "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
    )


# -- against httpx.DigestAuth, an independent client -----------------------------------

HTTPX_ALGORITHMS = [
    "MD5",
    "MD5-SESS",
    "SHA",
    "SHA-SESS",
    "SHA-256",
    "SHA-256-SESS",
    "SHA-512",
    "SHA-512-SESS",
]


def _httpx_authorization(challenge: str, url: str, password: str) -> str:
    auth = httpx.DigestAuth("Mufasa", password)
    request = httpx.Request("GET", url)
    flow = auth.sync_auth_flow(request)
    next(flow)
    response = httpx.Response(401, headers={"WWW-Authenticate": challenge}, request=request)
    retried = flow.send(response)
    return retried.headers["Authorization"]


@pytest.mark.parametrize("alg", HTTPX_ALGORITHMS)
@pytest.mark.parametrize("qop", ['qop="auth", ', 'qop="auth,auth-int", ', ""])
def test_against_httpx(alg: str, qop: str) -> None:
    challenge = (
        f'Digest realm="me@example.com", {qop}algorithm={alg}, nonce="abc123==", opaque="op"'
    )
    (parsed,) = authlens.parse_challenges(challenge)
    assert parsed.decoded["algorithm"].upper() == alg
    value = _httpx_authorization(
        challenge, "https://example.com/dir/index.html?q=1", "Circle of Life"
    )
    c = authlens.decode_credentials(value)
    assert c.scheme == "Digest"
    assert c.summary["uri"] == "/dir/index.html?q=1"
    assert c.summary["qop"] == ("auth" if qop else None)
    if alg.endswith("-SESS") and not qop:
        # httpx hashes a cnonce into H(A1) that it never sends: no server can check it.
        assert digest.DIGEST_SESS_WITHOUT_CNONCE in ids(c.findings)
        assert digest.check_response(c.params, "Circle of Life", "GET") is False
        return
    assert not {f.id for f in c.findings if f.severity == "error"}
    assert digest.check_response(c.params, "Circle of Life", "GET") is True
    assert digest.check_response(c.params, "wrong", "GET") is False
    p = c.params
    assert p["response"] == digest.compute_response(
        alg, "Mufasa", "me@example.com", "Circle of Life", "GET", p["uri"], "abc123==",
        p.get("nc"), p.get("cnonce"), p.get("qop"),
    )  # fmt: skip
    nonstandard = alg.upper().removesuffix("-SESS") in ("SHA", "SHA-512")
    assert (digest.DIGEST_NONSTANDARD_ALGORITHM in ids(c.findings)) is nonstandard


# -- findings --------------------------------------------------------------------------

CHALLENGE_FINDINGS: list[tuple[str, dict[str, Any], set[str]]] = [
    ('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256', {"algorithm": "SHA-256"}, set()),
    ('Digest realm="r", nonce="n", qop="auth", algorithm=sha-256-SESS', {"algorithm": "SHA-256-sess", "session": True}, set()),
    ('Digest realm="r", qop="auth", algorithm=SHA-256', {"nonce": None}, {digest.DIGEST_MISSING_NONCE}),
    ('Digest nonce="n", qop="auth", algorithm=SHA-256', {"realm": None}, {digest.DIGEST_MISSING_REALM}),
    ('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, stale=TRUE', {"stale": True}, {digest.DIGEST_STALE}),
    ('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, stale=FALSE', {"stale": False}, set()),
    ('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, stale=yes', {"stale": False}, {digest.DIGEST_BAD_STALE}),
    ('Digest realm="r", nonce="n", qop="auth", algorithm=SHA3-256', {"algorithm": "SHA3-256", "algorithm_known": False}, {digest.DIGEST_UNKNOWN_ALGORITHM}),
    ('Digest realm="r", nonce="n", qop="auth", algorithm=SHA', {"algorithm": "SHA"}, {digest.DIGEST_NONSTANDARD_ALGORITHM, digest.DIGEST_WEAK_ALGORITHM}),
    ('Digest realm="r", nonce="n", algorithm=SHA-256', {"qop": None}, {digest.DIGEST_NO_QOP}),
    ('Digest realm="r", nonce="n", qop="auth-int", algorithm=SHA-256', {"qop": ["auth-int"]}, {digest.DIGEST_AUTH_INT_ONLY}),
    ('Digest realm="r", nonce="n", qop="auth,auth-conf", algorithm=SHA-256', {"qop": ["auth", "auth-conf"]}, {digest.DIGEST_UNKNOWN_QOP}),
    ('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, charset=latin1', {"utf8": False}, {digest.DIGEST_BAD_CHARSET}),
    ('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, charset=UTF-8, userhash=true', {"utf8": True, "userhash": True}, set()),
    ('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, userhash=1', {"userhash": False}, {digest.DIGEST_BAD_USERHASH}),
    ('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, domain="/a /b https://x.example/c"', {"domain": ["/a", "/b", "https://x.example/c"]}, set()),
    ("Digest abc", {}, {digest.DIGEST_TOKEN68, digest.DIGEST_MISSING_NONCE, digest.DIGEST_MISSING_REALM, digest.DIGEST_NO_QOP, digest.DIGEST_DEFAULT_ALGORITHM}),
    ('Digest realm="r", nonce="n", algorithm=MD5-sess', {"session": True}, {digest.DIGEST_NO_QOP, digest.DIGEST_WEAK_ALGORITHM, digest.DIGEST_SESS_WITHOUT_CNONCE}),
    # Real servers.
    ('Digest realm="private area", nonce="Ny8yLzIwMDIgMzoyNjoyNCBQTQ", algorithm=MD5, qop="auth"', {"realm": "private area"}, {digest.DIGEST_WEAK_ALGORITHM}),  # Apache mod_auth_digest
    ('Digest qop="auth",algorithm=MD5-sess,nonce="+Upgraded+v1e4e256b4afb7f89be014e9fd1ec2b1ad",charset=utf-8,realm="Digest"', {"algorithm": "MD5-sess", "utf8": True}, {digest.DIGEST_WEAK_ALGORITHM}),  # IIS
    ('Digest realm="AXIS_ACCC8E000000", nonce="0024e47aY398109708de9ccd8056c58a068a59540a99d3", stale=FALSE, qop="auth"', {"stale": False}, {digest.DIGEST_DEFAULT_ALGORITHM}),  # Axis camera
    ('Digest qop="auth", realm="IP Camera(C2358)", nonce="4e5749344e7a59354f5459364d4451784e7a42684e513d3d", stale="FALSE"', {"realm": "IP Camera(C2358)"}, {digest.DIGEST_DEFAULT_ALGORITHM}),  # Hikvision
]  # fmt: skip


@pytest.mark.parametrize(("header", "expected", "finding_ids"), CHALLENGE_FINDINGS)
def test_challenge_findings(header: str, expected: dict[str, Any], finding_ids: set[str]) -> None:
    (challenge,) = authlens.parse_challenges(header)
    for key, value in expected.items():
        assert challenge.decoded[key] == value, key
    assert digest_ids(challenge.findings) == finding_ids
    assert challenge.plain.endswith(".") and "\n" not in challenge.plain


def test_stale_sentence() -> None:
    (c,) = authlens.parse_challenges('Digest realm="r", nonce="n2", qop="auth", stale=true')
    assert "stale=true" in c.plain and "retry" in c.plain
    (legacy,) = authlens.parse_challenges('Digest realm="r", nonce="n"')
    assert "legacy RFC 2069 form" in legacy.plain
    (unknown,) = authlens.parse_challenges('Digest realm="r", nonce="n", algorithm=Foo')
    assert "unknown algorithm 'Foo'" in unknown.plain


BASE = 'username="u", realm="r", nonce="n", uri="/", algorithm=SHA-256, response="' + "a" * 64 + '"'
CREDENTIAL_FINDINGS: list[tuple[str, set[str]]] = [
    (f"Digest {BASE}", set()),
    (f"Digest {BASE}, qop=auth, nc=00000001, cnonce=\"c\"", set()),
    (f"Digest {BASE}, qop=auth", {digest.DIGEST_MISSING_CNONCE_NC}),
    (f"Digest {BASE}, qop=auth, nc=1, cnonce=\"c\"", {digest.DIGEST_BAD_NC}),
    (f"Digest {BASE}, qop=\"auth,auth-int\", nc=00000001, cnonce=\"c\"", {digest.DIGEST_BAD_QOP}),
    (f"Digest {BASE}, nc=00000001, cnonce=\"c\"", {digest.DIGEST_CNONCE_WITHOUT_QOP}),
    ('Digest username="u", realm="r", nonce="n", uri="/", algorithm=SHA-256, response="abcd"', {digest.DIGEST_BAD_RESPONSE}),
    ('Digest username="u", realm="r", nonce="n", uri="/", algorithm=MD5, response="' + "A" * 32 + '"', {digest.DIGEST_WEAK_ALGORITHM, digest.DIGEST_UPPERCASE_RESPONSE}),
    ('Digest username="u", realm="r", nonce="n", uri="/", response="xyz"', {digest.DIGEST_BAD_RESPONSE}),
    ('Digest realm="r", nonce="n", response="' + "a" * 32 + '"', {digest.DIGEST_MISSING_PARAM}),
    (f"Digest {BASE}, username*=UTF-8''u", {digest.DIGEST_USERNAME_CONFLICT}),
    (f"Digest {BASE.replace('username=\"u\"', 'username*=UTF-8%u')}", {digest.DIGEST_BAD_USERNAME_STAR}),
    (f"Digest {BASE.replace('username=\"u\"', 'username=\"Jäsøn\"')}", {digest.DIGEST_NON_ASCII_USERNAME}),
    (f"Digest {BASE}, userhash=true", {digest.DIGEST_BAD_USERHASH_VALUE}),
    (f"Digest {BASE.replace('SHA-256', 'Foo')}", {digest.DIGEST_UNKNOWN_ALGORITHM}),
    (f"Digest {BASE.replace('SHA-256', 'SHA-256-sess')}", {digest.DIGEST_SESS_WITHOUT_CNONCE}),
    ("Digest abc", {digest.DIGEST_TOKEN68, digest.DIGEST_MISSING_PARAM}),
]  # fmt: skip


@pytest.mark.parametrize(("header", "finding_ids"), CREDENTIAL_FINDINGS)
def test_credential_findings(header: str, finding_ids: set[str]) -> None:
    c = authlens.decode_credentials(header)
    assert digest_ids(c.findings) == finding_ids
    json.dumps(c.summary)
    assert c.plain.startswith("The client answered a Digest challenge")


def test_username_star_latin1_and_garbage() -> None:
    from authlens.schemes._common import decode_ext_value

    assert decode_ext_value("UTF-8''J%C3%A4s%C3%B8n%20Doe") == ("Jäsøn Doe", None)
    assert decode_ext_value("utf-8'en'abc") == ("abc", None)
    text, problem = decode_ext_value("ISO-8859-1''%E4")
    assert text == "ä" and problem
    assert decode_ext_value("nothing")[0] is None
    assert decode_ext_value("UTF-8''%ZZ")[1]
    assert decode_ext_value("UTF-8''%FF")[1]
    assert decode_ext_value("KOI8-R''abc") == (None, "its charset 'KOI8-R' is not UTF-8")


def test_check_response_incomplete() -> None:
    assert digest.check_response({}, "p", "GET") is None
    assert digest.check_response({"response": "x", "algorithm": "Foo"}, "p", "GET") is None
    assert digest.check_response({"response": "x", "username": "u"}, "p", "GET") is None


# -- totality and redaction ------------------------------------------------------------

NAMES = list(digest.CREDENTIAL_PARAMS) + list(digest.CHALLENGE_PARAMS) + ["x"]


@settings(max_examples=300, deadline=None)
@given(
    params=st.dictionaries(st.sampled_from(NAMES), st.text(max_size=40), max_size=12),
    token=st.none() | st.text(max_size=20),
)
def test_decoders_total(params: dict[str, str], token: str | None) -> None:
    for decode in (digest.decode_challenge, digest.decode_credentials):
        result = decode(AuthInput("Digest", params, token))
        json.dumps(result.summary)
        assert result.plain.endswith(".")
    digest.check_response(params, "p", "GET")
    if "response" in params:
        c = digest.decode_credentials(AuthInput("Digest", params, token))
        assert c.summary["response"].reveal() == params["response"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_public_api_total(text: str) -> None:
    for challenge in authlens.parse_challenges("Digest " + text):
        json.dumps(challenge.to_json())
        assert "internal-error" not in ids(challenge.findings)
    c = authlens.decode_credentials("Digest " + text)
    json.dumps(c.to_json())
    assert "internal-error" not in ids(c.findings)
