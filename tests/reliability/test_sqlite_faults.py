"""The SQLite store under a held write lock, on a full disk and on a read-only directory: every
call answers 503 with Retry-After within the store timeout, ``/readyz`` reports a store that
cannot write, nothing logs a traceback, and start-up errors are one line.

The full disk and the read-only directory are real: a small tmpfs, mounted in a private mount
namespace (``unshare``) so the test needs no privileges of its own."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.settings import SettingsError
from oidc_adaptor.app import create_app
from tests.conftest import make_settings

from ..support import write_config

ROOT = Path(__file__).resolve().parents[2]
EVENT = "spring-sale"


def _in_namespace(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with Python in a private mount namespace, as root there (for ``mount``)."""
    # as root a mount namespace is enough; otherwise a user namespace makes us root inside it
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]
    return subprocess.run(
        [*unshare, sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


def test_a_held_write_lock_gives_503_within_the_store_timeout(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, server={"store_timeout": 0.3}), clock=ManualClock(),
                     start_scheduler=False)
    store = app.extensions["waitingroom"].store
    assert store.busy_timeout == 0.3  # [server] store_timeout applies to SQLite too
    client = app.test_client()
    assert client.post("/assign_queue_num", json={"event_id": EVENT}).status_code == 200
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        entered = client.post("/assign_queue_num", json={"event_id": EVENT})
        assert entered.status_code == 503 and int(entered.headers["Retry-After"]) > 0
        assert entered.json["error"] == "store_unavailable"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "Retry-After" in ready.headers  # it cannot write: not ready
        assert client.get("/healthz").status_code == 200
        assert client.get("/serving_num", query_string={"event_id": EVENT}).status_code == 200  # reads go on
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.get("/readyz").status_code == 200
    assert client.post("/assign_queue_num", json={"event_id": EVENT}).json["queue_number"] == 2


def test_a_full_disk_gives_503_and_readyz_says_so() -> None:
    result = _in_namespace("""
        import json, logging, os, subprocess, sys, tempfile
        from pathlib import Path
        sys.path.insert(0, os.getcwd())
        disk = Path(tempfile.mkdtemp())
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
        from core.clock import ManualClock
        from oidc_adaptor.app import create_app
        from tests.conftest import make_settings
        records = []
        logging.getLogger().addHandler(type("H", (logging.Handler,), {"emit": lambda s, r: records.append(r)})())
        app = create_app(make_settings(disk, server={"store_timeout": 0.3}), clock=ManualClock(), start_scheduler=False)
        client = app.test_client()
        first = client.post("/assign_queue_num", json={"event_id": "spring-sale"}).status_code
        filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)  # fill the disk
        try:
            while True:
                os.write(filler, b"x" * 4096)
        except OSError:
            os.close(filler)
        full = [client.post("/assign_queue_num", json={"event_id": "spring-sale"}) for _ in range(20)]
        ready_full = client.get("/readyz").status_code
        os.remove(disk / "filler")
        out = {
            "first": first, "full": sorted({r.status_code for r in full}),
            "retry_after": all(r.headers.get("Retry-After") for r in full if r.status_code == 503),
            "ready_full": ready_full, "ready_after": client.get("/readyz").status_code,
            "after": client.post("/assign_queue_num", json={"event_id": "spring-sale"}).status_code,
            "tracebacks": sum(1 for r in records if r.exc_info),
        }
        print(json.dumps(out))
    """)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["first"] == 200
    assert out["full"] == [503] and out["retry_after"]  # every write refused cleanly, none a 500
    assert out["ready_full"] == 503 and out["ready_after"] == 200 and out["after"] == 200
    assert out["tracebacks"] == 0


@pytest.mark.parametrize("read_only", ["store", "keys"])
def test_starting_on_a_read_only_directory_is_one_line(tmp_path: Path, read_only: str) -> None:
    config = write_config(tmp_path / "wr.toml", {
        "server": {"store": "sqlite:////mnt/wr-ro/state.db" if read_only == "store" else f"sqlite:///{tmp_path}/s.db",
                   "keys_file": "/mnt/wr-ro/keys.json" if read_only == "keys" else str(tmp_path / "keys.json"),
                   "admin_keys": ["an-admin-key-with-enough-entropy-0123456789"]},
        "events": {EVENT: {}},
    })
    result = _in_namespace("""
        import os, subprocess, sys
        os.makedirs("/mnt/wr-ro", exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", "/mnt/wr-ro"], check=True)
        sys.path.insert(0, os.getcwd())
        from oidc_adaptor.entrypoints import cli
        sys.exit(cli.main(["serve", "--config", sys.argv[1], "--port", "1"]))
    """, str(config))
    assert result.returncode == 3, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("waitingroom: cannot start:") and "/mnt/wr-ro" in lines[-1], lines
    assert "Read-only" in lines[-1] or "readonly" in lines[-1] or "read-only" in lines[-1], lines


def test_durability_is_a_setting_with_full_by_default(tmp_path: Path) -> None:
    for server, expected in (({}, 2), ({"sqlite_synchronous": "NORMAL"}, 1), ({"sqlite_synchronous": "full"}, 2)):
        app = create_app(make_settings(tmp_path / str(len(server)) / str(expected), server=server),
                         clock=ManualClock(), start_scheduler=False)
        store = app.extensions["waitingroom"].store
        # PRAGMA synchronous: 1 = NORMAL, 2 = FULL, on the connection every request of this thread uses
        assert store._connection().execute("PRAGMA synchronous").fetchone()[0] == expected
    with pytest.raises(SettingsError, match="sqlite_synchronous"):
        make_settings(tmp_path, server={"sqlite_synchronous": "OFF"})


def test_a_code_write_does_not_scan_the_key_value_table(tmp_path: Path) -> None:
    """Every record written to the key-value table (``put``, and the redemption of an OIDC code
    that ``redeem`` records) first deletes expired records; with an index on expiry that touches
    only the expired rows, not the whole table under the write lock (7.7 ms per write at 200,000
    rows before). Checked on SQLite's own query plan, whatever the machine's speed."""
    from core.adapters.sqlite import SqliteStore

    store = SqliteStore(str(tmp_path / "kv.db"))
    for n in range(50):
        store.put("clients", f"c{n}", "v", 60 if n % 2 else 0.001, 1000.0)
        store.redeem("oidc-code", f"r{n}", "v", 1060.0, 60 if n % 2 else 0.001, 1000.0)
    assert store.redeem("oidc-code", "fresh", "v", 1060.0, 60, 1001.0) == ("v", None)  # cleans up
    db = store._connection()
    plan = " ".join(str(row) for row in db.execute("EXPLAIN QUERY PLAN DELETE FROM kv WHERE expires_at <= ?", (1.0,)))
    assert "kv_by_expiry" in plan and "SCAN kv" not in plan.replace("SCAN kv_", ""), plan
    assert db.execute("SELECT COUNT(*) FROM kv WHERE expires_at <= 1001").fetchone()[0] == 0
    assert store.redeem("oidc-code", "r1", "v", 1060.0, 60, 1002.0) == (None, "v")  # kept ones stay
    assert store.get("clients", "c1", 1001.0) == "v"
