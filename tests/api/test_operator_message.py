"""Operator messages: ``POST /admin/events/<id>/message`` and the status document that carries them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from core.clock import ManualClock
from core.messages import MAX_MESSAGE_LENGTH
from oidc_adaptor.plumbing import counter_cache

from .conftest import EVENT, build_app, enter

MESSAGE = f"/admin/events/{EVENT}/message"
STATUS = f"/events/{EVENT}/status"


def post(client: FlaskClient, admin: dict[str, str], body: Any) -> Any:
    return client.post(MESSAGE, json=body, headers=admin)


def test_a_message_reaches_the_status_document_and_the_counts(client: FlaskClient, admin: dict[str, str],
                                                                clock: ManualClock) -> None:
    enter(client)
    assert client.get(STATUS).json["message"] is None
    expires = int(clock.now()) + 600
    r = post(client, admin, {"text": "  The venue changed:\n Hall B.  ", "expires_at": expires})
    assert r.status_code == 200
    shown = {"text": "The venue changed: Hall B.", "expires_at": expires}
    assert r.json == {"event_id": EVENT, "message": shown}
    assert client.get(STATUS).json["message"] == shown  # this worker renders its copy again at once
    assert client.get(f"/admin/events/{EVENT}/counts", headers=admin).json["message"] == shown


def test_an_empty_text_clears_the_message(client: FlaskClient, admin: dict[str, str]) -> None:
    post(client, admin, {"text": "Friday is sold out."})
    assert client.get(STATUS).json["message"] == {"text": "Friday is sold out.", "expires_at": None}
    r = post(client, admin, {"text": "   "})
    assert r.status_code == 200 and r.json == {"event_id": EVENT, "message": None}
    assert client.get(STATUS).json["message"] is None


def test_a_message_stops_showing_when_it_expires(tmp_path: Path, clock: ManualClock, admin: dict[str, str]) -> None:
    app = build_app(tmp_path, clock, server={"status_max_age": 1})
    client = app.test_client()
    post(client, admin, {"text": "Doors open at noon.", "expires_at": int(clock.now()) + 30})
    clock.advance(29)
    assert client.get(STATUS).json["message"]["text"] == "Doors open at noon."
    clock.advance(2)  # past the expiry and the one-second window of the last copy
    counter_cache.for_app(app).forget(EVENT)  # the copy's window ends (monotonic time does not move here)
    assert client.get(STATUS).json["message"] is None
    assert client.get(f"/admin/events/{EVENT}/counts", headers=admin).json["message"] is None


def test_every_worker_sharing_the_store_shows_the_message(tmp_path: Path, clock: ManualClock,
                                                          admin: dict[str, str]) -> None:
    one, other = build_app(tmp_path, clock).test_client(), build_app(tmp_path, clock).test_client()
    assert post(one, admin, {"text": "Tickets for Friday are sold out."}).status_code == 200
    assert other.get(STATUS).json["message"]["text"] == "Tickets for Friday are sold out."


def test_a_reset_clears_the_message(client: FlaskClient, admin: dict[str, str]) -> None:
    post(client, admin, {"text": "Hello"})
    client.post("/admin/reset_initial_state", json={"event_id": EVENT}, headers=admin)
    assert client.get(STATUS).json["message"] is None


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "'text' is required"),
        ({"text": 5}, "'text' must be a string"),
        ({"text": "x" * (MAX_MESSAGE_LENGTH + 1)}, "at most 500"),
        ({"text": "bell\x07"}, "control characters"),
        ({"text": "hi", "expires_at": 1_000}, "future"),
        ({"text": "hi", "expires_at": "tomorrow"}, "whole number"),
        ({"text": "hi", "expires_at": True}, "whole number"),
        ({"text": "hi", "expires_at": 1_800_000_000 + 400 * 86400}, "year"),
        ({"text": "hi", "html": "<b>"}, "unknown field"),
    ],
)
def test_bad_messages_are_refused_and_change_nothing(client: FlaskClient, admin: dict[str, str],
                                                     body: Any, needle: str) -> None:
    post(client, admin, {"text": "kept"})
    r = post(client, admin, body)
    assert r.status_code == 400
    assert r.json["error"] and needle in r.json["message"]
    assert client.get(STATUS).json["message"]["text"] == "kept"


def test_the_longest_message_is_accepted(client: FlaskClient, admin: dict[str, str]) -> None:
    text = "é" * MAX_MESSAGE_LENGTH
    assert post(client, admin, {"text": text}).json["message"]["text"] == text


def test_an_unknown_event_is_404(client: FlaskClient, admin: dict[str, str]) -> None:
    r = client.post("/admin/events/nope/message", json={"text": "hi"}, headers=admin)
    assert r.status_code == 404

