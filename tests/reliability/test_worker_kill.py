"""Gunicorn workers killed with SIGKILL in the middle of requests, on each store: no partial state.

While visitors enter and then claim their tokens, workers are killed again and again (the master
starts new ones). Afterwards every position has its entry and every entry its position, the
issued counter equals the session records, and every token a visitor received belongs to the
session recorded for their place (same ``jti``): no position without its entry, no token without
its record. Clients retry after a dropped connection, with their idempotency key when entering."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from ..support import ADMIN_KEY, serve_process, server_config, wait_until
from .procs import EVENT, Load, children, redis_entries, redis_places, sqlite_entries

pytestmark = pytest.mark.slow

TOTAL = 800
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def kill_a_worker(master: int, index: int) -> None:
    """SIGKILL one worker of the gunicorn ``master`` (the master starts a new one)."""
    wait_until(lambda: children(master), 60, "no worker to kill")
    workers = sorted(children(master))
    with contextlib.suppress(ProcessLookupError):
        os.kill(workers[index % len(workers)], signal.SIGKILL)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return result


def _claim_tokens(url: str, request_ids: list[str], done: list[str]) -> dict[str, str]:
    """request id -> jti of the access token each visitor ends up with (retrying dropped requests)."""

    def claim(request_id: str) -> tuple[str, str]:
        session = requests.Session()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                r = session.post(f"{url}/generate_token", json={"event_id": EVENT, "request_id": request_id},
                                 timeout=10)
            except requests.RequestException:
                session = requests.Session()
                time.sleep(0.05)
                continue
            if r.status_code == 503:  # the store timed out (SQLite's write lock under this load): retry
                time.sleep(0.05)
                continue
            assert r.status_code == 200, r.text
            done.append(request_id)
            return request_id, _claims(r.json()["access_token"])["jti"]
        raise AssertionError("no token in 60 s")

    with ThreadPoolExecutor(16) as pool:
        return dict(pool.map(claim, request_ids))


def _stored_jtis(store: str, where: str) -> dict[str, str]:
    if store == "redis":
        return redis_places(where)[1]
    import sqlite3

    rows = sqlite3.connect(where).execute(
        "SELECT request_id, jti FROM sessions WHERE event_id = ? AND jti IS NOT NULL", (EVENT,)).fetchall()
    return dict(rows)


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_workers_killed_mid_request_leave_no_partial_state(tmp_path: Path, store: str, request: pytest.FixtureRequest
                                                           ) -> None:
    store_url = None
    if store == "redis":
        import redis

        store_url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(store_url).flushdb()
    config = server_config(tmp_path, store=store_url)
    with serve_process(config, workers=2) as server:
        url = server.base_url
        master = server.process.pid
        load = Load([url], threads=16, total=TOTAL)
        load.start()
        for n, share in enumerate((0.2, 0.45, 0.7)):  # kills while visitors enter
            load.wait_for(int(TOTAL * share))
            kill_a_worker(master, n)
        load.join()
        assert load.errors > 0, "no request was cut off by a kill"
        # admit everyone (an admin call may itself be cut off: it is not idempotent, so check the counter)
        while requests.get(f"{url}/admin/events/{EVENT}/counts", headers=ADMIN, timeout=10).json().get(
                "serving_counter", 0) < TOTAL:
            with contextlib.suppress(requests.RequestException):
                requests.post(f"{url}/admin/increment_serving_counter",
                              json={"event_id": EVENT, "increment_by": TOTAL}, headers=ADMIN, timeout=10)
        done: list[str] = []
        with ThreadPoolExecutor(1) as runner:
            claimed = runner.submit(_claim_tokens, url, sorted(load.places), done)
            for n, share in enumerate((0.2, 0.45, 0.7)):  # kills while tokens are issued
                wait_until(lambda share=share: len(done) >= TOTAL * share or claimed.done(), 120,
                           f"tokens claimed: {len(done)} of {TOTAL * share:.0f}", poll=0.01)
                kill_a_worker(master, n)
            tokens = claimed.result()

    load.assert_positions_unique()
    assert len(load.places) == TOTAL
    stored = redis_entries(store_url) if store_url else sqlite_entries(tmp_path / "state.db")
    assert stored == load.places  # every position has its entry, every acknowledged place is kept
    jtis = _stored_jtis(store, store_url or str(tmp_path / "state.db"))
    assert len(jtis) == TOTAL
    assert tokens == jtis, "a token was issued without its session record (or with another one)"
