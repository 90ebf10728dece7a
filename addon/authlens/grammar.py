"""RFC 9110 §11 and §5.6 lexing of authentication fields, strict first and lenient after.

Theory of operation
-------------------
The ABNF (RFC 9110 §11.3, §11.6.1, §5.6.2–§5.6.4)::

    WWW-Authenticate = #challenge
    challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param  = token BWS "=" BWS ( token / quoted-string )
    token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    #element    = [ element ] *( OWS "," OWS [ element ] )

The list syntax is ambiguous by design: a comma separates both challenges and the
parameters of one challenge. An element is therefore classified by its shape: ``token =``
starts a parameter of the current challenge, anything else that starts with a token starts
a new challenge. :class:`_LineScanner` walks each field line once with an advancing index;
every step consumes input, and each regular expression used is linear (possessive or
single-class runs), so the whole scan is linear in the input size.

Real servers break the grammar in a handful of ways; each is accepted where the intent is
unambiguous and reported as a finding with the rule it breaks (see the ``*_ID`` constants).
Field lines longer than :data:`MAX_FIELD_CHARS` and lists longer than
:data:`MAX_CHALLENGES` / :data:`MAX_PARAMS` are cut, with a ``truncated`` finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from authlens.findings import Finding, error, info, warning

# Size caps. A Kerberos ticket with a large PAC makes Negotiate credentials of several
# dozen kilobytes; nothing legitimate comes near these.
MAX_FIELD_CHARS = 128 * 1024
MAX_CHALLENGES = 128
MAX_PARAMS = 128
MAX_FIELD_LINES = MAX_CHALLENGES

# Finding IDs.
TRUNCATED = "truncated"
NON_UTF8 = "non-utf8"
OBS_FOLD = "obs-fold"
CONTROL_CHAR = "control-char"
MISSING_SCHEME = "missing-scheme"
MISSING_COMMA = "missing-comma"
COMMA_AFTER_SCHEME = "comma-after-scheme"
TAB_AFTER_SCHEME = "tab-after-scheme"
UNQUOTED_SPACE = "unquoted-value-with-space"
UNTERMINATED_QUOTE = "unterminated-quote"
SINGLE_QUOTED = "single-quoted-value"
DUPLICATE_PARAM = "duplicate-param"
MISSING_VALUE = "missing-value"
INVALID_TOKEN_CHAR = "invalid-token-char"
UNEXPECTED_CHAR = "unexpected-char"
TOKEN68_WITH_PARAMS = "token68-with-params"
EMPTY_FIELD = "empty-field"

REF_CHALLENGE = "RFC 9110 §11.6.1"
REF_PARAM = "RFC 9110 §11.2"
REF_LIST = "RFC 9110 §5.6.1"
REF_QUOTED = "RFC 9110 §5.6.4"
REF_TOKEN = "RFC 9110 §5.6.2"
REF_FOLD = "RFC 9112 §5.2"
REF_FIELD_VALUE = "RFC 9110 §5.5"

TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_OWS = re.compile(r"[ \t]*")
# Possessive quantifiers: a missing closing quote fails in linear time, without backtracking.
_QUOTED = re.compile(r'"([^"\\]*+(?:\\.[^"\\]*+)*+)"', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
# A lenient unquoted value: anything up to a separator. Non-tchars in it are reported.
# Only SP and HTAB separate (RFC 9110 OWS): with \s, a form feed or a NO-BREAK SPACE
# (a latin-1 0xA0 byte) starting a value matched nothing and broke the scanner.
_LENIENT_VALUE = re.compile(r'[^, \t"]+')
_NON_TCHAR = re.compile(r"[^!#$%&'*+\-.^_`|~0-9A-Za-z \t]")  # white space reported apart
_FOLD = re.compile(r"\r?\n[ \t]+")
# The strict fast path: one element of a valid list per match (see _lex_strict). Every
# quantifier is possessive and every alternative starts differently enough that a failed
# match costs time linear in what it looked at.
_T = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_STRICT_ELEMENT = re.compile(
    r"[ \t]*+(?:,[ \t]*+)*+"  # OWS and empty list elements
    r"(?:"
    rf"({_T}++)[ \t]*+=[ \t]*+"  # auth-param name BWS "=" BWS
    rf"(?:({_T}++)|\"([^\"\\\x00-\x08\x0a-\x1f\x7f]*+(?:\\[^\x00-\x08\x0a-\x1f\x7f][^\"\\\x00-\x08\x0a-\x1f\x7f]*+)*+)\")"
    r"(?=[ \t]*+(?:,|\Z))"
    rf"|({_T}++)"  # auth-scheme, then a token68, the start of a parameter, or a separator
    r"(?:[ ]++([A-Za-z0-9\-._~+/]++=*+)(?=[ \t]*+(?:,|\Z))"
    rf"|[ ]++(?={_T}++[ \t]*+=[ \t]*+[^ \t=,])"
    r"|(?=[ \t]*+(?:,|\Z)))"
    r")"
)
_NAME_EQ = re.compile(rf"{_T}++=")
# Schemes whose challenges and credentials are defined with parameters only, never a
# token68: for them 'realm=' can only be a parameter that lost its value.
PARAM_SCHEMES = frozenset(
    {"basic", "digest", "bearer", "dpop", "hoba", "mutual", "concealed", "privatetoken"}
)
_EMPTY_REST = re.compile(r"[ \t,]*+\Z")
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


_TOO_MANY_CHALLENGES = warning(
    TRUNCATED, f"More than {MAX_CHALLENGES} challenges; the rest were ignored."
)


@dataclass(slots=True)
class RawChallenge:
    """One challenge (or credential) as lexed: names lower-cased, values unescaped."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None
    findings: list[Finding] = field(default_factory=list)
    # Set while the scheme stood alone before a comma, so that following parameters may
    # belong to it ("Basic, realm=..."): reported once if they do.
    _bare: bool = False


