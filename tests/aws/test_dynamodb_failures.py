"""The DynamoDB store under failure: holes left by a failed write, throttling and conflicts.

Failures are injected on a real (moto) client by a wrapper that refuses chosen operations with
the exact errors DynamoDB sends, so every other call still goes to the table.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from core import draw
from core.adapters.dynamodb import DynamoDbStore
from core.errors import PositionExpired, StoreUnavailable
from core.model import Status
from oidc_adaptor.app import create_app
from tests.conftest import make_settings

E = "spring-sale"
T0 = 1_800_000_000.0
REGION = "eu-west-1"


def rid(n: int) -> str:
    return f"request-{n:06d}-abcdefghijklmnop"


def refusal(code: str, operation: str, reasons: list[str] | None = None) -> ClientError:
    """The ClientError botocore raises for an error response ``code`` (with cancellation reasons)."""
    response: dict[str, Any] = {"Error": {"Code": code, "Message": f"injected {code}"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, operation)  # type: ignore[arg-type]


class FailingClient:
    """A DynamoDB client whose next ``times`` calls of each operation in ``failures`` raise the
    error made by its factory (``times`` None: every call), counting the refusals."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.failures: dict[str, tuple[Any, int | None]] = {}
        self.refused: dict[str, int] = {}
        self.then: dict[str, Any] = {}
        self.when: dict[str, Any] = {}
        self._lock = threading.Lock()  # the store sends claims from several threads at once

    def fail(self, operation: str, error: Any, times: int | None = None, then: Any = None,
             when: Any = None) -> None:
        """Refuse ``operation`` ``times`` times (None: until cleared), only calls whose arguments
        satisfy ``when(kwargs)`` if given; ``then()`` runs at the first refusal."""
        self.failures[operation] = (error, times)
        if then is not None:
            self.then[operation] = then
        if when is not None:
            self.when[operation] = when

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            with self._lock:
                error, times = self.failures.get(name, (None, 0))
                refuse = error is not None and (times is None or times > 0) and self.when.get(
                    name, lambda _: True)(kwargs)
                if refuse:
                    if times is not None:
                        self.failures[name] = (error, times - 1)
                    self.refused[name] = self.refused.get(name, 0) + 1
                    then = self.then.pop(name, None)
            if refuse:
                if then is not None:
                    then()
                raise error(name)
            return method(**kwargs)

        return call


@pytest.fixture
def failing(dynamodb_table: str) -> FailingClient:
    return FailingClient(boto3.client("dynamodb", region_name=REGION))


@pytest.fixture
def store(dynamodb_table: str, failing: FailingClient) -> DynamoDbStore:
    return DynamoDbStore(dynamodb_table, client=failing, timeout=0.5, claim_lease=0.3)


def _internal_error(operation: str) -> ClientError:
    return refusal("InternalServerError", operation)


@pytest.mark.parametrize("recorded", [True, False], ids=["hole recorded", "recording failed too"])
def test_a_place_whose_write_failed_is_a_hole_that_the_sweep_expires(
        store: DynamoDbStore, failing: FailingClient, recorded: bool) -> None:
    # the write of the place fails after its position is allocated; without ``recorded`` the store
    # stays down for the hole's marker and the claim's release as well
    failing.fail("batch_write_item", _internal_error, times=1,
                 then=None if recorded else lambda: [failing.fail(op, _internal_error) for op in ("put_item",
                                                                                                   "delete_item")])
    with pytest.raises(StoreUnavailable):
        store.enter(E, rid(1), None, T0)
    failing.failures.clear()  # the store is back
    assert store.counters(E).last_position == 1  # position 1 was allocated, and is nobody's
    assert store.get_ticket(E, rid(1), T0) is None

    # never handed to anyone else: the retry (claims were given back) and the next visitor come after it
    assert store.enter(E, rid(1), None, T0 + 1).position == 2
    assert store.enter(E, rid(2), None, T0 + 1).position == 3
    assert store.enter(E, rid(3), None, T0 + 1).position == 4
    assert store.advance_serving(E, 3, T0 + 2) == 3
    for n in (1, 2):  # both real places admitted with them claim their tokens
        store.issue_session(E, rid(n), f"jti-{n}", int(T0) + 2, int(T0) + 10_000, T0 + 2)

    # the hole is admitted but never claimed: the sweep expires it and moves the line on for it
    result = store.sweep(E, T0 + 2 + 61, 60, True)
    assert (result.expired, result.serving) == (1, 4)
    assert store.get_ticket(E, rid(3), T0 + 64).status is Status.ADMITTED  # type: ignore[union-attr]
    counters = store.counters(E)
    assert (counters.expired, counters.active) == (1, 3)
    assert store.expired_request_ids(E, 10) == []  # a hole has no request id to list
    assert store.sweep(E, T0 + 2 + 61, 60, True).expired == 0  # idempotent


