"""Prometheus metrics: request counts and latency per route, and per-event gauges.

Request metrics live in prometheus-client's default registry. Under gunicorn, ``waitingroom
serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts, so every worker writes its
samples to files there and ``/metrics`` aggregates all workers, whichever one answers the scrape.

A request only appends its observation to a list in memory; a background thread applies what
gathered to the metrics every :data:`FLUSH_INTERVAL` seconds, as one update per label set and
histogram bucket. In multiprocess mode every update is a locked write to a shared-memory file,
three per request, which cost a busy worker more than the rest of answering a poll from the
cache. So a scrape sees other workers' requests up to that interval late (the answering worker
applies its own first), and a worker killed outright loses its last interval of observations.
The per-event gauges are not kept in any process: they are read from the shared store when
``/metrics`` is scraped, so every worker reports the same values.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
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


FLUSH_INTERVAL = 1.0
"""Seconds between two applications of the gathered request observations."""

_pending: list[tuple[str, str, int, float]] = []
"""Observations not applied yet. Appending and ``del lst[:n]`` are each atomic under the GIL, and
appends only ever add at the end, so a request never waits for a lock to append."""

_flush_lock = threading.Lock()
"""One :func:`flush` at a time: the flusher thread, a scrape and the exit hook may all flush, and
two taking the same first ``n`` would apply those twice and drop the ``n`` after them."""

_flusher_started = False
_start_lock = threading.Lock()


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one request and its latency (applied to the metrics within :data:`FLUSH_INTERVAL`)."""
    _pending.append((route, method, status, seconds))
    if not _flusher_started:
        _start_flusher()


def flush() -> None:
    """Apply every gathered observation to the Prometheus metrics now (each exactly once)."""
    with _flush_lock:
        count = len(_pending)
        batch = _pending[:count]
        del _pending[:count]
    if not count:
        return
    requests: dict[tuple[str, str, int], int] = defaultdict(int)
    latencies: dict[str, list[float]] = defaultdict(list)
    for route, method, status, seconds in batch:
        requests[(route, method, status)] += 1
        latencies[route].append(seconds)
    for (route, method, status), n in requests.items():
        REQUESTS.labels(route=route, method=method, status=str(status)).inc(n)
    for route, values in latencies.items():
        _observe_many(LATENCY.labels(route=route), values)


def _observe_many(histogram: Any, values: Iterable[float]) -> None:
    """``histogram.observe(v)`` for every value, as one update of the sum and of each bucket hit.

    Reaches into prometheus-client's histogram child (its bounds, bucket values and sum); if
    those ever change shape, it falls back to observing one value at a time.
    """
    try:
        bounds, buckets, total = histogram._upper_bounds, histogram._buckets, histogram._sum
    except AttributeError:
        for value in values:
            histogram.observe(value)
        return
    hits = [0] * len(bounds)
    amount = 0.0
    for value in values:
        hits[bisect.bisect_left(bounds, value)] += 1  # the first bound >= value, as observe() picks
        amount += value
    total.inc(amount)
    for bucket, n in zip(buckets, hits, strict=True):
        if n:
            bucket.inc(n)


def _start_flusher() -> None:
    global _flusher_started
    with _start_lock:
        if _flusher_started:
            return
        _flusher_started = True
    threading.Thread(target=_flush_periodically, name="metrics-flusher", daemon=True).start()
    atexit.register(flush)


def _flush_periodically() -> None:
    while True:
        time.sleep(FLUSH_INTERVAL)
        try:
            flush()
        except Exception:  # never let the metrics thread die: log and go on
            log.exception("could not apply request metrics")


def _forget_in_child() -> None:
    """A forked child starts with no flusher thread (it starts its own on its first request) and
    without its parent's unapplied observations (the parent applies those)."""
    global _flusher_started, _start_lock, _flush_lock
    _flusher_started = False
    _start_lock = threading.Lock()
    _flush_lock = threading.Lock()
    del _pending[:]


os.register_at_fork(after_in_child=_forget_in_child)


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
    flush()  # this worker's own observations are never late
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


__all__ = ["EventCollector", "flush", "mark_worker_dead", "observe_request", "render"]
