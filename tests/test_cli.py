"""The ``waitingroom`` command line: help, check-config, keys rotate, settings precedence."""

from __future__ import annotations

import argparse
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from oidc_adaptor.entrypoints import cli

from .support import write_config

SECRETS = ("admin-key-that-must-not-leak", "client-secret-that-must-not-leak", "redis-password-x")


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oidc_adaptor.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60)


@pytest.mark.parametrize(
    "args",
    [(), ("serve",), ("keys",), ("keys", "rotate"), ("check-config",), ("hash-secret",), ("demo",),
     ("verify-draw",)],
)
def test_help_reads_well_at_every_level(args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*args, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: waitingroom")
    assert "examples:" in out
    for line in out.splitlines():
        assert len(line) <= 110, line


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "commands:" in capsys.readouterr().err
    assert cli.main(["keys"]) == 2


def _config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "wr.toml", {
        "server": {"store": "redis://:redis-password-x@127.0.0.1:6390/0", "keys_file": str(tmp_path / "keys.json"),
                   "admin_keys": [SECRETS[0]], "issuer": "https://wr.example"},
        "events": {"spring-sale": {"name": "Spring", "token_validity": 7200,
                                   "admission": {"strategy": "periodic", "increment_by": 5, "every": 2}},
                   "exam": {"queue_position_expiry": 0}},
        "clients": {"shop": {"event": "spring-sale", "secret": SECRETS[1],
                             "redirect_uris": ["https://shop.example/cb"]}},
    })


