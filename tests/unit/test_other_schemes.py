"""HOBA, Mutual, SCRAM, PrivateToken, Concealed and AWS SigV4: RFC examples, malformed
values, and totality of every decoder registered by these modules."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import authlens
from authlens.schemes import AuthInput, aws4, concealed, hoba, lookup, mutual, privatetoken, scram
from authlens.secret import Secret


def ids(findings: list[authlens.Finding], prefix: str) -> set[str]:
    return {f.id for f in findings if f.id.startswith(prefix)}


def challenge(value: str) -> authlens.Challenge:
    (only,) = authlens.parse_challenges(value)
    return only


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes, pad: bool = True) -> str:
    text = base64.urlsafe_b64encode(data).decode()
    return text if pad else text.rstrip("=")


# -- SCRAM (RFC 7804 §5, RFC 5802 §5) ---------------------------------------------------

RFC7804 = [
    # Each base64 value in RFC 7804 §5 ends in an encoded line break.
    ("credentials", 'SCRAM-SHA-256 realm="testrealm@example.com", '
     "data=biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8K",
     {"message": "client-first", "user": "user", "nonce": "rOprNGfwEbeRWgbNEkqO", "channel_binding": "n"}),
    ("challenge", "SCRAM-SHA-256 sid=AAAABBBBCCCCDDDD, "
     "data=cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJbGopaE5sRiRrMCxzPVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTYK",
     {"message": "server-first", "salt_length": 16, "iterations": 4096,
      "nonce": "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"}),
    ("credentials", "SCRAM-SHA-256 sid=AAAABBBBCCCCDDDD, "
     "data=Yz1iaXdzLHI9ck9wck5HZndFYmVSV2diTkVrcU8laHZZRHBXVWEyUmFUQ0FmdXhGSWxqKWhObEYkazAscD1kSHpiWmFwV0lrNGpVaE4rVXRlOXl0YWc5empmTUhnc3FtbWl6N0FuZFZRPQo=",
     {"message": "client-final", "channel_binding": "n,,"}),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "value", "expected"), RFC7804)
def test_rfc7804_exchange(kind: str, value: str, expected: dict[str, Any]) -> None:
    if kind == "challenge":
        c = challenge(value)
        summary, findings, plain = c.decoded, c.findings, c.plain
    else:
        cred = authlens.decode_credentials(value)
        summary, findings, plain = cred.summary, cred.findings, cred.plain
    assert summary["mechanism"] == "SCRAM-SHA-256"
    for key, want in expected.items():
        assert summary["data"][key] == want, key
    assert ids(findings, "scram-") == {scram.SCRAM_TRAILING_NEWLINE}
    assert plain.endswith(".")


def test_rfc7804_initial_challenge_and_proof_redaction() -> None:
    c = challenge('SCRAM-SHA-256 realm="testrealm@example.com"')
    assert c.decoded == {
        "mechanism": "SCRAM-SHA-256",
        "realm": "testrealm@example.com",
        "sid": None,
    }
    assert "password itself never crosses the wire" in c.plain
    final = authlens.decode_credentials(RFC7804[2][1])
    proof = final.summary["data"]["proof"]
    assert isinstance(proof, Secret)
    assert proof.reveal() == "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    assert "dHzbZapWIk4jUhN" not in json.dumps(final.to_json())


def test_rfc5802_sha1_exchange() -> None:
    first = authlens.decode_credentials(
        "SCRAM-SHA-1 data=biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM"
    )
    assert first.summary["data"]["user"] == "user"
    assert scram.SCRAM_SHA1 in ids(first.findings, "scram-")
    server = challenge(
        "SCRAM-SHA-1 sid=s1, data=cj1meWtvK2QybGJiRmdPTlJ2OXFreGRhd0wzcmZjTkhZSlkxWlZ2V1ZzN2oscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5Ng=="
    )
    assert server.decoded["data"]["iterations"] == 4096
    verifier = challenge("SCRAM-SHA-1 sid=s1, data=" + b64(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="))
    assert isinstance(verifier.decoded["data"]["verifier"], Secret)


SCRAM_CASES: list[tuple[bytes, set[str]]] = [
    (b"r=abc,s=" + base64.b64encode(b"salt") + b",i=1000", {scram.SCRAM_LOW_ITERATIONS}),
    (b"r=abc,s=c2FsdA==,i=many", {scram.SCRAM_BAD_ITERATIONS}),
    (b"r=abc", {scram.SCRAM_MISSING_ATTRIBUTE}),
    (b"m=ext,r=abc,s=c2FsdA==,i=4096", {scram.SCRAM_RESERVED_ATTRIBUTE}),
    (b"e=invalid-proof", {scram.SCRAM_SERVER_ERROR}),
    (b"p=tls-unique,,n=user,r=abc", {scram.SCRAM_CHANNEL_BINDING}),
    (b"c=cD10bHMtdW5pcXVlLCw=,r=abc,p=cHJvb2Y=", {scram.SCRAM_CHANNEL_BINDING}),
    (b"hello", {scram.SCRAM_UNKNOWN_MESSAGE}),
    (b"n,a=admin,n=us=2Cer=3D,r=abc", set()),
]


@pytest.mark.parametrize(("message", "finding_ids"), SCRAM_CASES)
def test_scram_messages(message: bytes, finding_ids: set[str]) -> None:
    summary, findings = scram.decode_message(message)
    assert ids(findings, "scram-") == finding_ids
    json.dumps(summary)
    if message.startswith(b"n,a="):
        assert summary["user"] == "us,er=" and summary["authzid"] == "admin"


def test_scram_params() -> None:
    assert scram.SCRAM_BAD_DATA in ids(
        authlens.decode_credentials("SCRAM-SHA-256 data=!!").findings, "scram-"
    )
    assert scram.SCRAM_BAD_DATA in ids(
        authlens.decode_credentials('SCRAM-SHA-256 data="a"').findings, "scram-"
    )
    c = challenge('SCRAM-SHA-256 realm="r", sr=abc, ttl=300')
    assert c.decoded["ttl"] == 300 and c.decoded["server_nonce"] == "abc"
    assert scram.SCRAM_BAD_TTL in ids(challenge("SCRAM-SHA-256 ttl=soon").findings, "scram-")
    no_sid = challenge("SCRAM-SHA-256 data=" + b64(b"r=abc,s=c2FsdA==,i=4096"))
    assert scram.SCRAM_MISSING_SID in ids(no_sid.findings, "scram-")
    final = authlens.decode_credentials("SCRAM-SHA-256 data=" + b64(b"c=biws,r=abc,p=cHJvb2Y="))
    assert scram.SCRAM_MISSING_SID in ids(final.findings, "scram-")
    assert scram.SCRAM_TOKEN68 in ids(challenge("SCRAM-SHA-256 abc==").findings, "scram-")


# -- PrivateToken (RFC 9577) ------------------------------------------------------------

# RFC 9577 Appendix A.2, first header: a Blind RSA challenge for issuer.example.
RFC9577_TOKEN_KEY_HEX = (
    "30820152303d06092a864886f70d01010a3030a00d300b0609608648016503040202a11a301806092a8648"
    "86f70d010108300b0609608648016503040202a2030201300382010f003082010a0282010100cb1aed6b6a"
    "95f5b1ce013a4cfcab25b94b2e64a23034e4250a7eab43c0df3a8c12993af12b111908d4b471bec31d4b6c"
    "9ad9cdda90612a2ee903523e6de5a224d6b02f09e5c374d0cfe01d8f529c500a78a2f67908fa682b5a2b43"
    "0c81eaf1af72d7b5e794fc98a3139276879757ce453b526ef9bf6ceb99979b8423b90f4461a22af37aab0c"
    "f5733f7597abe44d31c732db68a181c6cbbe607d8c0e52e0655fd9996dc584eca0be87afbcd78a337d17b1"
    "dba9e828bbd81e291317144e7ff89f55619709b096cbb9ea474cead264c2073fe49740c01f00e109106066"
    "983d21e5f83f086e2e823c879cd43cef700d2a352a9babd612d03cad02db134b7e225a5f0203010001"
)
RFC9577_CHALLENGE = (
    "AAIADmlzc3Vlci5leGFtcGxlIIo-g6M9mABdLzC-9Bn6a_TNXGAF42sShbu0zNQPpLODAA5vcmlnaW4uZXhhbXBsZQ=="
)
RFC9577_HEADER = (
    f'PrivateToken challenge="{RFC9577_CHALLENGE}", '
    f'token-key="{b64url(bytes.fromhex(RFC9577_TOKEN_KEY_HEX))}",'
    'unknownChallengeAttribute="ignore-me", max-age="10"'
)


def test_rfc9577_challenge() -> None:
    c = challenge(RFC9577_HEADER)
    parsed = c.decoded["challenge"]
    assert parsed["token_type"] == 2 and parsed["token_type_hex"] == "0x0002"
    assert parsed["token_type_name"] == "Blind RSA (SHA-384, 2048-bit)"
    assert parsed["issuer_name"] == "issuer.example"
    assert parsed["redemption_context_length"] == 32
    assert parsed["origin_info"] == ["origin.example"]
    raw = base64.urlsafe_b64decode(RFC9577_CHALLENGE)
    assert parsed["digest"] == hashlib.sha256(raw).hexdigest()
    assert c.decoded["token_key_length"] == len(RFC9577_TOKEN_KEY_HEX) // 2
    assert c.decoded["max_age"] == 10
    assert ids(c.findings, "privatetoken-") == set()
    assert {f.id for f in c.findings} >= {"unknown-parameter"}  # "clients MUST ignore"
    assert "'issuer.example'" in c.plain


def _struct(token_type: int, issuer: bytes, context: bytes, origins: bytes) -> bytes:
    return (
        token_type.to_bytes(2, "big") + len(issuer).to_bytes(2, "big") + issuer
        + len(context).to_bytes(1, "big") + context + len(origins).to_bytes(2, "big") + origins
    )  # fmt: skip


STRUCTS: list[tuple[bytes, set[str]]] = [
    (_struct(1, b"issuer.example", b"", b"a.example,b.example"), set()),
    (_struct(2, b"issuer.example", b"x" * 16, b""), {privatetoken.PRIVATETOKEN_BAD_CONTEXT}),
    (_struct(2, b"", b"", b""), {privatetoken.PRIVATETOKEN_BAD_STRUCT}),
    (_struct(2, b"issuer.example", b"", b"") + b"extra", {privatetoken.PRIVATETOKEN_BAD_STRUCT}),
    (_struct(2, b"issuer.example", b"", b"")[:-3], {privatetoken.PRIVATETOKEN_BAD_STRUCT}),
    (_struct(0x1234, b"i", b"", b""), {privatetoken.PRIVATETOKEN_UNKNOWN_TYPE}),
    (b"\x02\xaa" + b"random bytes", {privatetoken.PRIVATETOKEN_GREASE}),
    (b"\x00", {privatetoken.PRIVATETOKEN_BAD_STRUCT}),
    (_struct(2, b"iss\xffuer", b"", b""), {privatetoken.PRIVATETOKEN_BAD_STRUCT}),
]


@pytest.mark.parametrize(("data", "finding_ids"), STRUCTS)
def test_token_challenge_struct(data: bytes, finding_ids: set[str]) -> None:
    summary, findings = privatetoken.decode_token_challenge(data)
    assert ids(findings, "privatetoken-") == finding_ids
    json.dumps(summary)
    c = challenge(f'PrivateToken challenge="{b64url(data)}"')
    assert ids(c.findings, "privatetoken-") == finding_ids


def test_privatetoken_challenge_problems() -> None:
    assert privatetoken.PRIVATETOKEN_MISSING_CHALLENGE in ids(
        challenge('PrivateToken token-key="AAAA"').findings, "p"
    )
    unpadded = challenge(f'PrivateToken challenge="{RFC9577_CHALLENGE.rstrip("=")}"')
    assert ids(unpadded.findings, "privatetoken-") == {privatetoken.PRIVATETOKEN_LENIENT_BASE64}
    assert ids(challenge('PrivateToken challenge="@@@@"').findings, "privatetoken-") == {
        privatetoken.PRIVATETOKEN_BAD_BASE64
    }
    assert privatetoken.PRIVATETOKEN_BAD_MAX_AGE in ids(
        challenge(f'PrivateToken challenge="{RFC9577_CHALLENGE}", max-age=soon').findings, "p"
    )


def test_privatetoken_credentials() -> None:
    nonce = bytes.fromhex("e01978182c469e5e026d66558ee186568614f235e41ef7e2378e6f202688abab")
    key_id = bytes.fromhex("ca572f8982a9ca248a3056186322d93ca147266121ddeb5632c07f1f71cd2708")
    digest = hashlib.sha256(base64.urlsafe_b64decode(RFC9577_CHALLENGE)).digest()
    authenticator = bytes(range(256))
    token = b"\x00\x02" + nonce + digest + key_id + authenticator
    c = authlens.decode_credentials(f'PrivateToken token="{b64url(token)}"')
    s = c.summary
    assert s["token_type"] == 2 and s["length"] == 354
    assert s["nonce"] == nonce.hex() and s["token_key_id"] == key_id.hex()
    assert s["challenge_digest"] == digest.hex()
    assert isinstance(s["authenticator"], Secret) and s["authenticator_length"] == 256
    assert ids(c.findings, "privatetoken-") == set()
    assert b64url(token)[:40] not in json.dumps(c.to_json())
    short = authlens.decode_credentials(f'PrivateToken token="{b64url(token[:-10])}"')
    assert ids(short.findings, "privatetoken-") == {privatetoken.PRIVATETOKEN_BAD_STRUCT}
    tiny = authlens.decode_credentials(f'PrivateToken token="{b64url(b"abc")}"')
    assert ids(tiny.findings, "privatetoken-") == {privatetoken.PRIVATETOKEN_BAD_STRUCT}
    assert ids(authlens.decode_credentials("PrivateToken").findings, "privatetoken-") == {
        privatetoken.PRIVATETOKEN_MISSING_TOKEN
    }


# -- Concealed (RFC 9729) ---------------------------------------------------------------

RFC9729 = (  # RFC 9729 §5, line wrapping undone
    "Concealed k=YmFzZW1lbnQ, a=VGhpcyBpcyBh-HB1YmxpYyBrZXkgaW4gdXNl_GhlcmU, s=2055, "
    "v=dmVyaWZpY2F0aW9u_zE2Qg, p=SW5zZXJ0_HNpZ25hdHVyZSBvZiBub25jZSBoZXJlIHdo"
    "aWNoIHRha2VzIDUxMiBiaXRz-GZvciBFZDI1NTE5IQ"
)


def test_rfc9729_example() -> None:
    c = authlens.decode_credentials(RFC9729)
    s = c.summary
    assert s["key_id"] == "basement"
    assert s["signature_scheme"] == 2055 and s["signature_scheme_name"] == "ed25519"
    assert s["public_key_length"] == 32 and s["proof_length"] == 64
    assert isinstance(s["proof"], Secret) and isinstance(s["verification"], Secret)
    assert ids(c.findings, "concealed-") == {concealed.CONCEALED_TLS_BOUND}
    text = json.dumps(c.to_json())
    assert "SW5zZXJ0" not in text and "dmVyaWZp" not in text
    assert c.plain == (
        "The client authenticates unprompted (Concealed) with key ID 'basement', signed with "
        "ed25519, bound to its TLS connection."
    )


CONCEALED_CASES: list[tuple[str, set[str]]] = [
    ("Concealed k=YmFzZW1lbnQ", {concealed.CONCEALED_MISSING_PARAM}),
    (RFC9729.replace("s=2055", "s=02055"), {concealed.CONCEALED_BAD_VALUE}),
    (RFC9729.replace("s=2055", "s=70000"), {concealed.CONCEALED_BAD_VALUE}),
    (RFC9729.replace("s=2055", "s=4660"), {concealed.CONCEALED_UNKNOWN_SIGNATURE}),
    (
        RFC9729.replace("s=2055", "s=1025"),
        {concealed.CONCEALED_NO_KEY_ENCODING},
    ),  # rsa_pkcs1_sha256
    (RFC9729.replace("s=2055", "s=1027"), set()),  # ecdsa_secp256r1_sha256
    (RFC9729.replace("v=dmVyaWZpY2F0aW9u_zE2Qg", "v=dmVyaWZp"), {concealed.CONCEALED_BAD_VALUE}),
    (RFC9729.replace("k=YmFzZW1lbnQ", 'k="YmFzZW1lbnQ="'), {concealed.CONCEALED_BAD_VALUE}),
]


@pytest.mark.parametrize(("value", "finding_ids"), CONCEALED_CASES)
def test_concealed_problems(value: str, finding_ids: set[str]) -> None:
    c = authlens.decode_credentials(value)
    assert ids(c.findings, "concealed-") == finding_ids | {concealed.CONCEALED_TLS_BOUND}


def test_concealed_challenge_is_not_defined() -> None:
    c = challenge('Concealed realm="x"')
    assert ids(c.findings, "concealed-") == {concealed.CONCEALED_CHALLENGE}


# -- HOBA (RFC 7486) --------------------------------------------------------------------


def test_hoba() -> None:
    c = challenge('HOBA challenge="SGVsbG8gV29ybGQ", max-age="10", realm="bank"')
    assert c.decoded == {"realm": "bank", "challenge": "SGVsbG8gV29ybGQ", "max_age": 10}
    assert not ids(c.findings, "hoba-")
    assert ids(challenge('HOBA realm="x"').findings, "hoba-") == {
        hoba.HOBA_MISSING_CHALLENGE,
        hoba.HOBA_MISSING_MAX_AGE,
    }
    assert ids(challenge('HOBA challenge="a.b", max-age=never').findings, "hoba-") == {
        hoba.HOBA_BAD_BASE64,
        hoba.HOBA_BAD_MAX_AGE,
    }
    result = ".".join(
        b64url(x, pad=False) for x in (b"device-key-1", b"Hello World", b"n0nce", b"sig" * 20)
    )
    cred = authlens.decode_credentials(f'HOBA result="{result}"')
    assert cred.summary["kid"] == "device-key-1"
    assert isinstance(cred.summary["signature"], Secret)
    assert b64url(b"sig" * 20, pad=False) not in json.dumps(cred.to_json())
    assert ids(authlens.decode_credentials('HOBA result="a.b"').findings, "hoba-") == {
        hoba.HOBA_BAD_RESULT
    }
    assert ids(authlens.decode_credentials("HOBA").findings, "hoba-") == {hoba.HOBA_MISSING_RESULT}
    binary = authlens.decode_credentials(f'HOBA result="{b64url(b"\xff\x00", pad=False)}.c.n.s"')
    assert binary.summary["kid"] == "ff00"


# -- Mutual (RFC 8120) ------------------------------------------------------------------


def test_mutual_exchange() -> None:
    init = challenge(
        'Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, realm="example", reason=initial'
    )
    assert init.decoded["message"] == "401-INIT" and init.decoded["version"] == 1
    assert not ids(init.findings, "mutual-")
    failed = challenge(
        'Mutual version=1, algorithm=iso-kam3-dl-2048-sha256, validation=host, realm="e", reason=auth-failed'
    )
    assert ids(failed.findings, "mutual-") == {mutual.MUTUAL_REASON}
    assert "authentication failed" in failed.plain
    kex = challenge(
        'Mutual sid=0123456789abcdef, ks1=QUJD, nc-max=4096, nc-window=128, time=3600, path="/"'
    )
    assert kex.decoded["message"] == "401-KEX-S1" and kex.decoded["ks1_length"] == 4
    c1 = authlens.decode_credentials(
        'Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, realm="example", user="alice", kc1=QUJD'
    )
    assert c1.summary["message"] == "req-KEX-C1" and c1.summary["user"] == "alice"
    vfy = authlens.decode_credentials("Mutual sid=0123456789abcdef, nc=1, vkc=c2VjcmV0dmVyaWZpZXI=")
    assert vfy.summary["message"] == "req-VFY-C" and isinstance(vfy.summary["vkc"], Secret)
    assert "c2VjcmV0dmVyaWZpZXI" not in json.dumps(vfy.to_json())


MUTUAL_CASES: list[tuple[str, set[str]]] = [
    ('Mutual version=1, algorithm=x, validation=host, realm="e", reason=initial', {mutual.MUTUAL_UNKNOWN_ALGORITHM}),
    ('Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=tls-unique, realm="e", reason=initial', {mutual.MUTUAL_TLS_VALIDATION}),
    ('Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=dns, realm="e", reason=initial', {mutual.MUTUAL_UNKNOWN_VALIDATION}),
    ('Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, realm="e", reason=bored', {mutual.MUTUAL_UNKNOWN_REASON}),
    ('Mutual realm="e"', {mutual.MUTUAL_MISSING_PARAM}),
    ("Mutual sid=1, ks1=QQ, nc-max=lots", {mutual.MUTUAL_BAD_NUMBER, mutual.MUTUAL_MISSING_PARAM}),
    ("Mutual abc", {mutual.MUTUAL_TOKEN68, mutual.MUTUAL_MISSING_PARAM}),
]  # fmt: skip


@pytest.mark.parametrize(("value", "finding_ids"), MUTUAL_CASES)
def test_mutual_problems(value: str, finding_ids: set[str]) -> None:
    assert ids(challenge(value).findings, "mutual-") == finding_ids


# -- AWS Signature Version 4 ------------------------------------------------------------

AWS_S3_EXAMPLE = (  # the S3 "GET object" example of the SigV4 documentation
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
    "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
    "Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
)


def test_aws_sigv4_example() -> None:
    c = authlens.decode_credentials(AWS_S3_EXAMPLE)
    s = c.summary
    assert s["access_key_id"] == "AKIA…MPLE"
    assert s["key_type"] == "long-term"
    assert (s["date"], s["region"], s["service"]) == ("20130524", "us-east-1", "s3")
    assert s["signed_headers"] == ["host", "range", "x-amz-content-sha256", "x-amz-date"]
    assert isinstance(s["signature"], Secret)
    assert not ids(c.findings, "aws4-")
    text = json.dumps(c.to_json()) + c.plain + repr(c)
    assert "AKIAIOSFODNN7EXAMPLE" not in text and "fe5f80f77d5f" not in text
    assert c.plain == (
        "The client signed the request (AWS SigV4) with access key AKIA…MPLE for service 's3', "
        "region 'us-east-1', date 20130524."
    )
    assert (
        authlens.decode_credentials(AWS_S3_EXAMPLE).summary["access_key_fingerprint"]
        == s["access_key_fingerprint"]
    )


AWS_CASES: list[tuple[str, set[str]]] = [
    (AWS_S3_EXAMPLE.replace("/us-east-1/s3/", "/s3/"), {aws4.AWS4_BAD_SCOPE}),
    (AWS_S3_EXAMPLE.replace("aws4_request", "aws4_requests"), {aws4.AWS4_BAD_SCOPE}),
    (AWS_S3_EXAMPLE.replace("20130524", "20131324"), {aws4.AWS4_BAD_DATE}),
    (AWS_S3_EXAMPLE.replace("us-east-1", "US_EAST"), {aws4.AWS4_BAD_REGION}),
    (AWS_S3_EXAMPLE.replace("host;range", "range;host"), {aws4.AWS4_BAD_SIGNED_HEADERS}),
    (AWS_S3_EXAMPLE.replace("host;", ""), {aws4.AWS4_HOST_NOT_SIGNED}),
    (AWS_S3_EXAMPLE.replace("Signature=fe5f", "Signature=FE5F"), {aws4.AWS4_BAD_SIGNATURE}),
    (AWS_S3_EXAMPLE.replace("AKIA", "ASIA"), {aws4.AWS4_TEMPORARY_KEY}),
    (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request",
        {aws4.AWS4_MISSING_PARAM},
    ),
    ("AWS4-HMAC-SHA256 Credential=x", {aws4.AWS4_MISSING_PARAM, aws4.AWS4_BAD_SCOPE}),
]


@pytest.mark.parametrize(("value", "finding_ids"), AWS_CASES)
def test_aws_problems(value: str, finding_ids: set[str]) -> None:
    c = authlens.decode_credentials(value)
    assert ids(c.findings, "aws4-") == finding_ids
    json.dumps(c.summary)


def test_aws_sigv4a() -> None:
    value = (
        "AWS4-ECDSA-P256-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20230524/s3/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-region-set, Signature=3045022100abcdef"
    )
    c = authlens.decode_credentials(value)
    assert c.summary["service"] == "s3" and "region" not in c.summary
    assert not ids(c.findings, "aws4-")
    assert "SigV4a" in c.plain
    assert ids(challenge("AWS4-HMAC-SHA256").findings, "aws4-") == {aws4.AWS4_CHALLENGE}


# -- registry and totality ---------------------------------------------------------------

MY_SCHEMES = [
    "Basic", "Digest", "Bearer", "DPoP", "HOBA", "Mutual", "SCRAM-SHA-1", "SCRAM-SHA-256",
    "PrivateToken", "Concealed", "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256",
]  # fmt: skip
PARAM_NAMES = sorted(
    {"realm", "data", "sid", "sr", "ttl", "challenge", "token-key", "max-age", "token", "result",
     "k", "a", "p", "s", "v", "credential", "signedheaders", "signature", "x"}
    | set(mutual.PARAMS)
)  # fmt: skip


@pytest.mark.parametrize("name", MY_SCHEMES)
def test_registered(name: str) -> None:
    scheme = lookup(name.lower())
    assert scheme is not None and scheme.name == name
    assert scheme.decode_credentials is not None and scheme.decode_challenge is not None


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(MY_SCHEMES),
    params=st.dictionaries(st.sampled_from(PARAM_NAMES), st.text(max_size=60), max_size=10),
    token=st.none() | st.text(max_size=60),
    proxy=st.booleans(),
)
def test_every_decoder_total(
    name: str, params: dict[str, str], token: str | None, proxy: bool
) -> None:
    scheme = lookup(name)
    assert scheme is not None
    field = ("Proxy-" if proxy else "") + "Authenticate"
    for decode in (scheme.decode_challenge, scheme.decode_credentials):
        assert decode is not None
        result = decode(AuthInput(name, params, token, field))
        json.dumps(result.summary)
        assert result.plain.endswith(".") and "\n" not in result.plain
        for finding in result.findings:
            assert finding.id == finding.id.lower() and " " not in finding.id


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(MY_SCHEMES), data=st.binary(max_size=400), text=st.text(max_size=100))
def test_every_decoder_total_on_base64(name: str, data: bytes, text: str) -> None:
    encoded, url = b64(data), b64url(data)
    params = {
        "data": encoded, "challenge": url, "token": url, "result": f"{url}.{url}.{url}.{url}",
        "k": url, "a": url, "p": url, "v": url, "s": text, "credential": text,
        "signedheaders": text, "signature": text,
    }  # fmt: skip
    scheme = lookup(name)
    assert scheme is not None
    for decode in (scheme.decode_challenge, scheme.decode_credentials):
        assert decode is not None
        json.dumps(decode(AuthInput(name, params, None)).summary)
    privatetoken.decode_token_challenge(data)
    scram.decode_message(data)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(MY_SCHEMES), text=st.text(max_size=150))
def test_public_api_total(name: str, text: str) -> None:
    for c in authlens.parse_challenges(f"{name} {text}"):
        json.dumps(c.to_json())
        assert "internal-error" not in {f.id for f in c.findings}
    cred = authlens.decode_credentials(f"{name} {text}")
    json.dumps(cred.to_json())
    assert "internal-error" not in {f.id for f in cred.findings}
