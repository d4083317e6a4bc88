"""The embedded store: one SQLite file shared by every worker process on one machine.

Every write use case runs in one ``BEGIN IMMEDIATE`` transaction, which takes SQLite's write
lock up front, so concurrent processes serialise on it instead of failing half-way. WAL mode
lets readers proceed while a writer works. Each thread gets its own connection.

Waiting for the write lock is bounded by ``busy_timeout`` (``[server] store_timeout`` when the
app opens the store): while another process holds the lock longer, a call fails with
StoreUnavailable (503 with Retry-After) instead of holding a worker thread. Every other SQLite
failure of a call (a full disk, a read-only file, an I/O error) is StoreUnavailable too, never a
raw ``sqlite3`` error.

Durability is ``synchronous`` (``[server] sqlite_synchronous``): ``FULL`` (the default) syncs
the write-ahead log at every commit, so no acknowledged place is lost on a power failure;
``NORMAL`` syncs only at checkpoints, faster, but a power failure (not a process crash) can roll
back the last transactions, places already told to visitors included. ``bench/`` measures both.

Arrival index and position. The ``position`` columns of ``tickets`` and ``sessions`` hold a
place's *arrival index* (the ``last_position`` counter that handed it out). For every event but
an opened ``random_before_opening`` draw that is its position. A session row also keeps the
place's position in line (``line_position``, NULL in rows written before draws existed, whose
position is their arrival index), so the admin list of places that ended is ordered by it
without computing the draw again. The draw is three columns of the
event's ``counters`` row (``draw_secret``, ``draw_size``, ``draw_opened_at``), so opening it is
one UPDATE whatever the pre-queue's size; from then on the position of arrival index ``i`` is
:func:`core.draw.position_of` (``secret``, ``size``, ``i``), computed where a place is read, and
the sweep maps the positions it walks back to arrival indexes with :func:`core.draw.index_at`.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from ..draw import DrawState, index_at, position_of
from ..errors import (
    GrantRevoked,
    InvalidTransition,
    StoreUnavailable,
)
from ..model import SWEEP_POSITIONS, Counters, DoorRule, Session, Status, SweepResult, Ticket
from ..rules import check_issuable, place_of_grant

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    event_id TEXT PRIMARY KEY,
    serving INTEGER NOT NULL DEFAULT 0,
    last_position INTEGER NOT NULL DEFAULT 0,
    issued INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    abandoned INTEGER NOT NULL DEFAULT 0,
    expired INTEGER NOT NULL DEFAULT 0,
    timed_out INTEGER NOT NULL DEFAULT 0,
    expiry_cursor INTEGER NOT NULL DEFAULT 0,
    draw_secret TEXT,
    draw_size INTEGER,
    draw_opened_at REAL
);
CREATE TABLE IF NOT EXISTS tickets (
    event_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    entered_at REAL NOT NULL,
    idempotency_key TEXT,
    PRIMARY KEY (event_id, request_id),
    UNIQUE (event_id, position),
    UNIQUE (event_id, idempotency_key)
);
CREATE TABLE IF NOT EXISTS sessions (
    event_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    status TEXT NOT NULL,
    jti TEXT,
    issued_at INTEGER,
    expires_at INTEGER,
    ended_at REAL,
    line_position INTEGER,
    PRIMARY KEY (event_id, position)
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (event_id, status, expires_at);
CREATE INDEX IF NOT EXISTS sessions_by_jti ON sessions (event_id, jti);
CREATE TABLE IF NOT EXISTS serving_history (
    event_id TEXT NOT NULL,
    serving INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_time ON serving_history (event_id, at);
CREATE INDEX IF NOT EXISTS history_by_value ON serving_history (event_id, serving);
CREATE TABLE IF NOT EXISTS ticks (
    event_id TEXT NOT NULL,
    name TEXT NOT NULL,
    tick INTEGER NOT NULL,
    PRIMARY KEY (event_id, name)
);
CREATE TABLE IF NOT EXISTS controls (
    event_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (event_id, key)
);
CREATE TABLE IF NOT EXISTS kv (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at REAL NOT NULL,
    redeemed INTEGER NOT NULL DEFAULT 0,
    redeemed_by TEXT,
    live_until REAL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS kv_by_expiry ON kv (expires_at);
CREATE TABLE IF NOT EXISTS aliases (
    event_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    request_id TEXT NOT NULL,
    note TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (event_id, alias)
);
CREATE TABLE IF NOT EXISTS revoked_grants (
    event_id TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (event_id, grant_id)
);
"""