@dataclass(slots=True)
class Lexed:
    challenges: list[RawChallenge]
    findings: list[Finding]  # field-level findings, not tied to one challenge


def to_text(value: str | bytes, findings: list[Finding]) -> str:
    """Field bytes (or mitmproxy's surrogate-escaped str) to text, reporting non-UTF-8."""
    if isinstance(value, str):
        if value.isascii() or not _has_surrogates(value):
            return value
        # mitmproxy escapes undecodable bytes as U+DC80..U+DCFF; any other lone surrogate
        # cannot come from bytes at all and is replaced.
        value = value.encode("utf-8", "surrogateescape" if _only_escapes(value) else "replace")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        findings.append(
            warning(
                NON_UTF8,
                "The field holds bytes that are not UTF-8; they were read as ISO-8859-1. "
                "Field values should be ASCII.",
                REF_FIELD_VALUE,
            )
        )
        return value.decode("latin-1")


def _only_escapes(text: str) -> bool:
    return all(not 0xD800 <= ord(ch) <= 0xDFFF or 0xDC80 <= ord(ch) <= 0xDCFF for ch in text)


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def normalize_lines(
    lines: str | bytes | Iterable[str | bytes], findings: list[Finding]
) -> list[str]:
    """Field lines to text, with obsolete line folding and size caps applied."""
    # Typed as objects: the public API promises totality even for callers that pass junk.
    items: Iterable[object] = [lines] if isinstance(lines, str | bytes) else lines
    out: list[str] = []
    for raw in items:
        if len(out) >= MAX_FIELD_LINES:
            # Every line holds at least one element: lines past the challenge cap add
            # nothing but work and findings.
            findings.append(
                warning(
                    TRUNCATED, f"More than {MAX_FIELD_LINES} field lines; the rest were ignored."
                )
            )
            break
        if not isinstance(raw, str | bytes):
            findings.append(error(UNEXPECTED_CHAR, f"Not a field value: {type(raw).__name__}."))
            continue
        text = to_text(raw, findings)
        if len(text) > MAX_FIELD_CHARS:
            findings.append(
                warning(
                    TRUNCATED,
                    f"A field line of {len(text):,} characters was cut to {MAX_FIELD_CHARS:,} "
                    "before parsing.",
                )
            )
            text = text[:MAX_FIELD_CHARS]
        # Rare: one search covers CR, LF and the other controls; isprintable() is the
        # cheap way to skip it for the usual ASCII line (it is False for HTAB, hence the
        # regex behind it).
        if not (text.isascii() and text.isprintable()) and _CTL.search(text):
            text = _unfold(text, findings)
        out.append(text)
    return out


