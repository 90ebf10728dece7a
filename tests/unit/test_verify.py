"""Verification against known test credentials: MD4 vectors and real pyspnego NTLMv2."""

from __future__ import annotations

import struct

import pytest

from authlens import verify


@pytest.mark.parametrize(
    ("data", "digest"),
    [  # RFC 1320 §A.5
        (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
        (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
        (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
        (b"message digest", "d9130a8164549fe818874806e1c7014b"),
        (
            b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "e33b4ddc9c38f2199c3e7b164fcc0536",
        ),
    ],
)
def test_md4_rfc1320_vectors(data: bytes, digest: str) -> None:
    assert verify.md4(data).hex() == digest


def test_nt_owf_v2_ms_nlmp_4_2_4_vector() -> None:
    # MS-NLMP §4.2.4.1.1: User "User", UserDom "Domain", Password "Password".
    assert (
        verify.nt_owf_v2("Password", "User", "Domain").hex() == "0c868a403bfd7a93a3001ef22ef02e3f"
    )


def _ntlm_legs(
    password: str, tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> tuple[bytes, bytes]:
    spnego = pytest.importorskip("spnego")
    users = tmp_path / "users"  # type: ignore[operator]
    users.write_text("DOMAIN:alice:Passw0rd!\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    client = spnego.client("alice", password, hostname="srv", protocol="ntlm")
    server = spnego.server(protocol="ntlm")
    type1 = client.step()
    type2 = server.step(type1)
    type3 = client.step(type2)
    return type2, type3


def _fields(type2: bytes, type3: bytes) -> tuple[bytes, bytes, str, str]:
    server_challenge = type2[24:32]
    nt_len, _, nt_off = struct.unpack("<HHI", type3[20:28])
    dom_len, _, dom_off = struct.unpack("<HHI", type3[28:36])
    user_len, _, user_off = struct.unpack("<HHI", type3[36:44])
    return (
        server_challenge,
        type3[nt_off : nt_off + nt_len],
        type3[dom_off : dom_off + dom_len].decode("utf-16-le"),
        type3[user_off : user_off + user_len].decode("utf-16-le"),
    )


def test_ntlmv2_real_handshake_matches_the_right_password(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    challenge, nt_response, domain, user = _fields(*_ntlm_legs("Passw0rd!", tmp_path, monkeypatch))
    result = verify.verify_ntlmv2("Passw0rd!", user, domain, challenge, nt_response)
    assert result.outcome is verify.Outcome.MATCH
    wrong = verify.verify_ntlmv2("guess", user, domain, challenge, nt_response)
    assert wrong.outcome is verify.Outcome.WRONG_PASSWORD
    assert "Passw0rd!" not in result.detail + wrong.detail


def test_ntlmv2_without_server_challenge_cannot_tell() -> None:
    assert (
        verify.verify_ntlmv2("x", "u", "d", b"", b"\0" * 40).outcome is verify.Outcome.CANNOT_TELL
    )


def _evidence_of_final_leg(config_password: str) -> str:
    import dataclasses

    from diagnose_helpers import CASES, load_case, run

    case = load_case(CASES / "credentials-rejected_4.json")
    config = dataclasses.replace(case.config, known_credentials={"CORP\\alice": config_password})
    verdicts = run(case.exchanges, config)
    text = ""
    for verdict in verdicts.values():
        for diagnosis in verdict.metadata["diagnoses"]:
            text += " ".join(diagnosis["evidence"]) + "\n"
    return text


def test_engine_says_whether_the_ntlm_password_was_wrong() -> None:
    # The case's client used a wrong password; the known one is Passw0rd!.
    text = _evidence_of_final_leg("Passw0rd!")
    assert "Verified" in text and "does not match the known password" in text
    assert "Passw0rd!" not in text
