"""A site that keeps the waiting room always on costs its visitors nothing while there is room:
/authorize admits at the door and redirects straight back with a code."""

from __future__ import annotations

import time
from pathlib import Path

from core.clock import ManualClock
from oidc_adaptor.app import create_app
from tests.conftest import make_settings

from .conftest import CLIENTS, Flow, redirect_params
from .helpers import EVENT


def test_authorize_redirects_at_once_while_a_slot_is_free(tmp_path: Path) -> None:
    events = {EVENT: {"queue_position_expiry": 60, "admission": {"strategy": "max_active", "max_active": 2}}}
    app = create_app(make_settings(tmp_path, clients=CLIENTS, events=events), clock=ManualClock(time.time()),
                     start_scheduler=False)
    first, second, third = Flow(app), Flow(app), Flow(app)
    assert first.redeem(first.code()).status_code == 200
    assert "code" in redirect_params(second.authorize())
    waiting = third.authorize()
    assert waiting.status_code == 200 and "in line" in waiting.get_data(as_text=True)
    assert app.extensions["waitingroom"].room.counters(EVENT).serving == 2
