"""Against a real ``waitingroom serve`` (gunicorn, several workers): the API end to end, metrics
aggregated over workers, positions under concurrent load on each store, and a store outage."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from ..reliability.procs import children
from ..support import ADMIN_KEY, redis_server, serve_process, server_config, stop_process, wait_until

pytestmark = pytest.mark.slow

EVENT = "spring-sale"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CLIENTS = 32
ENTRIES = 5_000


def test_served_api_end_to_end(tmp_path: Path) -> None:
    config = server_config(tmp_path, json_logs=True)
    with serve_process(config, workers=2) as server:
        url = server.base_url
        place = requests.post(f"{url}/assign_queue_num", json={"event_id": EVENT}, timeout=5).json()
        assert place["queue_number"] == 1
        r = requests.post(f"{url}/generate_token", json={"event_id": EVENT, "request_id": place["request_id"]},
                          timeout=5)
        assert r.status_code == 403
        r = requests.post(f"{url}/admin/increment_serving_counter", json={"event_id": EVENT, "increment_by": 1},
                          headers=ADMIN, timeout=5)
        assert r.json()["serving_counter"] == 1
        r = requests.post(f"{url}/generate_token", json={"event_id": EVENT, "request_id": place["request_id"]},
                          timeout=5)
        assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
        assert requests.post(f"{url}/admin/increment_serving_counter", json={"event_id": EVENT, "increment_by": 1},
                             timeout=5).status_code == 401
        assert requests.get(f"{url}/readyz", timeout=5).status_code == 200
        doc = requests.get(f"{url}/openapi.json", timeout=5).json()
        assert doc["servers"] == [{"url": url}]  # the issuer defaults to the address served
        for _ in range(20):
            requests.get(f"{url}/serving_num", params={"event_id": EVENT}, timeout=5)
        # every worker's requests are counted, whichever worker answers the scrape; a worker
        # applies what it observed once a second, so the other worker's may show up that late
        counted = 'waitingroom_http_requests_total{method="GET",route="/serving_num",status="200"} 20.0'
        deadline = time.monotonic() + 5
        while counted not in (text := requests.get(f"{url}/metrics", timeout=5).text) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert counted in text
        assert 'waitingroom_serving_counter{event_id="spring-sale"} 1.0' in text
    log = server.log_text()
    assert '"route":"/generate_token"' in log  # JSON request logs
    # gunicorn's own lines are JSON too; only the command's start-up lines are plain text
    assert '"logger":"gunicorn.error"' in log and "Booting worker" in log
    for line in log.splitlines():
        assert line.startswith(("{", "waitingroom: ")), line
    assert place["request_id"] not in log and r.json()["access_token"] not in log and ADMIN_KEY not in log
    assert server.process.returncode == 0


def _enter_concurrently(url: str) -> list[int]:
    """CLIENTS threads with their own keep-alive connection enter ENTRIES times in all; some retry
    with an idempotency key and must get their first place back."""

    def client(index: int) -> list[int]:
        session = requests.Session()
        positions = []
        for n in range(index, ENTRIES, CLIENTS):
            key = f"client-{index:04d}-{n:012d}" if n % 25 == 0 else None
            headers = {"Idempotency-Key": key} if key else {}
            r = session.post(f"{url}/assign_queue_num", json={"event_id": EVENT}, headers=headers, timeout=30)
            assert r.status_code == 200, r.text
            positions.append(r.json()["queue_number"])
            if key:
                again = session.post(f"{url}/assign_queue_num", json={"event_id": EVENT}, headers=headers, timeout=30)
                assert again.json()["queue_number"] == positions[-1]
                assert again.json()["request_id"] == r.json()["request_id"]
        return positions

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [p for chunk in pool.map(client, range(CLIENTS)) for p in chunk]


def _assert_each_position_once(url: str, positions: list[int]) -> None:
    duplicates = [p for p, n in Counter(positions).items() if n > 1]
    assert not duplicates, f"positions handed out twice: {duplicates[:10]}"
    assert sorted(positions) == list(range(1, ENTRIES + 1))
    counts = requests.get(f"{url}/admin/events/{EVENT}/counts", headers=ADMIN, timeout=5).json()
    assert counts["last_position"] == ENTRIES and counts["waiting"] == ENTRIES


def test_concurrent_entries_sqlite(tmp_path: Path) -> None:
    # 32 clients queue on SQLite's one write lock, a sync per commit each: what is tested here is
    # uniqueness, so the store timeout leaves a busy machine room (a timeout would be a 503)
    config = server_config(tmp_path, store_timeout=30)
    with serve_process(config, workers=2) as server:
        positions = _enter_concurrently(server.base_url)
        _assert_each_position_once(server.base_url, positions)


def test_concurrent_entries_redis(tmp_path: Path, redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    config = server_config(tmp_path, store=redis_url)
    with serve_process(config, workers=2) as server:
        positions = _enter_concurrently(server.base_url)
        _assert_each_position_once(server.base_url, positions)


def test_redis_down_answers_503_fast_and_recovers(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as (redis_url, redis_proc):
        port = int(re.search(r":(\d+)/", redis_url).group(1))  # type: ignore[union-attr]
        config = server_config(tmp_path, store=redis_url)
        with serve_process(config, workers=2) as server:
            url = server.base_url
            assert requests.post(f"{url}/assign_queue_num", json={"event_id": EVENT}, timeout=5).status_code == 200
            redis_proc.kill()
            redis_proc.wait()
            for method, path, kwargs in [
                ("POST", "/assign_queue_num", {"json": {"event_id": EVENT}}),
                ("GET", "/serving_num", {"params": {"event_id": EVENT}}),
                ("GET", "/readyz", {}),
                ("GET", f"/admin/events/{EVENT}/counts", {"headers": ADMIN}),
            ] * 3:
                started = time.monotonic()
                r = requests.request(method, url + path, timeout=5, **kwargs)
                elapsed = time.monotonic() - started
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert int(r.headers["Retry-After"]) > 0
                assert r.json()["error"] == "store_unavailable"
                # the store timeout answers well within the client's 5 s; room is left for a busy machine
                assert elapsed < 3.0, f"{path} took {elapsed:.2f}s with the store down"
            assert requests.get(f"{url}/healthz", timeout=5).status_code == 200

            with redis_server(tmp_path / "redis2", port=port):
                wait_until(lambda: requests.get(f"{url}/readyz", timeout=5).status_code == 200, 60,
                           "the server did not recover when the store came back", poll=0.2)
                r = requests.post(f"{url}/assign_queue_num", json={"event_id": EVENT}, timeout=5)
                assert r.status_code == 200
        stop_process(server.process)


def test_metrics_survive_a_worker_restart(tmp_path: Path) -> None:
    """A worker that exits (here told to with SIGTERM; gunicorn does the same to a worker that
    missed its heartbeat on a busy machine) is replaced, and the replacement counts its requests
    into the same multiprocess directory: no traceback, no request lost from ``/metrics``."""
    config = server_config(tmp_path)
    with serve_process(config, workers=2) as server:
        url = server.base_url
        master = server.process.pid
        for _ in range(10):
            requests.get(f"{url}/serving_num", params={"event_id": EVENT}, timeout=5)
        workers = set(children(master))
        assert len(workers) == 2
        os.kill(min(workers), signal.SIGTERM)
        wait_until(lambda: len(now := set(children(master))) == 2 and now != workers, 60,
                   "gunicorn did not replace the worker")
        for _ in range(40):  # a new connection each: both workers answer some
            requests.get(f"{url}/serving_num", params={"event_id": EVENT}, timeout=5)
        counted = 'waitingroom_http_requests_total{method="GET",route="/serving_num",status="200"} 50.0'
        wait_until(lambda: counted in requests.get(f"{url}/metrics", timeout=5).text, 30,
                   "the metrics never counted the 50 requests", poll=0.2)
    assert "Traceback" not in server.log_text()
