"""Two ``waitingroom serve`` processes (each with its gunicorn workers) on one SQLite file under a
load spread over both, and one of them killed outright (SIGKILL to its whole process group)
in the middle: the file stays intact, positions are handed out once, entries agree with the
counters, and every place a visitor was told is kept. Visitors of the killed server retry on the
other with their idempotency key and find the place they may already have been given."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests

from ..support import serve_process, server_config
from .procs import EVENT, Load, sqlite_entries

pytestmark = pytest.mark.slow

TOTAL = 1500


def test_two_servers_one_file_and_one_killed(tmp_path: Path) -> None:
    config = server_config(tmp_path)
    with serve_process(config, workers=2) as first, serve_process(config, workers=2) as second:
        load = Load([first.base_url, second.base_url], threads=16, total=TOTAL)
        load.start()
        load.wait_for(TOTAL // 3)
        os.killpg(second.process.pid, signal.SIGKILL)  # master and workers, mid-transaction
        second.process.wait(timeout=10)
        load.urls[:] = [first.base_url]  # the line moves to the surviving server
        load.join()
        assert load.errors > 0, "no request was cut off by the kill"

        load.assert_positions_unique()
        assert len(load.places) == TOTAL
        stored = sqlite_entries(tmp_path / "state.db")
        assert stored == load.places, "an entry without its answer, or an answer without its entry"
        r = requests.post(f"{first.base_url}/assign_queue_num", json={"event_id": EVENT}, timeout=5)
        assert r.json()["queue_number"] == TOTAL + 1
    assert "Traceback" not in first.log_text()
