"""Negotiate and Kerberos tokens: SPNEGO wrappers, NTLM fallback, Kerberos AP-REQ/AP-REP/
KRB-ERROR, broken inner tokens, hostile bytes, redaction and linear cost."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import spnego
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spnego._asn1 import (
    TagClass,
    pack_asn1,
    pack_asn1_general_string,
    pack_asn1_integer,
    pack_asn1_object_identifier,
    pack_asn1_octet_string,
    pack_asn1_sequence,
)
from spnego._spnego import NegState, NegTokenInit, NegTokenResp, unpack_token

import authlens
from authlens.findings import Finding, Severity
from authlens.report import jsonout
from authlens.schemes import _der, negotiate
from authlens.schemes import _ntlmmsg as m
from authlens.schemes._der import Meter
from authlens.schemes.negotiate import (
    KERBEROS,
    MS_KERBEROS,
    NEGOEX,
    NTLMSSP,
    KerberosFacts,
    decode_token,
    find_ntlm,
)
from authlens.secret import Secret

USER = "CONTOSO\\ålice𝔘"
PASSWORD = "Pässwörd€"
TICKET_CIPHER = bytes(range(256)) * 3
AUTH_CIPHER = b"\xa5" * 90


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ids(findings: Iterable[Finding]) -> set[str]:
    return {f.id for f in findings}


# -- Kerberos messages, built with pyspnego's (independent) ASN.1 encoder --------------------


def tag(n: int, value: bytes) -> bytes:
    return pack_asn1(TagClass.context_specific, True, n, value)


def app(n: int, value: bytes) -> bytes:
    return pack_asn1(TagClass.application, True, n, value)


def principal(name_type: int, *parts: str) -> bytes:
    return pack_asn1_sequence(
        [
            tag(0, pack_asn1_integer(name_type)),
            tag(1, pack_asn1_sequence([pack_asn1_general_string(p) for p in parts])),
        ]
    )


def enc_data(etype: int, cipher: bytes, kvno: int | None = None) -> bytes:
    items = [tag(0, pack_asn1_integer(etype))]
    if kvno is not None:
        items.append(tag(1, pack_asn1_integer(kvno)))
    items.append(tag(2, pack_asn1_octet_string(cipher)))
    return pack_asn1_sequence(items)


def ap_req(
    realm: str = "CONTOSO.COM",
    spn: tuple[str, ...] = ("HTTP", "web01.contoso.com"),
    etype: int = 18,
) -> bytes:
    ticket = app(
        1,
        pack_asn1_sequence(
            [
                tag(0, pack_asn1_integer(5)),
                tag(1, pack_asn1_general_string(realm)),
                tag(2, principal(2, *spn)),
                tag(3, enc_data(etype, TICKET_CIPHER, kvno=3)),
            ]
        ),
    )
    return app(
        14,
        pack_asn1_sequence(
            [
                tag(0, pack_asn1_integer(5)),
                tag(1, pack_asn1_integer(14)),
                tag(2, pack_asn1(TagClass.universal, False, 3, b"\x00\x20\x00\x00\x00")),
                tag(3, ticket),
                tag(4, enc_data(18, AUTH_CIPHER)),
            ]
        ),
    )


def ap_rep() -> bytes:
    return app(15, pack_asn1_sequence([tag(0, pack_asn1_integer(5)), tag(1, pack_asn1_integer(15)),
                                       tag(2, enc_data(18, b"\x77" * 40))]))  # fmt: skip


def krb_error(code: int) -> bytes:
    return app(
        30,
        pack_asn1_sequence(
            [
                tag(0, pack_asn1_integer(5)),
                tag(1, pack_asn1_integer(30)),
                tag(4, pack_asn1(TagClass.universal, False, 24, b"20250301120000Z")),
                tag(5, pack_asn1_integer(0)),
                tag(6, pack_asn1_integer(code)),
                tag(9, pack_asn1_general_string("CONTOSO.COM")),
                tag(10, principal(2, "HTTP", "web01.contoso.com")),
            ]
        ),
    )


def gss_krb5(tok_id: int, message: bytes, oid: str = KERBEROS) -> bytes:
    return app(0, pack_asn1_object_identifier(oid) + tok_id.to_bytes(2, "big") + message)


AP_REQ_TOKEN = gss_krb5(0x0100, ap_req())


def spnego_init(mechs: list[str], token: bytes | None = None, **kwargs: object) -> bytes:
    return NegTokenInit(mechs, mech_token=token, **kwargs).pack()  # type: ignore[arg-type]


# -- NTLM handshakes made by pyspnego ---------------------------------------------------


@pytest.fixture(scope="module")
def user_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    path: Path = tmp_path_factory.mktemp("ntlm") / "users"
    path.write_text(f"CONTOSO:ålice𝔘:{PASSWORD}\n", encoding="utf-8")
    old = os.environ.get("NTLM_USER_FILE")
    os.environ["NTLM_USER_FILE"] = str(path)
    yield
    if old is None:
        os.environ.pop("NTLM_USER_FILE", None)
    else:
        os.environ["NTLM_USER_FILE"] = old


@pytest.fixture(scope="module")
def legs(user_file: None) -> list[bytes]:
    """Negotiate without Kerberos: pyspnego wraps NTLM in SPNEGO, four legs."""
    client = spnego.client(
        USER, PASSWORD, hostname="web01.contoso.com", service="HTTP", protocol="negotiate"
    )
    server = spnego.server(protocol="negotiate")
    t1 = client.step()
    t2 = server.step(t1)
    t3 = client.step(t2)
    t4 = server.step(t3)
    client.step(t4)
    assert server.complete and client.complete
    assert t1 and t2 and t3 and t4
    return [t1, t2, t3, t4]


def test_spnego_ntlm_handshake_each_leg(legs: list[bytes]) -> None:
    t1, t2, t3, t4 = legs
    d1 = decode_token(t1, side="client")
    s1 = d1.summary
    assert (s1["token_type"], s1["message_type"], s1["mechanism"]) == (
        "spnego",
        "NegTokenInit",
        "NTLM",
    )
    assert s1["gss_mech"] == {"oid": "1.3.6.1.5.5.2", "name": "SPNEGO"}
    assert s1["mech_types"] == ["NTLMSSP"] and s1["mech_type_oids"] == [NTLMSSP]
    assert s1["mech_token"]["message_type"] == "NEGOTIATE"
    assert ids(d1.findings) == {negotiate.NEGOTIATE_CARRIES_NTLM}
    assert "offered only NTLM" in d1.findings[0].message
    assert d1.plain == (
        "The client started Negotiate authentication with an NTLM NEGOTIATE message (step 1 of 3) "
        "instead of a Kerberos ticket (offering NTLMSSP)."
    )

    d2 = decode_token(t2, side="server")
    s2 = d2.summary
    assert s2["message_type"] == "NegTokenResp" and s2["supported_mech"] == "NTLMSSP"
    assert s2["neg_state"] in ("accept-incomplete", "request-mic")
    assert s2["response_token"]["message_type"] == "CHALLENGE"
    assert "NTLM CHALLENGE message (step 2 of 3)" in d2.plain

    d3 = decode_token(t3, side="client")
    facts = find_ntlm(d3.summary)
    assert facts is not None and facts.is_v2 and facts.user == "ålice𝔘" and facts.mic_present
    assert d3.plain == (
        "The client continued the Negotiate handshake with an NTLMv2 AUTHENTICATE message "
        "(step 3 of 3) for user CONTOSO\\ålice𝔘."
    )
    nt = d3.summary["response_token"]["nt_response"]
    assert isinstance(nt, Secret)
    raw_nt = nt.reveal()
    assert isinstance(raw_nt, bytes)
    text = jsonout.dumps(d3.summary)
    assert raw_nt.hex() not in text and b64(raw_nt) not in text and b64(t3) not in text

    d4 = decode_token(t4, side="server")
    assert d4.summary["neg_state"] == "accept-completed" and d4.summary["mech_list_mic_present"]
    assert d4.plain == "The server accepted the Negotiate authentication (accept-completed)."


def test_public_api(legs: list[bytes]) -> None:
    t1, t2, t3, t4 = legs
    cred = authlens.decode_credentials(f"Negotiate {b64(t1)}")
    assert cred.summary["message_type"] == "NegTokenInit"
    assert negotiate.NEGOTIATE_CARRIES_NTLM in ids(cred.findings)
    (ch,) = authlens.parse_challenges(f"Negotiate {b64(t2)}")
    assert (
        ch.decoded["response_token"]["message_type"] == "CHALLENGE"
        and ch.decoded["state"] == "continue"
    )
    (done,) = authlens.parse_challenges(f"Negotiate {b64(t4)}")
    assert done.decoded["state"] == "complete"
    (proxy,) = authlens.parse_challenges(f"Negotiate {b64(t2)}", field="Proxy-Authenticate")
    assert proxy.plain.startswith("The proxy ")
    cred3 = authlens.decode_credentials(f"Negotiate {b64(t3)}", field="Proxy-Authorization")
    json.loads(jsonout.dumps(cred3.to_json()))


def test_raw_ntlm_inside_negotiate_is_a_fallback(legs: list[bytes]) -> None:
    raw_negotiate = legs[0][legs[0].index(b"NTLMSSP\0") :]
    cred = authlens.decode_credentials(f"Negotiate {b64(raw_negotiate)}")
    assert cred.summary["token_type"] == "ntlm" and cred.summary["message_type"] == "NEGOTIATE"
    assert negotiate.NEGOTIATE_CARRIES_NTLM in ids(cred.findings)
    assert "raw NTLM" in next(
        f.message for f in cred.findings if f.id == negotiate.NEGOTIATE_CARRIES_NTLM
    )
    assert cred.plain == (
        "The client sent an NTLM NEGOTIATE message (step 1 of 3) inside Negotiate instead of Kerberos."
    )


def test_kerberos_offered_but_ntlm_sent(legs: list[bytes]) -> None:
    raw_negotiate = legs[0][legs[0].index(b"NTLMSSP\0") :]
    d = decode_token(spnego_init([MS_KERBEROS, KERBEROS, NTLMSSP], raw_negotiate))
    assert d.summary["mech_types"] == ["MS-Kerberos", "Kerberos", "NTLMSSP"]
    finding = next(f for f in d.findings if f.id == negotiate.NEGOTIATE_CARRIES_NTLM)
    assert "Kerberos was offered" in finding.message and finding.severity is Severity.WARNING


def test_bare_challenges_mean_client_must_start() -> None:
    (neg, krb) = authlens.parse_challenges(["Negotiate", "Kerberos"])
    assert neg.decoded["state"] == krb.decoded["state"] == "client-must-start"
    assert neg.plain == (
        "The server asks for Negotiate (Kerberos, or NTLM as a fallback) authentication; the "
        "client must start by sending a token."
    )
    assert "Kerberos authentication" in krb.plain
    assert not [f for f in neg.findings if f.severity is not Severity.INFO]


def test_credentials_without_token() -> None:
    cred = authlens.decode_credentials("Negotiate")
    assert negotiate.NEGOTIATE_MISSING_TOKEN in ids(cred.findings)


# -- Kerberos -----------------------------------------------------------------------------


def test_builders_agree_with_pyspnego() -> None:
    parsed = unpack_token(AP_REQ_TOKEN, unwrap=True).token
    assert parsed.ticket.realm == b"CONTOSO.COM"
    error = unpack_token(gss_krb5(0x0300, krb_error(37)), unwrap=True).token
    assert error.error_code == 37


def test_bare_kerberos_ap_req() -> None:
    d = decode_token(AP_REQ_TOKEN)
    s = d.summary
    assert (s["token_type"], s["mechanism"], s["message_type"]) == (
        "kerberos",
        "Kerberos",
        "AP-REQ",
    )
    assert s["gss_mech"] == {"oid": KERBEROS, "name": "Kerberos"}
    assert s["gss_token_id"] == "AP-REQ (0x0100)"
    assert s["ap_options"] == ["mutual-required"]
    t = s["ticket"]
    assert (t["realm"], t["sname"], t["sname_type"], t["etype"], t["kvno"]) == (
        "CONTOSO.COM",
        "HTTP/web01.contoso.com",
        "NT-SRV-INST",
        "aes256-cts-hmac-sha1-96",
        3,
    )
    assert (
        isinstance(t["enc_part"]["cipher"], Secret)
        and t["enc_part"]["cipher"].reveal() == TICKET_CIPHER
    )
    assert s["authenticator"]["cipher"].reveal() == AUTH_CIPHER
    assert s["service_principal"] == "HTTP/web01.contoso.com@CONTOSO.COM"
    assert d.findings == []
    assert (
        d.plain
        == "The client sent a Kerberos ticket for HTTP/web01.contoso.com@CONTOSO.COM (AP-REQ)."
    )
    text = jsonout.dumps(s)
    assert TICKET_CIPHER.hex() not in text and AUTH_CIPHER.hex() not in text
    facts = KerberosFacts.from_summary(s)
    assert (
        facts is not None
        and facts.realm == "CONTOSO.COM"
        and facts.etype == "aes256-cts-hmac-sha1-96"
    )


def test_spnego_with_kerberos_mech_token() -> None:
    mechs = [MS_KERBEROS, KERBEROS, NEGOEX, NTLMSSP, "1.2.3.4.5"]
    req_flags = pack_asn1(TagClass.universal, False, 3, b"\x01\x42")  # mutualFlag, integFlag
    body = pack_asn1_sequence(
        [
            tag(0, pack_asn1_sequence([pack_asn1_object_identifier(o) for o in mechs])),
            tag(1, req_flags),
            tag(2, pack_asn1_octet_string(AP_REQ_TOKEN)),
        ]
    )
    token = app(0, pack_asn1_object_identifier(negotiate.SPNEGO) + tag(0, body))
    cred = authlens.decode_credentials(f"Negotiate {b64(token)}")
    s = cred.summary
    assert s["mech_types"] == ["MS-Kerberos", "Kerberos", "NegoEx", "NTLMSSP", "1.2.3.4.5"]
    assert s["req_flags"] == ["mutualFlag", "integFlag"]
    assert s["mechanism"] == "Kerberos" and s["mech_token"]["ticket"]["realm"] == "CONTOSO.COM"
    assert negotiate.NEGOTIATE_CARRIES_NTLM not in ids(cred.findings)
    assert find_ntlm(s) is None
    assert KerberosFacts.from_summary(s).service_principal == "HTTP/web01.contoso.com"  # type: ignore[union-attr]
    assert cred.plain == (
        "The client started Negotiate authentication with a Kerberos ticket for "
        "HTTP/web01.contoso.com@CONTOSO.COM (AP-REQ) (offering MS-Kerberos, Kerberos, NegoEx, "
        "NTLMSSP, 1.2.3.4.5)."
    )
    assert TICKET_CIPHER.hex() not in jsonout.dumps(cred.to_json())


@pytest.mark.parametrize(
    ("code", "name", "words"),
    [
        (37, "KRB_AP_ERR_SKEW", "clocks"),
        (7, "KDC_ERR_S_PRINCIPAL_UNKNOWN", "service principal name"),
        (41, "KRB_AP_ERR_MODIFIED", "could not decrypt"),
        (99, "UNKNOWN (99)", None),
    ],
)
def test_krb_error(code: int, name: str, words: str | None) -> None:
    (c,) = authlens.parse_challenges(f"Negotiate {b64(gss_krb5(0x0300, krb_error(code)))}")
    d = c.decoded
    assert d["message_type"] == "KRB-ERROR" and d["error_code"] == code and d["error_name"] == name
    assert d["stime"] == "2025-03-01T12:00:00Z" and d["sname"] == "HTTP/web01.contoso.com"
    assert d["state"] == "error"
    finding = next(f for f in c.findings if f.id == negotiate.KERBEROS_ERROR)
    assert name in finding.message
    assert c.plain.startswith(f"The server refused Kerberos with {name}")
    if words:
        assert words in c.plain


def test_krb_error_inside_a_rejecting_negtokenresp() -> None:
    token = NegTokenResp(NegState.reject, KERBEROS, gss_krb5(0x0300, krb_error(37))).pack()
    (c,) = authlens.parse_challenges(f"Negotiate {b64(token)}")
    assert c.decoded["neg_state"] == "reject" and c.decoded["state"] == "rejected"
    assert c.decoded["response_token"]["error_name"] == "KRB_AP_ERR_SKEW"
    assert {negotiate.SPNEGO_REJECTED, negotiate.KERBEROS_ERROR} <= ids(c.findings)
    assert KerberosFacts.from_summary(c.decoded).error_name == "KRB_AP_ERR_SKEW"  # type: ignore[union-attr]
    assert c.plain.startswith(
        "The server rejected the Negotiate authentication (reject) with the Kerberos error"
    )


def test_ap_rep_completes() -> None:
    token = NegTokenResp(NegState.accept_complete, KERBEROS, gss_krb5(0x0200, ap_rep())).pack()
    (c,) = authlens.parse_challenges(f"Negotiate {b64(token)}")
    assert c.decoded["state"] == "complete"
    assert c.decoded["response_token"]["enc_part"]["etype"] == "aes256-cts-hmac-sha1-96"
    assert "AP-REP" in c.plain


def test_weak_etype_is_noted() -> None:
    d = decode_token(gss_krb5(0x0100, ap_req(etype=23)))
    assert d.summary["ticket"]["etype"] == "rc4-hmac"
    assert negotiate.KERBEROS_WEAK_ETYPE in ids(d.findings)


def test_raw_kerberos_message_without_gss_header() -> None:
    d = decode_token(ap_req())
    assert d.summary["message_type"] == "AP-REQ" and d.summary["gss_mech"] is None


def test_negtokeninit2_hints() -> None:
    token = spnego_init([KERBEROS, NTLMSSP], hint_name=b"not_defined_in_RFC4178@please_ignore")
    (c,) = authlens.parse_challenges(f"Negotiate {b64(token)}")
    assert c.decoded["neg_hints"] == {"hint_name": "not_defined_in_RFC4178@please_ignore"}
    assert c.decoded["mech_token"] is None and c.decoded["mechanism"] == "Kerberos"


def test_kerberos_scheme_decodes_the_same_tokens() -> None:
    cred = authlens.decode_credentials(f"Kerberos {b64(AP_REQ_TOKEN)}")
    assert cred.scheme == "Kerberos" and cred.summary["ticket"]["realm"] == "CONTOSO.COM"


def test_negoex_token_is_named() -> None:
    d = decode_token(spnego_init([NEGOEX], b"NEGOEXTS" + b"\0" * 40))
    assert d.summary["mech_token"]["token_type"] == "negoex" and d.summary["mechanism"] == "NegoEx"


# -- broken tokens -------------------------------------------------------------------------


def test_broken_ntlm_inside_spnego_keeps_the_wrapper(legs: list[bytes]) -> None:
    raw_auth = legs[2][legs[2].index(b"NTLMSSP\0") :]
    token = NegTokenResp(response_token=raw_auth[:70]).pack()
    d = decode_token(token, side="client")
    assert d.summary["message_type"] == "NegTokenResp"
    assert d.summary["response_token"]["message_type"] == "AUTHENTICATE"
    assert {negotiate.SPNEGO_INNER_TOKEN_BROKEN, m.NTLM_FIELD_OUT_OF_BOUNDS} <= ids(d.findings)


def test_broken_kerberos_inside_spnego_keeps_the_wrapper() -> None:
    token = spnego_init([KERBEROS], AP_REQ_TOKEN[:200])
    d = decode_token(token)
    assert d.summary["mech_types"] == ["Kerberos"]
    assert d.summary["mech_token"]["token_type"] == "unknown"
    assert {negotiate.SPNEGO_INNER_TOKEN_BROKEN, _der.DER_OUT_OF_BOUNDS} <= ids(d.findings)


def test_indefinite_length_is_rejected() -> None:
    d = decode_token(b"\x60\x80\x06\x06\x2b\x06\x01\x05\x05\x02\x00\x00")
    assert _der.DER_INDEFINITE_LENGTH in ids(d.findings)
    assert d.plain == "The client sent a Negotiate token authlens cannot read."


def test_unknown_token_and_mech() -> None:
    d = decode_token(pack_asn1_integer(5))
    assert negotiate.NEGOTIATE_UNKNOWN_TOKEN in ids(d.findings)
    d = decode_token(app(0, pack_asn1_object_identifier("1.2.3.4") + b"\x01\x02"))
    assert negotiate.NEGOTIATE_UNKNOWN_MECH in ids(d.findings)
    assert d.summary["gss_mech"] == {"oid": "1.2.3.4", "name": "1.2.3.4"}


def test_trailing_bytes_are_reported() -> None:
    d = decode_token(AP_REQ_TOKEN + b"\0\0")
    assert "der-trailing-data" in ids(d.findings)
    assert d.summary["message_type"] == "AP-REQ"


def test_not_base64() -> None:
    cred = authlens.decode_credentials("Negotiate ~~~~")
    assert cred.summary["token_type"] == "unknown"
    assert cred.findings


def sample_tokens(legs: list[bytes]) -> list[bytes]:
    return [
        *legs,
        AP_REQ_TOKEN,
        spnego_init([MS_KERBEROS, KERBEROS, NTLMSSP], AP_REQ_TOKEN),
        gss_krb5(0x0300, krb_error(41)),
        NegTokenResp(NegState.accept_complete, KERBEROS, gss_krb5(0x0200, ap_rep())).pack(),
    ]


def test_truncated_at_every_length(legs: list[bytes]) -> None:
    for token in sample_tokens(legs):
        for n in range(len(token)):
            d = decode_token(token[:n])
            assert any(f.severity is Severity.ERROR for f in d.findings), (token[:8].hex(), n)
            json.loads(jsonout.dumps(d.summary))
            assert d.plain


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from(["client", "server"]))
def test_any_bytes_decode(data: bytes, side: str) -> None:
    d = decode_token(data, side=side)
    json.loads(jsonout.dumps(d.summary))
    assert d.plain


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([b"\x60", b"\xa0", b"\xa1", b"\x6e", b"\x7e", b"\x60\x82"]),
    st.binary(max_size=300),
)
def test_any_bytes_behind_a_plausible_tag_decode(prefix: bytes, body: bytes) -> None:
    d = decode_token(prefix + body)
    json.loads(jsonout.dumps(d.summary))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_tokens_never_leak_ciphertext(data: st.DataObject) -> None:
    token = bytearray(spnego_init([KERBEROS], AP_REQ_TOKEN))
    for _ in range(data.draw(st.integers(0, 6))):
        token[data.draw(st.integers(0, len(token) - 1))] = data.draw(st.integers(0, 255))
    d = decode_token(bytes(token))
    text = jsonout.dumps(d.summary)
    json.loads(text)
    assert TICKET_CIPHER[:64].hex() not in text and AUTH_CIPHER.hex() not in text


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_public_api_is_total(data: bytes) -> None:
    for scheme in ("Negotiate", "Kerberos"):
        (c,) = (
            authlens.parse_challenges(f"{scheme} {b64(data)}")
            if data
            else authlens.parse_challenges(scheme)
        )
        json.loads(jsonout.dumps(c.to_json()))
        cred = authlens.decode_credentials(f"{scheme} {b64(data)}" if data else scheme)
        json.loads(jsonout.dumps(cred.to_json()))


# -- linear cost ---------------------------------------------------------------------------


def cost(token: bytes) -> int:
    meter = Meter()
    decode_token(token, meter=meter)
    return meter.steps


def test_work_is_linear_in_the_mech_list() -> None:
    small = spnego_init([NTLMSSP] * 1000)
    large = spnego_init([NTLMSSP] * 2000)
    assert cost(large) <= 2.02 * cost(small)
    d = decode_token(large)
    assert len(d.summary["mech_types"]) == negotiate.MAX_MECH_TYPES
    assert negotiate.SPNEGO_TOO_MANY_MECH_TYPES in ids(d.findings)


def test_work_is_linear_in_the_ticket_size() -> None:
    def token(size: int) -> bytes:
        return spnego_init([KERBEROS], gss_krb5(0x0100, ap_req(realm="R" * size)))

    assert cost(token(20000)) <= 2.02 * cost(token(10000))


def test_deep_nesting_is_cut_off() -> None:
    data = pack_asn1_integer(1)
    for _ in range(200):
        data = pack_asn1_sequence([data])
    token = spnego_init([KERBEROS], gss_krb5(0x0100, app(14, data)))
    d = decode_token(token)
    assert d.summary["mech_token"]["message_type"] == "AP-REQ"
    assert any(f.severity is Severity.ERROR for f in d.findings)
