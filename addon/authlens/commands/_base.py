"""What every subcommand shares: exit statuses and the usage error."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL_ON = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class UsageError(Exception):
    """Unusable input: reported as one line and exit status 2, never a traceback."""
