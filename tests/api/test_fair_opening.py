"""The fair opening on the REST and admin APIs: a pre-queue answered in a shape AWS clients already
handle, the public draw document (cacheable, verifiable), and operators moving or bringing the
opening forward. Every response is checked against the OpenAPI document by the test client."""

from __future__ import annotations

import concurrent.futures
import datetime
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core import draw
from core.adapters.redis import RedisStore
from core.clock import ManualClock
from core.model import ticket_id_for

from .conftest import ADMIN_KEY, EVENT, UnavailableStore, build_app, enter

FAIR = "fair-sale"
LATER = "later-sale"  # fifo with an opening time
OPENS_IN = 600.0
H = {"Authorization": f"Bearer {ADMIN_KEY}"}


def events(clock: ManualClock) -> dict[str, Any]:
    return {
        EVENT: {"name": "Spring sale", "queue_position_expiry": 60},
        FAIR: {"name": "Fair sale", "queueing": "random_before_opening", "opens_at": clock.now() + OPENS_IN},
        LATER: {"name": "Later sale", "opens_at": clock.now() + OPENS_IN},
    }


def fair_app(tmp_path: Path, clock: ManualClock, **kwargs: Any) -> Flask:
    return build_app(tmp_path, clock, events=events(clock), **kwargs)


@pytest.fixture
def client(tmp_path: Path, clock: ManualClock) -> FlaskClient:
    return fair_app(tmp_path, clock).test_client()


def queue_num(client: FlaskClient, request_id: str, event_id: str = FAIR) -> Any:
    return client.get("/queue_num", query_string={"event_id": event_id, "request_id": request_id})


def test_a_place_before_the_opening_is_in_the_pre_queue_without_a_position(client: FlaskClient,
                                                                           clock: ManualClock) -> None:
    entered = enter(client, FAIR)
    assert entered["status"] == "pre_queue"
    assert entered["opens_at"] == int(clock.now() + OPENS_IN)
    assert "queue_number" not in entered  # not decided until the draw
    answer = queue_num(client, entered["request_id"])
    # 202 with Retry-After: what a queued entry answers, which AWS clients already wait out
    assert answer.status_code == 202
    assert answer.json["status"] == "pre_queue" and answer.json["opens_at"] == entered["opens_at"]
    assert "queue_number" not in answer.json
    assert int(answer.headers["Retry-After"]) == 60  # at most a minute: the opening may come sooner
    clock.advance(OPENS_IN - 10)
    assert queue_num(client, entered["request_id"]).headers["Retry-After"] == "11"


def test_after_the_draw_every_place_has_the_position_the_published_draw_gives_it(client: FlaskClient,
                                                                                  clock: ManualClock) -> None:
    check_positions_follow_the_published_draw(client, clock)


def test_on_the_redis_store_every_place_has_the_position_the_published_draw_gives_it(
        tmp_path: Path, clock: ManualClock, redis_url: str) -> None:
    """The same on Redis, whose scripts compute the drawn positions in Lua."""
    store = RedisStore.from_url(redis_url, timeout=5.0)
    store.client.flushdb()
    try:
        check_positions_follow_the_published_draw(fair_app(tmp_path, clock, store=store).test_client(), clock)
    finally:
        store.close()


def check_positions_follow_the_published_draw(client: FlaskClient, clock: ManualClock) -> None:
    keys = [str(uuid.uuid4()) for _ in range(12)]
    places = [client.post("/assign_queue_num", json={"event_id": FAIR, "idempotency_key": k}).json for k in keys]
    assert all(p["status"] == "pre_queue" for p in places)
    # each place's receipt: its arrival number, in the entry's answer and in every read before the draw
    assert [p["arrival"] for p in places] == list(range(1, 13))
    assert queue_num(client, places[4]["request_id"]).json["arrival"] == 5
    clock.advance(OPENS_IN + 5)  # the first read after the opening time opens the draw
    answers = [queue_num(client, p["request_id"]) for p in places]
    assert [a.status_code for a in answers] == [200] * 12
    document = client.get(f"/events/{FAIR}/draw").json
    assert document["state"] == "open" and document["size"] == 12
    assert document["tickets"] == [ticket_id_for(p["request_id"]) for p in places]  # arrival order, public ids
    assert all(document["tickets"][p["arrival"] - 1] == ticket_id_for(p["request_id"]) for p in places)
    result = draw.verify(document["commitment"], document["secret"], document["tickets"], document["size"])
    assert result.ok, result.problems
    for place, answer in zip(places, answers, strict=True):
        assert answer.json["queue_number"] == result.positions[ticket_id_for(place["request_id"])]
    assert sorted(a.json["queue_number"] for a in answers) == list(range(1, 13))  # each once, no gap
    # the same idempotency key after the draw: the same place, now with its drawn position
    again = client.post("/assign_queue_num", json={"event_id": FAIR, "idempotency_key": keys[3]}).json
    assert again["request_id"] == places[3]["request_id"]
    assert again["queue_number"] == answers[3].json["queue_number"]
    late = enter(client, FAIR)  # arrivals after the opening follow in order
    assert late["queue_number"] == 13 and late["status"] == "waiting"


