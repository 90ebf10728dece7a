"""Property tests: the public API is total, serializable, round-trips and stays linear."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authlens import decode_credentials, grammar, parse_challenges
from authlens.report import jsonout

SCHEMES = ["Basic", "Digest", "Bearer", "Negotiate", "NTLM", "DPoP", "HOBA", "Mutual",
           "SCRAM-SHA-256", "PrivateToken", "Concealed", "AWS4-HMAC-SHA256", "X-Custom"]  # fmt: skip
FIELD_ALPHABET = st.sampled_from(list(" \t,=\";'\\/+abcRZ09-._~\x00\x7f\r\n\u00e9\udce9"))

header_like = st.builds(
    lambda scheme, rest: f"{scheme} {rest}",
    st.sampled_from(SCHEMES),
    st.text(FIELD_ALPHABET, max_size=80),
)
anything = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    header_like,
    st.lists(st.one_of(st.text(max_size=60), header_like), max_size=4),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(anything)
def test_parse_challenges_is_total_and_serializable(value: object) -> None:
    challenges = parse_challenges(value)  # type: ignore[arg-type]
    assert challenges, "always at least one challenge or a finding-bearing placeholder"
    for c in challenges:
        json.loads(jsonout.dumps(c.to_json()))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), header_like))
def test_decode_credentials_is_total_and_serializable(value: str | bytes) -> None:
    for field in ("Authorization", "Proxy-Authorization"):
        cred = decode_credentials(value, field)
        json.loads(jsonout.dumps(cred.to_json()))


def test_non_field_input_types_become_findings_not_exceptions() -> None:
    for junk in (None, 42, [None, b"Basic realm=x"], [["nested"]]):
        challenges = parse_challenges(junk)  # type: ignore[arg-type]
        assert challenges
        assert any(c.findings for c in challenges)


token = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!#$%&'*+^`|",
    min_size=1,
    max_size=12,
)
value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
valid_challenge = st.one_of(
    st.tuples(token, st.dictionaries(token.map(str.lower), value, max_size=5), st.none()),
    st.tuples(
        # 'realm=' after Basic, Digest, ... is read as a parameter without value.
        token.filter(lambda s: s.lower() not in grammar.PARAM_SCHEMES),
        st.just({}),
        st.from_regex(r"[A-Za-z0-9\-._~+/]{1,30}={0,2}", fullmatch=True).map(lambda s: s),
    ),
)


@settings(max_examples=300)
@given(st.lists(valid_challenge, min_size=1, max_size=4))
def test_parse_of_serialize_is_identity_for_valid_challenges(
    items: list[tuple[str, dict[str, str], str | None]],
) -> None:
    lines = [grammar.format_challenge(s, p, t) for s, p, t in items]
    got = parse_challenges(", ".join(lines))
    assert [(c.scheme, c.params, c.token68) for c in got] == items
    assert not [f for c in got for f in c.findings if f.id in _GRAMMAR_IDS and f.severity != "info"]
    # Repeated field lines mean the same as the comma-joined line.
    assert [(c.scheme, c.params, c.token68) for c in parse_challenges(lines)] == items


@settings(max_examples=300)
@given(
    st.lists(valid_challenge, min_size=1, max_size=4), st.sampled_from([", ", ",", " , ", ",, "])
)
def test_strict_fast_path_and_lenient_scanner_agree_on_valid_input(
    items: list[tuple[str, dict[str, str], str | None]], sep: str
) -> None:
    line = sep.join(grammar.format_challenge(s, p, t) for s, p, t in items)
    fast: list[grammar.RawChallenge] = []
    assert grammar._lex_strict(line, fast), line
    slow: list[grammar.RawChallenge] = []
    grammar._LineScanner(line, frozenset(), grammar.PARAM_SCHEMES, slow, []).scan()
    assert [(c.scheme, c.params, c.token68) for c in fast] == [
        (c.scheme, c.params, c.token68) for c in slow
    ]


@settings(max_examples=500)
@given(st.one_of(header_like, st.text(FIELD_ALPHABET, max_size=60)))
def test_strict_fast_path_accepts_only_what_the_scanner_reads_without_findings(line: str) -> None:
    fast: list[grammar.RawChallenge] = []
    if grammar._lex_strict(line, fast):
        slow: list[grammar.RawChallenge] = []
        findings: list[object] = []
        grammar._LineScanner(line, frozenset(), grammar.PARAM_SCHEMES, slow, findings).scan()  # type: ignore[arg-type]
        assert [(c.scheme, c.params, c.token68) for c in fast] == [
            (c.scheme, c.params, c.token68) for c in slow
        ]
        assert not findings and not [f for c in slow for f in c.findings]


_GRAMMAR_IDS = {v for k, v in vars(grammar).items() if k.isupper() and isinstance(v, str)}


def _work(fn: Callable[[], object]) -> int:
    """Count Python and C function calls: deterministic, unlike wall-clock time."""
    calls = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


ADVERSARIAL = {
    "many params": lambda n: "Digest " + ", ".join(f"p{i}=v" for i in range(n)),
    "many challenges": lambda n: ", ".join("Basic realm=x" for _ in range(n)),
    "unquoted words": lambda n: "Basic realm=" + " w" * n,
    "backslashes in open quote": lambda n: 'Basic realm="' + "\\" * n,
    "quotes": lambda n: "Basic " + '"' * n,
    "single quotes": lambda n: "Basic " + ", ".join("a='x" for _ in range(n)),
    "commas": lambda n: "," * n,
    "equals": lambda n: "Basic a" + "=" * n,
    "spaces": lambda n: "Basic" + " " * n + "x",
    "missing commas": lambda n: "Basic " + " ".join(f'a{i}="v"' for i in range(n)),
    "folds": lambda n: "Basic" + "\r\n realm=x" * n,
}


def test_work_is_linear_in_input_size() -> None:
    for name, make in ADVERSARIAL.items():
        small, large = make(2000), make(4000)
        # Stay under the caps so both sizes do all the work.
        assert len(large) < grammar.MAX_FIELD_CHARS, name
        w_small = _work(lambda s=small: parse_challenges(s))  # type: ignore[misc]
        w_large = _work(lambda s=large: parse_challenges(s))  # type: ignore[misc]
        assert w_large <= 2.3 * w_small + 50, (name, w_small, w_large)
        w_small = _work(lambda s=small: decode_credentials(s))  # type: ignore[misc]
        w_large = _work(lambda s=large: decode_credentials(s))  # type: ignore[misc]
        assert w_large <= 2.3 * w_small + 50, (name, w_small, w_large)


def test_lone_surrogates_anywhere_are_total() -> None:
    for text in ("Basic realm=\"\ud800\"", "Basic \udfff", "Bearer \ud83d"):
        assert parse_challenges(text)
        json.loads(jsonout.dumps(decode_credentials(text).to_json()))


@settings(max_examples=200)
@given(
    token,
    st.from_regex(r"[A-Za-z0-9\-._~+/]{300,400}={0,2}", fullmatch=True),
    st.sampled_from(["", " ", "  ", "\t"]),
    st.sampled_from(["", ",", " x", "=x", "\u00e9"]),
)
def test_long_token68_line_fast_path_agrees_with_the_scanner(
    scheme: str, t68: str, pad: str, tail: str
) -> None:
    line = f"{scheme} {t68}{pad}{tail}"
    fast: list[grammar.RawChallenge] = []
    slow: list[grammar.RawChallenge] = []
    findings: list[object] = []
    grammar._LineScanner(line, frozenset(), grammar.PARAM_SCHEMES, slow, findings).scan()  # type: ignore[arg-type]
    if grammar._lex_token68_line(line, fast, grammar.PARAM_SCHEMES):
        assert [(c.scheme, c.params, c.token68) for c in fast] == [
            (c.scheme, c.params, c.token68) for c in slow
        ]
        assert not findings and not [f for c in slow for f in c.findings]
