"""Redis killed with SIGKILL while visitors enter, then restarted from its AOF (``appendfsync
always``) on the same port and directory, under a real multi-worker ``waitingroom serve``.

Afterwards: no position was handed out twice, the stored entries agree with the counters (no
reconciliation is needed: each use case is one Lua script, logged to the AOF as one MULTI/EXEC
block and fsynced before its reply is sent), every visitor who was told a position still holds
it, and visitors whose answer was lost in the crash get their place back by retrying with their
idempotency key. What ``everysec`` would lose is documented in docs/operations.md."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import requests

from ..support import serve_process, server_config
from .procs import EVENT, Load, aof_redis, redis_entries

pytestmark = pytest.mark.slow

TOTAL = 1500


def test_kill_9_under_load_and_restart_from_aof(tmp_path: Path) -> None:
    with aof_redis(tmp_path / "redis", fsync="always") as redis_process:
        config = server_config(tmp_path, store=redis_process.url, retry_after=1)
        with serve_process(config, workers=2) as server:
            load = Load([server.base_url], threads=16, total=TOTAL)
            load.start()
            for crash in range(2):
                load.wait_for(400 * (crash + 1))
                redis_process.kill()
                time.sleep(0.5)  # the line keeps knocking: 503s with Retry-After, no crash
                redis_process.start()
            load.join()
            assert load.unavailable + load.errors > 0, "the crashes were not noticed by any request"
            load.assert_positions_unique()
            assert len(load.places) == TOTAL and len(load.keys) == TOTAL  # every visitor got a place in the end

            stored = redis_entries(redis_process.url)  # entries agree with the counters
            assert len(stored) == TOTAL, "a place was handed out whose visitor never got it back"
            for request_id, position in load.places.items():
                assert stored.get(request_id) == position, "a visitor lost the place they were told"

            # and the server agrees, visitor by visitor
            session = requests.Session()
            for request_id in random.Random(1).sample(sorted(load.places), 100):
                r = session.get(f"{server.base_url}/queue_num", params={"event_id": EVENT, "request_id": request_id},
                                timeout=5)
                assert r.status_code == 200 and r.json()["queue_number"] == load.places[request_id]
            # new visitors continue the line where it was
            r = session.post(f"{server.base_url}/assign_queue_num", json={"event_id": EVENT}, timeout=5)
            assert r.json()["queue_number"] == TOTAL + 1
        assert "Traceback" not in server.log_text()
