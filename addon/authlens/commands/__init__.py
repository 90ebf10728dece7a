"""One module per ``authlens`` subcommand; each exposes ``register(subparsers)``.

The command modules are listed here in the order ``--help`` shows them.
"""

from __future__ import annotations

COMMANDS = ("decode", "analyze", "compare", "web", "demo")
