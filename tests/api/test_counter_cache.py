"""The per-process counter cache behind the polling endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from core.errors import UnknownRequest
from core.model import Counters, EventSettings, PositionView, Queueing, Status, Ticket
from oidc_adaptor.plumbing.counter_cache import CounterCache


@dataclass
class FakeRoom:
    serving: int = 0
    last_position: int = 10
    reads: int = 0
    ticket_reads: int = 0
    tickets: dict[str, Ticket] = field(default_factory=dict)

    def counters(self, event_id: str) -> Counters:
        self.reads += 1
        return Counters(serving=self.serving, last_position=self.last_position)

    rate: float = 0.5
    rate_reads: int = 0

    def admission_rate(self, event_id: str) -> float:
        self.rate_reads += 1
        return self.rate

    def ticket(self, event_id: str, request_id: str) -> Ticket:
        self.ticket_reads += 1
        try:
            return self.tickets[request_id]
        except KeyError:
            raise UnknownRequest("unknown request id") from None

    queueing: Queueing = Queueing.FIFO
    drawn: bool = False  # a random event's draw is open
    position_reads: int = 0

    def event(self, event_id: str) -> EventSettings:
        return EventSettings(event_id, queueing=self.queueing, opens_at=None if self.queueing is Queueing.FIFO else 9e9)

    def position(self, event_id: str, request_id: str) -> PositionView:
        self.position_reads += 1
        ticket = self.ticket(event_id, request_id)
        return PositionView(event_id, 0 if not self.drawn else ticket.position, self.serving, ticket.status,
                            ticket.entered_at, None, pre_queue=not self.drawn, opens_at=None if self.drawn else 9e9)


class Tick:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_counters_are_reused_for_the_ttl_then_read_again() -> None:
    room, tick = FakeRoom(serving=3), Tick()
    cache = CounterCache(room, ttl=0.5, monotonic=tick)  # type: ignore[arg-type]
    assert cache.counters("e").serving == 3
    room.serving = 5
    tick.now += 0.4
    assert cache.counters("e").serving == 3 and room.reads == 1
    tick.now += 0.2
    assert cache.counters("e").serving == 5 and room.reads == 2


def test_zero_ttl_reads_every_time() -> None:
    room = FakeRoom()
    cache = CounterCache(room, ttl=0)  # type: ignore[arg-type]
    cache.counters("e")
    cache.counters("e")
    assert room.reads == 2


def test_position_keeps_the_cached_counter_consistent_with_the_live_status() -> None:
    room, tick = FakeRoom(serving=2), Tick()
    room.tickets["admitted"] = Ticket("e", "admitted", 4, 1.0, Status.ADMITTED, 2.0)
    room.tickets["waiting"] = Ticket("e", "waiting", 2, 1.0, Status.WAITING)
    cache = CounterCache(room, ttl=10, monotonic=tick)  # type: ignore[arg-type]
    view = cache.position("e", "admitted")  # admitted live while the cached counter says 2
    assert (view.serving, view.ahead, view.status) == (4, 0, Status.ADMITTED)
    view = cache.position("e", "waiting")  # the counter went back (an operator moved it down)
    assert (view.serving, view.ahead, view.status) == (1, 0, Status.WAITING)


def test_a_pre_queue_place_is_never_answered_with_its_arrival_index() -> None:
    """Before a random event's draw the room answers (no position); only a drawn place is remembered."""
    room, tick = FakeRoom(serving=0, queueing=Queueing.RANDOM_BEFORE_OPENING), Tick()
    room.tickets["p"] = Ticket("e", "p", 3, 1.0, Status.WAITING)  # arrival index 3
    cache = CounterCache(room, ttl=0.5, monotonic=tick, place_ttl=30)  # type: ignore[arg-type]
    for _ in range(3):
        view = cache.position("e", "p")
        assert view.pre_queue and view.position == 0
        tick.now += 1
    assert room.position_reads == 3  # asked every time: nothing was remembered
    room.drawn = True
    room.tickets["p"] = Ticket("e", "p", 8, 1.0, Status.WAITING)  # the draw gave it position 8
    assert cache.position("e", "p").position == 8
    reads = room.ticket_reads
    tick.now += 1
    assert cache.position("e", "p").position == 8
    assert room.ticket_reads == reads  # a drawn place is remembered like any other


def _waiting_room_with(position: int, serving: int = 2) -> tuple[FakeRoom, Tick, CounterCache]:
    room, tick = FakeRoom(serving=serving), Tick()
    room.tickets["w"] = Ticket("e", "w", position, 1.0, Status.WAITING)
    return room, tick, CounterCache(room, ttl=0.5, monotonic=tick, place_ttl=30)  # type: ignore[arg-type]


def test_a_waiting_place_is_answered_from_memory_while_the_counter_is_below_it() -> None:
    room, tick, cache = _waiting_room_with(position=7)
    first = cache.position("e", "w")
    for _ in range(5):
        tick.now += 1
        again = cache.position("e", "w")
    assert room.ticket_reads == 1
    assert (again.position, again.status, again.entered_at, again.admitted_at) == (7, Status.WAITING, 1.0, None)
    assert again == first


