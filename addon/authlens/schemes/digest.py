"""Digest authentication (RFC 7616; RFC 2617 and RFC 2069 compatible).

The server sends a nonce and names a hash algorithm; the client answers with
``response = H(H(A1) ":" nonce ":" nc ":" cnonce ":" qop ":" H(A2))`` (RFC 7616 §3.4.1),
or ``H(H(A1) ":" nonce ":" H(A2))`` in the RFC 2069 form without ``qop``. Decoding shows
what the challenge asks for and what the credentials claim; :func:`compute_response`,
:func:`compute_userhash` and :func:`check_response` let later code recompute a response
from a known password (e.g. to tell a wrong password from a wrong ``uri``).

Only ``response`` is secret: a captured response plus the challenge is enough to guess the
password offline, so it is a :class:`~authlens.secret.Secret`. User name, realm, nonces
and the URI stay visible because they are usually the diagnosis.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from authlens.findings import Finding, error, info, warning
from authlens.schemes import AuthInput, Decoded, Scheme, register
from authlens.schemes._common import (
    decode_ext_value,
    is_true_false,
    redact_query,
    shown,
    unknown_params,
    uri_value,
    who,
)
from authlens.schemes._sha512_256 import sha512_256 as _sha512_256_fallback
from authlens.secret import Secret

REF = "RFC 7616"
REF_CHALLENGE = "RFC 7616 §3.3"
REF_CREDENTIALS = "RFC 7616 §3.4"
REF_RESPONSE = "RFC 7616 §3.4.1"
REF_USERHASH = "RFC 7616 §3.4.4"
REF_REGISTRY = "RFC 7616 §6.1"
REF_LEGACY = "RFC 2069 §2.1.2"
REF_EXT_VALUE = "RFC 8187 §3.2.1"

# Finding IDs.
DIGEST_TOKEN68 = "digest-token68"
DIGEST_MISSING_REALM = "digest-missing-realm"
DIGEST_MISSING_NONCE = "digest-missing-nonce"
DIGEST_BAD_STALE = "digest-bad-stale"
DIGEST_STALE = "digest-stale"
DIGEST_WEAK_ALGORITHM = "digest-weak-algorithm"
DIGEST_NONSTANDARD_ALGORITHM = "digest-nonstandard-algorithm"
DIGEST_UNKNOWN_ALGORITHM = "digest-unknown-algorithm"
DIGEST_DEFAULT_ALGORITHM = "digest-default-algorithm"
DIGEST_NO_QOP = "digest-no-qop"
DIGEST_UNKNOWN_QOP = "digest-unknown-qop"
DIGEST_AUTH_INT_ONLY = "digest-auth-int-only"
DIGEST_BAD_CHARSET = "digest-bad-charset"
DIGEST_BAD_USERHASH = "digest-bad-userhash"
DIGEST_MISSING_PARAM = "digest-missing-param"
DIGEST_USERNAME_CONFLICT = "digest-username-conflict"
DIGEST_BAD_USERNAME_STAR = "digest-bad-username-star"
DIGEST_NON_ASCII_USERNAME = "digest-non-ascii-username"
DIGEST_BAD_USERHASH_VALUE = "digest-bad-userhash-value"
DIGEST_BAD_QOP = "digest-bad-qop"
DIGEST_MISSING_CNONCE_NC = "digest-missing-cnonce-nc"
DIGEST_CNONCE_WITHOUT_QOP = "digest-cnonce-without-qop"
DIGEST_BAD_NC = "digest-bad-nc"
DIGEST_BAD_RESPONSE = "digest-bad-response"
DIGEST_UPPERCASE_RESPONSE = "digest-uppercase-response"
DIGEST_SESS_WITHOUT_CNONCE = "digest-sess-without-cnonce"

QOP_AUTH = "auth"
QOP_AUTH_INT = "auth-int"
KNOWN_QOPS = (QOP_AUTH, QOP_AUTH_INT)

CHALLENGE_PARAMS = (
    "realm", "domain", "nonce", "opaque", "stale", "algorithm", "qop", "charset", "userhash",
)  # fmt: skip
CREDENTIAL_PARAMS = (
    "username", "username*", "userhash", "realm", "nonce", "uri", "response", "algorithm",
    "cnonce", "opaque", "qop", "nc",
)  # fmt: skip

_NC = re.compile(r"[0-9a-fA-F]{8}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_MAX_LIST = 64


# -- hash algorithms -------------------------------------------------------------------


def _sha512_256(data: bytes) -> str:
    return _sha512_256_fallback(data).hex()


def _native_sha512_256() -> Callable[[bytes], str] | None:
    try:
        hashlib.new("sha512_256", b"")
    except (ValueError, TypeError):
        return None
    return lambda data: hashlib.new("sha512_256", data).hexdigest()


_native = _native_sha512_256()
#: True when hashlib provides SHA-512/256; otherwise a pure-Python fallback is used.
SHA512_256_NATIVE = _native is not None

#: Hex-digest functions by hash name, as the algorithm table refers to them.
HASH_FUNCTIONS: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-1": lambda data: hashlib.sha1(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512": lambda data: hashlib.sha512(data).hexdigest(),
    "SHA-512-256": _native or _sha512_256,
}


@dataclass(frozen=True, slots=True)
class Algorithm:
    """One Digest algorithm: its spelling, hash, and how far RFC 7616 blesses it."""

    name: str  # canonical spelling, e.g. "SHA-256-sess"
    hash_name: str  # key of HASH_FUNCTIONS
    session: bool  # the "-sess" variant: H(A1) also covers nonce and cnonce
    registered: bool  # in the RFC 7616 §6.1 registry
    weak: bool  # MD5 and SHA-1: kept for compatibility only

    @property
    def hex_length(self) -> int:
        return {"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-512": 128, "SHA-512-256": 64}[
            self.hash_name
        ]

    def hash(self, data: bytes) -> str:
        return HASH_FUNCTIONS[self.hash_name](data)


def _algorithms() -> dict[str, Algorithm]:
    table: dict[str, Algorithm] = {}
    # (name, hash, registered, weak). "SHA" and "SHA-512" are not registered but are sent
    # by some implementations (httpx among them), so they are recognised and reported.
    for name, hash_name, registered, weak in (
        ("MD5", "MD5", True, True),
        ("SHA-256", "SHA-256", True, False),
        ("SHA-512-256", "SHA-512-256", True, False),
        ("SHA", "SHA-1", False, True),
        ("SHA-512", "SHA-512", False, False),
    ):
        for session in (False, True):
            full = f"{name}-sess" if session else name
            table[full.upper()] = Algorithm(full, hash_name, session, registered, weak)
    return table


#: Every algorithm authlens can compute, by upper-cased name.
ALGORITHMS: dict[str, Algorithm] = _algorithms()
DEFAULT_ALGORITHM = ALGORITHMS["MD5"]


def lookup_algorithm(name: str | None) -> Algorithm | None:
    """The algorithm named (case-insensitively); MD5 when ``name`` is None (RFC 7616 §3.3)."""
    if name is None:
        return DEFAULT_ALGORITHM
    return ALGORITHMS.get(name.strip().upper())


def _b(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def compute_ha1(
    algorithm: str | None,
    username: str | bytes,
    realm: str | bytes,
    password: str | bytes,
    nonce: str | bytes = b"",
    cnonce: str | bytes = b"",
) -> str:
    """H(A1) of RFC 7616 §3.4.2 (with nonce and cnonce for the ``-sess`` variants).

    Text is encoded as UTF-8 (what ``charset="UTF-8"`` announces); pass bytes to use
    another encoding. Raises ValueError for an algorithm authlens does not know.
    """
    alg = lookup_algorithm(algorithm)
    if alg is None:
        raise ValueError(f"unknown Digest algorithm {algorithm!r}")
    ha1 = alg.hash(b":".join((_b(username), _b(realm), _b(password))))
    if alg.session:
        ha1 = alg.hash(b":".join((ha1.encode("ascii"), _b(nonce), _b(cnonce))))
    return ha1


def compute_response(
    algorithm: str | None,
    username: str | bytes,
    realm: str | bytes,
    password: str | bytes,
    method: str | bytes,
    uri: str | bytes,
    nonce: str | bytes,
    nc: str | bytes | None,
    cnonce: str | bytes | None,
    qop: str | None,
    entity_body: bytes = b"",
) -> str:
    """The ``response`` a client computes (RFC 7616 §3.4.1), as lower-case hex.

    ``qop`` None (or empty) gives the RFC 2069 form ``H(HA1:nonce:HA2)``; "auth-int"
    hashes ``entity_body`` into A2 (RFC 7616 §3.4.3). ``username`` is the real name even
    when the client sent a userhash. Raises ValueError for an unknown algorithm or qop.
    """
    alg = lookup_algorithm(algorithm)
    if alg is None:
        raise ValueError(f"unknown Digest algorithm {algorithm!r}")
    cnonce_b = _b(cnonce or b"")
    ha1 = compute_ha1(algorithm, username, realm, password, nonce, cnonce_b)
    a2 = b":".join((_b(method), _b(uri)))
    if qop == QOP_AUTH_INT:
        a2 += b":" + alg.hash(entity_body).encode("ascii")
    elif qop not in (None, "", QOP_AUTH):
        raise ValueError(f"unknown Digest qop {qop!r}")
    ha2 = alg.hash(a2).encode("ascii")
    if not qop:
        return alg.hash(b":".join((ha1.encode("ascii"), _b(nonce), ha2)))
    parts = (ha1.encode("ascii"), _b(nonce), _b(nc or b""), cnonce_b, qop.encode("ascii"), ha2)
    return alg.hash(b":".join(parts))


def compute_userhash(algorithm: str | None, username: str | bytes, realm: str | bytes) -> str:
    """``H(username ":" realm)``, sent as ``username`` when ``userhash=true`` (RFC 7616 §3.4.4)."""
    alg = lookup_algorithm(algorithm)
    if alg is None:
        raise ValueError(f"unknown Digest algorithm {algorithm!r}")
    return alg.hash(b":".join((_b(username), _b(realm))))


def check_response(
    params: Mapping[str, str],
    password: str | bytes,
    method: str,
    *,
    username: str | bytes | None = None,
    entity_body: bytes = b"",
) -> bool | None:
    """Whether Digest credential ``params`` match ``password``; None when that cannot be told.

    ``params`` are the lexed credential parameters (``Credentials.params``). ``username``
    overrides the one in ``params``, and is needed when the client sent a userhash or
    ``username*``. Never raises.
    """
    alg = lookup_algorithm(params.get("algorithm"))
    response = params.get("response")
    if alg is None or response is None:
        return None
    if username is None:
        if is_true_false(params.get("userhash", "false")):
            return None
        if "username*" in params:
            username, _ = decode_ext_value(params["username*"])
        else:
            username = params.get("username")
    realm, nonce, uri = params.get("realm"), params.get("nonce"), params.get("uri")
    if username is None or realm is None or nonce is None or uri is None:
        return None
    qop = params.get("qop") or None
    try:
        expected = compute_response(
            alg.name, username, realm, password, method, uri, nonce,
            params.get("nc"), params.get("cnonce"), qop, entity_body,
        )  # fmt: skip
    except (ValueError, UnicodeError):
        return None
    return expected == response.strip().lower()


# -- the challenge ---------------------------------------------------------------------


def _algorithm_findings(name: str | None, alg: Algorithm | None, ref: str) -> list[Finding]:
    if name is None:
        return [
            info(
                DIGEST_DEFAULT_ALGORITHM,
                "No algorithm is named, so MD5 applies (the RFC 2617 default).",
                ref,
            )
        ]
    if alg is None:
        return [
            error(
                DIGEST_UNKNOWN_ALGORITHM,
                f"The algorithm {shown(name)} is not a Digest algorithm; RFC 7616 defines "
                "MD5, SHA-256 and SHA-512-256, each also with -sess.",
                REF_REGISTRY,
            )
        ]
    findings: list[Finding] = []
    if not alg.registered:
        findings.append(
            warning(
                DIGEST_NONSTANDARD_ALGORITHM,
                f"{shown(name)} is not a registered Digest algorithm; only some clients "
                "understand it (RFC 7616 defines MD5, SHA-256 and SHA-512-256).",
                REF_REGISTRY,
            )
        )
    if alg.weak:
        findings.append(
            warning(
                DIGEST_WEAK_ALGORITHM,
                f"{alg.name} is weak; RFC 7616 keeps MD5 for backward compatibility only "
                "and recommends SHA-256.",
                ref,
            )
        )
    return findings


def _qop_list(value: str) -> list[str]:
    return [q.strip() for q in value.split(",")[:_MAX_LIST] if q.strip()]


def decode_challenge(item: AuthInput) -> Decoded:
    """realm, domain, nonce, opaque, stale, algorithm, qop, charset, userhash (§3.3)."""
    p = item.params
    findings: list[Finding] = []
    if item.token68 is not None:
        findings.append(
            error(
                DIGEST_TOKEN68,
                "A Digest challenge carries parameters, not a token68.",
                REF_CHALLENGE,
            )
        )
    realm, nonce = p.get("realm"), p.get("nonce")
    if realm is None:
        findings.append(
            error(
                DIGEST_MISSING_REALM,
                "The Digest challenge has no realm; it is required.",
                REF_CHALLENGE,
            )
        )
    if nonce is None:
        findings.append(
            error(
                DIGEST_MISSING_NONCE,
                "The Digest challenge has no nonce; without one no client can answer it.",
                REF_CHALLENGE,
            )
        )
    stale = False
    if "stale" in p:
        flag = is_true_false(p["stale"])
        if flag is None:
            findings.append(
                warning(
                    DIGEST_BAD_STALE,
                    f'stale={shown(p["stale"])} is neither "true" nor "false"; clients '
                    "treat it as false.",
                    REF_CHALLENGE,
                )
            )
        stale = bool(flag)
    if stale:
        findings.append(
            info(
                DIGEST_STALE,
                "stale=true: the credentials were right but the nonce had expired; the "
                "client should retry at once with the new nonce.",
                REF_CHALLENGE,
            )
        )
    alg_name = p.get("algorithm")
    alg = lookup_algorithm(alg_name)
    findings += _algorithm_findings(alg_name, alg, REF_CHALLENGE)

    qops: list[str] | None = None
    if "qop" in p:
        qops = _qop_list(p["qop"])
        unknown = [q for q in qops if q.lower() not in KNOWN_QOPS]
        if unknown:
            findings.append(
                warning(
                    DIGEST_UNKNOWN_QOP,
                    "Unknown qop value(s) "
                    + ", ".join(shown(q, 30) for q in unknown)
                    + "; only auth and auth-int are defined.",
                    REF_CHALLENGE,
                )
            )
        lowered = {q.lower() for q in qops}
        if QOP_AUTH_INT in lowered and QOP_AUTH not in lowered:
            findings.append(
                warning(
                    DIGEST_AUTH_INT_ONLY,
                    "The challenge offers only qop=auth-int (integrity of the body), which "
                    "many clients (curl, httpx, browsers) do not implement.",
                    REF_CHALLENGE,
                )
            )
    else:
        findings.append(
            warning(
                DIGEST_NO_QOP,
                "The challenge has no qop, so clients fall back to the RFC 2069 form without "
                "a client nonce; RFC 7616 requires qop.",
                REF_CHALLENGE,
            )
        )
        if alg is not None and alg.session:
            findings.append(
                warning(
                    DIGEST_SESS_WITHOUT_CNONCE,
                    f"{alg.name} mixes a client nonce into H(A1), but without qop the client "
                    "sends no cnonce; client and server will disagree.",
                    "RFC 7616 §3.4.2",
                )
            )
    charset = p.get("charset")
    if charset is not None and charset.strip().lower() != "utf-8":
        findings.append(
            warning(
                DIGEST_BAD_CHARSET,
                f'charset={shown(charset)} is not allowed; the only value is "UTF-8".',
                REF_CHALLENGE,
            )
        )
    userhash = False
    if "userhash" in p:
        flag = is_true_false(p["userhash"])
        if flag is None:
            findings.append(
                warning(
                    DIGEST_BAD_USERHASH,
                    f'userhash={shown(p["userhash"])} is neither "true" nor "false".',
                    REF_CHALLENGE,
                )
            )
        userhash = bool(flag)
    findings += unknown_params("Digest", p, CHALLENGE_PARAMS, REF_CHALLENGE)

    domain = p.get("domain")
    summary: dict[str, Any] = {
        "realm": realm,
        "domain": domain.split()[:_MAX_LIST] if domain is not None else None,
        "nonce": nonce,
        "opaque": p.get("opaque"),
        "stale": stale,
        "algorithm": alg.name if alg else alg_name,
        "algorithm_given": alg_name is not None,
        "algorithm_known": alg is not None,
        "session": bool(alg and alg.session),
        "qop": qops,
        "charset": charset,
        "utf8": charset is not None and charset.strip().lower() == "utf-8",
        "userhash": userhash,
    }
    return Decoded(summary, findings, _challenge_sentence(item, realm, alg_name, alg, qops, stale))


def _challenge_sentence(
    item: AuthInput,
    realm: str | None,
    alg_name: str | None,
    alg: Algorithm | None,
    qops: list[str] | None,
    stale: bool,
) -> str:
    where = f" for realm {shown(realm)}" if realm is not None else ""
    start = who(item.is_proxy).capitalize()
    if alg is None:
        return (
            f"{start} wants Digest authentication{where} with the unknown algorithm "
            f"{shown(alg_name)}, which clients cannot compute."
        )
    hashed = alg.hash_name + (" (session variant)" if alg.session else "")
    sentence = f"{start} wants Digest authentication with {alg.name}{where}; "
    known = [q for q in qops or [] if q.lower() in KNOWN_QOPS]
    if known:
        sentence += (
            f"your client must hash the password with {hashed} and include a cnonce and "
            f"nonce count (qop={known[0].lower() if len(known) == 1 else '/'.join(known)})"
        )
    else:
        sentence += (
            f"your client must hash the password with {hashed} in the legacy RFC 2069 form (no qop)"
        )
    if stale:
        sentence += "; stale=true means the old nonce expired, so retry with the new one"
    return sentence + "."


# -- the credentials -------------------------------------------------------------------


def decode_credentials(item: AuthInput) -> Decoded:
    """username / username* / userhash, realm, nonce, uri, response, algorithm, cnonce,
    opaque, qop and nc (RFC 7616 §3.4), with what is missing or malformed."""
    p = item.params
    findings: list[Finding] = []
    if item.token68 is not None:
        findings.append(
            error(
                DIGEST_TOKEN68, "Digest credentials are parameters, not a token68.", REF_CREDENTIALS
            )
        )
    alg_name = p.get("algorithm")
    alg = lookup_algorithm(alg_name)
    if alg_name is not None:
        findings += _algorithm_findings(alg_name, alg, REF_CREDENTIALS)

    username, username_form, user_findings = _username(p, alg)
    findings += user_findings

    missing = [n for n in ("realm", "nonce", "uri", "response") if n not in p]
    if "username" not in p and "username*" not in p:
        missing.insert(0, "username")
    if missing:
        findings.append(
            error(
                DIGEST_MISSING_PARAM,
                "The Digest credentials lack " + ", ".join(missing) + "; servers refuse them.",
                REF_CREDENTIALS,
            )
        )

    qop = p.get("qop")
    if qop is not None:
        if qop.strip().lower() not in KNOWN_QOPS:
            findings.append(
                error(
                    DIGEST_BAD_QOP,
                    f"qop={shown(qop)} must be exactly one of auth or auth-int: the one the "
                    "client chose from the challenge's list.",
                    REF_CREDENTIALS,
                )
            )
        lacking = [n for n in ("cnonce", "nc") if n not in p]
        if lacking:
            findings.append(
                error(
                    DIGEST_MISSING_CNONCE_NC,
                    f"With qop, the credentials must also carry {' and '.join(lacking)}.",
                    REF_CREDENTIALS,
                )
            )
    elif "cnonce" in p or "nc" in p:
        findings.append(
            warning(
                DIGEST_CNONCE_WITHOUT_QOP,
                "cnonce or nc is sent without qop; a server computes the RFC 2069 form and "
                "ignores them, which the client may not have done.",
                REF_CREDENTIALS,
            )
        )
    if alg is not None and alg.session and "cnonce" not in p:
        findings.append(
            error(
                DIGEST_SESS_WITHOUT_CNONCE,
                f"{alg.name} needs the cnonce to compute H(A1), but the credentials carry "
                "none; the server cannot check the response.",
                "RFC 7616 §3.4.2",
            )
        )
    nc = p.get("nc")
    nonce_count: int | None = None
    if nc is not None:
        if _NC.fullmatch(nc):
            nonce_count = int(nc, 16)
        else:
            findings.append(
                warning(
                    DIGEST_BAD_NC,
                    f"nc={shown(nc, 20)} must be exactly 8 hex digits (e.g. 00000001).",
                    REF_CREDENTIALS,
                )
            )
    response = p.get("response")
    if response is not None:
        findings += _response_findings(response, alg)
    findings += unknown_params("Digest", p, CREDENTIAL_PARAMS, REF_CREDENTIALS)

    summary: dict[str, Any] = {
        "username": username,
        "username_form": username_form,
        "userhash": username_form == "userhash",
        "realm": p.get("realm"),
        "nonce": p.get("nonce"),
        # The query string of the request target may carry a token (?access_token=).
        "uri": uri_value(p["uri"]) if "uri" in p else None,
        "response": Secret(response) if response is not None else None,
        "response_length": len(response) if response is not None else None,
        "algorithm": alg.name if alg else alg_name,
        "algorithm_given": alg_name is not None,
        "cnonce": p.get("cnonce"),
        "opaque": p.get("opaque"),
        "qop": qop,
        "nc": nc,
        "nonce_count": nonce_count,
    }
    if username_form == "userhash":
        summary["username_hash"] = p.get("username")
    name = (
        "a hashed user name" if username_form == "userhash"
        else f"user {shown(username)}" if username is not None
        else "no user name"
    )  # fmt: skip
    alg_text = alg.name if alg else shown(alg_name)
    qop_text = f", qop={qop}" if qop else ", no qop"
    uri = f" for URI {shown(redact_query(p['uri']))}" if "uri" in p else ""
    realm = f" in realm {shown(p['realm'])}" if "realm" in p else ""
    return Decoded(
        summary,
        findings,
        f"The client answered a Digest challenge ({alg_text}{qop_text}) as {name}{realm}{uri}.",
    )


def _username(p: Mapping[str, str], alg: Algorithm | None) -> tuple[str | None, str, list[Finding]]:
    """The user name, how it was sent ("plain", "ext-value", "userhash"), and findings."""
    findings: list[Finding] = []
    hashed = False
    if "userhash" in p:
        flag = is_true_false(p["userhash"])
        if flag is None:
            findings.append(
                warning(
                    DIGEST_BAD_USERHASH,
                    f'userhash={shown(p["userhash"])} is neither "true" nor "false".',
                    REF_USERHASH,
                )
            )
        hashed = bool(flag)
    if "username" in p and "username*" in p:
        findings.append(
            error(
                DIGEST_USERNAME_CONFLICT,
                "Both username and username* are present; a client sends exactly one of them.",
                REF_CREDENTIALS,
            )
        )
    if hashed:
        value = p.get("username", "")
        if alg is not None and not (len(value) == alg.hex_length and _HEX.fullmatch(value)):
            findings.append(
                warning(
                    DIGEST_BAD_USERHASH_VALUE,
                    f"With userhash=true, username must be the {alg.hash_name} hex digest of "
                    f"'username:realm' ({alg.hex_length} hex digits).",
                    REF_USERHASH,
                )
            )
        return None, "userhash", findings
    if "username*" in p and "username" not in p:
        text, problem = decode_ext_value(p["username*"])
        if problem:
            findings.append(
                warning(
                    DIGEST_BAD_USERNAME_STAR,
                    f"username* is malformed: {problem}.",
                    REF_EXT_VALUE,
                )
            )
        return text, "ext-value", findings
    username = p.get("username")
    if username is not None and not username.isascii():
        findings.append(
            info(
                DIGEST_NON_ASCII_USERNAME,
                "The user name holds non-ASCII characters in a quoted string; RFC 7616 sends "
                "such names as username* (RFC 8187) or hashed, and servers may read the bytes "
                "differently.",
                REF_CREDENTIALS,
            )
        )
    return username, "plain", findings


def _response_findings(response: str, alg: Algorithm | None) -> list[Finding]:
    if not _HEX.fullmatch(response):
        return [
            error(
                DIGEST_BAD_RESPONSE,
                "The response is not hexadecimal; it cannot be a Digest response.",
                REF_RESPONSE,
            )
        ]
    findings: list[Finding] = []
    if alg is not None and len(response) != alg.hex_length:
        findings.append(
            error(
                DIGEST_BAD_RESPONSE,
                f"The response has {len(response)} hex digits, but {alg.name} gives "
                f"{alg.hex_length}: the client hashed with another algorithm than it names.",
                REF_RESPONSE,
            )
        )
    if response != response.lower():
        findings.append(
            info(
                DIGEST_UPPERCASE_RESPONSE,
                "The response uses upper-case hex; RFC 7616 specifies lower case, and servers "
                "that compare strings refuse it.",
                REF_RESPONSE,
            )
        )
    return findings


SCHEME = register(
    Scheme(
        name="Digest",
        reference=REF,
        decode_challenge=decode_challenge,
        decode_credentials=decode_credentials,
    )
)
