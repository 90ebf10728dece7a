"""JWT reading (authlens.schemes._jwt): tokens minted by pyjwt, malformed ones, and caps."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from authlens.schemes import _jwt
from authlens.schemes._jwt import decode_jwt, jwk_thumbprint, looks_like_jwt
from authlens.secret import Secret

HMAC_KEY = "k" * 32
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def seg(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def ids(findings: list[Any]) -> set[str]:
    return {f.id for f in findings}


CLAIMS = {
    "iss": "https://login.example.com/tenant/v2.0",
    "sub": "user-42",
    "aud": ["api://orders", "api://billing"],
    "exp": 1700000000,
    "nbf": 1699990000,
    "iat": 1699990000,
    "scope": "orders.read orders.write",
    "azp": "spa-client",
    "client_id": "spa-client",
    "jti": "5c3b2a",
    "roles": ["admin"],
    "custom": "x",
}


@pytest.mark.parametrize(
    ("alg", "key"), [("HS256", HMAC_KEY), ("RS256", RSA_KEY), ("ES256", EC_KEY), ("PS256", RSA_KEY)]
)
def test_pyjwt_signed(alg: str, key: Any) -> None:
    token = jwt.encode(CLAIMS, key, algorithm=alg, headers={"kid": "key-1"})
    summary, findings = decode_jwt(token)
    assert findings == []
    assert summary["format"] == "jws"
    assert summary["header"] == {"alg": alg, "typ": "JWT", "kid": "key-1"}
    claims = summary["claims"]
    for name in ("iss", "sub", "aud", "exp", "nbf", "iat", "scope", "azp", "client_id", "jti"):
        assert claims[name] == CLAIMS[name]
    assert "custom" not in claims and "custom" in summary["claim_names"]
    assert summary["times"] == {
        "exp": "2023-11-14T22:13:20Z",
        "nbf": "2023-11-14T19:26:40Z",
        "iat": "2023-11-14T19:26:40Z",
    }
    signature = token.rsplit(".", 1)[1]
    assert isinstance(summary["signature"], Secret)
    assert summary["signature"].reveal() == signature
    assert summary["signature_length"] == len(signature)
    dumped = json.dumps(summary)
    assert signature not in dumped and token not in dumped
    assert summary["dpop_bound"] is False


def test_alg_none() -> None:
    token = jwt.encode({"sub": "x"}, None, algorithm="none")
    summary, findings = decode_jwt(token)
    assert summary["format"] == "unsecured"
    assert summary["signature"] is None
    assert ids(findings) == {_jwt.JWT_ALG_NONE}
    assert findings[0].severity == "error"
    # "None" in another case is the same thing to a lax library.
    summary, findings = decode_jwt(seg({"alg": "nOnE"}) + "." + seg({"sub": "x"}) + ".")
    assert ids(findings) == {_jwt.JWT_ALG_NONE}


def test_expired_token_times() -> None:
    token = jwt.encode({"exp": 1000, "iat": 900}, HMAC_KEY, algorithm="HS256")
    summary, findings = decode_jwt(token)
    assert summary["times"]["exp"] == "1970-01-01T00:16:40Z"
    assert summary["claims"]["exp"] == 1000
    assert findings == []


def test_scp_and_fractional_times() -> None:
    token = jwt.encode({"scp": ["a", "b"], "exp": 1700000000.5}, HMAC_KEY, algorithm="HS256")
    summary, _ = decode_jwt(token)
    assert summary["claims"]["scp"] == ["a", "b"]
    assert summary["times"]["exp"] == "2023-11-14T22:13:20.500Z"


def test_dpop_bound_token() -> None:
    token = jwt.encode({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}, HMAC_KEY)
    summary, _ = decode_jwt(token)
    assert summary["dpop_bound"] is True
    assert summary["claims"]["cnf"] == {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}


HEADER = seg({"alg": "HS256", "typ": "JWT"})
SIG = "c2lnbmF0dXJl"

MALFORMED: list[tuple[str, str, set[str]]] = [
    (f"{HEADER}.{seg({'a': 1})}", "malformed", {_jwt.JWT_MALFORMED}),  # two segments
    (f"{HEADER}.{seg({'a': 1})}.{SIG}.x", "malformed", {_jwt.JWT_MALFORMED}),  # four
    (f"{HEADER}.!!!.{SIG}", "malformed", {_jwt.JWT_MALFORMED}),
    (f"{HEADER}.{seg(b'not json')}.{SIG}", "malformed", {_jwt.JWT_MALFORMED}),
    (f"{HEADER}.{seg([1, 2])}.{SIG}", "malformed", {_jwt.JWT_MALFORMED}),
    (f"{HEADER}.{seg(b'\xff\xfe')}.{SIG}", "malformed", {_jwt.JWT_MALFORMED}),
    (f"{seg(b'[]')}.{seg({'a': 1})}.{SIG}", "malformed", {_jwt.JWT_MALFORMED}),
    (f"{seg({'typ': 'JWT'})}.{seg({'a': 1})}.{SIG}", "jws", {_jwt.JWT_MISSING_ALG}),
    (f"{HEADER}.{seg(b'{\"exp\": NaN}')}.{SIG}", "malformed", {_jwt.JWT_MALFORMED}),
    (f"{HEADER}.{seg(b'{\"exp\": Infinity}')}.{SIG}", "malformed", {_jwt.JWT_MALFORMED}),
    (f"{HEADER}.{seg(b'[' * 100000 + b']' * 100000)}.{SIG}", "malformed", {_jwt.JWT_TOO_LARGE}),
    (f"{HEADER}.{seg(b'[' * 20000 + b']' * 20000)}.{SIG}", "malformed", {_jwt.JWT_MALFORMED}),
    (f"{HEADER}.{seg(b'{\"a\": ' + b'9' * 5000 + b'}')}.{SIG}", "malformed", {_jwt.JWT_MALFORMED}),
    (f"{HEADER}.{seg({'exp': 1700000000000})}.{SIG}", "jws", {_jwt.JWT_TIME_IN_MILLISECONDS}),
    (f"{HEADER}.{seg({'exp': 'tomorrow'})}.{SIG}", "jws", {_jwt.JWT_BAD_TIME}),
    (f"{HEADER}.{seg({'exp': True})}.{SIG}", "jws", {_jwt.JWT_BAD_TIME}),
    (f"{HEADER}.{seg({'exp': 1e300})}.{SIG}", "jws", {_jwt.JWT_TIME_IN_MILLISECONDS}),
    (f"{HEADER}.{seg({'nbf': -1e20})}.{SIG}", "jws", {_jwt.JWT_TIME_IN_MILLISECONDS}),
    (f"{HEADER}.{seg({'exp': 100, 'iat': 200})}.{SIG}", "jws", {_jwt.JWT_EXP_BEFORE_IAT}),
    (f"{HEADER}.{seg({'a': 1})}==.{SIG}", "jws", {_jwt.JWT_LENIENT_BASE64}),
    (f"{HEADER}.{base64.b64encode(b'{\"a\":\"~~~\"}').decode()}.{SIG}", "jws", {_jwt.JWT_LENIENT_BASE64}),
    (f"{HEADER}.{seg({'a': 1})}.", "jws", set()),  # empty signature: "unsecured" needs alg none
]  # fmt: skip


@pytest.mark.parametrize(("token", "fmt", "finding_ids"), MALFORMED)
def test_malformed(token: str, fmt: str, finding_ids: set[str]) -> None:
    summary, findings = decode_jwt(token)
    assert ids(findings) == finding_ids
    assert summary["format"] == fmt
    json.dumps(summary)


def test_jwe() -> None:
    header = seg({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "enc-1"})
    token = f"{header}.{seg(b'k' * 256)}.{seg(b'i' * 12)}.{seg(b'c' * 100)}.{seg(b't' * 16)}"
    summary, findings = decode_jwt(token)
    assert summary["format"] == "jwe"
    assert summary["header"] == {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "enc-1"}
    assert "claims" not in summary
    assert ids(findings) == {_jwt.JWT_ENCRYPTED}


def test_values_are_capped() -> None:
    claims = {
        "sub": "s" * 10_000,
        "aud": [f"a{i}" for i in range(1000)],
        "cnf": {"a": {"b": {"c": {"d": {}}}}},
    }
    claims.update({f"c{i}": i for i in range(500)})
    summary, _ = decode_jwt(f"{HEADER}.{seg(claims)}.{SIG}")
    assert len(summary["claims"]["sub"]) == _jwt.MAX_STRING + 1
    assert len(summary["claims"]["aud"]) == _jwt.MAX_ITEMS
    assert summary["claims"]["cnf"] == {"a": {"b": {"c": {"d": "…"}}}}
    assert len(summary["claim_names"]) == _jwt.MAX_ITEMS * 2
    assert len(json.dumps(summary)) < 8000


def test_header_jwk_and_private_key() -> None:
    public = {
        "kty": "EC",
        "crv": "P-256",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    }
    summary, findings = decode_jwt(f"{seg({'alg': 'ES256', 'jwk': public})}.{seg({})}.{SIG}")
    assert summary["header"]["jwk"] == {
        "kty": "EC",
        "crv": "P-256",
        "has_private_key": False,
        "thumbprint": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",  # RFC 9449 §6.1
    }
    assert findings == []
    private = dict(public, d="secret-scalar")
    summary, findings = decode_jwt(f"{seg({'alg': 'ES256', 'jwk': private})}.{seg({})}.{SIG}")
    assert ids(findings) == {_jwt.JWT_PRIVATE_KEY_IN_HEADER}
    assert "secret-scalar" not in json.dumps(summary)


def test_rfc7638_thumbprint() -> None:
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
        "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YG"
        "jQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-b"
        "FTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert jwk_thumbprint({"kty": "oct", "k": "x"}) is None
    assert jwk_thumbprint({"kty": "EC", "crv": "P-256", "x": 1, "y": "y"}) is None


def test_access_token_hash_rfc9449() -> None:
    assert _jwt.access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("eyJhbGciOiJub25lIn0.e30.", True),
        ("eyJ.x", True),
        ("ewogICJhbGciOiAiSFMyNTYiCn0.e30.c2ln", True),  # '{\n  "alg"…' with white space
        ("ewogICJhbGciOiAiSFMyNTYiCn0.a.b.c.d", True),
        ("aaa.bbb.ccc", False),
        ("mF_9.B5f-4.1JqM", False),  # RFC 6750 §2.1
        ("aaa.bbb", False),
        (".bbb.ccc", False),
        ("ya29.a0AfH6SMB", False),
        ("a+b.c.d", False),
        ("opaque", False),
    ],
)
def test_looks_like_jwt(token: str, expected: bool) -> None:
    assert looks_like_jwt(token) is expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_total_on_any_text(text: str) -> None:
    for token in (text, "eyJ" + text, f"{HEADER}.{text}.{SIG}"):
        summary, findings = decode_jwt(token)
        json.dumps(summary)
        assert isinstance(findings, list)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(
    header=st.dictionaries(st.sampled_from(["alg", "typ", "kid", "jwk", "x"]), JSON),
    claims=st.dictionaries(st.sampled_from([*_jwt.CLAIMS, "zz"]), JSON),
)
def test_total_on_any_json(header: dict[str, Any], claims: dict[str, Any]) -> None:
    token = f"{seg(header)}.{seg(claims)}.{SIG}"
    summary, _ = decode_jwt(token)
    text = json.dumps(summary, allow_nan=False)
    assert SIG not in text
