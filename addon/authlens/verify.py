"""Opt-in verification of Digest and NTLMv2 responses against a known test password.

Given the password the user says the client should have used, recompute what the client
sent and tell "the password is wrong" from "the client computed the response wrongly".
The password only ever lives in the caller's memory: nothing here logs or returns it.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    MATCH = "match"  # the client used this password and computed correctly
    WRONG_PASSWORD = "wrong-password"  # consistent computation, different password
    CLIENT_ERROR = "client-error"  # the password fits only with a wrong input (uri, nc, ...)
    CANNOT_TELL = "cannot-tell"  # not enough in the capture to recompute


@dataclass(frozen=True, slots=True)
class VerifyResult:
    outcome: Outcome
    detail: str  # one sentence, never containing the password


def md4(data: bytes) -> bytes:
    """MD4 (RFC 1320), needed for the NT hash; OpenSSL 3 no longer offers it by default."""
    try:
        return hashlib.new("md4", data).digest()
    except ValueError:
        pass

    def rol(x: int, n: int) -> int:
        x &= 0xFFFFFFFF
        return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF

    msg = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack("<Q", len(data) * 8)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[off : off + 64])
        aa, bb, cc, dd = a, b, c, d
        for i in (0, 4, 8, 12):  # round 1
            a = rol(a + ((b & c) | (~b & d)) + x[i], 3)
            d = rol(d + ((a & b) | (~a & c)) + x[i + 1], 7)
            c = rol(c + ((d & a) | (~d & b)) + x[i + 2], 11)
            b = rol(b + ((c & d) | (~c & a)) + x[i + 3], 19)
        for i in (0, 1, 2, 3):  # round 2
            a = rol(a + ((b & c) | (b & d) | (c & d)) + x[i] + 0x5A827999, 3)
            d = rol(d + ((a & b) | (a & c) | (b & c)) + x[i + 4] + 0x5A827999, 5)
            c = rol(c + ((d & a) | (d & b) | (a & b)) + x[i + 8] + 0x5A827999, 9)
            b = rol(b + ((c & d) | (c & a) | (d & a)) + x[i + 12] + 0x5A827999, 13)
        for i in (0, 2, 1, 3):  # round 3
            a = rol(a + (b ^ c ^ d) + x[i] + 0x6ED9EBA1, 3)
            d = rol(d + (a ^ b ^ c) + x[i + 8] + 0x6ED9EBA1, 9)
            c = rol(c + (d ^ a ^ b) + x[i + 4] + 0x6ED9EBA1, 11)
            b = rol(b + (c ^ d ^ a) + x[i + 12] + 0x6ED9EBA1, 15)
        a, b, c, d = (a + aa) & 0xFFFFFFFF, (b + bb) & 0xFFFFFFFF, (c + cc) & 0xFFFFFFFF, (d + dd) & 0xFFFFFFFF
    return struct.pack("<4I", a, b, c, d)


def nt_owf_v2(password: str, user: str, domain: str) -> bytes:
    """NTOWFv2 (MS-NLMP §3.3.2): HMAC-MD5 over upper(user)+domain keyed by the NT hash."""
    nt_hash = md4(password.encode("utf-16-le"))
    return hmac.new(nt_hash, (user.upper() + domain).encode("utf-16-le"), "md5").digest()


def verify_ntlmv2(
    password: str, user: str, domain: str, server_challenge: bytes, nt_response: bytes
) -> VerifyResult:
    """Recompute NTProofStr from the AUTHENTICATE message's NtChallengeResponse.

    NtChallengeResponse = NTProofStr (16 bytes) || client blob; NTProofStr =
    HMAC-MD5(NTOWFv2, ServerChallenge || blob) (MS-NLMP §3.3.2).
    """
    if len(server_challenge) != 8 or len(nt_response) <= 24:
        return VerifyResult(
            Outcome.CANNOT_TELL,
            "The capture lacks the server challenge or an NTLMv2 response to recompute.",
        )
    proof, blob = nt_response[:16], nt_response[16:]
    # Clients differ on the domain they hash: the one sent, or none (local accounts).
    for candidate_domain in dict.fromkeys((domain, domain.upper(), "")):
        key = nt_owf_v2(password, user, candidate_domain)
        if hmac.compare_digest(hmac.new(key, server_challenge + blob, "md5").digest(), proof):
            where = f"domain '{candidate_domain}'" if candidate_domain else "an empty domain"
            return VerifyResult(
                Outcome.MATCH,
                f"The NTLMv2 response matches the known password for '{user}' with {where}.",
            )
    return VerifyResult(
        Outcome.WRONG_PASSWORD,
        f"The NTLMv2 response does not match the known password for '{user}': the client "
        "used a different password (or a different user or domain spelling).",
    )