@pytest.mark.parametrize("recorded", [True, False], ids=["hole recorded", "recording failed too"])
def test_a_hole_in_the_pre_queue_expires_at_its_drawn_position(
        store: DynamoDbStore, failing: FailingClient, recorded: bool) -> None:
    secret, size, opens = "5ec7e7" * 10 + "0123", 6, T0 + 100
    store.prepare_draw(E, secret)
    store.enter(E, rid(1), None, T0)
    failing.fail("batch_write_item", _internal_error, times=1,
                 then=None if recorded else lambda: [failing.fail(op, _internal_error) for op in ("put_item",
                                                                                                   "delete_item")])
    with pytest.raises(StoreUnavailable):
        store.enter(E, rid(2), None, T0 + 1)  # arrival index 2 is a hole
    failing.failures.clear()
    for n in range(2, 6):  # indexes 3..6 (the failed request enters again, behind the hole)
        store.enter(E, rid(n), None, T0 + n)
    assert store.open_draw(E, opens).size == size
    assert store.arrivals(E, 1, 10) == [rid(1), None, rid(2), rid(3), rid(4), rid(5)]
    hole = draw.position_of(secret, size, 2)
    assert 1 < hole < size, "the fixed secret must draw the hole into the middle"
    places = {rid(n): store.get_ticket(E, rid(n), opens) for n in range(1, 6)}
    assert sorted([hole, *(t.position for t in places.values() if t is not None)]) == list(range(1, size + 1))

    # admitted up to just before the hole, every place claims its tokens: nothing expires
    store.advance_serving(E, hole - 1, opens + 1)
    ahead = [r for r, t in places.items() if t is not None and t.position < hole]
    for n, r in enumerate(ahead):
        store.issue_session(E, r, f"jti-{n}", int(opens), int(opens) + 10_000, opens + 2)
    assert store.sweep(E, opens + 1 + 61, 60, True).expired == 0
    # the hole is admitted next and never claimed: it expires at its drawn position and the line moves on
    store.advance_serving(E, 1, opens + 70)
    result = store.sweep(E, opens + 70 + 61, 60, True)
    assert (result.expired, result.serving) == (1, hole + 1)
    after = next(r for r, t in places.items() if t is not None and t.position == hole + 1)
    assert store.get_ticket(E, after, opens + 132).status is Status.ADMITTED  # type: ignore[union-attr]
    assert store.expired_request_ids(E, 10) == []  # a hole has no request id to list
    assert store.counters(E).expired == 1


def test_a_failed_batch_leaves_holes_and_its_retry_enters_every_entry_once(
        store: DynamoDbStore, failing: FailingClient) -> None:
    entries = [(rid(n), f"msg-{n}") for n in range(1, 4)]
    failing.fail("batch_write_item", _internal_error, times=1)
    with pytest.raises(StoreUnavailable):
        store.enter_many(E, entries, T0)
    again = store.enter_many(E, entries, T0 + 1)  # the queue redelivers the batch
    assert [t.position for t in again] == [4, 5, 6]
    assert store.enter_many(E, entries, T0 + 2) == again  # and again: the same places
    assert store.counters(E).last_position == 6


