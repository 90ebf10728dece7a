"""NTLM messages and the NTLM scheme: MS-NLMP §4.2 vectors, real pyspnego handshakes,
hostile bytes, redaction and linear cost."""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import spnego
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spnego._ntlm_raw import messages as raw

import authlens
from authlens.findings import Severity
from authlens.report import jsonout
from authlens.schemes import Decoded, ntlm
from authlens.schemes import _ntlmmsg as m
from authlens.schemes._der import Meter
from authlens.schemes._ntlmmsg import NtlmFacts, decode_ntlm, parse_ntlm
from authlens.secret import Secret

# -- MS-NLMP §4.2 test vectors -----------------------------------------------------------
# https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-nlmp/ee78f3ad-ae29-4de1-96a0-fe46e64b6e31
# (§4.2.2.3, NTLMv1) and .../bc612491-fb0b-4829-91bc-7c6b95ff67fe (§4.2.4.3, NTLMv2):
# user "User", domain "Domain", workstation "COMPUTER", server "Server", password
# "Password", server challenge 0123456789abcdef.

V1_CHALLENGE = bytes.fromhex(
    "4e544c4d53535000 02000000 0c000c00 38000000 338202e2 0123456789abcdef"
    "0000000000000000 0000 0000 00000000 0600701700 00000f"
    "530065007200760065007200"
)
V1_AUTHENTICATE = bytes.fromhex(
    "4e544c4d53535000 03000000 18001800 6c000000 18001800 84000000 0c000c00 48000000"
    "08000800 54000000 10001000 5c000000 10001000 9c000000 358280e2 0501280a0000000f"
    "44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200"
    "98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13"
    "67c43011f30298a2ad35ece64f16331c44bdbed927841f94"
    "518822b1b3f350c8958682ecbb3e3cb7"
)
V2_CHALLENGE = bytes.fromhex(
    "4e544c4d53535000 02000000 0c000c00 38000000 33828ae2 0123456789abcdef"
    "0000000000000000 2400 2400 44000000 0600701700 00000f"
    "530065007200760065007200"
    "02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000"
)
V2_NT_RESPONSE = bytes.fromhex(
    "68cd0ab851e51c96aabc927bebef6a1c 0101 0000 00000000 0000000000000000"
    "aaaaaaaaaaaaaaaa 00000000"
    "02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000 00000000"
)
V2_AUTHENTICATE = (
    bytes.fromhex(
        "4e544c4d53535000 03000000 18001800 6c000000 54005400 84000000 0c000c00 48000000"
        "08000800 54000000 10001000 5c000000 10001000 d8000000 358288e2 0501280a0000000f"
        "44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200"
        "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"
    )
    + V2_NT_RESPONSE
    + bytes.fromhex("c5dad2544fc9799094ce1ce90bc9d03e")
)

USER = "CONTOSO\\ålice𝔘"  # non-ASCII, including a character outside the BMP
PASSWORD = "Pässwörd€"


def dumps(summary: object) -> str:
    return jsonout.dumps(summary)


def ids(decoded: Decoded) -> set[str]:
    return {f.id for f in decoded.findings}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- the spec vectors --------------------------------------------------------------------


def test_vector_lengths_and_layout() -> None:
    assert len(V2_NT_RESPONSE) == 0x54
    assert len(V1_AUTHENTICATE) == 0x9C + 16
    assert len(V2_AUTHENTICATE) == 0xD8 + 16


def test_ntlmv1_challenge_vector() -> None:
    d = decode_ntlm(V1_CHALLENGE)
    s = d.summary
    assert s["message_type"] == "CHALLENGE" and s["step"] == 2
    assert s["flags_value"] == "0xe2028233"
    assert s["flags"] == [
        "NTLMSSP_NEGOTIATE_UNICODE",
        "NTLM_NEGOTIATE_OEM",
        "NTLMSSP_NEGOTIATE_SIGN",
        "NTLMSSP_NEGOTIATE_SEAL",
        "NTLMSSP_NEGOTIATE_NTLM",
        "NTLMSSP_NEGOTIATE_ALWAYS_SIGN",
        "NTLMSSP_TARGET_TYPE_SERVER",
        "NTLMSSP_NEGOTIATE_VERSION",
        "NTLMSSP_NEGOTIATE_128",
        "NTLMSSP_NEGOTIATE_KEY_EXCH",
        "NTLMSSP_NEGOTIATE_56",
    ]
    assert s["server_challenge"] == "0123456789abcdef"
    assert s["target_name"] == "Server"
    assert s["target_info"] == {}
    assert s["version"]["text"] == "6.0 build 6000 (NTLM revision 15)"
    assert d.findings == []
    assert d.plain == (
        "The server answered with an NTLM CHALLENGE (step 2 of 3) for Server; the client must "
        "now send an AUTHENTICATE message on the same connection."
    )


