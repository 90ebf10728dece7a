"""Hypothesis strategies for hostile authentication traffic, and what to check on the output.

Everything a proxy in front of hostile clients and servers can be handed: broken and huge
header values, non-UTF-8 bytes, invalid base64, truncated and self-referencing NTLM
messages, DER bombs (deep nesting, lying and huge declared lengths, indefinite lengths),
JWTs with giant or non-JSON segments, thousands of challenge lines or parameters; and the
flows that carry them (many client connections and protection spaces, refusals, retries,
redirects, errors, mitmproxy's own proxyauth metadata).

Secrets are canaries: wherever a value is secret by design (a Basic password, a token, a
Digest response, an NTLM response, a Kerberos ciphertext, ...) the strategies put
:data:`CANARY` in it, and :func:`assert_no_canary` checks that no output contains it.
Sizes come from repeating small units, so huge inputs cost hypothesis little entropy.

The profiles (``authlens-fuzz`` for the normal run, ``long`` for a long one) are
registered here; :func:`fuzz_settings` picks one from ``AUTHLENS_FUZZ`` or
``--hypothesis-profile``.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# --- profiles ----------------------------------------------------------------------------------

_SLOW_OK = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
]
settings.register_profile(
    "authlens-fuzz", max_examples=40, deadline=None, suppress_health_check=_SLOW_OK
)
settings.register_profile("medium", max_examples=400, deadline=None, suppress_health_check=_SLOW_OK)
settings.register_profile(
    "long",
    max_examples=5_000,
    deadline=None,
    suppress_health_check=_SLOW_OK,
    report_multiple_bugs=True,
)


def profile_name() -> str:
    """``AUTHLENS_FUZZ`` (e.g. ``long``) wins, then ``--hypothesis-profile long``, else the
    normal, fast profile."""
    env = os.environ.get("AUTHLENS_FUZZ", "").strip()
    if env:
        return env
    current = settings.get_current_profile_name()
    return current if current in ("medium", "long") else "authlens-fuzz"


def fuzz_settings(scale: float = 1.0, **overrides: Any) -> settings:
    """The chosen profile, with ``max_examples`` scaled for heavier or lighter tests."""
    parent = settings.get_profile(profile_name())
    examples = max(5, int(parent.max_examples * scale))
    # CI's verdict must not depend on the draw: derandomized there, exploring locally.
    overrides.setdefault("derandomize", bool(os.environ.get("CI")))
    return settings(parent, max_examples=examples, **overrides)


# --- canaries ----------------------------------------------------------------------------------

CANARY = "Zq7CanaryS3cret"  # letters and digits only: valid in base64, tokens and hex-free
CANARY_BYTES = CANARY.encode()
# Forms the canary may take if an output echoes a secret half-decoded.
CANARY_FORMS = (CANARY, CANARY.lower(), CANARY_BYTES.hex(), CANARY.encode("utf-16-le").hex())


def assert_no_canary(text: str, where: str) -> None:
    lowered = text.lower()
    for form in CANARY_FORMS:
        assert form.lower() not in lowered, f"secret canary leaked into {where}: {text[:3000]!r}"


def internal_errors(value: Any, limit: int = 100_000) -> list[Any]:
    """Every ``{"id": "internal-error", ...}`` (a diagnosis or a finding) inside ``value``."""
    found: list[Any] = []
    stack = [value]
    steps = 0
    while stack and steps < limit:
        steps += 1
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("id") == "internal-error":
                found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


# --- byte-level building blocks ----------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def repeated(units: st.SearchStrategy[bytes], max_count: int) -> st.SearchStrategy[bytes]:
    """A unit repeated up to ``max_count`` times: huge values for little entropy."""
    return st.builds(lambda u, n: u * n, units, st.integers(1, max_count))


TOKEN_CHARS = "abcXYZ019-._~+/"
NASTY_CHARS = " \t,=\";'\\/+()<>@:[]?{}\r\n\x00\x01\x7f\x80\xff"
ascii_junk = st.text(st.sampled_from(list(TOKEN_CHARS + NASTY_CHARS)), max_size=60)
nasty_bytes = st.binary(max_size=80)
non_utf8 = st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80", b"\xe9t\xe9", b"\x80"])

# Classic shapes that break hand-written scanners and backtracking regexes.
ADVERSARIAL_UNITS: list[bytes] = [
    b'"', b"\\", b"\\\"", b'\\"', b",", b" ", b"\t", b"=", b"'", b"a", b"a=", b"a=b, ",
    b'a="', b"Basic ", b"Basic, ", b"realm=", b"\r\n ", b"\x00", b"\xff", b"==", b"/+",
    b"Digest realm=x ", b"x" * 7 + b",", b'"a\\', b"%", b"%2", b"''",
]  # fmt: skip
adversarial_value = st.one_of(
    repeated(st.sampled_from(ADVERSARIAL_UNITS), 5_000),
    st.builds(
        lambda head, unit, n, tail: head + unit * n + tail,
        st.sampled_from([b"Basic ", b"Digest ", b"Bearer ", b"Negotiate ", b"", b"X "]),
        st.sampled_from(ADVERSARIAL_UNITS),
        st.integers(1, 20_000),
        st.sampled_from([b"", b'"', b"!", b"\xff", b",", b"="]),
    ),
)

# --- DER ---------------------------------------------------------------------------------------


def der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + der_length(len(content)) + content


def oid_bytes(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([arcs[0] * 40 + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def ctx(n: int, content: bytes) -> bytes:
    return tlv(0xA0 | n, content)


def seq(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def der_int(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)
    return tlv(0x02, raw)


SPNEGO_OID = "1.3.6.1.5.5.2"
KRB5_OID = "1.2.840.113554.1.2.2"
MS_KRB5_OID = "1.2.840.48018.1.2.2"
NTLMSSP_OID = "1.3.6.1.4.1.311.2.2.10"


def kerberos_ap_req(realm: bytes, service: bytes, cipher: bytes, etype: int = 18) -> bytes:
    """A structurally valid Kerberos AP-REQ (RFC 4120 §5.5.1) whose ciphertexts are ``cipher``."""
    principal = seq(ctx(0, der_int(2)), ctx(1, seq(tlv(0x1B, b"HTTP"), tlv(0x1B, service))))
    enc = seq(ctx(0, der_int(etype)), ctx(1, der_int(3)), ctx(2, tlv(0x04, cipher)))
    ticket = tlv(
        0x61, seq(ctx(0, der_int(5)), ctx(1, tlv(0x1B, realm)), ctx(2, principal), ctx(3, enc))
    )
    body = seq(
        ctx(0, der_int(5)),
        ctx(1, der_int(14)),
        ctx(2, tlv(0x03, b"\x00\x20\x00\x00\x00")),
        ctx(3, ticket),
        ctx(4, enc),
    )
    return tlv(0x6E, body)


def krb_gss(message: bytes, tok_id: bytes = b"\x01\x00") -> bytes:
    return tlv(0x60, oid_bytes(KRB5_OID) + tok_id + message)


def spnego_init(mech_token: bytes | None, mechs: Iterable[str] = (MS_KRB5_OID, KRB5_OID)) -> bytes:
    fields = [ctx(0, seq(*(oid_bytes(m) for m in mechs)))]
    if mech_token is not None:
        fields.append(ctx(2, tlv(0x04, mech_token)))
    return tlv(0x60, oid_bytes(SPNEGO_OID) + ctx(0, seq(*fields)))


def spnego_resp(state: int, token: bytes | None, mech: str | None = KRB5_OID) -> bytes:
    fields = [ctx(0, tlv(0x0A, bytes([state])))]
    if mech:
        fields.append(ctx(1, oid_bytes(mech)))
    if token is not None:
        fields.append(ctx(2, tlv(0x04, token)))
    return tlv(0xA1, seq(*fields))


def _der_node(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    tags = st.sampled_from([0x30, 0x60, 0xA0, 0xA1, 0xA2, 0xA3, 0x61, 0x6E, 0x7E, 0x31])
    items = st.lists(children, max_size=4)
    return st.builds(lambda tag, parts: tlv(tag | 0x20, b"".join(parts)), tags, items)


@st.composite
def der_random(draw: st.DrawFn, max_leaves: int = 12) -> bytes:
    """Random TLV trees: arbitrary tags, honest lengths; mutated by :func:`mutate`."""
    leaf = st.builds(
        tlv, st.integers(0, 255).filter(lambda t: not t & 0x20), st.binary(max_size=24)
    )
    return draw(st.recursive(leaf, _der_node, max_leaves=max_leaves))


def der_bomb(kind: str, n: int) -> bytes:
    """Hostile DER of size about ``n`` units (see the kinds below)."""
    if kind == "deep":  # nesting far past the reader's depth cap, lengths honest
        inner = b"\x05\x00"
        for _ in range(n):
            inner = tlv(0x30, inner)
        return inner
    if kind == "deep-lying":  # every level claims more than exists
        return b"\x30\x84\x7f\xff\xff\xff" * n
    if kind == "indefinite":
        return b"\x30\x80" * n + b"\x00\x00" * n
    if kind == "huge-length":
        return b"\x60\x84\xff\xff\xff\xff" + b"\x06\x06" + b"\x2b" * n
    if kind == "long-length-form":  # 0x8F: 15 length octets (cap is 4)
        return b"\x30\x8f" + b"\x00" * 15 + b"\x05\x00" * n
    if kind == "many-elements":  # a flat SEQUENCE of n NULLs inside SPNEGO mechTypes
        return spnego_init(None, ())[:-2] + seq(*([b"\x05\x00"] * n))
    if kind == "many-oids":
        return spnego_init(None, [KRB5_OID] * n)
    if kind == "high-tag":  # high-tag-number form with endless continuation octets
        return b"\x7f" + b"\xff" * n + b"\x00"
    if kind == "nested-spnego":  # SPNEGO in SPNEGO in SPNEGO ... (mechToken recursion)
        token = kerberos_ap_req(b"R", b"h", b"c")
        for _ in range(n):
            token = spnego_init(token)
        return token
    raise ValueError(kind)


DER_BOMBS = (
    "deep", "deep-lying", "indefinite", "huge-length", "long-length-form", "many-elements",
    "many-oids", "high-tag", "nested-spnego",
)  # fmt: skip


def mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    """Apply byte-level mutations: (op, position, value); op 0 flip, 1 cut, 2 insert, 3 dup."""
    buf = bytearray(data)
    for op, pos, value in ops:
        if not buf:
            buf = bytearray([value])
            continue
        i = pos % len(buf)
        if op == 0:
            buf[i] = value
        elif op == 1:
            del buf[i:]
        elif op == 2:
            buf[i:i] = bytes([value])
        else:
            buf[i:i] = buf[i : i + 1 + value % 16]
    return bytes(buf)


mutations = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 1 << 16), st.integers(0, 255)), max_size=4
)


# --- NTLM --------------------------------------------------------------------------------------

NTLM_SIG = b"NTLMSSP\x00"
F_UNICODE, F_OEM, F_VERSION, F_ESS = 0x1, 0x2, 0x02000000, 0x00080000


def ntlm_negotiate(flags: int = 0xE2088297) -> bytes:
    return (
        NTLM_SIG + struct.pack("<II", 1, flags) + b"\x00" * 16 + b"\x0a\x00\x63\x45\x00\x00\x00\x0f"
    )


def av_pairs(pairs: Iterable[tuple[int, bytes]], eol: bool = True) -> bytes:
    out = b"".join(struct.pack("<HH", i, len(v)) + v for i, v in pairs)
    return out + (b"\x00\x00\x00\x00" if eol else b"")


def ntlm_challenge(
    target: str = "CORP", info: bytes | None = None, flags: int = 0xE2898215
) -> bytes:
    name = target.encode("utf-16-le")
    info = info if info is not None else av_pairs([(2, name), (1, b"S\x00V\x00")])
    offset = 56
    return (
        NTLM_SIG
        + struct.pack("<I", 2)
        + struct.pack("<HHI", len(name), len(name), offset)
        + struct.pack("<I", flags)
        + b"\x01\x23\x45\x67\x89\xab\xcd\xef"
        + b"\x00" * 8
        + struct.pack("<HHI", len(info), len(info), offset + len(name))
        + b"\x0a\x00\x63\x45\x00\x00\x00\x0f"
        + name
        + info
    )


def ntlm_authenticate(
    user: str, domain: str, nt_response: bytes, lm_response: bytes = b"\x00" * 24,
    flags: int = 0xE2888215, session_key: bytes = b"",
) -> bytes:  # fmt: skip
    """An honest AUTHENTICATE (fields laid out one after the other after the MIC)."""
    payload_parts = [
        lm_response, nt_response, domain.encode("utf-16-le"), user.encode("utf-16-le"),
        "WS".encode("utf-16-le"), session_key,
    ]  # fmt: skip
    offset = 88
    headers = b""
    for part in payload_parts:
        headers += struct.pack("<HHI", len(part), len(part), offset)
        offset += len(part)
    fixed = NTLM_SIG + struct.pack("<I", 3) + headers + struct.pack("<I", flags)
    return fixed + b"\x0a\x00\x63\x45\x00\x00\x00\x0f" + b"\x00" * 16 + b"".join(payload_parts)


def ntlmv2_response(secret: bytes, pairs: bytes) -> bytes:
    """NTProofStr (16 bytes, secret) + the client challenge blob with AV pairs."""
    proof = (secret * 2)[:16].ljust(16, b"\x00")
    blob = (
        b"\x01\x01\x00\x00" + b"\x00" * 4 + b"\x00" * 8 + secret[:8].ljust(8, b"\0") + b"\x00" * 4
    )
    return proof + blob + pairs + b"\x00" * 4


field_triple = st.one_of(
    st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)),
    st.tuples(st.integers(0, 64), st.integers(0, 64), st.integers(0, 96)),  # into the header
    st.just((0xFFFF, 0xFFFF, 0xFFFFFFF0)),  # overflow bait
    st.just((8, 8, 0)),  # points at the signature itself
)


@st.composite
def ntlm_adversarial(draw: st.DrawFn) -> bytes:
    """Structurally hostile NTLM: random types, lying/overlapping/self-referencing fields,
    AV pair lists with lying lengths and no EOL, truncation anywhere. No secrets inside."""
    kind = draw(st.sampled_from([1, 2, 3, 3, 0, 4, 0xFFFFFFFF]))
    header = {1: 40, 2: 56, 3: 88}.get(kind, 16)
    slots = {1: [16, 24], 2: [12, 40], 3: [12, 20, 28, 36, 44, 52]}.get(kind, [])
    buf = bytearray(NTLM_SIG + struct.pack("<I", kind) + b"\x00" * (header - 12))
    flags = draw(st.sampled_from([0, 0xFFFFFFFF, 0xE2088297, F_UNICODE | F_VERSION, F_OEM]))
    flag_at = {1: 12, 2: 20, 3: 60}.get(kind)
    if flag_at is not None:
        struct.pack_into("<I", buf, flag_at, flags)
    pairs_list = draw(
        st.lists(
            st.tuples(st.integers(0, 12) | st.integers(0, 0xFFFF), st.binary(max_size=40)),
            max_size=8,
        )
    )
    lying = draw(st.booleans())
    pairs = av_pairs(pairs_list, eol=draw(st.booleans()))
    if lying and pairs:
        pairs = struct.pack("<HH", 2, 0xFFFF) + pairs
    payload = draw(st.sampled_from([b"", b"\x00" * 4])) + ntlmv2_response(b"r" * 8, pairs)
    payload += draw(st.binary(max_size=64))
    payload = payload * draw(st.integers(1, 3))
    for at in slots:
        length, max_length, offset = draw(
            st.one_of(
                field_triple,
                st.builds(
                    lambda a, b: (b, b, header + a),
                    st.integers(0, max(0, len(payload) - 1)),
                    st.integers(0, len(payload)),
                ),
            )
        )
        struct.pack_into("<HHI", buf, at, length & 0xFFFF, max_length & 0xFFFF, offset)
    data = bytes(buf) + payload
    return mutate(data, draw(mutations)) if draw(st.booleans()) else data


@st.composite
def ntlm_honest(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A well-formed NTLM message; AUTHENTICATE carries the canary in its secret parts.
    Returns (message, carries_secret)."""
    kind = draw(st.sampled_from(["negotiate", "challenge", "v2", "v1", "anonymous"]))
    if kind == "negotiate":
        return ntlm_negotiate(), False
    if kind == "challenge":
        pairs = av_pairs(
            [(2, "CORP".encode("utf-16-le")), (7, b"\x00" * 8), (6, b"\x02\x00\x00\x00")]
        )
        return ntlm_challenge(draw(st.sampled_from(["CORP", "Ä\x00x"])), pairs), False
    user = draw(st.sampled_from(["alice", "bob", "Ünïcode", ""]))
    if kind == "anonymous":
        return ntlm_authenticate("", "", b"", b"\x00"), False
    if kind == "v1":
        return ntlm_authenticate(user, "CORP", (CANARY_BYTES * 2)[:24]), True
    cb = draw(st.sampled_from([b"\x00" * 16, b"\x11" * 16, None]))
    items = [(2, "CORP".encode("utf-16-le")), (6, b"\x02\x00\x00\x00")]
    if cb is not None:
        items.append((10, cb))
    items.append((9, "HTTP/web".encode("utf-16-le")))
    nt = ntlmv2_response(CANARY_BYTES, av_pairs(items))
    return ntlm_authenticate(
        user, "CORP", nt, CANARY_BYTES[:24].ljust(24, b"0"), session_key=CANARY_BYTES[:16]
    ), True


