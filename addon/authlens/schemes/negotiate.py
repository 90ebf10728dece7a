"""The ``Negotiate`` (RFC 4559) and raw ``Kerberos`` HTTP authentication schemes.

A Negotiate token is base64 of a GSS-API token, which in practice is one of:

* an SPNEGO token (RFC 4178): the ``InitialContextToken`` ``[APPLICATION 0]`` with OID
  1.3.6.1.5.5.2 around a ``NegTokenInit`` (the client's list of mechanisms and first
  token), or a bare ``NegTokenResp`` ``[1]`` (accept-completed, accept-incomplete, reject,
  request-mic) with the next token;
* a bare Kerberos GSS token (RFC 4121 §4.1): OID 1.2.840.113554.1.2.2, a two-byte token
  ID, then an AP-REQ, AP-REP or KRB-ERROR (RFC 4120 §5.5.1, §5.5.2, §5.9.1);
* a raw NTLM message, which Windows sends when it falls back from Kerberos.

Whatever is inside is decoded in turn (NTLM by :mod:`authlens.schemes._ntlmmsg`,
Kerberos and SPNEGO by the bounded reader in :mod:`authlens.schemes._der`); a broken inner
token still shows its wrapper, with findings for what could not be read. Tickets and
authenticators are encrypted; their ciphertext appears only as a
:class:`~authlens.secret.Secret`. When the token carries NTLM instead of Kerberos the
finding ``negotiate-carries-ntlm`` says so: it is what the ``kerberos-fallback``
diagnosis is built on.

pyspnego is not needed: everything here is read with authlens's own bounded decoder,
which keeps decoding total and linear on hostile input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authlens.findings import Finding, Severity, error, info, warning
from authlens.schemes import AuthInput, Decoded, Decoder, Scheme, register
from authlens.schemes._der import (
    APPLICATION,
    CONTEXT,
    DER_TRAILING_DATA,
    ENUMERATED,
    SEQUENCE,
    UNIVERSAL,
    DerReader,
    Meter,
    Tlv,
    printable,
)
from authlens.schemes._ntlmmsg import (
    CHALLENGE,
    NTLMV1,
    NTLMV1_ESS,
    NTLMV2,
    STEPS,
    NtlmFacts,
    decode_ntlm,
    is_ntlm,
)
from authlens.schemes.ntlm import (
    STATE_CLIENT_MUST_START,
    STATE_COMPLETE,
    STATE_CONTINUE,
    STATE_ERROR,
    STATE_REJECTED,
    decode_base64_token,
)
from authlens.secret import Secret

# Mechanism OIDs.
SPNEGO = "1.3.6.1.5.5.2"
KERBEROS = "1.2.840.113554.1.2.2"
MS_KERBEROS = "1.2.840.48018.1.2.2"  # the legacy OID Windows lists first
KERBEROS_U2U = "1.2.840.113554.1.2.2.3"
IAKERB = "1.3.6.1.5.2.5"
NTLMSSP = "1.3.6.1.4.1.311.2.2.10"
NEGOEX = "1.3.6.1.4.1.311.2.2.30"

MECH_NAMES: dict[str, str] = {
    SPNEGO: "SPNEGO",
    KERBEROS: "Kerberos",
    MS_KERBEROS: "MS-Kerberos",
    KERBEROS_U2U: "Kerberos-U2U",
    IAKERB: "IAKerb",
    NTLMSSP: "NTLMSSP",
    NEGOEX: "NegoEx",
}
# The authentication protocol each mechanism amounts to ("mechanism" in summaries).
NTLM = "NTLM"
KERBEROS_FAMILY = "Kerberos"
NEGOEX_FAMILY = "NegoEx"
MECH_FAMILY: dict[str, str] = {
    KERBEROS: KERBEROS_FAMILY,
    MS_KERBEROS: KERBEROS_FAMILY,
    KERBEROS_U2U: KERBEROS_FAMILY,
    IAKERB: KERBEROS_FAMILY,
    NTLMSSP: NTLM,
    NEGOEX: NEGOEX_FAMILY,
}
_KERBEROS_GSS_OIDS = {KERBEROS, MS_KERBEROS, KERBEROS_U2U, IAKERB}

# Finding IDs.
NEGOTIATE_CARRIES_NTLM = "negotiate-carries-ntlm"
NEGOTIATE_MISSING_TOKEN = "negotiate-missing-token"
NEGOTIATE_UNEXPECTED_PARAMS = "negotiate-unexpected-params"
NEGOTIATE_UNKNOWN_TOKEN = "negotiate-unknown-token"
NEGOTIATE_UNKNOWN_MECH = "negotiate-unknown-mech"
NEGOTIATE_NESTING_TOO_DEEP = "negotiate-nesting-too-deep"
SPNEGO_INNER_TOKEN_BROKEN = "spnego-inner-token-broken"
SPNEGO_MISSING_MECH_TYPES = "spnego-missing-mech-types"
SPNEGO_REJECTED = "spnego-rejected"
SPNEGO_TOO_MANY_MECH_TYPES = "spnego-too-many-mech-types"
KERBEROS_ERROR = "kerberos-error"
KERBEROS_MALFORMED = "kerberos-malformed"
KERBEROS_WEAK_ETYPE = "kerberos-weak-etype"

REF_NEGOTIATE = "RFC 4559 §4"
REF_GSS = "RFC 2743 §3.1"
REF_SPNEGO_INIT = "RFC 4178 §4.2.1"
REF_SPNEGO_RESP = "RFC 4178 §4.2.2"
REF_KRB_GSS = "RFC 4121 §4.1"
REF_AP_REQ = "RFC 4120 §5.5.1"
REF_AP_REP = "RFC 4120 §5.5.2"
REF_KRB_ERROR = "RFC 4120 §5.9.1"
REF_ERROR_CODES = "RFC 4120 §7.5.9"
REF_ETYPES = "RFC 3961 §8; RFC 8429"

MAX_NESTING = 3
MAX_MECH_TYPES = 32  # real clients offer at most a handful

# SPNEGO ContextFlags, RFC 4178 §4.2.1.
REQ_FLAG_NAMES = [
    "delegFlag",
    "mutualFlag",
    "replayFlag",
    "sequenceFlag",
    "anonFlag",
    "confFlag",
    "integFlag",
]
NEG_STATES = {0: "accept-completed", 1: "accept-incomplete", 2: "reject", 3: "request-mic"}
_NEG_STATE_TO_STATE = {
    "accept-completed": STATE_COMPLETE,
    "accept-incomplete": STATE_CONTINUE,
    "reject": STATE_REJECTED,
    "request-mic": STATE_CONTINUE,
}

# Kerberos GSS token IDs, RFC 4121 §4.1 (and IAKERB, RFC draft-ietf-kitten-iakerb §3).
TOKEN_IDS = {0x0100: "AP-REQ", 0x0200: "AP-REP", 0x0300: "KRB-ERROR", 0x0501: "IAKERB-PROXY"}
# Kerberos message types, RFC 4120 §5.10 (they are also the APPLICATION tag numbers).
KRB_MESSAGE_TYPES = {
    10: "AS-REQ",
    11: "AS-REP",
    12: "TGS-REQ",
    13: "TGS-REP",
    14: "AP-REQ",
    15: "AP-REP",
    20: "KRB-SAFE",
    21: "KRB-PRIV",
    22: "KRB-CRED",
    30: "KRB-ERROR",
}
AP_OPTION_NAMES = {0: "reserved", 1: "use-session-key", 2: "mutual-required"}
# PrincipalName name-type, RFC 4120 §6.2 and RFC 6806 §5 (NT-ENTERPRISE).
NAME_TYPES = {
    0: "NT-UNKNOWN",
    1: "NT-PRINCIPAL",
    2: "NT-SRV-INST",
    3: "NT-SRV-HST",
    4: "NT-SRV-XHST",
    5: "NT-UID",
    6: "NT-X500-PRINCIPAL",
    7: "NT-SMTP-NAME",
    10: "NT-ENTERPRISE",
}
# Encryption types, IANA "Kerberos Encryption Type Numbers".
ETYPES = {
    1: "des-cbc-crc",
    2: "des-cbc-md4",
    3: "des-cbc-md5",
    5: "des3-cbc-md5",
    7: "des3-cbc-sha1",
    16: "des3-cbc-sha1-kd",
    17: "aes128-cts-hmac-sha1-96",
    18: "aes256-cts-hmac-sha1-96",
    19: "aes128-cts-hmac-sha256-128",
    20: "aes256-cts-hmac-sha384-192",
    23: "rc4-hmac",
    24: "rc4-hmac-exp",
    25: "camellia128-cts-cmac",
    26: "camellia256-cts-cmac",
}
WEAK_ETYPES = {1, 2, 3, 5, 7, 16, 23, 24}
# Error codes, RFC 4120 §7.5.9 (and RFC 4556/6113 for 62-76).
ERROR_NAMES = {
    0: "KDC_ERR_NONE",
    1: "KDC_ERR_NAME_EXP",
    2: "KDC_ERR_SERVICE_EXP",
    3: "KDC_ERR_BAD_PVNO",
    4: "KDC_ERR_C_OLD_MAST_KVNO",
    5: "KDC_ERR_S_OLD_MAST_KVNO",
    6: "KDC_ERR_C_PRINCIPAL_UNKNOWN",
    7: "KDC_ERR_S_PRINCIPAL_UNKNOWN",
    8: "KDC_ERR_PRINCIPAL_NOT_UNIQUE",
    9: "KDC_ERR_NULL_KEY",
    10: "KDC_ERR_CANNOT_POSTDATE",
    11: "KDC_ERR_NEVER_VALID",
    12: "KDC_ERR_POLICY",
    13: "KDC_ERR_BADOPTION",
    14: "KDC_ERR_ETYPE_NOSUPP",
    15: "KDC_ERR_SUMTYPE_NOSUPP",
    16: "KDC_ERR_PADATA_TYPE_NOSUPP",
    17: "KDC_ERR_TRTYPE_NOSUPP",
    18: "KDC_ERR_CLIENT_REVOKED",
    19: "KDC_ERR_SERVICE_REVOKED",
    20: "KDC_ERR_TGT_REVOKED",
    21: "KDC_ERR_CLIENT_NOTYET",
    22: "KDC_ERR_SERVICE_NOTYET",
    23: "KDC_ERR_KEY_EXPIRED",
    24: "KDC_ERR_PREAUTH_FAILED",
    25: "KDC_ERR_PREAUTH_REQUIRED",
    26: "KDC_ERR_SERVER_NOMATCH",
    27: "KDC_ERR_MUST_USE_USER2USER",
    28: "KDC_ERR_PATH_NOT_ACCEPTED",
    29: "KDC_ERR_SVC_UNAVAILABLE",
    31: "KRB_AP_ERR_BAD_INTEGRITY",
    32: "KRB_AP_ERR_TKT_EXPIRED",
    33: "KRB_AP_ERR_TKT_NYV",
    34: "KRB_AP_ERR_REPEAT",
    35: "KRB_AP_ERR_NOT_US",
    36: "KRB_AP_ERR_BADMATCH",
    37: "KRB_AP_ERR_SKEW",
    38: "KRB_AP_ERR_BADADDR",
    39: "KRB_AP_ERR_BADVERSION",
    40: "KRB_AP_ERR_MSG_TYPE",
    41: "KRB_AP_ERR_MODIFIED",
    42: "KRB_AP_ERR_BADORDER",
    44: "KRB_AP_ERR_BADKEYVER",
    45: "KRB_AP_ERR_NOKEY",
    46: "KRB_AP_ERR_MUT_FAIL",
    47: "KRB_AP_ERR_BADDIRECTION",
    48: "KRB_AP_ERR_METHOD",
    49: "KRB_AP_ERR_BADSEQ",
    50: "KRB_AP_ERR_INAPP_CKSUM",
    51: "KRB_AP_PATH_NOT_ACCEPTED",
    52: "KRB_ERR_RESPONSE_TOO_BIG",
    60: "KRB_ERR_GENERIC",
    61: "KRB_ERR_FIELD_TOOLONG",
    62: "KDC_ERROR_CLIENT_NOT_TRUSTED",
    63: "KDC_ERROR_KDC_NOT_TRUSTED",
    64: "KDC_ERROR_INVALID_SIG",
    65: "KDC_ERR_KEY_TOO_WEAK",
    66: "KDC_ERR_CERTIFICATE_MISMATCH",
    67: "KRB_AP_ERR_NO_TGT",
    68: "KDC_ERR_WRONG_REALM",
    69: "KRB_AP_ERR_USER_TO_USER_REQUIRED",
    70: "KDC_ERR_CANT_VERIFY_CERTIFICATE",
    71: "KDC_ERR_INVALID_CERTIFICATE",
    72: "KDC_ERR_REVOKED_CERTIFICATE",
    73: "KDC_ERR_REVOCATION_STATUS_UNKNOWN",
    74: "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE",
    75: "KDC_ERR_CLIENT_NAME_MISMATCH",
    76: "KDC_ERR_KDC_NAME_MISMATCH",
}
# What the errors an HTTP server actually returns mean, in plain words.
ERROR_MEANINGS = {
    6: "the KDC does not know the client's account",
    7: "no account has this service principal name (SPN) registered",
    14: "client and server have no encryption type in common",
    18: "the client's account is disabled, locked out or expired",
    23: "the client's password has expired",
    24: "the password is wrong",
    31: "the integrity check failed: the ticket was encrypted with a different key",
    32: "the ticket has expired; the client must get a new one",
    33: "the ticket is not yet valid, which points to clock skew",
    34: "the server saw this authenticator before and treats it as a replay",
    35: "the ticket was issued for a different service",
    36: "the ticket and the authenticator name different clients",
    37: "the clocks of client and server differ by more than the allowed skew (usually 5 minutes)",
    41: "the server could not decrypt the ticket: the SPN belongs to another account than "
    "the one running the service (duplicate or wrong SPN), or that account's password "
    "changed",
    44: "the ticket was encrypted with a key version the service does not have",
    52: "the answer was too big for UDP; the client should retry over TCP",
    60: "an unspecified error",
    68: "the request was sent to the wrong realm",
}


# -- public entry points -------------------------------------------------------------


def decode_token(
    data: bytes,
    *,
    side: str = "client",
    peer: str = "server",
    scheme: str = "Negotiate",
    meter: Meter | None = None,
) -> Decoded:
    """Decode one Negotiate/Kerberos token; total: any bytes give a :class:`Decoded`.

    ``side`` is "client" (credentials) or "server" (challenge), ``peer`` names the server
    side in sentences ("server" or "proxy").
    """
    ctx = _Context([], meter or Meter(), side, peer, scheme)
    summary = ctx.token(data, 0)
    ctx.fallback_finding(summary)
    return Decoded(summary, ctx.findings, ctx.sentence(summary))


def find_ntlm(summary: Mapping[str, Any]) -> NtlmFacts | None:
    """The NTLM message a Negotiate summary carries (itself or nested), if any."""
    inner = innermost(summary)
    if inner.get("token_type") == "ntlm":
        return NtlmFacts.from_summary(inner)
    return None


def innermost(summary: Mapping[str, Any]) -> Mapping[str, Any]:
    """The deepest token summary: the mechanism token inside any SPNEGO wrapper."""
    seen = 0
    while seen <= MAX_NESTING:
        inner = summary.get("mech_token") or summary.get("response_token")
        if not isinstance(inner, Mapping):
            break
        summary = inner
        seen += 1
    return summary


@dataclass(frozen=True, slots=True)
class KerberosFacts:
    """What diagnoses need from a Kerberos token inside a Negotiate summary."""

    message_type: str | None
    realm: str | None = None
    service_principal: str | None = None
    etype: str | None = None
    error_code: int | None = None
    error_name: str | None = None
    stime: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> KerberosFacts | None:
        inner = innermost(summary)
        if inner.get("token_type") != "kerberos":
            return None
        found = inner.get("ticket")
        ticket: Mapping[str, Any] = found if isinstance(found, Mapping) else {}

        def text(src: Mapping[str, Any], key: str) -> str | None:
            value = src.get(key)
            return value if isinstance(value, str) else None

        code = inner.get("error_code")
        return cls(
            message_type=text(inner, "message_type"),
            realm=text(ticket, "realm") or text(inner, "realm"),
            service_principal=text(ticket, "sname") or text(inner, "sname"),
            etype=text(ticket, "etype"),
            error_code=code if isinstance(code, int) else None,
            error_name=text(inner, "error_name"),
            stime=text(inner, "stime"),
            extra=dict(inner),
        )


# -- the decoder ---------------------------------------------------------------------


@dataclass(slots=True)
class _Context:
    findings: list[Finding]
    meter: Meter
    side: str
    peer: str
    scheme: str = "Negotiate"

    @property
    def who(self) -> str:
        return "client" if self.side == "client" else self.peer

    def note(self, finding: Finding) -> None:
        if finding not in self.findings:
            self.findings.append(finding)

    def token(self, data: bytes, depth: int) -> dict[str, Any]:
        """Dispatch on the token's first bytes, as pyspnego's ``unpack_token`` does."""
        if depth > MAX_NESTING:
            self.note(
                error(
                    NEGOTIATE_NESTING_TOO_DEEP,
                    "Tokens are nested too deeply; the inner ones were skipped.",
                    REF_GSS,
                )
            )
            return {
                "token_type": "unknown",
                "mechanism": None,
                "message_type": None,
                "length": len(data),
            }
        if is_ntlm(data):
            decoded = decode_ntlm(data, self.meter, peer=self.peer)
            self.findings.extend(f for f in decoded.findings if f not in self.findings)
            return {"token_type": "ntlm", "gss_mech": None, **decoded.summary}
        if data.startswith(b"NEGOEXTS"):
            return {
                "token_type": "negoex",
                "mechanism": NEGOEX_FAMILY,
                "message_type": "NEGOEX",
                "length": len(data),
            }
        reader = DerReader(data, self.findings, where="Negotiate token", meter=self.meter)
        top = reader.read(0, what="outer")
        base: dict[str, Any] = {
            "token_type": "unknown",
            "mechanism": None,
            "message_type": None,
            "length": len(data),
            "gss_mech": None,
        }
        if top is None:
            return base
        if top.end < len(data):
            self.note(
                warning(
                    DER_TRAILING_DATA,
                    f"{len(data) - top.end} bytes follow the end of the {self.scheme} token.",
                    REF_GSS,
                )
            )
        if top.is_tag(APPLICATION, 0) and top.constructed:
            return self.initial_context_token(reader, top, depth, base)
        if top.is_tag(CONTEXT, 0):
            return self.neg_token_init(reader, top, depth, base)
        if top.is_tag(CONTEXT, 1):
            return self.neg_token_resp(reader, top, depth, base)
        if top.tag_class == APPLICATION and top.number in KRB_MESSAGE_TYPES:
            return self.kerberos_message(reader, top, {**base, "gss_token_id": None})
        self.note(
            error(
                NEGOTIATE_UNKNOWN_TOKEN,
                f"The token is neither NTLM, SPNEGO nor Kerberos (it starts with "
                f"{top.describe()}).",
                REF_NEGOTIATE,
            )
        )
        return base

    def initial_context_token(
        self, reader: DerReader, top: Tlv, depth: int, base: dict[str, Any]
    ) -> dict[str, Any]:
        """InitialContextToken (RFC 2743 §3.1): thisMech OID, then the mechanism's token."""
        oid_tlv = reader.read(top.content_start, top.end, depth=1, what="thisMech")
        oid = reader.oid(oid_tlv, "the GSS-API thisMech")
        summary = {**base, "gss_mech": _mech(oid) if oid else None}
        if oid_tlv is None or oid is None:
            return summary
        start = oid_tlv.end
        if oid == SPNEGO:
            inner = reader.read(start, top.end, depth=1, what="NegotiationToken")
            if inner is not None and inner.is_tag(CONTEXT, 0):
                return self.neg_token_init(reader, inner, depth, summary)
            if inner is not None and inner.is_tag(CONTEXT, 1):
                return self.neg_token_resp(reader, inner, depth, summary)
            if inner is not None:
                reader.note(
                    error(
                        NEGOTIATE_UNKNOWN_TOKEN,
                        f"The SPNEGO token holds {inner.describe()} where NegTokenInit [0] or "
                        "NegTokenResp [1] belongs.",
                        REF_SPNEGO_INIT,
                    )
                )
            return {**summary, "token_type": "spnego"}
        if oid in _KERBEROS_GSS_OIDS:
            return self.kerberos_gss(reader, start, top.end, summary)
        raw = reader.data[start : top.end]
        if oid == NTLMSSP and is_ntlm(raw):
            return {**self.token(raw, depth + 1), "gss_mech": summary["gss_mech"]}
        self.note(
            warning(
                NEGOTIATE_UNKNOWN_MECH,
                f"The token is for the GSS-API mechanism {_mech_name(oid)}, which authlens "
                "does not decode.",
                REF_GSS,
            )
        )
        return {**summary, "mechanism": MECH_FAMILY.get(oid)}

    # -- SPNEGO --------------------------------------------------------------------

    def inner_token(self, raw: bytes | None, depth: int, what: str) -> dict[str, Any] | None:
        """Decode a mechToken/responseToken; a failure is reported but keeps the wrapper."""
        if raw is None:
            return None
        before = len(self.findings)
        inner = self.token(raw, depth + 1)
        if any(f.severity is Severity.ERROR for f in self.findings[before:]):
            self.note(
                warning(
                    SPNEGO_INNER_TOKEN_BROKEN,
                    f"The {what} inside the SPNEGO token could not be fully read; the SPNEGO "
                    "wrapper is shown as sent.",
                    REF_SPNEGO_INIT,
                )
            )
        return inner

    def neg_token_init(
        self, reader: DerReader, tagged: Tlv, depth: int, base: dict[str, Any]
    ) -> dict[str, Any]:
        """NegTokenInit (RFC 4178 §4.2.1), or Microsoft's NegTokenInit2 with negHints."""
        summary: dict[str, Any] = {
            **base,
            "token_type": "spnego",
            "message_type": "NegTokenInit",
            "mech_types": [],
            "mech_type_oids": [],
            "req_flags": None,
            "mech_token": None,
            "neg_hints": None,
            "mech_list_mic_present": False,
        }
        seq = reader.expect(
            reader.inner(tagged, "NegTokenInit"), UNIVERSAL, SEQUENCE, "NegTokenInit"
        )
        if seq is None:
            return summary
        fields = reader.fields(seq, "NegTokenInit")
        mech_list = fields.get(0)
        if mech_list is None:
            self.note(
                error(
                    SPNEGO_MISSING_MECH_TYPES,
                    "The NegTokenInit lists no mechanisms (mechTypes).",
                    REF_SPNEGO_INIT,
                )
            )
        elif reader.expect(mech_list, UNIVERSAL, SEQUENCE, "mechTypes"):
            entries = reader.children(mech_list, "mechTypes")
            if len(entries) > MAX_MECH_TYPES:
                self.note(
                    warning(
                        SPNEGO_TOO_MANY_MECH_TYPES,
                        f"The NegTokenInit lists {len(entries)} mechanisms; the first "
                        f"{MAX_MECH_TYPES} are shown.",
                        REF_SPNEGO_INIT,
                    )
                )
            for tlv in entries[:MAX_MECH_TYPES]:
                oid = reader.oid(tlv, "a mechTypes entry")
                if oid:
                    summary["mech_type_oids"].append(oid)
                    summary["mech_types"].append(_mech_name(oid))
        if 1 in fields:
            bits = reader.bits(fields[1], "reqFlags")
            if bits is not None:
                summary["req_flags"] = [
                    REQ_FLAG_NAMES[b] if b < len(REQ_FLAG_NAMES) else f"UNKNOWN (bit {b})"
                    for b in bits
                ]
        summary["mech_token"] = self.inner_token(
            reader.octets(fields.get(2), "mechToken"), depth, "mechToken"
        )
        hints_or_mic = fields.get(3)
        if hints_or_mic is not None and hints_or_mic.is_tag(UNIVERSAL, SEQUENCE):
            hints = reader.fields(hints_or_mic, "negHints")
            summary["neg_hints"] = {"hint_name": reader.text(hints.get(0), "hintName")}
            summary["mech_list_mic_present"] = 4 in fields
        else:
            summary["mech_list_mic_present"] = hints_or_mic is not None
        summary["mechanism"] = _carried(summary["mech_token"]) or (
            MECH_FAMILY.get(summary["mech_type_oids"][0]) if summary["mech_type_oids"] else None
        )
        return summary

    def neg_token_resp(
        self, reader: DerReader, tagged: Tlv, depth: int, base: dict[str, Any]
    ) -> dict[str, Any]:
        """NegTokenResp (RFC 4178 §4.2.2): the acceptor's state and next token."""
        summary: dict[str, Any] = {
            **base,
            "token_type": "spnego",
            "message_type": "NegTokenResp",
            "neg_state": None,
            "supported_mech": None,
            "supported_mech_oid": None,
            "response_token": None,
            "mech_list_mic_present": False,
        }
        seq = reader.expect(
            reader.inner(tagged, "NegTokenResp"), UNIVERSAL, SEQUENCE, "NegTokenResp"
        )
        if seq is None:
            return summary
        fields = reader.fields(seq, "NegTokenResp")
        if 0 in fields:
            state = reader.integer(fields[0], "negState", tag=ENUMERATED)
            if state is not None:
                summary["neg_state"] = NEG_STATES.get(state, f"UNKNOWN ({state})")
        if 1 in fields:
            oid = reader.oid(fields[1], "supportedMech")
            if oid:
                summary["supported_mech_oid"] = oid
                summary["supported_mech"] = _mech_name(oid)
        summary["response_token"] = self.inner_token(
            reader.octets(fields.get(2), "responseToken"), depth, "responseToken"
        )
        summary["mech_list_mic_present"] = 3 in fields
        summary["mechanism"] = _carried(summary["response_token"]) or MECH_FAMILY.get(
            summary["supported_mech_oid"] or ""
        )
        if summary["neg_state"] == "reject":
            self.note(
                error(
                    SPNEGO_REJECTED,
                    f"The {self.peer} rejected the {self.scheme} authentication (negState reject).",
                    REF_SPNEGO_RESP,
                )
            )
        return summary

    # -- Kerberos ------------------------------------------------------------------

    def kerberos_gss(
        self, reader: DerReader, start: int, end: int, base: dict[str, Any]
    ) -> dict[str, Any]:
        """A Kerberos GSS token body (RFC 4121 §4.1): TOK_ID, then a Kerberos message."""
        summary = {
            **base,
            "token_type": "kerberos",
            "mechanism": KERBEROS_FAMILY,
            "gss_token_id": None,
        }
        if start + 2 > end:
            self.note(
                error(
                    KERBEROS_MALFORMED, "The Kerberos token ends before its token ID.", REF_KRB_GSS
                )
            )
            return summary
        tok_id = int.from_bytes(reader.data[start : start + 2], "big")
        summary["gss_token_id"] = f"{TOKEN_IDS.get(tok_id, 'UNKNOWN')} (0x{tok_id:04x})"
        msg = reader.read(start + 2, end, depth=1, what="Kerberos message")
        if msg is None:
            return summary
        if msg.end < end:
            self.note(
                warning(
                    DER_TRAILING_DATA,
                    f"{end - msg.end} bytes follow the Kerberos message in its GSS-API token.",
                    REF_KRB_GSS,
                )
            )
        decoded = self.kerberos_message(reader, msg, summary)
        expected = TOKEN_IDS.get(tok_id)
        if expected in KRB_MESSAGE_TYPES.values() and decoded["message_type"] != expected:
            self.note(
                warning(
                    KERBEROS_MALFORMED,
                    f"The token ID says {expected} but the message is {decoded['message_type']}.",
                    REF_KRB_GSS,
                )
            )
        return decoded

    def kerberos_message(self, reader: DerReader, app: Tlv, base: dict[str, Any]) -> dict[str, Any]:
        """AP-REQ, AP-REP or KRB-ERROR ``[APPLICATION n] SEQUENCE`` (RFC 4120 §5)."""
        name = KRB_MESSAGE_TYPES.get(app.number) if app.tag_class == APPLICATION else None
        summary = {
            **base,
            "token_type": "kerberos",
            "mechanism": KERBEROS_FAMILY,
            "message_type": name,
        }
        if name is None:
            self.note(
                error(
                    NEGOTIATE_UNKNOWN_TOKEN,
                    f"The Kerberos token holds {app.describe()}, not a Kerberos message.",
                    REF_KRB_GSS,
                )
            )
            return summary
        seq = reader.expect(reader.inner(app, name), UNIVERSAL, SEQUENCE, name)
        if seq is None:
            return summary
        fields = reader.fields(seq, name)
        summary["pvno"] = reader.integer(fields.get(0), "pvno")
        msg_type = reader.integer(fields.get(1), "msg-type")
        if msg_type is not None and msg_type != app.number:
            self.note(
                warning(
                    KERBEROS_MALFORMED,
                    f"The {name} says msg-type {msg_type} inside.",
                    "RFC 4120 §5.10",
                )
            )
        if name == "AP-REQ":
            self.ap_req(reader, fields, summary)
        elif name == "AP-REP":
            summary["enc_part"] = self.encrypted_data(
                reader, fields.get(2), "AP-REP enc-part", REF_AP_REP
            )
        elif name == "KRB-ERROR":
            self.krb_error(reader, fields, summary)
        return summary

    def ap_req(self, reader: DerReader, fields: dict[int, Tlv], summary: dict[str, Any]) -> None:
        """AP-REQ (RFC 4120 §5.5.1): the ticket's realm, SPN and encryption type."""
        bits = reader.bits(fields.get(2), "ap-options")
        summary["ap_options"] = (
            [AP_OPTION_NAMES.get(b, f"UNKNOWN (bit {b})") for b in bits]
            if bits is not None
            else None
        )
        ticket: dict[str, Any] = {"realm": None, "sname": None, "sname_type": None, "etype": None}
        summary["ticket"] = ticket
        app = reader.expect(fields.get(3), APPLICATION, 1, "Ticket")
        seq = (
            reader.expect(reader.inner(app, "Ticket"), UNIVERSAL, SEQUENCE, "Ticket")
            if app
            else None
        )
        if seq is None:
            self.note(
                error(KERBEROS_MALFORMED, "The AP-REQ carries no readable ticket.", REF_AP_REQ)
            )
        else:
            tf = reader.fields(seq, "Ticket")
            ticket["tkt_vno"] = reader.integer(tf.get(0), "tkt-vno")
            ticket["realm"] = reader.text(tf.get(1), "realm")
            sname, sname_type = self.principal(reader, tf.get(2), "sname")
            ticket["sname"], ticket["sname_type"] = sname, sname_type
            enc = self.encrypted_data(reader, tf.get(3), "ticket enc-part", REF_AP_REQ)
            ticket["enc_part"] = enc
            if enc:
                ticket["etype"] = enc["etype"]
                ticket["kvno"] = enc["kvno"]
        summary["authenticator"] = self.encrypted_data(
            reader, fields.get(4), "authenticator", REF_AP_REQ
        )
        if ticket["sname"]:
            realm = f"@{ticket['realm']}" if ticket["realm"] else ""
            summary["service_principal"] = f"{ticket['sname']}{realm}"
        else:
            summary["service_principal"] = None

    def krb_error(self, reader: DerReader, fields: dict[int, Tlv], summary: dict[str, Any]) -> None:
        """KRB-ERROR (RFC 4120 §5.9.1): the error code, its name, and who said it when."""
        code = reader.integer(fields.get(6), "error-code")
        name = ERROR_NAMES.get(code, f"UNKNOWN ({code})") if code is not None else None
        summary["error_code"] = code
        summary["error_name"] = name
        summary["error_meaning"] = ERROR_MEANINGS.get(code) if code is not None else None
        summary["ctime"] = reader.time(fields.get(2), "ctime") if 2 in fields else None
        summary["stime"] = reader.time(fields.get(4), "stime")
        summary["crealm"] = reader.text(fields.get(7), "crealm")
        summary["cname"], _ = self.principal(reader, fields.get(8), "cname")
        summary["realm"] = reader.text(fields.get(9), "realm")
        summary["sname"], _ = self.principal(reader, fields.get(10), "sname")
        summary["e_text"] = reader.text(fields.get(11), "e-text")
        summary["e_data_present"] = 12 in fields
        if code is None:
            self.note(
                error(
                    KERBEROS_MALFORMED, "The KRB-ERROR has no readable error code.", REF_KRB_ERROR
                )
            )
            return
        meaning = ERROR_MEANINGS.get(code)
        self.note(
            error(
                KERBEROS_ERROR,
                f"Kerberos error {name} ({code})" + (f": {meaning}." if meaning else "."),
                REF_ERROR_CODES,
            )
        )

    def principal(
        self, reader: DerReader, tlv: Tlv | None, what: str
    ) -> tuple[str | None, str | None]:
        """PrincipalName (RFC 4120 §5.2.2) as ``a/b`` text and its name type."""
        seq = reader.expect(tlv, UNIVERSAL, SEQUENCE, what)
        if seq is None:
            return None, None
        f = reader.fields(seq, what)
        name_type = reader.integer(f.get(0), f"{what} name-type")
        parts: list[str] = []
        strings = reader.expect(f.get(1), UNIVERSAL, SEQUENCE, f"{what} name-string")
        if strings is not None:
            for s in reader.children(strings, f"{what} name-string"):
                text = reader.text(s, f"{what} component")
                if text is not None:
                    parts.append(text)
        type_name = (
            NAME_TYPES.get(name_type, f"UNKNOWN ({name_type})") if name_type is not None else None
        )
        return ("/".join(parts) or None), type_name

    def encrypted_data(
        self, reader: DerReader, tlv: Tlv | None, what: str, ref: str
    ) -> dict[str, Any] | None:
        """EncryptedData (RFC 4120 §5.2.9): etype by name, kvno, ciphertext as a Secret."""
        seq = reader.expect(tlv, UNIVERSAL, SEQUENCE, what)
        if seq is None:
            self.note(error(KERBEROS_MALFORMED, f"The {what} is missing or unreadable.", ref))
            return None
        f = reader.fields(seq, what)
        etype = reader.integer(f.get(0), f"{what} etype")
        cipher = reader.octets(f.get(2), f"{what} cipher")
        etype_name = ETYPES.get(etype, f"UNKNOWN ({etype})") if etype is not None else None
        if etype in WEAK_ETYPES:
            self.note(
                info(
                    KERBEROS_WEAK_ETYPE,
                    f"The {what} uses {etype_name}, a weak encryption type that current "
                    "domain controllers and servers may refuse.",
                    REF_ETYPES,
                )
            )
        return {
            "etype": etype_name,
            "etype_number": etype,
            "kvno": reader.integer(f.get(1), f"{what} kvno") if 1 in f else None,
            "cipher": Secret(cipher) if cipher else None,
            "cipher_length": len(cipher) if cipher is not None else None,
        }

    # -- conclusions ---------------------------------------------------------------

    def fallback_finding(self, summary: Mapping[str, Any]) -> None:
        """``negotiate-carries-ntlm``: Negotiate ended up with NTLM instead of Kerberos."""
        if summary.get("mechanism") != NTLM:
            return
        offered = summary.get("mech_types") or []
        kerberos_offered = any(
            MECH_FAMILY.get(o) == KERBEROS_FAMILY for o in summary.get("mech_type_oids") or []
        )
        if self.side == "client":
            why = (
                "Kerberos was offered but the client's first token is NTLM"
                if kerberos_offered
                else "the client offered only NTLM"
                if offered
                else "the client sent a raw NTLM message"
            )
            cause = (
                "; it could not get a Kerberos ticket for this host (no SPN registered for "
                "it, host reached by IP address or an alias, not in the intranet zone, or no "
                "domain logon)"
            )
        else:
            why = f"the {self.peer} continued with NTLM"
            cause = ""
        self.note(
            warning(
                NEGOTIATE_CARRIES_NTLM,
                f"{self.scheme} is using NTLM, not Kerberos: {why}{cause}.",
                REF_NEGOTIATE,
            )
        )

    def sentence(self, summary: Mapping[str, Any]) -> str:
        """One sentence for people about the whole token."""
        who = self.who
        kind = summary.get("message_type")
        if summary.get("token_type") == "spnego" and kind == "NegTokenInit":
            inner = summary.get("mech_token")
            offers = ", ".join(summary.get("mech_types") or []) or "no mechanisms"
            if isinstance(inner, Mapping):
                tail = " instead of a Kerberos ticket" if inner.get("mechanism") == NTLM else ""
                return (
                    f"The {who} started {self.scheme} authentication with {_phrase(inner)}{tail} "
                    f"(offering {offers})."
                )
            return (
                f"The {who} started {self.scheme} authentication offering {offers}, "
                "without a first token."
            )
        if summary.get("token_type") == "spnego" and kind == "NegTokenResp":
            inner = summary.get("response_token")
            carrying = f" with {_phrase(inner)}" if isinstance(inner, Mapping) else ""
            state = summary.get("neg_state")
            scheme = self.scheme
            if self.side == "client":
                return f"The client continued the {self.scheme} handshake{carrying}."
            if state == "accept-completed":
                return (
                    f"The {who} accepted the {scheme} authentication (accept-completed){carrying}."
                )
            if state == "reject":
                return f"The {who} rejected the {self.scheme} authentication (reject){carrying}."
            if state == "request-mic":
                return (
                    f"The {who} asks the client to protect the mechanism list (request-mic)"
                    f"{carrying}."
                )
            if state == "accept-incomplete":
                return (
                    f"The {who} continues the {scheme} handshake (accept-incomplete)"
                    f"{carrying}; the client must answer on the same connection."
                )
            return f"The {who} sent a {self.scheme} response{carrying}."
        if summary.get("token_type") == "kerberos" and kind == "KRB-ERROR":
            meaning = summary.get("error_meaning")
            name = summary.get("error_name") or "an unreadable error"
            return f"The {who} refused Kerberos with {name}" + (f": {meaning}." if meaning else ".")
        if summary.get("token_type") == "ntlm":
            return f"The {who} sent {_phrase(summary)} inside {self.scheme} instead of Kerberos."
        if summary.get("token_type") in ("kerberos", "negoex"):
            return f"The {who} sent {_phrase(summary)}."
        return f"The {who} sent a {self.scheme} token authlens cannot read."