def test_ntlmv1_authenticate_vector() -> None:
    facts, d = parse_ntlm(V1_AUTHENTICATE)
    s = d.summary
    assert (facts.message_type, facts.user, facts.domain, facts.workstation) == (
        "AUTHENTICATE",
        "User",
        "Domain",
        "COMPUTER",
    )
    assert s["flags_value"] == "0xe2808235"
    assert facts.response_version == m.NTLMV1 and not facts.is_v2
    assert facts.channel_bindings is None  # NTLMv1 has no AV pairs at all
    assert not facts.mic_present
    assert facts.session_key_present
    assert s["version"] == {"major": 5, "minor": 1, "build": 2600, "ntlm_revision": 15,
                            "text": "5.1 build 2600 (NTLM revision 15)"}  # fmt: skip
    assert isinstance(s["nt_response"], Secret)
    assert s["nt_response"].reveal() == bytes.fromhex(
        "67c43011f30298a2ad35ece64f16331c44bdbed927841f94"
    )
    assert s["lm_response"].reveal() == bytes.fromhex(
        "98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13"
    )
    assert s["encrypted_session_key"].reveal() == bytes.fromhex("518822b1b3f350c8958682ecbb3e3cb7")
    assert ids(d) == {m.NTLM_V1_RESPONSE}
    assert d.plain == (
        "The client sent an NTLMv1 AUTHENTICATE message (step 3 of 3) for user Domain\\User "
        "from workstation COMPUTER."
    )


def test_ntlmv2_challenge_vector() -> None:
    s = decode_ntlm(V2_CHALLENGE).summary
    assert s["flags_value"] == "0xe28a8233"
    assert "NTLMSSP_NEGOTIATE_TARGET_INFO" in s["flags"]
    assert "NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY" in s["flags"]
    assert s["target_info"] == {
        "MsvAvNbDomainName": "Domain",
        "MsvAvNbComputerName": "Server",
        "MsvAvEOL": True,
    }
    assert s["fields"]["TargetInfoFields"] == {
        "len": 36,
        "max_len": 36,
        "buffer_offset": 68,
        "in_bounds": True,
    }


def test_ntlmv2_authenticate_vector() -> None:
    facts, d = parse_ntlm(V2_AUTHENTICATE)
    s = d.summary
    assert facts.is_v2 and facts.user == "User" and facts.domain == "Domain"
    assert facts.target_info == {
        "MsvAvNbDomainName": "Domain",
        "MsvAvNbComputerName": "Server",
        "MsvAvEOL": True,
    }
    assert facts.channel_bindings == m.CB_ABSENT
    assert not facts.mic_present and s["mic"] is None  # the spec's example has no MIC
    v2 = s["ntlmv2_response"]
    assert v2["nt_proof_str"].reveal() == bytes.fromhex("68cd0ab851e51c96aabc927bebef6a1c")
    assert v2["timestamp"] == "1601-01-01T00:00:00+00:00"
    assert (v2["resp_type"], v2["hi_resp_type"]) == (1, 1)
    assert v2["client_challenge"].reveal() == b"\xaa" * 8
    assert s["nt_response"].reveal() == V2_NT_RESPONSE
    assert d.findings == []
    text = dumps(s)
    for secret in (V2_NT_RESPONSE, bytes.fromhex("c5dad2544fc9799094ce1ce90bc9d03e")):
        assert secret.hex() not in text and b64(secret) not in text
    assert "68cd0ab851e51c96aabc927bebef6a1c" not in text


