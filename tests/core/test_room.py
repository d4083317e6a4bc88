"""Use cases of core/room.py over the SQLite store with a manual clock."""

from __future__ import annotations

import pytest

from core.adapters.sqlite import SqliteStore
from core.clock import ManualClock
from core.errors import InvalidArgument, InvalidTransition, NotAdmitted, PositionExpired, UnknownEvent, UnknownRequest
from core.model import REQUEST_ID_PATTERN, AdmissionPolicy, EventSettings, Status, Strategy
from core.room import MAX_INCREMENT, WaitingRoom, new_request_id
from core.rules import SESSION_LOOKUP_GRACE
from core.tokens import KeySet, TokenVerifier

from .conftest import ISSUER, RoomFactory, periodic


def verifier(keyset: KeySet, audience: str = "sale", use: str = "access") -> TokenVerifier:
    jwks = {k["kid"]: k for k in keyset.jwks(1_000_000_000.0)["keys"]}
    return TokenVerifier(jwks.get, issuer=ISSUER, audience=audience, required_use=use, leeway=10**10)


def test_request_ids_are_unguessable_and_unique() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(REQUEST_ID_PATTERN.match(r) and len(r) * 6 >= 128 for r in ids)


def test_enter_and_position(room: WaitingRoom) -> None:
    first = room.enter("sale")
    second = room.enter("sale")
    assert (first.position, second.position) == (1, 2)
    view = room.position("sale", second.request_id)
    assert (view.position, view.serving, view.ahead, view.status) == (2, 0, 1, Status.WAITING)
    room.advance("sale", 1)
    assert room.position("sale", second.request_id).ahead == 0
    assert room.position("sale", first.request_id).status is Status.ADMITTED


def test_enter_is_idempotent_per_key_and_validates_it(room: WaitingRoom) -> None:
    a = room.enter("sale", "key-1-retry-key-0123456789")
    assert room.enter("sale", "key-1-retry-key-0123456789").request_id == a.request_id
    for bad in ("", "x" * 129):
        with pytest.raises(InvalidArgument):
            room.enter("sale", bad)
    assert room.counters("sale").last_position == 1


def test_enter_many_enters_made_request_ids_in_order_after_checking_every_one(
    room: WaitingRoom, clock: ManualClock,
) -> None:
    ids = [new_request_id() for _ in range(3)]
    key = "client-key-0123456789abcdef"
    tickets = room.enter_many("sale", [(ids[0], ids[0]), (ids[1], key), (ids[2], key)])
    assert [(t.request_id, t.position) for t in tickets] == [(ids[0], 1), (ids[1], 2), (ids[1], 2)]
    assert tickets[0].entered_at == clock.now()
    room.check_entry("sale", new_request_id(), None)
    bad_entries = [("nope", [(new_request_id(), None)], UnknownEvent),
                   ("sale", [(new_request_id(), None), ("short", None)], InvalidArgument),
                   ("sale", [(new_request_id(), None), (new_request_id(), "x" * 129)], InvalidArgument),
                   ("sale", [(new_request_id(), "")], InvalidArgument),
                   ("sale", [(new_request_id(), "client-key")], InvalidArgument)]
    for event_id, entries, error in bad_entries:
        with pytest.raises(error):
            room.enter_many(event_id, entries)
    assert room.counters("sale").last_position == 2  # a list with an invalid entry enters nothing


def test_unknown_event_and_request(room: WaitingRoom) -> None:
    for call in (lambda: room.enter("nope"), lambda: room.counters("nope"), lambda: room.advance("nope", 1)):
        with pytest.raises(UnknownEvent):
            call()
    for bad in ("short", new_request_id(), "../../etc/passwd-aaaaaaaaaaaaaaa", 42):
        with pytest.raises(UnknownRequest):
            room.ticket("sale", bad)  # type: ignore[arg-type]


def test_tokens_only_for_admitted_visitors(room: WaitingRoom, keyset: KeySet, clock: ManualClock) -> None:
    ticket = room.enter("sale")
    with pytest.raises(NotAdmitted):
        room.issue_tokens("sale", ticket.request_id)
    assert room.counters("sale").issued == 0
    room.advance("sale", 1)
    clock.advance(5)
    tokens = room.issue_tokens("sale", ticket.request_id)
    claims = verifier(keyset).verify(tokens.access_token)
    id_claims = verifier(keyset, use="id").verify(tokens.id_token)
    assert claims["sub"] == ticket.ticket_id != ticket.request_id
    assert ticket.request_id not in tokens.access_token + tokens.id_token
    assert (claims["iss"], claims["aud"], claims["event_id"], claims["queue_position"]) == (ISSUER, "sale", "sale", 1)
    assert claims["exp"] - claims["iat"] == 600 and claims["nbf"] == claims["iat"] == int(clock.now())
    assert id_claims["sub"] == claims["sub"] and id_claims["jti"] == claims["jti"] + ".id"
    assert tokens.expires_in == 600 and tokens.token_type == "Bearer"


