"""The shared store: Redis 7 or Valkey, for many workers on many machines.

Every use case that touches more than one key is one Lua script, run with EVALSHA, so it is
atomic on the server and costs one round trip. Commands per operation: ``enter`` 1,
``get_ticket`` 1, ``set_alias`` 1, ``resolve_alias`` 1, ``counters`` 1, ``issue_session`` 1,
``session_ticket`` 1, ``revoke_grant`` 1, ``end_session`` 1, ``advance_serving`` 1, ``sweep`` 1,
``claim_tick`` 1; KV ``put``/``get``/``take``/``redeem``/``delete`` 1 each. ``enter_many`` sends
one EVALSHA per entry, all in one pipelined round trip.

Keys of one event share a Redis Cluster hash tag, so every script's keys live in one slot::

    wr:{EVENT}:c      hash   counters: serving, last, issued, completed, abandoned, expired,
                             timed_out, cursor (expiry cursor), top (highest record high),
                             hseq (history sequence)
    wr:{EVENT}:t      hash   request id -> "position|entered_at" while waiting or admitted;
                             "position|entered_at|S|issued_at|expires_at|ended_at|jti" once tokens
                             were issued (S: i issued, c completed, a abandoned, t timed out)
    wr:{EVENT}:q      list   request ids of positions cursor+1 .. last, in order: the expiry sweep
                             pops what it passes, so expiry costs O(new positions), never O(line)
    wr:{EVENT}:hv     zset   record highs of the serving counter since it was last moved back
                             below them, scored by serving value
    wr:{EVENT}:ht     zset   the same record highs scored by the time they were reached
    wr:{EVENT}:h      zset   every move of the serving counter, scored by time ("seq:serving")
    wr:{EVENT}:live   zset   request ids of issued sessions scored by expires_at (time-outs)
    wr:{EVENT}:x      list   request ids of expired positions and timed-out sessions, oldest first
    wr:{EVENT}:k      hash   scheduler ticks claimed, by name
    wr:{EVENT}:o      hash   operators' runtime overrides
    wr:{EVENT}:i:N    hash   96-bit digest of an idempotency key -> request id, for the keys first
                             seen in time bucket N (a quarter of ``idempotency_ttl`` wide); each
                             bucket expires as a whole
    wr:{EVENT}:a:A    string "expires_at|request id|note" of alias A (``set_alias``), read with the
                             ticket it names by one script
    wr:{EVENT}:j:JTI  string request id of the session opened with JTI, written by the issue
                             script; expires SESSION_LOOKUP_GRACE after the session's tokens
    wr:{EVENT}:g:G    string "expires_at" of a revoked grant G (``revoke_grant``), read by the
                             issue script
    wr:kv:NS:KEY      string "expires_at|value" of a key-value record; "r" + "kept_until|value" once
                             it was redeemed (one key either way, so ``redeem`` touches one slot)

Derived, not stored: the public ticket id (:func:`core.model.ticket_id_for`), the status of a
place without a session (waiting / admitted from the serving counter; expired when its position
is at or below the expiry cursor), and the admission time of a position (the time the serving
counter last reached it: the earliest record high at or above it).

Memory, measured with INFO memory on Redis 7.0 (jemalloc) after 1,000,000 enters into one
event: 155 bytes per waiting visitor (ticket hash entry plus expiry list entry). An idempotency
key adds about 120 bytes (275 in all) until its bucket expires, 24 to 30 hours later. A
session adds about 60 bytes once tokens are issued.

Times are passed to scripts as Python ``repr`` strings and stored verbatim, so they round-trip
exactly; Lua only compares them. The admission time assumes clocks of the workers do not run
backwards between moves of one counter (as the SQLite store's ``MIN(at)`` does in effect).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from ..errors import (
    GrantRevoked,
    InvalidTransition,
    NotAdmitted,
    PositionExpired,
    SessionEnded,
    StoreUnavailable,
    WaitingRoomError,
)
from ..model import Counters, DoorRule, Session, Status, SweepResult, Ticket
from ..rules import SESSION_LOOKUP_GRACE

IDEMPOTENCY_TTL = 24 * 3600
"""Seconds an idempotency key is remembered at least: long past any client's retries, short
enough not to pile up (an entry lives at most a quarter longer)."""
_IDEMPOTENCY_BUCKETS = 4

_DOMAIN_ERRORS: dict[str, type[WaitingRoomError]] = {
    "GRANT_REVOKED": GrantRevoked,
    "NOT_ADMITTED": NotAdmitted,
    "POSITION_EXPIRED": PositionExpired,
    "SESSION_ENDED": SessionEnded,
    "INVALID_TRANSITION": InvalidTransition,
}

# Keys every event script receives, in this order.
_EVENT_KEYS = ("c", "t", "q", "hv", "ht", "h", "live", "x")
_ALL_EVENT_KEYS = (*_EVENT_KEYS, "k", "o")

_PRELUDE = r"""
local C, T, Q, HV, HT, H, LIVE, X = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local STATUS = {i = 'issued', c = 'completed', a = 'abandoned', t = 'timed_out'}

