"""The DynamoDB store: :class:`core.ports.QueueStore` and :class:`core.ports.KeyValueStore` on one table.

Single-table layout (partition key ``pk``, sort key ``sk``, both strings; TTL attribute ``ttl``):

====================  ===========================  ==================================================
pk                    sk                           what
====================  ===========================  ==================================================
``EVENT#<event>``     ``COUNTERS``                 serving, last_position, issued, ... , expiry_cursor,
                                                   reached (highest REACH# high), moves (history seq)
``EVENT#<event>``     ``REQ#<request id>``         position, entered_at, idempotency_key
``EVENT#<event>``     ``POS#<position:012>``       request_id and, once tokens are issued, the session
                                                   (status, jti, issued_at, expires_at, ended_at)
``EVENT#<event>``     ``IDEM#<idempotency key>``   request_id: makes a retried ``enter`` return the first ticket
``EVENT#<event>``     ``HIST#<at>#<seq>``          serving counter after each move (serving_history)
``EVENT#<event>``     ``REACH#<serving:012>``      time the counter reached a new high since it was last moved
                                                   back below it (admission times)
``EVENT#<event>``     ``SESS#<expires_at>#<pos>``  index of issued sessions by expiry (timed-out sweep)
``EVENT#<event>``     ``ENDED#<at>#<pos>``         expired / timed-out places, newest last (admin view)
``EVENT#<event>``     ``TICK#<name>``              claimed scheduler ticks
``EVENT#<event>``     ``CTRL#<key>``               operators' runtime overrides
``EVENT#<event>``     ``ALIAS#<alias>``            request_id and note an alias stands for, until ``expires_at``
``EVENT#<event>``     ``JTI#<jti>``                request_id of the session opened with that jti (``ttl``)
``EVENT#<event>``     ``GRANT#<grant>``            a revoked grant (``revoke_grant``), until ``expires_at``
``KV#<namespace>``    ``<key>``                    key-value records (authorization codes, ...), with ``ttl``;
                                                   ``redeemed`` once ``redeem`` used the record
====================  ===========================  ==================================================

Atomicity comes from conditional writes and ``TransactWriteItems``: every change of the counters
item carries a condition on the values it was computed from (optimistic concurrency), and a
cancelled transaction is re-read and retried. ``enter`` writes the new ``last_position``, the
``POS#`` item and the ``REQ#`` item (and the ``IDEM#`` item) in one transaction conditioned on the
old ``last_position`` and on none of those items existing, so positions are 1, 2, 3, ... with no
gap and no repeat, and a retried request with the same idempotency key finds its first ticket.

An expired place is derived, not written one by one: a position at or below ``expiry_cursor``
without a session is EXPIRED. The sweep moves the cursor in one conditional write (conditioned
on ``issued`` being unchanged since it counted sessions, so a concurrent token issue forces a
retry), then lists the places it expired in ``ENDED#`` items for the admin view. Timed-out
sessions are handled one transaction per session (status, counter, index), each idempotent.

All items of one event share a partition; the counters item is the serialisation point, as the
``last_position`` counter is in every store. Behind SQS the consumer enters visitors in batches,
so contention stays low.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from ..errors import GrantRevoked, InvalidTransition, StoreUnavailable
from ..model import Counters, DoorRule, Session, Status, SweepResult, Ticket
from ..rules import SESSION_LOOKUP_GRACE, check_issuable

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "ttl"

_COUNTER_FIELDS = ("serving", "last_position", "issued", "completed", "abandoned", "expired", "timed_out")
_STATE_FIELDS = (*_COUNTER_FIELDS, "expiry_cursor", "reached", "moves")
_HIGH = "~"  # sorts after every digit and letter used in sort keys
_MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems' limit

T = TypeVar("T")
Item = dict[str, Any]


class _Conflict(Exception):
    """An optimistic write lost a race; the operation re-reads and tries again."""


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

    ``client`` is a boto3 DynamoDB client (built from ``region`` when not given). ``kv_table``
    defaults to ``table``. ``max_attempts`` bounds optimistic retries; after that the operation
    raises :class:`StoreUnavailable` (the caller answers 503 and the client retries).
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
    ) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=timeout or 2.0,
                read_timeout=max(timeout or 2.0, 2.0),
            )
            client = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url, config=config)
        self.client = client
        self.table = table
        self.kv_table = kv_table or table
        self.max_attempts = max_attempts

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
        """One client call; connection and throttling failures become StoreUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise
            raise StoreUnavailable(f"DynamoDB {operation} failed: {code or exc}") from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"DynamoDB unreachable: {exc}") from None

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it does not raise _Conflict, backing off with jitter."""
        for n in range(self.max_attempts):
            try:
                return attempt()
            except _Conflict:
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**n)))  # jitter, not security
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

    def _state(self, event_id: str) -> dict[str, int]:
        item = self._get(event_id, "COUNTERS") or {}
        return {name: int(_num(item, name)) for name in _STATE_FIELDS}

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
            # admission time later (never an expiry earlier) until the move lands.
            # Positions up to ``target`` stay admitted since they were: it becomes a high of its
            # own, with the time of the first high it replaces.
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

    def _ticket_from(self, event_id: str, request_id: str, req: Item, pos: Item | None,
                     state: Mapping[str, int]) -> Ticket:
        position = int(_num(req, "position"))
        entered_at = float(_num(req, "entered_at"))
        session = None
        raw_status = _str(pos or {}, "status")
        if raw_status is not None:
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

    def _read_ticket(self, event_id: str, request_id: str) -> tuple[Ticket, dict[str, int]] | None:
        req = self._get(event_id, f"REQ#{request_id}")
        if req is None:
            return None
        position = int(_num(req, "position"))
        # The position and the counters are read in one snapshot so the derived status is consistent.
        response = self._call("transact_get_items", TransactItems=[
            {"Get": {"TableName": self.table, "Key": self._key(event_id, _pos_key(position))}},
            {"Get": {"TableName": self.table, "Key": self._key(event_id, "COUNTERS")}},
        ])
        pos_item, counters_item = (r.get("Item") for r in response["Responses"])
        state = {name: int(_num(counters_item or {}, name)) for name in _STATE_FIELDS}
        return self._ticket_from(event_id, request_id, req, pos_item, state), state

    # -- QueueStore ---------------------------------------------------------------------------

    def enter(self, event_id: str, request_id: str, idempotency_key: str | None, now: float,
              door: DoorRule | None = None) -> Ticket:
        attempts = 0

        def attempt() -> Ticket:
            nonlocal attempts
            attempts += 1
            if idempotency_key is not None:
                seen = self._get(event_id, f"IDEM#{idempotency_key}")
                if seen is not None:
                    found = self._read_ticket(event_id, str(_str(seen, "request_id")))
                    if found is None:  # written in the same transaction as the ticket: cannot happen
                        raise StoreUnavailable("idempotency record without its ticket")
                    return found[0]
            if attempts > 1:  # the last try was cancelled: maybe because this request id holds a place
                held = self._read_ticket(event_id, request_id)
                if held is not None:
                    return held[0]
            state = self._state(event_id)
            position = state["last_position"] + 1
            admit = door is not None and self._door_opens(event_id, state, position, door)
            guard, values = self._guard(state, _STATE_FIELDS if admit else ("last_position",))
            expression = "SET last_position = :position"
            assigned = {"last_position"}
            extra: list[dict[str, Any]] = []
            if admit:  # the guard on every counter makes the rule's reading of them hold at the write
                move, move_values, extra = self._serving_move(event_id, state, position, now)
                expression += ", " + move
                assigned.update(part.split(" = ")[0] for part in move.split(", "))
                values.update(move_values)
                extra.append({"ConditionCheck": {
                    "TableName": self.table, "Key": self._key(event_id, "CTRL#paused"),
                    "ConditionExpression": "attribute_not_exists(sk) OR #v <> :paused",
                    "ExpressionAttributeNames": {"#v": "value"}, "ExpressionAttributeValues": {":paused": _s("1")}}})
            expression += "".join(f", {name} = if_not_exists({name}, :zero)" for name in _STATE_FIELDS
                                  if name not in assigned)
            items: list[dict[str, Any]] = [
                self._counters_update(event_id, expression,
                                      {**values, ":position": _n(position), ":zero": _n(0)}, guard),
                *extra,
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(sk)",
                         "Item": {**self._key(event_id, _pos_key(position)), "request_id": _s(request_id)}}},
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(sk)",
                         "Item": {**self._key(event_id, f"REQ#{request_id}"), "position": _n(position),
                                  "entered_at": _n(float(now)),
                                  **({"idempotency_key": _s(idempotency_key)} if idempotency_key else {})}}},
            ]
            if idempotency_key is not None:
                items.append({"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(sk)",
                                      "Item": {**self._key(event_id, f"IDEM#{idempotency_key}"),
                                               "request_id": _s(request_id)}}})
            self._transact(items)  # a lost race (or a concurrent retry of this key) re-reads above
            state = {**state, "last_position": position, **({"serving": position} if admit else {})}
            req = {"position": _n(position), "entered_at": _n(float(now))}
            if admit:  # admitted now: known without reading back the high just written
                return Ticket(event_id, request_id, position, float(now), Status.ADMITTED, float(now))
            return self._ticket_from(event_id, request_id, req, None, state)

        return self._retrying(attempt)

    def _door_opens(self, event_id: str, state: Mapping[str, int], position: int, door: DoorRule) -> bool:
        """Whether :class:`core.model.DoorRule` admits the new ``position`` by the counters as
        read in ``state`` (the enter's transaction is guarded on all of them, and on the event
        not being paused, so the decision holds when it lands)."""
        if position != state["serving"] + 1:
            return False
        paused = self._get(event_id, "CTRL#paused")
        if paused is not None and _str(paused, "value") == "1":
            return False
        if door.max_active > 0 and self._counters_of({**state, "last_position": position - 1}).active \
                >= door.max_active:
            return False
        if door.budget > 0:
            before = next(self._query(f"EVENT#{event_id}", "HIST#", f"HIST#{_time_key(door.since)}",
                                      forward=False, limit=1), None)
            if state["serving"] - (0 if before is None else int(_num(before, "serving"))) >= door.budget:
                return False
        return door.max_active > 0 or door.budget > 0

    def enter_many(self, event_id: str, entries: Sequence[tuple[str, str | None]], now: float) -> list[Ticket]:
        """:meth:`enter` once per entry, in list order.

        Not one call for the list: DynamoDB has no pipelining, and one ``TransactWriteItems``
        for the batch would take at most 25 entries (four items each, 100 in all) after reading
        every idempotency record first, and would have to settle repeated keys in memory; one
        concurrent enter anywhere in the event cancels it, and the whole batch would be read and
        written again, so under contention it costs more than it saves. Entry by entry, each one
        keeps :meth:`enter`'s conditional transaction, and a failure leaves the entries before it
        entered and none half-written.
        """
        return [self.enter(event_id, request_id, key, now) for request_id, key in entries]

    def get_ticket(self, event_id: str, request_id: str, now: float) -> Ticket | None:
        found = self._read_ticket(event_id, request_id)
        return None if found is None else found[0]

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
        return request_id, str(_str(item, "note")), None if found is None else found[0]

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
            if wanted > state["last_position"]:  # clamped: the line must not have grown meanwhile
                extra, more = self._guard(state, ("last_position",))
                guard += " AND " + extra
                values.update(more)
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
            ticket, _state = found
            if check_issuable(ticket, now, position_expiry):
                return ticket
            position = ticket.position
            self._transact([
                *grant_check,
                self._counters_update(
                    event_id, "SET issued = issued + :one", {":one": _n(1), ":pos": _n(position)},
                    "serving >= :pos AND expiry_cursor < :pos"),
                {"Update": {
                    "TableName": self.table, "Key": self._key(event_id, _pos_key(position)),
                    "UpdateExpression": "SET #st = :st, jti = :jti, issued_at = :iat, expires_at = :exp",
                    "ConditionExpression": "attribute_exists(sk) AND attribute_not_exists(#st)",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": {":st": _s(Status.ISSUED.value), ":jti": _s(jti),
                                                  ":iat": _n(issued_at), ":exp": _n(expires_at)}}},
                {"Put": {"TableName": self.table, "Item": {
                    **self._key(event_id, f"SESS#{expires_at:012d}#{position:012d}"),
                    "request_id": _s(request_id), "position": _n(position)}}},
                {"Put": {"TableName": self.table, "Item": {
                    **self._key(event_id, f"JTI#{jti}"), "request_id": _s(request_id),
                    TTL_ATTRIBUTE: _n(int(expires_at) + SESSION_LOOKUP_GRACE + 1)}}},
            ])
            issued = self._read_ticket(event_id, request_id)
            assert issued is not None
            return issued[0]

        return self._retrying(attempt)

    def session_ticket(self, event_id: str, jti: str, now: float) -> Ticket | None:
        pointer = self._get(event_id, f"JTI#{jti}")
        if pointer is None:
            return None
        found = self._read_ticket(event_id, str(_str(pointer, "request_id")))
        return None if found is None else found[0]

    def revoke_grant(self, event_id: str, grant: str, ttl: float, now: float) -> None:
        expires_at = now + ttl
        self._call("put_item", TableName=self.table, Item={
            **self._key(event_id, f"GRANT#{grant}"), "expires_at": _n(float(expires_at)),
            TTL_ATTRIBUTE: _n(int(expires_at) + 1)})

    def end_session(self, event_id: str, request_id: str, status: Status, now: float) -> Ticket:
        column = {Status.COMPLETED: "completed", Status.ABANDONED: "abandoned"}[status]

        def attempt() -> Ticket:
            found = self._read_ticket(event_id, request_id)
            ticket = None if found is None else found[0]
            if ticket is None or ticket.status is not Status.ISSUED or ticket.session is None:
                state = "unknown" if ticket is None else ticket.status.value
                raise InvalidTransition(f"only an issued session can end; this one is {state}")
            self._transact([
                {"Update": {
                    "TableName": self.table, "Key": self._key(event_id, _pos_key(ticket.position)),
                    "UpdateExpression": "SET #st = :st, ended_at = :now",
                    "ConditionExpression": "#st = :issued",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": {":st": _s(status.value), ":now": _n(float(now)),
                                                  ":issued": _s(Status.ISSUED.value)}}},
                self._counters_update(event_id, f"SET {column} = {column} + :one", {":one": _n(1)}),
                {"Delete": {"TableName": self.table, "Key": self._key(
                    event_id, f"SESS#{ticket.session.expires_at:012d}#{ticket.position:012d}")}},
            ])
            ended = self._read_ticket(event_id, request_id)
            assert ended is not None
            return ended[0]

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
            bound = min(reached, state["serving"])
            if bound <= cursor:
                return 0
            for item in self._query(f"EVENT#{event_id}", _pos_key(cursor + 1), _pos_key(bound)):
                if "status" not in item:
                    expired_positions.append((int(item[SORT_KEY]["S"][4:]), str(_str(item, "request_id"))))
            expired = len(expired_positions)
            # Unchanged ``issued`` proves no place in the range got tokens after it was counted.
            guard, values = self._guard(state, ("expiry_cursor", "issued", "serving", "moves", "reached"))
            expression = "SET expiry_cursor = :bound, expired = expired + :expired"
            values.update({":bound": _n(bound), ":expired": _n(expired)})
            puts: list[dict[str, Any]] = []
            if expired and incr_serving:
                target = min(state["serving"] + expired, state["last_position"])
                if target < state["serving"] + expired:  # clamped: the line must not have grown meanwhile
                    extra, more = self._guard(state, ("last_position",))
                    guard += " AND " + extra
                    values.update(more)
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
            request_id = str(_str(item, "request_id"))
            try:
                self._transact([
                    {"Update": {
                        "TableName": self.table, "Key": self._key(event_id, _pos_key(position)),
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

    def _record_ended(self, event_id: str, ended: list[tuple[int, str]], now: float) -> None:
        """List places that expired or timed out for the admin view (idempotent puts)."""
        for start in range(0, len(ended), 25):
            requests = [{"PutRequest": {"Item": {
                **self._key(event_id, f"ENDED#{_time_key(now)}#{position:012d}"), "request_id": _s(request_id)}}}
                for position, request_id in ended[start:start + 25]]
            self._batch_write(requests)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self.table: requests}
        for n in range(self.max_attempts):
            response = self._call("batch_write_item", RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(0.5, 0.01 * 2**n))
        raise StoreUnavailable("DynamoDB did not accept a batch write")

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

    def reset(self, event_id: str) -> None:
        """Delete every item of the event. Not atomic: run it while the event takes no traffic."""
        keys = [{PARTITION_KEY: item[PARTITION_KEY], SORT_KEY: item[SORT_KEY]}
                for item in self._query(f"EVENT#{event_id}", None, None)]
        # The counters item goes last, so a concurrent reader never sees tickets above a zero counter.
        keys.sort(key=lambda k: k[SORT_KEY]["S"] == "COUNTERS")
        for start in range(0, len(keys), 25):
            self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys[start:start + 25]])

    def ping(self) -> None:
        self._call("describe_table", TableName=self.table)

    def close(self) -> None:
        """Nothing to release: boto3 clients pool their own connections."""

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

    def redeem(self, namespace: str, key: str, keep: float, now: float) -> tuple[str | None, str | None]:
        """One conditional update of the record's item; only a refused one reads it back."""
        from botocore.exceptions import ClientError

        kept_until = now + keep
        try:
            response = self._call(
                "update_item", TableName=self.kv_table, Key=self._kv_key(namespace, key),
                UpdateExpression="SET redeemed = :yes, expires_at = :kept, #ttl = :ttl",
                ConditionExpression="attribute_exists(sk) AND attribute_not_exists(redeemed) AND expires_at > :now",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":yes": _n(1), ":kept": _n(float(kept_until)),
                                           ":ttl": _n(int(kept_until) + 1), ":now": _n(float(now))},
                ReturnValues="ALL_NEW")
            return _str(response["Attributes"], "value"), None
        except ClientError:
            pass  # not live, or redeemed before
        item = self._kv_item(namespace, key)
        if item is not None and "redeemed" in item and float(_num(item, "expires_at")) > now:
            return None, _str(item, "value")
        return None, None

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