def test_negotiate_oem_names_and_version() -> None:
    # pyspnego's NEGOTIATE test vector: OEM domain and workstation "café", VERSION 1.1.1.
    token = bytes.fromhex(
        "4e544c4d53535000 01000000 00300002 0400 0400 28000000 0400 0400 2c000000"
        "010101000000000f 636166e9 636166e9"
    )
    d = decode_ntlm(token)
    assert d.summary["domain"] == "café" and d.summary["workstation"] == "café"
    assert d.summary["version"]["text"] == "1.1 build 1 (NTLM revision 15)"
    assert d.summary["flags"] == [
        "NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED",
        "NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED",
        "NTLMSSP_NEGOTIATE_VERSION",
    ]
    assert d.plain == (
        "The client started NTLM authentication with a NEGOTIATE message (step 1 of 3) "
        "from workstation café in domain café."
    )


def test_unknown_flag_bits_are_kept() -> None:
    assert m.flag_names(0x00000008 | 0x00004000 | 0x1) == [
        "NTLMSSP_NEGOTIATE_UNICODE",
        "UNKNOWN (0x00000008)",
        "UNKNOWN (0x00004000)",
    ]
    assert len(m.flag_names(0xFFFFFFFF)) == 32


# -- real handshakes made by pyspnego --------------------------------------------------


@pytest.fixture(scope="module")
def user_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    path: Path = tmp_path_factory.mktemp("ntlm") / "users"
    path.write_text(f"{USER.replace(chr(92), ':', 1)}:{PASSWORD}\n", encoding="utf-8")
    old = os.environ.get("NTLM_USER_FILE")
    os.environ["NTLM_USER_FILE"] = str(path)
    yield
    if old is None:
        os.environ.pop("NTLM_USER_FILE", None)
    else:
        os.environ["NTLM_USER_FILE"] = old


def handshake(protocol: str, **client_kwargs: object) -> list[bytes]:
    client = spnego.client(USER, PASSWORD, hostname="web01.contoso.com", service="HTTP",
                           protocol=protocol, **client_kwargs)  # type: ignore[arg-type]  # fmt: skip
    server = spnego.server(protocol=protocol)
    legs = [client.step()]
    while not (client.complete and server.complete):
        token = server.step(legs[-1])
        if token is None:
            break
        legs.append(token)
        if client.complete:
            break
        legs.append(client.step(token))
    assert server.complete
    return [leg for leg in legs if leg]


@pytest.fixture(scope="module")
def ntlm_legs(user_file: None) -> list[bytes]:
    return handshake("ntlm")


def test_pyspnego_handshake_each_leg(ntlm_legs: list[bytes]) -> None:
    _, t2, t3 = ntlm_legs
    n1, n2, n3 = (decode_ntlm(t) for t in ntlm_legs)
    assert [d.summary["message_type"] for d in (n1, n2, n3)] == [
        "NEGOTIATE",
        "CHALLENGE",
        "AUTHENTICATE",
    ]
    assert all(d.findings == [] for d in (n1, n2, n3))
    assert n2.summary["server_challenge"] == raw.Challenge.unpack(t2).server_challenge.hex()
    assert "MsvAvTimestamp" in n2.summary["target_info"]
    facts = NtlmFacts.from_summary(n3.summary)
    assert (facts.user, facts.domain) == ("ålice𝔘", "CONTOSO")
    assert facts.is_v2 and facts.mic_present and facts.session_key_present
    assert facts.spn == "HTTP/web01.contoso.com"
    assert facts.channel_bindings == m.CB_ABSENT
    assert n3.summary["target_info"]["MsvAvFlags"] == {"value": 2, "flags": ["MIC_PROVIDED"]}
    assert n3.summary["mic"].reveal() == raw.Authenticate.unpack(t3).mic
    assert n3.plain == (
        "The client sent an NTLMv2 AUTHENTICATE message (step 3 of 3) for user "
        f"CONTOSO\\ålice𝔘 from workstation {n3.summary['workstation']}."
    )
    nt = raw.Authenticate.unpack(t3).nt_challenge_response
    assert nt is not None
    text = dumps(n3.summary)
    assert nt.hex() not in text and b64(nt) not in text and nt[:16].hex() not in text


def test_channel_bindings_present(user_file: None) -> None:
    from spnego.channel_bindings import GssChannelBindings

    cbt = GssChannelBindings(application_data=b"tls-server-end-point:" + b"\x11" * 32)
    t3 = handshake("ntlm", channel_bindings=cbt)[2]
    facts, d = parse_ntlm(t3)
    assert facts.channel_bindings == m.CB_PRESENT
    pair = d.summary["target_info"]["MsvAvChannelBindings"]
    assert pair["state"] == "present" and isinstance(pair["hash"], Secret)