# --- JWT ---------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from([1e308, -1e308, 10**11, 1700000000, 0, -1, 2**63]),
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
claims = st.dictionaries(
    st.sampled_from(
        ["iss", "sub", "aud", "exp", "nbf", "iat", "scope", "cnf", "jti", "htm", "htu", "ath", "x"]
    ),
    json_values,
    max_size=8,
)
headers_jwt = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["RS256", "none", "NONE", "ES256", "HS256"]) | json_values,
        "typ": st.sampled_from(["JWT", "dpop+jwt", "at+jwt"]),
        "kid": st.text(max_size=20),
        "jwk": st.fixed_dictionaries(
            {"kty": st.sampled_from(["EC", "RSA", "OKP", "x"])},
            optional={"crv": st.just("P-256"), "x": st.just("eA"), "y": st.just("eQ"),
                      "n": st.just("AQAB"), "e": st.just("AQAB"), "d": st.just("private")},
        ) | json_values,
    },
)  # fmt: skip


def _jwt_segment(value: Any) -> str:
    return b64url(json.dumps(value).encode())


def _deep(n: int) -> str:
    return b64url(("[" * n + "]" * n).encode())


@st.composite
def jwts(draw: st.DrawFn) -> str:
    """Honest and hostile JWTs; the signature is always the canary (a secret)."""
    signature = b64url(CANARY_BYTES + draw(st.binary(max_size=8)))
    shape = draw(
        st.sampled_from(
            ["ok", "ok", "giant", "deep", "bad-b64", "not-json", "segments", "jwe", "bignum"]
        )
    )
    header = _jwt_segment(draw(headers_jwt))
    payload = _jwt_segment(draw(claims))
    if shape == "giant":
        big = "A" * draw(st.sampled_from([1_000, 70_000, 200_000]))
        which = draw(st.integers(0, 2))
        header, payload = (big, payload) if which == 0 else (header, big)
        if which == 2:
            payload = b64url(json.dumps({"sub": "x" * 60_000}).encode())
    elif shape == "deep":
        payload = _deep(draw(st.sampled_from([50, 1_000, 20_000])))
    elif shape == "bad-b64":
        payload = draw(st.sampled_from(["!!!", "a", "ab=c", "%%%%", "\xff\xfe", "A===="]))
    elif shape == "not-json":
        payload = b64url(draw(st.binary(max_size=40)))
    elif shape == "segments":
        n = draw(st.sampled_from([1, 2, 4, 6, 500]))
        return "eyJ" + ".".join([header] * n) + "." + signature
    elif shape == "jwe":
        return ".".join([header, "k", "iv", "A" * draw(st.integers(0, 5000)), signature])
    elif shape == "bignum":
        digits = draw(st.sampled_from([20, 4300, 5000]))
        payload = b64url(b'{"exp": ' + b"9" * digits + b', "nbf": 1e999, "iat": -1e999}')
    return f"{header}.{payload}.{signature}"


