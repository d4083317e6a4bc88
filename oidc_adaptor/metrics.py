"""Prometheus metrics: request counts and latency per route, and per-event gauges.

Request metrics live in prometheus-client's default registry. Under gunicorn, ``waitingroom
serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts, so every worker writes its
samples to files there and ``/metrics`` aggregates all workers, whichever one answers the scrape.
The per-event gauges are not kept in any process: they are read from the shared store when
``/metrics`` is scraped, so every worker reports the same values.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from core.errors import WaitingRoomError
from core.room import WaitingRoom

log = logging.getLogger("waitingroom.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "waitingroom_http_requests",
    "HTTP requests handled, by route template, method and status code.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "waitingroom_http_request_duration_seconds",
    "Time to handle an HTTP request, by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
"""(route, method, status) -> the labelled request counter and latency histogram. Looking a
labelled child up costs more than updating it; the label sets are few (routes x methods x
statuses), so each is looked up once per process."""


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (REQUESTS.labels(route=route, method=method, status=str(status)),
                                     LATENCY.labels(route=route))
    children[0].inc()
    children[1].observe(seconds)


class EventCollector(Collector):
    """Reads every event's counters from the store at scrape time."""

    def __init__(self, room: WaitingRoom) -> None:
        self.room = room

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily("waitingroom_waiting", "Visitors waiting in line.", labels=["event_id"])
        serving = GaugeMetricFamily("waitingroom_serving_counter", "The serving counter.", labels=["event_id"])
        active = GaugeMetricFamily(
            "waitingroom_active_sessions", "Admitted visitors holding a slot.", labels=["event_id"]
        )
        last = GaugeMetricFamily("waitingroom_last_position", "Positions handed out so far.", labels=["event_id"])
        up = GaugeMetricFamily("waitingroom_store_up", "1 if the store answered this scrape, else 0.")
        ok = 1
        for event_id in self.room.events:
            try:
                counters = self.room.counters(event_id)
            except WaitingRoomError as exc:
                log.warning("metrics: cannot read counters of %s: %s", event_id, exc)
                ok = 0
                break
            waiting.add_metric([event_id], counters.waiting)
            serving.add_metric([event_id], counters.serving)
            active.add_metric([event_id], counters.active)
            last.add_metric([event_id], counters.last_position)
        up.add_metric([], ok)
        yield from (waiting, serving, active, last, up)


def render(room: WaitingRoom) -> bytes:
    """The exposition text: request metrics of every worker, then the per-event gauges."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    events = CollectorRegistry(auto_describe=False)
    events.register(EventCollector(room))
    return text + generate_latest(events)


def mark_worker_dead(pid: int) -> None:
    """Gunicorn ``child_exit`` hook: drop the live-gauge files of a worker that exited."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


__all__ = ["EventCollector", "mark_worker_dead", "observe_request", "render"]
