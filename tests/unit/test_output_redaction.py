"""Regressions for the leaks tests/e2e/test_canary.py found: tokens in request targets
quoted by Digest explanations and summaries, and raw URLs in ``authlens compare``."""

from __future__ import annotations

import json

import pytest
from diagnose_helpers import digest_header, exchange, run

from authlens.commands import compare as compare_command
from authlens.compare import compare_captures
from authlens.credentials import decode_credentials
from authlens.diagnose import AnalyzerConfig
from authlens.model import Connection
from authlens.report import jsonout
from authlens.schemes._common import RedactedText, redact_query, uri_value
from authlens.secret import Secret, fingerprint, reveal_all

TOKEN = "Zq7QueryTok3nCanary"
CHALLENGE = 'Digest realm="r", qop="auth", algorithm=MD5, nonce="n0nce", opaque="o"'
URL = f"https://h.example/digest?access_token={TOKEN}&page=2"
TARGET = f"/digest?access_token={TOKEN}&page=2"


# --- the helper -------------------------------------------------------------------------


def test_redact_query_fingerprints_secret_named_values_only() -> None:
    out = redact_query(TARGET)
    assert TOKEN not in out
    assert out == f"/digest?access_token={fingerprint(TOKEN)}&page=2"
    # Percent-decoded first, as the HAR export does, so equal values match.
    assert redact_query("/x?Access-Token=a%2Bb") == f"/x?Access-Token={fingerprint('a+b')}"
    assert redact_query("/x#access_token=abc") == f"/x#access_token={fingerprint('abc')}"
    assert (
        redact_query("/s?X-Amz-Signature=abc&x=1") == f"/s?X-Amz-Signature={fingerprint('abc')}&x=1"
    )
    for unchanged in ("/", "/a/b", "/x?", "/x?flag", "/x?a=", "/x?q=1&page=2", "http://h/p"):
        assert redact_query(unchanged) == unchanged


def test_uri_value_is_redacted_text_that_reveals_the_raw_uri() -> None:
    assert uri_value("/plain") == "/plain"
    assert not isinstance(uri_value("/plain"), Secret)
    value = uri_value(TARGET)
    assert isinstance(value, RedactedText) and isinstance(value, Secret)
    assert str(value) == redact_query(TARGET)
    assert value.reveal() == TARGET
    assert TOKEN not in jsonout.dumps({"uri": value})
    assert TOKEN in jsonout.dumps({"uri": value}, redact=False)
    assert reveal_all({"uri": value}) == {"uri": TARGET}
    assert TOKEN not in repr(value)


# --- the Digest decoder and the rules ---------------------------------------------------------


def test_digest_credentials_summary_and_sentence_hide_query_tokens() -> None:
    value = digest_header("alice", "pw", CHALLENGE, url=URL)
    decoded = decode_credentials(value)
    assert decoded.summary["uri"].reveal() == TARGET
    assert TOKEN not in json.dumps(decoded.to_json())
    assert TOKEN not in decoded.plain
    assert "access_token=" in decoded.plain  # the name stays readable
    assert TOKEN in jsonout.dumps(decoded.to_json(), redact=False)


def _digest_verdict_text(override: dict[str, str], known: dict[str, str] | None = None) -> str:
    first = exchange(URL, id="f1", response_headers=[("WWW-Authenticate", CHALLENGE)])
    answer = digest_header("alice", "pw", CHALLENGE, url=URL, override=override)
    second = exchange(
        URL,
        id="f2",
        headers=[("Authorization", answer)],
        response_headers=[("WWW-Authenticate", CHALLENGE)],
        t=first.timestamp_start + 1,
    )
    config = AnalyzerConfig(known_credentials=known or {})
    verdicts = run([first, second], config)
    return json.dumps(verdicts["f2"].metadata) + verdicts["f2"].comment


def test_digest_uri_mismatch_explanation_hides_query_values() -> None:
    text = _digest_verdict_text({"uri": "/digest"})
    assert "digest-mismatch" in text
    assert "leaves out the query string" in text
    assert "access_token=<redacted:sha256:" in text
    assert TOKEN not in text


def test_digest_verification_sentence_hides_query_values() -> None:
    # The client hashed over the full target but sent uri="/digest": the known password
    # finds the variant it used, and the sentence names that URI.
    text = _digest_verdict_text({"uri": "/digest"}, known={"alice": "pw"})
    assert "computed the response over the URI" in text
    assert TOKEN not in text