_drawn_position = functools.lru_cache(maxsize=1 << 16)(position_of)
""":func:`core.draw.position_of`, remembered for the places read lately: a waiting visitor's page
reads the same place again and again, and the permutation (six SHA-1 rounds, cycle walked) costs
about as much as the rest of the read. Keyed by secret and size, so a new draw never hits an old entry."""

_COUNTER_COLUMNS = "serving, last_position, issued, completed, abandoned, expired, timed_out"

_ADDED_COLUMNS = (
    ("kv", "redeemed", "INTEGER NOT NULL DEFAULT 0"),
    ("kv", "redeemed_by", "TEXT"),
    ("kv", "live_until", "REAL"),
    ("counters", "draw_secret", "TEXT"),
    ("counters", "draw_size", "INTEGER"),
    ("counters", "draw_opened_at", "REAL"),
    ("sessions", "line_position", "INTEGER"),
)
"""Columns added to tables after their first release: (table, column, declaration)."""


def path_from_url(url: str) -> str:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite:///:memory:`` to a path."""
    if not url.startswith("sqlite:///"):
        raise ValueError("SQLite store URLs look like sqlite:///path/to/state.db")
    path = url[len("sqlite:///"):]
    if not path:
        raise ValueError("the SQLite store URL names no file")
    return path


SYNCHRONOUS_MODES = ("FULL", "EXTRA", "NORMAL")
"""Accepted ``synchronous`` settings (SQLite's PRAGMA synchronous), safest first."""


