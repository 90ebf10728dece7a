"""Basic authentication (RFC 7617): a user name and password, base64-encoded.

The credentials are ``base64(user-id ":" password)`` (RFC 7617 §2). RFC 7617 left the
character encoding open unless the server announces ``charset="UTF-8"`` (§2.1), so the
commonest silent failure is a non-ASCII password sent as UTF-8 to a server that expects
ISO-8859-1, or the reverse. The summary therefore says which encoding the bytes are in
(``encoding``), and the findings say what looks wrong; a later diagnosis
(``basic-charset-mismatch``) combines them with the challenge.

The password is only ever a :class:`~authlens.secret.Secret`; neither it nor the base64
text that carries it appears in the summary.
"""

from __future__ import annotations

from typing import Any

from authlens.findings import Finding, error, info, warning
from authlens.schemes import AuthInput, Decoded, Scheme, register
from authlens.schemes._common import b64decode, shown, unknown_params, who
from authlens.schemes._tokens import identify_token
from authlens.secret import Secret

REF = "RFC 7617"
REF_SCHEME = "RFC 7617 §2"
REF_CHARSET = "RFC 7617 §2.1"

# Finding IDs.
BASIC_MISSING_REALM = "basic-missing-realm"
BASIC_BAD_CHARSET = "basic-bad-charset"
BASIC_CHALLENGE_TOKEN68 = "basic-challenge-token68"
BASIC_MISSING_CREDENTIALS = "basic-missing-credentials"
BASIC_PARAMS_NOT_TOKEN = "basic-params-instead-of-token68"
BASIC_BAD_BASE64 = "basic-bad-base64"
BASIC_LENIENT_BASE64 = "basic-lenient-base64"
BASIC_MISSING_COLON = "basic-missing-colon"
BASIC_EMPTY_USER = "basic-empty-user"
BASIC_EMPTY_PASSWORD = "basic-empty-password"
BASIC_NON_ASCII = "basic-non-ascii"
BASIC_LATIN1 = "basic-latin1"
BASIC_MOJIBAKE = "basic-mojibake"
BASIC_CONTROL_CHARS = "basic-control-chars"
BASIC_COLON_IN_PASSWORD = "basic-colon-in-password"
BASIC_USER_IS_TOKEN = "basic-user-is-token"

# Values of summary["encoding"].
ASCII = "ascii"
UTF8 = "utf-8"
LATIN1 = "iso-8859-1"


def decode_challenge(item: AuthInput) -> Decoded:
    """``realm`` (required, RFC 7617 §2) and ``charset`` (only "UTF-8", §2.1)."""
    params = item.params
    findings: list[Finding] = []
    realm = params.get("realm")
    charset = params.get("charset")
    if realm is None:
        findings.append(
            error(
                BASIC_MISSING_REALM,
                "The Basic challenge has no realm; RFC 7617 requires one, and some clients "
                "ignore a challenge without it.",
                REF_SCHEME,
            )
        )
    utf8 = False
    if charset is not None:
        if charset.strip().lower() == "utf-8":
            utf8 = True
        else:
            findings.append(
                warning(
                    BASIC_BAD_CHARSET,
                    f'charset={shown(charset)} is not allowed; the only value is "UTF-8". '
                    "Clients ignore it and use their default encoding.",
                    REF_CHARSET,
                )
            )
    if item.token68 is not None:
        findings.append(
            error(
                BASIC_CHALLENGE_TOKEN68,
                "A Basic challenge carries parameters (realm, charset), not a token68.",
                REF_SCHEME,
            )
        )
    findings += unknown_params("Basic", params, ("realm", "charset"), REF_SCHEME)
    where = f" for realm {shown(realm)}" if realm is not None else ""
    encoding = (
        "; it asks for UTF-8, so non-ASCII names and passwords must be sent as UTF-8"
        if utf8
        else ""
    )
    summary: dict[str, Any] = {"realm": realm, "charset": charset, "utf8": utf8}
    return Decoded(
        summary=summary,
        findings=findings,
        plain=f"{who(item.is_proxy).capitalize()} wants a user name and password (Basic)"
        f"{where}{encoding}; they travel only base64-encoded, so anyone on the path can "
        "read them unless the connection uses TLS.",
    )