# --- authlens compare -----------------------------------------------------------------------------

BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def _pair() -> tuple[list[object], list[object]]:
    browser = exchange(
        f"https://h.example/api?access_token={TOKEN}",
        id="b1",
        status=200,
        headers=[
            ("User-Agent", BROWSER_UA),
            ("sec-ch-ua", '"Chromium";v="131", "Not_A Brand";v="24"'),
            ("sec-ch-ua-mobile", "?0"),
            ("Sec-Fetch-Site", "same-origin"),
            ("Sec-Fetch-Mode", "cors"),
            ("Sec-Fetch-Dest", "empty"),
            ("Cookie", "session=s3ss10n"),
        ],
        client=Connection(id="c-browser", tls=True, peer="192.0.2.10:50000"),
    )
    script = exchange(
        f"https://h.example/api?access_token={TOKEN}",
        id="a1",
        headers=[("User-Agent", "python-requests/2.32\x1b[31m"), ("Accept", "*/*")],
        client=Connection(id="c-script", tls=True, peer="192.0.2.11:50000"),
        t=browser.timestamp_start + 1,
    )
    return [browser], [script]


def test_compare_outputs_redact_query_tokens_and_escape_controls() -> None:
    browser, automated = _pair()
    comparisons = compare_captures(browser, automated)  # type: ignore[arg-type]
    assert comparisons
    flows = compare_command.merged_flows(browser, automated, comparisons, same=False)  # type: ignore[arg-type]
    text = jsonout.dumps({"flows": flows})
    assert TOKEN not in text
    assert "access_token=<redacted:sha256:" in text
    rendered = compare_command.render(automated, comparisons, "b.har", "a.mitm")  # type: ignore[arg-type]
    assert TOKEN not in rendered
    assert "access_token=<redacted:sha256:" in rendered
    assert "\x1b" not in rendered


# --- login redirects and the HAR's Authentication-Info ------------------------------------------


def test_login_redirect_evidence_hides_secret_named_location_values() -> None:
    ticket = "Zq7T1cketCanary"
    flow = exchange(
        "https://h.example/account",
        status=302,
        response_headers=[("Location", f"/login?return_to=/account&ticket={ticket}")],
    )
    text = json.dumps(run([flow])["f1"].metadata)
    assert "login-redirect" in text
    assert ticket not in text
    assert "return_to=/account&ticket=<redacted:sha256:" in text


def test_har_redacts_the_servers_digest_proof() -> None:
    from authlens.report.har import redact_header

    proof = "Zq7RspAuthCanary"
    for name in ("Authentication-Info", "proxy-authentication-info"):
        for value in (f'nextnonce="n1", rspauth="{proof}", qop=auth', f"rspauth={proof},nc=1"):
            out = redact_header(name, value)
            assert proof not in out
            assert "rspauth" in out and "<redacted:sha256:" in out
    assert redact_header("Authentication-Info", 'nextnonce="n1"') == 'nextnonce="n1"'


# --- authlens decode: standard input ------------------------------------------------------------


def test_decode_stdin_lines_end_only_at_line_feeds() -> None:
    from authlens.commands.decode import stdin_lines

    secret = "Zq7DigestResp0nse"
    for separator in ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"):
        value = (
            f'Digest username="a", realm="x{separator}y", nonce="n", uri="/", response="{secret}"'
        )
        text = f"HTTP/1.1 401 Unauthorized\r\nAuthorization: {value}\r\n\r\n"
        assert stdin_lines(text) == [f"Authorization: {value}"]
    # Folding and CRLF as before.
    assert stdin_lines("WWW-Authenticate: Basic\r\n realm=x\nServer: y\n") == [
        "WWW-Authenticate: Basic realm=x",
        "Server: y",
    ]


def test_decode_cli_keeps_a_credential_with_a_unicode_line_break_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from authlens import cli

    secret = "Zq7DigestResp0nse"
    line = f'Authorization: Digest username="a", realm="x\u2028y", nonce="n", uri="/", response="{secret}"\n'

    class Stdin:
        buffer = io.BytesIO(line.encode())

    monkeypatch.setattr("sys.stdin", Stdin())
    assert cli.main(["decode", "--json", "-"]) == 0
    out = capsys.readouterr().out
    assert secret not in out
    assert json.loads(out)["challenges"] == []
