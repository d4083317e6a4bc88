"""Real processes for the fault tests: a Redis with AOF that can be killed and restarted on the same
port and directory, gunicorn worker discovery, a bounded load of entering visitors, and checks
that a store's stored entries agree with its counters."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ..support import free_port, wait_for_port, wait_until

EVENT = "spring-sale"


@dataclass
class RedisProcess:
    """A redis-server with AOF persistence in ``directory`` on ``port``; restartable after a kill."""

    directory: Path
    port: int
    fsync: str = "always"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "yes", "--appendfsync", self.fsync, "--aof-load-truncated", "yes"],
            stdout=open(self.directory / "redis.log", "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        wait_for_port(self.port)
        deadline = time.monotonic() + 15
        import redis

        client = redis.Redis(port=self.port)
        while True:  # the port opens before the AOF is loaded: wait until it answers
            try:
                if client.ping():
                    break
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("redis did not load its AOF")
            time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@contextmanager
def aof_redis(directory: Path, fsync: str = "always") -> Iterator[RedisProcess]:
    redis_process = RedisProcess(directory, free_port(), fsync)
    redis_process.start()
    try:
        yield redis_process
    finally:
        redis_process.stop()


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.append(int(entry.name))
    return found


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Load:
    """Visitors entering the line from ``threads`` threads until stopped or ``total`` tries are done.

    Every try carries an idempotency key and is retried with it after an error or a 503, so a
    place handed out while its answer was lost is found again, never taken twice. ``places``
    maps request id -> position for every place acknowledged with a 200.
    """

    urls: list[str]
    threads: int = 16
    total: int = 3000
    places: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # idempotency key -> request id
    errors: int = 0
    unavailable: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for index in range(self.threads):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._workers.append(thread)

    def _run(self, index: int) -> None:
        session = requests.Session()
        for n in range(index, self.total, self.threads):
            key = f"load-key-{n:016d}"  # a key of 22+ URL-safe characters
            deadline = time.monotonic() + 60
            while not self._stop.is_set() and time.monotonic() < deadline:
                url = self.urls[n % len(self.urls)]  # read each try: a test may take a dead server out
                try:
                    r = session.post(f"{url}/assign_queue_num", json={"event_id": EVENT},
                                     headers={"Idempotency-Key": key}, timeout=5)
                except requests.RequestException:
                    with self._lock:
                        self.errors += 1
                    session = requests.Session()
                    time.sleep(0.05)
                    continue
                if r.status_code == 200:
                    body = r.json()
                    with self._lock:
                        previous = self.places.setdefault(body["request_id"], body["queue_number"])
                        assert previous == body["queue_number"]
                        seen = self.keys.setdefault(key, body["request_id"])
                        assert seen == body["request_id"], "a retry with the same key got another place"
                    break
                assert r.status_code == 503, (r.status_code, r.text)
                assert int(r.headers["Retry-After"]) > 0
                with self._lock:
                    self.unavailable += 1
                time.sleep(0.05)
            if self._stop.is_set():
                return

    def wait_for(self, count: int, timeout: float = 60) -> None:
        wait_until(lambda: len(self.places) >= count, timeout, f"only {len(self.places)} of {count} places",
                   poll=0.02)

    def join(self, timeout: float = 120) -> None:
        for thread in self._workers:
            thread.join(timeout)
        if any(t.is_alive() for t in self._workers):
            raise TimeoutError(f"the load did not finish in {timeout}s per thread")

    def stop(self) -> None:
        self._stop.set()
        self.join()

    def assert_positions_unique(self) -> None:
        positions = list(self.places.values())
        assert len(positions) == len(set(positions)), "a position was handed out twice"


def redis_places(url: str, event_id: str = EVENT) -> tuple[dict[str, int], dict[str, str], dict[str, str]]:
    """The Redis store's places read from its keys (see ``core/adapters/redis.py``): request id ->
    position, request id -> jti of its session, and the counters."""
    import redis

    from core.adapters.redis import PLACES_PER_BUCKET

    client = redis.Redis.from_url(url, decode_responses=True)
    prefix = f"wr:{{{event_id}}}:"
    counters = client.hgetall(prefix + "c")
    at: dict[int, str] = {}
    jtis: dict[int, str] = {}
    for kind, found in (("p", at), ("s", jtis)):
        for key in client.scan_iter(f"{prefix}{kind}:*", count=1000):
            base = int(key.rpartition(":")[2]) * PLACES_PER_BUCKET
            for offset, value in client.hgetall(key).items():
                found[base + int(offset)] = value.rpartition("|")[0] if kind == "p" else value.split("|", 4)[4]
    client.close()
    positions = {rid: pos for pos, rid in at.items()}
    return positions, {at[pos]: jti for pos, jti in jtis.items()}, counters


def redis_entries(url: str, event_id: str = EVENT) -> dict[str, int]:
    """Assert the Redis store's keys agree with its counters; return request id -> position."""
    from core.adapters.redis import RedisStore

    positions, sessions, counters = redis_places(url, event_id)
    last = int(counters.get("last", 0))
    assert sorted(positions.values()) == list(range(1, last + 1)), "stored positions and the counter disagree"
    assert len(sessions) == int(counters.get("issued", 0)), "session records and the issued counter disagree"
    store = RedisStore.from_url(url, timeout=30)
    pipe = store.client.pipeline(transaction=False)
    for request_id in positions:  # the request id index finds every place
        store._get_ticket(keys=store._keys(event_id), args=[request_id], client=pipe)
    found = {reply[0]: int(reply[1]) for reply in pipe.execute()}
    store.close()
    assert found == positions, "the request id index and the places disagree"
    return positions


def sqlite_entries(path: Path, event_id: str = EVENT) -> dict[str, int]:
    """Assert the SQLite store is intact and its rows agree with its counters; return request id -> position."""
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    row = db.execute("SELECT last_position, issued FROM counters WHERE event_id = ?", (event_id,)).fetchone()
    last, issued = row or (0, 0)
    rows = db.execute("SELECT request_id, position FROM tickets WHERE event_id = ?", (event_id,)).fetchall()
    positions = dict(rows)
    assert sorted(positions.values()) == list(range(1, last + 1)), "stored positions and the counter disagree"
    (sessions,) = db.execute(
        "SELECT COUNT(*) FROM sessions WHERE event_id = ? AND jti IS NOT NULL", (event_id,)).fetchone()
    assert sessions == issued, "session rows and the issued counter disagree"
    db.close()
    return positions
