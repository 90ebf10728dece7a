"""``authlens decode``: challenges and credentials from field values, for people or JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from authlens.challenge import Challenge, parse_challenges
from authlens.commands._base import EXIT_OK, UsageError
from authlens.credentials import Credentials, decode_credentials
from authlens.decode_fields import CHALLENGE_FIELDS, read_values, split_stdin
from authlens.findings import Finding
from authlens.report import jsonout, terminal


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    decode = sub.add_parser(
        "decode",
        help="decode WWW-Authenticate, Proxy-Authenticate, Authorization, Proxy-Authorization",
        description=(
            "Each VALUE is one WWW-Authenticate field line (Proxy-Authenticate with --proxy), "
            "or a whole 'Name: value' line of any of the four auth fields. '-' reads such "
            "lines from standard input (a pasted header block works; other fields are skipped)."
        ),
    )
    decode.add_argument("values", nargs="+", metavar="VALUE")
    decode.add_argument("--proxy", action="store_true", help="bare values are Proxy-Authenticate")
    decode.add_argument("--json", action="store_true", help="print JSON (DESIGN.md §4)")
    decode.add_argument(
        "--no-redact", action="store_true", help="show passwords and tokens in the clear"
    )
    decode.set_defaults(handler=run_decode)


def run_decode(args: argparse.Namespace) -> int:
    values: list[str] = []
    for value in args.values:
        if value == "-":
            values.extend(stdin_lines(_read_stdin()))
        else:
            values.append(value)
    read = read_values(values, proxy=args.proxy)
    if not read.lines:
        skipped = (
            f" (skipped other fields: {', '.join(sorted(set(read.ignored)))})"
            if read.ignored
            else ""
        )
        raise UsageError(f"no authentication field to decode{skipped}")

    challenges: list[Challenge] = []
    for field in sorted({line.name for line in read.lines if line.name in CHALLENGE_FIELDS}):
        challenges.extend(
            parse_challenges([line.value for line in read.lines if line.name == field], field)
        )
    credentials = [
        decode_credentials(line.value, line.name)
        for line in read.lines
        if line.name not in CHALLENGE_FIELDS
    ]
    redact = not args.no_redact
    if args.json:
        # clean: undecodable bytes as visible escapes (\xff), always valid UTF-8.
        print(jsonout.dumps(decode_json(challenges, credentials), redact=redact, clean=True))
    else:
        style = terminal.Style.for_stream(sys.stdout)
        terminal.write(terminal.render_decode(challenges, credentials, [], style, redact=redact))
    return EXIT_OK


def decode_json(challenges: list[Challenge], credentials: list[Credentials]) -> dict[str, Any]:
    """The ``authlens decode --json`` document of DESIGN.md §4."""
    findings: list[dict[str, Any]] = []
    for c in challenges:
        findings.extend(_located(c.findings, c.field, c.scheme))
    for cred in credentials:
        findings.extend(_located(cred.findings, cred.field, cred.scheme))
    out: dict[str, Any] = {
        "challenges": [c.to_json() for c in challenges],
        "credentials": credentials[0].to_json() if credentials else None,
        "findings": findings,
    }
    if len(credentials) > 1:
        out["more_credentials"] = [c.to_json() for c in credentials[1:]]
    return out


def _located(findings: list[Finding], field: str, scheme: str) -> list[dict[str, Any]]:
    return [{**f.to_json(), "field": field, "scheme": scheme} for f in findings]


stdin_lines = split_stdin  # one reader of field lines for every command


def _read_stdin() -> str:
    data = sys.stdin.buffer.read()
    # Undecodable bytes survive as surrogates; the grammar reports them as non-UTF-8.
    return data.decode("utf-8", "surrogateescape")
