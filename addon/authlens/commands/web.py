"""``authlens web [mitmweb args]``: mitmweb with the authlens addon loaded.

mitmweb is started by the interpreter running authlens (``python -c "from
mitmproxy.tools.main import mitmweb; mitmweb()"``), so it is the mitmproxy authlens was
installed with, whatever ``PATH`` says, and a plain checkout works without installing.
The process is replaced (``exec``), so Ctrl-C and exit status are mitmweb's own.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import authlens

MITMWEB = "from mitmproxy.tools.main import mitmweb; mitmweb()"
MITMDUMP = "from mitmproxy.tools.main import mitmdump; mitmdump()"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # No options of our own: everything after "web" goes to mitmweb unchanged (its own
    # --help included), which a prefix character nobody types makes argparse accept.
    web = sub.add_parser(
        "web",
        help="start mitmweb with the authlens addon (arguments go to mitmweb)",
        description="Start mitmweb with the authlens addon loaded; every argument is passed on.",
        prefix_chars="\x00",
        add_help=False,
    )
    web.add_argument("mitmweb_args", nargs=argparse.REMAINDER, metavar="ARG")
    web.set_defaults(handler=run_web)


def run_web(args: argparse.Namespace) -> NoReturn:
    command = mitmproxy_command(MITMWEB, list(args.mitmweb_args))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, child_env())


def entry_script() -> Path:
    """The entry script for ``-s``: the package's own, so it matches this authlens."""
    from authlens.mitm import entry_script_path

    return entry_script_path()


def mitmproxy_command(program: str, args: Sequence[str], *, addon: bool = True) -> list[str]:
    """``[python, -c, program, -s entry, *args]`` for mitmweb or mitmdump (:data:`MITMWEB`,
    :data:`MITMDUMP`)."""
    command = [sys.executable, "-c", program]
    if addon:
        command += ["-s", str(entry_script())]
    return [*command, *args]


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a mitmproxy child: this authlens importable (a plain checkout
    is not installed; mitmproxy only adds the script's own directory to ``sys.path``)."""
    env = dict(os.environ if base is None else base)
    root = Path(authlens.__file__).resolve().parents[1]
    if root.name in ("site-packages", "dist-packages"):
        return env  # installed: importable as it is (and site-packages must not move first)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(root) not in parts:
        env["PYTHONPATH"] = os.pathsep.join([str(root), *parts])
    return env
