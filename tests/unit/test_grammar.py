"""The RFC 9110 §11 lexer: strict grammar, each tolerated deviation and its finding."""

from __future__ import annotations

import pytest

from authlens import grammar, parse_challenges
from authlens.findings import Severity


def lexed(value: str | bytes | list[str]) -> list[tuple[str, dict[str, str], str | None]]:
    return [(c.scheme, c.params, c.token68) for c in parse_challenges(value)]


def ids(value: str | bytes | list[str]) -> set[str]:
    grammar_ids = {v for k, v in vars(grammar).items() if k.isupper() and isinstance(v, str)}
    return {f.id for c in parse_challenges(value) for f in c.findings} & grammar_ids


STRICT = [
    ('Basic realm="simple"', [("Basic", {"realm": "simple"}, None)]),
    ("Basic realm=token", [("Basic", {"realm": "token"}, None)]),
    (
        'Basic realm = "bws" ,charset="UTF-8"',
        [("Basic", {"realm": "bws", "charset": "UTF-8"}, None)],
    ),
    ('basic REALM="Case"', [("basic", {"realm": "Case"}, None)]),
    ('Basic realm="a \\"quoted\\" \\\\ pair"', [("Basic", {"realm": 'a "quoted" \\ pair'}, None)]),
    ('Basic realm="with, comma"', [("Basic", {"realm": "with, comma"}, None)]),
    ("Negotiate", [("Negotiate", {}, None)]),
    ("Negotiate YIIB+w==", [("Negotiate", {}, "YIIB+w==")]),
    (
        "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==",
        [("NTLM", {}, "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==")],
    ),
    ("Newauth abc", [("Newauth", {}, "abc")]),
    ("Newauth abc=", [("Newauth", {}, "abc=")]),  # a lone "name=" is a valid token68
    (
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
        [
            ("Newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}, None),
            ("Basic", {"realm": "simple"}, None),
        ],
    ),
    (
        'Negotiate, NTLM, Basic realm="x"',
        [("Negotiate", {}, None), ("NTLM", {}, None), ("Basic", {"realm": "x"}, None)],
    ),
    (", , Basic realm=x ,, ", [("Basic", {"realm": "x"}, None)]),
    ("Bearer abc==, Basic realm=x", [("Bearer", {}, "abc=="), ("Basic", {"realm": "x"}, None)]),
    ('Basic realm=""', [("Basic", {"realm": ""}, None)]),
    ("X a=', b='", [("X", {"a": "'", "b": "'"}, None)]),  # "'" is a valid token
    ('Basic realm="caf\u00e9"', [("Basic", {"realm": "caf\u00e9"}, None)]),
]


@pytest.mark.parametrize(("value", "expected"), STRICT, ids=[v for v, _ in STRICT])
def test_strict_values_parse_exactly_and_without_findings(value: str, expected: object) -> None:
    assert lexed(value) == expected
    assert ids(value) == set()


LENIENT = [
    # (value, expected parse, expected finding ids)
    (
        'Digest realm="a", nonce="b" qop="auth"',
        [("Digest", {"realm": "a", "nonce": "b", "qop": "auth"}, None)],
        {grammar.MISSING_COMMA},
    ),
    (
        'Basic realm="a" Digest realm="b"',
        [("Basic", {"realm": "a"}, None), ("Digest", {"realm": "b"}, None)],
        {grammar.MISSING_COMMA},
    ),
    ("Basic realm=My Realm", [("Basic", {"realm": "My Realm"}, None)], {grammar.UNQUOTED_SPACE}),
    (
        "Basic realm=My Realm, charset=UTF-8",
        [("Basic", {"realm": "My Realm", "charset": "UTF-8"}, None)],
        {grammar.UNQUOTED_SPACE},
    ),
    (
        "Basic realm=My Realm Digest realm=x",
        [("Basic", {"realm": "My Realm"}, None), ("Digest", {"realm": "x"}, None)],
        {grammar.UNQUOTED_SPACE, grammar.MISSING_COMMA},
    ),
    ('Basic realm="open', [("Basic", {"realm": "open"}, None)], {grammar.UNTERMINATED_QUOTE}),
    (
        'Basic realm="a", realm="b"',
        [("Basic", {"realm": "a"}, None)],
        {grammar.DUPLICATE_PARAM},
    ),
    ("Basic, realm=x", [("Basic", {"realm": "x"}, None)], {grammar.COMMA_AFTER_SCHEME}),
    ('Basic\trealm="x"', [("Basic", {"realm": "x"}, None)], {grammar.TAB_AFTER_SCHEME}),
    ("Negotiate \tYIIB", [("Negotiate", {}, "YIIB")], {grammar.TAB_AFTER_SCHEME}),
    # A single-quoted word is a valid token, quotes included; reported, not rewritten.
    ("Basic realm='single'", [("Basic", {"realm": "'single'"}, None)], {grammar.SINGLE_QUOTED}),
    (
        "Basic realm='two words', charset=UTF-8",
        [("Basic", {"realm": "two words", "charset": "UTF-8"}, None)],
        {grammar.SINGLE_QUOTED},
    ),
    ('Basic\r\n realm="folded"', [("Basic", {"realm": "folded"}, None)], {grammar.OBS_FOLD}),
    (b'Basic realm="caf\xe9"', [("Basic", {"realm": "caf\u00e9"}, None)], {grammar.NON_UTF8}),
    (
        'Basic realm="caf\udce9"',  # how mitmproxy hands over non-UTF-8 bytes
        [("Basic", {"realm": "caf\u00e9"}, None)],
        {grammar.NON_UTF8},
    ),
    ('realm="x"', [("", {"realm": "x"}, None)], {grammar.MISSING_SCHEME}),
    ("Digest nonce=abc==", [("Digest", {"nonce": "abc=="}, None)], {grammar.INVALID_TOKEN_CHAR}),
    (
        "Basic realm=, charset=UTF-8",
        [("Basic", {"realm": "", "charset": "UTF-8"}, None)],
        {grammar.MISSING_VALUE},
    ),
    ("Bearer abc, error=x", [("Bearer", {"error": "x"}, "abc")], {grammar.TOKEN68_WITH_PARAMS}),
    ("", [("", {}, None)], {grammar.EMPTY_FIELD}),
    ('Basic "realm"', [("Basic", {}, None)], {grammar.UNEXPECTED_CHAR}),
    (
        "Basic realm=x\x00y",
        [("Basic", {"realm": "x\x00y"}, None)],
        {grammar.CONTROL_CHAR, grammar.INVALID_TOKEN_CHAR},
    ),
]


@pytest.mark.parametrize(
    ("value", "expected", "finding_ids"), LENIENT, ids=[repr(v) for v, *_ in LENIENT]
)
def test_lenient_values_recover_and_report(
    value: str, expected: object, finding_ids: set[str]
) -> None:
    assert lexed(value) == expected
    assert ids(value) == finding_ids


def test_one_line_repeated_lines_and_comma_joined_parse_alike() -> None:
    parts = ['Digest realm="r", nonce="n", qop="auth"', "Negotiate", 'Basic realm="b"']
    one = lexed(", ".join(parts))
    assert lexed(parts) == one
    assert lexed([", ".join(parts[:2]), parts[2]]) == one
    assert len(one) == 3


def test_parameters_at_the_start_of_a_line_continue_the_previous_challenge() -> None:
    # RFC 9110 §5.3: repeated lines mean their comma-joined combination.
    assert lexed(['Digest realm="r"', 'nonce="n"']) == [
        ("Digest", {"realm": "r", "nonce": "n"}, None)
    ]


def test_oversized_field_is_cut_with_a_truncated_finding() -> None:
    value = 'Basic realm="' + "x" * (grammar.MAX_FIELD_CHARS + 10) + '"'
    challenges = parse_challenges(value)
    assert challenges[0].scheme == "Basic"
    assert grammar.TRUNCATED in {f.id for f in challenges[0].findings}


def test_too_many_challenges_and_params_are_capped() -> None:
    many = ", ".join(f"S{i}" for i in range(grammar.MAX_CHALLENGES + 50))
    challenges = parse_challenges(many)
    assert len(challenges) == grammar.MAX_CHALLENGES
    assert grammar.TRUNCATED in {f.id for c in challenges for f in c.findings}
    params = ", ".join(f"p{i}=v" for i in range(grammar.MAX_PARAMS + 50))
    (one,) = parse_challenges("Basic " + params)
    assert len(one.params) == grammar.MAX_PARAMS
    assert grammar.TRUNCATED in {f.id for f in one.findings}


def test_unterminated_quote_is_an_error_and_missing_comma_a_warning() -> None:
    (c,) = parse_challenges('Basic realm="open')
    severities = {f.id: f.severity for f in c.findings}
    assert severities[grammar.UNTERMINATED_QUOTE] is Severity.ERROR
    (c,) = parse_challenges('Basic realm="a" charset="UTF-8"')
    assert {f.id: f.severity for f in c.findings}[grammar.MISSING_COMMA] is Severity.WARNING


def test_every_finding_names_its_rfc_rule() -> None:
    for value, _, _ in LENIENT:
        for challenge in parse_challenges(value):
            for f in challenge.findings:
                if f.id in (grammar.TRUNCATED, "unknown-scheme"):
                    continue
                if f.id in {v for k, v in vars(grammar).items() if k.isupper()}:
                    assert f.reference and f.reference.startswith("RFC "), f


@pytest.mark.parametrize(
    "value",
    ['Basic realm="a\\"b"', "Bearer abc==", "Negotiate", 'Digest realm="x y", qop="auth,auth-int"'],
)
def test_serialize_round_trip(value: str) -> None:
    (c,) = parse_challenges(value)
    (again,) = parse_challenges(c.serialize())
    assert (again.scheme, again.params, again.token68) == (c.scheme, c.params, c.token68)


def test_param_only_schemes_read_a_lone_name_equals_as_an_empty_parameter() -> None:
    assert lexed("Basic realm=") == [("Basic", {"realm": ""}, None)]
    assert ids("Basic realm=") == {grammar.MISSING_VALUE}
    assert lexed(["Basic realm=", "charset=UTF-8"]) == [
        ("Basic", {"realm": "", "charset": "UTF-8"}, None)
    ]


def test_credentials_keep_single_padding_token68() -> None:
    from authlens import decode_credentials

    cred = decode_credentials("Basic YWI=")
    assert cred.token68 == "YWI=" and not cred.params
    assert decode_credentials("Bearer abc=").token68 == "abc="


def test_a_scheme_ending_a_line_then_parameters_is_a_comma_after_scheme() -> None:
    assert lexed(["Bearer", 'realm="api"']) == [("Bearer", {"realm": "api"}, None)]
    assert ids(["Bearer", 'realm="api"']) == {grammar.COMMA_AFTER_SCHEME}