def test_the_draw_document_is_public_cacheable_and_commits_before_anyone_enters(client: FlaskClient,
                                                                               clock: ManualClock) -> None:
    before = client.get(f"/events/{FAIR}/draw")
    assert before.status_code == 200 and before.headers["Cache-Control"] == "public, max-age=1, s-maxage=1"
    body = before.json
    assert body["state"] == "pre_queue" and len(body["commitment"]) == 64
    assert body["secret"] is None and body["tickets"] is None and body["size"] is None
    assert client.get(f"/events/{FAIR}/draw", headers={"If-None-Match": before.headers["ETag"]}).status_code == 304
    enter(client, FAIR)
    clock.advance(OPENS_IN + 5)
    enter(client, EVENT)  # another event's step does not matter; the draw opens at its own event's next step
    after = client.get(f"/events/{FAIR}/draw", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.json["state"] == "open"
    assert after.headers["Cache-Control"] == "public, max-age=3600, s-maxage=3600"  # final until a reset
    assert after.json["commitment"] == body["commitment"] == draw.commitment(after.json["secret"])
    assert client.get(f"/events/{FAIR}/draw", headers={"If-None-Match": after.headers["ETag"]}).status_code == 304
    fifo = client.get(f"/events/{EVENT}/draw").json
    assert (fifo["state"], fifo["commitment"], fifo["queueing"]) == ("none", None, "fifo")
    assert client.get("/events/nope/draw").status_code == 404
    assert client.get("/events/a:b/draw").status_code == 400


def test_each_worker_reads_an_open_draws_list_once_even_when_its_first_requests_come_together(
        tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    app = fair_app(tmp_path, clock)
    client = app.test_client()
    tickets = [enter(client, FAIR) for _ in range(5)]
    clock.advance(OPENS_IN + 5)
    assert queue_num(client, tickets[0]["request_id"]).status_code == 200  # opens the draw
    store = app.extensions["waitingroom"].room.store
    lists: list[int] = []
    arrivals = store.arrivals

    def counted(event_id: str, first: int, count: int) -> list[str | None]:
        lists.append(first)
        time.sleep(0.05)  # widen the window in which the first requests overlap
        return arrivals(event_id, first, count)

    monkeypatch.setattr(store, "arrivals", counted)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: app.test_client().get(f"/events/{FAIR}/draw"), range(8)))
    assert {a.status_code for a in answers} == {200}
    assert {a.data for a in answers} == {answers[0].data}
    assert len(answers[0].json["tickets"]) == 5
    assert lists == [1]  # built once, by one request; the others waited for it


def test_a_reset_forgets_the_draw_and_publishes_a_new_commitment(client: FlaskClient, clock: ManualClock) -> None:
    first = client.get(f"/events/{FAIR}/draw").json["commitment"]
    enter(client, FAIR)
    assert client.post("/admin/reset_initial_state", json={"event_id": FAIR}, headers=H).status_code == 200
    fresh = client.get(f"/events/{FAIR}/draw").json
    assert fresh["state"] == "pre_queue" and fresh["commitment"] != first and fresh["tickets"] is None
    assert client.get(f"/admin/events/{FAIR}/counts", headers=H).json["opening"]["pre_queue_size"] == 0


