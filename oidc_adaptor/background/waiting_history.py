"""How many visitors waited over the last hour, kept in the store for the control panel's chart.

The store keeps every move of the serving counter but not the length of the line over time, so
the scheduler samples it: once per :data:`SAMPLE_EVERY` seconds per event (a tick lease makes
it once across all workers and machines) it appends ``[time, waiting]`` to one key-value record
holding the last :data:`WINDOW` seconds. A read-modify-write of one record per sample: the lease
makes the writer unique, and a sample lost to a race only leaves a gap in the chart.
"""

from __future__ import annotations

import json
from typing import Any

from core.room import WaitingRoom

NAMESPACE = "panel-waiting-history"
SAMPLE_EVERY = 10.0
WINDOW = 3600.0


def _points(store: Any, event_id: str, now: float) -> list[list[float]]:
    raw = store.get(NAMESPACE, event_id, now)
    try:
        points = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [p for p in points if isinstance(p, list) and len(p) == 2 and p[0] > now - WINDOW]


def record(room: WaitingRoom, event_id: str) -> bool:
    """Take this window's sample of the event's waiting count, unless another worker did.
    Returns whether this call took it."""
    now = room.clock.now()
    if not room.store.claim_tick(event_id, "waiting-history", int(now // SAMPLE_EVERY)):
        return False
    records: Any = room.store  # every store is a KeyValueStore too (core.ports)
    points = _points(records, event_id, now)
    points.append([round(now, 3), room.counters(event_id).waiting])
    records.put(NAMESPACE, event_id, json.dumps(points, separators=(",", ":")), WINDOW + SAMPLE_EVERY, now)
    return True


def waiting_history(room: WaitingRoom, event_id: str) -> list[list[float]]:
    """``[[time, waiting], ...]`` over the last :data:`WINDOW` seconds, oldest first."""
    return _points(room.store, event_id, room.clock.now())