# --- credentials and challenges ----------------------------------------------------------------

nonce = st.text(st.sampled_from(list("0123456789abcdef")), min_size=1, max_size=32)


def _params(pairs: Iterable[tuple[str, str]], quote_all: bool = True) -> str:
    out = []
    for name, value in pairs:
        if quote_all or not value or any(c in value for c in ' ,"='):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(f"{name}={value}")
    return ", ".join(out)


# Every scheme with the parameters its decoders read, for "parameter soup": each known
# parameter with a hostile value.
SCHEME_PARAMS: dict[str, tuple[str, ...]] = {
    "Basic": ("realm", "charset"),
    "Digest": ("realm", "nonce", "opaque", "stale", "algorithm", "qop", "domain", "charset",
               "userhash", "username", "username*", "uri", "response", "cnonce", "nc"),
    "Bearer": ("realm", "scope", "error", "error_description", "error_uri", "resource_metadata",
               "service", "as_uri", "authorization_uri"),
    "DPoP": ("realm", "scope", "error", "error_description", "algs"),
    "HOBA": ("challenge", "max-age", "realm", "result"),
    "Mutual": ("version", "algorithm", "validation", "auth-scope", "realm", "reason", "user",
               "kc1", "ks1", "sid", "nc", "nc-max", "nc-window", "time", "path", "vkc", "vks",
               "auth-domain"),
    "SCRAM-SHA-256": ("realm", "data", "sid", "sr", "ttl"),
    "SCRAM-SHA-1": ("realm", "data", "sid"),
    "PrivateToken": ("challenge", "token-key", "max-age", "token"),
    "Concealed": ("realm", "k", "a", "s", "v", "p"),
    "AWS4-HMAC-SHA256": ("Credential", "SignedHeaders", "Signature"),
    "AWS4-ECDSA-P256-SHA256": ("Credential", "SignedHeaders", "Signature"),
    "Negotiate": ("realm",),
    "NTLM": ("realm",),
    "Kerberos": ("realm",),
    "X-Unknown": ("a",),
}  # fmt: skip
numberish = st.sampled_from(
    ["0", "1", "-1", "²", "٣", "½", "1e5", "0x10", "99999999999999999999999", " 1", "",
     "4294967296", "1" * 5000, "00000001", "1.5", "NaN", "inf", "１"]
)  # fmt: skip
scram_data = st.lists(
    st.tuples(st.sampled_from(list("nrsicpvemafx")), st.one_of(numberish, ascii_junk)), max_size=6
).map(lambda kv: b64(",".join(f"{k}={v}" for k, v in kv).encode("utf-8", "surrogatepass")))
hostile_param_value = st.one_of(
    numberish,
    ascii_junk,
    st.text(max_size=40),
    st.binary(max_size=60).map(b64),
    st.binary(max_size=60).map(b64url),
    scram_data,
    st.sampled_from(["AKIA0123456789/20240101/us-east-1/s3/aws4_request", "a/b", "/" * 50,
                     "host;x-amz-date", ";" * 20, "UTF-8''%C3%A4", "UTF-8''%", "x'y'%zz",
                     "https://[::1", "ES256 " * 40, "true", "TRUE", "auth,auth-int,,", "-"]),
    repeated(st.sampled_from([b"a", b"%", b"-a", b"a-", b"1", b";", b"/"]), 3000).map(
        lambda b: b.decode()
    ),
)  # fmt: skip


