"""A short per-process cache for the endpoints every waiting visitor polls.

``GET /serving_num``, ``GET /waiting_num`` and ``GET /queue_num`` are what a line of a million
visitors calls over and over. What they show is advisory: the store decides who is admitted,
at ``/generate_token`` and ``/authorize``, from live values. So each worker keeps

- each event's **counters** for :data:`DEFAULT_TTL` seconds: every poll of ``/serving_num``
  within that window costs no store command;
- the **places of waiting visitors** it has read (request id -> position and entry time) for
  :data:`PLACE_TTL` seconds. A place's position never changes, and a place stays "waiting"
  exactly as long as the serving counter is below it, so while the cached counter is below a
  remembered place, ``/queue_num`` answers from memory. Once the counter reaches the place, and
  for every place not waiting, the ticket is read live. A visitor polling while waiting costs
  one store read per worker and :data:`PLACE_TTL`, not one per poll.

- each event's **status document** (:mod:`oidc_adaptor.plumbing.status_document`) and the
  bodies of ``/serving_num`` and ``/waiting_num``, rendered once per window with their entity
  tag, so a poll that misses every cache in front costs a dictionary lookup.

The one thing a remembered place cannot see is an operator resetting the event (which erases
every place): another worker may go on answering "waiting" for an erased place for up to
:data:`PLACE_TTL` seconds, unless the line has since become shorter than that place. The worker
that served the reset forgets the event at once. Nothing is granted from this cache.

Thread-safe without a lock: a miss reads the store and replaces an entry whole; two threads
missing at once both read, which is harmless.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, current_app

from core.model import AdmissionPolicy, Counters, PositionView, Queueing, Status, Ticket
from core.room import EventState, WaitingRoom

DEFAULT_TTL = 0.5
"""Seconds a worker reuses an event's counters. Half a second is below any client's poll interval."""

RATE_TTL = 5.0
"""Seconds a worker reuses an event's admission rate (the waiting page's estimate): reading it
scans the serving history of the last minutes, and an estimate in minutes needs no fresher rate."""

PLACE_TTL = 30.0
"""Seconds a worker remembers a waiting visitor's place (position and entry time)."""

MAX_PLACES = 100_000
"""Places one worker remembers at most (about 20 MB); past that, expired ones are dropped, and
all of them if none has expired."""

EXTENSION = "waitingroom_counter_cache"

T = TypeVar("T")


@dataclass(frozen=True)
class Rendered:
    """A response body rendered once and the strong entity tag (RFC 9110, section 8.8.3) naming it."""

    body: bytes
    etag: str
    """The opaque tag without quotes: the same bytes always get the same tag, on every worker."""

    @classmethod
    def of(cls, body: bytes) -> Rendered:
        return cls(body, hashlib.blake2b(body, digest_size=12).hexdigest())


