"""Waiting visitors polling the event's status document on the waiting page's own schedule.

Each simulated visitor does what ``oidc_adaptor/static/waiting.js`` does: it knows its place, polls
``/events/<id>/status`` 2 s after the page loads and 2 s after every change of what the page shows
(people ahead, the estimate), backs off by 1.5x to at most 30 s while nothing changes, adds up to
0.5 s of jitter, doubles the wait after a failed poll, and leaves once the serving counter reaches
its place (the page then goes to ``/authorize``, which is not part of waiting). Visitors arrive
spread over an arrival window; an operator admits a share of them every few seconds meanwhile.

The same run goes once through the shipped nginx front and once straight to the server; the
server's own request metrics say how many polls reached it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import random
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .loadgen import new_session, percentile

FIRST_DELAY = 2.0
MAX_DELAY = 30.0
JITTER = 0.5
ADMIT_EVERY = 5.0
POLL_TIMEOUT = 30.0
"""Seconds before a poll counts as failed (what a browser's fetch would wait, at least)."""


def estimate_wait(ahead: int, rate: float) -> tuple[int, int] | None:
    """The page's estimate (minutes, low and high): the same formula as ``waiting.js``."""
    if rate <= 0:
        return None
    seconds = (ahead + 1) / rate
    low = max(0, math.floor(seconds * 0.75 / 60))
    return low, max(low + 1, math.ceil(seconds * 1.5 / 60))


@dataclass
class WaitingStats:
    polls: int = 0
    errors: int = 0
    admitted: int = 0
    latencies: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    """Seconds each poll went out after the page's schedule wanted it (the load generator's lag)."""


class Connections:
    """Kept-alive HTTP/1.1 connections for GETs of one small JSON document, shared by every visitor.

    Twenty thousand visitors on a schedule are more than aiohttp drives from one process on a
    shared 2-core machine (its per-request cost put the load generator seconds behind the
    schedule), so polls go over plain asyncio streams: write the request, read the header block,
    read ``Content-Length`` bytes. A connection the server closed (keep-alive timeout, request
    limit) is opened again once; a second failure counts as a failed poll.
    """

    def __init__(self, base_url: str, size: int) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = asyncio.Queue()
        for _ in range(size):
            self.idle.put_nowait(None)  # opened on first use

    async def get(self, path: str) -> tuple[int, bytes]:
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: application/json\r\n\r\n".encode()
        conn = await self.idle.get()
        try:
            for attempt in (1, 2):
                if conn is None:
                    conn = await asyncio.open_connection(self.host, self.port)
                try:
                    status, body, keep = await self._exchange(conn, request)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    conn[1].close()
                    conn = None
                    if attempt == 2:
                        raise
                    continue
                except BaseException:  # cancelled mid-exchange: what the stream holds next is unknown
                    conn[1].close()
                    conn = None
                    raise
                if not keep:
                    conn[1].close()
                    conn = None
                return status, body
            raise AssertionError("unreachable")
        finally:
            self.idle.put_nowait(conn)

    @staticmethod
    async def _exchange(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                        request: bytes) -> tuple[int, bytes, bool]:
        reader, writer = conn
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, body, headers.get("connection", "").lower() != "close"

    async def close(self) -> None:
        while not self.idle.empty():
            conn = self.idle.get_nowait()
            if conn is not None:
                conn[1].close()


async def _visitor(connections: Connections, path: str, position: int, arrive_in: float, stop_at: float,
                   rng: random.Random, stats: WaitingStats) -> None:
    await asyncio.sleep(arrive_in)
    delay, last = FIRST_DELAY, None
    while True:
        wait = delay + rng.random() * JITTER
        due = time.perf_counter() + wait
        if due >= stop_at:
            return
        await asyncio.sleep(wait)
        sent = time.perf_counter()
        stats.lateness.append(sent - due)
        try:
            async with asyncio.timeout(POLL_TIMEOUT):  # no task per poll, unlike wait_for
                status, body = await connections.get(path)
            ok = status == 200
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
        stats.polls += 1
        if not ok:
            stats.errors += 1
            delay = min(MAX_DELAY, delay * 2)
            continue
        stats.latencies.append(time.perf_counter() - sent)
        doc = _parsed(body)
        serving = doc["serving_counter"]
        if serving >= position:
            stats.admitted += 1
            return
        ahead = max(0, position - serving - 1)
        key = (ahead, estimate_wait(ahead, doc["admission_rate"]))
        delay = FIRST_DELAY if key != last else min(MAX_DELAY, delay * 1.5)
        last = key


@functools.lru_cache(maxsize=64)
def _parsed(body: bytes) -> dict[str, Any]:
    """The document in ``body``: every visitor gets the same bytes within a window, so each copy
    is parsed once (the load generator's CPU is what limits this benchmark)."""
    doc: dict[str, Any] = json.loads(body)
    return doc


async def _operator(session: aiohttp.ClientSession, origin_url: str, event_id: str, admin_key: str, by: int,
                    stop_at: float) -> int:
    """Admit ``by`` more visitors every :data:`ADMIT_EVERY` seconds, straight at the server."""
    admitted = 0
    while time.perf_counter() + ADMIT_EVERY < stop_at:
        await asyncio.sleep(ADMIT_EVERY)
        try:
            async with session.post(f"{origin_url}/admin/increment_serving_counter",
                                    json={"event_id": event_id, "increment_by": by},
                                    headers={"Authorization": f"Bearer {admin_key}"}) as response:
                await response.read()
                if response.status == 200:
                    admitted += by
        except (TimeoutError, aiohttp.ClientError):
            pass  # an overloaded server: this step is lost, as an operator's click would be
    return admitted


async def run_waiting(poll_url: str, origin_url: str, event_id: str, admin_key: str, visitors: int,
                      arrival_seconds: float, seconds: float, connections: int = 256,
                      seed: int = 12) -> dict[str, Any]:
    """``visitors`` holding places 1..visitors poll ``poll_url``/events/<event_id>/status for ``seconds``."""
    rng = random.Random(seed)
    stats = WaitingStats()
    path = f"/events/{event_id}/status"
    # Admit about two thirds of the line over the run: the counter moves, and most visitors still wait.
    by = max(1, math.ceil(visitors * 2 / 3 / (seconds / ADMIT_EVERY)))
    started = time.perf_counter()
    stop_at = started + seconds
    pool = Connections(poll_url, connections)
    async with new_session(4) as admin:
        operator = asyncio.create_task(_operator(admin, origin_url, event_id, admin_key, by, stop_at))
        await asyncio.gather(*(
            _visitor(pool, path, position, rng.random() * arrival_seconds, stop_at, rng, stats)
            for position in range(1, visitors + 1)))
        admitted_by_operator = await operator
    await pool.close()
    elapsed = time.perf_counter() - started
    latencies, lateness = sorted(stats.latencies), sorted(stats.lateness)
    return {
        "seconds": round(elapsed, 1),
        "polls": stats.polls,
        "errors": stats.errors,
        "polls_per_s": round(stats.polls / elapsed, 1),
        "polls_per_visitor_per_min": round(stats.polls / visitors / (elapsed / 60), 2),
        "visitors_admitted": stats.admitted,
        "operator_admitted": admitted_by_operator,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "schedule_lag_p50_s": round(percentile(lateness, 50), 3),
        "schedule_lag_p95_s": round(percentile(lateness, 95), 3),
    }
