"""A Redis that stops answering (SIGSTOP: connections hang, nothing is refused) under a real
``waitingroom serve``: every endpoint that needs the store, the OIDC ones included, answers 503
with Retry-After within a second; the workers neither crash nor leak connections or file
descriptors; ``/readyz`` reports the outage; everything recovers by itself when Redis resumes.

(tests/server/test_serve.py covers a Redis that is killed: connections refused at once.)"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
import requests

from oidc_adaptor.oidc.codes import s256_challenge
from oidc_adaptor.oidc.places import COOKIE_NAME, new_handle

from ..support import ADMIN_KEY, serve_process, server_config, wait_until
from .procs import EVENT, aof_redis, children, open_files

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CALLBACK = "https://shop.example/cb"
THREADS = 4  # waitingroom serve's request threads per worker (its default)


VERIFIER = "v" * 43
AUTHORIZE = "/authorize?" + urlencode({"response_type": "code", "client_id": "shop", "redirect_uri": CALLBACK,
                                       "scope": "openid", "state": "s", "code_challenge": s256_challenge(VERIFIER),
                                       "code_challenge_method": "S256"})


def _admitted_code(url: str) -> str:
    """A live authorization code of an admitted visitor, taken while the store answers: a forged
    code is refused without the store (it does not open), a real one needs it to be redeemed."""
    browser = requests.Session()
    assert browser.get(url + AUTHORIZE, timeout=5).status_code == 200  # the cookie check, then the waiting page
    admitted = requests.post(f"{url}/admin/increment_serving_counter", json={"event_id": EVENT, "increment_by": 5},
                             headers=ADMIN, timeout=5)
    assert admitted.status_code == 200
    codes: list[str] = []

    def redirected() -> bool:  # each worker sees the counter once its cache renews it
        answer = browser.get(url + AUTHORIZE, allow_redirects=False, timeout=5)
        if answer.status_code == 302 and "code=" in answer.headers["Location"]:
            codes.append(answer.headers["Location"].split("code=", 1)[1].split("&", 1)[0])
        return bool(codes)

    wait_until(redirected, 30, "the admitted visitor got no code", poll=0.2)
    return codes[0]


def _requests(place: dict[str, Any], code: str) -> list[tuple[str, str, dict[str, Any]]]:
    rid = {"event_id": EVENT, "request_id": place["request_id"]}
    authorize = AUTHORIZE
    return [
        ("POST", "/assign_queue_num", {"json": {"event_id": EVENT}}),
        ("GET", "/queue_num", {"params": rid}),
        ("GET", "/serving_num", {"params": {"event_id": EVENT}}),
        ("GET", "/waiting_num", {"params": {"event_id": EVENT}}),
        ("GET", "/queue_pos_expiry", {"params": rid}),
        ("POST", "/generate_token", {"json": rid}),
        ("GET", "/readyz", {}),
        ("POST", "/admin/increment_serving_counter",
         {"json": {"event_id": EVENT, "increment_by": 1}, "headers": ADMIN}),
        ("POST", "/admin/update_session", {"json": {**rid, "status": "completed"}, "headers": ADMIN}),
        ("GET", "/admin/expired_tokens", {"params": {"event_id": EVENT}, "headers": ADMIN}),
        ("GET", "/admin/num_active_tokens", {"params": {"event_id": EVENT}, "headers": ADMIN}),
        ("POST", "/admin/reset_initial_state", {"json": {"event_id": "other"}, "headers": ADMIN}),
        ("POST", "/admin/generate_token", {"json": rid, "headers": ADMIN}),
        ("GET", f"/admin/events/{EVENT}/counts", {"headers": ADMIN}),
        ("POST", f"/admin/events/{EVENT}/pause", {"headers": ADMIN}),
        ("POST", f"/admin/events/{EVENT}/admission", {"json": {"increment_by": 2}, "headers": ADMIN}),
        # a browser that has shown it keeps the place cookie (one without it needs no store yet)
        ("GET", authorize, {"allow_redirects": False, "cookies": {COOKIE_NAME: new_handle()}}),
        ("GET", "/authorize/status", {"params": {"event": EVENT}, "cookies": {"wr_place": "h" * 43}}),
        ("POST", "/token", {"data": {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                                     "code_verifier": VERIFIER}, "auth": ("shop", "shop-secret-0123456789")}),
    ]


def _worker_fds(master: int) -> dict[int, int]:
    return {pid: open_files(pid) for pid in children(master)}


def test_a_stalled_redis_is_503_within_a_second_then_recovers(tmp_path: Path) -> None:
    with aof_redis(tmp_path / "redis") as redis_process:
        config = server_config(
            tmp_path, store=redis_process.url, store_timeout=0.4, retry_after=3,
            events={EVENT: {"name": "Spring sale"}, "other": {}},
        )
        with config.open("a") as fh:
            fh.write(f'\n[clients.shop]\nevent = "{EVENT}"\nsecret = "shop-secret-0123456789"\n'
                     f'redirect_uris = ["{CALLBACK}"]\n')
        with serve_process(config, workers=2) as server:
            url = server.base_url
            session = requests.Session()
            place = session.post(f"{url}/assign_queue_num", json={"event_id": EVENT}, timeout=5).json()
            code = _admitted_code(url)
            for _ in range(50):  # warm every worker's pool
                session.get(f"{url}/serving_num", params={"event_id": EVENT}, timeout=5)
            baseline = _worker_fds(server.process.pid)
            monitor = redis.Redis.from_url(redis_process.url)
            clients_before = monitor.info("clients")["connected_clients"]

            assert redis_process.process is not None
            redis_process.process.send_signal(signal.SIGSTOP)
            try:
                time.sleep(0.7)  # let the per-worker counter cache expire

                def call(item: tuple[str, str, dict[str, Any]]) -> tuple[str, int, float, dict[str, str], str]:
                    method, path, kwargs = item
                    started = time.monotonic()
                    r = requests.request(method, url + path, timeout=10, **kwargs)
                    return path, r.status_code, time.monotonic() - started, dict(r.headers), r.text

                with ThreadPoolExecutor(8) as pool:  # concurrently, as a line would
                    results = list(pool.map(call, _requests(place, code) * 3))
                for path, status, elapsed, headers, text in results:
                    assert status == 503, (path, status, text[:300])
                    assert headers.get("Retry-After") == "3", path
                    if path.startswith("/authorize?"):  # the browser's page, which tries again by itself
                        assert 'http-equiv="refresh" content="3;url=/authorize?' in text, text[:600]
                    else:
                        assert "store_unavailable" in text or "temporarily_unavailable" in text, (path, text[:300])
                    assert "Traceback" not in text
                    # a stalled store without a timeout holds the request for the client's full 10 s;
                    # the bound leaves a busy machine room over the 0.4 s store timeout
                    assert elapsed < 5.0, f"{path} took {elapsed:.2f}s with the store stalled"
                assert requests.get(f"{url}/healthz", timeout=2).status_code == 200  # liveness untouched
            finally:
                redis_process.process.send_signal(signal.SIGCONT)

            wait_until(lambda: requests.get(f"{url}/readyz", timeout=5).status_code == 200, 60,
                       "the server did not recover by itself", poll=0.2)
            r = session.post(f"{url}/assign_queue_num", json={"event_id": EVENT}, timeout=5)
            assert r.status_code == 200
            for _ in range(100):
                assert session.get(f"{url}/queue_num", params={"event_id": EVENT, "request_id": place["request_id"]},
                                   timeout=5).status_code == 200
            # no connection or descriptor leak: same workers, about as many fds and Redis clients as before
            after = _worker_fds(server.process.pid)
            assert set(after) == set(baseline), "a worker died"
            for pid, fds in after.items():
                # each request thread and the scheduler may now hold a Redis connection of its own
                # (the warm-up polls are answered from the counter cache by one or two threads)
                assert fds <= baseline[pid] + THREADS + 8, f"worker {pid}: {baseline[pid]} -> {fds} open files"
            clients_after = monitor.info("clients")["connected_clients"]
            # two workers, each with up to a connection per request thread more than the warm-up used
            allowed = clients_before + 2 * THREADS + 8
            assert clients_after <= allowed, f"Redis clients {clients_before} -> {clients_after}"
        assert server.process.returncode == 0
        log = server.log_text()
        assert "Traceback" not in log
        assert "WORKER TIMEOUT" not in log and "was sent SIGKILL" not in log and "Booting worker" in log
        assert log.count("Booting worker") == 2, "a worker was replaced"
