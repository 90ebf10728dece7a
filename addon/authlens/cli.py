"""The ``authlens`` command line (DESIGN.md §4). Exit status: 0 fine, 1 ``--fail-on`` hit,
2 unusable input (a clear message, never a traceback)."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from authlens import __version__
from authlens.challenge import Challenge, parse_challenges
from authlens.credentials import Credentials, decode_credentials
from authlens.decode_fields import CHALLENGE_FIELDS, read_values, split_stdin
from authlens.findings import Finding
from authlens.report import jsonout, terminal

EXIT_OK = 0
EXIT_FAIL_ON = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class UsageError(Exception):
    """Unusable input: reported as one line and exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authlens",
        description="Explain why an HTTP request was refused with 401 or 407, and what to change.",
    )
    parser.add_argument("--version", action="version", version=f"authlens {__version__}")
    parser.add_argument(
        "--script",
        action="store_true",
        help="print the path of the mitmproxy entry script (for mitmproxy -s) and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    decode = sub.add_parser(
        "decode",
        help="decode WWW-Authenticate, Proxy-Authenticate, Authorization or Proxy-Authorization values",
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.script:
        from authlens.mitm import entry_script_path

        print(entry_script_path())
        return EXIT_OK
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        status: int = args.handler(args)
        return status
    except UsageError as exc:
        print(f"authlens: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("AUTHLENS_DEBUG"):
            traceback.print_exc()
        print(
            f"authlens: internal error ({type(exc).__name__}: {exc}); "
            "set AUTHLENS_DEBUG=1 for details and please report it.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def run_decode(args: argparse.Namespace) -> int:
    values: list[str] = []
    for value in args.values:
        if value == "-":
            values.extend(split_stdin(_read_stdin()))
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
        print(jsonout.dumps(decode_json(challenges, credentials), redact=redact))
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


def _read_stdin() -> str:
    data = sys.stdin.buffer.read()
    # Undecodable bytes survive as surrogates; the grammar reports them as non-UTF-8.
    return data.decode("utf-8", "surrogateescape")