class CounterCache:
    def __init__(self, room: WaitingRoom, ttl: float = DEFAULT_TTL,
                 monotonic: Callable[[], float] = time.monotonic, place_ttl: float = PLACE_TTL,
                 max_places: int = MAX_PLACES) -> None:
        self.room = room
        self.ttl = ttl
        self.place_ttl = place_ttl
        self.max_places = max_places
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, Counters]] = {}
        self._rates: dict[str, tuple[float, float]] = {}
        self._states: dict[str, tuple[float, EventState]] = {}
        self._bodies: dict[tuple[str, str], tuple[Counters, Rendered]] = {}
        """(event id, kind) -> the response body last rendered from that event's counters."""
        self._documents: dict[str, tuple[float, Rendered]] = {}
        """event id -> (kept until, the status document rendered for it)."""
        self._places: dict[tuple[str, str], tuple[float, int, float]] = {}
        """(event id, request id) -> (remembered until, position, entry time) of waiting places."""

    def counters(self, event_id: str) -> Counters:
        """The event's counters, at most ``ttl`` seconds old. Unknown events raise as the room does."""
        return self._cached(self._entries, event_id, self.ttl, self.room.counters)

    def admission_rate(self, event_id: str) -> float:
        """:meth:`WaitingRoom.admission_rate`, at most :data:`RATE_TTL` seconds old."""
        return self._cached(self._rates, event_id, RATE_TTL, self.room.admission_rate)

    def admission_state(self, event_id: str) -> tuple[AdmissionPolicy, bool]:
        """:meth:`WaitingRoom.admission_state` (policy, paused), at most ``ttl`` seconds old."""
        state = self.event_state(event_id)
        return state.policy, state.paused

    def event_state(self, event_id: str) -> EventState:
        """:meth:`WaitingRoom.event_state` (policy, pause, operator message), at most ``ttl`` seconds old."""
        return self._cached(self._states, event_id, self.ttl, self.room.event_state)

    def document(self, event_id: str, window: float, render: Callable[[str], bytes]) -> Rendered:
        """The event's status document, ``render(event_id)`` at most once per ``window`` seconds.

        Every visitor polling within one window gets the same bytes and entity tag; ``window``
        is the ``max-age`` the document is served with, so this worker renders no more often
        than the caches in front of it ask. Unknown events raise as ``render`` does.
        """
        return self._cached(self._documents, event_id, window, lambda e: Rendered.of(render(e)))

    def _cached(self, table: dict[str, tuple[float, T]], event_id: str, ttl: float, read: Callable[[str], T]) -> T:
        """``read(event_id)``, reused for ``ttl`` seconds (nothing is kept when the cache is off)."""
        now = self._monotonic()
        entry = table.get(event_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = read(event_id)
        if self.ttl > 0 and ttl > 0:
            table[event_id] = (now + ttl, value)
        return value

    def serving_seen_by(self, ticket: Ticket) -> int:
        """The cached serving counter, clamped to agree with a ticket read live: never below the
        place of an admitted visitor, never at or above the place of a waiting one."""
        serving = self.counters(ticket.event_id).serving
        if ticket.status is Status.WAITING:
            return min(serving, ticket.position - 1)
        return max(serving, ticket.position)

    def rendered(self, event_id: str, kind: str, render: Callable[[Counters], bytes]) -> Rendered:
        """``render(counters)`` for the event's cached counters, rendered once per cached value.

        Every poll within one counters window gets the same answer, so the answer is serialised
        (and its entity tag computed) once per window and ``kind`` (say, ``"serving"``), not once
        per request.
        """
        counters = self.counters(event_id)
        entry = self._bodies.get((event_id, kind))
        if entry is not None and entry[0] is counters:
            return entry[1]
        rendered = Rendered.of(render(counters))
        self._bodies[(event_id, kind)] = (counters, rendered)
        return rendered

    def position(self, event_id: str, request_id: str) -> PositionView:
        """Like :meth:`WaitingRoom.position`, with the counters and waiting places from this cache.

        ``request_id`` must already be syntactically valid. A remembered waiting place is
        answered from memory while the cached serving counter is below it; otherwise the ticket
        (and so the status) is read live, and the cached serving counter is clamped to agree
        with it, so a visitor never sees "admitted" beside a counter below their number, nor
        "waiting" beside one at or above it. A place in a random event's pre-queue is answered
        by :meth:`WaitingRoom.position` (``pre_queue`` true, no position).
        """
        counters = self.counters(event_id)  # also raises UnknownEvent first
        now = self._monotonic()
        key = (event_id, request_id)
        place = self._places.get(key)
        if place is not None:
            until, position, entered_at = place
            if until > now and counters.serving < position <= counters.last_position:
                return PositionView(event_id=event_id, position=position, serving=counters.serving,
                                    status=Status.WAITING, entered_at=entered_at, admitted_at=None)
            self._places.pop(key, None)
        if self.room.event(event_id).queueing is Queueing.RANDOM_BEFORE_OPENING:
            # Before the draw a place has no position (its arrival index is not one): ask the
            # room, which reads the opening's state before the place. Only a drawn place is
            # remembered, so memory never answers with an arrival index.
            view = self.room.position(event_id, request_id)
            if view.pre_queue:
                return view
        ticket = self.room.ticket(event_id, request_id)
        serving = self.serving_seen_by(ticket)
        if ticket.status is Status.WAITING and self.place_ttl > 0:
            self._remember(key, (now + self.place_ttl, ticket.position, ticket.entered_at), now)
        return PositionView(event_id=event_id, position=ticket.position, serving=serving, status=ticket.status,
                            entered_at=ticket.entered_at, admitted_at=ticket.admitted_at)

    def counters_changed(self, event_id: str) -> None:
        """Drop the event's cached counters, rate, event state and documents (this process just
        moved them), so its own next answers show the change at once."""
        self._entries.pop(event_id, None)
        self._rates.pop(event_id, None)
        self._states.pop(event_id, None)
        self._documents.pop(event_id, None)
        for kind in [k for k in list(self._bodies) if k[0] == event_id]:
            self._bodies.pop(kind, None)

    def forget(self, event_id: str) -> None:
        """Drop everything cached of one event (after a reset in this process)."""
        self.counters_changed(event_id)
        for key in [k for k in list(self._places) if k[0] == event_id]:  # list(): a snapshot, other threads insert
            self._places.pop(key, None)

    def _remember(self, key: tuple[str, str], place: tuple[float, int, float], now: float) -> None:
        if len(self._places) >= self.max_places:
            kept = {k: v for k, v in list(self._places.items()) if v[0] > now}
            self._places = kept if len(kept) < self.max_places else {}
        self._places[key] = place


def for_app(app: Flask | None = None) -> CounterCache:
    """The cache of ``app`` (default: the current app), made on first use."""
    app = app or current_app
    cache = app.extensions.get(EXTENSION)
    if cache is None:
        cache = app.extensions[EXTENSION] = CounterCache(app.extensions["waitingroom"].room)
    return cache