def decode_credentials(item: AuthInput) -> Decoded:
    """Decode ``base64(user ":" password)``: strictly, then leniently with a finding."""
    findings: list[Finding] = []
    token = item.token68
    if token is None:
        if item.params:
            findings.append(
                error(
                    BASIC_PARAMS_NOT_TOKEN,
                    "Basic credentials must be one base64 token68, not name=value parameters "
                    "(an '=' inside the value makes it look like a parameter).",
                    REF_SCHEME,
                )
            )
            summary: dict[str, Any] = {
                "params": {name: Secret(value) for name, value in item.params.items()}
            }
        else:
            findings.append(
                error(
                    BASIC_MISSING_CREDENTIALS,
                    "'Basic' is followed by nothing the server can read; it must be followed "
                    "by base64(user:password).",
                    REF_SCHEME,
                )
            )
            summary = {}
        return Decoded(summary, findings, "The client sent the word Basic without credentials.")

    decoded = b64decode(token)
    if decoded.data is None:
        reason = "too long to decode" if decoded.too_long else "not valid base64"
        findings.append(
            error(
                BASIC_BAD_BASE64,
                f"The Basic credentials are {reason}; the server cannot read a user name "
                "from them.",
                REF_SCHEME,
            )
        )
        summary = {"token": Secret(token), "token_length": len(token), "base64": "invalid"}
        return Decoded(
            summary, findings, "The client sent Basic credentials that are not valid base64."
        )
    if decoded.tolerated:
        findings.append(
            warning(
                BASIC_LENIENT_BASE64,
                "The base64 of the Basic credentials uses "
                + ", ".join(decoded.tolerated)
                + "; lenient servers accept it, strict ones refuse the credentials.",
                "RFC 4648 §4",
            )
        )
    raw = decoded.data
    text, encoding, enc_findings = _text(raw)
    findings += enc_findings
    summary = {"base64": "strict" if decoded.strict else "lenient", "encoding": encoding}
    if _has_ctl(text):
        findings.append(
            warning(
                BASIC_CONTROL_CHARS,
                "The decoded credentials contain control characters, which neither the user "
                "name nor the password may hold.",
                REF_SCHEME,
            )
        )
    user, colon, password = text.partition(":")  # the user-id cannot hold a colon
    if not colon:
        findings.append(
            error(
                BASIC_MISSING_COLON,
                "The decoded credentials have no ':' between user name and password; "
                "servers cannot split them (was an API key sent as Basic?).",
                REF_SCHEME,
            )
        )
        summary.update(user=None, password=None, value=Secret(text), value_length=len(text))
        return Decoded(
            summary,
            findings,
            "The client sent Basic credentials without the ':' that separates user name "
            "and password.",
        )
    kind = identify_token(user)
    if kind is not None:
        findings.append(
            info(
                BASIC_USER_IS_TOKEN,
                f"The user name looks like a {kind[1]}; it is redacted like a password.",
            )
        )
    summary.update(
        user=Secret(user) if kind is not None else user,
        password=Secret(password),
        password_length=len(password),
    )
    if not user:
        findings.append(
            warning(
                BASIC_EMPTY_USER,
                "The user name is empty; most servers refuse that (some APIs expect the key "
                "as the user name instead).",
                REF_SCHEME,
            )
        )
    if not password:
        findings.append(
            warning(
                BASIC_EMPTY_PASSWORD,
                "The password is empty; correct only for APIs that take a key as the user name.",
                REF_SCHEME,
            )
        )
    if ":" in password:
        findings.append(
            info(
                BASIC_COLON_IN_PASSWORD,
                "The password contains ':'; that is allowed, but servers that split on every "
                "colon instead of the first read a different password.",
                REF_SCHEME,
            )
        )
    name = "a user name that looks like a token" if kind else f"user {shown(user)}"
    extra = {
        ASCII: "",
        UTF8: " (non-ASCII text, encoded as UTF-8)",
        LATIN1: " (non-ASCII text, encoded as ISO-8859-1, not UTF-8)",
    }[encoding]
    return Decoded(
        summary,
        findings,
        f"The client sent a user name and password (Basic) as {name}{extra}.",
    )


def _text(raw: bytes) -> tuple[str, str, list[Finding]]:
    """The decoded bytes as text, the encoding they are in, and what looks wrong with it."""
    if raw.isascii():
        return raw.decode("ascii"), ASCII, []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        return (
            text,
            LATIN1,
            [
                warning(
                    BASIC_LATIN1,
                    "The credentials hold non-ASCII bytes that are not UTF-8; they read as "
                    "ISO-8859-1 (or Windows-1252). A server that expects UTF-8 (as "
                    'charset="UTF-8" announces) will see a different name or password.',
                    REF_CHARSET,
                )
            ],
        )
    findings = [
        info(
            BASIC_NON_ASCII,
            "The credentials hold non-ASCII characters, encoded as UTF-8. A server that "
            "expects ISO-8859-1 (the old default) will see a different name or password.",
            REF_CHARSET,
        )
    ]
    if _mojibake(text):
        findings.append(
            warning(
                BASIC_MOJIBAKE,
                "The credentials look encoded to UTF-8 twice (e.g. 'Ã©' where 'é' was meant); "
                "the client read UTF-8 bytes as ISO-8859-1 before encoding them again.",
                REF_CHARSET,
            )
        )
    return text, UTF8, findings


def _mojibake(text: str) -> bool:
    """UTF-8 text that is itself UTF-8 bytes read as ISO-8859-1 or Windows-1252."""
    for codec in ("latin-1", "cp1252"):
        try:
            again = text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if again != text:
            return True
    return False


def _has_ctl(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


SCHEME = register(
    Scheme(
        name="Basic",
        reference=REF,
        decode_challenge=decode_challenge,
        decode_credentials=decode_credentials,
    )
)