def test_channel_bindings_all_zero() -> None:
    ti = raw.TargetInfo()
    ti[raw.AvId.nb_domain_name] = "CONTOSO"
    ti[raw.AvId.flags] = raw.AvFlags.mic
    ti[raw.AvId.channel_bindings] = b"\x00" * 16
    blob = raw.NTClientChallengeV2(client_challenge=b"\x01" * 8, av_pairs=ti).pack()
    token = raw.Authenticate(
        flags=raw.NegotiateFlags.unicode | raw.NegotiateFlags.version,
        lm_challenge_response=b"\x00" * 24,
        nt_challenge_response=b"\x22" * 16 + blob,
        domain_name="CONTOSO",
        username="bob",
        version=raw.Version(10, 0, 19041),
        mic=b"\x33" * 16,
    ).pack()
    facts, d = parse_ntlm(token)
    assert facts.channel_bindings == m.CB_ALL_ZERO
    assert facts.mic_present
    assert d.summary["version"]["text"] == "10.0 build 19041 (NTLM revision 15)"


def test_anonymous_authenticate() -> None:
    token = raw.Authenticate(flags=raw.NegotiateFlags.unicode | raw.NegotiateFlags.anonymous,
                             lm_challenge_response=b"\x00").pack()  # fmt: skip
    facts, d = parse_ntlm(token)
    assert facts.is_anonymous
    assert m.NTLM_ANONYMOUS in ids(d)
    assert "anonymous" in d.plain


def test_ntlmv1_with_extended_session_security() -> None:
    token = raw.Authenticate(
        flags=raw.NegotiateFlags.unicode | raw.NegotiateFlags.extended_session_security,
        lm_challenge_response=b"\x44" * 8 + b"\x00" * 16,
        nt_challenge_response=b"\x55" * 24,
        username="u",
    ).pack()
    assert parse_ntlm(token)[0].response_version == m.NTLMV1_ESS


# -- hostile bytes -----------------------------------------------------------------------


def all_tokens(ntlm_legs: list[bytes]) -> list[bytes]:
    return [V1_CHALLENGE, V1_AUTHENTICATE, V2_CHALLENGE, V2_AUTHENTICATE, *ntlm_legs]


def test_truncated_at_every_length(ntlm_legs: list[bytes]) -> None:
    for token in all_tokens(ntlm_legs):
        for n in range(len(token)):
            d = decode_ntlm(token[:n])
            assert d.findings, (token[:12].hex(), n)
            assert any(f.severity is Severity.ERROR for f in d.findings)
            json.loads(dumps(d.summary))
            assert d.plain


def test_out_of_range_offset_skips_the_field_and_keeps_the_rest() -> None:
    token = bytearray(V2_AUTHENTICATE)
    struct.pack_into("<I", token, 40, 0xFFFFFFF0)  # UserName BufferOffset
    d = decode_ntlm(bytes(token))
    assert m.NTLM_FIELD_OUT_OF_BOUNDS in ids(d)
    assert d.summary["user"] is None
    assert d.summary["domain"] == "Domain" and d.summary["response_version"] == "NTLMv2"
    assert d.summary["fields"]["UserNameFields"]["in_bounds"] is False


def test_length_past_the_end_and_header_overlap() -> None:
    token = bytearray(V2_CHALLENGE)
    struct.pack_into("<HHI", token, 40, 0x400, 0x400, 0x44)  # TargetInfo runs past the end
    struct.pack_into("<HHI", token, 12, 4, 4, 8)  # TargetName inside the header
    d = decode_ntlm(bytes(token))
    assert {m.NTLM_FIELD_OUT_OF_BOUNDS, m.NTLM_FIELD_OVERLAPS_HEADER} <= ids(d)
    assert d.summary["target_info"] == {}
    assert d.summary["server_challenge"] == "0123456789abcdef"


def test_av_pair_running_past_its_list() -> None:
    token = bytearray(V2_CHALLENGE)
    struct.pack_into("<H", token, 0x44 + 2, 0x200)  # first AV pair claims 512 bytes
    d = decode_ntlm(bytes(token))
    assert m.NTLM_AV_PAIR_MALFORMED in ids(d)
    assert d.summary["target_name"] == "Server"