def test_a_reset_with_an_opening_time_arms_a_new_pre_queue_after_the_configured_opening(
        client: FlaskClient, clock: ManualClock) -> None:
    """A rehearsal run past the configured opening, then the sale armed again without touching
    the configuration: the reset and the new opening time are one request."""
    enter(client, FAIR)
    clock.advance(OPENS_IN + 60)
    rehearsed = client.get(f"/events/{FAIR}/draw").json
    assert rehearsed["state"] == "open"
    reset = "/admin/reset_initial_state"
    for past in (clock.now(), clock.now() - 3600, "2020-01-01T00:00:00Z", "", "soon", True):
        refused = client.post(reset, json={"event_id": FAIR, "opens_at": past}, headers=H)
        assert refused.status_code == 400 and refused.json["error"] in ("bad_request", "invalid_argument"), past
    assert client.get(f"/events/{FAIR}/draw").json == rehearsed  # a refused reset changes nothing
    assert client.post(reset, json={"event_id": FAIR, "opens_at": clock.now() + 3600}).status_code == 401

    opens_at = clock.now() + 3600
    armed = client.post(reset, json={"event_id": FAIR, "opens_at": opens_at}, headers=H)
    assert armed.status_code == 200 and armed.json == {"event_id": FAIR, "message": "Reset completed"}
    entered = enter(client, FAIR)
    assert entered["status"] == "pre_queue" and entered["opens_at"] == int(opens_at)
    fresh = client.get(f"/events/{FAIR}/draw").json
    assert fresh["state"] == "pre_queue" and fresh["commitment"] != rehearsed["commitment"]
    opening = client.get(f"/admin/events/{FAIR}/counts", headers=H).json["opening"]
    assert (opening["draw_state"], opening["opens_at"], opening["pre_queue_size"]) == ("pre_queue", opens_at, 1)
    moved = client.post(f"/admin/events/{FAIR}/opening", json={"opens_at": opens_at - 1800}, headers=H)
    assert moved.status_code == 200  # the new pre-queue's opening can move again
    # a fifo event takes any opening time, or none
    assert client.post(reset, json={"event_id": LATER, "opens_at": ""}, headers=H).status_code == 200
    assert client.get(f"/admin/events/{LATER}/counts", headers=H).json["opening"]["draw_state"] == "none"


def test_operators_see_the_opening_move_it_and_open_now(client: FlaskClient, clock: ManualClock) -> None:
    for _ in range(3):
        enter(client, FAIR)
    listed = {e["event_id"]: e for e in client.get("/admin/events", headers=H).json["events"]}
    fair = listed[FAIR]
    assert fair["queueing"] == "random_before_opening" and fair["opens_at"] == clock.now() + OPENS_IN
    assert fair["opening"]["draw_state"] == "pre_queue" and fair["opening"]["pre_queue_size"] == 3
    assert len(fair["opening"]["commitment"]) == 64 and "secret" not in fair["opening"]
    assert listed[EVENT]["opening"]["draw_state"] == "none"
    counts = client.get(f"/admin/events/{FAIR}/counts", headers=H).json
    assert counts["opening"] == fair["opening"]

    later = "2027-01-15T11:00:00+01:00"
    moved = client.post(f"/admin/events/{FAIR}/opening", json={"opens_at": later}, headers=H)
    assert moved.status_code == 200
    assert moved.json["opening"]["opens_at"] == datetime.datetime.fromisoformat(later).timestamp()
    assert moved.json["opening"]["draw_state"] == "pre_queue"
    assert client.get(f"/events/{FAIR}/status").json["opens_at"] == moved.json["opening"]["opens_at"]
    assert client.post(f"/admin/events/{FAIR}/opening", json={"opens_at": "soon"}, headers=H).status_code == 400
    assert client.post(f"/admin/events/{FAIR}/opening", json={}, headers=H).status_code == 400
    assert client.post(f"/admin/events/{FAIR}/opening", json={"opens_at": None}).status_code == 401
    assert client.post(f"/admin/events/{FAIR}/open").status_code == 401
    malformed = client.post("/admin/events/no%20such:event/open", headers=H)
    assert malformed.status_code == 400 and malformed.json["error"] == "bad_request"
    # serving-counter moves are refused before the opening: nobody is admitted in arrival order
    refused = client.post("/admin/increment_serving_counter", json={"event_id": FAIR, "increment_by": 1}, headers=H)
    assert refused.status_code == 409

    opened = client.post(f"/admin/events/{FAIR}/open", headers=H)
    assert opened.status_code == 200
    assert opened.json["opening"]["draw_state"] == "open" and opened.json["opening"]["pre_queue_size"] == 3
    assert client.post(f"/admin/events/{FAIR}/open", headers=H).json == opened.json  # idempotent
    late = client.post(f"/admin/events/{FAIR}/opening", json={"opens_at": clock.now() + 60}, headers=H)
    assert late.status_code == 409  # the secret is out: the opening can no longer move
    assert client.get(f"/events/{FAIR}/draw").json["size"] == 3


