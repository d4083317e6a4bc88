#!/usr/bin/env bash
# Set up the project in .venv on a fresh Debian 12 machine and start the local demo.
# Usage: bash scripts/demo.sh [waitingroom demo options, e.g. --port 8080]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/waitingroom demo "$@"