def test_bad_signature_and_unknown_type() -> None:
    assert ids(decode_ntlm(b"NTLMSSQ\0\x01\0\0\0")) == {m.NTLM_BAD_SIGNATURE}
    d = decode_ntlm(b"NTLMSSP\0\x09\0\0\0")
    assert ids(d) == {m.NTLM_UNKNOWN_MESSAGE_TYPE} and d.summary["message_type_number"] == 9


def test_bad_nt_response_length() -> None:
    token = raw.Authenticate(
        flags=raw.NegotiateFlags.unicode, nt_challenge_response=b"\x01" * 30
    ).pack()
    assert m.NTLM_BAD_RESPONSE_LENGTH in ids(decode_ntlm(token))


def test_control_characters_do_not_break_the_sentence() -> None:
    token = raw.Authenticate(flags=raw.NegotiateFlags.unicode, username="eve\nInjected: yes",
                             nt_challenge_response=b"\x01" * 24).pack()  # fmt: skip
    d = decode_ntlm(token)
    assert "\n" not in d.plain and "eve\\x0aInjected" in d.plain
    assert d.summary["user"] == "eve\nInjected: yes"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_decode(data: bytes) -> None:
    d = decode_ntlm(data)
    json.loads(dumps(d.summary))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([1, 2, 3]), st.binary(max_size=300))
def test_any_bytes_after_the_signature_decode(kind: int, body: bytes) -> None:
    d = decode_ntlm(m.SIGNATURE + struct.pack("<I", kind) + body)
    json.loads(dumps(d.summary))
    assert d.summary["message_type"] in ("NEGOTIATE", "CHALLENGE", "AUTHENTICATE")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, len(V2_AUTHENTICATE) - 1), st.integers(0, 255)), max_size=8)
)
def test_mutated_authenticate_never_leaks_the_response(flips: list[tuple[int, int]]) -> None:
    token = bytearray(V2_AUTHENTICATE)
    for pos, value in flips:
        token[pos] = value
    d = decode_ntlm(bytes(token))
    text = dumps(d.summary)
    json.loads(text)
    nt_off = 0x84
    nt = bytes(token[nt_off : nt_off + 0x54])
    assert nt.hex() not in text and b64(nt) not in text
    assert all(isinstance(f.message, str) for f in d.findings)


# -- linear cost -------------------------------------------------------------------------


def challenge_with_pairs(n: int) -> bytes:
    pairs = b"".join(struct.pack("<HH", 1, 8) + "ABCD".encode("utf-16-le") for _ in range(n))
    pairs += struct.pack("<HH", 0, 0)
    header = (m.SIGNATURE + struct.pack("<I", 2) + struct.pack("<HHI", 0, 0, 56) + struct.pack("<I", 0x00800001)
              + b"\x01" * 8 + b"\0" * 8 + struct.pack("<HHI", len(pairs) & 0xFFFF, len(pairs) & 0xFFFF, 56)
              + b"\0" * 8)  # fmt: skip
    return header + pairs


def test_work_is_linear() -> None:
    for n in (30, 500):  # below and above the AV pair cap
        small, large = challenge_with_pairs(n), challenge_with_pairs(2 * n)
        a, b = Meter(), Meter()
        decode_ntlm(small, a)
        decode_ntlm(large, b)
        assert b.steps <= 2 * a.steps + 64, (n, a.steps, b.steps)
    meter_small, meter_large = Meter(), Meter()
    small = V2_AUTHENTICATE + b"\0" * 5000
    large = V2_AUTHENTICATE + b"\0" * 10000
    decode_ntlm(small, meter_small)
    decode_ntlm(large, meter_large)
    assert meter_large.steps <= 2 * meter_small.steps + 10


def test_big_field_cost_is_proportional() -> None:
    def token(size: int) -> bytes:
        user = "x" * size
        return raw.Authenticate(flags=raw.NegotiateFlags.unicode, username=user,
                                nt_challenge_response=b"\x01" * 24).pack()  # fmt: skip

    a, b = Meter(), Meter()
    decode_ntlm(token(4000), a)
    decode_ntlm(token(8000), b)
    assert b.steps <= 2.05 * a.steps


# -- the NTLM scheme through the public API --------------------------------------------


