"""A short per-process cache of each event's counters, for the endpoints every waiting visitor polls.

``GET /serving_num``, ``GET /waiting_num`` and ``GET /queue_num`` are what a line of a million
visitors calls over and over. The serving counter they show is advisory (the store decides who
is admitted, at ``/generate_token`` and ``/authorize``, from live values), so a value up to
:data:`DEFAULT_TTL` seconds old is fine for them, and it turns every poll of one worker within
that window into no store command at all (``/serving_num``) or one (``/queue_num``: the visitor's
own ticket, read live).

Thread-safe without a lock: a miss reads the store and replaces the entry whole; two threads
missing at once both read, which is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask, current_app

from core.model import Counters, PositionView, Status
from core.room import WaitingRoom

DEFAULT_TTL = 0.5
"""Seconds a worker reuses an event's counters. Half a second is below any client's poll interval."""

EXTENSION = "waitingroom_counter_cache"


class CounterCache:
    def __init__(self, room: WaitingRoom, ttl: float = DEFAULT_TTL,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.room = room
        self.ttl = ttl
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, Counters]] = {}

    def counters(self, event_id: str) -> Counters:
        """The event's counters, at most ``ttl`` seconds old. Unknown events raise as the room does."""
        now = self._monotonic()
        entry = self._entries.get(event_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        counters = self.room.counters(event_id)
        if self.ttl > 0:
            self._entries[event_id] = (now + self.ttl, counters)
        return counters

    def position(self, event_id: str, request_id: str) -> PositionView:
        """Like :meth:`WaitingRoom.position`, with the serving counter from this cache.

        The ticket (and so the status) is read live; the cached serving counter is clamped to
        agree with it, so a visitor never sees "admitted" beside a counter below their number,
        nor "waiting" beside one at or above it.
        """
        ticket = self.room.ticket(event_id, request_id)
        serving = self.counters(event_id).serving
        if ticket.status is Status.WAITING:
            serving = min(serving, ticket.position - 1)
        else:
            serving = max(serving, ticket.position)
        return PositionView(event_id=event_id, position=ticket.position, serving=serving, status=ticket.status,
                            entered_at=ticket.entered_at, admitted_at=ticket.admitted_at)


def for_app(app: Flask | None = None) -> CounterCache:
    """The cache of ``app`` (default: the current app), made on first use."""
    app = app or current_app
    cache = app.extensions.get(EXTENSION)
    if cache is None:
        cache = app.extensions[EXTENSION] = CounterCache(app.extensions["waitingroom"].room)
    return cache