def _unfold(text: str, findings: list[Finding]) -> str:
    folded = _FOLD.sub(" ", text)
    if folded != text:
        findings.append(
            warning(
                OBS_FOLD,
                "The field uses obsolete line folding (a line break followed by white space); "
                "it was read as a single space.",
                REF_FOLD,
            )
        )
    text = folded.replace("\r", " ").replace("\n", " ")
    if _CTL.search(text):
        findings.append(
            warning(
                CONTROL_CHAR,
                "The field contains control characters, which field values must not.",
                REF_FIELD_VALUE,
            )
        )
    return text


def lex_challenges(
    lines: str | bytes | Iterable[str | bytes], known_schemes: frozenset[str]
) -> Lexed:
    """Lex WWW-Authenticate / Proxy-Authenticate field lines into raw challenges.

    Several lines behave as their comma-joined combination (RFC 9110 §5.3): parameters at
    the start of a line continue the last challenge of the previous line. Never raises.
    """
    return _lex(lines, known_schemes, PARAM_SCHEMES)


def _lex(
    lines: str | bytes | Iterable[str | bytes],
    known_schemes: frozenset[str],
    param_schemes: frozenset[str],
) -> Lexed:
    findings: list[Finding] = []
    texts = normalize_lines(lines, findings)
    challenges: list[RawChallenge] = []
    for text in texts:
        if len(challenges) >= MAX_CHALLENGES:  # the cap holds across field lines too
            if _TOO_MANY_CHALLENGES not in findings:
                findings.append(_TOO_MANY_CHALLENGES)
            break
        if not _lex_strict(text, challenges, param_schemes):
            _LineScanner(text, known_schemes, param_schemes, challenges, findings).scan()
    if not challenges and not any(f.id == TRUNCATED for f in findings):
        findings.append(error(EMPTY_FIELD, "The field holds no challenge at all.", REF_CHALLENGE))
    return Lexed(challenges, findings)


# 'Negotiate <several KB of base64>' is the one common long field line. Checking its
# characters with bytes.translate runs at memory speed, several times faster than a regex
# character class; shorter lines are not worth the extra step.
_LONG_LINE = 256
_TOKEN68_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"


def _lex_token68_line(text: str, out: list[RawChallenge], param_schemes: frozenset[str]) -> bool:
    """``scheme 1*SP token68`` as the whole line, or False (nothing appended)."""
    scheme, sep, rest = text.partition(" ")
    if not sep or not _TOKEN.fullmatch(scheme):
        return False
    body = rest.lstrip(" ").rstrip(" \t")
    token68 = body
    body = body.rstrip("=")
    if not body or (token68 != body and scheme.lower() in param_schemes):
        return False
    try:
        raw = body.encode("ascii")
    except UnicodeEncodeError:
        return False
    if raw.translate(None, _TOKEN68_BYTES):
        return False
    out.append(RawChallenge(scheme, {}, token68))
    return True