def test_a_failed_claim_is_given_back_so_a_retry_enters_at_once(failing: FailingClient, dynamodb_table: str) -> None:
    store = DynamoDbStore(dynamodb_table, client=failing, timeout=0.5, claim_lease=30)  # no takeover here
    # the key's claim fails while the request id's (sent at the same time) succeeds
    failing.fail("put_item", _internal_error, times=1, when=lambda kw: kw["Item"]["sk"]["S"].startswith("IDEM#"))
    with pytest.raises(StoreUnavailable):
        store.enter(E, rid(1), "client-key", T0)
    assert store.counters(E).last_position == 0
    assert store.enter(E, rid(1), "client-key", T0 + 1).position == 1  # no wait for the lease
    assert store.enter(E, rid(2), "client-key", T0 + 2).request_id == rid(1)


def test_a_claim_left_by_a_dead_caller_is_taken_over_after_the_lease(
        store: DynamoDbStore, failing: FailingClient, dynamodb_table: str) -> None:
    # the store dies after the claims: nothing can be given back
    failing.fail("update_item", _internal_error, times=1)
    failing.fail("delete_item", _internal_error, times=2)
    with pytest.raises(StoreUnavailable):
        store.enter(E, rid(1), "client-key", T0)
    # within the lease a retry waits for the claimer, then gives up: no place handed out
    impatient = DynamoDbStore(dynamodb_table, client=failing, timeout=0.05, claim_lease=30)
    with pytest.raises(StoreUnavailable, match="still being written"):
        impatient.enter(E, rid(2), "client-key", T0 + 1)
    assert store.counters(E).last_position == 0
    time.sleep(store.claim_lease + 0.1)  # past the lease, the claim is anyone's
    ticket = store.enter(E, rid(2), "client-key", T0 + 1)
    assert ticket.position == 1
    assert store.enter(E, rid(3), "client-key", T0 + 2) == ticket
    assert store.counters(E).last_position == 1


@pytest.mark.parametrize("error", [
    lambda op: refusal("ProvisionedThroughputExceededException", op),
    lambda op: refusal("ThrottlingException", op),
    lambda op: refusal("RequestLimitExceeded", op),
    lambda op: refusal("TransactionConflictException", op),
], ids=["ProvisionedThroughputExceeded", "Throttling", "RequestLimitExceeded", "TransactionConflict"])
def test_throttling_and_conflicts_are_retried(store: DynamoDbStore, failing: FailingClient, error: Any) -> None:
    for operation in ("put_item", "update_item", "batch_write_item", "get_item", "batch_get_item"):
        failing.fail(operation, error, times=2)
    ticket = store.enter(E, rid(1), "key", T0)
    assert ticket.position == 1
    assert store.get_ticket(E, rid(1), T0) == ticket
    assert failing.refused["update_item"] == 2 and failing.refused["batch_get_item"] == 2


def test_ticket_reads_take_no_transaction(store: DynamoDbStore, failing: FailingClient) -> None:
    """A read must not be cancelled by a write in flight on the counters item (TransactGetItems is)."""
    entered = store.enter(E, rid(1), None, T0)
    failing.fail("transact_get_items",
                 lambda op: refusal("TransactionCanceledException", op, ["None", "TransactionConflict"]))
    assert store.get_ticket(E, rid(1), T0) == entered
    store.set_alias(E, "browser", rid(1), "", 60, T0)
    assert store.resolve_alias(E, "browser", T0) == (rid(1), "", entered)
    assert "transact_get_items" not in failing.refused


def test_a_transaction_cancelled_for_a_conflict_is_retried_one_cancelled_by_a_condition_is_not(
        store: DynamoDbStore, failing: FailingClient) -> None:
    store.enter(E, rid(1), None, T0)
    failing.fail("transact_write_items",
                 lambda op: refusal("TransactionCanceledException", op, ["None", "TransactionConflict"]), times=3)
    assert store.advance_serving(E, 1, T0 + 1) == 1
    assert failing.refused["transact_write_items"] == 3
    failing.fail("transact_write_items",
                 lambda op: refusal("TransactionCanceledException", op, ["ConditionalCheckFailed", "None"]), times=1)
    assert store.advance_serving(E, -1, T0 + 2) == 0  # re-read and tried again by the optimistic loop


