#!/usr/bin/env bash
# Sets up a fresh machine for authlens: a virtualenv in .venv with authlens and its test
# tools, plus the system programs the end-to-end tests drive (curl, Chromium).
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
  for py in "${PYTHON:-}" python3 python3.12 python3.13; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "authlens needs Python >= 3.12 (mitmproxy 12 does); set PYTHON=/path/to/python3.12" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  "$(pick_python)" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -e ".[test,bench]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import authlens, mitmproxy.version as v; print('authlens', authlens.__version__, '/ mitmproxy', v.VERSION)"

# System programs for the end-to-end tests (root on these machines; skipped otherwise).
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: install ${missing[*]} for the end-to-end tests" >&2
  fi
fi
