"""Fuzzing the core: the public API, every decoder and the engine on hostile input.

Each property: no exception, no ``internal-error`` (the guards turn crashes into that
finding, so it is the crash signal), JSON output that round-trips and encodes as UTF-8,
and no secret canary in the redacted output.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, target
from hypothesis import strategies as st
from strategies import (
    DER_BOMBS,
    any_field_value,
    assert_no_canary,
    credential_values,
    der_bomb,
    der_random,
    fuzz_settings,
    internal_errors,
    jwts,
    mutate,
    mutations,
    ntlm_adversarial,
    ntlm_honest,
    param_soup,
    sessions,
)

from authlens import decode_credentials, parse_challenges
from authlens.diagnose.api import Analyzer, AnalyzerConfig
from authlens.model import Connection, Exchange, Headers, Request, Response
from authlens.report import jsonout
from authlens.schemes import _common
from authlens.schemes._der import Meter
from authlens.schemes._jwt import decode_jwt, looks_like_jwt
from authlens.schemes._ntlmmsg import decode_ntlm
from authlens.schemes.negotiate import decode_token


def serialized(value: Any, where: str) -> str:
    """Redacted JSON text of ``value`` as the addon writes it (``clean``: undecodable
    header bytes escaped): must encode as UTF-8 and round-trip."""
    jsonout.dumps(value, indent=None)  # the plain form must not fail either
    text = jsonout.dumps(value, indent=None, clean=True)
    text.encode("utf-8")  # strict: no lone surrogates
    assert json.loads(text) == json.loads(text), where
    assert not internal_errors(json.loads(text)), (where, text[:2000])
    return text


@fuzz_settings(scale=4)
@given(st.one_of(any_field_value, st.lists(any_field_value, max_size=6)))
def test_parse_challenges_total(value: Any) -> None:
    for field in ("WWW-Authenticate", "Proxy-Authenticate"):
        challenges = parse_challenges(value, field)
        assert challenges
        serialized([c.to_json() for c in challenges], "challenges")
        for c in challenges:
            assert isinstance(c.plain, str)


@fuzz_settings(scale=4)
@given(credential_values())
def test_decode_credentials_total_and_redacted(value: str | bytes) -> None:
    for field in ("Authorization", "Proxy-Authorization"):
        cred = decode_credentials(value, field)
        text = serialized(cred.to_json(), "credentials")
        assert_no_canary(text, f"credentials summary of {value[:80]!r}")
        assert_no_canary(repr(cred.summary), "credentials summary repr")


@fuzz_settings(scale=2)
@given(any_field_value)
def test_decode_credentials_total_on_junk(value: str | bytes) -> None:
    serialized(decode_credentials(value).to_json(), "credentials")


@fuzz_settings(scale=4)
@given(st.one_of(ntlm_adversarial(), ntlm_honest().map(lambda t: t[0])), mutations)
def test_ntlm_decoder_total(message: bytes, ops: list[tuple[int, int, int]]) -> None:
    cost = 0.0
    for data in (message, mutate(message, ops)):
        meter = Meter()
        decoded = decode_ntlm(data, meter)
        serialized(decoded.summary, "ntlm summary")
        # Linear bound: every byte is read a small constant number of times.
        assert meter.steps <= 16 * len(data) + 256, (meter.steps, len(data))
        cost = max(cost, meter.steps / (len(data) + 1))
    # Steer the search toward inputs that cost the most per byte.
    target(cost, label="ntlm steps per byte")


@fuzz_settings(scale=4)
@given(
    st.one_of(
        der_random(),
        st.builds(der_bomb, st.sampled_from(DER_BOMBS), st.integers(1, 2_000)),
    ),
    mutations,
    st.sampled_from(["client", "server"]),
)
def test_der_decoder_total(token: bytes, ops: list[tuple[int, int, int]], side: str) -> None:
    cost = 0.0
    for data in (token, mutate(token, ops)):
        meter = Meter()
        decoded = decode_token(data, side=side, meter=meter)
        serialized(decoded.summary, "negotiate summary")
        assert not [f for f in decoded.findings if f.id == "internal-error"]
        assert meter.steps <= 16 * len(data) + 256, (meter.steps, len(data))
        cost = max(cost, meter.steps / (len(data) + 1))
    target(cost, label="der steps per byte")


@fuzz_settings(scale=3)
@given(jwts())
def test_jwt_decoder_total(token: str) -> None:
    looks_like_jwt(token)
    summary, findings = decode_jwt(token)
    text = serialized(summary, "jwt summary")
    assert_no_canary(text, "jwt summary")  # the signature is the canary
    assert all(f.id != "internal-error" for f in findings)


@fuzz_settings(scale=2)
@given(
    st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
    st.sampled_from(["standard", "urlsafe"]),
    st.sampled_from(["required", "forbidden", "optional"]),
)
def test_base64_helper_total(text: str, alphabet: Any, padding: Any) -> None:
    result = _common.b64decode(text, alphabet, padding)
    assert result.data is None or isinstance(result.data, bytes)


# --- the engine, without mitmproxy ------------------------------------------------------------


def exchange_of(spec: Any, index: int, now: float) -> Exchange:
    def headers(fields: list[tuple[bytes, bytes]]) -> Headers:
        return Headers(
            tuple(
                (n.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
                for n, v in fields
            )
        )

    scheme = spec.scheme.decode()
    host = f"[{spec.host}]" if ":" in spec.host else spec.host
    url = f"{scheme}://{host}:{spec.port}{spec.path.decode('utf-8', 'surrogateescape')}"
    response = None
    if spec.status is not None:
        response = Response(
            status_code=spec.status,
            reason=spec.reason.decode("latin-1"),
            http_version=spec.http_version.decode(),
            headers=headers(spec.response_headers),
            body=spec.response_body[:4096],
            body_size=len(spec.response_body),
            generated_by_proxy=spec.made_by_proxy,
        )
    return Exchange(
        id=f"ex-{index}",
        request=Request(
            method=spec.method.decode("latin-1"),
            url=url,
            http_version=spec.http_version.decode(),
            headers=headers(spec.request_headers),
            body=spec.request_body,
            body_size=len(spec.request_body),
        ),
        response=response,
        error=spec.error,
        client=Connection(
            id=f"c{spec.client}", tls=spec.tls, peer=f"127.0.0.{spec.client + 1}:5{index:04d}"
        ),
        server=Connection(id=f"s{spec.server}", tls=spec.tls, peer="127.0.0.1:443"),
        timestamp_start=now,
        timestamp_end=now + 0.01,
        source="live",
    )


@fuzz_settings(scale=2)
@given(sessions(max_flows=8, heavy=False), st.integers(1, 40))
def test_engine_total_on_sessions(specs: list[Any], max_tracked: int) -> None:
    analyzer = Analyzer(AnalyzerConfig(max_tracked=max_tracked, no_retry_after=3.0))
    now = 1_700_000_000.0
    verdicts = []
    for i, spec in enumerate(specs):
        now += spec.dt
        exchange = exchange_of(spec, i, now)
        if analyzer.is_relevant(exchange):
            verdicts += analyzer.observe(exchange)
        verdicts += analyzer.expire(now)
    verdicts += analyzer.finish()
    for v in verdicts:
        text = serialized(v.metadata, "verdict metadata")
        assert_no_canary(text, "verdict metadata")
        assert_no_canary(jsonout.clean_text(v.comment), "verdict comment")
        v.comment.encode("utf-8", "surrogateescape")


@fuzz_settings(scale=6)
@given(param_soup())
def test_every_scheme_total_on_hostile_parameters(value: str) -> None:
    """Each scheme's decoders with each of their parameters set to hostile values."""
    for field in ("WWW-Authenticate", "Proxy-Authenticate"):
        serialized([c.to_json() for c in parse_challenges(value, field)], "challenges")
    for field in ("Authorization", "Proxy-Authorization"):
        serialized(decode_credentials(value, field).to_json(), "credentials")