def test_check_config_prints_a_summary_without_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check-config", "--config", str(_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "configuration OK" in out
    assert "spring-sale" in out and "periodic, 5 every 2 s" in out and "position expiry off" in out
    assert "redis://:***@127.0.0.1:6390/0" in out and "1 key(s)" in out and "shop: event spring-sale" in out
    for secret in SECRETS:
        assert secret not in out


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[server]\nissuer = 5\n", "issuer"),
        ("[events.a]\nadmission = { strategy = \"periodic\" }\n", "increment_by"),
        ("[server]\nstore = \"postgres://x\"\n", "store"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_check_config_rejects_invalid_configs(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    result = run_cli("check-config", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


INSECURE_CLIENT = """
[server]
store = "sqlite:///{tmp}/state.db"
keys_file = "{tmp}/keys.json"
[events.sale]
[clients.shop]
event = "sale"
secret = "a-long-enough-client-secret"
redirect_uris = ["http://shop.example/cb"]
"""


def test_check_config_and_serve_refuse_the_same_client_in_one_line(tmp_path: Path) -> None:
    """A plain-http redirect URI on a non-loopback host: check-config said OK while every serve
    worker failed with a traceback. Both refuse it now, with one line, before any worker starts."""
    path = tmp_path / "insecure.toml"
    path.write_text(INSECURE_CLIENT.format(tmp=tmp_path))
    for command in (["check-config"], ["serve", "--port", "1", "--workers", "1"]):
        result = run_cli(*command, "--config", str(path), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines == ["waitingroom: invalid configuration: [clients.shop] redirect URI 'http://shop.example/cb' "
                         "uses plain http on a non-loopback host; use https or set allow_insecure_http"], lines
    assert not (tmp_path / "keys.json").exists()  # refused before anything was prepared


def test_check_config_prints_resolved_paths(tmp_path: Path) -> None:
    path = tmp_path / "rel.toml"
    path.write_text('[server]\nstore = "sqlite:///var/lib/wr/state.db"\nkeys_file = "keys/keys.json"\n')
    result = run_cli("check-config", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"store:         sqlite:///var/lib/wr/state.db (file {tmp_path}/var/lib/wr/state.db)" in result.stdout
    assert f"keys file:     {tmp_path}/keys/keys.json" in result.stdout


def test_check_config_shows_the_schedule(tmp_path: Path) -> None:
    path = tmp_path / "scheduled.toml"
    path.write_text('[events.sale]\nadmission = { strategy = "periodic", increment_by = 5, every = 10, '
                    'start_at = 2027-03-01T09:00:00Z, end_at = 2027-03-01T18:00:00Z }\n')
    result = run_cli("check-config", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "periodic, 5 every 10 s; opens 2027-03-01 09:00:00 UTC; closes 2027-03-01 18:00:00 UTC" in result.stdout


def test_check_config_warns_about_settings_that_cannot_work(tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    path.write_text('[events.sale]\nqueue_position_expiry = 30\n'
                    'admission = { strategy = "periodic", increment_by = 5, every = 0.5 }\n')
    result = run_cli("check-config", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 0 and "configuration OK" in result.stdout
    assert "warning: event sale: queue_position_expiry = 30 s gives an admitted visitor less than 60 s" in result.stderr
    assert "warning: event sale: admission every 0.5 s is shorter than the scheduler interval" in result.stderr
    path.write_text("[events.sale]\nqueue_position_expiry = 900\n")
    assert "warning" not in run_cli("check-config", "--config", str(path), cwd=tmp_path).stderr


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("serve", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert result.returncode == 2 and "config file not found" in result.stderr


def test_keys_rotate_keeps_old_keys_for_the_longest_token_validity(tmp_path: Path) -> None:
    config = _config(tmp_path)
    keys_file = tmp_path / "keys.json"
    first = run_cli("keys", "rotate", "--config", str(config), "--activate-after", "0", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    second = run_cli("keys", "rotate", "--config", str(config), cwd=tmp_path)
    assert second.returncode == 0 and "new key" in second.stdout and "generating" in second.stderr
    records = json.loads(keys_file.read_text())["keys"]
    assert len(records) == 3  # created on first use, then two rotations
    newest = records[-1]
    assert newest["not_before"] - newest["created_at"] == pytest.approx(300)
    assert newest["retire_at"] is None
    assert all(old["retire_at"] is not None for old in records[:-1])
    # the key that signed until now stays published for the longest token validity (7200 s) + 60 s
    assert records[-2]["retire_at"] == pytest.approx(newest["not_before"] + 7200 + 60, abs=1)
    assert SECRETS[0] not in second.stdout + second.stderr


def test_settings_precedence_defaults_file_env_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path / "wr.toml", {"server": {"store": "sqlite:///from-file.db"},
                                                 "events": {"e": {}}})

    def settings(**flags: object) -> object:
        args = argparse.Namespace(config=str(config), store=None, issuer=None, json_logs=None, log_level=None,
                                  host="127.0.0.1", port=9000)
        vars(args).update(flags)
        return cli.serve_settings(args)

    monkeypatch.delenv("WAITINGROOM_STORE", raising=False)
    assert settings().server.store == "sqlite:///from-file.db"  # type: ignore[attr-defined]
    assert settings().server.issuer == "http://127.0.0.1:9000"  # type: ignore[attr-defined]
    assert settings().server.max_body_bytes == 16 * 1024  # type: ignore[attr-defined]  # default
    monkeypatch.setenv("WAITINGROOM_STORE", "sqlite:///from-env.db")
    monkeypatch.setenv("WAITINGROOM_ISSUER", "https://env.example")
    assert settings().server.store == "sqlite:///from-env.db"  # type: ignore[attr-defined]
    assert settings().server.issuer == "https://env.example"  # type: ignore[attr-defined]
    flagged = settings(store="sqlite:///from-flag.db", issuer="https://flag.example", json_logs=True)
    assert flagged.server.store == "sqlite:///from-flag.db"  # type: ignore[attr-defined]
    assert flagged.server.issuer == "https://flag.example"  # type: ignore[attr-defined]
    assert flagged.server.json_logs is True  # type: ignore[attr-defined]


def test_redact_url() -> None:
    assert cli.redact_url("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert cli.redact_url("sqlite:///x.db") == "sqlite:///x.db"


def test_wsgi_module_does_no_io_at_import(tmp_path: Path) -> None:
    code = "import oidc_adaptor.wsgi as w; import os; print(sorted(os.listdir('.')))"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "WAITINGROOM_STORE": f"sqlite:///{tmp_path}/s.db"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_hash_secret_prints_a_hash_the_provider_accepts(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from oidc_adaptor.oidc.passwords import verify_secret

    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-random-secret\n"))
    assert cli.main(["hash-secret"]) == 0
    printed = capsys.readouterr().out.strip()
    assert "a-long-random-secret" not in printed
    assert verify_secret("a-long-random-secret", printed)
    assert not verify_secret("another-secret", printed)
