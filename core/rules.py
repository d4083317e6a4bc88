"""Rules about a place's status that every store applies the same way."""

from __future__ import annotations

from .errors import NotAdmitted, PositionExpired, SessionEnded
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