@pytest.fixture
def app_and_client(tmp_path: Path, store: DynamoDbStore) -> Any:
    app = create_app(make_settings(tmp_path, server={"retry_after": 7}), store=store, start_scheduler=False)
    return app, app.test_client()


@pytest.mark.parametrize("code,reasons", [
    ("TransactionCanceledException", ["TransactionConflict", "None"]),
    ("ProvisionedThroughputExceededException", None),
    ("ThrottlingException", None),
    ("RequestLimitExceeded", None),
])
def test_a_store_that_keeps_refusing_answers_503_with_retry_after_never_500(
        app_and_client: Any, failing: FailingClient, code: str, reasons: list[str] | None) -> None:
    _, web = app_and_client
    entered = web.post("/assign_queue_num", json={"event_id": E})
    assert entered.status_code == 200
    request_id = entered.get_json()["request_id"]
    for operation in ("get_item", "batch_get_item", "transact_get_items", "put_item", "update_item",
                      "batch_write_item"):
        failing.fail(operation, lambda op: refusal(code, op, reasons))
    polled = web.get("/queue_num", query_string={"event_id": E, "request_id": request_id})
    assert polled.status_code == 503, polled.data
    assert polled.headers["Retry-After"] == "7"
    assert polled.get_json()["error"] == "store_unavailable"
    again = web.post("/assign_queue_num", json={"event_id": E})
    assert again.status_code == 503 and again.headers["Retry-After"] == "7"
    failing.failures.clear()  # the store recovers: the visitor's place is still there
    polled = web.get("/queue_num", query_string={"event_id": E, "request_id": request_id})
    assert polled.status_code == 200 and polled.get_json()["queue_number"] == 1


def test_an_entry_in_flight_during_a_reset_never_shares_a_place(
        dynamodb_table: str, failing: FailingClient) -> None:
    """A reset is several calls on DynamoDB: an entry whose position was allocated before the
    counters were deleted writes its place after. The line then hands that position out again
    after the reset; the two visitors must not both hold it, nor share one session's tokens."""
    store = DynamoDbStore(dynamodb_table, client=failing, timeout=0.5, claim_lease=0.3)
    for n in range(1, 3):
        store.enter(E, rid(n), None, T0)
    real_client = failing._client
    once: list[int] = []

    class ResetBeforeWrite:  # the reset runs between the entry's ADD and its write of the place
        def __getattr__(self, name: str) -> Any:
            return getattr(real_client, name)

        def batch_write_item(self, **kwargs: Any) -> Any:
            if not once:
                once.append(1)
                store.reset(E)
            return real_client.batch_write_item(**kwargs)

    failing._client = ResetBeforeWrite()
    late = store.enter(E, rid(3), None, T0 + 1)  # allocated position 3 before the reset
    assert late.position == 3
    failing._client = real_client
    fresh = [store.enter(E, rid(n), None, T0 + 2) for n in range(4, 7)]
    assert [t.position for t in fresh] == [1, 2, 3]
    store.advance_serving(E, 3, T0 + 3)
    store.issue_session(E, rid(6), "jti-fresh", int(T0) + 3, int(T0) + 10_000, T0 + 3)
    holders = [n for n in (3, 6) if (t := store.get_ticket(E, rid(n), T0 + 3)) is not None
               and t.position == 3 and t.status in (Status.ADMITTED, Status.ISSUED)]
    assert len(holders) == 1, f"position 3 is held by {holders}"
    assert store.get_ticket(E, rid(3), T0 + 3).status is Status.EXPIRED  # type: ignore[union-attr]
    with pytest.raises(PositionExpired):  # no tokens on a place that is not its own
        store.issue_session(E, rid(3), "jti-late", int(T0) + 3, int(T0) + 10_000, T0 + 3)
