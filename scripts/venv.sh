# Sourced by the setup scripts: create .venv with the machine's python3 if it is not there yet.
# Debian's own python3 needs the python3-venv package for that; install it when missing.
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    if ! python3 -m venv .venv 2>/dev/null; then
        rm -rf .venv
        echo "==> installing python3-venv (Debian's python3 needs it to create virtual environments)"
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update -q
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-venv
        python3 -m venv .venv
    fi
fi
