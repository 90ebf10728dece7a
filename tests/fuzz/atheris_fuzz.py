"""Coverage-guided fuzzing of the parser and decoders with atheris (libFuzzer).

Not part of the pytest run (the name does not start with ``test_``, and atheris is not a
dependency). Install it into the test venv, then run one target for a fixed budget::

    pip install atheris
    python tests/fuzz/atheris_fuzz.py TARGET -max_total_time=240 -timeout=5 CORPUS_DIR

TARGET is one of ``challenges``, ``credentials``, ``ntlm``, ``der``, ``jwt``. CORPUS_DIR
(created if missing) is seeded from the challenge corpus, the diagnosis cases and a few
hand-built tokens on the first run. A finding is an exception (total functions must not
raise), an ``internal-error`` finding (the decoders' guard caught a bug), output that
does not serialize to UTF-8 JSON, or work above the linear budget of the binary readers
(their :class:`~authlens.schemes._der.Meter`); libFuzzer's ``-timeout`` catches stalls.
libFuzzer writes the input to ``crash-*`` / ``timeout-*``: turn it into a case file under
tests/fuzz/regressions/ (see test_regressions.py) and fix the bug.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "addon"))
sys.path.insert(0, str(HERE))

with atheris.instrument_imports(include=["authlens"]):
    from authlens import decode_credentials, parse_challenges
    from authlens.report import jsonout
    from authlens.schemes._der import Meter
    from authlens.schemes._jwt import decode_jwt, looks_like_jwt
    from authlens.schemes._ntlmmsg import decode_ntlm
    from authlens.schemes.negotiate import decode_token

SCHEMES = [
    "Basic", "Digest", "Bearer", "DPoP", "NTLM", "Negotiate", "Kerberos", "SCRAM-SHA-256",
    "SCRAM-SHA-1", "PrivateToken", "Concealed", "HOBA", "Mutual", "AWS4-HMAC-SHA256",
    "AWS4-ECDSA-P256-SHA256", "X-Unknown",
]  # fmt: skip


class Finding(Exception):
    """Something a total, linear decoder must never do."""


def check_json(value: object) -> None:
    text = jsonout.dumps(value, indent=None, clean=True)
    text.encode("utf-8")
    stack = [json.loads(text)]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("id") == "internal-error":
                raise Finding(f"internal-error: {item}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_meter(meter: Meter, size: int) -> None:
    if meter.steps > 16 * size + 256:
        raise Finding(f"super-linear work: {meter.steps} steps for {size} bytes")


def fuzz_challenges(data: bytes) -> None:
    lines = data.split(b"\n") if data[:1] == b"\n" else data
    for field in ("WWW-Authenticate", "Proxy-Authenticate"):
        check_json([c.to_json() for c in parse_challenges(lines, field)])


def fuzz_credentials(data: bytes) -> None:
    if not data:
        return
    # The first byte picks a scheme, so every decoder is reached from the start; the
    # rest is the value after it, raw (maybe non-UTF-8) or base64 of the raw bytes.
    scheme = SCHEMES[data[0] % len(SCHEMES)]
    rest = data[1:]
    for value in (scheme.encode() + b" " + rest, f"{scheme} {base64.b64encode(rest).decode()}"):
        check_json(decode_credentials(value).to_json())
        check_json([c.to_json() for c in parse_challenges(value)])


def fuzz_ntlm(data: bytes) -> None:
    message = b"NTLMSSP\x00" + data
    meter = Meter()
    decoded = decode_ntlm(message, meter)
    check_meter(meter, len(message))
    check_json(decoded.summary)


def fuzz_der(data: bytes) -> None:
    for side in ("client", "server"):
        meter = Meter()
        decoded = decode_token(data, side=side, meter=meter)
        check_meter(meter, len(data))
        check_json(decoded.summary)
        check_json([f.to_json() for f in decoded.findings])


def fuzz_jwt(data: bytes) -> None:
    # 0xFF splits header and payload JSON (it cannot occur in UTF-8): both are then
    # base64url-encoded, so the fuzzer explores JSON, not base64.
    parts = data.split(b"\xff")
    segments = [base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in parts[:5]]
    tokens = [".".join(segments), ".".join([*segments, "c2ln"])]
    tokens.append(data.decode("latin-1"))
    for token in tokens:
        looks_like_jwt(token)
        summary, findings = decode_jwt(token)
        check_json(summary)
        check_json([f.to_json() for f in findings])


TARGETS = {
    "challenges": fuzz_challenges,
    "credentials": fuzz_credentials,
    "ntlm": fuzz_ntlm,
    "der": fuzz_der,
    "jwt": fuzz_jwt,
}


def seeds(target: str) -> list[bytes]:
    """A starting corpus: real headers and tokens, so coverage starts deep."""
    import strategies as s  # the hand-built token builders

    out: list[bytes] = []
    corpus = json.loads((ROOT / "tests" / "data" / "challenge_corpus.json").read_text())
    lines = [line for case in corpus for line in case.get("lines", [])]
    for case_file in sorted((ROOT / "tests" / "cases").glob("*.json")):
        case = json.loads(case_file.read_text())
        for ex in case.get("exchanges", []):
            for part in (ex.get("request") or {}, ex.get("response") or {}):
                for item in part.get("headers", []):
                    if (
                        isinstance(item, list)
                        and len(item) == 2
                        and all(isinstance(x, str) for x in item)
                    ):
                        name, value = item
                        if "auth" in name.lower():
                            lines.append(value)
    krb = s.kerberos_ap_req(b"CORP.EXAMPLE", b"web", b"cipher" * 8)
    ntlm_messages = [
        s.ntlm_negotiate(),
        s.ntlm_challenge(),
        s.ntlm_authenticate(
            "alice", "CORP", s.ntlmv2_response(b"secret12", s.av_pairs([(2, b"C\x00")]))
        ),
    ]
    der_tokens = [
        s.krb_gss(krb),
        s.spnego_init(s.krb_gss(krb)),
        s.spnego_resp(1, ntlm_messages[1], s.NTLMSSP_OID),
    ]
    if target == "challenges":
        out = [line.encode("utf-8", "surrogateescape") for line in lines]
    elif target == "credentials":
        for line in lines:
            scheme, _, rest = line.partition(" ")
            index = next(
                (i for i, n in enumerate(SCHEMES) if n.lower() == scheme.lower()), len(SCHEMES) - 1
            )
            out.append(bytes([index]) + rest.encode("utf-8", "surrogateescape"))
    elif target == "ntlm":
        out = [m[len(b"NTLMSSP\x00") :] for m in ntlm_messages]
    elif target == "der":
        out = der_tokens + [s.der_bomb(k, 3) for k in s.DER_BOMBS]
    elif target == "jwt":
        out = [b'{"alg":"RS256","typ":"JWT"}\xff{"sub":"a","exp":1700000000,"aud":["x"]}',
               b'{"alg":"none"}\xff{"cnf":{"jkt":"x"},"nbf":1e400}']  # fmt: skip
    return out


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options] [CORPUS_DIR]")
    target = sys.argv.pop(1)
    corpus_dirs = [Path(a) for a in sys.argv[1:] if not a.startswith("-")]
    for directory in corpus_dirs[:1]:
        directory.mkdir(parents=True, exist_ok=True)
        if not any(directory.iterdir()):
            for i, seed in enumerate(seeds(target)):
                (directory / f"seed-{i:04d}").write_bytes(seed)
    atheris.Setup(sys.argv, TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