def test_reissuing_gives_equivalent_tokens(room: WaitingRoom, keyset: KeySet, clock: ManualClock) -> None:
    ticket = room.enter("sale")
    room.advance("sale", 1)
    first = verifier(keyset).verify(room.issue_tokens("sale", ticket.request_id).access_token)
    clock.advance(100)
    again = room.issue_tokens("sale", ticket.request_id, validity=5)
    second = verifier(keyset).verify(again.access_token)
    assert first == second
    assert again.expires_in == 500
    assert room.counters("sale").issued == 1


def test_token_validity_bounds(room: WaitingRoom) -> None:
    ticket = room.enter("sale")
    room.advance("sale", 1)
    for bad in (0, -1, 7 * 24 * 3600 + 1):
        with pytest.raises(InvalidArgument):
            room.issue_tokens("sale", ticket.request_id, validity=bad)
    assert room.issue_tokens("sale", ticket.request_id, validity=30).expires_in == 30


def test_expired_position_gets_no_tokens(room: WaitingRoom, clock: ManualClock) -> None:
    ticket = room.enter("sale")
    room.enter("sale")
    room.advance("sale", 1)
    clock.advance(60)
    result = room.sweep("sale")
    assert (result.expired, result.serving) == (1, 2)  # incr_serving_on_expiry defaults to on
    with pytest.raises(PositionExpired):
        room.issue_tokens("sale", ticket.request_id)
    assert room.expired_request_ids("sale") == [ticket.request_id]


def test_end_session_validates_status(room: WaitingRoom) -> None:
    ticket = room.enter("sale")
    room.advance("sale", 1)
    for bad in ("expired", "timed_out", "done", Status.ISSUED):
        with pytest.raises(InvalidArgument):
            room.end_session("sale", ticket.request_id, bad)
    with pytest.raises(InvalidTransition):
        room.end_session("sale", ticket.request_id, "completed")  # no tokens yet
    room.issue_tokens("sale", ticket.request_id)
    assert room.end_session("sale", ticket.request_id, "abandoned").status is Status.ABANDONED
    assert room.counters("sale").abandoned == 1


def test_a_session_is_found_by_its_jti_until_a_grace_after_its_tokens(
    room: WaitingRoom, keyset: KeySet, clock: ManualClock
) -> None:
    ticket = room.enter("sale")
    room.advance("sale", 1)
    jti = verifier(keyset).verify(room.issue_tokens("sale", ticket.request_id).access_token)["jti"]
    assert room.session_ticket("sale", jti).request_id == ticket.request_id
    for unknown in ("", "j" * 129, "never-issued", 7):
        with pytest.raises(UnknownRequest):
            room.session_ticket("sale", unknown)  # type: ignore[arg-type]
    with pytest.raises(UnknownEvent):
        room.session_ticket("nope", jti)
    assert room.end_session_by_jti("sale", jti, "completed").status is Status.COMPLETED
    clock.advance(600 + SESSION_LOOKUP_GRACE - 1)  # tokens last 600 s
    assert room.session_ticket("sale", jti).status is Status.COMPLETED
    clock.advance(1)
    with pytest.raises(UnknownRequest):
        room.session_ticket("sale", jti)


def test_advance_rejects_odd_increments(room: WaitingRoom) -> None:
    room.enter("sale")
    for bad in (True, 1.5, "1", MAX_INCREMENT + 1, -MAX_INCREMENT - 1):
        with pytest.raises(InvalidArgument):
            room.advance("sale", bad)  # type: ignore[arg-type]
    assert room.advance("sale", MAX_INCREMENT) == 1


def test_reset(room: WaitingRoom) -> None:
    ticket = room.enter("sale")
    room.reset("sale")
    with pytest.raises(UnknownRequest):
        room.ticket("sale", ticket.request_id)
    assert room.enter("sale").position == 1