-- Split a ticket record into at most 7 fields; the jti (last) may contain anything.
local function parse(v)
  local f, start = {}, 1
  for _ = 1, 6 do
    local j = string.find(v, '|', start, true)
    if not j then
      f[#f + 1] = string.sub(v, start)
      return f
    end
    f[#f + 1] = string.sub(v, start, j - 1)
    start = j + 1
  end
  f[7] = string.sub(v, start)
  return f
end

local function pad(n)
  return string.format('%015d', n)
end

-- When pos was last admitted: the earliest record high >= pos (highs above a counter that
-- moved back are forgotten, so a position admitted again is timed from then).
local function admitted_at(pos)
  local m = redis.call('ZRANGEBYSCORE', HV, pos, '+inf', 'LIMIT', 0, 1)
  if #m == 0 then return false end
  return redis.call('ZSCORE', HT, m[1]) or false
end

-- {reply, fields, position} for a request id, or nil. reply = {rid, position, entered_at,
-- status, admitted_at, jti, issued_at, expires_at, ended_at}.
local function ticket(rid)
  local v = redis.call('HGET', T, rid)
  if not v then return nil end
  local f = parse(v)
  local pos = tonumber(f[1])
  local cnt = redis.call('HMGET', C, 'serving', 'cursor')
  local serving = tonumber(cnt[1]) or 0
  local cursor = tonumber(cnt[2]) or 0
  local status
  if f[3] then
    status = STATUS[f[3]]
  elseif pos <= cursor then
    status = 'expired'
  elseif pos <= serving then
    status = 'admitted'
  else
    status = 'waiting'
  end
  local adm = false
  if status ~= 'waiting' then adm = admitted_at(pos) end
  local r = {rid, f[1], f[2], status, adm}
  if f[3] then
    r[6] = f[7]
    r[7] = f[4]
    r[8] = f[5]
    if f[6] ~= '' then r[9] = f[6] end
  end
  return {r, f, pos}
end

local function record_serving(serving, now)
  redis.call('HSET', C, 'serving', serving)
  local seq = redis.call('HINCRBY', C, 'hseq', 1)
  redis.call('ZADD', H, now, string.format('%012d:%d', seq, serving))
  local top = tonumber(redis.call('HGET', C, 'top')) or 0
  if serving > top then
    redis.call('HSET', C, 'top', serving)
    redis.call('ZADD', HV, serving, pad(serving))
    redis.call('ZADD', HT, now, pad(serving))
  elseif serving < top then
    -- Moved back: positions above it are no longer admitted, and a later move forward admits
    -- them anew, so their claim window starts then. Forget the highs above it.
    -- Positions up to it stay admitted since they were: it becomes a high of its own, with
    -- the time of the first high it replaces.
    local gone = redis.call('ZRANGEBYSCORE', HV, '(' .. serving, '+inf')
    if serving > 0 and #gone > 0 and not redis.call('ZSCORE', HV, pad(serving)) then
      redis.call('ZADD', HT, redis.call('ZSCORE', HT, gone[1]), pad(serving))
      redis.call('ZADD', HV, serving, pad(serving))
    end
    for i = 1, #gone, 1000 do
      redis.call('ZREM', HT, unpack(gone, i, math.min(i + 999, #gone)))
    end
    redis.call('ZREMRANGEBYSCORE', HV, '(' .. serving, '+inf')
    redis.call('HSET', C, 'top', serving)
  end
end
"""

_ENTER = _PRELUDE + r"""
-- ARGV: request id, now, idempotency digest, bucket ttl, then the door rule ('' for none):
-- max_active, budget, since. KEYS[9]: the overrides hash; KEYS[10..]: idempotency buckets,
-- newest first.
local rid, now, digest = ARGV[1], ARGV[2], ARGV[3]
for j = 10, #KEYS do
  local seen = redis.call('HGET', KEYS[j], digest)
  if seen then
    local tk = ticket(seen)
    if tk then return tk[1] end  -- a retry: the place handed out then, nothing new
  end
end
local existing = ticket(rid)
if existing then return existing[1] end
local pos = redis.call('HINCRBY', C, 'last', 1)
redis.call('HSET', T, rid, pos .. '|' .. now)
redis.call('RPUSH', Q, rid)
if KEYS[10] then
  redis.call('HSET', KEYS[10], digest, rid)
  if redis.call('TTL', KEYS[10]) < 0 then redis.call('EXPIRE', KEYS[10], ARGV[4]) end
end
local serving = tonumber(redis.call('HGET', C, 'serving')) or 0
-- Admit at the door: nobody waits ahead, the event is not paused, and the rule's limit holds.
if ARGV[5] ~= '' and pos == serving + 1 and redis.call('HGET', KEYS[9], 'paused') ~= '1' then
  local max_active, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
  local admit = max_active > 0 or budget > 0
  if max_active > 0 then
    local c = redis.call('HMGET', C, 'completed', 'abandoned', 'expired', 'timed_out')
    local active = serving - (tonumber(c[1]) or 0) - (tonumber(c[2]) or 0) - (tonumber(c[3]) or 0)
      - (tonumber(c[4]) or 0)
    admit = admit and active < max_active
  end
  if budget > 0 then
    local m = redis.call('ZREVRANGEBYSCORE', H, '(' .. ARGV[7], '-inf', 'LIMIT', 0, 1)
    local before = (#m > 0) and tonumber(string.match(m[1], ':(%d+)$')) or 0
    admit = admit and serving - before < budget
  end
  if admit then
    record_serving(pos, now)
    return {rid, tostring(pos), now, 'admitted', now}
  end
end
-- The serving counter never passes the last position, so a new place waits; what ticket() would
-- read back is known without reading it (the check keeps that true whatever moved the counter).
if pos > serving then
  return {rid, tostring(pos), now, 'waiting', false}
end
return ticket(rid)[1]
"""

_GET_TICKET = _PRELUDE + r"""
local tk = ticket(ARGV[1])
if not tk then return false end
return tk[1]
"""

_RESOLVE_ALIAS = _PRELUDE + r"""
-- KEYS[9]: the alias. ARGV: now. Returns {request id, note, ticket reply or nil}, or nil.
local raw = redis.call('GET', KEYS[9])
if not raw then return false end
local a = string.find(raw, '|', 1, true)
if tonumber(string.sub(raw, 1, a - 1)) <= tonumber(ARGV[1]) then return false end
local b = string.find(raw, '|', a + 1, true)
local rid = string.sub(raw, a + 1, b - 1)
local tk = ticket(rid)
return {rid, string.sub(raw, b + 1), tk and tk[1] or false}
"""

_ADVANCE = _PRELUDE + r"""
-- ARGV: by, now
local cnt = redis.call('HMGET', C, 'serving', 'last')
local serving, last = tonumber(cnt[1]) or 0, tonumber(cnt[2]) or 0
local target = math.max(0, math.min(serving + tonumber(ARGV[1]), last))
if target ~= serving then record_serving(target, ARGV[2]) end
return target
"""

_ISSUE = _PRELUDE + r"""
-- ARGV: request id, jti, issued_at, expires_at, admitted-before cutoff ('' = none), now,
-- milliseconds the jti stays findable. KEYS[9]: the jti's lookup key; KEYS[10], if given: the
-- revocation key of the grant this issue is made under.
local rid = ARGV[1]
if KEYS[10] then
  local revoked = redis.call('GET', KEYS[10])
  if revoked and tonumber(revoked) > tonumber(ARGV[6]) then
    return redis.error_reply('GRANT_REVOKED the authorization this issue is made under was revoked')
  end
end
local tk = ticket(rid)
if not tk then return redis.error_reply('INVALID_TRANSITION unknown request id') end
local r, f = tk[1], tk[2]
local st = r[4]
if st == 'waiting' then return redis.error_reply('NOT_ADMITTED this place in line is not admitted yet') end
if st == 'expired' or (st == 'admitted' and ARGV[5] ~= '' and r[5] and tonumber(r[5]) <= tonumber(ARGV[5])) then
  return redis.error_reply('POSITION_EXPIRED this place in line expired before its tokens were claimed')
end
if st == 'issued' then return r end
if st ~= 'admitted' then return redis.error_reply('SESSION_ENDED this session is ' .. st) end
redis.call('HSET', T, rid, f[1] .. '|' .. f[2] .. '|i|' .. ARGV[3] .. '|' .. ARGV[4] .. '||' .. ARGV[2])
redis.call('ZADD', LIVE, ARGV[4], rid)
redis.call('HINCRBY', C, 'issued', 1)
redis.call('SET', KEYS[9], rid, 'PX', ARGV[7])
return ticket(rid)[1]
"""

_SESSION_TICKET = _PRELUDE + r"""
-- KEYS[9]: the jti's lookup key
local rid = redis.call('GET', KEYS[9])
if not rid then return false end
local tk = ticket(rid)
if not tk then return false end
return tk[1]
"""

_END = _PRELUDE + r"""
-- ARGV: request id, status letter (c/a), counter name, now
local rid = ARGV[1]
local tk = ticket(rid)
local st = tk and tk[1][4] or 'unknown'
if st ~= 'issued' then
  return redis.error_reply('INVALID_TRANSITION only an issued session can end; this one is ' .. st)
end
local f = tk[2]
redis.call('HSET', T, rid, table.concat({f[1], f[2], ARGV[2], f[4], f[5], ARGV[4], f[7]}, '|'))
redis.call('ZREM', LIVE, rid)
redis.call('HINCRBY', C, ARGV[3], 1)
return ticket(rid)[1]
"""

_SWEEP = _PRELUDE + r"""
-- ARGV: now, position_expiry, incr_serving (0/1), now - position_expiry, int(now)
local now = ARGV[1]
local expiry = tonumber(ARGV[2])
local ended = {}  -- {position, request id} of places expired or timed out by this sweep
local expired = 0
if expiry > 0 then
  local cnt = redis.call('HMGET', C, 'cursor', 'serving', 'last')
  local cursor, serving, last = tonumber(cnt[1]) or 0, tonumber(cnt[2]) or 0, tonumber(cnt[3]) or 0
  -- Positions are admitted in order, so everything up to the highest serving value reached
  -- by (now - expiry) has been admitted for at least the expiry period.
  local m = redis.call('ZREVRANGEBYSCORE', HT, ARGV[4], '-inf', 'LIMIT', 0, 1)
  local reached = (#m > 0) and tonumber(m[1]) or 0
  local bound = math.min(reached, serving)
  if bound > cursor then
    local rids = redis.call('LPOP', Q, bound - cursor) or {}
    for i, rid in ipairs(rids) do
      local v = redis.call('HGET', T, rid)
      if v and not string.find(v, '|', string.find(v, '|', 1, true) + 1, true) then
        expired = expired + 1
        ended[#ended + 1] = {cursor + i, rid}
      end
    end
    redis.call('HSET', C, 'cursor', bound)
    redis.call('HINCRBY', C, 'expired', expired)
    if expired > 0 and ARGV[3] == '1' then
      local target = math.min(serving + expired, last)
      if target ~= serving then record_serving(target, now) end
    end
  end
end
local timed_out = 0
local late = redis.call('ZRANGEBYSCORE', LIVE, '-inf', ARGV[5])
for _, rid in ipairs(late) do
  local v = redis.call('HGET', T, rid)
  if v then
    local f = parse(v)
    if f[3] == 'i' then
      redis.call('HSET', T, rid, table.concat({f[1], f[2], 't', f[4], f[5], now, f[7]}, '|'))
      timed_out = timed_out + 1
      ended[#ended + 1] = {tonumber(f[1]), rid}
    end
  end
end
if #late > 0 then redis.call('ZREMRANGEBYSCORE', LIVE, '-inf', ARGV[5]) end
if timed_out > 0 then redis.call('HINCRBY', C, 'timed_out', timed_out) end
-- The admin list is ordered by end time, then position, like the SQLite store's.
table.sort(ended, function(a, b) return a[1] < b[1] end)
local batch = {}
for _, e in ipairs(ended) do
  batch[#batch + 1] = e[2]
  if #batch == 1000 then
    redis.call('RPUSH', X, unpack(batch))
    batch = {}
  end
end
if #batch > 0 then redis.call('RPUSH', X, unpack(batch)) end
return {expired, timed_out, tonumber(redis.call('HGET', C, 'serving')) or 0}
"""

_REDEEM = r"""
-- KEYS[1]: a key-value record. ARGV: now, kept_until, milliseconds to keep it.
-- Returns {value, replayed value}: {v, nil} redeemed now, {nil, v} redeemed before, {nil, nil}.
local raw = redis.call('GET', KEYS[1])
if not raw then return {false, false} end
local used = string.sub(raw, 1, 1) == 'r'
local start = used and 2 or 1
local bar = string.find(raw, '|', start, true)
local live = tonumber(string.sub(raw, start, bar - 1)) > tonumber(ARGV[1])
local value = string.sub(raw, bar + 1)
if used then
  if live then return {false, value} end
  return {false, false}
end
if not live then
  redis.call('DEL', KEYS[1])
  return {false, false}
end
redis.call('SET', KEYS[1], 'r' .. ARGV[2] .. '|' .. value, 'PX', ARGV[3])
return {value, false}
"""

_TAKE = r"""
-- KEYS[1]: a key-value record. A redeemed record is not taken (and stays).
local raw = redis.call('GET', KEYS[1])
if not raw or string.sub(raw, 1, 1) == 'r' then return false end
redis.call('DEL', KEYS[1])
return raw
"""

_CLAIM_TICK = r"""
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local tick = tonumber(ARGV[2])
if cur and cur >= tick then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

_COUNTER_FIELDS = ("serving", "last", "issued", "completed", "abandoned", "expired", "timed_out")


def _num(value: float) -> str:
    """A number as Redis and Lua parse it back exactly."""
    return repr(float(value))


@functools.cache
def _script_sha(script: str) -> str:
    """The SHA1 name Redis gives a script's source (what EVALSHA takes)."""
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


_STATUS_OF = {status.value: status for status in Status}
"""Status by its value: a dict lookup, cheaper than calling the enum on every reply."""


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


class _Script:
    """A Lua script called by its SHA1, loaded into the server on first ``NOSCRIPT``.

    redis-py's ``Script`` reaches ``EVALSHA`` through three layers of wrappers (and an import)
    per call; a store calls a script on every request, so on the store's own client this sends
    ``EVALSHA`` directly. With another client (a pipeline) it hands over to redis-py's.
    """

    def __init__(self, client: redis.Redis, source: str) -> None:
        self._client = client
        self._script: Any = client.register_script(source)

    def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = (), client: Any = None) -> Any:
        if client is not None and client is not self._client:
            return self._script(keys=keys, args=args, client=client)
        try:
            return self._client.execute_command("EVALSHA", self._script.sha, len(keys), *keys, *args)
        except NoScriptError:  # a restarted or another server: load it, then run it
            self._script.sha = self._client.script_load(self._script.script)
            return self._client.execute_command("EVALSHA", self._script.sha, len(keys), *keys, *args)


class RedisStore:
    """:class:`core.ports.QueueStore` and :class:`core.ports.KeyValueStore` on Redis 7 or Valkey."""

    def __init__(self, client: redis.Redis, idempotency_ttl: int = IDEMPOTENCY_TTL) -> None:
        self.client = client
        self.idempotency_ttl = idempotency_ttl
        self._event_keys: dict[str, tuple[str, ...]] = {}
        self._enter = _Script(client, _ENTER)
        self._get_ticket = _Script(client, _GET_TICKET)
        self._resolve_alias = _Script(client, _RESOLVE_ALIAS)
        self._advance = _Script(client, _ADVANCE)
        self._issue = _Script(client, _ISSUE)
        self._session_ticket = _Script(client, _SESSION_TICKET)
        self._end = _Script(client, _END)
        self._sweep = _Script(client, _SWEEP)
        self._claim_tick = _Script(client, _CLAIM_TICK)
        self._redeem = _Script(client, _REDEEM)
        self._take = _Script(client, _TAKE)

    @classmethod
    def from_url(cls, url: str, timeout: float = 0.5, **options: Any) -> RedisStore:
        """A store on ``redis://``, ``rediss://`` or ``unix://`` URL with a connection pool.

        ``timeout`` bounds connecting and every reply, so a stalled Redis becomes a quick
        StoreUnavailable (HTTP 503) instead of hung workers. A broken pooled connection is
        retried once; a timeout is not, because the script may have run (a client retrying
        ``enter`` with its idempotency key is safe, a blind retry here would not be).
        """
        pool = redis.ConnectionPool.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
            decode_responses=True,
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1, supported_errors=(redis.ConnectionError,)),
            **options,
        )
        return cls(redis.Redis(connection_pool=pool))

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _prefix(event_id: str) -> str:
        return f"wr:{{{event_id}}}:"

    def _keys(self, event_id: str, names: Sequence[str] = _EVENT_KEYS) -> list[str]:
        if names is _EVENT_KEYS:  # every script call needs these; build them once per event
            keys = self._event_keys.get(event_id)
            if keys is None:
                if len(self._event_keys) >= 1024:  # events are few; bound it anyway
                    self._event_keys.clear()
                keys = self._event_keys[event_id] = tuple(self._prefix(event_id) + name for name in names)
            return list(keys)
        prefix = self._prefix(event_id)
        return [prefix + name for name in names]

    @staticmethod
    def _ticket(event_id: str, reply: Sequence[Any]) -> Ticket:
        rid, position, entered_at, status, admitted_at, *rest = list(reply) + [None] * (9 - len(reply))
        state = _STATUS_OF[status]
        session = None
        if rest[0] is not None:
            jti, issued_at, expires_at, ended_at = rest
            session = Session(jti=jti, issued_at=int(issued_at), expires_at=int(expires_at),
                              status=state, ended_at=_opt_float(ended_at))
        return Ticket(event_id, rid, int(position), float(entered_at), state, _opt_float(admitted_at), session)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Domain errors from scripts become core errors; everything else from Redis, StoreUnavailable."""
        try:
            yield
        except redis.ResponseError as exc:
            code, _, message = str(exc).partition(" ")
            domain = _DOMAIN_ERRORS.get(code)
            if domain is not None:
                raise domain(message) from None
            raise StoreUnavailable(f"Redis store error: {exc}") from None
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis store unavailable: {type(exc).__name__}: {exc}") from None

    # -- QueueStore ---------------------------------------------------------------------------

    def _enter_call(self, event_id: str, request_id: str, idempotency_key: str | None,
                    now: float, door: DoorRule | None = None) -> tuple[list[str], list[Any]]:
        """Keys and arguments of the enter script for one visitor."""
        keys = self._keys(event_id)
        keys.append(self._prefix(event_id) + "o")
        digest = ""
        if idempotency_key is not None:
            # Idempotency keys go in buckets of a quarter of their lifetime each; a lookup reads
            # the current bucket and the four before it, and every bucket expires as a whole.
            # A 96-bit digest keeps each entry small whatever the client sent.
            digest = base64.urlsafe_b64encode(hashlib.sha256(idempotency_key.encode()).digest()[:12]).decode()
            width = self.idempotency_ttl / _IDEMPOTENCY_BUCKETS
            newest = math.floor(now / width)
            prefix = self._prefix(event_id) + "i:"
            keys.extend(f"{prefix}{newest - j}" for j in range(_IDEMPOTENCY_BUCKETS + 1))
        args = [request_id, _num(now), digest, math.ceil(self.idempotency_ttl * (1 + 1 / _IDEMPOTENCY_BUCKETS))]
        if door is None:
            args.extend(("", "", ""))
        else:
            args.extend((door.max_active, door.budget, _num(door.since)))
        return keys, args

    def enter(self, event_id: str, request_id: str, idempotency_key: str | None, now: float,
              door: DoorRule | None = None) -> Ticket:
        keys, args = self._enter_call(event_id, request_id, idempotency_key, now, door)
        with self._errors():
            reply = self._enter(keys=keys, args=args)
        return self._ticket(event_id, reply)

    def enter_many(self, event_id: str, entries: Sequence[tuple[str, str | None]], now: float) -> list[Ticket]:
        """One EVALSHA of the enter script per entry, all in one pipelined round trip.

        The pipeline is not a MULTI: each script run is atomic on its own, which is all the
        contract asks, and Redis runs them in the order sent. A dead connection or an error
        reply can leave part of the list entered; the script finds an entered request id or key
        again, so the caller's retry of the whole list is safe (as is redis-py's own retry of
        the pipeline on a broken pooled connection).
        """
        calls = [self._enter_call(event_id, request_id, key, now) for request_id, key in entries]
        return [self._ticket(event_id, reply) for reply in self._run_pipelined(_ENTER, calls)]

    def _run_pipelined(self, script: str, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
        """Replies of ``script`` (its source) run once per (keys, args), in order, in one round trip.

        EVALSHA goes straight on the pipeline: a script registered on it would first cost a
        SCRIPT EXISTS round trip. A NOSCRIPT reply (a restarted or flushed server) means that
        call did nothing; the script is loaded and those calls run again, in their order, which
        is the fallback the registered scripts apply to one call.
        """
        sha = _script_sha(script)
        replies: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for attempt in range(2):
            if not pending:
                break
            if attempt:
                with self._errors():
                    self.client.script_load(script)
            with self._errors(), self.client.pipeline(transaction=False) as pipe:
                for i in pending:
                    keys, args = calls[i]
                    pipe.evalsha(sha, len(keys), *keys, *args)
                results = pipe.execute(raise_on_error=False)
            missing = []
            for i, result in zip(pending, results, strict=True):
                if isinstance(result, redis.exceptions.NoScriptError):
                    missing.append(i)
                elif isinstance(result, Exception):
                    with self._errors():
                        raise result
                else:
                    replies[i] = result
            pending = missing
        if pending:
            raise StoreUnavailable("Redis store error: a script stayed unknown to the server after loading it")
        return replies

    def get_ticket(self, event_id: str, request_id: str, now: float) -> Ticket | None:
        with self._errors():
            reply = self._get_ticket(keys=self._keys(event_id), args=[request_id])
        return None if reply is None else self._ticket(event_id, reply)

    def set_alias(self, event_id: str, alias: str, request_id: str, note: str, ttl: float, now: float) -> None:
        with self._errors():
            self.client.set(f"{self._prefix(event_id)}a:{alias}", f"{_num(now + ttl)}|{request_id}|{note}",
                            px=max(1, math.ceil(ttl * 1000)))

    def resolve_alias(self, event_id: str, alias: str, now: float) -> tuple[str, str, Ticket | None] | None:
        with self._errors():
            reply = self._resolve_alias(keys=[*self._keys(event_id), f"{self._prefix(event_id)}a:{alias}"],
                                        args=[_num(now)])
        if reply is None:
            return None
        request_id, note, ticket = reply
        return request_id, note, None if ticket is None else self._ticket(event_id, ticket)

    def counters(self, event_id: str) -> Counters:
        with self._errors():
            values = self.client.hmget(self._prefix(event_id) + "c", list(_COUNTER_FIELDS))
        return Counters(*(int(v or 0) for v in values))

    def advance_serving(self, event_id: str, by: int, now: float) -> int:
        with self._errors():
            return int(self._advance(keys=self._keys(event_id), args=[int(by), _num(now)]))

    def issue_session(
        self, event_id: str, request_id: str, jti: str, issued_at: int, expires_at: int, now: float,
        position_expiry: float = 0.0, grant: str | None = None,
    ) -> Ticket:
        cutoff = _num(now - position_expiry) if position_expiry > 0 else ""
        keys = self._keys(event_id)
        keys.append(self._jti_key(event_id, jti))
        if grant is not None:
            keys.append(self._grant_key(event_id, grant))
        findable_ms = max(1, math.ceil((expires_at + SESSION_LOOKUP_GRACE - now) * 1000))
        args = [request_id, jti, int(issued_at), int(expires_at), cutoff, _num(now), findable_ms]
        with self._errors():
            reply = self._issue(keys=keys, args=args)
        return self._ticket(event_id, reply)

    def session_ticket(self, event_id: str, jti: str, now: float) -> Ticket | None:
        with self._errors():
            reply = self._session_ticket(keys=[*self._keys(event_id), self._jti_key(event_id, jti)])
        return None if reply is None else self._ticket(event_id, reply)

    def _jti_key(self, event_id: str, jti: str) -> str:
        return f"{self._prefix(event_id)}j:{jti}"

    def _grant_key(self, event_id: str, grant: str) -> str:
        return f"{self._prefix(event_id)}g:{grant}"

    def revoke_grant(self, event_id: str, grant: str, ttl: float, now: float) -> None:
        with self._errors():
            self.client.set(self._grant_key(event_id, grant), _num(now + ttl), px=max(1, math.ceil(ttl * 1000)))

    def end_session(self, event_id: str, request_id: str, status: Status, now: float) -> Ticket:
        letter, column = {Status.COMPLETED: ("c", "completed"), Status.ABANDONED: ("a", "abandoned")}[status]
        with self._errors():
            reply = self._end(keys=self._keys(event_id), args=[request_id, letter, column, _num(now)])
        return self._ticket(event_id, reply)

    def sweep(self, event_id: str, now: float, position_expiry: float, incr_serving: bool) -> SweepResult:
        args = [_num(now), _num(position_expiry), "1" if incr_serving else "0",
                _num(now - position_expiry), str(math.floor(now))]
        with self._errors():
            expired, timed_out, serving = self._sweep(keys=self._keys(event_id), args=args)
        return SweepResult(expired=int(expired), timed_out=int(timed_out), serving=int(serving))

    def expired_request_ids(self, event_id: str, limit: int) -> list[str]:
        if limit == 0:
            return []
        with self._errors():
            return list(self.client.lrange(self._prefix(event_id) + "x", -limit if limit > 0 else 0, -1))

    def claim_tick(self, event_id: str, name: str, tick: int) -> bool:
        with self._errors():
            return bool(self._claim_tick(keys=[self._prefix(event_id) + "k"], args=[name, int(tick)]))

    def serving_history(self, event_id: str, since: float) -> list[tuple[float, int]]:
        with self._errors():
            rows = self.client.zrangebyscore(self._prefix(event_id) + "h", _num(since), "+inf", withscores=True)
        return [(float(at), int(member.partition(":")[2])) for member, at in rows]

    def get_control(self, event_id: str) -> dict[str, str]:
        with self._errors():
            return dict(self.client.hgetall(self._prefix(event_id) + "o"))

    def set_control(self, event_id: str, key: str, value: str | None) -> None:
        name = self._prefix(event_id) + "o"
        with self._errors():
            if value is None:
                self.client.hdel(name, key)
            else:
                self.client.hset(name, key, value)

    def reset(self, event_id: str) -> None:
        # Idempotency keys are left to expire: enter ignores one whose ticket no longer exists.
        with self._errors():
            self.client.delete(*self._keys(event_id, _ALL_EVENT_KEYS))

    def ping(self) -> None:
        with self._errors():
            self.client.ping()

    def close(self) -> None:
        self.client.connection_pool.disconnect()

    # -- KeyValueStore ------------------------------------------------------------------------
    # The expiry instant is stored with the value and compared with the caller's ``now``, exactly
    # like the SQLite store; Redis's own TTL only reclaims the memory.

    @staticmethod
    def _kv_key(namespace: str, key: str) -> str:
        return f"wr:kv:{namespace}:{key}"

    def put(self, namespace: str, key: str, value: str, ttl: float, now: float) -> None:
        with self._errors():
            if ttl <= 0:
                self.client.delete(self._kv_key(namespace, key))
                return
            record = f"{_num(now + ttl)}|{value}"
            self.client.set(self._kv_key(namespace, key), record, px=max(1, math.ceil(ttl * 1000)))

    @staticmethod
    def _live_value(raw: str | None, now: float) -> str | None:
        if raw is None or raw.startswith("r"):  # absent, or redeemed: only ``redeem`` sees it
            return None
        expires_at, _, value = raw.partition("|")
        return value if float(expires_at) > now else None

    def get(self, namespace: str, key: str, now: float) -> str | None:
        with self._errors():
            raw = self.client.get(self._kv_key(namespace, key))
        return self._live_value(raw, now)

    def take(self, namespace: str, key: str, now: float) -> str | None:
        with self._errors():
            raw = self._take(keys=[self._kv_key(namespace, key)])
        return self._live_value(raw, now)

    def redeem(self, namespace: str, key: str, keep: float, now: float) -> tuple[str | None, str | None]:
        """One script on the record's own key: read, check, mark redeemed (or drop if expired)."""
        args = [_num(now), _num(now + keep), max(1, math.ceil(keep * 1000))]
        with self._errors():
            value, replayed = self._redeem(keys=[self._kv_key(namespace, key)], args=args)
        return value, replayed

    def delete(self, namespace: str, key: str) -> None:
        with self._errors():
            self.client.delete(self._kv_key(namespace, key))

    def incr(self, namespace: str, key: str, ttl: float, now: float) -> int:
        """Add one to a counter record and return the new count (fixed-window counters).

        INCR and EXPIRE NX in one MULTI: one round trip, atomic; the first hit of a window
        sets its expiry. Unlike the other records, the window ends by Redis's clock.
        """
        name = self._kv_key(namespace, key)
        with self._errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.incr(name)
            pipe.pexpire(name, max(1, math.ceil(ttl * 1000)), nx=True)
            count, _ = pipe.execute()
        return int(count)
