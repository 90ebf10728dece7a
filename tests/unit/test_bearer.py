"""Bearer (RFC 6750, RFC 9728) and DPoP (RFC 9449): challenges, tokens, proofs, redaction."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

import authlens
from authlens.schemes import AuthInput, bearer, dpop
from authlens.schemes._jwt import access_token_hash, jwk_thumbprint
from authlens.secret import Secret

HMAC_KEY = "k" * 32


def ids(findings: list[authlens.Finding]) -> set[str]:
    return {f.id for f in findings}


def scheme_ids(findings: list[authlens.Finding]) -> set[str]:
    return {f.id for f in findings if f.id.startswith(("bearer-", "dpop-", "jwt-", "token-"))}


# -- challenges ------------------------------------------------------------------------

CHALLENGES: list[tuple[str, dict[str, Any], set[str]]] = [
    # RFC 6750 §3
    ('Bearer realm="example"', {"realm": "example", "error": None, "scope": None}, set()),
    ('Bearer realm="example", error="invalid_token", error_description="The access token expired"',
     {"error": "invalid_token", "error_description": "The access token expired"}, {bearer.BEARER_INVALID_TOKEN}),
    ('Bearer realm="example", error="insufficient_scope", scope="openid profile email"',
     {"scope": ["openid", "profile", "email"]}, {bearer.BEARER_INSUFFICIENT_SCOPE}),
    ('Bearer error="invalid_request"', {"error": "invalid_request"}, {bearer.BEARER_INVALID_REQUEST}),
    ("Bearer", {"realm": None}, set()),
    # RFC 9728 §5.1
    ('Bearer resource_metadata="https://resource.example.com/.well-known/oauth-protected-resource"',
     {"resource_metadata": "https://resource.example.com/.well-known/oauth-protected-resource"}, set()),
    ('Bearer resource_metadata="http://resource.example.com/meta"', {}, {bearer.BEARER_BAD_URI}),
    ('Bearer error="invalid_token", error_uri="not a uri"', {}, {bearer.BEARER_INVALID_TOKEN, bearer.BEARER_BAD_URI}),
    ('Bearer error="token_expired"', {}, {bearer.BEARER_UNKNOWN_ERROR}),
    ('Bearer error="use_dpop_nonce"', {}, {bearer.BEARER_DPOP_ERROR}),
    ('Bearer error="invalid_token", error_description="bad \\"quote\\""', {}, {bearer.BEARER_INVALID_TOKEN, bearer.BEARER_BAD_CHARS}),
    ('Bearer scope="a\\\\b"', {}, {bearer.BEARER_BAD_CHARS}),
    ("Bearer abc", {}, {bearer.BEARER_TOKEN68_CHALLENGE}),
    # Docker Hub and other registries (token authentication).
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"',
     {"realm": "https://auth.docker.io/token", "scope": ["repository:library/ubuntu:pull"],
      "extensions": {"service": "registry.docker.io"}}, set()),
    # The same token authentication on self-hosted registries (GitLab's path and service name).
    ('Bearer realm="https://git.example.com/jwt/auth",service="container_registry",scope="repository:group/project:pull"',
     {"realm": "https://git.example.com/jwt/auth"}, set()),
    # Microsoft Entra ID / Azure Resource Manager.
    ('Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token", '
     'error_description="The access token is missing or invalid.", resource_id="00000003-0000-0000-c000-000000000000"',
     {"extensions": {"authorization_uri": "https://login.microsoftonline.com/common/oauth2/authorize",
                     "resource_id": "00000003-0000-0000-c000-000000000000"}}, {bearer.BEARER_INVALID_TOKEN}),
    ('Bearer realm="", authorization_uri="https://login.windows.net/common/oauth2/authorize", '
     'client_id="00000002-0000-0000-c000-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@*"',
     {"realm": ""}, set()),
    # Keycloak, Google.
    ('Bearer realm="master", error="invalid_token", error_description="Token verification failed"', {}, {bearer.BEARER_INVALID_TOKEN}),
    ('Bearer realm="https://accounts.google.com/", error="invalid_token"', {}, {bearer.BEARER_INVALID_TOKEN}),
    ('Bearer realm="r", foo="bar"', {}, set()),
]  # fmt: skip


@pytest.mark.parametrize(("header", "expected", "finding_ids"), CHALLENGES)
def test_challenge(header: str, expected: dict[str, Any], finding_ids: set[str]) -> None:
    (challenge,) = authlens.parse_challenges(header)
    for key, value in expected.items():
        assert challenge.decoded[key] == value, key
    assert scheme_ids(challenge.findings) == finding_ids
    assert challenge.plain.endswith(".") and "\n" not in challenge.plain
    json.dumps(challenge.to_json())


def test_challenge_sentences() -> None:
    docker = authlens.parse_challenges(CHALLENGES[13][0])[0].plain
    assert docker == (
        "The server wants an OAuth bearer token from the token service at "
        "'https://auth.docker.io/token' (service 'registry.docker.io', scope "
        "'repository:library/ubuntu:pull')."
    )
    expired = authlens.parse_challenges(CHALLENGES[1][0])[0].plain
    assert expired == (
        "The server wants an OAuth bearer token for realm 'example'; it says the token sent is "
        "invalid or expired (invalid_token)."
    )
    proxy = authlens.parse_challenges('Bearer realm="corp"', "Proxy-Authenticate")[0].plain
    assert proxy.startswith("The proxy wants")


# -- credentials -----------------------------------------------------------------------


def test_rfc6750_example_token() -> None:
    c = authlens.decode_credentials("Bearer mF_9.B5f-4.1JqM")  # RFC 6750 §2.1
    assert c.summary["token_length"] == 15
    assert isinstance(c.summary["token"], Secret)
    assert c.summary["format"] == "opaque"
    assert "mF_9" not in json.dumps(c.summary) + c.plain + repr(c)


def test_jwt_token() -> None:
    token = jwt.encode(
        {"iss": "https://issuer.example", "aud": "api", "exp": 1700000000, "scope": "read"},
        HMAC_KEY,
        algorithm="HS256",
    )
    c = authlens.decode_credentials("Bearer " + token)
    assert c.summary["format"] == "jwt"
    assert c.summary["jwt"]["claims"]["aud"] == "api"
    assert c.summary["jwt"]["times"]["exp"] == "2023-11-14T22:13:20Z"
    assert c.plain == (
        "The client sent a bearer token: a JWT from issuer 'https://issuer.example', for "
        "audience 'api', expiring 2023-11-14T22:13:20Z."
    )
    text = json.dumps(c.to_json()) + repr(c) + c.plain
    assert token not in text and token.rsplit(".", 1)[1] not in text


CREDENTIALS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("Bearer undefined", {"format": "placeholder"}, {bearer.BEARER_PLACEHOLDER_TOKEN}),
    ("Bearer null", {"format": "placeholder"}, {bearer.BEARER_PLACEHOLDER_TOKEN}),
    ("Bearer " + "ghp_" + "x1Y2" * 9, {"kind": "github-pat", "format": "opaque"}, {bearer.TOKEN_KIND}),
    ("Bearer github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", {"kind": "github-fine-grained-pat"}, {bearer.TOKEN_KIND}),
    ("Bearer xoxb-1234567890-0987654321-AbCdEfGhIjKl", {"kind": "slack-bot"}, {bearer.TOKEN_KIND}),
    ("Bearer glpat-AbCdEfGhIjKlMnOpQrSt", {"kind": "gitlab-pat"}, {bearer.TOKEN_KIND}),
    ("Bearer ya29.a0AfH6SMBx-example-token", {"kind": "google-oauth"}, {bearer.TOKEN_KIND}),
    ("Bearer v4.public.eyJkYXRhIjoidGhpcyBpcyBhIHNpZ25lZCBtZXNzYWdlIn0", {"format": "paseto"}, {bearer.TOKEN_KIND}),
    ("Bearer 6f1c1b4e-3f0e-4d8e-9b1a-2a3b4c5d6e7f", {"format": "uuid"}, set()),
    ("Bearer " + "ab12" * 10, {"format": "hex"}, set()),
    ("Bearer " + base64.b64encode(b"alice:wonderland").decode(), {"format": "opaque"}, {bearer.BEARER_LOOKS_LIKE_BASIC}),
    ("Bearer", {}, {bearer.BEARER_MISSING_TOKEN}),
    ("Bearer access_token=abc", {}, {bearer.BEARER_PARAMS_NOT_TOKEN}),
    ("Bearer abc====", {"format": "opaque", "token_length": 7}, set()),
    ("Bearer eyJhbGciOiJIUzI1NiJ9.broken", {"format": "malformed"}, {"jwt-malformed"}),
    ("Bearer " + jwt.encode({"sub": "x"}, None, algorithm="none"), {"format": "jwt"}, {"jwt-alg-none"}),
    ("Bearer " + jwt.encode({"cnf": {"jkt": "abc"}}, HMAC_KEY), {"format": "jwt"}, {bearer.BEARER_DPOP_BOUND_TOKEN}),
    ("Bearer eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn", {"format": "jwe"}, {"jwt-encrypted"}),
]  # fmt: skip


@pytest.mark.parametrize(("header", "expected", "finding_ids"), CREDENTIALS)
def test_credentials(header: str, expected: dict[str, Any], finding_ids: set[str]) -> None:
    c = authlens.decode_credentials(header)
    for key, value in expected.items():
        assert c.summary[key] == value, key
    assert scheme_ids(c.findings) == finding_ids
    assert c.plain.startswith("The client sent a bearer token: ")
    token = header.partition(" ")[2]
    if len(token) > 4 and c.summary.get("format") != "placeholder":  # a placeholder is no secret
        assert token not in json.dumps(c.to_json()) + c.plain + repr(c)


def test_token_kind_never_shows_value() -> None:
    token = "ghp_" + "S3cr3tS3cr3t" * 3
    c = authlens.decode_credentials("Bearer " + token)
    assert "GitHub personal access token (classic)" in c.plain
    assert token[4:] not in c.plain + json.dumps(c.summary) + " ".join(
        f.message for f in c.findings
    )


# -- DPoP ------------------------------------------------------------------------------

RFC_PROOF = (  # RFC 9449 figure 13 (§7.1)
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0"
    "VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10"
    "NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoi"
    "R0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6"
    "MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9"
    "RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
)
RFC_ACCESS_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
RFC_URL = "https://resource.example.org/protectedresource"


def test_dpop_challenges() -> None:
    (c,) = authlens.parse_challenges(
        'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"'
    )  # RFC 9449 §9
    assert c.decoded["error"] == "use_dpop_nonce"
    assert scheme_ids(c.findings) == {dpop.DPOP_USE_NONCE}
    assert c.findings[-1].severity == "info"
    (c,) = authlens.parse_challenges('DPoP algs="ES256 PS256"')  # RFC 9449 §7.1
    assert c.decoded["algs"] == ["ES256", "PS256"]
    assert not scheme_ids(c.findings)
    assert "ES256 PS256" in c.plain
    (c,) = authlens.parse_challenges('DPoP realm="r", error="invalid_dpop_proof"')
    assert scheme_ids(c.findings) == {dpop.DPOP_INVALID_PROOF}
    (c,) = authlens.parse_challenges('DPoP error="invalid_token", algs="ES256"')
    assert scheme_ids(c.findings) == {bearer.BEARER_INVALID_TOKEN}
    (c,) = authlens.parse_challenges('DPoP error="nope"')
    assert scheme_ids(c.findings) == {bearer.BEARER_UNKNOWN_ERROR}


def test_dpop_credentials() -> None:
    c = authlens.decode_credentials("DPoP " + RFC_ACCESS_TOKEN)
    assert c.scheme == "DPoP" and c.summary["token_length"] == len(RFC_ACCESS_TOKEN)
    assert c.plain.startswith("The client sent a DPoP-bound access token")
    unbound = jwt.encode({"sub": "x"}, HMAC_KEY)
    assert dpop.DPOP_UNBOUND_TOKEN in ids(authlens.decode_credentials("DPoP " + unbound).findings)
    bound = jwt.encode({"sub": "x", "cnf": {"jkt": RFC_JKT}}, HMAC_KEY)
    assert not scheme_ids(authlens.decode_credentials("DPoP " + bound).findings)


def test_rfc9449_proof() -> None:
    d = dpop.decode_dpop_proof(
        RFC_PROOF, method="GET", url=RFC_URL + "?q=1#f", access_token=RFC_ACCESS_TOKEN
    )
    assert d.findings == []
    assert d.summary["thumbprint"] == RFC_JKT
    assert d.summary["jwt"]["claims"]["htm"] == "GET"
    assert d.plain == f"The client sent a DPoP proof of possession for 'GET' '{RFC_URL}'."
    assert access_token_hash(RFC_ACCESS_TOKEN) == d.summary["jwt"]["claims"]["ath"]


@pytest.mark.parametrize(
    ("kwargs", "finding"),
    [
        ({"method": "POST"}, dpop.DPOP_PROOF_METHOD_MISMATCH),
        ({"url": "https://resource.example.org/other"}, dpop.DPOP_PROOF_URL_MISMATCH),
        ({"access_token": "another-token"}, dpop.DPOP_PROOF_ATH_MISMATCH),
    ],
)
def test_rfc9449_proof_mismatches(kwargs: dict[str, str], finding: str) -> None:
    assert ids(dpop.decode_dpop_proof(RFC_PROOF, **kwargs).findings) == {finding}


EC_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_JWK = json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key()))


def make_proof(
    header: dict[str, Any] | None = None, claims: dict[str, Any] | None = None, alg: str = "ES256"
) -> str:
    base_header = {"typ": "dpop+jwt", "jwk": PUBLIC_JWK}
    base_claims = {"jti": "j1", "htm": "POST", "htu": "https://as.example/token", "iat": 1700000000}
    key: Any = EC_KEY if alg == "ES256" else HMAC_KEY
    return jwt.encode(
        {**base_claims, **(claims or {})},
        key,
        algorithm=alg,
        headers={**base_header, **(header or {})},
    )


def test_made_proofs() -> None:
    good = make_proof()
    d = dpop.decode_dpop_proof(good, method="POST", url="https://AS.example/token")
    assert d.findings == [] and d.summary["thumbprint"] == jwk_thumbprint(PUBLIC_JWK)
    assert ids(dpop.decode_dpop_proof(make_proof({"typ": "JWT"})).findings) == {
        dpop.DPOP_PROOF_BAD_TYP
    }
    assert dpop.DPOP_PROOF_BAD_ALG in ids(dpop.decode_dpop_proof(make_proof(alg="HS256")).findings)
    assert ids(dpop.decode_dpop_proof(make_proof({"jwk": None})).findings) == {
        dpop.DPOP_PROOF_NO_JWK
    }
    private = json.loads(ECAlgorithm.to_jwk(EC_KEY))
    leaked = dpop.decode_dpop_proof(make_proof({"jwk": private}))
    assert ids(leaked.findings) == {"jwt-private-key-in-header"}
    assert private["d"] not in json.dumps(leaked.summary)
    headers = {"typ": "dpop+jwt", "jwk": PUBLIC_JWK}
    missing = jwt.encode({"iat": 1}, EC_KEY, algorithm="ES256", headers=headers)
    assert ids(dpop.decode_dpop_proof(missing).findings) == {dpop.DPOP_PROOF_MISSING_CLAIM}
    assert ids(dpop.decode_dpop_proof(good, access_token="t").findings) == {
        dpop.DPOP_PROOF_MISSING_ATH
    }
    bound = jwt.encode({"cnf": {"jkt": RFC_JKT}}, HMAC_KEY)
    with_ath = make_proof(claims={"ath": access_token_hash(bound)})
    assert ids(dpop.decode_dpop_proof(with_ath, access_token=bound).findings) == {
        dpop.DPOP_PROOF_KEY_MISMATCH
    }
    assert dpop.DPOP_PROOF_MALFORMED in ids(dpop.decode_dpop_proof("not a jwt").findings)
    assert dpop.DPOP_PROOF_MALFORMED in ids(dpop.decode_dpop_proof("eyJ.x").findings)


# -- totality and redaction ------------------------------------------------------------

NAMES = [*bearer.STANDARD_PARAMS, *bearer.EXTENSION_PARAMS, "algs", "x"]


@settings(max_examples=300, deadline=None)
@given(
    params=st.dictionaries(st.sampled_from(NAMES), st.text(max_size=60), max_size=8),
    token=st.none() | st.text(max_size=80),
)
def test_decoders_total(params: dict[str, str], token: str | None) -> None:
    for module in (bearer, dpop):
        for decode in (module.decode_challenge, module.decode_credentials):
            result = decode(AuthInput("Bearer", params, token))
            json.dumps(result.summary)
            assert result.plain.endswith(".")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_public_api_total(text: str) -> None:
    for scheme in ("Bearer", "DPoP"):
        for challenge in authlens.parse_challenges(f"{scheme} {text}"):
            json.dumps(challenge.to_json())
            assert "internal-error" not in ids(challenge.findings)
        c = authlens.decode_credentials(f"{scheme} {text}")
        json.dumps(c.to_json())
        assert "internal-error" not in ids(c.findings)
    dpop.decode_dpop_proof(text, method="GET", url=text, access_token=text)


# A distinctive prefix: a token that happens to be an English word ("Credenti") would
# "leak" through the explanation text of any token.
TOKEN_CHARS = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"),
    min_size=4,
    max_size=116,
).map(lambda tail: "Zq9X" + tail)


@settings(max_examples=300, deadline=None)
@given(TOKEN_CHARS)
def test_token_never_shown(token: str) -> None:
    assume(token.lower() not in bearer.PLACEHOLDERS)
    c = authlens.decode_credentials("Bearer " + token)
    text = json.dumps(c.to_json()) + repr(c) + c.plain + " ".join(f.message for f in c.findings)
    assert token not in text
