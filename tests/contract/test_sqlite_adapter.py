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
    assert store.redeem("codes", "new", "used", T0 + 60, 3600, T0) == ("used", None)
    assert store.redeem("codes", "new", "used", T0 + 60, 3600, T0 + 1) == (None, "used")
    store.close()
    again = SqliteStore(str(path))  # opening a migrated file changes nothing
    assert again.get("codes", "old", T0) == "kept"
    assert again.redeem("codes", "new", "used", T0 + 60, 3600, T0 + 2) == (None, "used")
    again.close()


def test_a_file_from_before_draws_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the counters and tickets tables as earlier versions created them
        db.execute("CREATE TABLE counters (event_id TEXT PRIMARY KEY, serving INTEGER NOT NULL DEFAULT 0,"
                   " last_position INTEGER NOT NULL DEFAULT 0, issued INTEGER NOT NULL DEFAULT 0,"
                   " completed INTEGER NOT NULL DEFAULT 0, abandoned INTEGER NOT NULL DEFAULT 0,"
                   " expired INTEGER NOT NULL DEFAULT 0, timed_out INTEGER NOT NULL DEFAULT 0,"
                   " expiry_cursor INTEGER NOT NULL DEFAULT 0)")
        db.execute("CREATE TABLE tickets (event_id TEXT NOT NULL, request_id TEXT NOT NULL, position INTEGER NOT NULL,"
                   " entered_at REAL NOT NULL, idempotency_key TEXT, PRIMARY KEY (event_id, request_id),"
                   " UNIQUE (event_id, position), UNIQUE (event_id, idempotency_key))")
        db.execute("INSERT INTO counters (event_id, last_position) VALUES ('spring-sale', 2)")
        db.executemany("INSERT INTO tickets VALUES ('spring-sale', ?, ?, ?, NULL)",
                       [("r" * 32, 1, T0), ("s" * 32, 2, T0)])
    db.close()
    store = SqliteStore(str(path))
    assert store.draw_state("spring-sale") is None
    assert store.get_ticket("spring-sale", "s" * 32, T0).position == 2
    store.prepare_draw("spring-sale", "ab" * 32)
    assert store.open_draw("spring-sale", T0 + 1).size == 2
    assert sorted(store.get_ticket("spring-sale", r, T0).position for r in ("r" * 32, "s" * 32)) == [1, 2]
    store.close()
    SqliteStore(str(path)).close()  # opening a migrated file changes nothing



def test_session_rows_from_before_the_line_position_column_keep_their_order(tmp_path: Path) -> None:
    """Rows written before ``sessions.line_position`` existed are fifo places: the admin list
    orders them by their arrival index, which was their position."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the sessions table as earlier versions created it
        db.execute("CREATE TABLE sessions (event_id TEXT NOT NULL, position INTEGER NOT NULL, request_id TEXT NOT NULL,"
                   " status TEXT NOT NULL, jti TEXT, issued_at INTEGER, expires_at INTEGER, ended_at REAL,"
                   " PRIMARY KEY (event_id, position))")
        db.executemany("INSERT INTO sessions (event_id, position, request_id, status, ended_at)"
                       " VALUES ('spring-sale', ?, ?, 'expired', ?)", [(2, "b" * 32, T0), (1, "a" * 32, T0)])
    db.close()
    store = SqliteStore(str(path))
    assert store.expired_request_ids("spring-sale", 10) == ["a" * 32, "b" * 32]
    store.close()

def test_the_opening_writes_one_row_whatever_the_size(tmp_path: Path) -> None:
    """The draw is one UPDATE of the counters row: no place is rewritten at the opening."""
    store = SqliteStore(str(tmp_path / "state.db"))
    store.prepare_draw("spring-sale", "ab" * 32)
    store.enter_many("spring-sale", [(f"{i:032d}", None) for i in range(500)], T0)
    db = store._connection()
    before = db.total_changes
    assert store.open_draw("spring-sale", T0 + 1).size == 500
    assert db.total_changes - before == 1
    store.close()
