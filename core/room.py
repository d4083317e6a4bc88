"""Use cases of the waiting room. Each one is a single atomic step against the store.

The web layer (REST API, OIDC provider, Lambda handlers) calls these and nothing below them.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

from . import admission, draw, opening, randomness
from .draw import DrawState
from .errors import (
    InvalidArgument,
    InvalidTransition,
    SessionEnded,
    StoreUnavailable,
    UnknownEvent,
    UnknownRequest,
)
from .messages import MESSAGE, OperatorMessage, validated
from .model import (
    ENDED_STATUSES,
    MAX_ADMISSION_COUNT,
    MAX_EVERY,
    MIN_EVERY,
    REQUEST_ID_PATTERN,
    AdmissionPolicy,
    Counters,
    DoorRule,
    EventSettings,
    PositionView,
    Queueing,
    Session,
    Status,
    Strategy,
    SweepResult,
    Ticket,
    is_strong_idempotency_key,
    ticket_id_for,
)
from .opening import OPENS_AT, Opening, OpeningState
from .ports import Clock, QueueStore
from .rules import SESSION_LOOKUP_GRACE
from .tokens import TokenSigner, at_hash, new_jti, session_claims

CONTROLS_MAX_AGE = 1.0
"""Seconds a process reuses the operators' controls it read for the door rule."""

MAX_INCREMENT = MAX_ADMISSION_COUNT
"""The most one admin call may move a serving counter; larger values are surely a typo."""

PAUSED = "paused"
EXPIRED_WHILE_PAUSED = "expired_while_paused"
"""Control key: expired places found by sweeps during a pause, to be replaced when admission
resumes (``incr_serving_on_expiry``). Kept beside the overrides but is not one."""
STATE_CONTROLS = frozenset({PAUSED, EXPIRED_WHILE_PAUSED, MESSAGE})
"""Control keys that record state (or the operator message) rather than override a configured setting."""


ARRIVALS_PAGE = 10_000
"""Places read per store call when the draw document lists a pre-queue."""


def _whole(value: str | None) -> int:
    """A count kept as a control value; 0 for none or a value that is not one."""
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


