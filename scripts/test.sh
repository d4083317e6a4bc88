#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian 12 machine, then run it.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(redis-server redis-tools apache2 libapache2-mod-auth-openidc chromium nginx util-linux systemd)  # util-linux: unshare, mount (SQLite fault tests); systemd: systemd-analyze (deploy tests)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)  # axe-core and openid-client for the tests
if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

. scripts/venv.sh
echo "==> installing the project and its test dependencies"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev,aws,infra]"

echo "==> installing axe-core and openid-client (npm) for the browser and relying-party tests"
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
exec .venv/bin/pytest -n 2 --dist loadgroup "$@"
