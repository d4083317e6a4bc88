"""Rules about a place's status that every store applies the same way."""

from __future__ import annotations

import json
from typing import Any

from .errors import GrantRevoked, InvalidTransition, NotAdmitted, PositionExpired, SessionEnded
from .model import Status, Ticket

SESSION_LOOKUP_GRACE = 300
"""Seconds after a session's tokens expire during which it is still found by its jti, so a site
that reports the end of a session a little late still reaches it."""


def check_issuable(ticket: Ticket, now: float, position_expiry: float = 0.0) -> bool:
    """Whether tokens may be issued to this place: False for a newly admitted place, True when a
    session exists already (re-issuing returns it unchanged). Raises NotAdmitted while waiting,
    PositionExpired once expired (or admitted ``position_expiry`` seconds or more ago, before a
    sweep marked it), SessionEnded once completed, abandoned or timed out."""
    if ticket.status is Status.WAITING:
        raise NotAdmitted("this place in line is not admitted yet")
    if ticket.status is Status.EXPIRED or (
        ticket.status is Status.ADMITTED
        and position_expiry > 0
        and ticket.admitted_at is not None
        and ticket.admitted_at <= now - position_expiry
    ):
        raise PositionExpired("this place in line expired before its tokens were claimed")
    if ticket.status is Status.ISSUED:
        return True
    if ticket.status is not Status.ADMITTED:
        raise SessionEnded(f"this session is {ticket.status.value}")
    return False


def place_of_grant(value: str, event_id: str) -> str:
    """The request id a redeemed record names (a JSON object with ``request_id``, and
    ``event_id`` if any equal to ``event_id``); InvalidTransition for anything else."""
    try:
        record = json.loads(value)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("request_id"), str) \
            or record.get("event_id", event_id) != event_id:
        raise InvalidTransition("the record names no place of this event")
    return str(record["request_id"])


def redeem_for_session_in_steps(
    store: Any, namespace: str, key: str, value: str, until: float, keep: float, event_id: str, jti: str,
    issued_at: int, expires_at: int, now: float, position_expiry: float = 0.0,
) -> tuple[str | None, str | None, Ticket | None]:
    """:meth:`core.ports.QueueStore.redeem_for_session` as store steps, for a store that cannot
    do it in one: ``redeem`` by ``jti`` as the attempt, then ``issue_session`` under the key as
    its grant, so a replay that revokes the grant between the two steps is still seen. A
    refused issue releases the key again (a third step) before its error is raised; a failed
    one (StoreUnavailable) leaves that to the caller, which alone knows the answer is lost."""
    recorded, replayed = store.redeem(namespace, key, value, until, keep, now, jti)
    if recorded is None:
        return None, replayed, None
    try:
        request_id = place_of_grant(recorded, event_id)
        ticket = store.issue_session(event_id, request_id, jti, issued_at, expires_at, now, position_expiry, key)
    except (GrantRevoked, InvalidTransition, NotAdmitted, PositionExpired, SessionEnded):
        store.release(namespace, key, jti, now)
        raise
    return recorded, None, ticket
