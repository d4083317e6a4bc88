"""The fair opening in the domain: settings, the pre-queue, the admission gate, the draw's
opening at the first step after its time, operators' controls and the public draw document."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import draw, opening
from core.adapters.sqlite import SqliteStore
from core.clock import ManualClock
from core.errors import InvalidArgument, InvalidTransition
from core.model import AdmissionPolicy, EventSettings, Queueing, Status, Strategy
from core.opening import OPENS_AT, OpeningState
from core.room import WaitingRoom
from core.settings import Settings, SettingsError
from core.tokens import KeySet, TokenSigner
from tests.contract.helpers import run_concurrently

from .conftest import ISSUER, RoomFactory

T0 = 1_800_000_000.0
OPENS = T0 + 600
ROOMY = AdmissionPolicy(strategy=Strategy.MAX_ACTIVE, max_active=1000, every=1.0)
"""Room for everyone: any admission before the opening would show."""


def random_event(opens_at: float = OPENS, admission: AdmissionPolicy = ROOMY) -> EventSettings:
    return EventSettings("sale", opens_at=opens_at, queueing=Queueing.RANDOM_BEFORE_OPENING, admission=admission)


@pytest.fixture
def drawn_room(make_room: RoomFactory) -> WaitingRoom:
    return make_room(random_event())


# -- settings ---------------------------------------------------------------------------------------


def test_settings_read_the_opening_time_with_its_offset_and_the_queueing() -> None:
    settings = Settings.from_mapping({"events": {"sale": {
        "opens_at": "2026-12-01T09:00:00+01:00", "queueing": "random_before_opening"}}})
    event = settings.events["sale"]
    assert event.opens_at == 1796112000.0  # 08:00 UTC
    assert event.queueing is Queueing.RANDOM_BEFORE_OPENING
    plain = Settings.from_mapping({"events": {"sale": {}}}).events["sale"]
    assert (plain.opens_at, plain.queueing) == (None, Queueing.FIFO)


def test_settings_from_a_toml_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "waitingroom.toml"
    path.write_text('[events.spring-sale]\nopens_at = 2026-12-01T09:00:00Z\n')
    event = Settings.load(path, environ={}).events["spring-sale"]
    assert (event.opens_at, event.queueing) == (1796115600.0, Queueing.FIFO)
    env = {"WAITINGROOM_EVENTS__SPRING_SALE__QUEUEING": "random_before_opening",
           "WAITINGROOM_EVENTS__SPRING_SALE__OPENS_AT": "2026-12-01T10:00:00+01:00"}
    event = Settings.load(path, environ=env).events["spring-sale"]
    assert (event.opens_at, event.queueing) == (1796115600.0, Queueing.RANDOM_BEFORE_OPENING)


@pytest.mark.parametrize(("raw", "complaint"), [
    ({"queueing": "random_before_opening"}, "needs an opening time"),
    ({"queueing": "lottery", "opens_at": "2026-12-01T09:00:00Z"}, "queueing must be one of"),
    ({"opens_at": "2026-12-01T09:00:00"}, "time zone offset"),
    ({"opens_at": "soon"}, "opens_at must be a date-time"),
])
def test_settings_refuse_an_unusable_opening(raw: dict[str, str], complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint):
        Settings.from_mapping({"events": {"sale": raw}})


# -- the rules -----------------------------------------------------------------------------------------


def test_the_opening_time_in_force_takes_a_valid_override_only() -> None:
    fifo = EventSettings("sale", opens_at=OPENS)
    random = random_event()
    assert opening.opens_at_in_force(fifo, {}) == OPENS
    assert opening.opens_at_in_force(fifo, {OPENS_AT: "1800000100.5"}) == 1800000100.5
    assert opening.opens_at_in_force(fifo, {OPENS_AT: ""}) is None
    assert opening.opens_at_in_force(random, {OPENS_AT: ""}) == OPENS  # a draw needs a time
    for junk in ("tomorrow", "nan", "inf"):
        assert opening.opens_at_in_force(fifo, {OPENS_AT: junk}) == OPENS


def test_an_opening_is_due_only_once_every_clock_has_passed_it() -> None:
    assert opening.is_due(None, T0)
    assert not opening.is_due(OPENS, OPENS - 0.001)
    assert opening.is_due(OPENS, OPENS)
    assert not opening.is_due(OPENS, OPENS + 1.9, grace=2.0)
    assert opening.is_due(OPENS, OPENS + 2.0, grace=2.0)


# -- a random event ----------------------------------------------------------------------------------


def test_the_commitment_is_published_before_anyone_enters(drawn_room: WaitingRoom) -> None:
    before = drawn_room.opening("sale")
    assert before.state is OpeningState.PRE_QUEUE and before.is_gated
    assert before.commitment is not None and before.secret is None and before.opened_at is None
    assert before.pre_queue_size == 0 and before.opens_at == OPENS
    drawn_room.enter("sale")
    assert drawn_room.opening("sale").commitment == before.commitment
    assert drawn_room.opening("sale").pre_queue_size == 1
    assert drawn_room.draw_document("sale")["secret"] is None


def test_nobody_is_admitted_before_the_opening(drawn_room: WaitingRoom, clock: ManualClock) -> None:
    tickets = [drawn_room.enter("sale") for _ in range(5)]
    assert all(t.status is Status.WAITING for t in tickets)  # the door is shut
    assert drawn_room.door_rule("sale") is None
    clock.advance(60)
    assert drawn_room.tick("sale") == 0
    with pytest.raises(InvalidTransition, match="opens at 2027-01-15T08:10:00"):
        drawn_room.advance("sale", 3)
    view = drawn_room.position("sale", tickets[2].request_id)
    assert view.pre_queue and view.position == 0 and view.opens_at == OPENS and view.status is Status.WAITING
    assert drawn_room.counters("sale").serving == 0


def test_the_first_step_after_the_opening_time_draws(drawn_room: WaitingRoom, clock: ManualClock) -> None:
    tickets = [drawn_room.enter("sale") for _ in range(12)]
    commitment = drawn_room.opening("sale").commitment
    clock.value = OPENS
    late = drawn_room.enter("sale")  # this enter opens the draw first: it follows the drawn places
    assert late.position == 13
    now_open = drawn_room.opening("sale")
    assert (now_open.state, now_open.pre_queue_size, now_open.opened_at) == (OpeningState.OPEN, 12, OPENS)
    assert now_open.secret is not None and draw.commitment(now_open.secret) == commitment
    positions = [drawn_room.position("sale", t.request_id) for t in tickets]
    assert not any(v.pre_queue or v.opens_at for v in positions)
    assert [v.position for v in positions] == [draw.position_of(now_open.secret, 12, i) for i in range(1, 13)]
    assert sorted(v.position for v in positions) == list(range(1, 13))


def test_a_place_read_after_the_opening_time_opens_the_draw(drawn_room: WaitingRoom, clock: ManualClock) -> None:
    ticket = drawn_room.enter("sale")
    clock.value = OPENS + 5
    assert drawn_room.store.draw_state("sale").is_open is False
    assert drawn_room.ticket("sale", ticket.request_id).position == 1
    assert drawn_room.store.draw_state("sale").opened_at == OPENS + 5


def test_the_scheduler_tick_opens_and_then_admits(drawn_room: WaitingRoom, clock: ManualClock) -> None:
    tickets = [drawn_room.enter("sale") for _ in range(4)]
    clock.value = OPENS
    assert drawn_room.tick("sale") == 4
    assert drawn_room.opening("sale").state is OpeningState.OPEN
    assert {drawn_room.ticket("sale", t.request_id).status for t in tickets} == {Status.ADMITTED}


def test_a_manual_event_opens_through_ensure_opened(make_room: RoomFactory, clock: ManualClock) -> None:
    room = make_room(random_event(admission=AdmissionPolicy()))
    room.enter("sale")
    clock.value = OPENS - 1
    assert room.ensure_opened("sale").state is OpeningState.PRE_QUEUE
    clock.value = OPENS
    assert room.tick("sale") == 0  # manual: the tick does nothing, opening included
    opened = room.ensure_opened("sale")
    assert opened.state is OpeningState.OPEN and opened.opened_at == OPENS
    assert room.advance("sale", 1) == 1


def test_workers_with_clocks_ahead_wait_for_the_skew(make_room: RoomFactory, clock: ManualClock) -> None:
    room = make_room(random_event())
    room.clock_skew = 2.0
    room.enter("sale")
    clock.value = OPENS + 1.5
    assert room.ensure_opened("sale").is_gated
    assert room.enter("sale").position == 2  # still in the pre-queue
    assert room.ensure_opened("sale").pre_queue_size is None  # not read by ensure_opened before the opening
    clock.value = OPENS + 2
    opened = room.ensure_opened("sale")
    assert (opened.state, opened.pre_queue_size, opened.opened_at) == (OpeningState.OPEN, 2, OPENS + 2)


def test_the_draw_document_publishes_ticket_ids_in_arrival_order(drawn_room: WaitingRoom,
                                                                 clock: ManualClock) -> None:
    tickets = [drawn_room.enter("sale") for _ in range(7)]
    before = drawn_room.draw_document("sale")
    assert before == {
        "event_id": "sale", "queueing": "random_before_opening", "algorithm": draw.ALGORITHM, "opens_at": OPENS,
        "state": "pre_queue", "commitment": before["commitment"], "secret": None, "size": None,
        "opened_at": None, "tickets": None,
    }
    clock.value = OPENS
    drawn_room.enter("sale")  # a late entry: not in the list
    doc = drawn_room.draw_document("sale")
    assert doc["tickets"] == [t.ticket_id for t in tickets]
    assert not any(t.request_id in str(doc) for t in tickets)  # request ids are secrets
    assert (doc["state"], doc["size"], doc["opened_at"], doc["commitment"]) == \
        ("open", 7, OPENS, before["commitment"])
    checked = draw.verify(doc["commitment"], doc["secret"], doc["tickets"], doc["size"])
    assert checked.ok
    for t in tickets:
        assert checked.positions[t.ticket_id] == drawn_room.ticket("sale", t.request_id).position


def test_the_document_lists_a_big_pre_queue_in_pages(drawn_room: WaitingRoom, clock: ManualClock,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.room.ARRIVALS_PAGE", 3)
    tickets = [drawn_room.enter("sale") for _ in range(8)]
    clock.value = OPENS
    reads: list[tuple[int, int]] = []
    arrivals = drawn_room.store.arrivals
    monkeypatch.setattr(drawn_room.store, "arrivals", lambda e, f, c: reads.append((f, c)) or arrivals(e, f, c))
    assert drawn_room.draw_document("sale")["tickets"] == [t.ticket_id for t in tickets]
    assert reads == [(1, 3), (4, 3), (7, 2)]


def test_a_reset_forgets_the_draw_and_commits_to_a_new_secret(drawn_room: WaitingRoom, clock: ManualClock) -> None:
    drawn_room.enter("sale")
    clock.value = OPENS
    first = drawn_room.opening("sale")
    assert first.state is OpeningState.OPEN
    drawn_room.reset("sale")
    again = drawn_room.opening("sale")
    # the opening time has passed: the new draw opens at once, empty, with a new secret
    assert again.state is OpeningState.OPEN and again.pre_queue_size == 0
    assert again.commitment != first.commitment
    assert drawn_room.draw_document("sale")["tickets"] == []


def test_a_reset_with_a_new_opening_time_arms_a_new_pre_queue(make_room: RoomFactory, clock: ManualClock) -> None:
    """A rehearsal over, operators start the sale again with a new opening time, although the
    configured one has passed: the event is back in its pre-queue with a new commitment, and
    another worker whose copies predate the reset opens no new, empty draw."""
    room, other = make_room(random_event()), make_room(random_event())
    room.enter("sale")
    clock.value = OPENS + 60
    first = room.opening("sale")
    assert first.state is OpeningState.OPEN and other.enter("sale").position == 2
    room.set_paused("sale", True)
    room.reset("sale", opens_at=OPENS + 3600)
    assert room.overrides("sale") == {OPENS_AT: str(OPENS + 3600)} and not room.is_paused("sale")
    entered = other.enter("sale")  # other's copies of the controls and the draw are the old ones
    assert entered.status is Status.WAITING and room.store.draw_state("sale") is None  # no draw opened
    armed = room.opening("sale")
    assert (armed.state, armed.opens_at, armed.pre_queue_size) == (OpeningState.PRE_QUEUE, OPENS + 3600, 1)
    assert armed.commitment not in (None, first.commitment)
    clock.advance(1)  # both workers read afresh now
    later = [other.enter("sale") for _ in range(3)]
    view = other.position("sale", later[0].request_id)
    assert view.pre_queue and view.opens_at == OPENS + 3600 and other.opening("sale").pre_queue_size == 4
    assert other.tick("sale") == 0 and room.set_opens_at("sale", OPENS + 1800).is_gated  # it can still move
    clock.value = OPENS + 1800
    opened = room.opening("sale")
    assert (opened.state, opened.pre_queue_size) == (OpeningState.OPEN, 4)
    assert opened.secret is not None and draw.commitment(opened.secret) == armed.commitment


def test_a_reset_refuses_an_opening_time_that_is_not_in_the_future(drawn_room: WaitingRoom,
                                                                    clock: ManualClock) -> None:
    ticket = drawn_room.enter("sale")
    clock.value = OPENS + 60
    for refused in (OPENS + 60, OPENS, "soon", float("nan"), opening.NO_TIME):
        with pytest.raises(InvalidArgument):
            drawn_room.reset("sale", opens_at=refused)
    assert drawn_room.ticket("sale", ticket.request_id).position == 1  # nothing was reset
    assert OPENS_AT not in drawn_room.overrides("sale")


def test_a_reset_of_a_fifo_event_takes_any_opening_time(make_room: RoomFactory, clock: ManualClock) -> None:
    room = make_room(EventSettings("sale", opens_at=OPENS, admission=ROOMY))
    clock.value = OPENS + 60
    room.enter("sale")
    room.reset("sale", opens_at=OPENS + 600)
    assert room.opening("sale").state is OpeningState.PRE_QUEUE and room.enter("sale").position == 1
    room.reset("sale", opens_at=opening.NO_TIME)
    assert room.opening("sale").state is OpeningState.NONE


def test_a_worker_that_saw_the_draw_open_admits_nobody_at_the_door_after_a_reset_elsewhere(
        make_room: RoomFactory, clock: ManualClock) -> None:
    """Workers keep the draw they read for a second. After a reset by one of them (operators
    starting the sale again), another whose copy still says open must not admit the new line's
    first place at the door before the new draw opens: admitted in arrival order, it would keep
    that draw from ever opening, and the event would admit nobody until reset again."""
    worker, other = make_room(random_event()), make_room(random_event())
    clock.value = OPENS
    assert other.enter("sale").status is Status.ADMITTED  # open, nobody drawn: the door admits
    worker.reset("sale")
    entered = other.enter("sale")  # other's copy of the draw is still the old, open one
    assert entered.status is Status.WAITING and worker.counters("sale").serving == 0
    reopened = worker.opening("sale")  # the opening time has passed: the new draw opens at once
    assert reopened.state is OpeningState.OPEN and reopened.pre_queue_size == 1
    clock.advance(1)  # other's copy is fresh again
    assert other.enter("sale").status is Status.WAITING  # behind the drawn place, not yet admitted
    assert worker.tick("sale") == 2

# -- a fifo event with an opening time ---------------------------------------------------------------


def test_a_fifo_event_keeps_arrival_order_and_admits_nobody_before_its_opening(make_room: RoomFactory,
                                                                               clock: ManualClock) -> None:
    room = make_room(EventSettings("sale", opens_at=OPENS, admission=ROOMY))
    tickets = [room.enter("sale") for _ in range(3)]
    assert [t.status for t in tickets] == [Status.WAITING] * 3
    view = room.position("sale", tickets[1].request_id)
    assert (view.pre_queue, view.position, view.opens_at) == (False, 2, OPENS)
    assert room.opening("sale").state is OpeningState.PRE_QUEUE and room.opening("sale").commitment is None
    assert room.store.draw_state("sale") is None
    with pytest.raises(InvalidTransition):
        room.advance("sale", 1)
    clock.value = OPENS
    assert room.opening("sale").state is OpeningState.OPEN and room.opening("sale").pre_queue_size is None
    assert room.position("sale", tickets[1].request_id).opens_at is None
    assert room.tick("sale") == 3
    assert room.enter("sale").status is Status.ADMITTED  # the door is open too
    assert room.draw_document("sale")["tickets"] is None and room.store.draw_state("sale") is None


def test_an_event_without_opening_time_is_unchanged(room: WaitingRoom) -> None:
    assert room.opening("sale") == opening.Opening("sale", Queueing.FIFO, None, OpeningState.NONE)
    ticket = room.enter("sale")
    view = room.position("sale", ticket.request_id)
    assert (view.pre_queue, view.opens_at, view.position) == (False, None, 1)
    assert room.advance("sale", 1) == 1
    assert room.store.draw_state("sale") is None


# -- operators -------------------------------------------------------------------------------------------


def test_operators_move_the_opening_until_it_happens(drawn_room: WaitingRoom, clock: ManualClock) -> None:
    drawn_room.enter("sale")
    moved = drawn_room.set_opens_at("sale", OPENS + 3600)
    assert moved.opens_at == OPENS + 3600 and moved.is_gated
    clock.value = OPENS + 10
    assert drawn_room.ensure_opened("sale").is_gated
    assert drawn_room.set_opens_at("sale", None).state is OpeningState.OPEN  # back to the configured time: past
    with pytest.raises(InvalidTransition, match="opened already"):
        drawn_room.set_opens_at("sale", OPENS + 7200)
    with pytest.raises(InvalidTransition):
        drawn_room.set_rate("sale", opens_at=OPENS + 7200)


def test_moving_the_opening_checks_its_value(drawn_room: WaitingRoom, make_room: RoomFactory) -> None:
    for junk in ("soon", float("nan"), float("inf"), True):
        with pytest.raises(InvalidArgument):
            drawn_room.set_opens_at("sale", junk)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="needs an opening time"):
        drawn_room.set_opens_at("sale", opening.NO_TIME)
    assert OPENS_AT not in drawn_room.overrides("sale")
    fifo = make_room(EventSettings("other", opens_at=OPENS))
    assert fifo.set_opens_at("other", opening.NO_TIME).state is OpeningState.NONE


def test_set_rate_moves_the_opening_with_the_admission_settings(drawn_room: WaitingRoom) -> None:
    drawn_room.set_rate("sale", opens_at=OPENS + 60, max_active=5)
    assert drawn_room.overrides("sale") == {"opens_at": str(OPENS + 60), "max_active": "5"}
    assert drawn_room.opening("sale").opens_at == OPENS + 60
    with pytest.raises(InvalidArgument):
        drawn_room.set_rate("sale", opens_at=OPENS + 120, max_active=-1)
    assert drawn_room.opening("sale").opens_at == OPENS + 60  # nothing written by a refused call


def test_open_now_draws_at_once_and_is_idempotent(drawn_room: WaitingRoom, clock: ManualClock) -> None:
    tickets = [drawn_room.enter("sale") for _ in range(6)]
    clock.advance(30)
    opened = drawn_room.open_now("sale")
    assert opened.state is OpeningState.OPEN and opened.opened_at == T0 + 30 and opened.pre_queue_size == 6
    assert opened.opens_at is not None and opened.opens_at <= T0 + 30
    assert sorted(drawn_room.ticket("sale", t.request_id).position for t in tickets) == list(range(1, 7))
    clock.advance(5)
    assert drawn_room.open_now("sale") == opened
    assert drawn_room.advance("sale", 2) == 2


def test_open_now_on_a_fifo_event_lets_admission_start(make_room: RoomFactory, clock: ManualClock) -> None:
    room = make_room(EventSettings("sale", opens_at=OPENS, admission=ROOMY))
    room.clock_skew = 2.0
    room.enter("sale")
    assert room.open_now("sale").state is OpeningState.OPEN  # every worker's clock finds it passed
    assert room.tick("sale") == 1


def test_an_event_made_random_after_admitting_stays_shut(make_room: RoomFactory, clock: ManualClock) -> None:
    """A draw never reorders people admitted already: the event waits for a reset."""
    fifo = make_room(EventSettings("sale", admission=ROOMY))
    fifo.enter("sale")
    assert fifo.counters("sale").serving == 1  # admitted at the door
    room = make_room(random_event(opens_at=clock.now() - 10))  # the same store, reconfigured
    room.enter("sale")
    assert room.opening("sale").state is OpeningState.PRE_QUEUE
    assert room.tick("sale") == 0
    with pytest.raises(InvalidTransition):
        room.open_now("sale")
    room.reset("sale")
    assert room.opening("sale").state is OpeningState.OPEN


def test_workers_reaching_the_opening_together_make_one_draw(tmp_path: Path, keyset: KeySet,
                                                            clock: ManualClock) -> None:
    """Several workers (rooms with their own store connections) enter and read at the opening
    time at once: one draw, and every place holds one position of it."""
    url = f"sqlite:///{tmp_path}/shared.db"
    workers = [WaitingRoom({"sale": random_event()}, SqliteStore.from_url(url), TokenSigner(lambda: keyset, clock.now),
                           clock, ISSUER) for _ in range(4)]
    try:
        early = [workers[i % 4].enter("sale") for i in range(12)]
        clock.value = OPENS

        def step(i: int) -> list[int]:
            room = workers[i]
            late = [room.enter("sale").request_id for _ in range(3)]
            return [room.ticket("sale", r).position for r in [early[i].request_id, *late]]

        results = run_concurrently(4, step)
        assert not any(isinstance(r, BaseException) for r in results), results
        states = {w.opening("sale") for w in workers}
        assert len(states) == 1
        (state,) = states
        assert state.pre_queue_size == 12 and state.opened_at == OPENS
        everyone = [workers[0].ticket("sale", r).position for r in workers[0].store.arrivals("sale", 1, 100)]
        assert sorted(everyone) == list(range(1, 25))
        assert everyone[:12] == [draw.position_of(state.secret, 12, i) for i in range(1, 13)]
    finally:
        for w in workers:
            w.store.close()


def test_a_worker_with_a_stale_copy_does_not_open_an_opening_moved_later(make_room: RoomFactory,
                                                                         clock: ManualClock) -> None:
    # Two workers on one store. Worker A read the controls a moment before the opening time; an
    # operator, through worker B, moves the opening an hour later; A's copy (kept up to
    # CONTROLS_MAX_AGE) still says the opening has come. A's next entry must not draw.
    worker_a, worker_b = make_room(random_event()), make_room(random_event())
    clock.value = OPENS - 0.5
    worker_a.enter("sale")
    worker_b.set_opens_at("sale", OPENS + 3600)
    clock.value = OPENS + 0.1
    ticket = worker_a.enter("sale")
    assert worker_b.opening("sale").state is OpeningState.PRE_QUEUE
    assert worker_a.position("sale", ticket.request_id).pre_queue