def test_the_ticket_is_read_live_once_the_counter_reaches_the_place() -> None:
    room, tick, cache = _waiting_room_with(position=7)
    cache.position("e", "w")
    room.serving = 7
    room.tickets["w"] = Ticket("e", "w", 7, 1.0, Status.ADMITTED, 5.0)
    tick.now += 0.6  # the cached counters expire
    view = cache.position("e", "w")
    assert (view.status, view.serving, view.admitted_at, room.ticket_reads) == (Status.ADMITTED, 7, 5.0, 2)
    tick.now += 1
    cache.position("e", "w")
    assert room.ticket_reads == 3, "a place that is not waiting is never answered from memory"


def test_a_remembered_place_is_read_again_after_its_ttl() -> None:
    room, tick, cache = _waiting_room_with(position=7)
    cache.position("e", "w")
    tick.now += 29
    cache.position("e", "w")
    assert room.ticket_reads == 1
    tick.now += 2
    cache.position("e", "w")
    assert room.ticket_reads == 2


def test_a_reset_is_seen_at_once_where_it_happened_and_when_the_line_got_shorter() -> None:
    room, tick, cache = _waiting_room_with(position=7)
    cache.position("e", "w")
    del room.tickets["w"]  # an operator reset the event
    cache.forget("e")
    with pytest.raises(UnknownRequest):
        cache.position("e", "w")

    room, tick, cache = _waiting_room_with(position=7)
    cache.position("e", "w")
    del room.tickets["w"]  # reset by another worker: this one only sees the counters
    room.serving, room.last_position = 0, 3
    tick.now += 0.6
    with pytest.raises(UnknownRequest):
        cache.position("e", "w")


def test_unknown_places_are_not_remembered_and_memory_is_bounded() -> None:
    room, tick = FakeRoom(serving=0, last_position=1000), Tick()
    cache = CounterCache(room, ttl=0.5, monotonic=tick, place_ttl=30, max_places=10)  # type: ignore[arg-type]
    for i in range(25):
        room.tickets[f"w{i}"] = Ticket("e", f"w{i}", i + 1, 1.0, Status.WAITING)
        cache.position("e", f"w{i}")
        with pytest.raises(UnknownRequest):
            cache.position("e", f"unknown{i}")
    assert len(cache._places) <= 10
    reads = room.ticket_reads
    cache.position("e", "w24")
    assert room.ticket_reads == reads, "the newest place is still remembered"


def test_a_body_is_rendered_once_per_cached_counters_value() -> None:
    room, tick = FakeRoom(serving=3), Tick()
    cache = CounterCache(room, ttl=0.5, monotonic=tick)  # type: ignore[arg-type]
    renders: list[int] = []

    def render(counters: Counters) -> bytes:
        renders.append(counters.serving)
        return str(counters.serving).encode()

    first = cache.rendered("e", "serving", render)
    assert first.body == b"3" and cache.rendered("e", "serving", render) is first
    room.serving = 4
    tick.now += 0.6
    second = cache.rendered("e", "serving", render)
    assert second.body == b"4" and second.etag != first.etag
    assert renders == [3, 4]


def test_a_status_document_is_rendered_at_most_once_per_window_and_again_after_a_local_change() -> None:
    room, tick = FakeRoom(serving=3), Tick()
    cache = CounterCache(room, ttl=0.5, monotonic=tick)  # type: ignore[arg-type]
    renders: list[str] = []

    def render(event_id: str) -> bytes:
        renders.append(event_id)
        return f"{event_id}:{room.serving}".encode()

    first = cache.document("e", 2.0, render)
    room.serving = 4
    tick.now += 1.9
    assert cache.document("e", 2.0, render) is first and renders == ["e"]
    assert cache.document("other", 2.0, render).body == b"other:4"
    tick.now += 0.2
    assert cache.document("e", 2.0, render).body == b"e:4" and renders == ["e", "other", "e"]
    room.serving = 5
    cache.counters_changed("e")  # this worker moved the counter: its next document shows it
    assert cache.document("e", 2.0, render).body == b"e:5"
    cache.document("z", 0, render)
    cache.document("z", 0, render)
    assert renders.count("z") == 2, "a zero window keeps nothing"


def test_the_admission_rate_is_reused_for_seconds_and_dropped_when_this_worker_moves_the_counter() -> None:
    room, tick = FakeRoom(serving=3), Tick()
    cache = CounterCache(room, ttl=0.5, monotonic=tick)  # type: ignore[arg-type]
    assert cache.admission_rate("e") == 0.5
    room.rate = 2.0
    tick.now += 4
    assert cache.admission_rate("e") == 0.5 and room.rate_reads == 1
    cache.counters("e")
    room.serving = 9
    cache.counters_changed("e")
    assert cache.counters("e").serving == 9 and cache.admission_rate("e") == 2.0


def test_the_serving_counter_shown_beside_a_live_ticket_agrees_with_it() -> None:
    room = FakeRoom(serving=5)
    cache = CounterCache(room, ttl=10)  # type: ignore[arg-type]
    assert cache.serving_seen_by(Ticket("e", "a", 8, 1.0, Status.ADMITTED, 2.0)) == 8
    assert cache.serving_seen_by(Ticket("e", "w", 3, 1.0, Status.WAITING)) == 2
    assert cache.serving_seen_by(Ticket("e", "w", 9, 1.0, Status.WAITING)) == 5
