"""The ``authlens`` command line (DESIGN.md §4). Exit status: 0 fine, 1 ``--fail-on`` hit,
2 unusable input (a clear message, never a traceback)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from authlens import __version__
from authlens.commands import COMMANDS
from authlens.commands._base import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, UsageError


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
    for name in COMMANDS:
        importlib.import_module(f"authlens.commands.{name}").register(sub)
    return parser


def _safe_streams() -> None:
    """Never a UnicodeEncodeError on output: outputs are cleaned where they are made (JSON
    spells undecodable bytes as ``\\xff``, terminal text escapes non-printable characters),
    and as a last resort a character the stream's encoding cannot take (a lone surrogate,
    or "✖" on an ASCII-only terminal) is written as a backslash escape instead of
    failing the whole command."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):  # detached or closed: leave it
                reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _safe_streams()
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
    except BrokenPipeError:  # e.g. piped into head
        return EXIT_OK
    except Exception as exc:
        if os.environ.get("AUTHLENS_DEBUG"):
            traceback.print_exc()
        print(
            f"authlens: internal error ({type(exc).__name__}: {exc}); "
            "set AUTHLENS_DEBUG=1 for details and please report it.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
