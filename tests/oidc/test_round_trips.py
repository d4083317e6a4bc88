"""Store round trips of one authorization code flow on Redis: what each step sends, pinned.

A flow for an admitted visitor costs three round trips: /authorize reads the browser's place
with its ticket and writes nothing for the code (a sealed code carries its own record); /token
records the code's redemption and runs the session step in one script (which makes the session
findable by jti); /userinfo reads the session by its jti (ended, revoked or reset sessions are
refused).
Each EVALSHA counts once, whatever its script does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from core.clock import ManualClock
from oidc_adaptor.app import create_app
from tests.conftest import make_settings

from .conftest import CLIENTS, SECRET, Flow

FLOW = {"authorize": 1, "token": 1, "userinfo": 1}


@pytest.fixture
def redis_app(tmp_path: Path, clock: ManualClock, redis_url: str) -> Iterator[Flask]:
    app = create_app(make_settings(tmp_path, store=redis_url, clients=CLIENTS), clock=clock, start_scheduler=False)
    store = app.extensions["waitingroom"].store
    store.client.flushdb()
    yield app
    store.close()


class Sent:
    """Commands the app's Redis client sends, by the step that is running."""

    def __init__(self, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
        client = app.extensions["waitingroom"].store.client
        original = client.execute_command
        self.step = "setup"
        self.counts: Counter[str] = Counter()
        self.commands: list[tuple[str, str]] = []

        def counting(*args: Any, **options: Any) -> Any:
            self.counts[self.step] += 1
            self.commands.append((self.step, str(args[0]).upper()))
            return original(*args, **options)

        monkeypatch.setattr(client, "execute_command", counting)

    def flow(self, flow: Flow) -> dict[str, int]:
        self.counts.clear()
        self.step = "authorize"
        code = flow.code()
        self.step = "token"
        response = flow.redeem(code, secret=None if flow.client == "spa" else SECRET)
        assert response.status_code == 200, response.get_data(as_text=True)
        self.step = "userinfo"
        info = flow.browser.get("/userinfo", headers={"Authorization": f"Bearer {response.get_json()['access_token']}"})
        assert info.status_code == 200
        self.step = "after"
        return dict(self.counts)


@pytest.mark.parametrize("client", ["shop", "spa"])
def test_a_flow_costs_three_round_trips(redis_app: Flask, monkeypatch: pytest.MonkeyPatch, client: str) -> None:
    flow = Flow(redis_app, client)
    assert flow.authorize().status_code == 200  # takes a place
    flow.admit()
    sent = Sent(redis_app, monkeypatch)
    sent.flow(flow)  # the first flow opens the session (and loads the scripts)
    assert sent.flow(flow) == FLOW  # later flows re-issue it: the same cost
    assert sent.commands[-3:] == [("authorize", "EVALSHA"), ("token", "EVALSHA"), ("userinfo", "EVALSHA")]


def test_the_first_flow_of_a_place_costs_the_same(redis_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    warm = Flow(redis_app)
    warm.authorize()
    warm.admit()
    Sent(redis_app, monkeypatch).flow(warm)  # scripts loaded
    flow = Flow(redis_app)
    assert flow.authorize().status_code == 200
    flow.admit()
    assert Sent(redis_app, monkeypatch).flow(flow) == FLOW