def test_periodic_tick_happens_once_per_tick_across_workers(
    make_room: RoomFactory, sqlite: SqliteStore, tmp_path: object, clock: ManualClock
) -> None:
    event = EventSettings("sale", admission=periodic(increment_by=3, every=10))
    worker_a, worker_b = make_room(event), make_room(event, store=SqliteStore(sqlite.path))
    clock.value = 1_800_000_000.0
    tickets = [worker_a.enter("sale") for _ in range(10)]
    # The window's budget of three is let in at the door; the rest wait for the next tick.
    assert [t.status for t in tickets[:4]] == [Status.ADMITTED] * 3 + [Status.WAITING]
    assert worker_a.tick("sale") == 0
    clock.advance(10)
    assert worker_a.tick("sale") == 3
    assert worker_b.tick("sale") == 0  # same tick, other worker
    clock.advance(9.9)
    assert worker_b.tick("sale") == 0
    clock.advance(0.1)
    assert worker_b.tick("sale") == 3
    assert worker_a.counters("sale").serving == 9


def test_no_tick_while_manual_paused_or_outside_the_window(make_room: RoomFactory, clock: ManualClock) -> None:
    t = clock.now()
    manual = EventSettings("manual")
    windowed = EventSettings("windowed", admission=periodic(5, 10, start_at=t + 100, end_at=t + 200))
    room = make_room(manual, windowed)
    for event in ("manual", "windowed"):
        for _ in range(20):
            room.enter(event)
    assert room.tick("manual") == 0
    assert room.tick("windowed") == 0  # before the window
    clock.advance(100)
    room.set_paused("windowed", True)
    assert room.is_paused("windowed") and room.tick("windowed") == 0
    room.set_paused("windowed", False)
    assert room.tick("windowed") == 5
    clock.advance(100)
    assert room.tick("windowed") == 0  # the window closed
    assert room.counters("windowed").serving == 5 and room.counters("manual").serving == 0


def test_max_active_fills_free_slots(make_room: RoomFactory, clock: ManualClock) -> None:
    event = EventSettings("sale", queue_position_expiry=0,
                          admission=AdmissionPolicy(strategy=Strategy.MAX_ACTIVE, max_active=3, every=5))
    room = make_room(event)
    tickets = [room.enter("sale") for _ in range(10)]
    assert room.counters("sale").serving == 3  # three free slots, filled at the door
    assert room.tick("sale") == 0  # three admitted, not yet done: still active
    room.issue_tokens("sale", tickets[0].request_id)
    room.end_session("sale", tickets[0].request_id, "completed")
    clock.advance(5)
    assert room.tick("sale") == 1
    assert room.counters("sale").active == 3


def test_runtime_rate_overrides(make_room: RoomFactory, clock: ManualClock) -> None:
    room = make_room(EventSettings("sale", admission=periodic(increment_by=2, every=10)))
    assert room.set_rate("sale", increment_by=7, every=5).every == 5.0
    assert room.policy("sale") == periodic(increment_by=7, every=5)
    assert room.set_rate("sale", every="2.5").every == 2.5
    assert room.set_rate("sale", strategy="max_active", max_active=4).strategy is Strategy.MAX_ACTIVE
    for bad in ({"every": 0}, {"every": "soon"}, {"increment_by": -1}, {"strategy": "lottery"}, {"max_active": 1.5}):
        with pytest.raises(InvalidArgument):
            room.set_rate("sale", **bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        room.set_rate("sale", speed=3)
    assert room.policy("sale").max_active == 4 and room.policy("sale").every == 2.5
    room.set_rate("sale", strategy=None, max_active=None, every=None, increment_by=None)
    assert room.policy("sale") == periodic(increment_by=2, every=10)


def test_a_longer_interval_does_not_stop_admission(make_room: RoomFactory, clock: ManualClock) -> None:
    room = make_room(EventSettings("sale", admission=periodic(increment_by=1, every=5)))
    for _ in range(10):
        room.enter("sale")
    assert room.counters("sale").serving == 1  # the first window's one, at the door
    clock.advance(5)
    assert room.tick("sale") == 1
    room.set_rate("sale", every=10)
    clock.advance(10)
    assert room.tick("sale") == 1
    clock.advance(10)
    assert room.tick("sale") == 1


def test_admission_rate(make_room: RoomFactory, clock: ManualClock) -> None:
    room = make_room(EventSettings("sale"))
    assert room.admission_rate("sale") == 0.0
    for _ in range(100):
        room.enter("sale")
    room.advance("sale", 10)
    clock.advance(10)
    room.advance("sale", 20)
    clock.advance(10)
    assert room.admission_rate("sale") == pytest.approx(20 / 20)
    clock.advance(1000)
    assert room.admission_rate("sale") == 0.0
