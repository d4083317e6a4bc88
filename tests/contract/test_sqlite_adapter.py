"""What only the SQLite store promises: a file written by an earlier version keeps working."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.adapters.sqlite import SqliteStore

from .helpers import T0


def test_a_file_from_before_redeem_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the kv table as earlier versions created it
        db.execute("CREATE TABLE kv (namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
                   " expires_at REAL NOT NULL, PRIMARY KEY (namespace, key))")
        db.execute("INSERT INTO kv VALUES ('codes', 'old', 'kept', ?)", (T0 + 60,))
    db.close()
    store = SqliteStore(str(path))
    assert store.get("codes", "old", T0) == "kept"
    assert store.redeem("codes", "old", 3600, T0) == ("kept", None)
    assert store.redeem("codes", "old", 3600, T0 + 1) == (None, "kept")
    store.close()
    again = SqliteStore(str(path))  # opening a migrated file changes nothing
    assert again.redeem("codes", "old", 3600, T0 + 2) == (None, "kept")
    again.close()