class SqliteStore:
    """:class:`core.ports.QueueStore` and :class:`core.ports.KeyValueStore` on one SQLite file.

    ``busy_timeout``: seconds a call may wait for the write lock. ``synchronous``: see the module
    docstring. Raises StoreUnavailable, with a one-line message, when the file cannot be opened
    or created (a missing or read-only directory).
    """

    def __init__(self, path: str, busy_timeout: float = 10.0, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        self.path = path
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous.upper()
        self.sweep_positions = SWEEP_POSITIONS
        self._local = threading.local()
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._connection().executescript(SCHEMA)
            self._migrate()
        except (OSError, sqlite3.Error, StoreUnavailable) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            folder = Path(path).parent
            if path != ":memory:" and folder.is_dir() and not os.access(folder, os.W_OK):
                reason = f"its directory {folder} is read-only"  # SQLite also writes -wal and -shm files there
            raise StoreUnavailable(f"cannot open the SQLite store {path}: {reason}") from None

    @classmethod
    def from_url(cls, url: str, timeout: float | None = None, synchronous: str = "FULL") -> SqliteStore:
        """The store at ``sqlite:///PATH``; ``timeout`` bounds waits for the write lock (seconds)."""
        return cls(path_from_url(url), busy_timeout=10.0 if timeout is None else timeout, synchronous=synchronous)

    def _migrate(self) -> None:
        """Bring a file made by an earlier version up to this schema (columns added since)."""
        db = self._connection()
        for table, column, declaration in _ADDED_COLUMNS:
            if column in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                continue
            try:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise

    # -- connections --------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open SQLite store: {exc}") from None
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock from its first statement.

        Any SQLite failure (lock not obtained within ``busy_timeout``, full disk, read-only file)
        rolls back and raises StoreUnavailable; the domain's own errors pass through unchanged.
        """
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite store cannot take the write lock: {exc}") from None
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            self._rollback(db)
            if isinstance(exc, sqlite3.Error):
                raise StoreUnavailable(f"SQLite store cannot write: {exc}") from None
            raise

    @staticmethod
    def _rollback(db: sqlite3.Connection) -> None:
        # an error here means SQLite rolled back by itself (a failed COMMIT on a full disk, say)
        if db.in_transaction:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for several SELECTs."""
        db = self._connection()
        try:
            db.execute("BEGIN")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite store cannot read: {exc}") from None
        try:
            yield db
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite store cannot read: {exc}") from None
        finally:
            self._rollback(db)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _counters(db: sqlite3.Connection, event_id: str) -> Counters:
        row = db.execute(f"SELECT {_COUNTER_COLUMNS} FROM counters WHERE event_id = ?", (event_id,)).fetchone()
        return Counters(*row) if row else Counters()

    @staticmethod
    def _ensure_counters(db: sqlite3.Connection, event_id: str) -> None:
        db.execute("INSERT OR IGNORE INTO counters (event_id) VALUES (?)", (event_id,))

    @staticmethod
    def _admitted_at(db: sqlite3.Connection, event_id: str, position: int) -> float | None:
        """When ``position`` was last admitted: the first move to ``serving >= position`` after
        the counter was last below it (a counter moved back and forward again re-admits)."""
        row = db.execute(
            "SELECT MIN(at) FROM serving_history WHERE event_id = ? AND serving >= ? AND rowid >"
            " (SELECT COALESCE(MAX(rowid), 0) FROM serving_history WHERE event_id = ? AND serving < ?)",
            (event_id, position, event_id, position),
        ).fetchone()
        return None if row is None else row[0]

    @staticmethod
    def _admitted_since(db: sqlite3.Connection, event_id: str, cutoff: float) -> int:
        """The highest position admitted without a break since ``cutoff`` or earlier: the least
        serving value in force at any instant from ``cutoff`` on (0 if none was reached by then)."""
        then = SqliteStore._serving_at(db, event_id, cutoff)
        if then is None:
            return 0
        (lowest_after,) = db.execute(
            "SELECT MIN(serving) FROM serving_history WHERE event_id = ? AND at > ?", (event_id, cutoff)
        ).fetchone()
        return then if lowest_after is None else min(then, int(lowest_after))

    @staticmethod
    def _serving_at(db: sqlite3.Connection, event_id: str, at: float, before: bool = False) -> int | None:
        """The serving counter in force at instant ``at`` (its last move at or before it; with
        ``before``, strictly before it), or None if it had not moved by then."""
        row = db.execute(
            "SELECT serving FROM serving_history WHERE event_id = ? AND at " + ("<" if before else "<=")
            + " ? ORDER BY at DESC, rowid DESC LIMIT 1",
            (event_id, at),
        ).fetchone()
        return None if row is None else int(row[0])

    def _ticket(self, db: sqlite3.Connection, event_id: str, request_id: str) -> Ticket | None:
        place = self._place(db, event_id, request_id)
        return None if place is None else place[0]

    def _place(self, db: sqlite3.Connection, event_id: str, request_id: str) -> tuple[Ticket, int] | None:
        """The ticket of ``request_id`` and the arrival index its rows are kept under, or None."""
        row = db.execute(
            "SELECT position, entered_at FROM tickets WHERE event_id = ? AND request_id = ?", (event_id, request_id)
        ).fetchone()
        if row is None:
            return None
        index, entered_at = row
        # the serving counter and the draw in the one read: a fifo event's draw columns are NULL
        serving, secret, size = db.execute(
            "SELECT serving, draw_secret, draw_size FROM counters WHERE event_id = ?", (event_id,)
        ).fetchone() or (0, None, None)
        position = index if size is None else _drawn_position(secret, size, index)
        srow = db.execute(
            "SELECT status, jti, issued_at, expires_at, ended_at FROM sessions WHERE event_id = ? AND position = ?",
            (event_id, index),
        ).fetchone()
        session = None
        if srow is not None:
            status = Status(srow[0])
            if srow[1] is not None:
                session = Session(jti=srow[1], issued_at=srow[2], expires_at=srow[3], status=status, ended_at=srow[4])
        elif position <= serving:
            status = Status.ADMITTED
        else:
            status = Status.WAITING
        admitted_at = self._admitted_at(db, event_id, position) if status is not Status.WAITING else None
        return Ticket(event_id, request_id, position, entered_at, status, admitted_at, session), index

    @staticmethod
    def _record_serving(db: sqlite3.Connection, event_id: str, serving: int, now: float) -> None:
        db.execute("UPDATE counters SET serving = ? WHERE event_id = ?", (serving, event_id))
        db.execute("INSERT INTO serving_history (event_id, serving, at) VALUES (?, ?, ?)", (event_id, serving, now))

    # -- QueueStore ---------------------------------------------------------------------------

    def _enter(self, db: sqlite3.Connection, event_id: str, request_id: str, idempotency_key: str | None,
               now: float, door: DoorRule | None = None) -> Ticket:
        """One visitor's enter, inside the caller's write transaction."""
        if idempotency_key is not None:
            row = db.execute(
                "SELECT request_id FROM tickets WHERE event_id = ? AND idempotency_key = ?",
                (event_id, idempotency_key),
            ).fetchone()
            if row is not None:
                ticket = self._ticket(db, event_id, row[0])
                assert ticket is not None
                return ticket
        held = self._ticket(db, event_id, request_id)
        if held is not None:  # a redelivered queue message: this request id already holds a place
            return held
        self._ensure_counters(db, event_id)
        (position,) = db.execute(
            "UPDATE counters SET last_position = last_position + 1 WHERE event_id = ? RETURNING last_position",
            (event_id,),
        ).fetchone()
        db.execute(
            "INSERT INTO tickets (event_id, request_id, position, entered_at, idempotency_key)"
            " VALUES (?, ?, ?, ?, ?)",
            (event_id, request_id, position, now, idempotency_key),
        )
        if door is not None and self._door_opens(db, event_id, position, door):
            self._record_serving(db, event_id, position, now)
        ticket = self._ticket(db, event_id, request_id)
        assert ticket is not None
        return ticket

    def _door_opens(self, db: sqlite3.Connection, event_id: str, position: int, door: DoorRule) -> bool:
        """Whether :class:`core.model.DoorRule` admits the new ``position``, inside the enter's
        write transaction (so concurrent enters see each other's admissions)."""
        counters = self._counters(db, event_id)
        if position != counters.serving + 1 or db.execute(
            "SELECT 1 FROM controls WHERE event_id = ? AND key = 'paused' AND value = '1'", (event_id,)
        ).fetchone():
            return False
        if door.after_draw:
            state = self._draw_state(db, event_id)
            if state is None or not state.is_open:
                return False  # the caller's copy of the draw was stale: this line is not drawn yet
        if door.max_active > 0 and counters.active >= door.max_active:
            return False
        if door.budget > 0 and counters.serving - (self._serving_at(db, event_id, door.since, before=True) or 0) \
                >= door.budget:
            return False
        return door.max_active > 0 or door.budget > 0

    def enter(self, event_id: str, request_id: str, idempotency_key: str | None, now: float,
              door: DoorRule | None = None) -> Ticket:
        with self._write() as db:
            return self._enter(db, event_id, request_id, idempotency_key, now, door)

    def enter_many(self, event_id: str, entries: Sequence[tuple[str, str | None]], now: float) -> list[Ticket]:
        """Every entry in one ``BEGIN IMMEDIATE`` transaction: the whole list is entered or none
        of it, and its new positions are contiguous (no other writer runs in between)."""
        if not entries:
            return []
        with self._write() as db:
            return [self._enter(db, event_id, request_id, key, now) for request_id, key in entries]

    def get_ticket(self, event_id: str, request_id: str, now: float) -> Ticket | None:
        with self._read() as db:
            return self._ticket(db, event_id, request_id)

    def set_alias(self, event_id: str, alias: str, request_id: str, note: str, ttl: float, now: float) -> None:
        with self._write() as db:
            db.execute("DELETE FROM aliases WHERE event_id = ? AND expires_at <= ?", (event_id, now))
            db.execute(
                "INSERT INTO aliases (event_id, alias, request_id, note, expires_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (event_id, alias) DO UPDATE SET request_id = excluded.request_id,"
                " note = excluded.note, expires_at = excluded.expires_at",
                (event_id, alias, request_id, note, now + ttl),
            )

    def resolve_alias(self, event_id: str, alias: str, now: float) -> tuple[str, str, Ticket | None] | None:
        with self._read() as db:
            row = db.execute(
                "SELECT request_id, note FROM aliases WHERE event_id = ? AND alias = ? AND expires_at > ?",
                (event_id, alias, now),
            ).fetchone()
            if row is None:
                return None
            return row[0], row[1], self._ticket(db, event_id, row[0])

    def counters(self, event_id: str) -> Counters:
        with self._read() as db:
            return self._counters(db, event_id)

    def advance_serving(self, event_id: str, by: int, now: float) -> int:
        with self._write() as db:
            self._ensure_counters(db, event_id)
            counters = self._counters(db, event_id)
            serving = max(0, min(counters.serving + by, counters.last_position))
            if serving != counters.serving:
                self._record_serving(db, event_id, serving, now)
            return serving

    def issue_session(
        self, event_id: str, request_id: str, jti: str, issued_at: int, expires_at: int, now: float,
        position_expiry: float = 0.0, grant: str | None = None,
    ) -> Ticket:
        with self._write() as db:
            return self._issue(db, event_id, request_id, jti, issued_at, expires_at, now, position_expiry, grant)

    def _issue(self, db: sqlite3.Connection, event_id: str, request_id: str, jti: str, issued_at: int,
               expires_at: int, now: float, position_expiry: float, grant: str | None) -> Ticket:
        """:meth:`issue_session` inside the caller's write transaction; refuses before writing."""
        if grant is not None and db.execute(
            "SELECT 1 FROM revoked_grants WHERE event_id = ? AND grant_id = ? AND expires_at > ?",
            (event_id, grant, now),
        ).fetchone():
            raise GrantRevoked("the authorization this issue is made under was revoked")
        place = self._place(db, event_id, request_id)
        if place is None:
            raise InvalidTransition("unknown request id")
        ticket, index = place
        if check_issuable(ticket, now, position_expiry):
            return ticket
        db.execute(
            "INSERT INTO sessions (event_id, position, line_position, request_id, status, jti, issued_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (event_id, index, ticket.position, request_id, Status.ISSUED.value, jti, issued_at, expires_at),
        )
        db.execute("UPDATE counters SET issued = issued + 1 WHERE event_id = ?", (event_id,))
        issued = self._ticket(db, event_id, request_id)
        assert issued is not None
        return issued

    def redeem_for_session(
        self, namespace: str, key: str, value: str, until: float, keep: float, event_id: str, jti: str,
        issued_at: int, expires_at: int, now: float, position_expiry: float = 0.0,
    ) -> tuple[str | None, str | None, Ticket | None]:
        """One write transaction: the redemption is recorded and the session opened together. A
        refused issue rolls the transaction back, so nothing is recorded."""
        with self._write() as db:
            recorded, replayed = self._redeem(db, namespace, key, value, until, keep, now, jti)
            if recorded is None:
                return None, replayed, None
            ticket = self._issue(db, event_id, place_of_grant(recorded, event_id), jti, issued_at, expires_at, now,
                                 position_expiry, key)
            return recorded, None, ticket

    def session_ticket(self, event_id: str, jti: str, now: float) -> Ticket | None:
        """The sessions table holds the jti: found for as long as the session's row exists."""
        with self._read() as db:
            row = db.execute(
                "SELECT request_id FROM sessions WHERE event_id = ? AND jti = ?", (event_id, jti)
            ).fetchone()
            return None if row is None else self._ticket(db, event_id, row[0])

    def revoke_grant(self, event_id: str, grant: str, ttl: float, now: float) -> None:
        with self._write() as db:
            db.execute("DELETE FROM revoked_grants WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO revoked_grants (event_id, grant_id, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (event_id, grant_id) DO UPDATE SET expires_at = excluded.expires_at",
                (event_id, grant, now + ttl),
            )

    def end_session(self, event_id: str, request_id: str, status: Status, now: float) -> Ticket:
        column = {Status.COMPLETED: "completed", Status.ABANDONED: "abandoned"}[status]
        with self._write() as db:
            place = self._place(db, event_id, request_id)
            if place is None or place[0].status is not Status.ISSUED:
                state = "unknown" if place is None else place[0].status.value
                raise InvalidTransition(f"only an issued session can end; this one is {state}")
            db.execute(
                "UPDATE sessions SET status = ?, ended_at = ? WHERE event_id = ? AND position = ?",
                (status.value, now, event_id, place[1]),
            )
            db.execute(f"UPDATE counters SET {column} = {column} + 1 WHERE event_id = ?", (event_id,))
            ended = self._ticket(db, event_id, request_id)
            assert ended is not None
            return ended

    def sweep(self, event_id: str, now: float, position_expiry: float, incr_serving: bool) -> SweepResult:
        with self._write() as db:
            self._ensure_counters(db, event_id)
            expired = 0
            if position_expiry > 0:
                (cursor, serving) = db.execute(
                    "SELECT expiry_cursor, serving FROM counters WHERE event_id = ?", (event_id,)
                ).fetchone()
                # Positions are admitted in order, so everything the counter stayed at or above
                # from (now - expiry) on has been admitted for at least the expiry period.
                bound = min(self._admitted_since(db, event_id, now - position_expiry), serving,
                            cursor + self.sweep_positions)
                if bound > cursor:
                    expired = self._expire_positions(db, event_id, cursor, bound, now)
                    db.execute(
                        "UPDATE counters SET expiry_cursor = ?, expired = expired + ? WHERE event_id = ?",
                        (bound, expired, event_id),
                    )
                    if expired and incr_serving:
                        counters = self._counters(db, event_id)
                        target = min(counters.serving + expired, counters.last_position)
                        if target != counters.serving:
                            self._record_serving(db, event_id, target, now)
            timed_out = db.execute(
                "UPDATE sessions SET status = ?, ended_at = ? WHERE event_id = ? AND status = ? AND expires_at <= ?",
                (Status.TIMED_OUT.value, now, event_id, Status.ISSUED.value, int(now)),
            ).rowcount
            if timed_out:
                db.execute("UPDATE counters SET timed_out = timed_out + ? WHERE event_id = ?", (timed_out, event_id))
            return SweepResult(expired=expired, timed_out=timed_out, serving=self._counters(db, event_id).serving)

    @staticmethod
    def _expire_sql(line_position: str, where: str) -> str:
        """The INSERT that marks EXPIRED every place matching ``where`` (on ``tickets.position``,
        the arrival index) that has no session row yet; ``line_position`` is the SQL of the
        position in line it records (a parameter, or ``position`` where that is the arrival index)."""
        return (
            "INSERT INTO sessions (event_id, position, line_position, request_id, status, ended_at)"
            " SELECT event_id, position, " + line_position + ", request_id, ?, ? FROM tickets t"
            " WHERE event_id = ? AND " + where
            + " AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.event_id = t.event_id AND s.position = t.position)"
        )

    def _expire_positions(self, db: sqlite3.Connection, event_id: str, after: int, upto: int, now: float) -> int:
        """Mark EXPIRED every place at a position in (``after``, ``upto``] that has no session row
        yet; the number marked. Positions a draw gave out are mapped back to arrival indexes one
        by one; those above the draw (and every position of an event without one) are a range of
        arrival indexes, expired in one statement as before draws existed."""
        secret, size = db.execute(
            "SELECT draw_secret, draw_size FROM counters WHERE event_id = ?", (event_id,)
        ).fetchone()
        drawn_upto = min(upto, size) if secret is not None and size else after
        expired = 0
        if drawn_upto > after:
            expired += db.executemany(
                self._expire_sql("?", "position = ?"),
                [(p, Status.EXPIRED.value, now, event_id, index_at(secret, size, p))
                 for p in range(after + 1, drawn_upto + 1)],
            ).rowcount
        start = max(after, drawn_upto)
        if upto > start:
            expired += db.execute(
                self._expire_sql("position", "position > ? AND position <= ?"),
                (Status.EXPIRED.value, now, event_id, start, upto),
            ).rowcount
        return expired

    def expired_request_ids(self, event_id: str, limit: int) -> list[str]:
        """Ordered by end time, then position in line (a drawn place's drawn position, not the
        arrival index its row is kept under), as the other stores order theirs."""
        with self._read() as db:
            rows = db.execute(
                "SELECT request_id FROM sessions WHERE event_id = ? AND status IN (?, ?)"
                " ORDER BY ended_at DESC, COALESCE(line_position, position) DESC LIMIT ?",
                (event_id, Status.EXPIRED.value, Status.TIMED_OUT.value, limit),
            ).fetchall()
        return [r[0] for r in reversed(rows)]

    def claim_tick(self, event_id: str, name: str, tick: int) -> bool:
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO ticks (event_id, name, tick) VALUES (?, ?, ?)"
                " ON CONFLICT (event_id, name) DO UPDATE SET tick = excluded.tick WHERE ticks.tick < excluded.tick",
                (event_id, name, tick),
            )
            return cur.rowcount == 1

    def serving_history(self, event_id: str, since: float) -> list[tuple[float, int]]:
        with self._read() as db:
            rows = db.execute(
                "SELECT at, serving FROM serving_history WHERE event_id = ? AND at >= ? ORDER BY at, rowid",
                (event_id, since),
            ).fetchall()
        return [(float(at), int(s)) for at, s in rows]

    def get_control(self, event_id: str) -> dict[str, str]:
        with self._read() as db:
            rows = db.execute("SELECT key, value FROM controls WHERE event_id = ?", (event_id,)).fetchall()
        return dict(rows)

    def set_control(self, event_id: str, key: str, value: str | None) -> None:
        with self._write() as db:
            if value is None:
                db.execute("DELETE FROM controls WHERE event_id = ? AND key = ?", (event_id, key))
            else:
                db.execute(
                    "INSERT INTO controls (event_id, key, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (event_id, key) DO UPDATE SET value = excluded.value",
                    (event_id, key, value),
                )

    def prepare_draw(self, event_id: str, secret: str) -> DrawState:
        """Set-if-absent on the event's counters row, in one write transaction."""
        with self._write() as db:
            self._ensure_counters(db, event_id)
            db.execute(
                "UPDATE counters SET draw_secret = ? WHERE event_id = ? AND draw_secret IS NULL", (secret, event_id)
            )
            state = self._draw_state(db, event_id)
        assert state is not None
        return state

    def open_draw(self, event_id: str, now: float) -> DrawState:
        """One UPDATE of the event's counters row, in the write transaction that checks it: the
        write lock makes it happen once however many processes call it."""
        with self._write() as db:
            state = self._draw_state(db, event_id)
            if state is None:
                raise InvalidTransition("the event has no draw prepared; nothing to open")
            if state.is_open:
                return state
            # the counter ever moved, even back to 0: people were admitted in arrival order
            if self._counters(db, event_id).serving > 0 or db.execute(
                "SELECT 1 FROM serving_history WHERE event_id = ? LIMIT 1", (event_id,)
            ).fetchone():
                raise InvalidTransition("places were admitted in arrival order already; the draw cannot open")
            db.execute(
                "UPDATE counters SET draw_size = last_position, draw_opened_at = ? WHERE event_id = ?",
                (now, event_id),
            )
            opened = self._draw_state(db, event_id)
        assert opened is not None
        return opened

    def draw_state(self, event_id: str) -> DrawState | None:
        with self._read() as db:
            return self._draw_state(db, event_id)

    @staticmethod
    def _draw_state(db: sqlite3.Connection, event_id: str) -> DrawState | None:
        row = db.execute(
            "SELECT draw_secret, draw_size, draw_opened_at FROM counters WHERE event_id = ?", (event_id,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return DrawState(row[0], row[1], row[2])

    def arrivals(self, event_id: str, first: int, count: int) -> list[str | None]:
        """One range read of ``tickets`` by arrival index (its primary order)."""
        with self._read() as db:
            last = min(first + count - 1, self._counters(db, event_id).last_position)
            if last < first:
                return []
            held = dict(db.execute(
                "SELECT position, request_id FROM tickets WHERE event_id = ? AND position BETWEEN ? AND ?",
                (event_id, first, last),
            ).fetchall())
        return [held.get(i) for i in range(first, last + 1)]

    def reset(self, event_id: str, keep_controls: Collection[str] = ()) -> None:
        """One write transaction: every row of the event goes but the kept controls."""
        kept = sorted(set(keep_controls))
        with self._write() as db:
            for table in ("counters", "tickets", "sessions", "serving_history", "ticks", "aliases", "revoked_grants"):
                db.execute(f"DELETE FROM {table} WHERE event_id = ?", (event_id,))
            marks = ", ".join("?" * len(kept))
            db.execute(f"DELETE FROM controls WHERE event_id = ? AND key NOT IN ({marks})", (event_id, *kept))

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store can write now: one small write transaction (the
        write lock within ``busy_timeout``, a page written and committed), so a held lock, a full
        disk or a read-only file make readiness fail, not only a file that cannot be read."""
        with self._write() as db:
            db.execute(
                "INSERT INTO kv (namespace, key, value, expires_at) VALUES ('health', 'ping', '1', 1e300)"
                " ON CONFLICT (namespace, key) DO UPDATE SET value = CAST(CAST(kv.value AS INTEGER) % 1000 + 1"
                " AS TEXT)"
            )

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- KeyValueStore ------------------------------------------------------------------------

    def put(self, namespace: str, key: str, value: str, ttl: float, now: float) -> None:
        with self._write() as db:
            db.execute("DELETE FROM kv WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO kv (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,"
                " redeemed = 0, redeemed_by = NULL, live_until = NULL",
                (namespace, key, value, now + ttl),
            )

    def get(self, namespace: str, key: str, now: float) -> str | None:
        with self._read() as db:
            row = db.execute(
                "SELECT value FROM kv WHERE namespace = ? AND key = ? AND expires_at > ? AND redeemed = 0",
                (namespace, key, now),
            ).fetchone()
        return None if row is None else row[0]

    def take(self, namespace: str, key: str, now: float) -> str | None:
        with self._write() as db:
            row = db.execute(
                "DELETE FROM kv WHERE namespace = ? AND key = ? AND redeemed = 0 RETURNING value, expires_at",
                (namespace, key),
            ).fetchone()
        if row is None or row[1] <= now:
            return None
        return str(row[0])

    def redeem(self, namespace: str, key: str, value: str, until: float, keep: float, now: float,
               attempt: str | None = None) -> tuple[str | None, str | None]:
        """One write transaction: record the redemption, else tell a replay from nothing."""
        with self._write() as db:
            return self._redeem(db, namespace, key, value, until, keep, now, attempt)

    @staticmethod
    def _redeem(db: sqlite3.Connection, namespace: str, key: str, value: str, until: float, keep: float,
                now: float, attempt: str | None) -> tuple[str | None, str | None]:
        if now < until:
            # Redemptions are written here only: the clean-up of expired rows (by the expiry
            # index) runs here too, as in ``put``.
            db.execute("DELETE FROM kv WHERE expires_at <= ?", (now,))
            # A row that is no kept redemption (a put record) gives way to this one.
            row = db.execute(
                "INSERT INTO kv (namespace, key, value, expires_at, redeemed, redeemed_by) VALUES (?, ?, ?, ?, 1, ?)"
                " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value,"
                " expires_at = excluded.expires_at, redeemed = 1, redeemed_by = excluded.redeemed_by,"
                " live_until = NULL WHERE kv.redeemed = 0 OR kv.expires_at <= ? RETURNING value",
                (namespace, key, value, now + keep, attempt, now),
            ).fetchone()
            if row is not None:
                return str(row[0]), None
        row = db.execute(
            "SELECT value, redeemed_by FROM kv WHERE namespace = ? AND key = ? AND redeemed = 1 AND expires_at > ?",
            (namespace, key, now),
        ).fetchone()
        if row is None:
            return None, None
        if attempt is not None and row[1] == attempt:
            return str(row[0]), None  # this attempt, sent again
        return None, str(row[0])

    def release(self, namespace: str, key: str, attempt: str, now: float) -> bool:
        """One conditional delete: the redemption by ``attempt`` is forgotten."""
        with self._write() as db:
            row = db.execute(
                "DELETE FROM kv WHERE namespace = ? AND key = ? AND redeemed = 1 AND redeemed_by = ? RETURNING 1",
                (namespace, key, attempt),
            ).fetchone()
        return row is not None

    def delete(self, namespace: str, key: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM kv WHERE namespace = ? AND key = ?", (namespace, key))

    def incr(self, namespace: str, key: str, ttl: float, now: float) -> int:
        """Add one to a counter record and return the new count. Atomic across processes.

        A record past its expiry starts again at 1 (with a fresh ``ttl``): fixed-window counters
        such as the entry rate limit.
        """
        with self._write() as db:
            (count,) = db.execute(
                "INSERT INTO kv (namespace, key, value, expires_at) VALUES (?, ?, '1', ?)"
                " ON CONFLICT (namespace, key) DO UPDATE SET"
                " value = CASE WHEN kv.expires_at <= ? THEN '1' ELSE CAST(CAST(kv.value AS INTEGER) + 1 AS TEXT) END,"
                " expires_at = CASE WHEN kv.expires_at <= ? THEN excluded.expires_at ELSE kv.expires_at END"
                " RETURNING value",
                (namespace, key, now + ttl, now, now),
            ).fetchone()
        return int(count)
