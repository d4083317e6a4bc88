"""POST /assign_queue_num through an entry queue (SQS on AWS): 200 with the request id at once, as the
AWS solution's API answers; GET /queue_num answers 202 until the consumer has put the entry in line.

The queue here is an in-memory fake with the enqueuer's one method; the consumer is the real
SQS consumer function of the Lambda handlers. tests/aws runs the same path against moto's SQS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from core.adapters.sqs import AssignMessage
from core.clock import ManualClock
from core.errors import StoreUnavailable
from oidc_adaptor.background.queued_entry import ENQUEUER_EXTENSION
from oidc_adaptor.lambda_handlers import process_assign_records

from .conftest import EVENT, build_app

RETRY_KEY = "k-1-retry-key-0123456789"  # an idempotency key with room for 128 random bits
OTHER_KEY = "k-2-retry-key-0123456789"  # an idempotency key with room for 128 random bits


class ListQueue:
    """A queue that keeps what it is sent, or refuses while ``down``."""

    def __init__(self) -> None:
        self.messages: list[AssignMessage] = []
        self.down = False

    def enqueue(self, message: AssignMessage) -> str:
        if self.down:
            raise StoreUnavailable("queue unavailable")
        self.messages.append(message)
        return f"m{len(self.messages)}"

    def drain(self) -> list[dict[str, Any]]:
        records = [{"messageId": f"m{n}", "body": m.to_json()} for n, m in enumerate(self.messages)]
        self.messages = []
        return records


@pytest.fixture
def queued(tmp_path: Path, clock: ManualClock) -> tuple[Flask, ListQueue]:
    app = build_app(tmp_path, clock, events={EVENT: {"name": "Spring sale", "queue_position_expiry": 60}, "other": {}})
    queue = ListQueue()
    app.extensions[ENQUEUER_EXTENSION] = queue
    return app, queue


def test_entry_is_queued_then_the_consumer_hands_out_the_place(queued: tuple[Flask, ListQueue]) -> None:
    app, queue = queued
    client = app.test_client()
    first = client.post("/assign_queue_num", json={"event_id": EVENT})
    second = client.post("/assign_queue_num", json={"event_id": EVENT})
    assert first.status_code == second.status_code == 200  # what the AWS solution's clients accept
    assert first.json["status"] == "queued"
    assert first.json["api_request_id"] == first.json["request_id"]
    assert first.json["request_id"] != second.json["request_id"]
    room = app.extensions["waitingroom"].room
    assert room.counters(EVENT).last_position == 0  # nothing entered the store yet

    pending = client.get("/queue_num", query_string={"event_id": EVENT, "request_id": first.json["request_id"]})
    assert pending.status_code == 202  # as the AWS API answers: queued, poll again (404 would end the polling)
    assert pending.json == {"event_id": EVENT, "request_id": first.json["request_id"], "status": "queued",
                            "message": pending.json["message"]}
    assert int(pending.headers["Retry-After"]) >= 1
    unknown = client.get("/queue_num", query_string={"event_id": EVENT, "request_id": "r" * 32})
    assert unknown.status_code == 404  # an id nobody queued is still unknown
    other_event = client.get("/queue_num", query_string={"event_id": "other", "request_id": first.json["request_id"]})
    assert other_event.status_code == 404  # queued for one event only

    assert process_assign_records(room, queue.drain()) == []
    places = [client.get("/queue_num", query_string={"event_id": EVENT, "request_id": r.json["request_id"]})
              for r in (first, second)]
    assert [p.status_code for p in places] == [200, 200]
    assert [p.json["queue_number"] for p in places] == [1, 2]


def test_a_retry_with_the_same_key_gets_the_same_request_id_and_one_place(queued: tuple[Flask, ListQueue]) -> None:
    app, queue = queued
    client = app.test_client()
    answers = [client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": RETRY_KEY})
               for _ in range(3)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.json["request_id"] for a in answers}) == 1
    assert len(queue.messages) == 1
    room = app.extensions["waitingroom"].room
    process_assign_records(room, queue.drain())
    assert room.counters(EVENT).last_position == 1
    assert room.ticket(EVENT, answers[0].json["request_id"]).position == 1


def test_a_refusing_queue_is_a_503_and_the_retry_queues_afresh(queued: tuple[Flask, ListQueue]) -> None:
    app, queue = queued
    client = app.test_client()
    queue.down = True
    refused = client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": OTHER_KEY})
    assert refused.status_code == 503
    assert "Retry-After" in refused.headers
    queue.down = False
    accepted = client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": OTHER_KEY})
    assert accepted.status_code == 200
    assert len(queue.messages) == 1
    assert json.loads(queue.messages[0].to_json())["request_id"] == accepted.json["request_id"]


def test_unknown_events_are_refused_before_anything_is_queued(queued: tuple[Flask, ListQueue]) -> None:
    app, queue = queued
    response = app.test_client().post("/assign_queue_num", json={"event_id": "no-such-event"})
    assert response.status_code == 404
    assert queue.messages == []


def test_a_key_the_consumer_would_refuse_is_refused_before_it_is_queued(queued: tuple[Flask, ListQueue]) -> None:
    app, queue = queued
    client = app.test_client()
    for bad in ("k" * 129, ""):
        response = client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": bad})
        assert response.status_code == 400, bad
    assert queue.messages == []
