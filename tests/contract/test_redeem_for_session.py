"""Rule: recording a code's redemption and opening the session it grants is one step, with
redeem's and issue_session's guarantees together (``QueueStore.redeem_for_session``). The code
carries its grant (a sealed code): the store holds nothing of it before its first use."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.errors import GrantRevoked, InvalidTransition, NotAdmitted, SessionEnded
from core.model import Status

from .helpers import EVENT, T0, admitted, rid, run_concurrently

NS = "oidc-code"


def grant(request_id: str, event_id: str = EVENT) -> str:
    return json.dumps({"request_id": request_id, "event_id": event_id, "nonce": "n|1"})


UNTIL = T0 + 60  # the instant the codes expire


def redeem(store: Any, key: str, value: str, jti: str, at: float = T0 + 1) -> tuple[Any, Any, Any]:
    return store.redeem_for_session(NS, key, value, UNTIL, 3600, EVENT, jti, int(at), int(at) + 600, at)


def test_a_first_redemption_opens_the_session_and_a_replay_changes_nothing(store: Any) -> None:
    first, second = admitted(store, 2)
    value, replayed, ticket = redeem(store, "k1", grant(first), "jti-1")
    assert (value, replayed) == (grant(first), None)
    assert ticket.request_id == first and ticket.status is Status.ISSUED
    assert ticket.session.jti == "jti-1" and ticket.session.expires_at == int(T0 + 1) + 600
    assert store.session_ticket(EVENT, "jti-1", T0 + 1).request_id == first
    assert store.counters(EVENT).issued == 1
    # A replay gets the value back as replayed; nothing is issued and the jti is unknown.
    assert redeem(store, "k1", grant(first), "jti-2", T0 + 2) == (None, grant(first), None)
    assert store.session_ticket(EVENT, "jti-2", T0 + 2) is None
    assert store.redeem(NS, "k1", grant(first), UNTIL, 3600, T0 + 3) == (None, grant(first))  # recorded
    # A second code for a place with a session: the session it had, unchanged.
    _, _, again = redeem(store, "k2", grant(first), "jti-3", T0 + 4)
    assert again.session.jti == "jti-1" and store.counters(EVENT).issued == 1
    assert store.get_ticket(EVENT, second, T0 + 4).status is Status.ADMITTED


def test_an_expired_code_opens_nothing_and_records_nothing(store: Any) -> None:
    (r,) = admitted(store, 1)
    assert store.redeem_for_session(NS, "late", grant(r), UNTIL, 3600, EVENT, "jti-1", int(UNTIL), int(UNTIL) + 600,
                                    UNTIL) == (None, None, None)
    assert store.get_ticket(EVENT, r, UNTIL).status is Status.ADMITTED
    assert store.counters(EVENT).issued == 0
    assert store.release(NS, "late", "jti-1", UNTIL) is False  # nothing was recorded


def test_a_refused_issue_records_nothing(store: Any) -> None:
    """A redemption is recorded only with the session it opens: a refusal leaves nothing
    that a later presentation could take for a replay of issued tokens."""
    (adm,) = admitted(store, 1)
    waiting = rid()
    store.enter(EVENT, waiting, None, T0)
    with pytest.raises(NotAdmitted):
        redeem(store, "w", grant(waiting), "jti-w")
    with pytest.raises(NotAdmitted):
        redeem(store, "w", grant(waiting), "jti-w2")  # not a replay
    assert store.session_ticket(EVENT, "jti-w", T0 + 1) is None
    # A grant naming a place of another event, or no place, opens nothing.
    for key, value in (("other", grant(adm, "another-event")), ("junk", "not json"), ("list", "[1]"),
                       ("unknown", grant(rid()))):
        with pytest.raises(InvalidTransition):
            redeem(store, key, value, f"jti-{key}")
        assert store.release(NS, key, f"jti-{key}", T0 + 1) is False  # nothing recorded
    assert store.get_ticket(EVENT, adm, T0 + 1).status is Status.ADMITTED
    # An ended session is not reopened.
    store.issue_session(EVENT, adm, "jti-a", int(T0), int(T0) + 600, T0)
    store.end_session(EVENT, adm, Status.COMPLETED, T0 + 1)
    with pytest.raises(SessionEnded):
        redeem(store, "ended", grant(adm), "jti-e")
    with pytest.raises(SessionEnded):
        redeem(store, "ended", grant(adm), "jti-e2")  # still no replay: nothing was recorded


def test_the_same_attempt_again_gets_its_session_again(store: Any) -> None:
    """A redemption resent after its answer was lost (same jti) is not its own replay."""
    (r,) = admitted(store, 1)
    _, _, ticket = redeem(store, "k", grant(r), "jti-1")
    value, replayed, again = redeem(store, "k", grant(r), "jti-1", T0 + 2)
    assert (value, replayed) == (grant(r), None)
    assert again.session == ticket.session and store.counters(EVENT).issued == 1
    assert redeem(store, "k", grant(r), "jti-2", T0 + 3) == (None, grant(r), None)


def test_a_released_redemption_is_redeemed_again_for_the_same_session(store: Any) -> None:
    """The caller whose answer was lost releases its try: the next try is a first redemption
    that finds the session the lost one opened, and after it the code is used again."""
    (r,) = admitted(store, 1)
    _, _, lost = redeem(store, "k", grant(r), "jti-lost")
    assert store.release(NS, "k", "jti-lost", T0 + 2) is True
    value, replayed, ticket = redeem(store, "k", grant(r), "jti-retry", T0 + 3)
    assert (value, replayed) == (grant(r), None)
    assert ticket.session == lost.session and store.counters(EVENT).issued == 1
    assert redeem(store, "k", grant(r), "jti-late", T0 + 4) == (None, grant(r), None)
    assert store.release(NS, "k", "jti-lost", T0 + 5) is False  # the lost try has nothing left to release


def test_concurrent_retries_of_a_released_redemption_take_it_once(store: Any) -> None:
    (r,) = admitted(store, 1)
    redeem(store, "k", grant(r), "jti-lost")
    store.release(NS, "k", "jti-lost", T0 + 2)
    results = run_concurrently(6, lambda i: redeem(store, "k", grant(r), f"jti-{i}", T0 + 3))
    assert not [x for x in results if isinstance(x, BaseException)]
    assert len([x for x in results if x[0] is not None]) == 1  # type: ignore[index]
    assert store.counters(EVENT).issued == 1


def test_a_revoked_grant_is_refused(store: Any) -> None:
    (r,) = admitted(store, 1)
    store.revoke_grant(EVENT, "k", 60, T0)
    with pytest.raises(GrantRevoked):
        redeem(store, "k", grant(r), "jti-1")
    assert store.get_ticket(EVENT, r, T0 + 1).status is Status.ADMITTED


def test_concurrent_redemptions_open_one_session(store: Any) -> None:
    (r,) = admitted(store, 1)
    results = run_concurrently(8, lambda i: redeem(store, "k", grant(r), f"jti-{i}"))
    assert not [x for x in results if isinstance(x, BaseException)]
    firsts = [x for x in results if x[0] is not None]  # type: ignore[index]
    assert len(firsts) == 1
    assert all(x == (None, grant(r), None) for x in results if x[0] is None)  # type: ignore[index]
    jti = firsts[0][2].session.jti  # type: ignore[index]
    assert store.session_ticket(EVENT, jti, T0 + 1).request_id == r
    assert store.counters(EVENT).issued == 1
