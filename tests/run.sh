#!/usr/bin/env bash
# The whole test job: set up, then lint, type-check and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
.venv/bin/ruff check addon tests
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
