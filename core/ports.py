"""The small interfaces the domain needs from the outside world.

Each store implementation lives in :mod:`core.adapters` and passes the one contract suite in
``tests/contract``. Every method documented as atomic must be atomic across processes and
machines sharing the store, not only across threads.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol, runtime_checkable

from .draw import DrawState
from .model import Counters, DoorRule, Status, SweepResult, Ticket


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """POSIX seconds."""
        ...


class QueueStore(Protocol):
    """Places in line, counters and sessions of every event.

    Stores raise :class:`core.errors.StoreUnavailable` when the backend cannot be reached and
    the domain errors of :mod:`core.errors` for rule violations; nothing else.

    Holes. A store may allocate a position (an atomic counter) before it writes the place that
    holds it, as the DynamoDB store does. If that write fails, the position is a hole: nobody
    holds it, it is never handed to anyone else (positions only grow), and the store records it
    (or can tell it from a missing place) so that the sweep treats it exactly as an expired
    place: once admitted and ``position_expiry`` has passed it counts in ``expired``, and with
    ``incr_serving`` the serving counter moves on by one for it. A hole therefore never stalls
    the line. A request retried after such a failure gets a new position. Stores that write the
    position and the place in one atomic step (SQLite, Redis) never leave holes.
    """

    def enter(self, event_id: str, request_id: str, idempotency_key: str | None, now: float,
              door: DoorRule | None = None) -> Ticket:
        """Hand out the next position to ``request_id``. Atomic.

        If ``idempotency_key`` was seen before for this event, return the ticket created then
        (its request id, not the new one) and hand out nothing; likewise if ``request_id``
        already holds a place in this event (a queued entry delivered twice). Positions are
        1, 2, 3, ... with no repeat under any concurrency, and no gap but the holes a failed
        write may leave (see the class documentation).

        With ``door``, a new place that :class:`core.model.DoorRule` lets in is admitted in the
        same atomic step (status ADMITTED, admitted at ``now``): concurrent enters never admit
        more than the rule's limit between them.
        """
        ...

    def enter_many(self, event_id: str, entries: Sequence[tuple[str, str | None]], now: float) -> list[Ticket]:
        """Enter each ``(request_id, idempotency_key)`` of ``entries`` as :meth:`enter` would, in
        one store round trip (or transaction) for the whole list. Returns one ticket per entry,
        in list order; an empty list costs nothing.

        Each entry is atomic and idempotent exactly as :meth:`enter` is: a key seen before for
        this event, in an earlier call or earlier in this same list, returns the ticket created
        then (its request id) and hands out nothing, so two entries with one key get one place.
        New positions increase in list order. Other visitors may enter between two entries of
        the list, so its positions need not be contiguous; the rule that every position is
        handed out once, with no gap, holds across all callers as for :meth:`enter`.

        On failure (:class:`core.errors.StoreUnavailable`, for example a store that dies
        mid-call) no entry is ever half-applied: each one either holds its place with its
        idempotency record or left no trace. Some entries may have been entered and others not,
        so the caller retries the whole list with the same request ids and keys: the entered
        ones get their tickets back and the rest are entered. Without an idempotency key only
        :meth:`enter`'s own guarantees apply, so callers that retry should pass keys.
        """
        ...

    def get_ticket(self, event_id: str, request_id: str, now: float) -> Ticket | None:
        """The ticket with its status derived from the counters at this instant, or None."""
        ...

    def set_alias(self, event_id: str, alias: str, request_id: str, note: str, ttl: float, now: float) -> None:
        """Let ``alias`` (an opaque name, such as a digest of a browser's cookie) stand for the
        place ``request_id`` for ``ttl`` seconds from ``now``, with a short ``note`` kept beside
        it. Replaces what the alias stood for before. One write."""
        ...

    def resolve_alias(self, event_id: str, alias: str, now: float) -> tuple[str, str, Ticket | None] | None:
        """``(request_id, note, ticket)`` of a live alias, read in one step (the ticket is None if
        the place is gone), or None."""
        ...

    def counters(self, event_id: str) -> Counters:
        """All counters of the event, read atomically."""
        ...

    def advance_serving(self, event_id: str, by: int, now: float) -> int:
        """Move the serving counter by ``by`` (may be negative). Atomic.

        The result is clamped to ``[0, last_position]``: the counter never runs ahead of the
        line, so an idle strategy cannot pre-admit a burst that arrives later. Records when each
        new serving value was reached (the admission time of those positions). Returns the new
        serving counter.
        """
        ...

    def issue_session(
        self, event_id: str, request_id: str, jti: str, issued_at: int, expires_at: int, now: float,
        position_expiry: float = 0.0, grant: str | None = None,
    ) -> Ticket:
        """Record that tokens are issued to an admitted visitor. Atomic and idempotent.

        Raises NotAdmitted while ``position > serving``, PositionExpired once the position
        expired (also when it was admitted ``position_expiry`` seconds or more before ``now``
        and no sweep has marked it yet; 0 = no such limit), SessionEnded once the session was
        completed, abandoned or timed out. If a session already exists it is returned unchanged
        (same jti and times), so re-issuing yields equivalent tokens. A new session is found by
        its jti (:meth:`session_ticket`) from the same atomic step on.

        ``grant`` names what authorises this issue (an OIDC authorization code). If it was
        revoked by :meth:`revoke_grant`, GrantRevoked is raised instead, whatever the place's
        state; the check and the issue are one atomic step.
        """
        ...

    def redeem_for_session(
        self, namespace: str, key: str, value: str, until: float, keep: float, event_id: str, jti: str,
        issued_at: int, expires_at: int, now: float, position_expiry: float = 0.0,
    ) -> tuple[str | None, str | None, Ticket | None]:
        """Record a single-use credential as redeemed and open the session of the place it names:
        what :meth:`KeyValueStore.redeem` followed by :meth:`issue_session` with ``grant=key`` do,
        in one store round trip where the store can (an OpenID Connect code and its tokens).

        ``value`` is a JSON object whose ``request_id`` names a place of ``event_id`` (and whose
        ``event_id``, if any, is ``event_id``); the credential itself carries it (a sealed code),
        the store only remembers it once redeemed. Returns ``(value, None, ticket)`` when this
        call recorded the redemption, ``ticket`` holding the session (a new one with ``jti`` and
        these times, or the one it had); ``(None, recorded value, None)`` for a key recorded
        before by another attempt (a replay, nothing changed); ``(None, None, None)`` for a key
        not recorded whose ``until`` is not after ``now`` (expired unused; nothing written).

        The key is recorded as redeemed (by ``jti`` as the attempt, see
        :meth:`KeyValueStore.redeem`) only together with the session: a recorded key means
        tokens may have been issued under it, which is what makes a later presentation a
        replay to revoke. The same ``jti`` again gets the first answer again (a call resent
        after a lost reply), and :meth:`KeyValueStore.release` with ``jti`` forgets the record
        for the caller whose answer was lost. When no session can be opened, nothing is
        recorded and the error of :meth:`issue_session` is raised (NotAdmitted,
        PositionExpired, SessionEnded, GrantRevoked), or InvalidTransition for a value naming no
        place of ``event_id``. Atomic with respect to :meth:`revoke_grant` as
        :meth:`issue_session` is.
        """
        ...

    def release(self, namespace: str, key: str, attempt: str, now: float) -> bool:
        """:meth:`KeyValueStore.release`: undo :meth:`redeem_for_session` by ``attempt`` (its
        ``jti``) when its answer was lost. The session it may have opened stays (a later
        redemption of the key finds it)."""
        ...

    def revoke_grant(self, event_id: str, grant: str, ttl: float, now: float) -> None:
        """Make every later :meth:`issue_session` naming ``grant`` fail with GrantRevoked, for
        ``ttl`` seconds from ``now``. Idempotent. Atomic with respect to ``issue_session``: an
        issue either finished before the revocation (the session exists and a read after this
        call sees it) or is refused."""
        ...

    def session_ticket(self, event_id: str, jti: str, now: float) -> Ticket | None:
        """The ticket of the place whose session was opened with ``jti``, or None. A read.

        Found at least until :data:`core.rules.SESSION_LOOKUP_GRACE` seconds after the
        session's ``expires_at``, whatever became of the session; a store may keep it longer.
        """
        ...

    def end_session(self, event_id: str, request_id: str, status: Status, now: float) -> Ticket:
        """Mark an issued session COMPLETED or ABANDONED. Atomic; happens at most once.

        Raises InvalidTransition if there is no issued session or it already ended.
        """
        ...

    def sweep(self, event_id: str, now: float, position_expiry: float, incr_serving: bool) -> SweepResult:
        """Expire admitted positions not claimed within ``position_expiry`` seconds of admission
        (0 = never), and time out issued sessions whose tokens ran out. Atomic per call.

        When ``incr_serving`` is true the serving counter advances by the number of positions
        expired, so abandoned places never stall the line. Holes (see the class documentation)
        expire like unclaimed places and count in ``expired``.

        One call walks at most the store's ``sweep_positions`` positions (default
        :data:`core.model.SWEEP_POSITIONS`) past its expiry cursor, so a large jump of the
        serving counter is swept in steps, each short; the next call goes on where this one
        stopped. A sweep at the same instant as one that walked every due position changes
        nothing.
        """
        ...

    def expired_request_ids(self, event_id: str, limit: int) -> list[str]:
        """Request ids of expired positions and timed-out sessions, newest last (admin view)."""
        ...

    def claim_tick(self, event_id: str, name: str, tick: int) -> bool:
        """Atomic compare-and-set: True for exactly one caller per (event, name, tick), and only
        if ``tick`` is greater than every tick claimed before under that name.

        This is the lease that makes a scheduled step (an admission tick, a sweep) happen once
        however many workers or machines run the scheduler.
        """
        ...

    def serving_history(self, event_id: str, since: float) -> list[tuple[float, int]]:
        """(time, serving counter) each time the counter moved at or after ``since``, oldest first."""
        ...

    def get_control(self, event_id: str) -> dict[str, str]:
        """Runtime overrides set by operators (for example ``paused``); an empty dict if none."""
        ...

    def set_control(self, event_id: str, key: str, value: str | None) -> None:
        """Set (or with None, remove) one runtime override."""
        ...

    def prepare_draw(self, event_id: str, secret: str) -> DrawState:
        """Keep ``secret`` (hex, :func:`core.draw.new_secret`) as the event's draw secret unless
        one is kept already, and return the kept state. Atomic set-if-absent: however many
        workers race, all get the same secret, so the published commitment never changes."""
        ...

    def open_draw(self, event_id: str, now: float) -> DrawState:
        """The opening of a ``random_before_opening`` event: one write, whatever the number of
        places. Atomic and idempotent: the first call fixes ``size`` = the last arrival index
        handed out (``last_position``) and ``opened_at`` = ``now``; every later call returns
        that same state unchanged.

        From the same atomic step on, the place with arrival index ``i`` holds position
        :func:`core.draw.position_of` (``secret``, ``size``, ``i``) in everything the store
        does: a ticket's ``position`` and status (admitted once position <= serving), admission
        times, the door rule, the expiry sweep (which walks positions, finding each place by
        :func:`core.draw.index_at`), sessions and the admin lists. Places entered later get
        arrival indexes above ``size`` and keep them as positions. Before the opening (and in
        events that never draw) positions are arrival indexes.

        Raises InvalidTransition when no secret was prepared, or when the serving counter ever
        moved, even if it is back at 0 now (somebody was admitted in arrival order and may hold
        tokens; the domain never lets that happen before the opening).
        """
        ...

    def draw_state(self, event_id: str) -> DrawState | None:
        """The event's draw as kept (secret, and once open its size and time), or None. A read."""
        ...

    def arrivals(self, event_id: str, first: int, count: int) -> list[str | None]:
        """Request ids of the places with arrival indexes ``first`` .. ``first + count - 1``,
        in that order, cut short at ``last_position``; None for an index no place holds (a hole,
        see the class documentation). A read: the draw's published list is made from it."""
        ...

    def reset(self, event_id: str, keep_controls: Collection[str] = ()) -> None:
        """Forget everything of one event: positions, sessions, counters, ticks, overrides, the draw,
        except the controls named in ``keep_controls`` (:meth:`set_control` keys), which keep their
        values (a name with no control stays absent).

        Keeping a control is part of the same step as forgetting the rest (one transaction, one
        script; on stores whose reset is not atomic, the kept items are never deleted), so a
        control written before the reset is in force at every instant after it: a new opening
        time (``opens_at``) written first and kept means no worker ever finds the event without a
        draw and with its old, past opening time."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        ...

    def close(self) -> None: ...


class KeyValueStore(Protocol):
    """Records with a lifetime each (redeemed authorization codes, registered clients, revoked token ids).

    A record is live while ``now`` (the caller's clock) is before the instant it expires.
    ``take`` reads a single-use record in one atomic step; ``redeem`` records the use of a
    credential that carries its own record, in one atomic step: two concurrent redemptions can
    never both succeed.
    """

    def put(self, namespace: str, key: str, value: str, ttl: float, now: float) -> None:
        """Write a record live for ``ttl`` seconds from ``now``, replacing any record under the
        key (a redeemed one too). A ``ttl`` of 0 or less deletes it."""
        ...

    def get(self, namespace: str, key: str, now: float) -> str | None:
        """The value of a live record, or None (also for a redemption). Reads only."""
        ...

    def take(self, namespace: str, key: str, now: float) -> str | None:
        """Read and delete a live record in one atomic step; None if there is none. A
        redemption is not a live record: take returns None and leaves it in place."""
        ...

    def redeem(self, namespace: str, key: str, value: str, until: float, keep: float, now: float,
               attempt: str | None = None) -> tuple[str | None, str | None]:
        """Record that a single-use credential named ``key`` was used, once. Atomic.

        The credential carries its own record (``value``; an authorization code sealed with
        it), so the store holds nothing under ``key`` until its first use. A key not recorded
        yet, while ``now`` is before ``until`` (the credential's expiry), is recorded as
        redeemed by ``attempt`` (an unguessable id of this try) with ``value``, kept until
        ``keep`` seconds after ``now``, and ``(value, None)`` is returned: exactly one caller
        gets this, however many race. The same ``attempt`` again gets ``(recorded value,
        None)`` again (a call resent after its reply was lost is not its own replay). A key
        recorded before by another attempt (or by none) and still kept gives ``(None,
        recorded value)``: a replay, nothing changed, also after ``until``. Otherwise ``(None,
        None)``: expired unused, nothing written. A record :meth:`put` under the key is not a
        redemption and is replaced.
        """
        ...

    def release(self, namespace: str, key: str, attempt: str, now: float) -> bool:
        """Undo :meth:`redeem` by ``attempt``, whose outcome the caller could not pass on (the
        store failed, or its reply was lost): the key's redemption is forgotten, so the
        credential redeems again while it has not expired. Atomic compare-and-delete: True if
        the key was recorded by ``attempt`` and is forgotten now; False, and nothing changes,
        for a key recorded by another attempt, or not recorded. Idempotent."""
        ...

    def delete(self, namespace: str, key: str) -> None:
        """Remove the record, redeemed or not. Idempotent."""
        ...

    def incr(self, namespace: str, key: str, ttl: float, now: float) -> int:
        """Add one to a counter record and return the new count. Atomic.

        The first increment of a key opens a window of ``ttl`` seconds; once it has passed, the
        next increment starts again at 1 (fixed-window rate limits). A store may end the window
        by its own clock rather than by ``now`` (Redis does).
        """
        ...