def _lex_strict(
    text: str, out: list[RawChallenge], param_schemes: frozenset[str] = PARAM_SCHEMES
) -> bool:
    """Lex a strictly valid field line in one regex match per element.

    Most real headers are valid, and this path is several times faster than the lenient
    scanner. It accepts only what RFC 9110 allows and returns False (appending nothing) at
    the first doubt, so the lenient scanner, which reports every deviation, sees
    everything else; the property tests check that both read valid input alike.
    """
    if len(text) > _LONG_LINE and _lex_token68_line(text, out, param_schemes):
        return True
    local: list[RawChallenge] = []
    current: RawChallenge | None = None
    match = _STRICT_ELEMENT.match
    pos = 0
    while True:
        m = match(text, pos)
        if m is None:
            if _EMPTY_REST.match(text, pos) is None:
                return False
            break
        name, token, quoted, scheme, token68 = m.groups()
        pos = m.end()
        if scheme is not None:
            if token68 is not None and token68[-1] == "=" and scheme.lower() in param_schemes:
                return False  # maybe 'realm=' without its value: the scanner decides
            current = RawChallenge(scheme, {}, token68)
            # A scheme directly followed by a comma may not take parameters after it.
            current._bare = token68 is None and text[pos - 1] != " "
            local.append(current)
            if len(out) + len(local) > MAX_CHALLENGES:
                return False  # the scanner cuts at the cap and says so
            continue
        if current is None or current.token68 is not None or current._bare:
            return False
        key = name.lower()
        params = current.params
        if key in params or len(params) >= MAX_PARAMS:
            return False
        if token is not None:
            if len(token) > 1 and token[0] == "'" == token[-1]:  # valid; the scanner notes it
                return False
            params[key] = token
        else:
            params[key] = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
    out.extend(local)
    return True


def lex_credentials(value: str | bytes, known_schemes: frozenset[str]) -> Lexed:
    """Lex one Authorization / Proxy-Authorization value (a single credential)."""
    # Credentials of every scheme may be a token68 ('Basic YWI='): no parameter guess.
    lexed = _lex(value, known_schemes, frozenset())
    for raw in lexed.challenges:
        # Credential formats outside RFC 9110's own (AWS SigV4's 'Credential=AKID/...',
        # SCRAM's base64 'data=') put '/', '=' and ';' in unquoted values by design;
        # servers read them fine, so this is worth knowing, not a warning.
        raw.findings = [
            info(f.id, f.message, f.reference) if f.id == INVALID_TOKEN_CHAR else f
            for f in raw.findings
        ]
    if len(lexed.challenges) > 1:
        extra = ", ".join(c.scheme or "?" for c in lexed.challenges[1:])
        lexed.findings.append(
            error(
                "multiple-credentials",
                f"The field holds more than one credential (also: {extra}); it must hold "
                "exactly one. Servers read only the first, or refuse the request.",
                "RFC 9110 §11.6.2",
            )
        )
    if lexed.challenges and not lexed.challenges[0].scheme:
        lexed.findings.append(
            error(MISSING_SCHEME, "The credentials do not start with a scheme.", "RFC 9110 §11.4")
        )
    return lexed