def new_request_id() -> str:
    """192 random bits, URL-safe: the secret that proves a place in line."""
    return randomness.token_urlsafe(24)


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    id_token: str
    token_type: str
    expires_in: int
    ticket: Ticket
    access_claims: Mapping[str, Any] | None = None
    """The claims signed into ``access_token`` (OpenID Connect issues), for a verifier to remember."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "id_token": self.id_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }


@dataclass(frozen=True)
class EventState:
    """What operators set for one event at run time (:meth:`WaitingRoom.event_state`)."""

    policy: AdmissionPolicy
    """The configured admission policy with runtime overrides applied."""
    paused: bool
    message: OperatorMessage | None
    """The operator message as stored, expired or not (see :meth:`OperatorMessage.live_at`)."""


class WaitingRoom:
    """All events of one deployment, over one store and one key set."""

    def __init__(
        self,
        events: Mapping[str, EventSettings],
        store: QueueStore,
        signer: TokenSigner,
        clock: Clock,
        issuer: str,
        clock_skew: float = 0.0,
    ) -> None:
        self.events = dict(events)
        self.store = store
        self.signer = signer
        self.clock = clock
        self.issuer = issuer
        self.clock_skew = clock_skew
        """Seconds the clocks of workers sharing the store may differ; scheduled steps pass it as
        ``grace`` so that no worker with a fast clock expires or admits anyone early."""
        self._controls_seen: dict[str, tuple[float, dict[str, str]]] = {}
        self._draws_seen: dict[str, tuple[float, DrawState | None]] = {}

    # -- events -------------------------------------------------------------------------------

    def event(self, event_id: str) -> EventSettings:
        try:
            return self.events[event_id]
        except (KeyError, TypeError):
            raise UnknownEvent(f"unknown event {event_id!r}") from None

    def policy(self, event_id: str) -> AdmissionPolicy:
        """The configured admission policy with operators' runtime overrides applied."""
        return self.admission_state(event_id)[0]

    def admission_state(self, event_id: str) -> tuple[AdmissionPolicy, bool]:
        """The admission policy with runtime overrides, and whether admission is paused, from one
        read of the event's controls (:meth:`policy` and :meth:`is_paused` are its two halves)."""
        state = self.event_state(event_id)
        return state.policy, state.paused

    def event_state(self, event_id: str) -> EventState:
        """Everything operators set at run time for one event, from one read of its controls."""
        settings = self.event(event_id)
        controls = self.store.get_control(settings.event_id)
        return EventState(admission.with_overrides(settings.admission, controls), controls.get(PAUSED) == "1",
                          OperatorMessage.decode(controls.get(MESSAGE)))

    def set_message(self, event_id: str, text: str, expires_at: float | None) -> OperatorMessage | None:
        """Show ``text`` to the event's line until ``expires_at`` (POSIX seconds; None: until
        replaced); an empty ``text`` clears the message. One write, seen by every worker on its
        next read. Returns the stored message (None when cleared). Raises
        :class:`InvalidArgument` as :func:`core.messages.validated` does."""
        settings = self.event(event_id)
        message = validated(text, expires_at, self.clock.now())
        self.store.set_control(settings.event_id, MESSAGE, None if message is None else message.encode())
        return message

    def is_paused(self, event_id: str) -> bool:
        return self.admission_state(event_id)[1]

    def set_paused(self, event_id: str, paused: bool) -> None:
        self.store.set_control(self.event(event_id).event_id, PAUSED, "1" if paused else None)
        self._controls_seen.pop(event_id, None)

    def door_rule(self, event_id: str) -> DoorRule | None:
        """The rule under which a visitor entering now is admitted at once while there is room
        (:func:`core.admission.door_rule`), or None while paused.

        The operators' controls are read at most once per :data:`CONTROLS_MAX_AGE` seconds per
        process, so entering costs no extra store round trip; the store checks the pause itself
        in the enter step, so a pause applies to the door at once wherever it was set. So with
        the draw: a random event's rule is ``after_draw``, and the store admits only if the
        draw is open as it reads it (this process's copy may predate a reset elsewhere)."""
        now = self.clock.now()
        controls = self._recent_controls(event_id, now)
        if controls.get(PAUSED) == "1" or self._gate(event_id, now).is_gated:
            return None
        settings = self.event(event_id)
        rule = admission.door_rule(admission.with_overrides(settings.admission, controls), now, self.clock_skew)
        if rule is not None and settings.queueing is Queueing.RANDOM_BEFORE_OPENING:
            rule = replace(rule, after_draw=True)
        return rule

    def _recent_controls(self, event_id: str, now: float) -> dict[str, str]:
        """The event's controls, read at most once per :data:`CONTROLS_MAX_AGE` seconds per process."""
        seen = self._controls_seen.get(event_id)
        if seen is None or not 0 <= now - seen[0] < CONTROLS_MAX_AGE:
            seen = self._controls_seen[event_id] = (now, self.store.get_control(event_id))
        return seen[1]

    def overrides(self, event_id: str) -> dict[str, str]:
        """The operators' runtime overrides of the configured admission policy (not the pause)."""
        controls = self.store.get_control(self.event(event_id).event_id)
        return {key: value for key, value in controls.items() if key not in STATE_CONTROLS}

    def set_rate(self, event_id: str, **values: int | float | str | None) -> AdmissionPolicy:
        """Change the admission policy at run time; None removes an override (back to the
        configured value). ``start_at`` / ``end_at`` take POSIX seconds, or
        :data:`core.admission.NO_TIME` to run without that bound. ``opens_at`` moves the
        event's opening as :meth:`set_opens_at` does (checked first, written last)."""
        self.event(event_id)
        moves_opening = OPENS_AT in values
        new_opens_at = values.pop(OPENS_AT, None)
        if moves_opening:
            self._check_opens_at(event_id, new_opens_at)
        allowed = set(admission.OVERRIDABLE)
        unknown = set(values) - allowed
        if unknown:
            raise InvalidArgument(f"unknown admission setting(s): {', '.join(sorted(unknown))}")
        candidate = dict(self.store.get_control(event_id))
        for key, value in values.items():
            if value is None:
                candidate.pop(key, None)
            else:
                candidate[key] = str(value)
        base = self.event(event_id).admission
        effective = admission.with_overrides(base, candidate)
        casts: dict[str, Any] = {"strategy": str, "increment_by": int, "every": float, "max_active": int,
                                 "start_at": admission.instant_or_none, "end_at": admission.instant_or_none}
        for key, value in values.items():
            if value is None:
                continue
            actual = getattr(effective, key)
            try:  # parsed the way with_overrides parses it, so every=5 matches the 5.0 it becomes
                applied = (actual.value if key == "strategy" else actual) == casts[key](str(value))
            except ValueError:
                applied = False
            if not applied:
                raise InvalidArgument(
                    f"invalid value for {key}: {value!r} (every: {MIN_EVERY:g} to {MAX_EVERY:g} seconds; "
                    f"increment_by and max_active: 0 to {MAX_ADMISSION_COUNT:,}; the strategy's own needs)"
                )
        for key, value in values.items():
            self.store.set_control(event_id, key, None if value is None else str(value))
        if moves_opening:
            self.set_opens_at(event_id, new_opens_at)
        self._controls_seen.pop(event_id, None)
        return effective

    # -- the opening ------------------------------------------------------------------------
    # The draw record changes twice in an event's life (prepared, opened) and then only by a
    # reset, so a process keeps what it read for CONTROLS_MAX_AGE seconds: entering and reading
    # a place cost no extra store round trip. Correctness does not rest on this copy: the store
    # computes positions from its own record, and operators' moves read it fresh.

    def _draw_seen(self, event_id: str, now: float, fresh: bool = False) -> DrawState | None:
        """The draw record of a random event (prepared here if it has none, so its commitment is
        published before anyone can take a place); None for a fifo event."""
        if self.event(event_id).queueing is not Queueing.RANDOM_BEFORE_OPENING:
            return None
        seen = self._draws_seen.get(event_id)
        if fresh or seen is None or seen[1] is None or not 0 <= now - seen[0] < CONTROLS_MAX_AGE:
            state = self.store.draw_state(event_id)
            if state is None:
                state = self.store.prepare_draw(event_id, draw.new_secret())
            seen = self._draws_seen[event_id] = (now, state)
        return seen[1]

    def _gate(self, event_id: str, now: float, controls: Mapping[str, str] | None = None) -> Opening:
        """The event's opening, opened first if it is due (:meth:`ensure_opened`), without the
        pre-queue's size. From this process's recent copies of the controls and the draw, or,
        given ``controls`` just read, from those and a fresh read of the draw."""
        settings = self.event(event_id)
        fresh = controls is not None
        if controls is None:
            controls = self._recent_controls(event_id, now)
        else:
            self._controls_seen[event_id] = (now, dict(controls))
        opens_at = opening.opens_at_in_force(settings, controls)
        if settings.queueing is Queueing.FIFO and opens_at is None:
            return Opening(event_id, settings.queueing, None, OpeningState.NONE)
        state = self._draw_seen(event_id, now, fresh)
        if state is not None and not state.is_open and opening.is_due(opens_at, now, self.clock_skew):
            if not fresh:
                # The draw is irreversible and reveals the secret: decide it on the controls as
                # they are now, not on this process's copy, which may predate an operator's
                # move of the opening to later.
                return self._gate(event_id, now, self.store.get_control(settings.event_id))
            try:
                state = self.store.open_draw(event_id, now)
            except InvalidTransition:
                # Places were admitted in arrival order before this event drew (its queueing was
                # changed while it ran): it stays shut until operators reset it.
                state = self._draw_seen(event_id, now, fresh=True)
            self._draws_seen[event_id] = (now, state)
        return opening.opening_of(settings, opens_at, state, None, now, self.clock_skew)

    def ensure_opened(self, event_id: str) -> Opening:
        """Open the event's draw if its opening time has come (``now - clock_skew >= opens_at``)
        and it is not open yet; the event's :class:`Opening` after that (before the opening
        without ``pre_queue_size``, which :meth:`opening` reads: None).

        Called by the admission scheduler on every pass; every enter and place read does the
        same from this process's recent copies, so the opening happens at the first of them
        after the opening time. One store write at most (:meth:`core.ports.QueueStore.open_draw`,
        atomic: exactly one draw however many workers call it together); nothing for a fifo
        event, whose opening is only a time. Reads the controls and the draw afresh."""
        return self._gate(event_id, self.clock.now(), self.store.get_control(self.event(event_id).event_id))

    def opening(self, event_id: str) -> Opening:
        """The event's :class:`core.opening.Opening` (opening time, state, pre-queue size,
        commitment, and once open the revealed secret), read afresh from the store. Opens the
        draw first if it is due, and prepares a random event's draw secret if it has none yet.
        Raises UnknownEvent."""
        now = self.clock.now()
        gate = self.ensure_opened(event_id)
        if gate.state is OpeningState.NONE:
            return gate
        last_position = self.store.counters(event_id).last_position if gate.is_gated else None
        return opening.opening_of(self.event(event_id), gate.opens_at, self._draw_seen(event_id, now), last_position,
                                  now, self.clock_skew)

    def open_now(self, event_id: str) -> Opening:
        """Operators' "open now": the opening time becomes now and a random event's draw opens
        at once (one store write, as at the configured time). Idempotent: an event already open,
        or with no opening time, is returned unchanged. Raises InvalidTransition when the draw
        cannot open (places were admitted before it: see
        :meth:`core.ports.QueueStore.open_draw`)."""
        current = self.opening(event_id)
        if current.state is not OpeningState.PRE_QUEUE:
            return current
        now = self.clock.now()
        # less the allowed clock skew, so every worker finds the opening time passed
        self.store.set_control(event_id, OPENS_AT, repr(now - max(0.0, self.clock_skew)))
        self._controls_seen.pop(event_id, None)
        if current.is_random:
            self._draws_seen[event_id] = (now, self.store.open_draw(event_id, now))
        return self.opening(event_id)

    def set_opens_at(self, event_id: str, opens_at: float | str | None) -> Opening:
        """Move the event's opening time at run time: POSIX seconds, :data:`core.opening.NO_TIME`
        (a fifo event only: no opening time) or None (back to the configured ``opens_at``). One
        control write, seen by every worker within :data:`CONTROLS_MAX_AGE` seconds. A time
        already past opens the event at the next enter, place read or scheduler pass.

        Raises InvalidTransition once the event has opened (the draw's secret is revealed then,
        so its order is fixed), InvalidArgument for a value that is not a finite time or for no
        opening time on a random event."""
        self._check_opens_at(event_id, opens_at)
        self.store.set_control(event_id, OPENS_AT, None if opens_at is None else str(opens_at))
        self._controls_seen.pop(event_id, None)
        return self.opening(event_id)

    def _check_opens_at(self, event_id: str, opens_at: float | str | None) -> None:
        """Raise as :meth:`set_opens_at` does unless ``opens_at`` may be set now."""
        self._check_opens_at_value(event_id, opens_at)
        if self.opening(event_id).state is OpeningState.OPEN:
            raise InvalidTransition("the event has opened already; its opening time can no longer move")

    def _check_opens_at_value(self, event_id: str, opens_at: float | str | None) -> None:
        """Raise InvalidArgument unless ``opens_at`` is a value :meth:`set_opens_at` takes."""
        settings = self.event(event_id)
        if opens_at is not None and opens_at != opening.NO_TIME:
            try:
                valid = not isinstance(opens_at, bool) and math.isfinite(float(opens_at))
            except (TypeError, ValueError):
                valid = False
            if not valid:
                raise InvalidArgument("opens_at must be a time in POSIX seconds, \"\" for none, or null")
        elif opens_at == opening.NO_TIME and settings.queueing is Queueing.RANDOM_BEFORE_OPENING:
            raise InvalidArgument("a random_before_opening event needs an opening time")

    def draw_document(self, event_id: str) -> dict[str, Any]:
        """The public record of the event's draw (``GET /events/<event_id>/draw``), everything a
        visitor needs to recompute it (:func:`core.draw.verify`)::

            {"event_id", "queueing", "algorithm", "opens_at", "state", "commitment",
             "secret" (null until open), "size" (null until open), "opened_at" (null until open),
             "tickets": [public ticket ids in arrival order, null for a hole] or null until open}

        Ticket ids are :func:`core.model.ticket_id_for` of each place's request id (one-way),
        never request ids. Times are POSIX seconds. A fifo event has no commitment, secret or
        list. The list is read from the store in pages of :data:`ARRIVALS_PAGE` on each call (callers
        keep the document: it cannot change from the opening to a reset). Raises UnknownEvent."""
        current = self.opening(event_id)
        state = self._draws_seen.get(event_id, (0.0, None))[1]
        tickets: list[str | None] | None = None
        if current.is_random and current.state is OpeningState.OPEN and state is not None:
            tickets = self._draw_list(event_id, state)
        return {
            "event_id": event_id,
            "queueing": current.queueing.value,
            "algorithm": draw.ALGORITHM,
            "opens_at": current.opens_at,
            "state": current.state.value,
            "commitment": current.commitment,
            "secret": current.secret,
            "size": current.size,
            "opened_at": current.opened_at,
            "tickets": tickets,
        }

    def _draw_list(self, event_id: str, state: DrawState) -> list[str | None]:
        """Public ticket ids of the drawn places, in arrival order, read from the store. Not kept
        here: the web layer keeps the serialised document (a million ids are about 100 MB as
        Python strings, 30 MB as JSON)."""
        size = state.size or 0
        tickets: list[str | None] = []
        while len(tickets) < size:
            page = self.store.arrivals(event_id, len(tickets) + 1, min(ARRIVALS_PAGE, size - len(tickets)))
            if not page:
                break
            tickets.extend(None if request_id is None else ticket_id_for(request_id) for request_id in page)
        return tickets

    def _refuse_while_gated(self, event_id: str) -> None:
        """InvalidTransition while the event has not opened (read afresh): nobody is admitted
        before the opening, so the draw never reorders admitted people."""
        gate = self.ensure_opened(event_id)
        if gate.is_gated:
            when = "when its draw is opened" if gate.opens_at is None else \
                datetime.datetime.fromtimestamp(gate.opens_at, datetime.UTC).isoformat(timespec="seconds")
            raise InvalidTransition(f"the event opens at {when}; open it first")

    # -- visitors -----------------------------------------------------------------------------

    def enter(self, event_id: str, idempotency_key: str | None = None) -> Ticket:
        """Take the next place in line. Idempotent per ``idempotency_key``.

        While there is room (:meth:`door_rule`) and nobody waits, the new place is admitted in
        the same atomic store step: the ticket comes back ADMITTED."""
        self.event(event_id)
        self._check_idempotency_key(idempotency_key)
        self._gate(event_id, self.clock.now())  # the opening happens at the first step after its time
        return self.store.enter(event_id, new_request_id(), idempotency_key, self.clock.now(),
                                self.door_rule(event_id))

    def check_enter(self, event_id: str, idempotency_key: str | None = None) -> None:
        """Raise UnknownEvent or InvalidArgument unless :meth:`enter` with these arguments could
        take a place (no store call: a caller counting entries counts only these)."""
        self.event(event_id)
        self._check_idempotency_key(idempotency_key)

    def check_entry(self, event_id: str, request_id: str, idempotency_key: str | None) -> None:
        """Raise UnknownEvent or InvalidArgument unless this visitor may enter through
        :meth:`enter_many`: a known event, a well-formed request id, a key as :meth:`enter` takes."""
        self.event(event_id)
        if not isinstance(request_id, str) or not REQUEST_ID_PATTERN.match(request_id):
            raise InvalidArgument("malformed request id")
        self._check_idempotency_key(idempotency_key)

    def enter_many(self, event_id: str, entries: Sequence[tuple[str, str | None]]) -> list[Ticket]:
        """Enter visitors whose request ids were made earlier (the queued entry path), in list
        order, with one store call; one ticket per ``(request_id, idempotency_key)``.

        Each entry is atomic and idempotent as in :meth:`enter`, and a key repeated within the
        list gets one place (see :meth:`core.ports.QueueStore.enter_many`). Every entry is
        checked first (:meth:`check_entry`), so an invalid one raises before anything is
        entered; a caller that must set invalid entries aside checks them one by one. After a
        StoreUnavailable some entries may be entered: retry the whole list with the same keys.
        """
        entries = list(entries)
        for request_id, idempotency_key in entries:
            self.check_entry(event_id, request_id, idempotency_key)
        if entries:
            self._gate(event_id, self.clock.now())
        return self.store.enter_many(event_id, entries, self.clock.now())

    @staticmethod
    def _check_idempotency_key(idempotency_key: str | None) -> None:
        if idempotency_key is not None and not (
            isinstance(idempotency_key, str) and is_strong_idempotency_key(idempotency_key)
        ):
            raise InvalidArgument(
                "an idempotency key must hold at least 128 random bits: a UUID v4, 32 or more hex digits, "
                "or 22 to 128 URL-safe base64 characters"
            )

    def ticket(self, event_id: str, request_id: str) -> Ticket:
        self.event(event_id)
        if not isinstance(request_id, str) or not REQUEST_ID_PATTERN.match(request_id):
            raise UnknownRequest("unknown request id")
        self._gate(event_id, self.clock.now())  # the opening happens at the first step after its time
        ticket = self.store.get_ticket(event_id, request_id, self.clock.now())
        if ticket is None:
            raise UnknownRequest("unknown request id")
        return ticket

    def claim_deadline(self, event_id: str) -> float:
        """Seconds an admitted visitor has to claim tokens, as enforced: the event's
        ``queue_position_expiry`` plus the allowed clock skew (0 = no limit). The sweep and the
        token step use the same period, so a place is never refused early by either."""
        expiry = float(self.event(event_id).queue_position_expiry)
        return expiry + max(0.0, self.clock_skew) if expiry > 0 else 0.0

    def position(self, event_id: str, request_id: str) -> PositionView:
        """What the visitor holding ``request_id`` may learn of their place. Before a random
        event's draw the place is in the pre-queue: ``pre_queue`` is true and ``position`` is 0
        (not decided yet); while any event waits for its opening ``opens_at`` gives the time.
        Raises UnknownEvent, UnknownRequest."""
        self.event(event_id)
        gate = self._gate(event_id, self.clock.now())  # read before the place: never a stale "drawn"
        ticket = self.ticket(event_id, request_id)
        counters = self.store.counters(event_id)
        pre_queue = gate.is_gated and gate.is_random
        return PositionView(
            event_id=event_id,
            position=0 if pre_queue else ticket.position,
            serving=counters.serving,
            status=ticket.status,
            entered_at=ticket.entered_at,
            admitted_at=ticket.admitted_at,
            pre_queue=pre_queue,
            opens_at=gate.opens_at if gate.is_gated else None,
            arrival=ticket.position if pre_queue else None,
        )

    def issue_tokens(self, event_id: str, request_id: str, validity: int | None = None) -> IssuedTokens:
        """Issue an access token and an id token to an admitted visitor.

        Idempotent: asking again returns tokens with the same claims. Raises NotAdmitted for a
        visitor still waiting, so no token ever exists for someone not admitted.
        """
        ticket, session, now = self._open_session(event_id, request_id, validity)
        common = self._claims_of(ticket, session)
        access = self.signer.sign(session_claims(**common, audience=event_id, token_use="access"))
        id_token = self.signer.sign(session_claims(**common, audience=event_id, token_use="id"))
        return IssuedTokens(access, id_token, "Bearer", max(0, session.expires_at - int(now)), ticket)

    def issue_oidc_tokens(
        self,
        event_id: str,
        request_id: str,
        *,
        client_id: str,
        validity: int | None = None,
        nonce: str | None = None,
        scope: str = "",
        id_claims: Mapping[str, Any] | None = None,
        grant: str | None = None,
        opened: tuple[Ticket, Session, float] | None = None,
        auth_time: int | None = None,
    ) -> IssuedTokens:
        """Issue the tokens of an OpenID Connect token response to an admitted visitor.

        The same session step as :meth:`issue_tokens` (atomic, idempotent, NotAdmitted while
        waiting), with the claims a relying party checks: the access token keeps ``aud`` = event
        id (what the authorizer accepts) and names the client; the id token has ``aud`` = client
        id, ``azp``, ``nonce``, ``at_hash`` and ``auth_time``: the given one (epoch seconds; a
        visitor who re-authenticated did so when they came back to claim their place), else the
        admission time.

        ``grant`` (the authorization code's id) makes the step refuse with GrantRevoked once
        :meth:`revoke_grant` was called for it, atomically with the issue.

        Every call signs tokens issued now, for the same session: ``iat`` is now and ``exp`` is
        ``validity`` seconds from now, but never past the session's own ``expires_at`` (a later
        sign-in never extends the session). Relying parties refuse an id token issued long ago
        (mod_auth_openidc: 600 s), so a visitor who signs in again gets a fresh one. Raises
        SessionEnded when the session's time is up, even before a sweep marked it timed out.

        ``opened``, what :meth:`redeem_for_oidc_session` returned, signs the tokens of a session
        opened already (no store step here).
        """
        if opened is None:
            opened = self._open_session(event_id, request_id, validity, grant)
        ticket, session, now = opened
        issued_at = int(now)
        expires_at = min(issued_at + (validity or self.event(event_id).token_validity), session.expires_at)
        if expires_at <= issued_at:
            raise SessionEnded("this session timed out")
        common = self._claims_of(ticket, session)
        common.update(issued_at=issued_at, expires_at=expires_at)
        access_extra: dict[str, Any] = {"client_id": client_id}
        if scope:
            access_extra["scope"] = scope
        access_claims = session_claims(**common, audience=event_id, token_use="access", extra=access_extra)
        access = self.signer.sign(access_claims)
        if auth_time is None:
            auth_time = int(ticket.admitted_at if ticket.admitted_at is not None else session.issued_at)
        id_extra: dict[str, Any] = {"azp": client_id, "auth_time": auth_time, "at_hash": at_hash(access)}
        if nonce:
            id_extra["nonce"] = nonce
        id_extra.update(id_claims or {})
        id_token = self.signer.sign(
            session_claims(**common, audience=client_id, token_use="id", extra=id_extra)
        )
        return IssuedTokens(access, id_token, "Bearer", expires_at - issued_at, ticket, access_claims)

    def redeem_for_oidc_session(
        self, event_id: str, namespace: str, key: str, value: str, until: float, keep: float,
        validity: int | None = None, attempt: str | None = None,
    ) -> tuple[str | None, str | None, tuple[Ticket, Session, float] | None]:
        """Record the redemption of an authorization code (its id ``key``, its grant ``value``: a
        JSON object naming the place, redeemable until ``until``, remembered ``keep`` seconds)
        and open the session of the place it names in one store step
        (:meth:`core.ports.QueueStore.redeem_for_session`, the key as the grant). Returns
        ``(value, None, opened)`` for the first redemption, ``opened`` to pass to
        :meth:`issue_oidc_tokens`; ``(None, recorded value, None)`` for a replay; ``(None, None,
        None)`` for a code expired unused. Raises :meth:`issue_oidc_tokens`'s errors when the
        place can have no session (nothing is recorded; UnknownRequest for a value naming no
        place).

        A step that fails with StoreUnavailable may still have recorded the redemption (a reply
        lost after the store acted): this try is then released
        (:meth:`core.ports.KeyValueStore.release`), so the client's retry of the same code
        redeems it as a first redemption, opening (or finding) the same session, instead of
        passing for a replay that revokes it. The release is best effort; StoreUnavailable is
        raised either way (503: retry).

        ``attempt`` (new if None) names this try, for a caller that may have to release it
        after a successful redemption (:meth:`release_redemption`: its tokens were not sent)."""
        now, issued_at, expires_at = self._session_times(event_id, validity)
        attempt = attempt or new_jti()
        try:
            recorded, replayed, ticket = self.store.redeem_for_session(
                namespace, key, value, until, keep, event_id, attempt, issued_at, expires_at, now,
                self.claim_deadline(event_id))
        except InvalidTransition:
            raise UnknownRequest("the code names no place in line") from None
        except StoreUnavailable:
            self.release_redemption(namespace, key, attempt)
            raise
        if ticket is None or ticket.session is None:
            return recorded, replayed, None
        return recorded, None, (ticket, ticket.session, now)

    def release_redemption(self, namespace: str, key: str, attempt: str) -> bool:
        """Undo the redemption of a code by ``attempt`` whose outcome never reached the client
        (:meth:`core.ports.KeyValueStore.release`): True if released. Best effort: a store that
        fails again leaves the code used (False), and a retry is then taken for a replay."""
        with suppress(StoreUnavailable):
            return self.store.release(namespace, key, attempt, self.clock.now())
        return False

    def revoke_grant(self, event_id: str, grant: str, ttl: float) -> None:
        """Refuse every later token issue made under ``grant`` for ``ttl`` seconds (a replayed
        authorization code). An issue that finished before this call left a session that
        :meth:`ticket` shows afterwards; the caller ends that one."""
        self.event(event_id)
        self.store.revoke_grant(event_id, grant, ttl, self.clock.now())

    def end_session(self, event_id: str, request_id: str, status: Status | str) -> Ticket:
        """Mark an issued session completed or abandoned, once."""
        self.event(event_id)
        try:
            status = Status(status)
        except ValueError:
            raise InvalidArgument("status must be 'completed' or 'abandoned'") from None
        if status not in ENDED_STATUSES:
            raise InvalidArgument("status must be 'completed' or 'abandoned'")
        self._check_request_id(request_id)
        try:
            return self.store.end_session(event_id, request_id, status, self.clock.now())
        except InvalidTransition:
            self.ticket(event_id, request_id)  # an unknown place is UnknownRequest, not a bad transition
            raise

    @staticmethod
    def _check_request_id(request_id: str) -> None:
        if not isinstance(request_id, str) or not REQUEST_ID_PATTERN.match(request_id):
            raise UnknownRequest("unknown request id")

    def _open_session(self, event_id: str, request_id: str, validity: int | None,
                      grant: str | None = None) -> tuple[Ticket, Session, float]:
        """The session step shared by every way of issuing tokens: validate, issue (atomic and
        idempotent in the store, which also makes the session findable by its jti). Returns the
        ticket, its session and the time."""
        now, issued_at, expires_at = self._session_times(event_id, validity)
        ticket = self._issue_session(event_id, request_id, issued_at, expires_at, now, grant)
        session = ticket.session
        assert session is not None
        return ticket, session, now

    def _session_times(self, event_id: str, validity: int | None) -> tuple[float, int, int]:
        """``(now, issued_at, expires_at)`` of a session opened now for ``validity`` seconds (the
        event's token validity if None); InvalidArgument outside 1 s to 7 days."""
        settings = self.event(event_id)
        if validity is not None and not (0 < validity <= 7 * 24 * 3600):
            raise InvalidArgument("validity must be between 1 second and 7 days")
        now = self.clock.now()
        issued_at = int(now)
        return now, issued_at, issued_at + (validity or settings.token_validity)

    def _claims_of(self, ticket: Ticket, session: Session) -> dict[str, Any]:
        """The claims every token of this session shares, whoever its audience is."""
        return {
            "issuer": self.issuer,
            "subject": ticket.ticket_id,
            "event_id": ticket.event_id,
            "queue_position": ticket.position,
            "jti": session.jti,
            "issued_at": session.issued_at,
            "expires_at": session.expires_at,
        }

    def _issue_session(self, event_id: str, request_id: str, issued_at: int, expires_at: int, now: float,
                       grant: str | None) -> Ticket:
        """The store's atomic issue step, with no read before it: the store itself refuses a
        waiting place (NotAdmitted), an expired one and an ended one. Only when it refuses does
        a read tell an unknown place (UnknownRequest) from a bad transition."""
        self._check_request_id(request_id)
        try:
            return self.store.issue_session(event_id, request_id, new_jti(), issued_at, expires_at, now,
                                            self.claim_deadline(event_id), grant)
        except InvalidTransition:
            self.ticket(event_id, request_id)
            raise

    def session_ticket(self, event_id: str, jti: str) -> Ticket:
        """The place whose session has this ``jti``, for a site that holds only the visitor's
        token (never the secret request id). UnknownRequest for a session never issued or whose
        tokens expired more than :data:`SESSION_LOOKUP_GRACE` seconds ago. One store read."""
        self.event(event_id)
        if not isinstance(jti, str) or not 0 < len(jti) <= 128:
            raise UnknownRequest("unknown session")
        now = self.clock.now()
        ticket = self.store.session_ticket(event_id, jti, now)
        if ticket is None or ticket.session is None or ticket.session.jti != jti \
                or ticket.session.expires_at + SESSION_LOOKUP_GRACE <= now:
            raise UnknownRequest("unknown session")
        return ticket

    def end_session_by_jti(self, event_id: str, jti: str, status: Status | str) -> Ticket:
        """:meth:`end_session` for a site that knows the session by its token's ``jti``."""
        return self.end_session(event_id, self.session_ticket(event_id, jti).request_id, status)

    # -- operators ----------------------------------------------------------------------------

    def counters(self, event_id: str) -> Counters:
        self.event(event_id)
        return self.store.counters(event_id)

    def advance(self, event_id: str, by: int) -> int:
        """Move the serving counter; bounded to [0, last position]. Returns the new value."""
        self.event(event_id)
        if isinstance(by, bool) or not isinstance(by, int) or abs(by) > MAX_INCREMENT:
            raise InvalidArgument(f"increment must be a whole number between -{MAX_INCREMENT} and {MAX_INCREMENT}")
        self._refuse_while_gated(event_id)
        return self.store.advance_serving(event_id, by, self.clock.now())

    def sweep(self, event_id: str, grace: float = 0.0, replace_deferred: bool = True) -> SweepResult:
        """Expire unclaimed admitted places and time out ended tokens.

        ``grace`` (seconds, the allowed clock skew between workers) lengthens the expiry period:
        admission times were recorded by whichever worker moved the counter, so a sweeping worker
        whose clock runs ahead would otherwise expire places early. Late by at most ``grace`` is
        the safe side.

        With ``incr_serving_on_expiry`` each expired place is replaced by letting the next visitor
        in, except while the event is paused: paused means nothing automatic admits anyone. The
        places expired during a pause are counted (one control write per sweep that found some)
        and, with ``replace_deferred``, replaced by the first sweep after admission resumes.
        Callers that may run concurrently with another sweeper pass ``replace_deferred=False``
        to leave that to the one scheduled sweep (the count is read, then cleared: not atomic).
        """
        settings = self.event(event_id)
        expiry = float(settings.queue_position_expiry)
        if expiry > 0:
            expiry += max(0.0, grace)
        controls = self.store.get_control(event_id)
        paused = controls.get(PAUSED) == "1"
        replace = settings.incr_serving_on_expiry
        now = self.clock.now()
        result = self.store.sweep(event_id, now, expiry, replace and not paused)
        deferred = _whole(controls.get(EXPIRED_WHILE_PAUSED))
        if replace and paused and result.expired:
            self.store.set_control(event_id, EXPIRED_WHILE_PAUSED, str(deferred + result.expired))
        elif deferred and not paused and replace_deferred:
            self.store.set_control(event_id, EXPIRED_WHILE_PAUSED, None)
            serving = self.store.advance_serving(event_id, deferred, now)
            result = SweepResult(result.expired, result.timed_out, serving)
        return result

    def reset(self, event_id: str, opens_at: float | str | None = None) -> None:
        """Forget everything of the event, its draw and the operators' controls included. A
        random event prepares a new draw secret (a new commitment) on its next step.

        With ``opens_at`` (a value :meth:`set_opens_at` takes; for a random event a time after
        now), the event starts again with that opening time: a random event is back in its
        pre-queue, even when its configured ``opens_at`` has passed. The time is written first
        and kept by the store's reset (:meth:`core.ports.QueueStore.reset` ``keep_controls``), so
        no worker ever finds the event without a draw and with a past opening time, which would
        open a new, empty draw at once. Raises UnknownEvent, InvalidArgument (nothing is changed
        then), StoreUnavailable (if after the first write, the event has the new opening time and
        is not reset, as after :meth:`set_opens_at`: the same call again completes it)."""
        settings = self.event(event_id)
        keep: tuple[str, ...] = ()
        if opens_at is not None:
            self._check_opens_at_value(event_id, opens_at)
            if settings.queueing is Queueing.RANDOM_BEFORE_OPENING and not float(opens_at) > self.clock.now():
                raise InvalidArgument("opens_at must be in the future for a random_before_opening event")
            self.store.set_control(event_id, OPENS_AT, str(opens_at))
            keep = (OPENS_AT,)
        self.store.reset(event_id, keep)
        for seen in (self._controls_seen, self._draws_seen):
            seen.pop(event_id, None)

    def expired_request_ids(self, event_id: str, limit: int = 1000) -> list[str]:
        self.event(event_id)
        return self.store.expired_request_ids(event_id, limit)

    def tick(self, event_id: str, grace: float = 0.0) -> int:
        """Run the admission strategy once for the current tick, if nobody ran it yet.

        Returns how many visitors this call admitted (0 when paused, outside the window, or
        when another worker already claimed this tick). With ``grace`` (the allowed clock skew),
        ticks are numbered on ``now - grace`` and the admission window must be open both at
        ``now - grace`` and ``now + grace``: a worker whose clock is up to ``grace`` seconds off
        never opens the window or a tick before it is due.
        """
        controls = self.store.get_control(self.event(event_id).event_id)
        policy = admission.with_overrides(self.event(event_id).admission, controls)
        if policy.strategy.value == "manual" or controls.get(PAUSED) == "1":
            return 0
        now = self.clock.now()
        if self._gate(event_id, now, controls).is_gated:  # nobody is admitted before the opening
            return 0
        grace = max(0.0, grace)
        if not (admission.is_open(policy, now - grace) and admission.is_open(policy, now + grace)):
            return 0
        # Tick numbers depend on the interval, so each interval has its own lease: otherwise a
        # longer interval set at run time would number its ticks below those already claimed.
        lease = f"admission@{policy.every:g}"
        if not self.store.claim_tick(event_id, lease, admission.tick_index(policy, now - grace)):
            return 0
        at_door = 0
        if policy.strategy is Strategy.PERIODIC:  # before this tick's sweep, whose replacements are extra
            at_door = self._admitted_since(event_id, admission.window_start(policy, now, grace),
                                           self.store.counters(event_id).serving, policy.every)
        self.sweep(event_id, grace, replace_deferred=False)
        counters = self.store.counters(event_id)
        increment = admission.increment_for(policy, counters, now, at_door)
        if increment:
            self.store.advance_serving(event_id, increment, now)
        return increment

    def _admitted_since(self, event_id: str, since: float, serving: int, lookback: float) -> int:
        """How far the serving counter moved forward since ``since`` (to ``serving``), from the
        moves recorded since ``lookback`` seconds before it. Without a move in the look-back
        before ``since``, the first move after it is taken as a door admission (one step)."""
        history = self.store.serving_history(event_id, since - lookback)
        before = [s for t, s in history if t < since]
        after = [s for t, s in history if t >= since]
        if before:
            return max(0, serving - before[-1])
        return max(0, serving - (after[0] - 1)) if after else 0

    def admission_rate(self, event_id: str, window: float = 300.0) -> float:
        """Visitors admitted per second over the last ``window`` seconds (0.0 if none)."""
        self.event(event_id)
        now = self.clock.now()
        history = self.store.serving_history(event_id, now - window)
        if len(history) < 2:
            return 0.0
        (t0, s0), (_t1, s1) = history[0], history[-1]
        span = max(now - t0, 1.0)
        return max(0, s1 - s0) / span
