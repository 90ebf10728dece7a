"""authlens: why was this HTTP request refused with 401 or 407, and what to change.

The stable API (DESIGN.md §2) is :func:`parse_challenges` and :func:`decode_credentials`;
both are total: any input returns a value with findings, never an exception.
"""

from authlens.challenge import Challenge, parse_challenges
from authlens.credentials import Credentials, decode_credentials
from authlens.findings import Finding, Severity
from authlens.secret import Secret

__version__ = "0.1.0"

__all__ = [
    "Challenge",
    "Credentials",
    "Finding",
    "Secret",
    "Severity",
    "__version__",
    "decode_credentials",
    "parse_challenges",
]