def _mech(oid: str) -> dict[str, str]:
    return {"oid": oid, "name": _mech_name(oid)}


def _mech_name(oid: str) -> str:
    return MECH_NAMES.get(oid, oid)


def _carried(inner: Mapping[str, Any] | None) -> str | None:
    return inner.get("mechanism") if isinstance(inner, Mapping) else None


def _phrase(summary: Mapping[str, Any]) -> str:
    """A noun phrase for one token, e.g. "a Kerberos ticket for HTTP/web@REALM"."""
    kind = summary.get("message_type")
    token_type = summary.get("token_type")
    if token_type == "ntlm":
        if kind is None:
            return "an unreadable NTLM message"
        step = STEPS.get(kind)
        version = summary.get("response_version")
        user = summary.get("user")
        domain = summary.get("domain")
        if kind == "AUTHENTICATE":
            label = version if version in (NTLMV2, NTLMV1, NTLMV1_ESS) else "NTLM"
            who = f"{domain}\\{user}" if user and domain else user
            for_user = f" for user {printable(who)}" if who else ""
            return f"an {label} AUTHENTICATE message (step 3 of 3){for_user}"
        return f"an NTLM {kind} message (step {step} of 3)"
    if token_type == "kerberos":
        if kind == "AP-REQ":
            spn = summary.get("service_principal")
            return (
                f"a Kerberos ticket for {printable(spn)} (AP-REQ)" if spn else "a Kerberos AP-REQ"
            )
        if kind == "AP-REP":
            return "a Kerberos AP-REP (the server proves its identity)"
        if kind == "KRB-ERROR":
            return f"the Kerberos error {summary.get('error_name') or 'with no readable code'}"
        return f"a Kerberos {kind or 'message'}"
    if token_type == "negoex":
        return "a NegoEx message"
    if token_type == "spnego":
        return f"an SPNEGO {kind or 'token'}"
    return "a token authlens cannot read"


