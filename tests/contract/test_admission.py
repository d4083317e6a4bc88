"""Rule: a visitor is admitted only when position <= serving counter; the counter stays in [0, line]."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import GrantRevoked, InvalidTransition, NotAdmitted, SessionEnded
from core.model import Status
from core.rules import SESSION_LOOKUP_GRACE

from .helpers import EVENT, T0, admitted, rid, run_concurrently


def test_issue_fails_while_position_is_beyond_serving(store: Any) -> None:
    ids = [rid() for _ in range(3)]
    for r in ids:
        store.enter(EVENT, r, None, T0)
    with pytest.raises(NotAdmitted):
        store.issue_session(EVENT, ids[0], "jti-0", int(T0), int(T0) + 60, T0)
    assert store.advance_serving(EVENT, 2, T0 + 5) == 2
    with pytest.raises(NotAdmitted):
        store.issue_session(EVENT, ids[2], "jti-2", int(T0), int(T0) + 60, T0)
    ticket = store.issue_session(EVENT, ids[1], "jti-1", int(T0) + 6, int(T0) + 66, T0 + 6)
    assert ticket.status is Status.ISSUED
    assert ticket.session is not None and ticket.session.jti == "jti-1"
    assert store.get_ticket(EVENT, ids[2], T0).status is Status.WAITING
    assert store.counters(EVENT).issued == 1


def test_status_follows_the_serving_counter_both_ways(store: Any) -> None:
    ids = admitted(store, 3)
    assert store.get_ticket(EVENT, ids[2], T0).status is Status.ADMITTED
    assert store.advance_serving(EVENT, -2, T0 + 1) == 1
    assert store.get_ticket(EVENT, ids[2], T0).status is Status.WAITING
    assert store.get_ticket(EVENT, ids[2], T0).admitted_at is None
    with pytest.raises(NotAdmitted):
        store.issue_session(EVENT, ids[2], "j", int(T0), int(T0) + 60, T0 + 1)
    assert store.get_ticket(EVENT, ids[0], T0).status is Status.ADMITTED


@pytest.mark.parametrize(
    ("line", "moves", "expected"),
    [
        (0, [5], [0]),  # an idle strategy cannot pre-admit a burst that arrives later
        (3, [100], [3]),
        (3, [2, 2], [2, 3]),
        (3, [3, -10], [3, 0]),
        (5, [-1, 4, -1, 0], [0, 4, 3, 3]),
    ],
)
def test_advance_is_clamped_to_the_line(store: Any, line: int, moves: list[int], expected: list[int]) -> None:
    for _ in range(line):
        store.enter(EVENT, rid(), None, T0)
    got = [store.advance_serving(EVENT, by, T0 + i) for i, by in enumerate(moves)]
    assert got == expected
    assert store.counters(EVENT).serving == expected[-1]


def test_admission_time_is_when_the_counter_last_reached_the_position(store: Any) -> None:
    ids = [rid() for _ in range(5)]
    for r in ids:
        store.enter(EVENT, r, None, T0)
    store.advance_serving(EVENT, 2, T0 + 10)
    store.advance_serving(EVENT, 3, T0 + 20)
    store.advance_serving(EVENT, -4, T0 + 30)
    store.advance_serving(EVENT, 4, T0 + 40)
    # Position 1 stayed admitted throughout; 2-5 were admitted again by the last move.
    assert [store.get_ticket(EVENT, r, T0).admitted_at for r in ids] == [T0 + 10] + [T0 + 40] * 4


def test_concurrent_advances_add_up_without_passing_the_line(store: Any) -> None:
    for _ in range(30):
        store.enter(EVENT, rid(), None, T0)
    results = run_concurrently(10, lambda i: store.advance_serving(EVENT, 4, T0 + i))
    assert not [r for r in results if isinstance(r, BaseException)]
    assert store.counters(EVENT).serving == 30
    # Every call moved from what the one before it left: no lost update, the excess clamped.
    assert sorted(results) == [4, 8, 12, 16, 20, 24, 28, 30, 30, 30]  # type: ignore[type-var]


def test_issue_is_idempotent(store: Any) -> None:
    (r,) = admitted(store, 1)
    first = store.issue_session(EVENT, r, "jti-first", 100, 200, T0)
    again = store.issue_session(EVENT, r, "jti-second", 150, 999, T0 + 50)
    assert again.session == first.session
    assert again.session is not None
    assert (again.session.jti, again.session.issued_at, again.session.expires_at) == ("jti-first", 100, 200)
    assert again.session.status is Status.ISSUED and again.session.ended_at is None
    assert store.get_ticket(EVENT, r, T0) == first
    assert store.counters(EVENT).issued == 1


def test_concurrent_issues_store_one_session(store: Any) -> None:
    (r,) = admitted(store, 1)
    results = run_concurrently(10, lambda i: store.issue_session(EVENT, r, f"jti-{i}", 100, 200 + i, T0))
    assert not [x for x in results if isinstance(x, BaseException)]
    assert len({x.session for x in results}) == 1  # type: ignore[union-attr]
    assert store.counters(EVENT).issued == 1


def test_issue_for_an_unknown_request_fails(store: Any) -> None:
    admitted(store, 1)
    with pytest.raises(InvalidTransition):
        store.issue_session(EVENT, rid(), "j", 1, 2, T0)


@pytest.mark.parametrize("end_as", [Status.COMPLETED, Status.ABANDONED])
def test_a_session_ends_once(store: Any, end_as: Status) -> None:
    (r,) = admitted(store, 1)
    store.issue_session(EVENT, r, "jti", 100, 200, T0)
    ended = store.end_session(EVENT, r, end_as, T0 + 7.5)
    assert ended.status is end_as
    assert ended.session is not None
    assert (ended.session.status, ended.session.ended_at, ended.session.jti) == (end_as, T0 + 7.5, "jti")
    assert store.get_ticket(EVENT, r, T0) == ended
    with pytest.raises(InvalidTransition):
        store.end_session(EVENT, r, Status.COMPLETED, T0 + 8)
    with pytest.raises(InvalidTransition):
        store.end_session(EVENT, r, Status.ABANDONED, T0 + 8)
    with pytest.raises(SessionEnded):
        store.issue_session(EVENT, r, "jti-2", 1, 2, T0 + 9)
    counters = store.counters(EVENT)
    assert (counters.completed, counters.abandoned) == ((1, 0) if end_as is Status.COMPLETED else (0, 1))
    assert counters.active == 0 and counters.issued == 1


def test_only_issued_sessions_can_end(store: Any) -> None:
    waiting, adm = rid(), rid()
    store.enter(EVENT, adm, None, T0)
    store.enter(EVENT, waiting, None, T0)
    store.advance_serving(EVENT, 1, T0)
    for r in (waiting, adm, rid()):
        with pytest.raises(InvalidTransition):
            store.end_session(EVENT, r, Status.COMPLETED, T0)
    assert store.counters(EVENT).completed == 0


def test_concurrent_ends_succeed_once(store: Any) -> None:
    (r,) = admitted(store, 1)
    store.issue_session(EVENT, r, "jti", 100, 200, T0)
    statuses = [Status.COMPLETED, Status.ABANDONED] * 5
    results = run_concurrently(10, lambda i: store.end_session(EVENT, r, statuses[i], T0 + i))
    winners = [x for x in results if not isinstance(x, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(x, InvalidTransition) for x in results if isinstance(x, BaseException))
    counters = store.counters(EVENT)
    assert counters.completed + counters.abandoned == 1


def test_counts_of_active_sessions(store: Any) -> None:
    ids = admitted(store, 4)
    for _ in range(2):
        store.enter(EVENT, rid(), None, T0)
    store.issue_session(EVENT, ids[0], "a", 1, 10_000_000_000, T0)
    store.issue_session(EVENT, ids[1], "b", 1, 10_000_000_000, T0)
    store.end_session(EVENT, ids[1], Status.COMPLETED, T0)
    c = store.counters(EVENT)
    assert (c.serving, c.last_position, c.admitted, c.waiting, c.issued, c.completed) == (4, 6, 4, 2, 2, 1)
    assert c.active == 3  # one issued + two admitted that have not claimed tokens yet


def test_a_revoked_grant_refuses_every_later_issue(store: Any) -> None:
    first, second = admitted(store, 2)
    issued = store.issue_session(EVENT, first, "jti-1", 100, 200, T0, 0.0, "code-a")
    assert issued.status is Status.ISSUED
    store.revoke_grant(EVENT, "code-a", 60, T0 + 1)
    store.revoke_grant(EVENT, "code-a", 60, T0 + 1)  # idempotent
    with pytest.raises(GrantRevoked):  # even a re-issue of the session it authorised before
        store.issue_session(EVENT, first, "jti-x", 100, 200, T0 + 2, 0.0, "code-a")
    with pytest.raises(GrantRevoked):  # and a new session, before anything else is looked at
        store.issue_session(EVENT, second, "jti-2", 100, 200, T0 + 2, 0.0, "code-a")
    with pytest.raises(GrantRevoked):
        store.issue_session(EVENT, rid(), "jti-2", 100, 200, T0 + 2, 0.0, "code-a")
    assert store.get_ticket(EVENT, second, T0 + 2).status is Status.ADMITTED
    assert store.counters(EVENT).issued == 1
    # Other grants, and no grant at all, are unaffected; the revocation ends after its ttl.
    assert store.issue_session(EVENT, second, "jti-2", 100, 200, T0 + 3, 0.0, "code-b").session.jti == "jti-2"
    assert store.issue_session(EVENT, first, "jti-y", 100, 200, T0 + 3).session.jti == "jti-1"
    assert store.issue_session(EVENT, first, "jti-z", 100, 200, T0 + 61, 0.0, "code-a").session.jti == "jti-1"
    store.revoke_grant(EVENT + "-other", "code-c", 60, T0)
    assert store.issue_session(EVENT, first, "jti-z", 100, 200, T0 + 1, 0.0, "code-c").status is Status.ISSUED


def test_revoking_a_grant_races_an_issue_without_a_gap(store: Any) -> None:
    """Either the issue finished first (and a read after the revocation sees the session) or it
    is refused: never a session that appears after the revocation."""
    for n in range(4):
        (r,) = admitted(store, 1, event=f"{EVENT}-{n}")
        event = f"{EVENT}-{n}"

        def step(i: int) -> Any:
            if i == 0:
                store.revoke_grant(event, "code", 60, T0)  # noqa: B023
                return store.get_ticket(event, r, T0)  # noqa: B023
            return store.issue_session(event, r, f"jti-{i}", 100, 200, T0, 0.0, "code")  # noqa: B023

        results = run_concurrently(6, step)
        seen_after_revoking = results[0]
        assert not isinstance(seen_after_revoking, BaseException)
        issued = [x for x in results[1:] if not isinstance(x, BaseException)]
        refused = [x for x in results[1:] if isinstance(x, BaseException)]
        assert all(isinstance(x, GrantRevoked) for x in refused), refused
        if issued:
            assert seen_after_revoking.status is Status.ISSUED
        assert store.get_ticket(event, r, T0).status is (Status.ISSUED if issued else Status.ADMITTED)


def test_a_session_is_found_by_its_jti_from_the_issue_on(store: Any) -> None:
    first, second = admitted(store, 2)
    assert store.session_ticket(EVENT, "jti-1", T0) is None
    issued = store.issue_session(EVENT, first, "jti-1", int(T0), int(T0) + 600, T0)
    assert store.session_ticket(EVENT, "jti-1", T0) == issued
    # A re-issue keeps the first jti: the one it was asked to use is never findable.
    store.issue_session(EVENT, first, "jti-unused", int(T0) + 5, int(T0) + 605, T0 + 5)
    assert store.session_ticket(EVENT, "jti-unused", T0 + 5) is None
    # Whatever becomes of the session, it is found until the grace after its tokens expire.
    ended = store.end_session(EVENT, first, Status.COMPLETED, T0 + 10)
    assert store.session_ticket(EVENT, "jti-1", T0 + 600 + SESSION_LOOKUP_GRACE - 1) == ended
    assert store.session_ticket(EVENT + "-other", "jti-1", T0) is None
    waiting = rid()
    store.enter(EVENT, waiting, None, T0)
    with pytest.raises(NotAdmitted):
        store.issue_session(EVENT, waiting, "jti-refused", int(T0), int(T0) + 600, T0)
    assert store.session_ticket(EVENT, "jti-refused", T0) is None
    assert store.session_ticket(EVENT, "jti-2", T0) is None
    assert store.issue_session(EVENT, second, "jti-2", int(T0), int(T0) + 600, T0).request_id == second
    assert store.session_ticket(EVENT, "jti-2", T0).request_id == second
