"""Errors the domain raises. The web layer maps each to one HTTP/OAuth error in one place."""


class WaitingRoomError(Exception):
    """Base class. ``code`` is a stable machine-readable name."""

    code = "error"


class UnknownEvent(WaitingRoomError):
    code = "unknown_event"


class UnknownRequest(WaitingRoomError):
    code = "unknown_request"


class NotAdmitted(WaitingRoomError):
    """The visitor's position is not yet <= the serving counter."""

    code = "not_admitted"


class PositionExpired(WaitingRoomError):
    code = "position_expired"


class SessionEnded(WaitingRoomError):
    code = "session_ended"


class GrantRevoked(WaitingRoomError):
    """What authorised this token issue (an authorization code) was revoked: it was replayed."""

    code = "grant_revoked"


class InvalidTransition(WaitingRoomError):
    code = "invalid_transition"


class InvalidArgument(WaitingRoomError):
    code = "invalid_argument"


class StoreUnavailable(WaitingRoomError):
    """The backing store cannot be reached. Clients should retry later (HTTP 503)."""

    code = "store_unavailable"
