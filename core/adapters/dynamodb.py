"""The DynamoDB store: :class:`core.ports.QueueStore` and :class:`core.ports.KeyValueStore` on one table.

Single-table layout (partition key ``pk``, sort key ``sk``, both strings; TTL attribute ``ttl``):

====================  ===========================  ==================================================
pk                    sk                           what
====================  ===========================  ==================================================
``EVENT#<event>``     ``COUNTERS``                 serving, last_position, issued, ... , expiry_cursor,
                                                   reached (highest REACH# high), moves (history seq);
                                                   the draw: draw_secret, and once open draw_size and
                                                   draw_opened_at
``EVENT#<event>``     ``REQ#<request id>``         position (the arrival index), entered_at, idempotency_key;
                                                   claim and claimed_at (without a position: an entry
                                                   being written)
``EVENT#<event>``     ``POS#<index:012>``          request_id and, once tokens are issued, the session
                                                   (status, jti, issued_at, expires_at, ended_at);
                                                   ``hole`` instead of a request id: a position whose
                                                   place could not be written
``EVENT#<event>``     ``IDEM#<idempotency key>``   request_id, claim, claimed_at: makes a retried
                                                   ``enter`` return the first ticket
``EVENT#<event>``     ``HIST#<at>#<seq>``          serving counter after each move (serving_history)
``EVENT#<event>``     ``REACH#<serving:012>``      time the counter reached a new high since it was last moved
                                                   back below it (admission times)
``EVENT#<event>``     ``SESS#<expires_at>#<pos>``  issued sessions by expiry (timed-out sweep): request_id,
                                                   position, index (arrival index; absent = position)
``EVENT#<event>``     ``ENDED#<at>#<pos>``         expired / timed-out places by position, newest last
                                                   (admin view)
``EVENT#<event>``     ``TICK#<name>``              claimed scheduler ticks
``EVENT#<event>``     ``CTRL#<key>``               operators' runtime overrides
``EVENT#<event>``     ``ALIAS#<alias>``            request_id and note an alias stands for, until ``expires_at``
``EVENT#<event>``     ``JTI#<jti>``                request_id of the session opened with that jti (``ttl``)
``EVENT#<event>``     ``GRANT#<grant>``            a revoked grant (``revoke_grant``), until ``expires_at``
``KV#<namespace>``    ``<key>``                    key-value records (redeemed authorization codes, ...), with
                                                   ``ttl``; ``redeemed`` on a redemption ``redeem`` recorded
====================  ===========================  ==================================================

Places are keyed by their *arrival index*, the number ``last_position`` hands out. Without a
draw (``fifo`` events, and every event before its opening) an arrival index is the position.
The draw of a ``random_before_opening`` event lives on the counters item, so every read of the
counters reads it in the same step: ``open_draw`` is one conditional ``UpdateItem`` that fixes
``draw_size`` = ``last_position``, and from then on the place with arrival index ``i`` holds
position :func:`core.draw.position_of` (secret, size, ``i``) in every comparison with the
counters, and the sweep finds the place at a drawn position ``p`` by its arrival index
:func:`core.draw.index_at` (``BatchGetItem``) rather than a range ``Query``. Nothing is
rewritten at the opening.

Entering takes no transaction and no read of the counters item: an entry claims its request id
and idempotency key with conditional puts, takes its arrival index with one ``UpdateItem`` ``ADD``
on ``last_position`` (a batch takes a block with one; the update returns the item, draw
included, as of that instant), and writes its place (see ``enter_many``). Indexes never repeat;
a failed write leaves a hole that the sweep expires (the rule is stated in
:class:`core.ports.QueueStore`). Ticket reads are a ``GetItem`` and a
strongly consistent ``BatchGetItem``, never a transaction a concurrent write could cancel.

Every other change of the counters item carries a condition on the values it was computed from
(optimistic concurrency) in a ``TransactWriteItems``, and a transaction whose condition failed is
re-read and retried. Throttling and conflicts (``TransactionConflict``) are retried with jittered
backoff within the store's timeout (:mod:`core.adapters.dynamodb_retry`), then raise
:class:`core.errors.StoreUnavailable`.

An expired place is derived, not written one by one: a position at or below ``expiry_cursor``
without a session is EXPIRED. The sweep moves the cursor in one conditional write (conditioned
on ``issued`` being unchanged since it counted sessions, so a concurrent token issue forces a
retry), then lists the places it expired in ``ENDED#`` items for the admin view. Timed-out
sessions are handled one transaction per session (status, counter, index), each idempotent.

All items of one event share a partition key; the counters item takes at most 1,000 writes per
second, so one enter per request reaches about 1,000 entries per second per event and batches
of ten from the queue about 10,000 (``docs/aws.md``).
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qs, urlsplit

from ..draw import DrawState, index_at, position_of
from ..errors import GrantRevoked, InvalidTransition, StoreUnavailable
from ..model import SWEEP_POSITIONS, Counters, DoorRule, Session, Status, SweepResult, Ticket
from ..rules import SESSION_LOOKUP_GRACE, check_issuable, redeem_for_session_in_steps
from .dynamodb_retry import backoff, call_with_retries

log = logging.getLogger("waitingroom.store.dynamodb")

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "ttl"

_COUNTER_FIELDS = ("serving", "last_position", "issued", "completed", "abandoned", "expired", "timed_out")
_STATE_FIELDS = (*_COUNTER_FIELDS, "expiry_cursor", "reached", "moves")
_HIGH = "~"  # sorts after every digit and letter used in sort keys
_MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems' limit
_MAX_BATCH_GET = 100  # BatchGetItem's limit of keys per call
_PARALLEL_CALLS = 20  # claim puts sent at once: two per entry of a batch of ten

T = TypeVar("T")
Item = dict[str, Any]


class _Conflict(Exception):
    """An optimistic write lost a race; the operation re-reads and tries again."""


@dataclass(frozen=True)
class _Claim:
    """What one ``enter_many`` call writes on the items it claims: an unguessable token that
    tells its own claims from others', the wall-clock instant of the claim (for the lease) and
    the entry time of its tickets (the caller's clock)."""

    token: str
    claimed_at: float
    entered_at: float

    def attributes(self) -> dict[str, Any]:
        return {"claim": _s(self.token), "claimed_at": _n(self.claimed_at)}

    def request_item(self, key: str | None) -> dict[str, Any]:
        """A ``REQ#`` item without its position (a claim); with it, the entry's record."""
        return {**self.attributes(), "entered_at": _n(float(self.entered_at)),
                **({"idempotency_key": _s(key)} if key is not None else {})}


def _pos_key(position: int) -> str:
    return f"POS#{position:012d}"


def _time_key(at: float) -> str:
    return f"{at:020.6f}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _num(item: Mapping[str, Any], name: str, default: float | int = 0) -> Any:
    """A number attribute as int when integral in storage, else float."""
    raw = item.get(name)
    if raw is None:
        return default
    text = raw["N"]
    return float(text) if any(c in text for c in ".eE") else int(text)


def _str(item: Mapping[str, Any], name: str) -> str | None:
    raw = item.get(name)
    return None if raw is None else str(raw["S"])


def _draw_of(item: Mapping[str, Any]) -> DrawState | None:
    """The draw kept on a counters item (``draw_secret``, and once open ``draw_size`` and
    ``draw_opened_at``), or None."""
    secret = _str(item, "draw_secret")
    if secret is None:
        return None
    if "draw_size" not in item:
        return DrawState(secret)
    return DrawState(secret, int(_num(item, "draw_size")), float(_num(item, "draw_opened_at")))


class _State(dict[str, int]):
    """The counters item as read in one step: its numbers by name (:data:`_STATE_FIELDS`) and
    the event's draw, which lives on the same item so that reading it costs fifo events nothing."""

    def __init__(self, item: Mapping[str, Any]) -> None:
        super().__init__((name, int(_num(item, name))) for name in _STATE_FIELDS)
        self.draw = _draw_of(item)

    @property
    def drawn(self) -> int:
        """The draw's size once it is open: positions 1..drawn are shuffled; 0 otherwise."""
        return (self.draw.size or 0) if self.draw is not None else 0

    def position_of(self, index: int) -> int:
        """The public position of arrival index ``index`` (:func:`core.draw.position_of`)."""
        return index if self.draw is None else position_of(self.draw.secret, self.draw.size, index)

    def index_at(self, position: int) -> int:
        """The arrival index of the place at ``position`` (:func:`core.draw.index_at`)."""
        return position if self.draw is None else index_at(self.draw.secret, self.draw.size, position)


class _Read(NamedTuple):
    """A place as read: its ticket (``position`` is the public one), its arrival index (the key
    of its ``REQ#``/``POS#`` items) and the counters it was derived from."""

    ticket: Ticket
    arrival_index: int
    state: _State


def table_definition(table_name: str) -> dict[str, Any]:
    """Arguments of ``CreateTable`` for a table this store can use (on-demand billing)."""
    return {
        "TableName": table_name,
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def create_table(client: Any, table_name: str) -> None:
    """Create a table with :func:`table_definition` and enable TTL (tests, local development)."""
    client.create_table(**table_definition(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


class DynamoDbStore:
    """:class:`core.ports.QueueStore` and :class:`core.ports.KeyValueStore` on a DynamoDB table.

    ``client`` is a boto3 DynamoDB client (built from ``region`` when not given, with botocore's
    ``standard`` retries). ``kv_table`` defaults to ``table``. ``timeout`` (seconds, default 5)
    bounds each call's connection and read, and also the time one operation spends retrying
    throttled or conflicting requests or waiting for a concurrent entry of the same key; after
    that it raises :class:`StoreUnavailable` (the caller answers 503 with ``Retry-After``).
    ``max_attempts`` bounds the optimistic retries of the counter moves (admission, sweep,
    sessions). ``claim_lease`` (seconds) is how old a claim of an entry must be before another
    caller may take it over: longer than any entry can take.
    """

    def __init__(
        self,
        table: str,
        *,
        kv_table: str | None = None,
        client: Any | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = 40,
        timeout: float | None = None,
        claim_lease: float = 30.0,
    ) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=_PARALLEL_CALLS + 10,  # the claims of a batch go out at once
                connect_timeout=timeout or 2.0,
                read_timeout=max(timeout or 2.0, 2.0),
            )
            client = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url, config=config)
        self.client = client
        self.table = table
        self.kv_table = kv_table or table
        self.max_attempts = max_attempts
        self.timeout = timeout or 5.0
        self.claim_lease = claim_lease
        self.sweep_positions = SWEEP_POSITIONS
        self._pool: Any = None  # a thread pool for claims sent at once, made on first use

    @classmethod
    def from_url(cls, url: str, **options: Any) -> DynamoDbStore:
        """``dynamodb://TABLE[?kv_table=OTHER&region=eu-west-1&endpoint_url=http://...]``."""
        parts = urlsplit(url)
        if parts.scheme != "dynamodb" or not parts.netloc:
            raise ValueError("DynamoDB store URLs look like dynamodb://table-name?region=eu-west-1")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"kv_table", "region", "endpoint_url"}
        if unknown:
            raise ValueError(f"unknown DynamoDB store option(s): {', '.join(sorted(unknown))}")
        return cls(parts.netloc, **query, **options)  # type: ignore[arg-type]

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """One client call, tried again after throttling or a transaction conflict (see
        :mod:`core.adapters.dynamodb_retry`) within ``timeout``. A failed condition passes
        through as the ``ClientError``; every other failure becomes StoreUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        method = getattr(self.client, operation)
        try:
            return call_with_retries(lambda: method(**kwargs), operation, self.timeout)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise
            raise StoreUnavailable(f"DynamoDB {operation} failed: {code or exc}") from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"DynamoDB unreachable: {exc}") from None

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it does not raise _Conflict, backing off with jitter."""
        deadline = time.monotonic() + self.timeout
        for n in range(self.max_attempts):
            try:
                return attempt()
            except _Conflict:
                backoff(n, deadline)
        raise StoreUnavailable("DynamoDB store is too contended; try again")

    def _transact(self, items: list[dict[str, Any]]) -> None:
        """TransactWriteItems; a failed condition (or a transaction conflict) raises _Conflict."""
        from botocore.exceptions import ClientError

        try:
            self._call("transact_write_items", TransactItems=items)
        except ClientError as exc:
            raise _Conflict(exc.response.get("CancellationReasons")) from None

    def _key(self, event_id: str, sk: str) -> dict[str, Any]:
        return {PARTITION_KEY: _s(f"EVENT#{event_id}"), SORT_KEY: _s(sk)}

    def _get(self, event_id: str, sk: str) -> Item | None:
        response = self._call("get_item", TableName=self.table, Key=self._key(event_id, sk), ConsistentRead=True)
        item: Item | None = response.get("Item")
        return item

    def _query(self, pk: str, low: str | None, high: str | None, *, forward: bool = True,
               limit: int | None = None) -> Iterator[Item]:
        """Items of partition ``pk`` with ``low <= sk <= high`` (all of them without bounds), paging as needed."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": {":pk": _s(pk)},
            "ConsistentRead": True,
            "ScanIndexForward": forward,
        }
        if low is not None and high is not None:
            kwargs["KeyConditionExpression"] += " AND #sk BETWEEN :lo AND :hi"
            kwargs["ExpressionAttributeNames"]["#sk"] = SORT_KEY
            kwargs["ExpressionAttributeValues"].update({":lo": _s(low), ":hi": _s(high)})
        if limit is not None:
            kwargs["Limit"] = limit
        while True:
            response = self._call("query", **kwargs)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last or limit is not None:
                return
            kwargs["ExclusiveStartKey"] = last

    def _state(self, event_id: str) -> _State:
        return _State(self._get(event_id, "COUNTERS") or {})

    @staticmethod
    def _counters_of(state: Mapping[str, int]) -> Counters:
        return Counters(*(state[name] for name in _COUNTER_FIELDS))

    def _admitted_at(self, event_id: str, position: int) -> float | None:
        """When ``position`` was last admitted: the earliest high at or above it."""
        for item in self._query(f"EVENT#{event_id}", _pos_key(position).replace("POS#", "REACH#"),
                                "REACH#" + _HIGH, limit=1):
            return float(_num(item, "at"))
        return None

    def _serving_move(self, event_id: str, state: Mapping[str, int], target: int, now: float) -> tuple[
            str, dict[str, Any], list[dict[str, Any]]]:
        """Update-expression parts and extra puts that record a serving move to ``target``."""
        moves = state["moves"] + 1
        values: dict[str, Any] = {":serving": _n(target), ":moves": _n(moves)}
        puts = [{"Put": {"TableName": self.table, "Item": {
            **self._key(event_id, f"HIST#{_time_key(now)}#{moves:012d}"), "serving": _n(target), "at": _n(now)}}}]
        expression = "serving = :serving, moves = :moves"
        if target > state["reached"]:
            expression += ", reached = :serving"
            puts.append({"Put": {"TableName": self.table, "Item": {
                **self._key(event_id, f"REACH#{target:012d}"), "at": _n(now)}}})
        elif target < state["reached"]:
            # Moved back: positions above ``target`` are no longer admitted and a later move
            # forward admits them anew, so the highs above it are forgotten with the move. Those
            # that do not fit in the transaction go first: a missing high only makes an
            # admission time later (never an expiry earlier) until the move lands. Positions up
            # to ``target`` stay admitted since they were: it becomes a high of its own, with
            # the time of the first high it replaces.
            expression += ", reached = :serving"
            highs = list(self._query(f"EVENT#{event_id}", f"REACH#{target:012d}", "REACH#" + _HIGH))
            if target > 0 and highs and highs[0][SORT_KEY]["S"] != f"REACH#{target:012d}":
                puts.append({"Put": {"TableName": self.table, "Item": {
                    **self._key(event_id, f"REACH#{target:012d}"), "at": highs[0]["at"]}}})
            stale = [{PARTITION_KEY: item[PARTITION_KEY], SORT_KEY: item[SORT_KEY]} for item in highs
                     if item[SORT_KEY]["S"] != f"REACH#{target:012d}"]
            room = _MAX_TRANSACTION_ITEMS - 10
            for start in range(room, len(stale), 25):
                self._batch_write([{"DeleteRequest": {"Key": key}} for key in stale[start:start + 25]])
            puts.extend({"Delete": {"TableName": self.table, "Key": key}} for key in stale[:room])
        return expression, values, puts

    def _guard(self, state: Mapping[str, int], names: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
        """A condition that the counters item still holds the values ``names`` were read as."""
        parts = []
        values: dict[str, Any] = {}
        for name in names:
            if state[name] == 0:
                parts.append(f"(attribute_not_exists({name}) OR {name} = :was_{name})")
            else:
                parts.append(f"{name} = :was_{name}")
            values[f":was_{name}"] = _n(state[name])
        return " AND ".join(parts), values

    def _counters_update(self, event_id: str, expression: str, values: dict[str, Any],
                         condition: str | None = None) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._key(event_id, "COUNTERS"),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if condition:
            update["ConditionExpression"] = condition
        return {"Update": update}

    def _ticket_from(self, event_id: str, request_id: str, req: Item, pos: Item | None, state: _State) -> Ticket:
        """The ticket of the place ``req`` (its ``REQ#`` item: ``position`` there is the arrival
        index) and ``pos`` (its ``POS#`` item), with status and position as of ``state``."""
        position = state.position_of(int(_num(req, "position")))
        entered_at = float(_num(req, "entered_at"))
        session = None
        raw_status = _str(pos or {}, "status")
        owner = _str(pos or {}, "request_id")
        if owner is not None and owner != request_id:
            # The place at this position is another visitor's: this entry's position was
            # allocated before a reset deleted the counters and handed out again after it (a
            # reset is several calls here). Its place went with the reset; it is never shared.
            status = Status.EXPIRED
        elif raw_status is not None:
            status = Status(raw_status)
            jti = _str(pos or {}, "jti")
            if jti is not None and pos is not None:
                ended = pos.get("ended_at")
                session = Session(jti=jti, issued_at=int(_num(pos, "issued_at")),
                                  expires_at=int(_num(pos, "expires_at")), status=status,
                                  ended_at=None if ended is None else float(_num(pos, "ended_at")))
        elif position <= state["expiry_cursor"]:
            status = Status.EXPIRED
        elif position <= state["serving"]:
            status = Status.ADMITTED
        else:
            status = Status.WAITING
        admitted_at = self._admitted_at(event_id, position) if status is not Status.WAITING else None
        return Ticket(event_id, request_id, position, entered_at, status, admitted_at, session)

    def _read_ticket(self, event_id: str, request_id: str) -> _Read | None:
        """The ticket of ``request_id`` (None if it holds no place): its ``REQ#`` item, then its
        place and the counters in one strongly consistent ``BatchGetItem``. No transaction: a
        read must never be cancelled by the writes on the counters item."""
        req = self._get(event_id, f"REQ#{request_id}")
        if req is None or "position" not in req:  # unknown, or an entry still being written
            return None
        return self._ticket_of(event_id, request_id, req)

    def _ticket_of(self, event_id: str, request_id: str, req: Item) -> _Read:
        index = int(_num(req, "position"))
        found = self._batch_get(event_id, [_pos_key(index), "COUNTERS"])
        state = _State(found.get("COUNTERS") or {})
        return _Read(self._ticket_from(event_id, request_id, req, found.get(_pos_key(index)), state), index, state)

    def _batch_get(self, event_id: str, sort_keys: Sequence[str]) -> dict[str, Item]:
        """Items of the event by sort key, strongly consistent: one ``BatchGetItem`` per 100 keys
        (several sent at once), keys the service leaves unprocessed under load asked again
        within the store's deadline. Missing items are absent from the result."""
        keys = list(dict.fromkeys(sort_keys))
        found: dict[str, Item] = {}
        chunks = [keys[start:start + _MAX_BATCH_GET] for start in range(0, len(keys), _MAX_BATCH_GET)]
        for part in self._parallel([functools.partial(self._batch_get_call, event_id, chunk) for chunk in chunks]):
            found.update(part)
        return found

    def _batch_get_call(self, event_id: str, sort_keys: Sequence[str]) -> dict[str, Item]:
        """One ``BatchGetItem`` of at most 100 keys, asked again for unprocessed keys."""
        pending: dict[str, Any] = {self.table: {
            "Keys": [self._key(event_id, sk) for sk in sort_keys], "ConsistentRead": True}}
        found: dict[str, Item] = {}
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            response = self._call("batch_get_item", RequestItems=pending)
            for item in response.get("Responses", {}).get(self.table, []):
                found[item[SORT_KEY]["S"]] = item
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                return found
            if time.monotonic() >= deadline:
                raise StoreUnavailable("DynamoDB left reads unprocessed; try again")
            backoff(attempt, deadline)
            attempt += 1

    # -- entering -------------------------------------------------------------------------------
    #
    # An entry claims its names first, then takes its position, then writes its place:
    #
    # 1. claim: a conditional put of ``IDEM#<key>`` (with a key) and of ``REQ#<request id>`` (a
    #    "claim" item: no position yet), each ``attribute_not_exists``; a refused put returns
    #    the item that won (``ReturnValuesOnConditionCheckFailure``), so a retried key or a
    #    request id that holds a place is answered without taking a position;
    # 2. allocate: one ``UpdateItem`` ``ADD last_position :n`` on the counters item returns the
    #    new value (``UPDATED_NEW``): the positions ``new - n + 1 .. new`` are this caller's, with
    #    no read before the write and no condition that a concurrent entry could fail;
    # 3. write: the ``REQ#`` items (now with their position) and the ``POS#`` items, in one
    #    ``BatchWriteItem`` per 25 items.
    #
    # A failure in step 3 leaves allocated positions nobody holds: holes. Each is recorded as a
    # ``POS#`` item with ``hole`` set (a put that fails harmlessly where the place was written
    # after all), the claims are released, and the sweep counts a hole as an expired place.
    # A claim whose caller died before releasing it is taken over once older than the lease.

    def enter(self, event_id: str, request_id: str, idempotency_key: str | None, now: float,
              door: DoorRule | None = None) -> Ticket:
        """:meth:`enter_many` with one entry: three calls without a key, four with one; with
        ``door``, the admission at the door follows (:meth:`_admit_at_door`)."""
        ticket = self.enter_many(event_id, [(request_id, idempotency_key)], now)[0]
        if door is None or ticket.status is not Status.WAITING:
            return ticket
        return self._admit_at_door(event_id, ticket, door, now)

    def _admit_at_door(self, event_id: str, ticket: Ticket, door: DoorRule, now: float) -> Ticket:
        """Admit ``ticket``'s new place if :class:`core.model.DoorRule` lets it in: one
        transaction that moves the serving counter to its position, conditioned on every
        counter the rule read (serving, the ended counts, the history sequence) and on the event
        not being paused, so concurrent arrivals never admit past the limit. Positions are
        allocated without a transaction here, so this is the step right after the place is
        written; a lost race is read again, and the place waits when the rule says no.

        The transaction is also conditioned on the draw being as read: a place entered just
        before a draw opened holds a drawn position, not its arrival index, and is read again
        (only places in the drawn range are, so fifo events pay nothing for this)."""

        def attempt() -> Ticket:
            state = self._state(event_id)
            current = ticket
            if current.position <= max(state["serving"], state.drawn):
                # Admitted meanwhile (with a place behind it), or in the drawn range: maybe
                # entered just before the opening, its position no longer its arrival index.
                found = self._read_ticket(event_id, ticket.request_id)
                if found is None:
                    return ticket
                current = found.ticket
                if current.status is not Status.WAITING or current.position <= state["serving"]:
                    return current
            if not self._door_opens(event_id, state, current.position, door):
                return current
            guard, values = self._guard(state, ("serving", "completed", "abandoned", "expired", "timed_out",
                                                "moves", "reached"))
            if state.draw is None or not state.draw.is_open:
                guard += " AND attribute_not_exists(draw_size)"
            else:  # and not reset since (a counters item made again after a reset has no draw size yet)
                guard += " AND attribute_exists(draw_size)"
            move, move_values, puts = self._serving_move(event_id, state, current.position, now)
            self._transact([
                self._counters_update(event_id, "SET " + move, {**values, **move_values}, guard),
                *puts,
                {"ConditionCheck": {
                    "TableName": self.table, "Key": self._key(event_id, "CTRL#paused"),
                    "ConditionExpression": "attribute_not_exists(sk) OR #v <> :paused",
                    "ExpressionAttributeNames": {"#v": "value"}, "ExpressionAttributeValues": {":paused": _s("1")}}},
            ])
            return Ticket(event_id, current.request_id, current.position, current.entered_at, Status.ADMITTED, now)

        return self._retrying(attempt)

    def _door_opens(self, event_id: str, state: _State, position: int, door: DoorRule) -> bool:
        """Whether :class:`core.model.DoorRule` admits ``position``, with every place still
        waiting ahead of it, by the counters as read in ``state``: the event is not paused and
        the limit holds for all of them. Positions are allocated without serialising entries, so
        a place may reach this step before one ahead of it; letting both in when both fit keeps
        the line's order and fills the free slots whatever order concurrent arrivals come in.
        A random event's rule (``after_draw``) needs the draw open as read: the caller's copy of
        the draw may predate a reset (the transaction's guard covers a reset after this read)."""
        if door.after_draw and (state.draw is None or not state.draw.is_open):
            return False
        paused = self._get(event_id, "CTRL#paused")
        if paused is not None and _str(paused, "value") == "1":
            return False
        joining = position - state["serving"]  # this place and those still waiting ahead of it
        # active counts admitted places: every position up to serving (all below this one)
        if door.max_active > 0 and self._counters_of({**state, "last_position": state["serving"]}).active \
                + joining > door.max_active:
            return False
        if door.budget > 0:
            before = next(self._query(f"EVENT#{event_id}", "HIST#", f"HIST#{_time_key(door.since)}",
                                      forward=False, limit=1), None)
            if state["serving"] - (0 if before is None else int(_num(before, "serving"))) + joining > door.budget:
                return False
        return door.max_active > 0 or door.budget > 0

    def enter_many(self, event_id: str, entries: Sequence[tuple[str, str | None]], now: float) -> list[Ticket]:
        """Claim every entry's names (in parallel), reserve the block of positions of the new
        ones in one ``ADD`` on the counters item, write their places in one ``BatchWriteItem``.

        A batch of ten from the queue costs one counter update whatever its size (the counters
        item takes at most 1,000 writes per second, so batches of ten allow 10,000 entries per
        second), ten or twenty claim puts sent at once, and one batch write.

        On failure the entries already written hold their places; the others leave at most
        their claims (given back at once if the store answers), which a retry of the same key
        or request id waits for and takes over once older than ``claim_lease``: until then
        that retry answers :class:`StoreUnavailable` too, and hands out nothing twice.
        """
        tickets: list[Ticket | None] = [None] * len(entries)
        leader_of: dict[tuple[str, str], int] = {}
        follows: dict[int, int] = {}
        leaders: list[int] = []
        for i, (request_id, key) in enumerate(entries):
            names = [("request", request_id)] + ([("key", key)] if key is not None else [])
            seen = next((leader_of[name] for name in names if name in leader_of), None)
            if seen is not None:  # a repeat within the list (same key or request id) gets the first one's ticket
                follows[i] = seen
            else:
                leaders.append(i)
                leader_of.update({name: i for name in names})
        claim = _Claim(secrets.token_hex(16), time.time(), now)
        outcomes = self._claim_entries(event_id, [entries[i] for i in leaders], claim)
        owned = [i for i, outcome in zip(leaders, outcomes, strict=True) if outcome is None]
        if owned:
            placed = self._place(event_id, [entries[i] for i in owned], claim)
            for i, ticket in zip(owned, placed, strict=True):
                tickets[i] = ticket
        for i, outcome in zip(leaders, outcomes, strict=True):
            if isinstance(outcome, Ticket):
                tickets[i] = outcome
            elif isinstance(outcome, str):
                tickets[i] = self._await_place(event_id, outcome, entries[i], claim)
        for i, leader in follows.items():
            tickets[i] = tickets[leader]
        return [t for t in tickets if t is not None]

    def _claim_entries(self, event_id: str, entries: Sequence[tuple[str, str | None]],
                       claim: _Claim) -> list[Ticket | str | None]:
        """Step 1 for each entry: None when this call now owns it (it must be placed), the
        ticket when the request id already holds a place, or the request id to wait for (a key
        that another request id claimed, or a request id that another caller is entering)."""
        puts: list[tuple[str, Item]] = []
        for request_id, key in entries:
            puts.append((f"REQ#{request_id}", claim.request_item(key)))
            if key is not None:
                puts.append((f"IDEM#{key}", {"request_id": _s(request_id), **claim.attributes()}))
        attempts = self._parallel([functools.partial(self._try_put_new, event_id, sk, item) for sk, item in puts])
        failed = next((error for _, error in attempts if error is not None), None)
        if failed is not None:  # give back what was claimed, so that a retry need not wait for the lease
            for request_id, key in entries:
                self._release(event_id, request_id, key, claim)
            raise failed
        found = {sk: winner for (sk, _), (winner, _) in zip(puts, attempts, strict=True)}
        outcomes: list[Ticket | str | None] = []
        for request_id, key in entries:
            req = found[f"REQ#{request_id}"]
            idem = found.get(f"IDEM#{key}") if key is not None else None
            if idem is not None and _str(idem, "request_id") != request_id:
                if req is None:  # the key was another request id's: give back the request id claimed
                    self._release(event_id, request_id, None, claim)
                outcomes.append(str(_str(idem, "request_id")))
            elif req is None or _str(req, "claim") == claim.token:
                outcomes.append(None)
            elif "position" in req:
                outcomes.append(self._ticket_of(event_id, request_id, req).ticket)
            else:
                outcomes.append(request_id)  # being entered by another caller right now
        return outcomes

    def _put_new(self, event_id: str, sk: str, attributes: Item) -> Item | None:
        """A put conditioned on the item not existing: None if written, else the item there."""
        from botocore.exceptions import ClientError

        try:
            self._call("put_item", TableName=self.table, Item={**self._key(event_id, sk), **attributes},
                       ConditionExpression="attribute_not_exists(sk)",
                       ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            old: Item = exc.response.get("Item") or {}
            return old
        return None

    def _try_put_new(self, event_id: str, sk: str, attributes: Item) -> tuple[Item | None, StoreUnavailable | None]:
        """:meth:`_put_new`, with a store failure returned rather than raised."""
        try:
            return self._put_new(event_id, sk, attributes), None
        except StoreUnavailable as exc:
            return None, exc

    def _parallel(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run independent store calls at once (one round trip of latency for all of them);
        results in order; the first error is raised once every call has finished."""
        if len(calls) <= 1:
            return [call() for call in calls]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=_PARALLEL_CALLS, thread_name_prefix="dynamodb")
        futures = [self._pool.submit(call) for call in calls]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        return [f.result() for f in futures]

    def _place(self, event_id: str, entries: Sequence[tuple[str, str | None]], claim: _Claim) -> list[Ticket]:
        """Steps 2 and 3 for entries this call owns: reserve their positions in one counter
        update, write their places; on a failed write record the holes and raise."""
        zeros = ", ".join(f"{name} = if_not_exists({name}, :zero)" for name in _STATE_FIELDS
                          if name != "last_position")
        try:
            response = self._call(
                "update_item", TableName=self.table, Key=self._key(event_id, "COUNTERS"),
                UpdateExpression=f"ADD last_position :n SET {zeros}",
                # ALL_NEW: the draw on the same item comes back too, as of this very update
                ExpressionAttributeValues={":n": _n(len(entries)), ":zero": _n(0)}, ReturnValues="ALL_NEW")
        except StoreUnavailable:
            # No position is known to be this call's (an update that did apply left holes that
            # nobody wrote: the sweep counts missing places as holes). Give the claims back.
            for request_id, key in entries:
                self._release(event_id, request_id, key, claim)
            raise
        state = _State(response["Attributes"])
        first = state["last_position"] - len(entries) + 1
        writes: list[dict[str, Any]] = []
        reqs: list[Item] = []
        for index, (request_id, key) in enumerate(entries, start=first):
            req = {**claim.request_item(key), "position": _n(index)}
            reqs.append(req)
            writes.append({"PutRequest": {"Item": {**self._key(event_id, f"REQ#{request_id}"), **req}}})
            writes.append({"PutRequest": {"Item": {**self._key(event_id, _pos_key(index)),
                                                   "request_id": _s(request_id)}}})
        try:
            for start in range(0, len(writes), 24):  # a place's two items stay in one call
                self._batch_write(writes[start:start + 24])
        except StoreUnavailable:
            self._record_holes(event_id, entries, first, claim)
            raise
        return [self._ticket_from(event_id, request_id, req, None, state)
                for (request_id, _), req in zip(entries, reqs, strict=True)]

    def _record_holes(self, event_id: str, entries: Sequence[tuple[str, str | None]], first: int,
                      claim: _Claim) -> None:
        """After a failed write of places: mark each position whose place is not written as a
        hole and give back the claims, so a retry enters afresh. Best effort (the store may be
        down): an unmarked hole is still counted by the sweep, a claim left behind is taken
        over once older than the lease."""
        for position, (request_id, key) in enumerate(entries, start=first):
            try:
                if self._put_new(event_id, _pos_key(position), {"hole": _n(1)}) is None:
                    log.warning("position %d of %s is a hole: its place could not be written", position, event_id)
            except StoreUnavailable:
                log.warning("could not record the hole at position %d of %s", position, event_id)
            self._release(event_id, request_id, key, claim)

    def _release(self, event_id: str, request_id: str, key: str | None, claim: _Claim) -> None:
        """Delete this call's claim of ``request_id`` (unless it got a position) and its claim
        of ``key`` (unless ``request_id`` holds a place, which the key then rightly names).
        Conditional deletes: another caller's claims and every written place stay."""
        from botocore.exceptions import ClientError

        try:
            try:
                self._call("delete_item", TableName=self.table, Key=self._key(event_id, f"REQ#{request_id}"),
                           ConditionExpression="claim = :claim AND attribute_not_exists(#pos)",
                           ExpressionAttributeNames={"#pos": "position"},  # a reserved word
                           ExpressionAttributeValues={":claim": _s(claim.token)},
                           ReturnValuesOnConditionCheckFailure="ALL_OLD")
            except ClientError as exc:
                if "position" in (exc.response.get("Item") or {}):
                    return  # the place was written after all: keep the key's claim, it names that place
            if key is not None:
                self._call("delete_item", TableName=self.table, Key=self._key(event_id, f"IDEM#{key}"),
                           ConditionExpression="claim = :claim",
                           ExpressionAttributeValues={":claim": _s(claim.token)})
        except ClientError:
            pass  # another caller holds the key's claim now
        except StoreUnavailable:  # left behind: taken over once older than the lease
            log.warning("could not give back a claim of an entry in %s", event_id)

    def _await_place(self, event_id: str, target: str, entry: tuple[str, str | None], claim: _Claim) -> Ticket:
        """The ticket of ``target``, the request id that another caller is entering for this
        entry's key (or its own request id): read until that caller has written the place,
        within the store's deadline. A claim older than the lease is taken over and placed here."""
        request_id, key = entry
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            names = [f"REQ#{target}"] + ([f"IDEM#{key}"] if key is not None else [])
            found = self._batch_get(event_id, names)
            req, idem = found.get(f"REQ#{target}"), found.get(f"IDEM#{key}")
            if (idem is None) if key is not None else (req is None):  # given back: claim it again
                outcome = self._claim_entries(event_id, [entry], claim)[0]
                if outcome is None:
                    return self._place(event_id, [entry], claim)[0]
                if isinstance(outcome, Ticket):
                    return outcome
                target = outcome
            elif key is not None and _str(idem or {}, "request_id") != target:
                target = str(_str(idem or {}, "request_id"))  # taken over meanwhile: follow it
            elif req is not None and "position" in req:
                return self._ticket_of(event_id, target, req).ticket
            elif req is not None and self._stale(req) and self._take_over(event_id, f"REQ#{target}", req, claim):
                return self._place(event_id, [(target, key)], claim)[0]
            elif req is None and idem is not None and self._stale(idem) and self._take_over(
                    event_id, f"IDEM#{key}", idem, claim, request_id):
                target = request_id  # the key is this entry's now; its request id is claimed next
                if self._put_new(event_id, f"REQ#{request_id}", claim.request_item(key)) is None:
                    return self._place(event_id, [entry], claim)[0]
            if time.monotonic() >= deadline:
                raise StoreUnavailable("another entry with this key is still being written; try again")
            backoff(attempt, deadline)
            attempt += 1

    def _stale(self, item: Item) -> bool:
        return float(_num(item, "claimed_at")) + self.claim_lease < time.time()

    def _take_over(self, event_id: str, sk: str, item: Item, claim: _Claim, request_id: str | None = None) -> bool:
        """Replace a stale claim by this call's (conditioned on it being unchanged); True if done."""
        from botocore.exceptions import ClientError

        values = {":old": _s(str(_str(item, "claim"))), ":claim": _s(claim.token), ":at": _n(claim.claimed_at)}
        expression = "SET claim = :claim, claimed_at = :at"
        if request_id is not None:
            expression += ", request_id = :rid"
            values[":rid"] = _s(request_id)
        try:
            self._call("update_item", TableName=self.table, Key=self._key(event_id, sk), UpdateExpression=expression,
                       ConditionExpression="claim = :old AND attribute_not_exists(#pos)",
                       ExpressionAttributeNames={"#pos": "position"}, ExpressionAttributeValues=values)
        except ClientError:
            return False
        log.warning("took over a claim on %s of %s left by a failed caller", sk.split("#", 1)[0], event_id)
        return True

    def get_ticket(self, event_id: str, request_id: str, now: float) -> Ticket | None:
        found = self._read_ticket(event_id, request_id)
        return None if found is None else found.ticket

    def set_alias(self, event_id: str, alias: str, request_id: str, note: str, ttl: float, now: float) -> None:
        expires_at = now + ttl
        self._call("put_item", TableName=self.table, Item={
            **self._key(event_id, f"ALIAS#{alias}"), "request_id": _s(request_id), "note": _s(note),
            "expires_at": _n(float(expires_at)), TTL_ATTRIBUTE: _n(int(expires_at) + 1)})

    def resolve_alias(self, event_id: str, alias: str, now: float) -> tuple[str, str, Ticket | None] | None:
        item = self._get(event_id, f"ALIAS#{alias}")
        if item is None or float(_num(item, "expires_at")) <= now:
            return None
        request_id = str(_str(item, "request_id"))
        found = self._read_ticket(event_id, request_id)
        return request_id, str(_str(item, "note")), None if found is None else found.ticket

    def counters(self, event_id: str) -> Counters:
        return self._counters_of(self._state(event_id))

    def advance_serving(self, event_id: str, by: int, now: float) -> int:
        def attempt() -> int:
            state = self._state(event_id)
            wanted = state["serving"] + by
            target = max(0, min(wanted, state["last_position"]))
            if target == state["serving"]:
                return target
            guard, values = self._guard(state, ("serving", "moves", "reached"))
            if wanted > state["last_position"]:
                # Clamped to the line as read. Entries keep growing it (one ADD each, at up to
                # 1,000 a second) and it never shrinks, so the condition is that it still holds
                # the target, not that it is unchanged: a move racing entries would otherwise be
                # cancelled again and again. Entries that came in meanwhile wait for the next move.
                guard += " AND last_position >= :target"
                values[":target"] = _n(target)
            expression, move_values, puts = self._serving_move(event_id, state, target, now)
            self._transact([self._counters_update(event_id, "SET " + expression, {**values, **move_values}, guard),
                            *puts])
            return target

        return self._retrying(attempt)

    def issue_session(
        self, event_id: str, request_id: str, jti: str, issued_at: int, expires_at: int, now: float,
        position_expiry: float = 0.0, grant: str | None = None,
    ) -> Ticket:
        # A revoked grant is read first and, for a new session, checked again inside the
        # transaction: a revocation between the two cancels it and the retry refuses.
        grant_check: list[dict[str, Any]] = []
        if grant is not None:
            grant_check.append({"ConditionCheck": {
                "TableName": self.table, "Key": self._key(event_id, f"GRANT#{grant}"),
                "ConditionExpression": "attribute_not_exists(sk) OR expires_at <= :now",
                "ExpressionAttributeValues": {":now": _n(float(now))}}})

        def attempt() -> Ticket:
            if grant is not None:
                revoked = self._get(event_id, f"GRANT#{grant}")
                if revoked is not None and float(_num(revoked, "expires_at")) > now:
                    raise GrantRevoked("the authorization this issue is made under was revoked")
            found = self._read_ticket(event_id, request_id)
            if found is None:
                raise InvalidTransition("unknown request id")
            ticket, index, _state = found
            if check_issuable(ticket, now, position_expiry):
                return ticket
            position = ticket.position  # the public one: compared with the counters, names the session
            self._transact([
                *grant_check,
                self._counters_update(
                    event_id, "SET issued = issued + :one", {":one": _n(1), ":pos": _n(position)},
                    "serving >= :pos AND expiry_cursor < :pos"),
                {"Update": {
                    "TableName": self.table, "Key": self._key(event_id, _pos_key(index)),
                    # No existence check: a place whose POS# item was lost to a failed write
                    # (its REQ# item written) is still the visitor's.
                    "UpdateExpression": "SET #st = :st, jti = :jti, issued_at = :iat, expires_at = :exp, "
                                        "request_id = :rid REMOVE hole",
                    # Never on another visitor's place (see ``_ticket_from``: a reset during entry).
                    "ConditionExpression": "attribute_not_exists(#st) AND "
                                           "(attribute_not_exists(request_id) OR request_id = :rid)",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": {":st": _s(Status.ISSUED.value), ":jti": _s(jti),
                                                  ":iat": _n(issued_at), ":exp": _n(expires_at),
                                                  ":rid": _s(request_id)}}},
                {"Put": {"TableName": self.table, "Item": {
                    **self._key(event_id, f"SESS#{expires_at:012d}#{position:012d}"),
                    "request_id": _s(request_id), "position": _n(position), "index": _n(index)}}},
                {"Put": {"TableName": self.table, "Item": {
                    **self._key(event_id, f"JTI#{jti}"), "request_id": _s(request_id),
                    TTL_ATTRIBUTE: _n(int(expires_at) + SESSION_LOOKUP_GRACE + 1)}}},
            ])
            issued = self._read_ticket(event_id, request_id)
            assert issued is not None
            return issued.ticket

        return self._retrying(attempt)

    def session_ticket(self, event_id: str, jti: str, now: float) -> Ticket | None:
        pointer = self._get(event_id, f"JTI#{jti}")
        if pointer is None:
            return None
        found = self._read_ticket(event_id, str(_str(pointer, "request_id")))
        return None if found is None else found.ticket

    def revoke_grant(self, event_id: str, grant: str, ttl: float, now: float) -> None:
        expires_at = now + ttl
        self._call("put_item", TableName=self.table, Item={
            **self._key(event_id, f"GRANT#{grant}"), "expires_at": _n(float(expires_at)),
            TTL_ATTRIBUTE: _n(int(expires_at) + 1)})

    def end_session(self, event_id: str, request_id: str, status: Status, now: float) -> Ticket:
        column = {Status.COMPLETED: "completed", Status.ABANDONED: "abandoned"}[status]

        def attempt() -> Ticket:
            found = self._read_ticket(event_id, request_id)
            session = None if found is None else found.ticket.session
            if found is None or found.ticket.status is not Status.ISSUED or session is None:
                state = "unknown" if found is None else found.ticket.status.value
                raise InvalidTransition(f"only an issued session can end; this one is {state}")
            ticket = found.ticket
            self._transact([
                {"Update": {
                    "TableName": self.table, "Key": self._key(event_id, _pos_key(found.arrival_index)),
                    "UpdateExpression": "SET #st = :st, ended_at = :now",
                    "ConditionExpression": "#st = :issued",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": {":st": _s(status.value), ":now": _n(float(now)),
                                                  ":issued": _s(Status.ISSUED.value)}}},
                self._counters_update(event_id, f"SET {column} = {column} + :one", {":one": _n(1)}),
                {"Delete": {"TableName": self.table, "Key": self._key(
                    event_id, f"SESS#{session.expires_at:012d}#{ticket.position:012d}")}},
            ])
            ended = self._read_ticket(event_id, request_id)
            assert ended is not None
            return ended.ticket

        return self._retrying(attempt)

    def sweep(self, event_id: str, now: float, position_expiry: float, incr_serving: bool) -> SweepResult:
        expired_positions: list[tuple[int, str]] = []

        def expire() -> int:
            expired_positions.clear()
            state = self._state(event_id)
            cursor = state["expiry_cursor"]
            # New highs after the cursor, oldest first; those reached before (now - expiry) are due.
            reached = 0
            for item in self._query(f"EVENT#{event_id}", f"REACH#{cursor + 1:012d}", "REACH#" + _HIGH):
                if float(_num(item, "at")) > now - position_expiry:
                    break
                reached = int(item[SORT_KEY]["S"].removeprefix("REACH#"))
            bound = min(reached, state["serving"], cursor + self.sweep_positions)
            if bound <= cursor:
                return 0
            # Every position in the range without a session expires: places not claimed in time
            # and holes (positions whose place was never written, marked or not; see ``enter_many``).
            with_session = 0
            for position, item in self._places_at(event_id, state, cursor + 1, bound):
                if "status" in item:
                    with_session += 1
                elif "request_id" in item:
                    expired_positions.append((position, str(_str(item, "request_id"))))
            expired_positions.sort()
            expired = bound - cursor - with_session
            # Unchanged ``issued`` proves no place in the range got tokens after it was counted.
            guard, values = self._guard(state, ("expiry_cursor", "issued", "serving", "moves", "reached"))
            expression = "SET expiry_cursor = :bound, expired = expired + :expired"
            values.update({":bound": _n(bound), ":expired": _n(expired)})
            puts: list[dict[str, Any]] = []
            if expired and incr_serving:
                target = min(state["serving"] + expired, state["last_position"])
                if target < state["serving"] + expired:  # clamped to the line as read (see advance_serving)
                    guard += " AND last_position >= :target"
                    values[":target"] = _n(target)
                if target != state["serving"]:
                    move, move_values, puts = self._serving_move(event_id, state, target, now)
                    expression += ", " + move
                    values.update(move_values)
            self._transact([self._counters_update(event_id, expression, values, guard), *puts])
            return expired

        expired = self._retrying(expire) if position_expiry > 0 else 0
        ended: list[tuple[int, str]] = list(expired_positions)
        timed_out = 0
        for item in list(self._query(f"EVENT#{event_id}", "SESS#", f"SESS#{int(now):012d}#{_HIGH}")):
            position = int(_num(item, "position"))
            index = int(_num(item, "index", position))  # items written before draws named the place by position
            request_id = str(_str(item, "request_id"))
            try:
                self._transact([
                    {"Update": {
                        "TableName": self.table, "Key": self._key(event_id, _pos_key(index)),
                        "UpdateExpression": "SET #st = :st, ended_at = :now",
                        "ConditionExpression": "#st = :issued",
                        "ExpressionAttributeNames": {"#st": "status"},
                        "ExpressionAttributeValues": {":st": _s(Status.TIMED_OUT.value), ":now": _n(float(now)),
                                                      ":issued": _s(Status.ISSUED.value)}}},
                    self._counters_update(event_id, "SET timed_out = timed_out + :one", {":one": _n(1)}),
                    {"Delete": {"TableName": self.table, "Key": {PARTITION_KEY: item[PARTITION_KEY],
                                                                  SORT_KEY: item[SORT_KEY]}}},
                ])
            except _Conflict:  # ended or timed out by someone else meanwhile: drop the stale index entry
                self._call("delete_item", TableName=self.table,
                           Key={PARTITION_KEY: item[PARTITION_KEY], SORT_KEY: item[SORT_KEY]})
                continue
            timed_out += 1
            ended.append((position, request_id))
        self._record_ended(event_id, ended, now)
        return SweepResult(expired=expired, timed_out=timed_out, serving=self._state(event_id)["serving"])

    def _places_at(self, event_id: str, state: _State, first: int, last: int) -> Iterator[tuple[int, Item]]:
        """The ``POS#`` items of the places at positions ``first`` .. ``last``, each with its
        position (a hole never written is missing). Positions the draw shuffled are found one
        by one by their arrival indexes (:func:`core.draw.index_at`) with ``BatchGetItem``
        (:meth:`_batch_get`: a read unit per place); the rest is one range ``Query`` (positions
        are arrival indexes there, about 40 places a read unit)."""
        drawn_last = min(last, state.drawn)
        if first <= drawn_last:
            position_at = {_pos_key(state.index_at(p)): p for p in range(first, drawn_last + 1)}
            for sk, item in self._batch_get(event_id, list(position_at)).items():
                yield position_at[sk], item
        low = max(first, state.drawn + 1)
        if low <= last:
            for item in self._query(f"EVENT#{event_id}", _pos_key(low), _pos_key(last)):
                yield int(item[SORT_KEY]["S"].removeprefix("POS#")), item

    def _record_ended(self, event_id: str, ended: list[tuple[int, str]], now: float) -> None:
        """List places that expired or timed out for the admin view (idempotent puts)."""
        for start in range(0, len(ended), 25):
            requests = [{"PutRequest": {"Item": {
                **self._key(event_id, f"ENDED#{_time_key(now)}#{position:012d}"), "request_id": _s(request_id)}}}
                for position, request_id in ended[start:start + 25]]
            self._batch_write(requests)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """``BatchWriteItem`` of up to 25 requests; items the service leaves unprocessed under
        load are sent again with jittered backoff within the store's deadline."""
        pending = {self.table: requests}
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            response = self._call("batch_write_item", RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise StoreUnavailable("DynamoDB did not accept a batch write")
            backoff(attempt, deadline)
            attempt += 1

    def expired_request_ids(self, event_id: str, limit: int) -> list[str]:
        items = self._query(f"EVENT#{event_id}", "ENDED#", "ENDED#" + _HIGH, forward=False, limit=limit)
        return [str(_str(item, "request_id")) for item in reversed(list(items))]

    def claim_tick(self, event_id: str, name: str, tick: int) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._call(
                "update_item", TableName=self.table, Key=self._key(event_id, f"TICK#{name}"),
                UpdateExpression="SET tick = :tick",
                ConditionExpression="attribute_not_exists(tick) OR tick < :tick",
                ExpressionAttributeValues={":tick": _n(tick)},
            )
        except ClientError:
            return False
        return True

    def serving_history(self, event_id: str, since: float) -> list[tuple[float, int]]:
        items = self._query(f"EVENT#{event_id}", f"HIST#{_time_key(since)}", "HIST#" + _HIGH)
        return [(float(_num(item, "at")), int(_num(item, "serving"))) for item in items]

    def get_control(self, event_id: str) -> dict[str, str]:
        items = self._query(f"EVENT#{event_id}", "CTRL#", "CTRL#" + _HIGH)
        return {item[SORT_KEY]["S"][5:]: str(_str(item, "value")) for item in items}

    def set_control(self, event_id: str, key: str, value: str | None) -> None:
        if value is None:
            self._call("delete_item", TableName=self.table, Key=self._key(event_id, f"CTRL#{key}"))
        else:
            self._call("put_item", TableName=self.table,
                       Item={**self._key(event_id, f"CTRL#{key}"), "value": _s(value)})

    # -- the draw -------------------------------------------------------------------------------
    #
    # The draw lives on the counters item (``draw_secret``, ``draw_size``, ``draw_opened_at``):
    # every read of the counters reads it in the same step, each entry's ``ADD`` on
    # ``last_position`` returns it as of that update, and a reset forgets it with the counters.

    def prepare_draw(self, event_id: str, secret: str) -> DrawState:
        """One ``UpdateItem`` that sets ``draw_secret`` only if absent (``if_not_exists``) and
        returns the item as kept (``ALL_NEW``): every racing caller gets the first secret."""
        response = self._call(
            "update_item", TableName=self.table, Key=self._key(event_id, "COUNTERS"),
            UpdateExpression="SET draw_secret = if_not_exists(draw_secret, :secret)",
            ExpressionAttributeValues={":secret": _s(secret)}, ReturnValues="ALL_NEW")
        draw = _draw_of(response["Attributes"])
        assert draw is not None
        return draw

    def open_draw(self, event_id: str, now: float) -> DrawState:
        """One conditional ``UpdateItem`` on the counters item: ``draw_size`` = ``last_position``
        and ``draw_opened_at`` = ``now``, on condition that a secret is kept, the draw is not
        open yet and the serving counter never moved (``moves`` is 0: a counter moved back to 0
        admitted people before). Entries take their arrival indexes with ``ADD`` on the
        same item, so the size is exactly the indexes handed out before this write. A refused
        write returns the item (``ReturnValuesOnConditionCheckFailure``), which tells an open
        draw (returned unchanged: idempotent, and every racing caller gets the same state) from
        the refusals (InvalidTransition)."""
        from botocore.exceptions import ClientError

        try:
            response = self._call(
                "update_item", TableName=self.table, Key=self._key(event_id, "COUNTERS"),
                UpdateExpression="SET draw_size = if_not_exists(last_position, :zero), draw_opened_at = :now",
                ConditionExpression="attribute_exists(draw_secret) AND attribute_not_exists(draw_size) "
                                    "AND (attribute_not_exists(serving) OR serving = :zero) "
                                    "AND (attribute_not_exists(moves) OR moves = :zero)",
                ExpressionAttributeValues={":zero": _n(0), ":now": _n(float(now))},
                ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
            item: Item = response["Attributes"]
        except ClientError as exc:
            item = exc.response.get("Item") or {}
        draw = _draw_of(item)
        if draw is None:
            raise InvalidTransition("the event has no draw to open: its secret was never prepared")
        if not draw.is_open:
            raise InvalidTransition("places were admitted in arrival order already; the draw can no longer open")
        return draw

    def draw_state(self, event_id: str) -> DrawState | None:
        return self._state(event_id).draw

    def arrivals(self, event_id: str, first: int, count: int) -> list[str | None]:
        """A read of the counters (for ``last_position``), then one range ``Query`` over the
        ``POS#`` items of those arrival indexes (paged by the service, about 40 places a read
        unit). A hole is None.

        Just after the opening a drawn index without a place may be an entry that took its index
        before the opening and is still writing its place (:meth:`enter_many`'s third step).
        Those are read again (:meth:`_await_places`) so the published list never shows such a
        place as a hole; only a real hole, never marked, makes this wait."""
        state = self._state(event_id)
        last = min(first + count - 1, state["last_position"])
        first = max(first, 1)
        if last < first:
            return []
        found = {int(item[SORT_KEY]["S"].removeprefix("POS#")): item
                 for item in self._query(f"EVENT#{event_id}", _pos_key(first), _pos_key(last))}
        missing = [index for index in range(first, min(last, state.drawn) + 1) if index not in found]
        if missing and state.draw is not None and state.draw.opened_at is not None:
            found.update(self._await_places(event_id, missing, state.draw.opened_at))
        return [_str(found[index], "request_id") if index in found else None for index in range(first, last + 1)]

    def _await_places(self, event_id: str, indexes: list[int], opened_at: float) -> dict[int, Item]:
        """The ``POS#`` items of ``indexes`` that appear while the draw opened at ``opened_at``
        (POSIX seconds) is younger than twice the store's timeout (an entry writes its place, or
        gives up and marks a hole, within that of taking its index), read again with backoff for
        at most the store's timeout."""
        deadline = time.monotonic() + min(self.timeout, opened_at + 2 * self.timeout - time.time())
        found: dict[int, Item] = {}
        attempt = 0
        while indexes and time.monotonic() < deadline:
            backoff(attempt, deadline)
            attempt += 1
            got = self._batch_get(event_id, [_pos_key(index) for index in indexes])
            found.update({index: got[_pos_key(index)] for index in indexes if _pos_key(index) in got})
            indexes = [index for index in indexes if index not in found]
        return found

    def reset(self, event_id: str, keep_controls: Collection[str] = ()) -> None:
        """Delete every item of the event but the kept controls' ``CTRL#<name>`` items, which are
        never touched. Not atomic: run it while the event takes no traffic.

        An entry in flight may write its place after the counters went; that position is then
        handed out again, and the place belongs to whichever visitor's ``POS#`` item was written
        last: the other one reads as expired and is never issued tokens on it (never shared)."""
        kept = {f"CTRL#{name}" for name in keep_controls}
        keys = [{PARTITION_KEY: item[PARTITION_KEY], SORT_KEY: item[SORT_KEY]}
                for item in self._query(f"EVENT#{event_id}", None, None) if item[SORT_KEY]["S"] not in kept]
        # The counters item goes last, so a concurrent reader never sees tickets above a zero counter.
        keys.sort(key=lambda k: k[SORT_KEY]["S"] == "COUNTERS")
        for start in range(0, len(keys), 25):
            self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys[start:start + 25]])

    def ping(self) -> None:
        self._call("describe_table", TableName=self.table)

    def close(self) -> None:
        """Stop the claim threads, if any were started (boto3 clients pool their own connections)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- KeyValueStore ------------------------------------------------------------------------

    def _kv_key(self, namespace: str, key: str) -> dict[str, Any]:
        return {PARTITION_KEY: _s(f"KV#{namespace}"), SORT_KEY: _s(key)}

    def put(self, namespace: str, key: str, value: str, ttl: float, now: float) -> None:
        expires_at = now + ttl
        # DynamoDB deletes expired items lazily (within days), so reads also check ``expires_at``.
        self._call("put_item", TableName=self.kv_table, Item={
            **self._kv_key(namespace, key), "value": _s(value), "expires_at": _n(float(expires_at)),
            TTL_ATTRIBUTE: _n(int(expires_at) + 1)})

    def _kv_item(self, namespace: str, key: str) -> Item | None:
        response = self._call("get_item", TableName=self.kv_table, Key=self._kv_key(namespace, key),
                              ConsistentRead=True)
        item: Item | None = response.get("Item")
        return item

    def get(self, namespace: str, key: str, now: float) -> str | None:
        item = self._kv_item(namespace, key)
        if item is None or "redeemed" in item or float(_num(item, "expires_at")) <= now:
            return None
        return _str(item, "value")

    def take(self, namespace: str, key: str, now: float) -> str | None:
        from botocore.exceptions import ClientError

        try:
            response = self._call("delete_item", TableName=self.kv_table, Key=self._kv_key(namespace, key),
                                  ConditionExpression="attribute_not_exists(redeemed)", ReturnValues="ALL_OLD")
        except ClientError:
            return None  # a redeemed record: not taken
        item = response.get("Attributes")
        if not item or float(_num(item, "expires_at")) <= now:
            return None
        return _str(item, "value")

    def redeem(self, namespace: str, key: str, value: str, until: float, keep: float, now: float,
               attempt: str | None = None) -> tuple[str | None, str | None]:
        """One conditional put of the redemption's item (over none, an expired one, or a put
        record); only a refused one, or an expired credential, reads the item."""
        from botocore.exceptions import ClientError

        if now < until:
            kept_until = now + keep
            item: Item = {**self._kv_key(namespace, key), "value": _s(value), "redeemed": _n(1),
                          "expires_at": _n(float(kept_until)), TTL_ATTRIBUTE: _n(int(kept_until) + 1)}
            if attempt:
                item["redeemed_by"] = _s(attempt)
            try:
                self._call("put_item", TableName=self.kv_table, Item=item,
                           ConditionExpression="attribute_not_exists(redeemed) OR expires_at <= :now",
                           ExpressionAttributeValues={":now": _n(float(now))})
                return value, None
            except ClientError:
                pass  # recorded before
        found = self._kv_item(namespace, key)
        if found is not None and "redeemed" in found and float(_num(found, "expires_at")) > now:
            if attempt and found.get("redeemed_by") == _s(attempt):
                return _str(found, "value"), None  # this attempt, sent again after a lost answer
            return None, _str(found, "value")
        return None, None

    def release(self, namespace: str, key: str, attempt: str, now: float) -> bool:
        """One conditional delete of the redemption's item."""
        from botocore.exceptions import ClientError

        try:
            self._call(
                "delete_item", TableName=self.kv_table, Key=self._kv_key(namespace, key),
                ConditionExpression="attribute_exists(redeemed) AND redeemed_by = :by",
                ExpressionAttributeValues={":by": _s(attempt)})
        except ClientError:
            return False  # redeemed by another attempt, or absent
        return True

    def redeem_for_session(
        self, namespace: str, key: str, value: str, until: float, keep: float, event_id: str, jti: str,
        issued_at: int, expires_at: int, now: float, position_expiry: float = 0.0,
    ) -> tuple[str | None, str | None, Ticket | None]:
        """Two steps (the record and the place live in two tables): ``redeem``, then
        ``issue_session`` under the key as its grant."""
        return redeem_for_session_in_steps(self, namespace, key, value, until, keep, event_id, jti, issued_at,
                                           expires_at, now, position_expiry)

    def delete(self, namespace: str, key: str) -> None:
        self._call("delete_item", TableName=self.kv_table, Key=self._kv_key(namespace, key))

    def incr(self, namespace: str, key: str, ttl: float, now: float) -> int:
        """Add one to a counter record and return the new count. Atomic.

        A record past its expiry starts again at 1 with a fresh ``ttl`` (fixed-window counters
        such as the entry rate limit): an increment conditioned on the window being open, else a
        put conditioned on it being absent or closed; a lost race tries again.
        """
        from botocore.exceptions import ClientError

        def attempt() -> int:
            try:
                response = self._call(
                    "update_item", TableName=self.kv_table, Key=self._kv_key(namespace, key),
                    UpdateExpression="ADD #count :one", ConditionExpression="expires_at > :now",
                    ExpressionAttributeNames={"#count": "count"},
                    ExpressionAttributeValues={":one": _n(1), ":now": _n(float(now))}, ReturnValues="UPDATED_NEW")
                return int(_num(response["Attributes"], "count"))
            except ClientError:
                pass  # no open window
            expires_at = now + ttl
            try:
                self._call(
                    "put_item", TableName=self.kv_table, Item={
                        **self._kv_key(namespace, key), "count": _n(1), "value": _s("1"),
                        "expires_at": _n(float(expires_at)), TTL_ATTRIBUTE: _n(int(expires_at) + 1)},
                    ConditionExpression="attribute_not_exists(sk) OR expires_at <= :now",
                    ExpressionAttributeValues={":now": _n(float(now))})
            except ClientError:
                raise _Conflict() from None  # someone opened the window meanwhile: count in it
            return 1

        return self._retrying(attempt)

