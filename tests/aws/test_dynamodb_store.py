"""The DynamoDB store against moto: the semantics of the SQLite store, position by position."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from core.adapters.dynamodb import DynamoDbStore
from core.adapters.sqlite import SqliteStore
from core.errors import InvalidTransition, NotAdmitted, PositionExpired, SessionEnded
from core.model import Status

E = "spring-sale"
T0 = 1_800_000_000.0


def rid(n: int) -> str:
    return f"request-{n:06d}-abcdefghijklmnop"


def test_positions_are_consecutive_and_idempotent(dynamodb_store: DynamoDbStore) -> None:
    tickets = [dynamodb_store.enter(E, rid(n), f"key-{n}", T0 + n) for n in range(1, 6)]
    assert [t.position for t in tickets] == [1, 2, 3, 4, 5]
    again = dynamodb_store.enter(E, rid(99), "key-3", T0 + 10)
    assert (again.request_id, again.position) == (rid(3), 3)
    assert dynamodb_store.counters(E).last_position == 5
    assert dynamodb_store.enter("other-event", rid(7), "key-3", T0).position == 1


class RacingClient:
    """A DynamoDB client that lets a rival act just before each of our calls of one operation.

    moto is not thread-safe, so races are staged deterministically: the first ``races`` calls
    of ``operation`` (``transact_write_items`` unless told) meet the rival's work first.
    """

    def __init__(self, client: Any, rival: Any, races: int, operation: str = "transact_write_items") -> None:
        self._client = client
        self._rival = rival
        self._operation = operation
        self.races = races

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != self._operation:
            return method

        def racing(**kwargs: Any) -> Any:
            if self.races > 0:
                self.races -= 1
                self._rival()
            return method(**kwargs)

        return racing


def test_racing_enters_get_unique_gap_free_positions(dynamodb_store: DynamoDbStore) -> None:
    rival_store = DynamoDbStore(dynamodb_store.table, client=dynamodb_store.client)
    counter = iter(range(1000, 2000))
    # three rivals take positions between our claim and our counter update
    racing = DynamoDbStore(dynamodb_store.table, client=RacingClient(
        dynamodb_store.client, lambda: rival_store.enter(E, rid(next(counter)), None, T0), races=3,
        operation="update_item"))
    ticket = racing.enter(E, rid(1), "key-1", T0)
    assert ticket.position == 2  # one update, no read before it: the rival's place came first
    assert racing.enter_many(E, [(rid(4), None), (rid(5), None)], T0)[0].position == 4  # the block after a rival
    # a retried request whose first attempt raced with another retry of the same key: the key's claim
    # is the rival's, so this request takes no place and gets the rival's ticket
    racing = DynamoDbStore(dynamodb_store.table, client=RacingClient(
        dynamodb_store.client, lambda: rival_store.enter(E, rid(2), "key-2", T0), races=1, operation="batch_get_item"))
    racing.get_ticket(E, rid(1), T0)  # reads through the racing client: the rival enters first
    assert racing.enter(E, rid(3), "key-2", T0).request_id == rid(2)
    assert dynamodb_store.get_ticket(E, rid(3), T0) is None
    positions = sorted(t.position for t in (dynamodb_store.get_ticket(E, r, T0)
                                            for r in [rid(1), rid(2), rid(1000), rid(1001), rid(4), rid(5)])
                       if t is not None)
    assert positions == [1, 2, 3, 4, 5, 6]
    assert dynamodb_store.counters(E).last_position == 6


def test_racing_sweep_and_token_issue(dynamodb_store: DynamoDbStore) -> None:
    for n in range(1, 4):
        dynamodb_store.enter(E, rid(n), None, T0)
    dynamodb_store.advance_serving(E, 3, T0)
    rival_store = DynamoDbStore(dynamodb_store.table, client=dynamodb_store.client)
    # tokens are issued to place 2 between the sweep's count and its write: the sweep recounts
    racing = DynamoDbStore(dynamodb_store.table, client=RacingClient(
        dynamodb_store.client, lambda: rival_store.issue_session(E, rid(2), "j", int(T0), int(T0) + 999, T0),
        races=1))
    result = racing.sweep(E, T0 + 100, 60, False)
    assert result.expired == 2
    ticket = dynamodb_store.get_ticket(E, rid(2), T0 + 100)
    assert ticket is not None and ticket.status is Status.ISSUED
    assert dynamodb_store.counters(E).expired == 2


def test_admission_tokens_and_end(dynamodb_store: DynamoDbStore) -> None:
    for n in range(1, 4):
        dynamodb_store.enter(E, rid(n), None, T0)
    with pytest.raises(NotAdmitted):
        dynamodb_store.issue_session(E, rid(1), "jti-1", int(T0), int(T0) + 60, T0)
    assert dynamodb_store.advance_serving(E, 10, T0 + 1) == 3  # clamped to the line
    ticket = dynamodb_store.get_ticket(E, rid(2), T0 + 2)
    assert ticket is not None and ticket.status is Status.ADMITTED and ticket.admitted_at == T0 + 1
    issued = dynamodb_store.issue_session(E, rid(2), "jti-2", int(T0), int(T0) + 60, T0 + 2)
    assert issued.status is Status.ISSUED and issued.session is not None and issued.session.jti == "jti-2"
    again = dynamodb_store.issue_session(E, rid(2), "jti-other", int(T0) + 5, int(T0) + 65, T0 + 3)
    assert again.session == issued.session
    ended = dynamodb_store.end_session(E, rid(2), Status.COMPLETED, T0 + 4)
    assert ended.status is Status.COMPLETED
    with pytest.raises(InvalidTransition):
        dynamodb_store.end_session(E, rid(2), Status.ABANDONED, T0 + 5)
    with pytest.raises(SessionEnded):
        dynamodb_store.issue_session(E, rid(2), "jti-3", int(T0), int(T0) + 60, T0 + 6)
    counters = dynamodb_store.counters(E)
    assert (counters.serving, counters.issued, counters.completed, counters.active) == (3, 1, 1, 2)
    assert dynamodb_store.advance_serving(E, -5, T0 + 7) == 0
    assert [s for _, s in dynamodb_store.serving_history(E, T0)] == [3, 0]


def test_sweep_expires_unclaimed_places_and_moves_the_line(dynamodb_store: DynamoDbStore) -> None:
    for n in range(1, 7):
        dynamodb_store.enter(E, rid(n), None, T0)
    dynamodb_store.advance_serving(E, 2, T0)
    dynamodb_store.issue_session(E, rid(1), "jti-1", int(T0), int(T0) + 30, T0)
    assert dynamodb_store.sweep(E, T0 + 10, 60, True).expired == 0
    result = dynamodb_store.sweep(E, T0 + 61, 60, True)
    assert (result.expired, result.timed_out, result.serving) == (1, 1, 3)
    assert dynamodb_store.sweep(E, T0 + 61, 60, True).expired == 0  # idempotent
    expired = dynamodb_store.get_ticket(E, rid(2), T0 + 62)
    assert expired is not None and expired.status is Status.EXPIRED
    with pytest.raises(PositionExpired):
        dynamodb_store.issue_session(E, rid(2), "jti-2", int(T0), int(T0) + 60, T0 + 62)
    timed_out = dynamodb_store.get_ticket(E, rid(1), T0 + 62)
    assert timed_out is not None and timed_out.status is Status.TIMED_OUT
    assert dynamodb_store.expired_request_ids(E, 10) == [rid(1), rid(2)]
    counters = dynamodb_store.counters(E)
    assert (counters.expired, counters.timed_out, counters.serving) == (1, 1, 3)


def test_ticks_controls_reset_and_kv(dynamodb_store: DynamoDbStore) -> None:
    assert dynamodb_store.claim_tick(E, "admission", 5)
    assert not dynamodb_store.claim_tick(E, "admission", 5)
    assert not dynamodb_store.claim_tick(E, "admission", 4)
    assert dynamodb_store.claim_tick(E, "admission", 6)
    dynamodb_store.set_control(E, "paused", "1")
    dynamodb_store.set_control(E, "increment_by", "5")
    dynamodb_store.set_control(E, "increment_by", None)
    assert dynamodb_store.get_control(E) == {"paused": "1"}
    dynamodb_store.enter(E, rid(1), "k", T0)
    dynamodb_store.reset(E)
    assert dynamodb_store.counters(E).last_position == 0
    assert dynamodb_store.get_control(E) == {}
    assert dynamodb_store.get_ticket(E, rid(1), T0) is None
    assert dynamodb_store.enter(E, rid(2), "k", T0).position == 1
    assert dynamodb_store.claim_tick(E, "admission", 1)

    dynamodb_store.put("codes", "abc", "value", 60, T0)
    assert dynamodb_store.get("codes", "abc", T0 + 1) == "value"
    assert dynamodb_store.take("codes", "abc", T0 + 1) == "value"
    assert dynamodb_store.take("codes", "abc", T0 + 1) is None
    dynamodb_store.put("codes", "old", "value", 60, T0)
    assert dynamodb_store.get("codes", "old", T0 + 60) is None
    assert dynamodb_store.take("codes", "old", T0 + 61) is None
    dynamodb_store.put("codes", "gone", "v", 60, T0)
    dynamodb_store.delete("codes", "gone")
    assert dynamodb_store.get("codes", "gone", T0) is None
    dynamodb_store.ping()

    assert [dynamodb_store.incr("rate", "ip", 10, T0 + i) for i in range(3)] == [1, 2, 3]
    assert dynamodb_store.incr("rate", "ip", 10, T0 + 10) == 1  # the window closed: a new one
    assert dynamodb_store.incr("rate", "other", 10, T0 + 10) == 1


def test_ttl_attribute_is_set_on_codes(dynamodb_store: DynamoDbStore) -> None:
    dynamodb_store.put("codes", "abc", "value", 60, T0)
    item = dynamodb_store.client.get_item(TableName=dynamodb_store.table,
                                          Key={"pk": {"S": "KV#codes"}, "sk": {"S": "abc"}})["Item"]
    assert int(item["ttl"]["N"]) >= T0 + 60


def test_from_url() -> None:
    store = DynamoDbStore.from_url("dynamodb://state?region=eu-west-1&kv_table=codes")
    assert (store.table, store.kv_table) == ("state", "codes")
    with pytest.raises(ValueError):
        DynamoDbStore.from_url("dynamodb://state?bogus=1")


def _snapshot(store: Any, request_ids: list[str], now: float) -> Any:
    tickets = []
    for r in request_ids:
        t = store.get_ticket(E, r, now)
        tickets.append(None if t is None else (t.position, t.status, t.admitted_at, t.session))
    return store.counters(E), tickets, store.expired_request_ids(E, 100)


def test_behaves_like_the_sqlite_store(dynamodb_store: DynamoDbStore, tmp_path: Path) -> None:
    """A random walk of every operation gives the same results on both stores."""
    sqlite = SqliteStore(str(tmp_path / "state.db"))
    rng = random.Random(5)
    now = T0
    entered: list[str] = []
    issued: list[str] = []
    seen: set[tuple[str, str]] = set()
    for step in range(160):
        now += rng.choice([0.5, 1, 3, 7])
        op = rng.choice(["enter", "enter", "enter", "advance", "issue", "end", "sweep"])
        key = f"key-{rng.randrange(40)}" if step % 2 else None
        by = rng.randint(-2, 6)
        target = rng.choice(entered) if entered else None
        if op == "end" and issued and rng.random() < 0.8:
            target = rng.choice(issued)
        outcomes: list[Any] = []
        for store in (sqlite, dynamodb_store):
            try:
                if op == "enter":
                    t = store.enter(E, rid(step), key, now)
                    outcomes.append((t.request_id, t.position, t.status))
                elif op == "advance":
                    outcomes.append(store.advance_serving(E, by, now))
                elif op == "issue" and target:
                    t = store.issue_session(E, target, f"jti-{step}", int(now), int(now) + 20, now)
                    outcomes.append((t.status, t.session))
                elif op == "end" and target:
                    status = Status.COMPLETED if step % 3 else Status.ABANDONED
                    outcomes.append(store.end_session(E, target, status, now).status)
                elif op == "sweep":
                    outcomes.append(store.sweep(E, now, 15, step % 4 != 0))
                else:
                    outcomes.append(None)
            except Exception as exc:  # the same domain error on both sides counts as the same outcome
                outcomes.append(type(exc).__name__)
        assert outcomes[0] == outcomes[1], (step, op, outcomes)
        if op == "issue" and target and isinstance(outcomes[0], tuple):
            issued.append(target)
        if op == "enter" and outcomes[0][0] not in entered:
            entered.append(outcomes[0][0])
        if step % 10 == 9:
            assert _snapshot(sqlite, entered, now) == _snapshot(dynamodb_store, entered, now), (step, op)
        seen.add((op, str(outcomes[0])[:12]))
    assert sqlite.serving_history(E, T0) == dynamodb_store.serving_history(E, T0)
    assert _snapshot(sqlite, entered, now) == _snapshot(dynamodb_store, entered, now)
    assert {op for op, _ in seen} == {"enter", "advance", "issue", "end", "sweep"}
    assert any(op == "end" and not out.startswith(("Invalid", "None")) for op, out in seen), seen
    assert ("issue", "PositionExpi") in seen


def test_a_request_id_repeated_in_one_list_under_two_keys_gets_one_place(dynamodb_store: DynamoDbStore) -> None:
    tickets = dynamodb_store.enter_many(E, [(rid(1), "key-a"), (rid(1), "key-b"), (rid(2), None)], T0)
    assert [(t.request_id, t.position) for t in tickets] == [(rid(1), 1), (rid(1), 1), (rid(2), 2)]
    assert dynamodb_store.counters(E).last_position == 2