@st.composite
def param_soup(draw: st.DrawFn) -> str:
    """A known scheme with a random subset of its parameters, every value hostile."""
    scheme = draw(st.sampled_from(sorted(SCHEME_PARAMS)))
    names = draw(st.lists(st.sampled_from(SCHEME_PARAMS[scheme]), max_size=8, unique=True))
    pairs = [(name, draw(hostile_param_value)) for name in names]
    return f"{scheme} {_params(pairs, quote_all=draw(st.booleans()))}".rstrip()


@st.composite
def credential_values(draw: st.DrawFn) -> str | bytes:
    """One Authorization / Proxy-Authorization value, every scheme, secrets = canary."""
    kind = draw(
        st.sampled_from(
            ["basic", "basic-bad", "bearer", "bearer-jwt", "dpop", "digest", "ntlm", "ntlm-bad",
             "negotiate", "negotiate-bad", "scram", "privatetoken", "concealed", "hoba",
             "mutual", "aws4", "unknown", "junk", "soup", "soup"]
        )
    )  # fmt: skip
    if kind == "soup":  # hostile values may echo in findings: no canary in them
        return draw(param_soup())
    if kind == "basic":
        user = draw(st.sampled_from(["alice", "bob", "Ünï", "", "a:b"]))
        encoding = draw(st.sampled_from(["utf-8", "latin-1"]))
        raw = f"{user}:{CANARY}{draw(st.text(max_size=6))}".encode(encoding, "replace")
        return "Basic " + b64(raw)
    if kind == "basic-bad":
        token = draw(st.sampled_from([b64(b"nocolon" + CANARY_BYTES), b64(CANARY_BYTES)[:-1] + "!",
                                      "", "====", b64(b"\xff\xfe:" + CANARY_BYTES)]))  # fmt: skip
        return draw(st.sampled_from(["Basic ", "basic  ", "BASIC\t"])) + token
    if kind == "bearer":
        return (
            "Bearer "
            + draw(st.sampled_from(["", "ghp_", "tk-", "gAAAAA"]))
            + CANARY
            + draw(st.text(st.sampled_from(list("abc123-._~+/")), max_size=20))
        )
    if kind == "bearer-jwt":
        return "Bearer " + draw(jwts())
    if kind == "dpop":
        return "DPoP " + draw(jwts())
    if kind == "digest":
        pairs = [("username", draw(st.sampled_from(["alice", "Ü", ""]))),
                 ("realm", draw(st.text(max_size=10))), ("nonce", draw(nonce)),
                 ("uri", draw(st.sampled_from(["/", "/path", "/other?x=1", "", "http://[::1/x", "//[", "http://h:99999/"]))),
                 ("response", CANARY + draw(nonce)),
                 ("algorithm", draw(st.sampled_from(["MD5", "SHA-256", "SHA-512-256", "x"]))),
                 ("qop", draw(st.sampled_from(["auth", "auth-int", "x"]))),
                 ("nc", draw(st.sampled_from(["00000001", "1", "zz"]))), ("cnonce", draw(nonce))]  # fmt: skip
        pairs = draw(st.permutations(pairs))[: draw(st.integers(0, len(pairs)))]
        return "Digest " + _params(pairs, quote_all=draw(st.booleans()))
    if kind == "ntlm":
        message, _ = draw(ntlm_honest())
        return "NTLM " + b64(message)
    if kind == "ntlm-bad":
        return "NTLM " + b64(draw(ntlm_adversarial()))
    if kind == "negotiate":
        inner = draw(st.sampled_from(["krb", "spnego-krb", "spnego-ntlm", "raw-ntlm", "resp"]))
        krb = kerberos_ap_req(b"CORP.EXAMPLE", b"web.corp", CANARY_BYTES * 3)
        ntlm, _ = draw(ntlm_honest())
        token = {
            "krb": krb_gss(krb),
            "spnego-krb": spnego_init(krb_gss(krb)),
            "spnego-ntlm": spnego_init(ntlm, [NTLMSSP_OID]),
            "raw-ntlm": ntlm,
            "resp": spnego_resp(1, ntlm, NTLMSSP_OID),
        }[inner]
        return "Negotiate " + b64(token)
    if kind == "negotiate-bad":
        token = draw(
            st.one_of(
                st.builds(der_bomb, st.sampled_from(DER_BOMBS), st.integers(1, 300)),
                der_random(),
                st.builds(mutate, st.just(spnego_init(krb_gss(kerberos_ap_req(b"R", b"h", b"x")))), mutations),
            )
        )  # fmt: skip
        return draw(st.sampled_from(["Negotiate ", "Kerberos ", "negotiate "])) + b64(token)
    if kind == "scram":
        data = b64(f"c=biws,r=abc,p={b64(CANARY_BYTES)}".encode())
        return f'SCRAM-SHA-256 sid="AAAABBBB", data="{data}"'
    if kind == "privatetoken":
        # token_type, nonce, challenge_digest, token_key_id (public), authenticator (secret)
        blob = b"\x00\x02" + b"\x00" * 32 + b"\x11" * 32 + b"\x22" * 32 + CANARY_BYTES * 4
        return f'PrivateToken token="{b64url(blob)}"'
    if kind == "concealed":
        return (f'Concealed k="a", a="{b64url(b"k" * 32)}", s=2055, v="{b64url(CANARY_BYTES)}", '
                f'p="{b64url(CANARY_BYTES * 2)}"')  # fmt: skip
    if kind == "hoba":
        return f'HOBA result="kid.challenge.nonce.{b64url(CANARY_BYTES)}"'
    if kind == "mutual":
        return f"Mutual sid={b64url(b's')}, nc=1, vkc={b64url(CANARY_BYTES)}, kc1={b64url(CANARY_BYTES)}"
    if kind == "aws4":
        return (f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/s3/aws4_request, "
                f"SignedHeaders=host;x-amz-date, Signature={CANARY.lower()}{'0' * 40}")  # fmt: skip
    if kind == "unknown":
        return f'X-Custom secret="{CANARY}", other={CANARY}x'
    return draw(st.one_of(adversarial_value, nasty_bytes.map(lambda b: b"Basic " + b)))