class _LineScanner:
    __slots__ = ("challenges", "findings", "known", "n", "param_schemes", "text")

    def __init__(
        self,
        text: str,
        known_schemes: frozenset[str],
        param_schemes: frozenset[str],
        challenges: list[RawChallenge],
        findings: list[Finding],
    ) -> None:
        self.text = text
        self.n = len(text)
        self.known = known_schemes
        self.param_schemes = param_schemes
        self.challenges = challenges
        self.findings = findings

    # -- helpers -----------------------------------------------------------------------

    def _ows(self, pos: int) -> int:
        m = _OWS.match(self.text, pos)
        return m.end() if m else pos

    def _at_separator(self, pos: int) -> bool:
        return pos >= self.n or self.text[pos] == ","

    def _is_param_start(self, pos: int) -> bool:
        """True when ``token BWS =`` starts at ``pos``."""
        m = _TOKEN.match(self.text, pos)
        if not m:
            return False
        after = self._ows(m.end())
        return after < self.n and self.text[after] == "="

    def _current(self) -> RawChallenge | None:
        return self.challenges[-1] if self.challenges else None

    def _note(self, finding: Finding) -> None:
        current = self._current()
        (current.findings if current else self.findings).append(finding)

    def _skip_to_comma(self, pos: int) -> int:
        """Recovery: skip to the next comma outside a quoted string."""
        text, n = self.text, self.n
        while pos < n and text[pos] != ",":
            if text[pos] == '"':
                m = _QUOTED.match(text, pos)
                pos = m.end() if m else n
            else:
                pos += 1
        return pos

    # -- the scan ----------------------------------------------------------------------

    def scan(self) -> None:
        text, n = self.text, self.n
        pos = 0
        while pos < n:
            # Empty list elements and OWS are allowed anywhere (RFC 9110 §5.6.1).
            while pos < n and text[pos] in " \t,":
                pos += 1
            if pos >= n:
                break
            m = _TOKEN.match(text, pos)
            if not m:
                self._note(
                    warning(
                        UNEXPECTED_CHAR,
                        f"Unexpected {text[pos]!r} at position {pos}; skipped to the next comma.",
                        REF_CHALLENGE,
                    )
                )
                pos = self._skip_to_comma(pos + 1)
                continue
            after = self._ows(m.end())
            if after < n and text[after] == "=":
                pos = self._param(m.group(), after + 1)
            else:
                pos = self._challenge(m.group(), m.end())
            if len(self.challenges) > MAX_CHALLENGES:
                self.challenges.pop()
                if _TOO_MANY_CHALLENGES not in self.findings:
                    self.findings.append(_TOO_MANY_CHALLENGES)
                return

    def _challenge(self, scheme: str, pos: int) -> int:
        """A new challenge whose scheme ends at ``pos``; returns where the next element starts."""
        text, n = self.text, self.n
        challenge = RawChallenge(scheme)
        self.challenges.append(challenge)
        body = self._ows(pos)
        if body >= n or text[body] == ",":
            # The end of a field line counts as a comma too (RFC 9110 §5.3).
            challenge._bare = True
            return body
        if body == pos:
            # Something other than SP right after the scheme, e.g. 'Basic"realm"'.
            challenge.findings.append(
                warning(
                    UNEXPECTED_CHAR,
                    f"Unexpected {text[pos]!r} directly after the scheme '{scheme}'.",
                    REF_CHALLENGE,
                )
            )
            return self._skip_to_comma(pos)
        if "\t" in text[pos:body]:
            # 1*SP only: most parsers take a tab too, strict ones read 'Basic\trealm' as
            # a single unknown scheme.
            challenge.findings.append(
                warning(
                    TAB_AFTER_SCHEME,
                    f"A tab separates the scheme '{scheme}' from what follows; only spaces "
                    "may (1*SP).",
                    REF_CHALLENGE,
                )
            )
        m68 = _TOKEN68.match(text, body)
        if m68:
            end = self._ows(m68.end())
            if self._at_separator(end) or (
                m68.group().endswith("=") and not self._is_param_start(body)
            ):
                challenge.token68 = m68.group()
                if challenge.scheme.lower() in self.param_schemes:
                    self._token68_as_empty_param(challenge)
                return self._after_element(end, quoted=True)
        if self._is_param_start(body):
            m = _TOKEN.match(text, body)
            assert m is not None
            return self._param(m.group(), text.index("=", m.end()) + 1)
        # Neither a token68 nor a parameter: e.g. 'Basic "realm"'.
        challenge.findings.append(
            warning(
                UNEXPECTED_CHAR,
                f"Unexpected text after the scheme '{scheme}'; skipped to the next comma.",
                REF_CHALLENGE,
            )
        )
        return self._skip_to_comma(body)

    def _token68_as_empty_param(self, challenge: RawChallenge) -> bool:
        """'realm=' read as a token68 where a parameter without value was meant.

        A lone 'realm=' is a valid token68, so this applies only where it cannot be one:
        parameters follow it ('Basic realm=, charset=UTF-8', also across field lines), or
        the scheme never takes a token68 (Basic, Digest, Bearer, ...).
        """
        word = challenge.token68
        if word is None or challenge.params or not _NAME_EQ.fullmatch(word):
            return False
        name = word[:-1]
        challenge.token68 = None
        challenge.params[name.lower()] = ""
        challenge.findings.append(
            warning(MISSING_VALUE, f"The parameter '{name}' has no value.", REF_PARAM)
        )
        return True

    def _param(self, name: str, pos: int) -> int:
        """An auth-param whose '=' ends just before ``pos``."""
        text, n = self.text, self.n
        current = self._current()
        if current is None:
            current = RawChallenge("")
            self.challenges.append(current)
            current.findings.append(
                error(
                    MISSING_SCHEME,
                    f"The parameter '{name}' comes before any scheme name; a challenge "
                    "starts with its scheme (e.g. 'Basic realm=\"...\"').",
                    REF_CHALLENGE,
                )
            )
        elif current._bare:
            current.findings.append(
                warning(
                    COMMA_AFTER_SCHEME,
                    f"A comma follows the scheme '{current.scheme}' before its parameters; "
                    "clients may read the parameters as a separate, broken challenge.",
                    REF_CHALLENGE,
                )
            )
        elif current.token68 is not None and not self._token68_as_empty_param(current):
            current.findings.append(
                error(
                    TOKEN68_WITH_PARAMS,
                    f"'{current.scheme}' has both a token68 and parameters; a challenge has "
                    "one or the other.",
                    REF_CHALLENGE,
                )
            )
        current._bare = False
        pos = self._ows(pos)
        quoted = True
        if pos >= n or text[pos] == ",":
            value = ""
            current.findings.append(
                warning(MISSING_VALUE, f"The parameter '{name}' has no value.", REF_PARAM)
            )
        elif text[pos] == '"':
            m = _QUOTED.match(text, pos)
            if m:
                value = _QUOTED_PAIR.sub(r"\1", m.group(1))
                pos = m.end()
            else:
                value = _QUOTED_PAIR.sub(r"\1", text[pos + 1 :])
                pos = n
                current.findings.append(
                    error(
                        UNTERMINATED_QUOTE,
                        f"The quoted value of '{name}' has no closing quote; it was read to "
                        "the end of the line.",
                        REF_QUOTED,
                    )
                )
        elif text[pos] == "'" and (single := self._single_quoted(name, pos, current)):
            value, pos = single
        else:
            quoted = False
            m = _LENIENT_VALUE.match(text, pos)
            assert m is not None  # text[pos] is neither separator, space nor quote
            value = m.group()
            pos = m.end()
            pos, value = self._extend_unquoted(name, value, pos, current)
            if _NON_TCHAR.search(value):
                current.findings.append(
                    warning(
                        INVALID_TOKEN_CHAR,
                        f"The unquoted value of '{name}' contains characters a token may not "
                        "hold; it must be a quoted string.",
                        REF_TOKEN,
                    )
                )
        self._store(current, name, value)
        return self._after_element(self._ows(pos), quoted=quoted)

    def _single_quoted(self, name: str, pos: int, current: RawChallenge) -> tuple[str, int] | None:
        """A value in single quotes. Strict first: "'abc'" is a valid token, quotes
        included, and stays so; only when the quotes hold what a token cannot (a space, a
        comma) is the content taken, as the server evidently meant."""
        text = self.text
        m = _TOKEN.match(text, pos)
        assert m is not None  # "'" is a tchar
        end = m.end()
        after_token = self._ows(end)
        if self._at_separator(after_token) or self._is_param_start(after_token):
            if m.group().endswith("'") and end - pos >= 2:
                current.findings.append(
                    info(
                        SINGLE_QUOTED,
                        f"The value of '{name}' is in single quotes; HTTP quotes with double "
                        "quotes only, so clients keep the single quotes as part of the value.",
                        REF_QUOTED,
                    )
                )
            return m.group(), end
        close = text.find("'", pos + 1)
        if close == -1:
            return None
        after = self._ows(close + 1)
        if not (self._at_separator(after) or self._is_param_start(after)):
            return None
        current.findings.append(
            warning(
                SINGLE_QUOTED,
                f"The value of '{name}' is in single quotes around text a token cannot hold; "
                "it was read without the quotes. HTTP quotes with double quotes only.",
                REF_QUOTED,
            )
        )
        return text[pos + 1 : close], close + 1

    def _extend_unquoted(
        self, name: str, value: str, pos: int, current: RawChallenge
    ) -> tuple[int, str]:
        """Lenient: 'realm=My Realm' means one value when no comma or '=' follows."""
        text, n = self.text, self.n
        words = [value]
        while True:
            nxt = self._ows(pos)
            if nxt == pos or nxt >= n or text[nxt] in ',"':
                break
            m = _TOKEN.match(text, nxt)
            if m and (self._is_param_start(nxt) or m.group().lower() in self.known):
                break
            mv = _LENIENT_VALUE.match(text, nxt)
            if not mv:
                break
            words.append(text[pos:nxt] + mv.group())
            pos = mv.end()
        if len(words) > 1:
            current.findings.append(
                warning(
                    UNQUOTED_SPACE,
                    f"The value of '{name}' contains white space but is not quoted; it was "
                    "read up to the next comma.",
                    REF_TOKEN,
                )
            )
        return pos, "".join(words)

    def _after_element(self, pos: int, *, quoted: bool) -> int:
        """After an element: a comma, the end, or (leniently) a missing comma."""
        if self._at_separator(pos):
            return pos
        text = self.text
        m = _TOKEN.match(text, pos)
        if m:
            if self._is_param_start(pos):
                what = "between two parameters"
            else:
                what = f"before the challenge '{m.group()}'"
            self._note(
                warning(
                    MISSING_COMMA,
                    f"A comma is missing {what}.",
                    REF_LIST,
                )
            )
            return pos
        self._note(
            warning(
                UNEXPECTED_CHAR,
                f"Unexpected {text[pos]!r} at position {pos}; skipped to the next comma.",
                REF_CHALLENGE,
            )
        )
        return self._skip_to_comma(pos + 1)

    def _store(self, current: RawChallenge, name: str, value: str) -> None:
        key = name.lower()
        if key in current.params:
            if current.params[key] != value:
                current.findings.append(
                    warning(
                        DUPLICATE_PARAM,
                        f"The parameter '{key}' appears more than once with different values; "
                        "the first is used. Each may occur only once per challenge.",
                        REF_PARAM,
                    )
                )
            else:
                current.findings.append(
                    info(DUPLICATE_PARAM, f"The parameter '{key}' is repeated.", REF_PARAM)
                )
            return
        if len(current.params) >= MAX_PARAMS:
            if not any(f.id == TRUNCATED for f in current.findings):
                current.findings.append(
                    warning(TRUNCATED, f"More than {MAX_PARAMS} parameters; the rest were ignored.")
                )
            return
        current.params[key] = value


def needs_quoting(value: str) -> bool:
    return not value or any(c not in TCHARS for c in value)


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_challenge(scheme: str, params: dict[str, str], token68: str | None) -> str:
    """Serialize a challenge or credential in the strict RFC 9110 form."""
    if token68 is not None:
        return f"{scheme} {token68}"
    if not params:
        return scheme
    body = ", ".join(
        f"{name}={quote(value) if needs_quoting(value) else value}"
        for name, value in params.items()
    )
    return f"{scheme} {body}"