def test_bare_challenge_means_client_must_start() -> None:
    (c,) = authlens.parse_challenges("NTLM")
    assert c.decoded == {"mechanism": "NTLM", "message_type": None, "state": "client-must-start"}
    assert "NEGOTIATE message (step 1 of 3)" in c.plain
    (p,) = authlens.parse_challenges("NTLM", field="Proxy-Authenticate")
    assert p.plain.startswith("The proxy asks for NTLM")


def test_public_api_round_trip(ntlm_legs: list[bytes]) -> None:
    t1, t2, t3 = ntlm_legs
    cred1 = authlens.decode_credentials(f"NTLM {b64(t1)}")
    assert cred1.summary["message_type"] == "NEGOTIATE"
    (ch,) = authlens.parse_challenges(f"NTLM {b64(t2)}")
    assert ch.decoded["message_type"] == "CHALLENGE" and ch.decoded["state"] == "continue"
    assert not ch.findings
    cred3 = authlens.decode_credentials(f"NTLM {b64(t3)}", field="Proxy-Authorization")
    assert cred3.summary["user"] == "ålice𝔘" and cred3.summary["response_version"] == "NTLMv2"
    assert cred3.plain.startswith("The client sent an NTLMv2 AUTHENTICATE message")
    out = jsonout.dumps(cred3.to_json())
    nt = raw.Authenticate.unpack(t3).nt_challenge_response
    assert nt is not None
    assert b64(t3) not in out and nt.hex() not in out
    (proxy,) = authlens.parse_challenges(f"NTLM {b64(t2)}", field="Proxy-Authenticate")
    assert proxy.plain.startswith("The proxy answered")


def test_lenient_base64_is_reported(ntlm_legs: list[bytes]) -> None:
    t2 = ntlm_legs[1]
    unpadded = b64(t2).rstrip("=")
    urlsafe = base64.urlsafe_b64encode(t2).decode()
    for token in (unpadded, urlsafe):
        if token == b64(t2):
            continue
        (c,) = authlens.parse_challenges(f"NTLM {token}")
        assert c.decoded["message_type"] == "CHALLENGE"
        assert ntlm.TOKEN_BASE64_LENIENT in {f.id for f in c.findings}
    data, findings = ntlm.decode_base64_token(" " + b64(t2)[:20] + "\n" + b64(t2)[20:])
    assert data == t2 and "white space" in findings[0].message


def test_strict_base64_has_no_finding() -> None:
    data, findings = ntlm.decode_base64_token(b64(V2_CHALLENGE))
    assert data == V2_CHALLENGE and findings == []


@pytest.mark.parametrize(
    ("value", "finding"),
    [
        ("A", ntlm.TOKEN_NOT_BASE64),  # one character too many for any base64 quantum
        ("TlRM.TVNT", ntlm.TOKEN_NOT_BASE64),  # a valid token68, not base64
        ("TlRM~TVNT", ntlm.TOKEN_NOT_BASE64),
        ("ab=cd", ntlm.NTLM_MISSING_TOKEN),  # lexed as a parameter, so no token at all
    ],
)
def test_not_base64_still_gives_a_result(value: str, finding: str) -> None:
    cred = authlens.decode_credentials(f"NTLM {value}")
    assert cred.scheme == "NTLM"
    assert cred.summary["mechanism"] == "NTLM" and cred.summary["message_type"] is None
    assert finding in {f.id for f in cred.findings}
    assert cred.plain


def test_wrong_message_for_the_field(ntlm_legs: list[bytes]) -> None:
    (c,) = authlens.parse_challenges(f"NTLM {b64(ntlm_legs[0])}")
    assert ntlm.NTLM_UNEXPECTED_MESSAGE_TYPE in {f.id for f in c.findings}
    cred = authlens.decode_credentials(f"NTLM {b64(ntlm_legs[1])}")
    assert ntlm.NTLM_UNEXPECTED_MESSAGE_TYPE in {f.id for f in cred.findings}


def test_credentials_without_token() -> None:
    cred = authlens.decode_credentials("NTLM")
    assert ntlm.NTLM_MISSING_TOKEN in {f.id for f in cred.findings}


def test_not_an_ntlm_message_in_valid_base64() -> None:
    cred = authlens.decode_credentials(f"NTLM {b64(b'hello world, not ntlm')}")
    assert m.NTLM_BAD_SIGNATURE in {f.id for f in cred.findings}
    assert "hello" not in jsonout.dumps(cred.to_json())
