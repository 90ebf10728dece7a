"""`authlens decode` as a user runs it: a real subprocess, text and --json, exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "addon"), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "authlens", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    )


def test_decode_json_has_the_design_shape() -> None:
    r = run("decode", "--json", 'Basic realm="x", Digest realm="y", nonce="n"',
            "Authorization: Basic YWxpY2U6czNjcjN0")  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) >= {"challenges", "credentials", "findings"}
    assert [c["scheme"] for c in doc["challenges"]] == ["Basic", "Digest"]
    for c in doc["challenges"]:
        assert {"field", "scheme", "params", "token68", "decoded"} <= set(c)
        assert c["field"] == "WWW-Authenticate"
    assert doc["credentials"]["scheme"] == "Basic"
    assert doc["credentials"]["field"] == "Authorization"
    for f in doc["findings"]:
        assert {"id", "severity", "message"} <= set(f)
    assert "s3cr3t" not in r.stdout


def test_decode_proxy_flag_and_named_fields() -> None:
    r = run("decode", "--proxy", "--json", 'Basic realm="corp"', "Proxy-Authorization: Basic eDp5")
    doc = json.loads(r.stdout)
    assert doc["challenges"][0]["field"] == "Proxy-Authenticate"
    assert doc["credentials"]["field"] == "Proxy-Authorization"


def test_decode_reads_a_pasted_response_from_stdin() -> None:
    pasted = (
        b"HTTP/1.1 401 Unauthorized\r\nServer: nginx\r\nWWW-Authenticate: Negotiate\r\n"
        b'WWW-Authenticate: Basic realm="caf\xe9"\r\n\r\n'
    )
    r = run("decode", "--json", "-", stdin=pasted)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [c["scheme"] for c in doc["challenges"]] == ["Negotiate", "Basic"]
    assert "non-utf8" in {f["id"] for f in doc["findings"]}


def test_decode_human_output_explains_and_lists_findings() -> None:
    r = run("decode", 'Basic realm="a" charset="UTF-8"')
    assert r.returncode == 0
    assert "WWW-Authenticate: 1 challenge" in r.stdout
    assert "missing-comma" in r.stdout and "RFC 9110" in r.stdout


def test_decode_escapes_control_characters_from_the_header() -> None:
    r = run("decode", 'Basic realm="\x1b[31mred"')
    assert "\x1b" not in r.stdout
    assert "\\x1b" in r.stdout


def test_bad_input_is_a_message_and_status_2_never_a_traceback() -> None:
    for args, stdin in (
        (["decode", "-"], b""),
        (["decode", "-"], b"Content-Type: text/html\n"),
        (["decode"], None),
        ([], None),
    ):
        r = run(*args, stdin=stdin)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr
        assert r.stderr.strip()


def test_a_bare_value_that_can_only_be_credentials_is_decoded_and_redacted_as_such() -> None:
    # Pasted without "Authorization:", a Digest answer used to be read as a challenge,
    # whose parameters are shown as they are: its response in the clear.
    response = "6629fae49393a05397450978507c4ef1"
    r = run("decode", "--json", f'Digest username="alice", realm="r", nonce="n", uri="/", '
            f'response="{response}"')  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["credentials"]["field"] == "Authorization"
    assert doc["challenges"] == []
    assert response not in r.stdout


def test_which_bare_values_are_credentials() -> None:
    import base64

    from authlens.decode_fields import is_credentials

    type1 = base64.b64encode(b"NTLMSSP\0\x01\0\0\0" + b"\0" * 24).decode()
    type2 = base64.b64encode(b"NTLMSSP\0\x02\0\0\0" + b"\0" * 40).decode()
    type3 = base64.b64encode(b"NTLMSSP\0\x03\0\0\0" + b"\0" * 60).decode()
    credentials = [
        "Basic dXNlcjpwYXNz",
        "Bearer eyJhbGciOiJub25lIn0.e30.",
        'Digest username="a", realm="r", nonce="n", uri="/", response="00"',
        f"NTLM {type1}",
        f"Negotiate {type3}",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=host, Signature=5d67",
    ]
    challenges = [
        'Basic realm="x"',
        'Bearer realm="api", error="invalid_token"',
        'Digest realm="r", nonce="n", qop="auth"',
        f"NTLM {type2}",
        "NTLM",
        "Negotiate",
        'Basic realm="x", Bearer',
    ]
    assert [v for v in credentials if not is_credentials(v)] == []
    assert [v for v in challenges if is_credentials(v)] == []
