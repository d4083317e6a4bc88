"""The visitor journey for Locust users: ``locust -f bench/locustfile.py -H http://127.0.0.1:8080``.

Not used by ``python -m bench`` (whose load generator is its own) and Locust is not a dependency
of the project: ``pip install locust`` to use it. Each simulated visitor enters the line, polls
its place with jittered exponential backoff until admitted, takes its tokens, ends its session
(with the admin key, as the protected site does) and enters again as a new visitor.

Environment: ``WAITINGROOM_BENCH_EVENT`` (default ``bench``), ``WAITINGROOM_BENCH_ADMIN_KEY``
(needed to end sessions; without it sessions are left to time out), ``WAITINGROOM_BENCH_MAX_BACKOFF``
(seconds, default 4).
"""

from __future__ import annotations

import os
import random
import time

from locust import HttpUser, task

EVENT = os.environ.get("WAITINGROOM_BENCH_EVENT", "bench")
ADMIN_KEY = os.environ.get("WAITINGROOM_BENCH_ADMIN_KEY", "")
MAX_BACKOFF = float(os.environ.get("WAITINGROOM_BENCH_MAX_BACKOFF", "4"))


class Visitor(HttpUser):
    """One visitor after another: enter, wait, take tokens, leave."""

    def wait_time(self) -> float:
        return 0.0  # the journey paces itself with its backoff

    @task
    def journey(self) -> None:
        with self.client.post("/assign_queue_num", json={"event_id": EVENT}, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"enter: HTTP {r.status_code}")
                return
            request_id = r.json()["request_id"]
        delay = 0.5
        while True:
            time.sleep(delay * random.uniform(0.8, 1.2))
            with self.client.get("/queue_num", params={"event_id": EVENT, "request_id": request_id},
                                 name="/queue_num", catch_response=True) as r:
                if r.status_code != 200:
                    r.failure(f"poll: HTTP {r.status_code}")
                    return
                status = r.json()["status"]
            if status == "admitted":
                break
            if status != "waiting":
                return
            delay = min(MAX_BACKOFF, delay * 1.6)
        with self.client.post("/generate_token", json={"event_id": EVENT, "request_id": request_id},
                              catch_response=True) as r:
            if r.status_code != 200 or "access_token" not in r.json():
                r.failure(f"token: HTTP {r.status_code}")
                return
        if ADMIN_KEY:
            self.client.post("/admin/update_session",
                             json={"event_id": EVENT, "request_id": request_id, "status": "completed"},
                             headers={"Authorization": f"Bearer {ADMIN_KEY}"})
