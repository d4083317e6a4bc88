"""The DynamoDB store's draw, seen from the protocol: the opening's one write, races staged
between two calls, the sweep over drawn positions, and a room on DynamoDB whose published draw
verifies. The rules every store keeps are in
``tests/contract/test_draw.py``; holes in a pre-queue are in ``test_dynamodb_failures.py``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from core import draw
from core.adapters.dynamodb import DynamoDbStore
from core.clock import ManualClock
from core.draw import DrawState
from core.model import AdmissionPolicy, DoorRule, EventSettings, Queueing, Status, Strategy
from core.room import WaitingRoom
from core.tokens import KeySet, SigningKey, TokenSigner
from tests.aws import moto_server
from tests.aws.moto_server import moto_endpoint  # noqa: F401 - the fixture must be visible here
from tests.aws.test_dynamodb_store import RacingClient
from tests.contract.helpers import CONCURRENCY_TIMEOUT

E = "spring-sale"
FIFO = "fifo-sale"
T0 = 1_800_000_000.0
OPENS = T0 + 100
SECRET = "5ec7e7" * 10 + "0123"


def rid(n: int) -> str:
    return f"request-{n:06d}-abcdefghijklmnop"


class CountingClient:
    """A DynamoDB client that records the name of every operation called through it."""

    def __init__(self, client: Any) -> None:
        self.inner = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append(name)  # list.append is atomic: claims and batch reads come from threads
            return method(**kwargs)

        return call


def pre_queue(store: DynamoDbStore, count: int) -> list[str]:
    """Prepare the draw and enter ``count`` places before the opening; request ids in arrival order."""
    store.prepare_draw(E, SECRET)
    ids = [rid(n) for n in range(1, count + 1)]
    for n, request_id in enumerate(ids):
        store.enter(E, request_id, None, T0 + n)
    return ids


@pytest.mark.parametrize("size", [3, 40])
def test_the_opening_is_one_conditional_update_whatever_the_size(dynamodb_store: DynamoDbStore, size: int) -> None:
    counting = CountingClient(dynamodb_store.client)
    store = DynamoDbStore(dynamodb_store.table, client=counting)
    assert store.prepare_draw(E, SECRET) == DrawState(SECRET)
    assert counting.calls == ["update_item"]
    for n in range(1, size + 1):
        dynamodb_store.enter(E, rid(n), None, T0)
    counting.calls.clear()
    assert store.open_draw(E, OPENS) == DrawState(SECRET, size, OPENS)
    assert counting.calls == ["update_item"]
    counting.calls.clear()
    assert store.open_draw(E, OPENS + 5) == DrawState(SECRET, size, OPENS)  # the refused write returns the item
    assert counting.calls == ["update_item"]


def test_reads_cost_the_same_in_a_drawn_event_as_in_a_fifo_one(dynamodb_store: DynamoDbStore) -> None:
    ids = pre_queue(dynamodb_store, 5)
    dynamodb_store.open_draw(E, OPENS)
    dynamodb_store.enter(FIFO, rid(99), None, T0)
    counting = CountingClient(dynamodb_store.client)
    store = DynamoDbStore(dynamodb_store.table, client=counting)
    for event, request_id in ((FIFO, rid(99)), (E, ids[0])):
        counting.calls.clear()
        assert store.get_ticket(event, request_id, OPENS) is not None
        assert counting.calls == ["get_item", "batch_get_item"], event  # the draw comes with the counters
        counting.calls.clear()
        store.counters(event)
        assert counting.calls == ["get_item"], event


def test_an_opener_that_loses_the_race_gets_the_winners_state(dynamodb_store: DynamoDbStore) -> None:
    pre_queue(dynamodb_store, 5)
    rival = DynamoDbStore(dynamodb_store.table, client=dynamodb_store.client)
    racing = DynamoDbStore(dynamodb_store.table, client=RacingClient(
        dynamodb_store.client, lambda: rival.open_draw(E, OPENS), races=1, operation="update_item"))
    assert racing.open_draw(E, OPENS + 1) == DrawState(SECRET, 5, OPENS)
    assert dynamodb_store.draw_state(E) == DrawState(SECRET, 5, OPENS)


def test_an_entry_just_before_the_opening_is_in_the_draw_and_one_just_after_follows_it(
        dynamodb_store: DynamoDbStore) -> None:
    pre_queue(dynamodb_store, 4)
    rival = DynamoDbStore(dynamodb_store.table, client=dynamodb_store.client)
    # a visitor takes arrival index 5 between the opener's decision and its write: the draw holds 5 places
    racing = DynamoDbStore(dynamodb_store.table, client=RacingClient(
        dynamodb_store.client, lambda: rival.enter(E, rid(5), None, OPENS), races=1, operation="update_item"))
    assert racing.open_draw(E, OPENS) == DrawState(SECRET, 5, OPENS)
    ticket = dynamodb_store.get_ticket(E, rid(5), OPENS)
    assert ticket is not None and ticket.position == draw.position_of(SECRET, 5, 5)
    # the opening lands between a visitor's claim and its arrival index: it follows the drawn places
    racing = DynamoDbStore(dynamodb_store.table, client=RacingClient(
        dynamodb_store.client, lambda: rival.open_draw(E, OPENS), races=1, operation="update_item"))
    late = racing.enter(E, rid(6), None, OPENS + 1)
    assert (late.position, late.status) == (6, Status.WAITING)
    assert dynamodb_store.get_ticket(E, rid(6), OPENS + 1) == late
    positions = [dynamodb_store.get_ticket(E, rid(n), OPENS + 1).position for n in range(1, 7)]  # type: ignore[union-attr]
    assert sorted(positions) == [1, 2, 3, 4, 5, 6]


def test_a_door_admission_racing_the_opening_admits_by_drawn_position(dynamodb_store: DynamoDbStore) -> None:
    pre_queue(dynamodb_store, 4)
    drawn_position = draw.position_of(SECRET, 5, 5)
    assert drawn_position < 5, "the fixed secret must move the fifth place forward"
    rival = DynamoDbStore(dynamodb_store.table, client=dynamodb_store.client)
    # the place is written (arrival index 5), then the draw opens just before the door's transaction
    racing = DynamoDbStore(dynamodb_store.table, client=RacingClient(
        dynamodb_store.client, lambda: rival.open_draw(E, OPENS), races=1))
    ticket = racing.enter(E, rid(5), None, OPENS, DoorRule(max_active=10))
    # the transaction was refused (it assumed no draw), the place read again and admitted at its drawn position
    assert (ticket.position, ticket.status) == (drawn_position, Status.ADMITTED)
    assert dynamodb_store.counters(E).serving == drawn_position
    assert dynamodb_store.get_ticket(E, rid(5), OPENS) == ticket
    admitted = [n for n in range(1, 6)
                if dynamodb_store.get_ticket(E, rid(n), OPENS).status is Status.ADMITTED]  # type: ignore[union-attr]
    assert len(admitted) == drawn_position


@pytest.fixture
def served_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DynamoDbStore]:
    """A DynamoDB store on the moto server (the store sends batch reads from several threads,
    which moto's in-process mock does not take), counting its calls."""
    store, _ = moto_server.dynamodb_store(request, tmp_path)
    counted = DynamoDbStore(store.table, client=CountingClient(store.client))
    yield counted
    counted.close()


def test_the_sweep_finds_drawn_positions_by_batch_reads_and_late_ones_by_a_range_query(
        served_store: DynamoDbStore) -> None:
    store = served_store
    counting: CountingClient = store.client
    size, late = 110, 4
    store.prepare_draw(E, SECRET)
    ids = [rid(n) for n in range(1, size + late + 1)]
    for start in range(0, size, 25):
        store.enter_many(E, [(r, None) for r in ids[start:min(start + 25, size)]], T0)
    assert store.open_draw(E, OPENS).size == size
    store.enter_many(E, [(r, None) for r in ids[size:]], OPENS)
    position = {r: draw.position_of(SECRET, size, i) for i, r in enumerate(ids, start=1)}
    admitted = size + 2  # the drawn places and the first two late ones
    assert store.advance_serving(E, admitted, OPENS + 1) == admitted
    # sessions at the edges of the batch reads (100 keys each) and on both sides of the draw's end
    claimed = {r for r in ids if position[r] in (1, 50, 100, 101, 110, 112)}
    for n, r in enumerate(sorted(claimed)):
        store.issue_session(E, r, f"jti-{n}", int(OPENS), int(OPENS) + 10_000, OPENS + 2)

    counting.calls.clear()
    result = store.sweep(E, OPENS + 1 + 61, 60, False)
    assert result.expired == admitted - len(claimed)
    assert counting.calls.count("batch_get_item") == 2  # 110 drawn positions: two reads of 100 keys at most
    unclaimed = sorted((r for r in ids if r not in claimed and position[r] <= admitted), key=position.__getitem__)
    assert store.expired_request_ids(E, 1000) == unclaimed  # listed by position
    for r in [*unclaimed[:2], *unclaimed[-2:], *claimed]:
        ticket = store.get_ticket(E, r, OPENS + 70)
        assert ticket is not None and ticket.status is (Status.ISSUED if r in claimed else Status.EXPIRED)
    assert store.get_ticket(E, ids[-1], OPENS + 70).status is Status.WAITING  # type: ignore[union-attr]
    assert store.sweep(E, OPENS + 1 + 61, 60, False).expired == 0  # idempotent


def test_a_room_on_dynamodb_publishes_a_draw_that_verifies(dynamodb_store: DynamoDbStore) -> None:
    clock = ManualClock(T0)
    keyset = KeySet([SigningKey.generate(T0 - 10)])
    event = EventSettings(E, opens_at=OPENS, queueing=Queueing.RANDOM_BEFORE_OPENING,
                          admission=AdmissionPolicy(strategy=Strategy.MAX_ACTIVE, max_active=1000, every=1.0))
    room = WaitingRoom({E: event}, dynamodb_store, TokenSigner(lambda: keyset, clock.now), clock,
                       "https://wait.example")
    committed = room.draw_document(E)["commitment"]
    tickets = [room.enter(E) for _ in range(12)]
    assert all(t.status is Status.WAITING for t in tickets)
    clock.advance(OPENS - T0 + room.clock_skew + 1)
    late = room.enter(E)  # the first step after the opening time opens the draw, then enters
    document = room.draw_document(E)
    assert (document["state"], document["size"], document["commitment"]) == ("open", 12, committed)
    assert document["tickets"] == [t.ticket_id for t in tickets]
    checked = draw.verify(committed, document["secret"], document["tickets"], document["size"])
    assert checked.ok, checked.problems
    assert {t.ticket_id: room.ticket(E, t.request_id).position for t in tickets} == checked.positions
    assert late.position == 13


class HoldingClient:
    """A DynamoDB client that, at the first call of ``operation``, sets ``reached`` and (with
    ``hold``) waits for ``release`` before sending it; after the call it sets ``done``."""

    def __init__(self, client: Any, operation: str, hold: bool) -> None:
        self._client = client
        self._operation = operation
        self._hold = hold
        self.reached, self.release, self.done = threading.Event(), threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != self._operation:
            return method

        def call(**kwargs: Any) -> Any:
            first = not self.reached.is_set()
            self.reached.set()
            if first and self._hold and not self.release.wait(CONCURRENCY_TIMEOUT):
                raise TimeoutError("the test never released the held call")
            try:
                return method(**kwargs)
            finally:
                self.done.set()

        return call


def test_the_published_list_waits_for_a_place_still_being_written_at_the_opening(served_store: DynamoDbStore) -> None:
    pre_queue(served_store, 3)
    plain = served_store.client.inner
    # the fourth visitor takes arrival index 4, then its place's write is held back
    writer = HoldingClient(plain, "batch_write_item", hold=True)
    entering = ThreadPoolExecutor(2)
    try:
        entry = entering.submit(DynamoDbStore(served_store.table, client=writer).enter, E, rid(4), None, T0 + 4)
        assert writer.reached.wait(CONCURRENCY_TIMEOUT), "timed out waiting for the entry to take its index"
        assert served_store.open_draw(E, time.time()).size == 4  # the opening meets the place in flight
        # the list is read while the place is missing, and the write is let go only after that read
        reader = HoldingClient(plain, "query", hold=False)
        listing = entering.submit(DynamoDbStore(served_store.table, client=reader, timeout=60).arrivals, E, 1, 10)
        assert reader.done.wait(CONCURRENCY_TIMEOUT), "timed out waiting for the list's first read"
        writer.release.set()
        assert listing.result(CONCURRENCY_TIMEOUT) == [rid(1), rid(2), rid(3), rid(4)]
        assert entry.result(CONCURRENCY_TIMEOUT).position == 4  # as of taking its index, before the opening
        assert served_store.get_ticket(E, rid(4), T0 + 5).position == draw.position_of(SECRET, 4, 4)  # type: ignore[union-attr]
    finally:
        writer.release.set()  # never leave the entry hanging, whatever failed
        entering.shutdown()
