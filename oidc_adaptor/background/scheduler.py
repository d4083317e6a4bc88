"""Runs every event's opening, admission strategy and expiry sweep on a timer, inside the server process.

Every worker runs one; the store's tick claims make each step happen once per tick across all
workers and machines.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from core.errors import WaitingRoomError
from core.room import WaitingRoom

from . import waiting_history

log = logging.getLogger("waitingroom.scheduler")


class AdmissionScheduler:
    def __init__(self, room: WaitingRoom, interval: float = 1.0) -> None:
        self.room = room
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        """One pass over all events; returns how many visitors each event admitted."""
        admitted: dict[str, int] = {}
        for event_id in self.room.events:
            try:
                self.room.ensure_opened(event_id)  # a draw due now opens before anything else runs
                now_tick = int(self.room.clock.now() // 1)
                if self.room.store.claim_tick(event_id, "sweep", now_tick):
                    self.room.sweep(event_id, self.room.clock_skew)
                admitted[event_id] = self.room.tick(event_id, self.room.clock_skew)
                waiting_history.record(self.room, event_id)
            except WaitingRoomError as exc:
                log.warning("scheduler step for %s failed: %s", event_id, exc)
            except Exception:
                log.exception("scheduler step for %s failed", event_id)
        return admitted

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="waitingroom-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()


def start_scheduler(app: Flask) -> AdmissionScheduler:
    services = app.extensions["waitingroom"]
    scheduler = AdmissionScheduler(services.room, services.settings.server.scheduler_interval)
    scheduler.start()
    app.extensions["waitingroom_scheduler"] = scheduler
    return scheduler
