"""What the fair opening costs a store: the opening step against the size of the pre-queue, and
a position read after the draw against a read in a ``fifo`` event of the same size.

Works over any :class:`core.ports.QueueStore`. Places are entered at the store level with
``enter_many`` (batches of :data:`BATCH`), as the SQS consumer does, so filling a million is quick.
The opening (``open_draw``) is timed on ``repeats`` events of each size and its median reported,
with the ratio of each size's median to the smallest size's: the opening is one write, so the
ratios should stay near 1 whatever N. Reads are ``get_ticket`` of the same sample of places in a
drawn and in a fifo event of the same N, ``rounds`` times over, the two events taking turns every
:data:`CHUNK` reads so that the load of a shared machine falls on both alike; the median time per
read of the chunks after the first round is each side's figure, and the ratio drawn / fifo of
the CPU a read costs (this process's, plus the Redis server's script time from ``INFO
commandstats``) the target (at most 1.1): on a machine shared with other work the CPU time moves
far less than the wall time, which is reported beside it. The first round is reported too:
stores remember the drawn positions they computed, so a place read again costs no permutation
and the first read pays it.

Every drawn position read is checked against :func:`core.draw.position_of`, so the benchmark
also proves the store computes the reference permutation at that size.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import redis

from core import draw
from core.ports import QueueStore
from core.room import new_request_id

BATCH = 1_000
"""Entries per ``enter_many`` call while filling."""
SAMPLE = 2_000
"""Places whose positions are read, spread over the whole line."""
CHUNK = 100
"""Reads timed together; the drawn and the fifo event take turns chunk by chunk."""
OPENING_TARGET = 2.0
"""Largest ratio of an opening's median time to the smallest size's: the same one write (the
slack is for a loaded machine's noise on a step of well under a millisecond)."""
READ_TARGET = 1.1
"""Largest ratio of a drawn event's position read to a fifo event's."""

StoreOpener = Callable[[], AbstractContextManager[QueueStore]]


def fill(store: QueueStore, event_id: str, count: int, now: float, sample: int = SAMPLE) -> dict[int, str]:
    """Enter ``count`` places (new request ids, no idempotency key) with ``enter_many``; returns
    ``sample`` of them (arrival index -> request id), spread evenly over the line."""
    step = max(1, count // max(1, sample))
    kept: dict[int, str] = {}
    entered = 0
    while entered < count:
        ids = [new_request_id() for _ in range(min(BATCH, count - entered))]
        tickets = store.enter_many(event_id, [(rid, None) for rid in ids], now)
        for ticket in tickets:
            if (ticket.position - 1) % step == 0 and len(kept) < sample:
                kept[ticket.position] = ticket.request_id
        entered += len(ids)
    return kept


def time_opening(store: QueueStore, event_id: str, count: int, now: float) -> float:
    """Open the filled pre-queue ``event_id`` of ``count`` places: the seconds ``open_draw`` took."""
    store.counters(event_id)  # the same connection, just used: the opening is timed alone
    started = time.perf_counter()
    state = store.open_draw(event_id, now + 1)
    seconds = time.perf_counter() - started
    if state.size != count:
        raise RuntimeError(f"{event_id}: the draw holds {state.size} places, {count} were entered")
    return seconds


def _server_cpu_us(store: QueueStore) -> float:
    """Microseconds a Redis server spent in scripts so far (``INFO commandstats``), or 0 for a
    store without a server of its own (SQLite runs in this process, which :func:`_read_all`
    counts)."""
    client = getattr(store, "client", None)
    if not isinstance(client, redis.Redis):
        return 0.0
    stats = client.info("commandstats")
    return float(sum(v["usec"] for name, v in stats.items() if name.startswith("cmdstat_evalsha")))


def _read_all(store: QueueStore, event_id: str, ids: list[str], now: float) -> tuple[float, float, list[int]]:
    """Read every place: (wall seconds, CPU seconds of this process and the store's server, positions)."""
    server = _server_cpu_us(store)
    cpu, started = time.process_time(), time.perf_counter()
    positions = []
    for rid in ids:
        ticket = store.get_ticket(event_id, rid, now)
        if ticket is None:
            raise RuntimeError(f"{event_id}: a place entered was not found")
        positions.append(ticket.position)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall, cpu + (_server_cpu_us(store) - server) / 1e6, positions


def measure(open_store: StoreOpener, sizes: tuple[int, ...], repeats: int = 3, rounds: int = 3,
            label: str = "store") -> dict[str, Any]:
    """Openings at each of ``sizes`` (``repeats`` events each) and reads at the largest size.

    Every pre-queue is filled first and the openings are then timed in turn (each size once,
    ``repeats`` times over), so they all meet the store in the same state: what a fill leaves
    behind (a checkpoint due, garbage to collect) does not land on one size's opening only.
    """
    now = time.time()
    largest = max(sizes)
    events = [(f"draw-{size}-{k}", size) for k in range(repeats) for size in sorted(sizes)]
    openings: dict[int, list[float]] = {size: [] for size in sizes}
    with open_store() as store:
        samples = {}
        for event_id, size in events:
            store.prepare_draw(event_id, draw.new_secret())
            samples[event_id] = fill(store, event_id, size, now, sample=SAMPLE if size == largest else 1)
        fifo_event = f"fifo-{largest}"
        fifo_sample = fill(store, fifo_event, largest, now)
        for event_id, size in events:
            openings[size].append(time_opening(store, event_id, size, now))
        drawn_event = events[-1][0]
        drawn_sample = samples[drawn_event]
        state = store.draw_state(drawn_event)
        assert state is not None
        drawn_ids = list(drawn_sample.values())
        fifo_ids = list(fifo_sample.values())
        random.Random(18).shuffle(drawn_ids)
        random.Random(18).shuffle(fifo_ids)
        expected = {rid: draw.position_of(state.secret, largest, index) for index, rid in drawn_sample.items()}
        fifo_index = {rid: index for index, rid in fifo_sample.items()}
        sides = {"drawn": (drawn_event, drawn_ids, expected), "fifo": (fifo_event, fifo_ids, fifo_index)}
        # Seconds per read of each chunk, by round: the sides take turns chunk by chunk, so a
        # burst of load on the shared machine falls on both.
        times: dict[str, list[list[float]]] = {side: [[] for _ in range(rounds)] for side in sides}
        cpu: dict[str, list[list[float]]] = {side: [[] for _ in range(rounds)] for side in sides}
        for round_number in range(rounds):
            for n, start in enumerate(range(0, len(drawn_ids), CHUNK)):
                for side in sorted(sides, reverse=n % 2 == 1):
                    event_id, ids, wanted = sides[side]
                    chunk = ids[start:start + CHUNK]
                    seconds, cpu_seconds, positions = _read_all(store, event_id, chunk, now + 2)
                    if positions != [wanted[rid] for rid in chunk]:
                        raise RuntimeError(f"{label}: a {side} position is not the one core.draw gives")
                    times[side][round_number].append(seconds / len(chunk))
                    cpu[side][round_number].append(cpu_seconds / len(chunk))
        for event_id, _ in events:
            store.reset(event_id)
        store.reset(fifo_event)
    medians = {size: statistics.median(runs) for size, runs in openings.items()}
    smallest = min(sizes)
    read_us, first_us = _per_read(times)
    cpu_us, first_cpu_us = _per_read(cpu)
    return {
        "store": label,
        "opening_ms": {f"{size:,}": round(medians[size] * 1e3, 3) for size in sorted(sizes)},
        "opening_runs_ms": {f"{size:,}": [round(t * 1e3, 3) for t in openings[size]] for size in sorted(sizes)},
        "opening_ratio": {f"{size:,}": round(medians[size] / medians[smallest], 3) for size in sorted(sizes)},
        "read_us": read_us,
        "read_ratio": round(cpu_us["drawn"] / cpu_us["fifo"], 3),
        "read_wall_ratio": round(read_us["drawn"] / read_us["fifo"], 3),
        "read_cpu_us": cpu_us,
        "first_read_us": first_us,
        "first_read_cpu_us": first_cpu_us,
        "first_read_ratio": round(first_cpu_us["drawn"] / first_cpu_us["fifo"], 3),
        "reads": len(drawn_ids),
        "read_size": largest,
    }


def _per_read(runs_by_side: dict[str, list[list[float]]]) -> tuple[dict[str, float], dict[str, float]]:
    """Microseconds per read of each side: the median chunk after the first round (of the first
    round when there is one round only), and of the first round."""
    again = {side: [t for chunks in runs[1:] or runs for t in chunks] for side, runs in runs_by_side.items()}
    return ({side: round(statistics.median(chunks) * 1e6, 1) for side, chunks in again.items()},
            {side: round(statistics.median(runs[0]) * 1e6, 1) for side, runs in runs_by_side.items()})


def results(measured: dict[str, Any]) -> list[dict[str, Any]]:
    """The suite's result rows for one store's :func:`measure`."""
    label = measured["store"]
    worst_opening = max(measured["opening_ratio"].values())
    opening_text = ", ".join(f"N={n}: {ms:g} ms" for n, ms in measured["opening_ms"].items())
    return [
        {"name": f"draw opening ({label})",
         "headline": f"open_draw median {opening_text}",
         "ratio": worst_opening, "unit": "x the smallest N's opening",
         "target_text": f"independent of N (one write): <= {OPENING_TARGET}x", "pass": worst_opening <= OPENING_TARGET,
         "metrics": measured},
        {"name": f"draw position read ({label})",
         "headline": f"get_ticket after the draw {measured['read_cpu_us']['drawn']:g} us of CPU, fifo "
                     f"{measured['read_cpu_us']['fifo']:g} us (N={measured['read_size']:,}; first reads "
                     f"{measured['first_read_cpu_us']['drawn']:g} / {measured['first_read_cpu_us']['fifo']:g} us; "
                     f"wall {measured['read_us']['drawn']:g} / {measured['read_us']['fifo']:g} us)",
         "ratio": measured["read_ratio"], "unit": "x a fifo event's read",
         "target_text": f"within 10 % of a fifo read: <= {READ_TARGET}x", "pass": measured["read_ratio"] <= READ_TARGET,
         "metrics": {key: measured[key] for key in ("read_cpu_us", "first_read_cpu_us", "first_read_ratio", "read_us",
                                                    "read_wall_ratio", "first_read_us", "reads")}},
    ]


def opener(factory: Callable[[], QueueStore]) -> StoreOpener:
    """A :data:`StoreOpener` that makes a store with ``factory`` and closes it after."""

    @contextmanager
    def open_store() -> Iterator[QueueStore]:
        store = factory()
        try:
            yield store
        finally:
            store.close()

    return open_store
