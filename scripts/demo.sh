#!/usr/bin/env bash
# Set up the project in .venv on a fresh Debian 12 machine and start the local demo.
# Usage: bash scripts/demo.sh [waitingroom demo options, e.g. --port 8080]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/waitingroom demo "$@"