def test_a_fifo_event_with_an_opening_time_keeps_arrival_order_and_admits_nobody_before_it(
        client: FlaskClient, clock: ManualClock) -> None:
    first, second = enter(client, LATER), enter(client, LATER)
    assert (first["queue_number"], second["queue_number"]) == (1, 2)  # positions known: no draw
    assert queue_num(client, first["request_id"], LATER).json["queue_number"] == 1
    status = client.get(f"/events/{LATER}/status").json
    assert status["draw_state"] == "pre_queue" and status["opens_at"] == int(clock.now() + OPENS_IN)
    opened = client.post(f"/admin/events/{LATER}/open", headers=H).json["opening"]
    assert opened["draw_state"] == "open" and opened["commitment"] is None


def drive_every_status(tmp_path: Path, clock: ManualClock) -> None:
    """Produce every status the fair opening's endpoints document (for the OpenAPI test)."""
    app = fair_app(tmp_path / "fair", clock)
    client = app.test_client()
    down = fair_app(tmp_path / "fair-down", clock, store=UnavailableStore()).test_client()
    pre = enter(client, FAIR)
    queue_num(client, pre["request_id"])  # 202 pre_queue
    client.post("/admin/increment_serving_counter", json={"event_id": FAIR, "increment_by": 1}, headers=H)  # 409
    etag = client.get(f"/events/{FAIR}/draw").headers["ETag"]
    client.get(f"/events/{FAIR}/draw", headers={"If-None-Match": etag})  # 304
    client.get("/events/nope/draw")
    client.get("/events/a:b/draw")
    down.get(f"/events/{FAIR}/draw")
    for path, body in (("opening", {"opens_at": clock.now() + 30}), ("open", None)):
        client.post(f"/admin/events/{FAIR}/{path}", json=body)  # 401
        client.post(f"/admin/events/nope/{path}", json=body, headers=H)  # 404
        down.post(f"/admin/events/{FAIR}/{path}", json=body, headers=H)  # 503
        client.post(f"/admin/events/{FAIR}/{path}", json=body, headers=H)  # 200
    client.post(f"/admin/events/{FAIR}/opening", json={"opens_at": "x"}, headers=H)  # 400
    client.post("/admin/events/a:b/open", headers=H)  # 400: not an event id
    client.post(f"/admin/events/{FAIR}/opening", json={"opens_at": None}, headers=H)  # 409: opened
    # An event that admitted people in arrival order before it was made random cannot draw: 409
    shared = {"store": f"sqlite:///{tmp_path}/switched.db"}
    fifo = build_app(tmp_path / "switched-a", clock, server=shared, events={"x": {}}).test_client()
    enter(fifo, "x")
    fifo.post("/admin/increment_serving_counter", json={"event_id": "x", "increment_by": 1}, headers=H)
    random_now = {"x": {"queueing": "random_before_opening", "opens_at": clock.now() + 60}}
    switched = build_app(tmp_path / "switched-b", clock, server=shared, events=random_now).test_client()
    switched.post("/admin/events/x/open", headers=H)


def test_the_check_page_does_not_explain_away_a_ticket_missing_from_the_list(tmp_path: Path,
                                                                            clock: ManualClock) -> None:
    # The page cannot know why a ticket is absent: telling a visitor who joined before the opening
    # that their place "was taken after the opening" would hide the very fault the check exists for.
    url = f"/events/{FAIR}/draw/verify?ticket={ticket_id_for('any-request-id')}"
    page = FlaskClient(fair_app(tmp_path, clock)).get(url).get_data(as_text=True)
    absent = page[page.index('id="wr-ticket-absent"'):]
    absent = absent[:absent.index("</p>")]
    assert "it was taken after the opening" not in absent
    assert "if you joined before the opening, your place should be in this list" in absent
