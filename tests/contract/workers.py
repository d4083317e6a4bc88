"""Code run in separate processes by the contract tests (importable, so it works with ``spawn``)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from core.adapters.stores import open_store


def enter_many(url: str, event_id: str, count: int, key_prefix: str | None, barrier: Any, results: Any) -> None:
    """Enter ``count`` times once every process is ready; put [(request id, position), ...] on ``results``."""
    store = open_store(url)
    try:
        barrier.wait(timeout=60)
        got = []
        for i in range(count):
            key = None if key_prefix is None else f"{key_prefix}-{i}"
            ticket = store.enter(event_id, secrets.token_urlsafe(24), key, time.time())
            got.append((ticket.request_id, ticket.position))
        results.put(got)
    finally:
        store.close()


def enter_in_batches(url: str, event_id: str, batches: int, size: int, barrier: Any, results: Any) -> None:
    """Enter ``batches`` lists of ``size`` visitors once every process is ready; put
    [(request id, position), ...] on ``results``. Fails if one list's positions do not rise in list order."""
    store = open_store(url)
    try:
        barrier.wait(timeout=60)
        got = []
        for _ in range(batches):
            tickets = store.enter_many(event_id, [(secrets.token_urlsafe(24), None) for _ in range(size)], time.time())
            positions = [t.position for t in tickets]
            assert positions == sorted(positions), positions
            got.extend((t.request_id, t.position) for t in tickets)
        results.put(got)
    finally:
        store.close()


def enter_at_door(url: str, event_id: str, count: int, max_active: int, barrier: Any, results: Any) -> None:
    """Enter ``count`` times under a door rule of ``max_active`` once every process is ready; put
    [(position, status), ...] on ``results``."""
    from core.model import DoorRule

    store = open_store(url)
    try:
        barrier.wait(timeout=60)
        got = []
        for _ in range(count):
            door = DoorRule(max_active=max_active)
            ticket = store.enter(event_id, secrets.token_urlsafe(24), None, time.time(), door)
            got.append((ticket.position, ticket.status.value))
        results.put(got)
    finally:
        store.close()


def open_draw(url: str, event_id: str, now: float, barrier: Any, results: Any) -> None:
    """Open the event's draw at ``now`` once every process is ready; put (secret, size, opened_at) on ``results``."""
    store = open_store(url)
    try:
        barrier.wait(timeout=60)
        state = store.open_draw(event_id, now)
        results.put((state.secret, state.size, state.opened_at))
    finally:
        store.close()
