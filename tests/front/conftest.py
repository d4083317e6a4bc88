"""A real ``waitingroom serve`` behind Debian's nginx running the shipped ``deploy/nginx/waitingroom.conf``.

The server trusts exactly one proxy (``trusted_proxies = 1``) and its issuer is the front's URL,
as the configuration's comments tell users to set it up. One worker process, so the origin's
``/metrics`` counts every request that reached it the moment it is scraped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bench.servers import HttpServer, nginx_front, origin_requests
from tests.support import ADMIN_KEY, ServerProcess, free_port, serve_process, server_config

EVENT = "spring-sale"
OTHER_EVENT = "autumn-sale"
QUIET_EVENT = "winter-sale"
"""An event no other test polls, so its first request through the front is a cache miss."""
FAIR_EVENT = "fair-sale"
"""An event with a random draw an hour after the stack starts."""
SECRET = "front-test-client-secret-long-enough"
WINDOW = 2
"""[server] status_max_age of the origin under test."""
ENTRY_LIMIT = 20
"""[server] enter_rate_limit per minute and client address: above what the other tests of a module take."""


@dataclass
class Stack:
    front: HttpServer
    origin: ServerProcess
    rp_port: int
    config: Path

    @property
    def url(self) -> str:
        return self.front.base_url

    def admit(self, count: int, event_id: str = EVENT) -> int:
        """Admit visitors as an operator does, through the front (the admin call is not cached)."""
        response = requests.post(f"{self.url}/admin/increment_serving_counter",
                                 json={"event_id": event_id, "increment_by": count},
                                 headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
        assert response.status_code == 200, response.text
        return int(response.json()["serving_counter"])

    def origin_requests(self, route: str) -> int:
        """Requests for ``route`` (a Flask route template) that reached the server, from its own metrics."""
        return origin_requests(self.origin.base_url, route)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("front")
    front_port, rp_port = free_port(), free_port()
    callback = f"http://127.0.0.1:{rp_port}/callback"
    config = server_config(
        work, issuer=f"http://127.0.0.1:{front_port}", trusted_proxies=1, status_max_age=WINDOW, scheduler=False,
        enter_rate_limit=f"{ENTRY_LIMIT}/minute",
        events={EVENT: {"name": "Spring sale"}, OTHER_EVENT: {"name": "Autumn sale"},
                QUIET_EVENT: {"name": "Winter sale"},
                FAIR_EVENT: {"name": "Fair sale", "queueing": "random_before_opening", "opens_at": time.time() + 3600}},
        clients={"shop": {"event": EVENT, "redirect_uris": [callback], "secret": SECRET},
                 "spa": {"event": EVENT, "redirect_uris": [callback]}},
    )
    with serve_process(config, workers=1, extra_args=["--threads", "4"]) as origin, \
            nginx_front(origin.port, work, port=front_port) as front:
        yield Stack(front, origin, rp_port, config)


def waiting_page_position(html: str) -> int:
    match = re.search(r'<dd id="wr-position">(\d+)</dd>', html)
    assert match, "not a waiting page"
    return int(match.group(1))

