"""NTLM messages (MS-NLMP §2.2.1) from bytes to a redacted, JSON-safe summary.

Used by the ``NTLM`` scheme and for the NTLM tokens that ``Negotiate`` carries when
Kerberos was not used. Decoding is total: every (Len, MaxLen, BufferOffset) triple is
checked against the message before it is read (pyspnego's ``_unpack_payload`` does not,
see STYLE.md §5), a violation becomes a finding, and the rest of the message is still
shown. Secret material (LM/NT responses, NTProofStr, the encrypted session key, the MIC)
is only ever put in the summary as :class:`~authlens.secret.Secret`.

The summary is the contract other code reads (diagnoses look at ``message_type``,
``response_version``, ``channel_bindings``, ``mic_present``, ...); :class:`NtlmFacts`
reads those keys back into a typed view.

Spec: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-nlmp/ — NEGOTIATE
§2.2.1.1 (b34032e5-3aae-4bc6-84c3-c6d80eadf7f2), CHALLENGE §2.2.1.2
(801a4681-8809-4be9-ab0d-61dcfe762786), AUTHENTICATE §2.2.1.3
(033d32cc-88f9-4483-9bf2-b273055038ce), AV_PAIR §2.2.2.1
(83f5e789-660d-4781-8491-5f8c6641f75e), NegotiateFlags §2.2.2.5
(99d90ff4-957f-4c8a-80e4-5bfe5a9a9832), NTLMv2_CLIENT_CHALLENGE §2.2.2.7
(aee311d6-21a7-4470-92a5-c4ecb022a87b), VERSION §2.2.2.10
(b1a6ceb2-f8ad-462b-b5af-f18527c48175).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from authlens.findings import Finding, error, info, warning
from authlens.schemes import Decoded
from authlens.schemes._der import Meter, clip, printable
from authlens.secret import Secret

SIGNATURE = b"NTLMSSP\x00"

NEGOTIATE = "NEGOTIATE"
CHALLENGE = "CHALLENGE"
AUTHENTICATE = "AUTHENTICATE"
MESSAGE_TYPES = {1: NEGOTIATE, 2: CHALLENGE, 3: AUTHENTICATE}
STEPS = {NEGOTIATE: 1, CHALLENGE: 2, AUTHENTICATE: 3}

# response_version values.
NTLMV2 = "NTLMv2"
NTLMV1 = "NTLMv1"
NTLMV1_ESS = "NTLMv1-ESS"  # NTLMv1 with extended session security ("NTLM2 session response")
ANONYMOUS = "anonymous"

# channel_bindings values: the MsvAvChannelBindings AV pair of an NTLMv2 AUTHENTICATE.
CB_PRESENT = "present"
CB_ALL_ZERO = "all zero"
CB_ABSENT = "absent"

# Finding IDs.
NTLM_BAD_SIGNATURE = "ntlm-bad-signature"
NTLM_UNKNOWN_MESSAGE_TYPE = "ntlm-unknown-message-type"
NTLM_TRUNCATED = "ntlm-truncated"
NTLM_FIELD_OUT_OF_BOUNDS = "ntlm-field-out-of-bounds"
NTLM_FIELD_OVERLAPS_HEADER = "ntlm-field-overlaps-header"
NTLM_FIELD_MAXLEN = "ntlm-field-maxlen-mismatch"
NTLM_ODD_UTF16 = "ntlm-odd-utf16-length"
NTLM_AV_PAIR_MALFORMED = "ntlm-av-pair-malformed"
NTLM_AV_PAIR_DUPLICATE = "ntlm-av-pair-duplicate"
NTLM_AV_EOL_MISSING = "ntlm-av-eol-missing"
NTLM_BAD_RESPONSE_LENGTH = "ntlm-bad-response-length"
NTLM_BAD_RESPONSE_TYPE = "ntlm-bad-response-type"
NTLM_V1_RESPONSE = "ntlm-v1-response"
NTLM_ANONYMOUS = "ntlm-anonymous"
NTLM_MIC_MISSING = "ntlm-mic-missing"
NTLM_NO_CHARSET = "ntlm-no-charset"

REF = "MS-NLMP"
REF_NEGOTIATE = "MS-NLMP §2.2.1.1"
REF_CHALLENGE = "MS-NLMP §2.2.1.2"
REF_AUTHENTICATE = "MS-NLMP §2.2.1.3"
REF_AV_PAIR = "MS-NLMP §2.2.2.1"
REF_FLAGS = "MS-NLMP §2.2.2.5"
REF_V2_RESPONSE = "MS-NLMP §2.2.2.8"
REF_MIC = "MS-NLMP §3.1.5.1.2"

MAX_AV_PAIRS = 64

# NegotiateFlags by their MS-NLMP §2.2.2.5 names. Reserved bits (r1-r10) have no name
# and are shown as UNKNOWN with their value, like every bit not listed here. The J bit
# has no alternate name in the spec; NTLMSSP_NEGOTIATE_ANONYMOUS is the common one.
FLAG_NAMES: dict[int, str] = {
    0x00000001: "NTLMSSP_NEGOTIATE_UNICODE",
    0x00000002: "NTLM_NEGOTIATE_OEM",
    0x00000004: "NTLMSSP_REQUEST_TARGET",
    0x00000010: "NTLMSSP_NEGOTIATE_SIGN",
    0x00000020: "NTLMSSP_NEGOTIATE_SEAL",
    0x00000040: "NTLMSSP_NEGOTIATE_DATAGRAM",
    0x00000080: "NTLMSSP_NEGOTIATE_LM_KEY",
    0x00000200: "NTLMSSP_NEGOTIATE_NTLM",
    0x00000800: "NTLMSSP_NEGOTIATE_ANONYMOUS",
    0x00001000: "NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED",
    0x00002000: "NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED",
    0x00008000: "NTLMSSP_NEGOTIATE_ALWAYS_SIGN",
    0x00010000: "NTLMSSP_TARGET_TYPE_DOMAIN",
    0x00020000: "NTLMSSP_TARGET_TYPE_SERVER",
    0x00080000: "NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY",
    0x00100000: "NTLMSSP_NEGOTIATE_IDENTIFY",
    0x00400000: "NTLMSSP_REQUEST_NON_NT_SESSION_KEY",
    0x00800000: "NTLMSSP_NEGOTIATE_TARGET_INFO",
    0x02000000: "NTLMSSP_NEGOTIATE_VERSION",
    0x20000000: "NTLMSSP_NEGOTIATE_128",
    0x40000000: "NTLMSSP_NEGOTIATE_KEY_EXCH",
    0x80000000: "NTLMSSP_NEGOTIATE_56",
}
F_UNICODE = 0x00000001
F_OEM = 0x00000002
F_ANONYMOUS = 0x00000800
F_ESS = 0x00080000
F_VERSION = 0x02000000
F_KEY_EXCH = 0x40000000

# AV_PAIR AvId values (MS-NLMP §2.2.2.1).
AV_EOL = 0
AV_NAMES: dict[int, str] = {
    0: "MsvAvEOL",
    1: "MsvAvNbComputerName",
    2: "MsvAvNbDomainName",
    3: "MsvAvDnsComputerName",
    4: "MsvAvDnsDomainName",
    5: "MsvAvDnsTreeName",
    6: "MsvAvFlags",
    7: "MsvAvTimestamp",
    8: "MsvAvSingleHost",
    9: "MsvAvTargetName",
    10: "MsvAvChannelBindings",
}
_AV_TEXT = {1, 2, 3, 4, 5, 9}
AV_FLAG_NAMES: dict[int, str] = {
    0x1: "AUTHENTICATION_CONSTRAINED",
    0x2: "MIC_PROVIDED",
    0x4: "UNTRUSTED_SPN_SOURCE",
}
AV_FLAG_MIC = 0x2

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def flag_names(value: int, names: Mapping[int, str] = FLAG_NAMES, width: int = 8) -> list[str]:
    """Names of the set bits, lowest first; a bit without a name is ``UNKNOWN (0x...)``."""
    out: list[str] = []
    for bit in range(32):
        mask = 1 << bit
        if value & mask:
            out.append(names.get(mask) or f"UNKNOWN (0x{mask:0{width}x})")
    return out


def filetime_to_iso(value: int) -> str | None:
    """A FILETIME (100 ns ticks since 1601-01-01 UTC) as ISO 8601, ``None`` if out of range."""
    try:
        return (_FILETIME_EPOCH + timedelta(microseconds=value // 10)).isoformat(timespec="seconds")
    except OverflowError:
        return None


@dataclass(frozen=True, slots=True)
class NtlmFacts:
    """The facts diagnoses need about one NTLM message, read back from its summary.

    Build it with :func:`parse_ntlm` or :meth:`from_summary` (which also works on a
    summary after a JSON round trip, except that Secrets are fingerprints by then).
    """

    message_type: str | None
    flags: tuple[str, ...] = ()
    user: str | None = None
    domain: str | None = None
    workstation: str | None = None
    server_challenge: str | None = None
    target_name: str | None = None
    target_info: Mapping[str, Any] = field(default_factory=dict, compare=False)
    response_version: str | None = None
    channel_bindings: str | None = None
    mic_present: bool = False
    session_key_present: bool = False
    spn: str | None = None

    @property
    def step(self) -> int | None:
        return STEPS.get(self.message_type or "")

    @property
    def is_v2(self) -> bool:
        return self.response_version == NTLMV2

    @property
    def is_anonymous(self) -> bool:
        return self.response_version == ANONYMOUS

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> NtlmFacts:
        def text(key: str) -> str | None:
            value = summary.get(key)
            return value if isinstance(value, str) else None

        target_info = summary.get("target_info")
        return cls(
            message_type=text("message_type"),
            flags=tuple(f for f in summary.get("flags") or () if isinstance(f, str)),
            user=text("user"),
            domain=text("domain"),
            workstation=text("workstation"),
            server_challenge=text("server_challenge"),
            target_name=text("target_name"),
            target_info=dict(target_info) if isinstance(target_info, Mapping) else {},
            response_version=text("response_version"),
            channel_bindings=text("channel_bindings"),
            mic_present=summary.get("mic_present") is True,
            session_key_present=summary.get("session_key_present") is True,
            spn=text("spn"),
        )


def decode_ntlm(data: bytes, meter: Meter | None = None, *, peer: str = "server") -> Decoded:
    """Decode one NTLM message; total: any bytes give a :class:`Decoded`, never an exception.

    ``peer`` ("server" or "proxy") is who sent a CHALLENGE, for the plain sentence.
    """
    return _Parser(data, meter or Meter(), peer).run()


def parse_ntlm(
    data: bytes, meter: Meter | None = None, *, peer: str = "server"
) -> tuple[NtlmFacts, Decoded]:
    """:func:`decode_ntlm` plus the typed view of the result."""
    decoded = decode_ntlm(data, meter, peer=peer)
    return NtlmFacts.from_summary(decoded.summary), decoded


def is_ntlm(data: bytes) -> bool:
    return data.startswith(SIGNATURE)


@dataclass(frozen=True, slots=True)
class _Field:
    """One (Len, MaxLen, BufferOffset) triple and whether it lies inside the message."""

    name: str
    length: int
    max_length: int
    offset: int
    in_bounds: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "len": self.length,
            "max_len": self.max_length,
            "buffer_offset": self.offset,
            "in_bounds": self.in_bounds,
        }


class _Parser:
    def __init__(self, data: bytes, meter: Meter, peer: str) -> None:
        self.data = data
        self.meter = meter
        self.peer = peer
        self.findings: list[Finding] = []
        self.summary: dict[str, Any] = {
            "mechanism": "NTLM",
            "message_type": None,
            "length": len(data),
        }
        self.flags = 0
        self.truncated_at: str | None = None

    # -- primitives ----------------------------------------------------------------

    def note(self, finding: Finding) -> None:
        if finding not in self.findings:
            self.findings.append(finding)

    def have(self, offset: int, size: int, what: str, ref: str) -> bool:
        """Whether the fixed header field ``what`` at ``offset`` is inside the message."""
        if offset + size <= len(self.data):
            return True
        if self.truncated_at is None:
            self.truncated_at = what
            kind = self.summary["message_type"]
            name = f"NTLM {kind} message" if kind else "NTLM message"
            self.note(
                error(
                    NTLM_TRUNCATED,
                    f"The {name} is {len(self.data)} bytes long and ends before its {what} "
                    "field; the fields after it are missing.",
                    ref,
                )
            )
        return False

    def u16(self, offset: int) -> int:
        return int(struct.unpack_from("<H", self.data, offset)[0])

    def u32(self, offset: int) -> int:
        return int(struct.unpack_from("<I", self.data, offset)[0])

    def field(self, name: str, at: int, header_end: int, ref: str) -> _Field | None:
        """Read the (Len, MaxLen, BufferOffset) triple at ``at`` and check it."""
        if not self.have(at, 8, f"{name}Fields", ref):
            return None
        length, max_length, offset = self.u16(at), self.u16(at + 2), self.u32(at + 4)
        in_bounds = offset + length <= len(self.data)
        f = _Field(name, length, max_length, offset, in_bounds)
        self.summary.setdefault("fields", {})[f"{name}Fields"] = f.to_json()
        if length and not in_bounds:
            self.note(
                error(
                    NTLM_FIELD_OUT_OF_BOUNDS,
                    f"The {name} field claims {length} bytes at offset {offset}, past the end "
                    f"of the {len(self.data)}-byte message; it was skipped.",
                    ref,
                )
            )
        elif length and offset < header_end:
            self.note(
                warning(
                    NTLM_FIELD_OVERLAPS_HEADER,
                    f"The {name} field starts at offset {offset}, inside the fixed header "
                    f"(which ends at {header_end}).",
                    ref,
                )
            )
        if max_length < length:
            self.note(
                warning(
                    NTLM_FIELD_MAXLEN,
                    f"The {name} field has MaxLen {max_length} below its Len {length}.",
                    ref,
                )
            )
        return f

    def payload(self, f: _Field | None) -> bytes | None:
        """The bytes a checked field points at, or ``None`` if empty or out of bounds."""
        if f is None or not f.length or not f.in_bounds:
            return None
        self.meter.tick(f.length)
        return self.data[f.offset : f.offset + f.length]

    def text(self, f: _Field | None, *, unicode: bool) -> str | None:
        raw = self.payload(f)
        if raw is None or f is None:
            return None
        if unicode:
            if len(raw) % 2:
                self.note(
                    warning(
                        NTLM_ODD_UTF16,
                        f"The {f.name} field is UTF-16 but has an odd length ({len(raw)} bytes).",
                        REF,
                    )
                )
            return clip(raw.decode("utf-16-le", "replace"))
        # OEM code page: the sender's; Windows-1252 is the usual Western one.
        return clip(raw.decode("cp1252", "replace"))

    def payload_start(self, fields: list[_Field | None]) -> int | None:
        """Where the payload begins: the lowest offset a non-empty, valid field points at."""
        offsets = [f.offset for f in fields if f is not None and f.length and f.in_bounds]
        return min(offsets, default=None)

    def version(self, at: int, payload_start: int | None, ref: str) -> None:
        """The VERSION structure (§2.2.2.10), present when NTLMSSP_NEGOTIATE_VERSION is set.

        A payload that starts where VERSION would be means the sender left it out (older
        implementations do), which is not an error.
        """
        if not self.flags & F_VERSION:
            return
        if payload_start is not None and payload_start < at + 8:
            return
        if not self.have(at, 8, "Version", ref):
            return
        major, minor, build = self.data[at], self.data[at + 1], self.u16(at + 2)
        revision = self.data[at + 7]
        self.summary["version"] = {
            "major": major,
            "minor": minor,
            "build": build,
            "ntlm_revision": revision,
            "text": f"{major}.{minor} build {build} (NTLM revision {revision})",
        }

    def read_flags(self, at: int, ref: str) -> None:
        if not self.have(at, 4, "NegotiateFlags", ref):
            return
        self.flags = self.u32(at)
        self.summary["flags"] = flag_names(self.flags)
        self.summary["flags_value"] = f"0x{self.flags:08x}"

    @property
    def unicode(self) -> bool:
        return bool(self.flags & F_UNICODE)

    # -- AV pairs ------------------------------------------------------------------

    def av_pairs(self, raw: bytes, where: str) -> dict[str, Any]:
        """Decode an AV_PAIR list (§2.2.2.1): names, flags, timestamp, SPN, channel bindings."""
        out: dict[str, Any] = {}
        pos = 0
        count = 0
        while True:
            self.meter.tick()
            if pos + 4 > len(raw):
                self.note(
                    warning(
                        NTLM_AV_EOL_MISSING,
                        f"The {where} AV pair list ends without MsvAvEOL.",
                        REF_AV_PAIR,
                    )
                )
                break
            av_id, av_len = struct.unpack_from("<HH", raw, pos)
            pos += 4
            if av_id == AV_EOL:
                out["MsvAvEOL"] = True
                break
            count += 1
            name = AV_NAMES.get(av_id, f"UNKNOWN (0x{av_id:04x})")
            if pos + av_len > len(raw):
                self.note(
                    error(
                        NTLM_AV_PAIR_MALFORMED,
                        f"The {where} AV pair {name} claims {av_len} bytes but only "
                        f"{len(raw) - pos} remain; the list was cut there.",
                        REF_AV_PAIR,
                    )
                )
                break
            value = raw[pos : pos + av_len]
            self.meter.tick(av_len)
            pos += av_len
            if count > MAX_AV_PAIRS:
                self.note(
                    warning(
                        NTLM_AV_PAIR_MALFORMED,
                        f"The {where} has more than {MAX_AV_PAIRS} AV pairs; the rest were "
                        "skipped.",
                        REF_AV_PAIR,
                    )
                )
                break
            if name in out:
                self.note(
                    warning(
                        NTLM_AV_PAIR_DUPLICATE,
                        f"The {where} holds {name} more than once; the first is shown.",
                        REF_AV_PAIR,
                    )
                )
                continue
            out[name] = self.av_value(av_id, name, value, where)
        return out

    def av_value(self, av_id: int, name: str, value: bytes, where: str) -> Any:
        def malformed(expected: str) -> None:
            self.note(
                warning(
                    NTLM_AV_PAIR_MALFORMED,
                    f"The {where} {name} is {len(value)} bytes long; {expected} were expected.",
                    REF_AV_PAIR,
                )
            )

        if av_id in _AV_TEXT:
            return clip(value.decode("utf-16-le", "replace"))
        if av_id == 6:  # MsvAvFlags
            if len(value) != 4:
                malformed("4")
            flags = int.from_bytes(value[:4].ljust(4, b"\0"), "little")
            return {"value": flags, "flags": flag_names(flags, AV_FLAG_NAMES)}
        if av_id == 7:  # MsvAvTimestamp: FILETIME
            if len(value) != 8:
                malformed("8")
                return None
            return filetime_to_iso(int.from_bytes(value, "little"))
        if av_id == 8:  # MsvAvSingleHost: Size, Z4, CustomData(8), MachineID(32)
            if len(value) < 48:
                malformed("48")
            return {
                "size": int.from_bytes(value[:4], "little") if len(value) >= 4 else None,
                "custom_data": value[8:16].hex() if len(value) >= 16 else None,
                # A per-boot random machine identifier: not a credential, but identifying.
                "machine_id": Secret(value[16:48]) if len(value) >= 48 else None,
            }
        if av_id == 10:  # MsvAvChannelBindings: MD5 of gss_channel_bindings_struct
            if len(value) != 16:
                malformed("16")
            return {
                "state": CB_ALL_ZERO if not any(value) else CB_PRESENT,
                # Kept (as a fingerprint) so it can be compared with the hash the proxy's
                # or the server's certificate would give.
                "hash": Secret(value.hex()),
            }
        return {"length": len(value)}

    # -- messages ------------------------------------------------------------------

    def run(self) -> Decoded:
        data = self.data
        if not data.startswith(SIGNATURE):
            self.note(
                error(
                    NTLM_BAD_SIGNATURE,
                    f"This is not an NTLM message: it does not start with the NTLMSSP "
                    f"signature ({len(data)} bytes).",
                    REF,
                )
            )
            return Decoded(self.summary, self.findings, "The token is not an NTLM message.")
        if not self.have(8, 4, "MessageType", REF):
            return Decoded(
                self.summary, self.findings, "The NTLM message is cut off after its signature."
            )
        number = self.u32(8)
        kind = MESSAGE_TYPES.get(number)
        self.summary["message_type"] = kind
        if kind is None:
            self.summary["message_type_number"] = number
            self.note(
                error(
                    NTLM_UNKNOWN_MESSAGE_TYPE,
                    f"The NTLM message type is {number}; only 1 (NEGOTIATE), 2 (CHALLENGE) and "
                    "3 (AUTHENTICATE) exist.",
                    REF,
                )
            )
            return Decoded(
                self.summary, self.findings, f"The NTLM message has an unknown type ({number})."
            )
        self.summary["step"] = STEPS[kind]
        if kind == NEGOTIATE:
            plain = self.negotiate()
        elif kind == CHALLENGE:
            plain = self.challenge()
        else:
            plain = self.authenticate()
        return Decoded(self.summary, self.findings, plain)

    def negotiate(self) -> str:
        """NEGOTIATE_MESSAGE, §2.2.1.1: the client's opening offer (step 1 of 3)."""
        self.summary.update(flags=[], domain=None, workstation=None)
        self.read_flags(12, REF_NEGOTIATE)
        domain = self.field("DomainName", 16, 32, REF_NEGOTIATE)
        workstation = self.field("Workstation", 24, 32, REF_NEGOTIATE)
        self.version(32, self.payload_start([domain, workstation]), REF_NEGOTIATE)
        # Both are in the OEM character set whatever the flags say (§2.2.1.1).
        domain_text = self.text(domain, unicode=False)
        workstation_text = self.text(workstation, unicode=False)
        self.summary["domain"] = domain_text
        self.summary["workstation"] = workstation_text
        where = ""
        if workstation_text:
            where += f" from workstation {printable(workstation_text)}"
        if domain_text:
            where += f" in domain {printable(domain_text)}"
        return (
            f"The client started NTLM authentication with a NEGOTIATE message (step 1 of 3){where}."
        )

    def challenge(self) -> str:
        """CHALLENGE_MESSAGE, §2.2.1.2: the server's nonce and who it is (step 2 of 3)."""
        header_end = 48
        self.summary.update(flags=[], server_challenge=None, target_name=None, target_info={})
        target_name = self.field("TargetName", 12, header_end, REF_CHALLENGE)
        self.read_flags(20, REF_CHALLENGE)
        if self.have(24, 8, "ServerChallenge", REF_CHALLENGE):
            # A nonce sent in the clear, not a secret; needed to match the AUTHENTICATE leg.
            self.summary["server_challenge"] = self.data[24:32].hex()
        target_info = self.field("TargetInfo", 40, header_end, REF_CHALLENGE)
        self.version(48, self.payload_start([target_name, target_info]), REF_CHALLENGE)
        name = self.text(target_name, unicode=self.unicode)
        self.summary["target_name"] = name
        raw_info = self.payload(target_info)
        info_pairs = self.av_pairs(raw_info, "CHALLENGE TargetInfo") if raw_info is not None else {}
        self.summary["target_info"] = info_pairs
        who = name or info_pairs.get("MsvAvNbDomainName") or info_pairs.get("MsvAvDnsDomainName")
        target = f" for {printable(who)}" if who else ""
        return (
            f"The {self.peer} answered with an NTLM CHALLENGE (step 2 of 3){target}; the client "
            "must now send an AUTHENTICATE message on the same connection."
        )

    def authenticate(self) -> str:
        """AUTHENTICATE_MESSAGE, §2.2.1.3: the client's proof (step 3 of 3)."""
        header_end = 64
        ref = REF_AUTHENTICATE
        self.summary["flags"] = []
        lm = self.field("LmChallengeResponse", 12, header_end, ref)
        nt = self.field("NtChallengeResponse", 20, header_end, ref)
        domain = self.field("DomainName", 28, header_end, ref)
        user = self.field("UserName", 36, header_end, ref)
        workstation = self.field("Workstation", 44, header_end, ref)
        session_key = self.field("EncryptedRandomSessionKey", 52, header_end, ref)
        self.read_flags(60, ref)
        if not self.flags & (F_UNICODE | F_OEM) and "flags" in self.summary:
            self.note(
                warning(
                    NTLM_NO_CHARSET,
                    "Neither NTLMSSP_NEGOTIATE_UNICODE nor NTLM_NEGOTIATE_OEM is set; names "
                    "were read as OEM text.",
                    REF_FLAGS,
                )
            )
        start = self.payload_start([lm, nt, domain, user, workstation, session_key])
        self.version(64, start, ref)
        s = self.summary
        s["domain"] = self.text(domain, unicode=self.unicode)
        s["user"] = self.text(user, unicode=self.unicode)
        s["workstation"] = self.text(workstation, unicode=self.unicode)

        lm_raw = self.payload(lm)
        nt_raw = self.payload(nt)
        s["lm_response"] = Secret(lm_raw) if lm_raw else None
        s["nt_response"] = Secret(nt_raw) if nt_raw else None
        key_raw = self.payload(session_key)
        s["session_key_present"] = key_raw is not None
        s["encrypted_session_key"] = Secret(key_raw) if key_raw else None

        s["response_version"] = self.response_version(nt, nt_raw, lm_raw)
        blob_pairs: dict[str, Any] = {}
        if s["response_version"] == NTLMV2 and nt_raw is not None:
            blob_pairs = self.ntlmv2(nt_raw)
        s["target_info"] = blob_pairs

        # MIC (§2.2.1.3): 16 bytes after VERSION when MsvAvFlags says it is provided.
        av_flags = blob_pairs.get("MsvAvFlags")
        mic_declared = isinstance(av_flags, dict) and bool(av_flags["value"] & AV_FLAG_MIC)
        mic_room = len(self.data) >= 88 and (start is None or start >= 88)
        s["mic_present"] = mic_declared and mic_room
        s["mic"] = Secret(self.data[72:88]) if mic_declared and mic_room else None
        if mic_declared and not mic_room:
            self.note(
                error(
                    NTLM_MIC_MISSING,
                    "MsvAvFlags says a MIC is provided, but the message has no room for it.",
                    REF_MIC,
                )
            )

        cb = blob_pairs.get("MsvAvChannelBindings")
        if s["response_version"] == NTLMV2:
            s["channel_bindings"] = cb["state"] if isinstance(cb, dict) else CB_ABSENT
        else:
            s["channel_bindings"] = None
        spn = blob_pairs.get("MsvAvTargetName")
        s["spn"] = spn if isinstance(spn, str) and spn else None

        who = s["user"] or ""
        if who and s["domain"]:
            who = f"{s['domain']}\\{who}"
        if s["response_version"] == ANONYMOUS:
            return (
                "The client sent an anonymous NTLM AUTHENTICATE message (step 3 of 3), "
                "with no user."
            )
        kind = {NTLMV2: "an NTLMv2", NTLMV1: "an NTLMv1", NTLMV1_ESS: "an NTLMv1"}.get(
            s["response_version"] or "", "an"
        )
        for_user = f" for user {printable(who)}" if who else ""
        from_ws = f" from workstation {printable(s['workstation'])}" if s["workstation"] else ""
        return f"The client sent {kind} AUTHENTICATE message (step 3 of 3){for_user}{from_ws}."

    def response_version(
        self, nt: _Field | None, nt_raw: bytes | None, lm_raw: bytes | None
    ) -> str | None:
        """NTLMv1, v1 with ESS, v2 or anonymous, by the NtChallengeResponse length (§3.3)."""
        if nt is None:
            return None
        if nt.length == 0:
            if lm_raw is None or lm_raw == b"\0":
                self.note(
                    info(
                        NTLM_ANONYMOUS,
                        "The client authenticated anonymously (no NT response): the server sees "
                        "no user.",
                        REF_AUTHENTICATE,
                    )
                )
                return ANONYMOUS
            return None  # LM-only: ancient, shown by the lm_response alone
        if nt_raw is None:
            return None  # out of bounds, already reported
        if nt.length == 24:
            v1 = NTLMV1_ESS if self.flags & F_ESS else NTLMV1
            self.note(
                warning(
                    NTLM_V1_RESPONSE,
                    "The client answered with an NTLMv1 response; servers that require NTLMv2 "
                    "(LmCompatibilityLevel 5, the Windows default) refuse it.",
                    "MS-NLMP §3.3.1",
                )
            )
            return v1
        if nt.length >= 16 + 28:
            return NTLMV2
        self.note(
            error(
                NTLM_BAD_RESPONSE_LENGTH,
                f"The NtChallengeResponse is {nt.length} bytes: neither NTLMv1 (24) nor "
                "NTLMv2 (44 or more).",
                REF_V2_RESPONSE,
            )
        )
        return None

    def ntlmv2(self, nt_raw: bytes) -> dict[str, Any]:
        """NTLMv2_RESPONSE (§2.2.2.8): NTProofStr, then the client challenge blob (§2.2.2.7)."""
        blob = nt_raw[16:]
        resp_type, hi_resp_type = blob[0], blob[1]
        timestamp = filetime_to_iso(int.from_bytes(blob[8:16], "little"))
        pairs = self.av_pairs(blob[28:], "NTLMv2 response")
        self.summary["ntlmv2_response"] = {
            "nt_proof_str": Secret(nt_raw[:16]),
            "resp_type": resp_type,
            "hi_resp_type": hi_resp_type,
            "timestamp": timestamp,
            "client_challenge": Secret(blob[16:24]),
        }
        if resp_type != 1 or hi_resp_type != 1:
            self.note(
                warning(
                    NTLM_BAD_RESPONSE_TYPE,
                    f"The NTLMv2 response has RespType {resp_type} and HiRespType "
                    f"{hi_resp_type}; both must be 1.",
                    "MS-NLMP §2.2.2.7",
                )
            )
        return pairs
