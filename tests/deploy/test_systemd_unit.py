"""deploy/systemd/waitingroom.service: systemd accepts it, its command line is one `waitingroom
serve` understands, and it keeps the hardening the deployment notes promise."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from oidc_adaptor.entrypoints.cli import build_parser

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "waitingroom.service"


def service_section() -> dict[str, list[str]]:
    """Every key of [Service] with all its values (systemd allows a key more than once)."""
    values: dict[str, list[str]] = {}
    section = None
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd (scripts/test.sh does)")
    # The installed console script stands in for /opt/waitingroom/bin/waitingroom.
    script = Path(sys.executable).parent / "waitingroom"
    assert script.exists(), "install the project (pip install -e .) for its console script"
    unit = tmp_path / "waitingroom.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace("/opt/waitingroom/bin/waitingroom", str(script)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    complaints = [line for line in result.stderr.splitlines() if str(unit) in line or "waitingroom.service" in line]
    assert complaints == [], complaints  # an unknown or misspelt directive is only a warning


def test_the_command_line_is_one_waitingroom_serve_accepts() -> None:
    (command,) = service_section()["ExecStart"]
    argv = shlex.split(command)
    assert argv[0].endswith("/waitingroom") and argv[1] == "serve"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve" and args.host == "127.0.0.1" and args.json_logs is True
    assert args.config == "/etc/waitingroom/waitingroom.toml"


def test_the_service_is_hardened() -> None:
    service = service_section()
    expected = {
        "DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "StateDirectory": "waitingroom", "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes", "KillSignal": "SIGTERM", "UMask": "0077",
    }
    for key, value in expected.items():
        assert service.get(key) == [value], key
    # The workers' shared metrics samples live where the service may write.
    env = dict(item.split("=", 1) for item in service["Environment"])
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/run/" + service["RuntimeDirectory"][0] + "/")
