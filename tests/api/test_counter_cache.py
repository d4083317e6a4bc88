"""The per-process counter cache behind the polling endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.model import Counters, Status, Ticket
from oidc_adaptor.counter_cache import CounterCache


@dataclass
class FakeRoom:
    serving: int = 0
    reads: int = 0
    tickets: dict[str, Ticket] = field(default_factory=dict)

    def counters(self, event_id: str) -> Counters:
        self.reads += 1
        return Counters(serving=self.serving, last_position=10)

    def ticket(self, event_id: str, request_id: str) -> Ticket:
        return self.tickets[request_id]


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
