"""The thin layer between mitmproxy and the core. The only package that imports mitmproxy."""

from __future__ import annotations

from pathlib import Path


def entry_script_path() -> Path:
    """The file to pass to ``mitmproxy -s`` when authlens is installed as a package."""
    return Path(__file__).with_name("entry.py")