# -- schemes ---------------------------------------------------------------------------


def _scheme_decoders(scheme: str) -> tuple[Decoder, Decoder]:
    """Challenge and credentials decoders for ``Negotiate`` or ``Kerberos``: same tokens."""

    def params_findings(item: AuthInput) -> list[Finding]:
        if not item.params:
            return []
        return [
            warning(
                NEGOTIATE_UNEXPECTED_PARAMS,
                f"{scheme} takes a bare token, not parameters ({', '.join(sorted(item.params))}); "
                "they were ignored.",
                REF_NEGOTIATE,
            )
        ]

    def decode(item: AuthInput, side: str) -> Decoded:
        peer = "proxy" if item.is_proxy else "server"
        findings = params_findings(item)
        assert item.token68 is not None
        data, b64_findings = decode_base64_token(item.token68)
        findings += b64_findings
        if data is None:
            return Decoded(
                {"token_type": "unknown", "mechanism": None, "message_type": None, "length": None},
                findings,
                f"The {side if side == 'client' else peer} sent a {scheme} token that is not "
                "base64, so it cannot be read.",
            )
        decoded = decode_token(data, side=side, peer=peer, scheme=scheme)
        decoded.findings[:0] = findings
        return decoded

    def decode_challenge(item: AuthInput) -> Decoded:
        if item.token68 is None:
            peer = "proxy" if item.is_proxy else "server"
            what = (
                "Kerberos"
                if scheme == "Kerberos"
                else "Negotiate (Kerberos, or NTLM as a fallback)"
            )
            return Decoded(
                {
                    "token_type": None,
                    "mechanism": None,
                    "message_type": None,
                    "state": STATE_CLIENT_MUST_START,
                },
                params_findings(item),
                f"The {peer} asks for {what} authentication; the client must start by sending "
                "a token.",
            )
        decoded = decode(item, "server")
        decoded.summary["state"] = _challenge_state(decoded.summary)
        return decoded

    def decode_credentials(item: AuthInput) -> Decoded:
        if item.token68 is None:
            return Decoded(
                {"token_type": None, "mechanism": None, "message_type": None},
                [
                    *params_findings(item),
                    error(
                        NEGOTIATE_MISSING_TOKEN,
                        f"{scheme} credentials must carry a base64 token; this one has none.",
                        REF_NEGOTIATE,
                    ),
                ],
                f"The client named {scheme} but sent no token.",
            )
        return decode(item, "client")

    return decode_challenge, decode_credentials


def _challenge_state(summary: Mapping[str, Any]) -> str | None:
    """Where the handshake stands after this server token (see ``ntlm.STATE_*``)."""
    state = summary.get("neg_state")
    if isinstance(state, str) and state in _NEG_STATE_TO_STATE:
        return _NEG_STATE_TO_STATE[state]
    inner = innermost(summary)
    kind = inner.get("message_type")
    if kind == "KRB-ERROR":
        return STATE_ERROR
    if kind == "AP-REP":
        return STATE_COMPLETE
    if kind == CHALLENGE:
        return STATE_CONTINUE
    return None


_negotiate_challenge, _negotiate_credentials = _scheme_decoders("Negotiate")
_kerberos_challenge, _kerberos_credentials = _scheme_decoders("Kerberos")

SCHEME = register(Scheme("Negotiate", "RFC 4559", _negotiate_challenge, _negotiate_credentials))
KERBEROS_SCHEME = register(
    Scheme("Kerberos", "RFC 4120 §5.5.1; RFC 4121 §4.1", _kerberos_challenge, _kerberos_credentials)
)
