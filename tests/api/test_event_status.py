"""``GET /events/<event_id>/status``: one cacheable document per event, and the counters' cache headers."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from core.clock import ManualClock
from oidc_adaptor.background.scheduler import AdmissionScheduler
from oidc_adaptor.plumbing import counter_cache

from .conftest import EVENT, advance, build_app, enter

STATUS = f"/events/{EVENT}/status"


def test_the_document_shows_the_line_and_is_the_same_bytes_for_every_visitor(client: FlaskClient,
                                                                              clock: ManualClock) -> None:
    for _ in range(5):
        enter(client)
    advance(client, 1)
    clock.advance(10)
    advance(client, 1)
    first = client.get(STATUS)
    other = client.get(STATUS, headers={"Cookie": "wr_place=someone-else"})
    assert first.status_code == other.status_code == 200
    assert first.get_data() == other.get_data() and first.headers["ETag"] == other.headers["ETag"]
    assert first.json == {
        "event_id": EVENT, "serving_counter": 2, "last_position": 5, "waiting": 3,
        "admission_rate": 0.1, "paused": False, "start_at": None, "end_at": None, "message": None,
        "opens_at": None, "queueing": "fifo", "draw_state": "none", "pre_queue_size": None,
        "server_time": int(clock.now()),
    }
    assert "Set-Cookie" not in first.headers and "Vary" not in first.headers
    assert first.headers["Cache-Control"] == "public, max-age=1, s-maxage=1"
    assert first.headers["ETag"].startswith('"') and not first.headers["ETag"].startswith('W/')


def test_if_none_match_answers_304_until_the_document_changes(client: FlaskClient, clock: ManualClock) -> None:
    enter(client)
    etag = client.get(STATUS).headers["ETag"]
    same = client.get(STATUS, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.get_data() == b""
    assert same.headers["ETag"] == etag and same.headers["Cache-Control"].startswith("public")
    assert client.get(STATUS, headers={"If-None-Match": '"other", ' + etag}).status_code == 304
    advance(client, 1)  # this worker moved the counter: its copy is rendered again at once
    changed = client.get(STATUS, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json["serving_counter"] == 1 and changed.headers["ETag"] != etag


def test_a_worker_renders_the_document_once_per_window(tmp_path: Path, clock: ManualClock) -> None:
    app = build_app(tmp_path, clock, server={"status_max_age": 60})  # a window no slow machine outlasts
    client = app.test_client()
    enter(client)
    room = app.extensions["waitingroom"].room
    first = client.get(STATUS).get_data()
    room.advance(EVENT, 1)  # another worker (or the scheduler elsewhere) moves the counter
    assert client.get(STATUS).get_data() == first, "a copy inside its window is served as rendered"
    counter_cache.for_app(app).forget(EVENT)  # as when the window ends
    assert client.get(STATUS).json["serving_counter"] == 1


def test_pause_and_the_admission_window_are_in_the_document(tmp_path: Path, clock: ManualClock) -> None:
    start = int(clock.now()) + 3600
    events = {EVENT: {"admission": {"strategy": "periodic", "increment_by": 5, "every": 10,
                                    "start_at": start}}}
    app = build_app(tmp_path, clock, events=events)
    client = app.test_client()
    assert client.get(STATUS).json["start_at"] == start
    r = client.post(f"/admin/events/{EVENT}/pause", headers={"Authorization": "Bearer test-admin-key"})
    assert r.status_code == 200
    assert client.get(STATUS).json["paused"] is True


def test_the_opening_and_its_pre_queue_are_in_the_document(tmp_path: Path, clock: ManualClock) -> None:
    """Before the opening the document says when it is and how many wait for the draw; the
    scheduler's first pass after it opens the draw, and the document says so."""
    opens_at = clock.now() + 600.25
    events = {EVENT: {"opens_at": opens_at, "queueing": "random_before_opening"}}
    app = build_app(tmp_path, clock, events=events, server={"status_max_age": 0})
    client = app.test_client()
    for _ in range(3):
        enter(client)
    before = client.get(STATUS).json
    assert (before["opens_at"], before["queueing"], before["draw_state"], before["pre_queue_size"]) == \
        (int(opens_at) + 1, "random_before_opening", "pre_queue", 3)  # never earlier than the real time
    room = app.extensions["waitingroom"].room
    clock.value = opens_at + room.clock_skew  # no worker opens before every clock has passed the time
    AdmissionScheduler(room).run_once()
    assert room.store.draw_state(EVENT).opened_at == clock.now()
    after = client.get(STATUS).json
    assert (after["draw_state"], after["pre_queue_size"], after["last_position"]) == ("open", 3, 3)


def test_the_window_is_configurable_and_unknown_events_are_404(tmp_path: Path, clock: ManualClock) -> None:
    app = build_app(tmp_path, clock, server={"status_max_age": 2})
    client = app.test_client()
    assert client.get(STATUS).headers["Cache-Control"] == "public, max-age=2, s-maxage=2"
    assert client.get("/events/nope/status").status_code == 404
    assert client.get("/events/a:b/status").status_code == 400


def test_the_counter_endpoints_carry_the_same_cache_headers(client: FlaskClient) -> None:
    enter(client)
    for path in ("/serving_num", "/waiting_num"):
        response = client.get(path, query_string={"event_id": EVENT})
        assert response.headers["Cache-Control"] == "public, max-age=1, s-maxage=1"
        again = client.get(path, query_string={"event_id": EVENT}, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304


def test_with_listed_origins_the_public_documents_do_not_vary_on_origin(tmp_path: Path, clock: ManualClock) -> None:
    """A shared cache keeps one copy per value of each header named in Vary: with ``Vary: Origin``
    any client sending a new Origin each time would reach the server on every request, through the
    nginx front as without it. The public documents need no credentials, so any origin may read
    them (``*``), and the answer is the same for every request."""
    app = build_app(tmp_path, clock, server={"cors_origins": ["https://shop.example"]})
    client = app.test_client()
    for path in (STATUS, f"/serving_num?event_id={EVENT}", f"/waiting_num?event_id={EVENT}"):
        answers = [client.get(path, headers=headers) for headers in
                   ({}, {"Origin": "https://shop.example"}, {"Origin": "https://random-1.example"})]
        for answer in answers:
            assert answer.status_code == 200 and "Vary" not in answer.headers, (path, answer.headers)
        assert {a.headers.get("Access-Control-Allow-Origin") for a in answers[1:]} == {"*"}
    private = client.get(f"/queue_num?event_id={EVENT}&request_id=x", headers={"Origin": "https://shop.example"})
    assert "Origin" in private.headers["Vary"]  # other answers keep the listed origins