@st.composite
def challenge_values(draw: st.DrawFn) -> str | bytes:
    """One WWW-Authenticate / Proxy-Authenticate line. Challenges hold no client secrets."""
    kind = draw(
        st.sampled_from(
            ["basic", "digest", "bearer", "ntlm", "ntlm-bad", "negotiate", "negotiate-bad",
             "multi", "many-params", "scram", "privatetoken", "concealed", "hoba", "mutual",
             "aws4", "dpop", "junk", "junk", "non-utf8", "soup", "soup"]
        )
    )  # fmt: skip
    if kind == "soup":
        return draw(param_soup())
    if kind == "basic":
        return f'Basic realm="{draw(st.text(max_size=12))}"' + draw(
            st.sampled_from(["", ', charset="UTF-8"', ", charset=latin1"])
        )
    if kind == "digest":
        pairs = [("realm", draw(st.text(max_size=10))), ("nonce", draw(nonce)),
                 ("qop", draw(st.sampled_from(["auth", "auth,auth-int", "", "x"]))),
                 ("algorithm", draw(st.sampled_from(["MD5", "SHA-256", "MD5-sess", "?"]))),
                 ("stale", draw(st.sampled_from(["true", "FALSE", "maybe"]))),
                 ("opaque", draw(nonce)), ("userhash", "true")]  # fmt: skip
        return "Digest " + _params(draw(st.permutations(pairs)), quote_all=draw(st.booleans()))
    if kind == "bearer":
        pairs = [("realm", "api"), ("error", draw(st.sampled_from(["invalid_token", "insufficient_scope", "x"]))),
                 ("scope", draw(st.text(max_size=20))), ("error_description", draw(st.text(max_size=20))),
                 ("resource_metadata", draw(st.sampled_from(["https://a/b", "http://x", ":::"])))]  # fmt: skip
        return "Bearer " + _params(pairs[: draw(st.integers(0, len(pairs)))])
    if kind == "ntlm":
        message, _ = draw(ntlm_honest())
        return "NTLM " + b64(message) if draw(st.booleans()) else "NTLM"
    if kind == "ntlm-bad":
        return "NTLM " + b64(draw(ntlm_adversarial()))
    if kind == "negotiate":
        token = draw(
            st.sampled_from(
                [spnego_resp(0, None), spnego_resp(1, ntlm_challenge(), NTLMSSP_OID), spnego_resp(2, None),
                 krb_gss(tlv(0x7E, seq(ctx(0, der_int(5)), ctx(1, der_int(30)), ctx(6, der_int(24)))), b"\x03\x00")]
            )
        )  # fmt: skip
        return "Negotiate " + b64(token) if draw(st.booleans()) else "Negotiate"
    if kind == "negotiate-bad":
        token = draw(
            st.one_of(
                st.builds(der_bomb, st.sampled_from(DER_BOMBS), st.integers(1, 300)), der_random()
            )
        )
        return "Negotiate " + b64(token)
    if kind == "multi":
        parts = draw(st.lists(st.sampled_from(['Basic realm="a"', "Negotiate", "NTLM", 'Digest realm="d", nonce="n"',
                                                'Bearer realm="b"']), min_size=2, max_size=6))  # fmt: skip
        return ", ".join(parts)
    if kind == "many-params":
        n = draw(st.sampled_from([10, 200, 3_000]))
        return "Digest " + ", ".join(f'p{i}="v{i}"' for i in range(n))
    if kind == "scram":
        return f'SCRAM-SHA-256 realm="r", data="{b64(b"r=abc,s=c2FsdA==,i=1")}"'
    if kind == "privatetoken":
        challenge = b"\x00\x02" + b"\x00\x04iss!" + b"\x00" + b"\x00\x00"
        return f'PrivateToken challenge="{b64url(challenge)}", token-key="{b64url(b"k" * 40)}"'
    if kind == "concealed":
        return f'Concealed realm="r", k="{b64url(b"k")}"'
    if kind == "hoba":
        return f'HOBA challenge="{b64url(b"c")}", max-age=10'
    if kind == "mutual":
        return 'Mutual version=1, algorithm=iso-kam3-dl-2048-sha256, validation=host, realm="r", reason=initial'
    if kind == "aws4":
        return "AWS4-HMAC-SHA256"
    if kind == "dpop":
        return 'DPoP algs="ES256 RS256", error="use_dpop_nonce"'
    if kind == "non-utf8":
        return b'Basic realm="' + draw(non_utf8) + b'", Digest nonce="\xe9"'
    return draw(st.one_of(adversarial_value, nasty_bytes, ascii_junk))


# --- flows -------------------------------------------------------------------------------------


@dataclass
class FlowSpec:
    """Everything needed to build one mitmproxy flow (see tests/fuzz/test_fuzz_addon.py)."""

    method: bytes = b"GET"
    scheme: bytes = b"https"
    host: str = "127.0.0.1"
    port: int = 443
    path: bytes = b"/"
    http_version: bytes = b"HTTP/1.1"
    request_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    request_body: bytes = b""
    status: int | None = 401  # None: no response (error or pending)
    reason: bytes = b"Unauthorized"
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    response_body: bytes = b""
    error: str | None = None
    client: int = 0  # index into a small pool of client connections
    server: int = 0
    tls: bool = True
    proxyauth: tuple[str, str] | None = None
    made_by_proxy: bool = False
    dt: float = 0.5  # seconds after the previous flow


def _enc(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


other_headers = st.lists(
    st.one_of(
        st.tuples(st.sampled_from([b"User-Agent"]), st.sampled_from(
            [b"curl/8.5.0", b"python-requests/2.32", b"Mozilla/5.0 (X11) Chrome/131.0 Safari/537.36",
             b"\xff\xfe", b"", b"x" * 3000])),
        st.tuples(st.just(b"Cookie"), st.sampled_from([b"session=" + CANARY_BYTES, b"a=b; csrftoken=" + CANARY_BYTES])),
        st.tuples(st.just(b"Server"), st.sampled_from([b"Microsoft-IIS/10.0", b"nginx", b"cloudflare", b"\xff"])),
        st.tuples(st.just(b"Connection"), st.sampled_from([b"close", b"keep-alive"])),
        st.tuples(st.sampled_from([b"Sec-Fetch-Mode", b"Origin", b"X-CSRF-Token", b"Date"]),
                  st.sampled_from([b"cors", b"https://127.0.0.1", b"Mon, 01 Jan 2024 00:00:00 GMT", b"\x00\xff"])),
        st.tuples(st.binary(min_size=1, max_size=12), nasty_bytes),
    ),
    max_size=5,
)  # fmt: skip


@st.composite
def flow_specs(draw: st.DrawFn, *, heavy: bool = True) -> FlowSpec:
    spec = FlowSpec()
    spec.method = draw(
        st.sampled_from([b"GET", b"GET", b"POST", b"OPTIONS", b"PUT", b"\xffGET", b"CONNECT"])
    )
    spec.scheme = draw(st.sampled_from([b"https", b"http"]))
    spec.tls = spec.scheme == b"https"
    spec.host = draw(
        st.sampled_from(
            ["127.0.0.1", "127.0.0.2", "localhost", "example.com", "xn--nxasmq6b", "::1"]
        )
    )
    spec.port = draw(st.sampled_from([443, 80, 8080, 65535]))
    spec.path = draw(st.sampled_from([b"/", b"/api", b"/login?next=/x", b"/p?access_token=not-a-canary",
                                      b"/\xff\xfe", b"/" + b"a" * 5000]))  # fmt: skip
    spec.http_version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/2.0", b"HTTP/1.0"]))
    headers: list[tuple[bytes, bytes]] = []
    for name in (b"Authorization", b"Proxy-Authorization"):
        if draw(st.integers(0, 3)) == 0:
            continue
        count = draw(st.sampled_from([1, 1, 1, 2]))
        headers += [(draw(st.sampled_from([name, name.lower(), name.upper()])), _enc(draw(credential_values())))
                    for _ in range(count)]  # fmt: skip
    headers += draw(other_headers)
    spec.request_headers = draw(st.permutations(headers))
    spec.request_body = draw(st.sampled_from([b"", b"x=1", b"\x00" * 100]))
    outcome = draw(
        st.sampled_from(["401", "401", "407", "200", "302", "403", "500", "error", "none"])
    )
    spec.client = draw(st.integers(0, 5))
    spec.server = draw(st.integers(0, 5))
    spec.dt = draw(st.sampled_from([0.0, 0.5, 5.0, 100.0]))
    spec.proxyauth = draw(st.sampled_from([None, None, None, ("alice", CANARY)]))
    spec.made_by_proxy = draw(st.booleans()) if outcome == "407" else False
    if outcome == "error":
        spec.status = None
        spec.error = draw(st.sampled_from(["Upstream proxy 127.0.0.1:3128 refused HTTP CONNECT request: 407 Proxy Authentication Required",
                                           "connection reset", "\xff 401"]))  # fmt: skip
        return spec
    if outcome == "none":
        spec.status = None
        return spec
    spec.status = int(outcome)
    spec.reason = draw(st.sampled_from([b"Unauthorized", b"", b"\xff\xfe", b"OK"]))
    rh: list[tuple[bytes, bytes]] = []
    field_name = b"Proxy-Authenticate" if spec.status == 407 else b"WWW-Authenticate"
    lines = draw(st.sampled_from([0, 1, 1, 2, 3] + ([1_000, 3_000] if heavy else [])))
    if lines > 3:
        unit = _enc(draw(challenge_values()))
        rh += [(field_name, unit)] * lines
    else:
        rh += [(draw(st.sampled_from([field_name, field_name.lower(), b"WWW-Authenticate"])),
                _enc(draw(challenge_values()))) for _ in range(lines)]  # fmt: skip
    if spec.status == 302:
        rh.append((b"Location", draw(st.sampled_from([b"https://idp.example/login?return=/", b"/login", b"//evil/x",
                                                       b"\xff", b"http://[::1", b"https://127.0.0.2/next"]))))  # fmt: skip
    if draw(st.booleans()):
        rh.append((b"Authentication-Info", b'nextnonce="abc", rspauth="' + CANARY_BYTES + b'"'))
    rh += draw(other_headers)
    spec.response_headers = draw(st.permutations(rh))
    spec.response_body = draw(st.sampled_from([b"", b"<h1>401 - Unauthorized</h1>", b"HTTP Error 401.1 - Unauthorized",
                                               b"HTTP Error 403.14", b"\x1f\x8b\x00junk", b"x" * 100_000]))  # fmt: skip
    return spec


def sessions(max_flows: int = 6, heavy: bool = True) -> st.SearchStrategy[list[FlowSpec]]:
    """A few flows in order, sharing a small pool of client and server connections, so the
    handshake tracker sees retries, conversations and streaks."""
    return st.lists(flow_specs(heavy=heavy), min_size=1, max_size=max_flows)


# A flat "anything" for the API-level fuzzers.
any_field_value: st.SearchStrategy[str | bytes] = st.one_of(
    credential_values(), challenge_values(), adversarial_value, nasty_bytes, ascii_junk
)

Builder = Callable[..., Any]


# --- hostile values aimed at the outputs (exporters, reports, the CLI) -------------------------
# Additive: flow_specs() above is unchanged; output_flow_specs() wraps it.

XSS_MARK = "authlensXSS"  # appears in the outputs only escaped, never as live markup
INJECTIONS: tuple[bytes, ...] = (
    b'"><script>' + XSS_MARK.encode() + b"</script>",
    b"</script><script>" + XSS_MARK.encode() + b"()</script>",
    b"<img src=x onerror=" + XSS_MARK.encode() + b">",
    b"'><svg onload=" + XSS_MARK.encode() + b">",
    b"</textarea></style><!--" + XSS_MARK.encode(),
    b"\x1b[2J\x1b]0;" + XSS_MARK.encode() + b"\x07",  # terminal escapes
    b"\r\n" + XSS_MARK.encode() + b": injected",
    b"\xed\xa0\x80" + XSS_MARK.encode() + b"\xff\xfe",  # a surrogate in UTF-8 form, bad bytes
    b"\xe2\x80\xae" + XSS_MARK.encode() + b"\xe2\x80\x8b\xef\xbb\xbf",  # bidi, zero-width, BOM
)
injection = st.sampled_from(INJECTIONS)


@st.composite
def output_flow_specs(draw: st.DrawFn, *, heavy: bool = False) -> FlowSpec:
    """A :func:`flow_specs` flow with markup, terminal escapes and undecodable bytes in
    the places outputs quote: realm, scheme parameters, path, reason, User-Agent, Server,
    Location, header names and a comment-worthy error."""
    spec = draw(flow_specs(heavy=heavy))
    bad = draw(injection)
    where = draw(st.sets(st.sampled_from(["realm", "path", "ua", "server", "reason",
                                          "header", "location", "bearer"]), max_size=4))  # fmt: skip
    if "path" in where and spec.method != b"CONNECT":
        spec.path = b"/" + bad.replace(b"\r\n", b"") + b"?access_token=x&q=" + bad[:8]
    if "ua" in where:
        spec.request_headers = [*spec.request_headers, (b"User-Agent", bad)]
    if "header" in where:
        spec.request_headers = [*spec.request_headers, (b"X-" + bad[:6].strip(), bad)]
    if "bearer" in where:
        spec.request_headers = [*spec.request_headers, (b"Authorization", b"Bearer " + bad)]
    if spec.status is not None:
        field_name = b"Proxy-Authenticate" if spec.status == 407 else b"WWW-Authenticate"
        if "realm" in where:
            spec.response_headers = [
                *spec.response_headers,
                (field_name, b'Basic realm="' + bad.replace(b'"', b'\\"') + b'"'),
                (field_name, b"Digest realm=" + bad + b', nonce="' + bad + b'"'),
            ]
        if "server" in where:
            spec.response_headers = [*spec.response_headers, (b"Server", bad)]
        if "reason" in where:
            spec.reason = bad.replace(b"\r\n", b" ")
        if "location" in where:
            spec.response_headers = [*spec.response_headers, (b"Location", b"/login?next=" + bad)]
    elif spec.error is not None and "reason" in where:
        spec.error = bad.decode("utf-8", "surrogateescape")
    return spec


def output_sessions(max_flows: int = 5, heavy: bool = False) -> st.SearchStrategy[list[FlowSpec]]:
    """A few :func:`output_flow_specs` flows in order (see :func:`sessions`)."""
    return st.lists(output_flow_specs(heavy=heavy), min_size=1, max_size=max_flows)
