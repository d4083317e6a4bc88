"""The shared store: Redis 7 or Valkey, for many workers on many machines.

Every use case that touches more than one key is one Lua script, run with EVALSHA, so it is
atomic on the server and costs one round trip. Commands per operation: ``enter`` 1,
``get_ticket`` 1, ``set_alias`` 1, ``resolve_alias`` 1, ``counters`` 1, ``issue_session`` 1,
``session_ticket`` 1, ``revoke_grant`` 1, ``end_session`` 1, ``advance_serving`` 1, ``sweep`` 1,
``claim_tick`` 1, ``prepare_draw`` 1, ``open_draw`` 1, ``draw_state`` 1, ``arrivals`` 1; KV
``put``/``get``/``take``/``redeem``/``delete`` 1 each; ``enter_many`` 1 for the whole list.

Keys of one event share a Redis Cluster hash tag, so they all live in one slot: a script
receives the event's fixed keys below (its slot) and names the event's bucket keys itself (the
same slot), on one server and on a Redis Cluster alike::

    wr:{EVENT}:c      hash   counters: serving, last, issued, completed, abandoned, expired,
                             timed_out, cursor (expiry cursor), top (highest serving reached),
                             hseq (history sequence); the draw: dsecret, and once open dsize and
                             dopened (see below); gen (resets so far) and amax (longest alias
                             ttl), which a reset keeps
    wr:{EVENT}:p:B    hash   place bucket B (arrival indexes 100*B .. 100*B+99): index mod 100 ->
                             "request id|entered_at"
    wr:{EVENT}:r:K    hash   request id index bucket K (of 16,384, from SHA-1 of the request id):
                             48 more bits of that SHA-1 -> arrival index (",".join of indexes in
                             the rare case two request ids share them; the place confirms which)
    wr:{EVENT}:s:B    hash   session bucket B, like p:B: arrival index mod 100 ->
                             "S|issued_at|expires_at - issued_at|ended_at|jti" once tokens were
                             issued (S: i issued, c completed, a abandoned, t timed out)
    wr:{EVENT}:hv     zset   record highs of the serving counter, scored by serving value
    wr:{EVENT}:ht     zset   the same record highs scored by the time they were reached
    wr:{EVENT}:h      zset   every move of the serving counter, scored by time ("seq:serving")
    wr:{EVENT}:live   zset   arrival indexes of issued sessions scored by expires_at (time-outs)
    wr:{EVENT}:x      list   request ids of expired positions and timed-out sessions, oldest first
    wr:{EVENT}:k      hash   scheduler ticks claimed, by name
    wr:{EVENT}:o      hash   operators' runtime overrides
    wr:{EVENT}:i:N:K  hash   96-bit digest of an idempotency key -> arrival index (":" and the event's
                             generation after a reset), for the keys first seen in time bucket N
                             (a quarter of ``idempotency_ttl`` wide), split in 16,384 by the key's
                             SHA-256; each hash expires as a whole
    wr:{EVENT}:a:N:K  hash   alias A -> "expires_at|request id|note" (``set_alias``), for the
                             aliases set in 6-hour window N, split in 16,384 by A's SHA-256;
                             each hash lives as long as its longest record
    wr:{EVENT}:j:JTI  string request id of the session opened with JTI, written by the issue
                             script; expires SESSION_LOOKUP_GRACE after the session's tokens
    wr:{EVENT}:g:G    string "expires_at" of a revoked grant G (``revoke_grant``), read by the
                             issue script
    wr:kv:NS:KEY      string "expires_at|value" of a key-value record; "r" +
                             "attempt:until:kept_until|value" for a redeemed credential (an
                             authorization code: nothing is stored before its first use)

Places are kept by *arrival index*: the counter ``last`` hands them out, 1, 2, 3, ... The
fair opening's draw (:mod:`core.draw`) changes no key: ``prepare_draw`` writes the secret into C
(HSETNX), and the opening (``open_draw``) writes the draw's size and time into C, one command
whatever the number of places. Every script reads the draw with the counters, in the same HMGET
where it reads them, and computes the position of arrival index ``i`` as
:func:`core.draw.position_of` in Lua (:mod:`core.adapters.redis_draw`): in a ticket, its status
against the serving counter and expiry cursor, its admission time, the door; the expiry sweep
walks positions and finds each place by the inverse. Before an opening, and in fifo events, which
never have a draw, positions are arrival indexes and the scripts do what they did (one more field
in one HMGET). The first read of a drawn place by a store object costs a few SHA-1s more inside
Redis (six per cycle-walking step: figures in docs/performance.md); later reads pass the position
back and the script checks it names the same place of the same draw (:data:`DRAWN_HINTS`).

Every bucket hash holds up to about 128 small entries, so Redis keeps it as a listpack (a few
bytes of overhead per entry instead of about 60 in a hash table); with more than about two
million visitors in one time window the index buckets grow past that and Redis turns them into
hash tables, which costs memory, not correctness.

Derived, not stored: the public ticket id (:func:`core.model.ticket_id_for`), the status of a
place without a session (waiting / admitted from the serving counter; expired when its position
is at or below the expiry cursor), and the admission time of a position (the time the serving
counter last reached it: the earliest record high at or above it).

Memory, measured with INFO memory on Redis 7.0 (jemalloc) after 1,000,000 visitors entered one
event (``bench/store_cost.py``, figures in docs/performance.md): about 85 bytes per waiting
visitor without an idempotency key, 112 with one (REST), 201 for a visitor of the OIDC waiting
page (idempotency record and place record too), against 155, 275 and 564 before. A
session adds about 370 bytes once tokens are issued (its record, its entry in the time-out set
and the key that finds it by jti; 390 before).

Times are passed to scripts as Python ``repr`` strings and stored verbatim, so they round-trip
exactly; Lua only compares them. The admission time assumes clocks of the workers do not run
backwards between moves of one counter (as the SQLite store's ``MIN(at)`` does in effect).
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import redis
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError, OutOfMemoryError, RedisClusterException  # type: ignore[attr-defined,unused-ignore]

from ..draw import DrawState
from ..errors import (
    GrantRevoked,
    InvalidTransition,
    NotAdmitted,
    PositionExpired,
    SessionEnded,
    StoreUnavailable,
    WaitingRoomError,
)
from ..model import SWEEP_POSITIONS, Counters, DoorRule, Session, Status, SweepResult, Ticket
from ..rules import SESSION_LOOKUP_GRACE, redeem_for_session_in_steps
from . import redis_client, redis_eviction
from .redis_draw import DRAW_LUA
from .redis_resend import again_if_lost

T = TypeVar("T")

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

# Keys every event script receives, in this order; the others of the event (buckets of places,
# of the request id index and of idempotency keys) are named inside the scripts from C's prefix.
_EVENT_KEYS = ("c", "hv", "ht", "h", "live", "x")
_ALL_EVENT_KEYS = (*_EVENT_KEYS, "k", "o", "t", "q")
"""What ``reset`` deletes by name: the fixed keys, and the ticket hash and expiry list of the
layout before position buckets, so a reset also clears what an older version left."""

PLACES_PER_BUCKET = 100
"""Places per position bucket: under the 128 entries up to which Redis keeps a hash as a listpack."""
DRAWN_HINTS = 1 << 14
"""Drawn places whose position a store object remembers between reads (event id and request id,
or alias -> "arrival index:draw size:position:draw secret", the one argument the next read
passes: about 350 bytes each, some 6 MB when full; then it starts again). A draw's secret is
public once it is open, which is the only time a hint is kept; the script uses a hint only for
the same arrival index of a draw with the same size and secret, so a reset never makes one wrong."""
ALIAS_WINDOW = 6 * 3600
"""Seconds of one window of alias records (a lookup reads one hash per window of the longest ttl)."""
INDEX_BUCKETS = 16384
"""Buckets of the request id index and of each idempotency time bucket: about 61 entries each with
a million visitors, so each stays a listpack up to about two million."""

_PRELUDE = DRAW_LUA + r"""
local C, HV, HT, H, LIVE, X = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local PREFIX = string.sub(C, 1, -2)
local STATUS = {i = 'issued', c = 'completed', a = 'abandoned', t = 'timed_out'}

-- The event's draw (core.draw), read once per run of a script: DSIZE 0 while there is no open
-- draw (positions are arrival indexes), else its size and DSECRET its secret. nil: not read yet.
local DSIZE, DSECRET
local function note_draw(size, secret)
  DSIZE, DSECRET = tonumber(size) or 0, secret
end
local function read_draw()
  if DSIZE == nil then
    local d = redis.call('HMGET', C, 'dsize', 'dsecret')
    note_draw(d[1], d[2])
  end
end

-- The position of the place with arrival index idx (core.draw.position_of), and its inverse
-- (core.draw.index_at). Call read_draw or note_draw first.
local function sigma(idx)
  if DSIZE == 0 or idx > DSIZE then return idx end
  return permute(DSECRET, DSIZE, idx)
end
-- A position the caller computed before for this place and draw ({idx, size, secret, pos}, set
-- by take_hint in the reads a visitor repeats): used when it names the same arrival index of the same draw, which makes
-- it exactly sigma(idx), so a place read again costs no permutation.
local HINT, HINT_USED
local function position_at(idx)
  if HINT and HINT[1] == idx and HINT[2] == DSIZE and HINT[3] == DSECRET then
    HINT_USED = true
    return HINT[4]
  end
  return sigma(idx)
end
local function sigma_inverse(pos)
  if DSIZE == 0 or pos > DSIZE then return pos end
  return unpermute(DSECRET, DSIZE, pos)
end

-- Split a session record into its 5 fields (status letter, issued_at, expires_at - issued_at,
-- ended_at or '', jti); the jti (last) may contain anything.
local function parse(v)
  local f, start = {}, 1
  for _ = 1, 4 do
    local j = string.find(v, '|', start, true)
    f[#f + 1] = string.sub(v, start, j - 1)
    start = j + 1
  end
  f[5] = string.sub(v, start)
  return f
end

local function pad(n)
  return string.format('%015d', n)
end

-- The place bucket holding arrival index idx, and idx's field in it.
local function place_key(idx)
  return PREFIX .. 'p:' .. fmt(math.floor(idx / __PER_BUCKET__)), idx % __PER_BUCKET__
end

-- The session bucket holding the session of arrival index idx, and idx's field in it.
local function session_key(idx)
  return PREFIX .. 's:' .. fmt(math.floor(idx / __PER_BUCKET__)), idx % __PER_BUCKET__
end

-- The fields of idx's session (see parse), or nil.
local function session(idx)
  local key, field = session_key(idx)
  local v = redis.call('HGET', key, field)
  return v and parse(v)
end

local function set_session(idx, f)
  local key, field = session_key(idx)
  redis.call('HSET', key, field, table.concat(f, '|'))
end

-- The request id and entry time of the place with arrival index idx, or nil.
local function place(idx)
  local key, field = place_key(idx)
  local v = redis.call('HGET', key, field)
  if not v then return nil end
  return string.match(v, '^(.*)|([^|]*)$')
end

-- The index bucket of a request id and its 48-bit field there.
local function index_of(rid)
  local h = redis.sha1hex(rid)
  return PREFIX .. 'r:' .. (tonumber(string.sub(h, 1, 4), 16) % __INDEX_BUCKETS__), string.sub(h, 5, 16)
end

-- Arrival index and entry time of a request id, or nil. An index field names every arrival
-- index whose request id has that digest (almost always one); the place confirms the request id.
local function arrival_of(rid)
  local key, field = index_of(rid)
  local v = redis.call('HGET', key, field)
  if not v then return nil end
  for p in string.gmatch(v, '[^,]+') do
    local idx = tonumber(p)
    local r, entered = place(idx)
    if r == rid then return idx, entered end
  end
  return nil
end

-- When pos was last admitted: the earliest record high >= pos (highs above a counter that
-- moved back are forgotten, so a position admitted again is timed from then).
local function admitted_at(pos)
  local m = redis.call('ZRANGEBYSCORE', HV, pos, '+inf', 'LIMIT', 0, 1)
  if #m == 0 then return false end
  return redis.call('ZSCORE', HT, m[1]) or false
end

-- {reply, session fields or nil, arrival index} of the place rid holds at arrival index idx.
-- reply = {rid, position, entered_at, status, admitted_at, jti, issued_at, expires_at, ended_at}.
local function ticket_at(rid, idx, entered)
  local f = session(idx)
  local status, pos
  if f then
    read_draw()
    pos = position_at(idx)
    status = STATUS[f[1]]
  else
    local cnt = redis.call('HMGET', C, 'serving', 'cursor', 'dsize', 'dsecret')
    note_draw(cnt[3], cnt[4])
    pos = position_at(idx)
    if pos <= (tonumber(cnt[2]) or 0) then
      status = 'expired'
    elseif pos <= (tonumber(cnt[1]) or 0) then
      status = 'admitted'
    else
      status = 'waiting'
    end
  end
  local adm = false
  if status ~= 'waiting' then adm = admitted_at(pos) end
  local r = {rid, fmt(pos), entered, status, adm}
  if f then
    r[6] = f[5]
    r[7] = f[2]
    r[8] = fmt(tonumber(f[2]) + tonumber(f[3]))
    if f[4] ~= '' then r[9] = f[4] end
  end
  return {r, f, idx}
end

-- ticket_at() for a request id, or nil.
local function ticket(rid)
  local idx, entered = arrival_of(rid)
  if not idx then return nil end
  return ticket_at(rid, idx, entered)
end

-- The reads a visitor repeats (_GET_TICKET, _RESOLVE_ALIAS) take the hint of an earlier read
-- from ARGV[i], if given: "arrival index:draw size:position:draw secret" (one argument)...
local function take_hint(i)
  if not ARGV[i] then return end
  local idx, size, pos, secret = string.match(ARGV[i], '^(%d+):(%d+):(%d+):(%x+)$')
  if secret then HINT = {tonumber(idx), tonumber(size), secret, tonumber(pos)} end
end

-- ...and answer the reply of ticket() result tk, for a place of an open draw whose hint was not
-- given (or not for this place) padded to 9 fields and followed by its arrival index, the draw's
-- size and secret (public once open): the hint for the next read. A hint used stays valid.
local function hinted(tk)
  local r, idx = tk[1], tk[3]
  if DSIZE > 0 and idx <= DSIZE and not HINT_USED then
    for k = 6, 9 do r[k] = r[k] or false end
    r[10], r[11], r[12] = fmt(idx), fmt(DSIZE), DSECRET
  end
  return r
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
    -- them anew, so their claim window starts then. Forget the highs above it. Positions up to
    -- it stay admitted since they were: it becomes a high of its own, with the time of the
    -- first high it replaces.
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
""".replace("__PER_BUCKET__", str(PLACES_PER_BUCKET)).replace("__INDEX_BUCKETS__", str(INDEX_BUCKETS))

_ENTER_ONE = r"""
-- Enter one visitor: its ticket reply. digest: of its idempotency key, '' for none; newest: the
-- newest idempotency time bucket; sub: the key's index bucket in each; ttl: seconds a new
-- idempotency bucket lives. An idempotency record holds the position, and ':' and the event's
-- generation once it was reset, so a record older than a reset never names a place taken after.
local function enter(rid, now, digest, ttl, newest, sub)
  local gen
  if digest ~= '' then
    gen = redis.call('HGET', C, 'gen') or '0'
    for j = 0, __BUCKETS__ do
      local seen = redis.call('HGET', PREFIX .. 'i:' .. (newest - j) .. ':' .. sub, digest)
      if seen then
        local p, g = string.match(seen, '^(%d+):?(%d*)$')
        if (g == '' and '0' or g) == gen then
          local pos = tonumber(p)
          local r, entered = place(pos)
          if r then return ticket_at(r, pos, entered)[1] end  -- a retry: the place handed out then
        end
      end
    end
  end
  local ikey, ifield = index_of(rid)
  local others = redis.call('HGET', ikey, ifield)
  if others then  -- rid's digest is known: a queued entry delivered twice, or (rarely) another rid
    local existing = ticket(rid)
    if existing then return existing[1] end
  end
  local idx = redis.call('HINCRBY', C, 'last', 1)
  local key, field = place_key(idx)
  redis.call('HSET', key, field, rid .. '|' .. now)
  redis.call('HSET', ikey, ifield, others and (others .. ',' .. idx) or idx)
  if digest ~= '' then
    local bucket = PREFIX .. 'i:' .. newest .. ':' .. sub
    redis.call('HSET', bucket, digest, gen == '0' and idx or (idx .. ':' .. gen))
    if redis.call('TTL', bucket) < 0 then redis.call('EXPIRE', bucket, ttl) end
  end
  -- A new arrival index is its position: before an opening there is no draw, after it the
  -- index is above the draw's size. The serving counter never passes the last position, so a
  -- new place waits; what ticket() would read back is known without reading it (the check keeps
  -- that true whatever moved the counter).
  if idx > (tonumber(redis.call('HGET', C, 'serving')) or 0) then
    return {rid, fmt(idx), now, 'waiting', false}
  end
  return ticket_at(rid, idx, now)[1]
end
""".replace("__BUCKETS__", str(_IDEMPOTENCY_BUCKETS))

_ENTER = _PRELUDE + _ENTER_ONE + r"""
-- ARGV: request id, now, idempotency digest ('' for none), bucket ttl, newest bucket, sub-bucket,
-- then the door rule (core.model.DoorRule; '' for none): max_active, budget, since, after_draw
-- ('1' or '').
local reply = enter(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
if not ARGV[7] or ARGV[7] == '' or reply[4] ~= 'waiting' then return reply end
-- Admit at the door: nobody waits ahead, the event is not paused, and the rule's limit holds.
local pos = tonumber(reply[2])
local serving = tonumber(redis.call('HGET', C, 'serving')) or 0
if pos ~= serving + 1 or redis.call('HGET', PREFIX .. 'o', 'paused') == '1' then return reply end
-- A random event admits at the door only once its draw is open here: the caller's copy of the
-- draw may predate a reset.
if ARGV[10] == '1' and redis.call('HEXISTS', C, 'dsize') == 0 then return reply end
local max_active, budget = tonumber(ARGV[7]), tonumber(ARGV[8])
local admit = max_active > 0 or budget > 0
if max_active > 0 then
  local c = redis.call('HMGET', C, 'completed', 'abandoned', 'expired', 'timed_out')
  local active = serving - (tonumber(c[1]) or 0) - (tonumber(c[2]) or 0) - (tonumber(c[3]) or 0)
    - (tonumber(c[4]) or 0)
  admit = admit and active < max_active
end
if budget > 0 then
  local m = redis.call('ZREVRANGEBYSCORE', H, '(' .. ARGV[9], '-inf', 'LIMIT', 0, 1)
  local before = (#m > 0) and tonumber(string.match(m[1], ':(%d+)$')) or 0
  admit = admit and serving - before < budget
end
if not admit then return reply end
record_serving(pos, ARGV[2])
return {reply[1], reply[2], reply[3], 'admitted', ARGV[2]}
"""

_ENTER_MANY = _PRELUDE + _ENTER_ONE + r"""
-- ARGV: now, bucket ttl, newest bucket, then request id, idempotency digest ('' for none) and
-- sub-bucket of each entry.
local replies = {}
for i = 4, #ARGV, 3 do
  replies[#replies + 1] = enter(ARGV[i], ARGV[1], ARGV[i + 1], ARGV[2], ARGV[3], ARGV[i + 2])
end
return replies
"""

_GET_TICKET = _PRELUDE + r"""
-- ARGV: request id, then optionally the hint of an earlier read (see take_hint). Returns the
-- ticket reply with the hint of a drawn place (see hinted).
take_hint(2)
local tk = ticket(ARGV[1])
if not tk then return false end
return hinted(tk)
"""

_SET_ALIAS = r"""
-- KEYS[1]: the event's counters (C). ARGV: alias, record ("expires_at|request id|note"), newest
-- alias window, the alias's index bucket, ttl and window width in whole seconds. The record
-- goes in the alias's hash of the newest window, kept ttl + one window; C's 'amax' (kept by
-- reset) is the longest ttl ever set, which bounds how far back a lookup reads.
local PREFIX = string.sub(KEYS[1], 1, -2)
local bucket = PREFIX .. 'a:' .. ARGV[3] .. ':' .. ARGV[4]
redis.call('HSET', bucket, ARGV[1], ARGV[2])
local keep = tonumber(ARGV[5]) + tonumber(ARGV[6])
if redis.call('TTL', bucket) < keep then redis.call('EXPIRE', bucket, keep) end
if tonumber(ARGV[5]) > (tonumber(redis.call('HGET', KEYS[1], 'amax')) or 0) then
  redis.call('HSET', KEYS[1], 'amax', ARGV[5])
end
return 0
"""

_RESOLVE_ALIAS = _PRELUDE + r"""
-- ARGV: alias, now, newest alias window, the alias's index bucket, window width in seconds, then
-- optionally the hint of an earlier read (see take_hint). Returns {request id, note, ticket reply
-- (with the hint of a drawn place, see hinted) or nil}, or nil. The newest record of the alias
-- is what it stands for; windows older than the longest ttl hold nothing live.
take_hint(6)
local amax = tonumber(redis.call('HGET', C, 'amax')) or 0
local oldest = math.floor((tonumber(ARGV[2]) - amax) / tonumber(ARGV[5]))
local raw
for n = tonumber(ARGV[3]), oldest, -1 do
  raw = redis.call('HGET', PREFIX .. 'a:' .. n .. ':' .. ARGV[4], ARGV[1])
  if raw then break end
end
if not raw then return false end
local a = string.find(raw, '|', 1, true)
if tonumber(string.sub(raw, 1, a - 1)) <= tonumber(ARGV[2]) then return false end
local b = string.find(raw, '|', a + 1, true)
local rid = string.sub(raw, a + 1, b - 1)
local tk = ticket(rid)
return {rid, string.sub(raw, b + 1), tk and hinted(tk) or false}
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
-- milliseconds the jti stays findable. KEYS[7]: the jti's lookup key; KEYS[8], if given: the
-- revocation key of the grant this issue is made under.
local rid = ARGV[1]
if KEYS[8] then
  local revoked = redis.call('GET', KEYS[8])
  if revoked and tonumber(revoked) > tonumber(ARGV[6]) then
    return redis.error_reply('GRANT_REVOKED the authorization this issue is made under was revoked')
  end
end
local tk = ticket(rid)
if not tk then return redis.error_reply('INVALID_TRANSITION unknown request id') end
local r, idx = tk[1], tk[3]
local st = r[4]
if st == 'waiting' then return redis.error_reply('NOT_ADMITTED this place in line is not admitted yet') end
if st == 'expired' or (st == 'admitted' and ARGV[5] ~= '' and r[5] and tonumber(r[5]) <= tonumber(ARGV[5])) then
  return redis.error_reply('POSITION_EXPIRED this place in line expired before its tokens were claimed')
end
if st == 'issued' then return r end
if st ~= 'admitted' then return redis.error_reply('SESSION_ENDED this session is ' .. st) end
set_session(idx, {'i', ARGV[3], tonumber(ARGV[4]) - tonumber(ARGV[3]), '', ARGV[2]})
redis.call('ZADD', LIVE, ARGV[4], idx)
redis.call('HINCRBY', C, 'issued', 1)
redis.call('SET', KEYS[7], rid, 'PX', ARGV[7])
return ticket_at(rid, idx, r[3])[1]
"""

_SESSION_TICKET = _PRELUDE + r"""
-- KEYS[7]: the jti's lookup key
local rid = redis.call('GET', KEYS[7])
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
local f, idx = tk[2], tk[3]
set_session(idx, {ARGV[2], f[2], f[3], ARGV[4], f[5]})
redis.call('ZREM', LIVE, idx)
redis.call('HINCRBY', C, ARGV[3], 1)
return ticket_at(rid, idx, tk[1][3])[1]
"""

_SWEEP = _PRELUDE + r"""
-- ARGV: now, position_expiry, incr_serving (0/1), now - position_expiry, int(now), the most
-- positions to walk (core.model.SWEEP_POSITIONS: the next sweep goes on from there)
local now = ARGV[1]
local expiry = tonumber(ARGV[2])
local ended = {}  -- {position, request id} of places expired or timed out by this sweep
local expired = 0
if expiry > 0 then
  local cnt = redis.call('HMGET', C, 'cursor', 'serving', 'last', 'dsize', 'dsecret')
  note_draw(cnt[4], cnt[5])
  local cursor, serving, last = tonumber(cnt[1]) or 0, tonumber(cnt[2]) or 0, tonumber(cnt[3]) or 0
  -- Positions are admitted in order, so everything up to the highest serving value reached
  -- by (now - expiry) has been admitted for at least the expiry period.
  local m = redis.call('ZREVRANGEBYSCORE', HT, ARGV[4], '-inf', 'LIMIT', 0, 1)
  local reached = (#m > 0) and tonumber(m[1]) or 0
  local bound = math.min(reached, serving, cursor + tonumber(ARGV[6]))
  if bound > cursor then
    for pos = cursor + 1, bound do
      local idx = sigma_inverse(pos)  -- the place at this position: after a draw, not pos itself
      local skey, sfield = session_key(idx)
      if redis.call('HEXISTS', skey, sfield) == 0 then  -- admitted, never claimed
        local rid = place(idx)
        if rid then
          expired = expired + 1
          ended[#ended + 1] = {pos, rid}
        end
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
for _, p in ipairs(late) do
  local idx = tonumber(p)  -- LIVE holds arrival indexes
  local f = session(idx)
  if f then
    if f[1] == 'i' then
      set_session(idx, {'t', f[2], f[3], now, f[5]})
      timed_out = timed_out + 1
      read_draw()
      ended[#ended + 1] = {sigma(idx), place(idx)}
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

_RESET = _PRELUDE + r"""
-- KEYS[7] .. KEYS[10]: the tick and override hashes, and the ticket hash and expiry list of the
-- layout before position buckets. Deletes every key of the event but its
-- idempotency and alias buckets, which expire on their own: the generation kept in C tells
-- idempotency records apart from those written after this reset (an alias names a request id,
-- whose place is gone), and the longest alias ttl is kept too. ARGV: names of controls (fields
-- of the override hash, KEYS[8]) that keep their values.
local last = tonumber(redis.call('HGET', C, 'last')) or 0
local gen = tonumber(redis.call('HGET', C, 'gen')) or 0
local amax = redis.call('HGET', C, 'amax')
local kept = {}
for _, name in ipairs(ARGV) do
  local value = redis.call('HGET', KEYS[8], name)
  if value then
    kept[#kept + 1] = name
    kept[#kept + 1] = value
  end
end
redis.call('DEL', unpack(KEYS))
if #kept > 0 then redis.call('HSET', KEYS[8], unpack(kept)) end
local names = {}
local function drop(name)
  names[#names + 1] = name
  if #names == 1000 then
    redis.call('DEL', unpack(names))
    names = {}
  end
end
if last > 0 then
  for b = 0, math.floor(last / __PER_BUCKET__) do
    drop(PREFIX .. 'p:' .. b)
    drop(PREFIX .. 's:' .. b)
  end
  for b = 0, __INDEX_BUCKETS__ - 1 do drop(PREFIX .. 'r:' .. b) end
end
if #names > 0 then redis.call('DEL', unpack(names)) end
if last > 0 or gen > 0 then redis.call('HSET', C, 'gen', gen + 1) end
if amax then redis.call('HSET', C, 'amax', amax) end
return 0
""".replace("__PER_BUCKET__", str(PLACES_PER_BUCKET)).replace("__INDEX_BUCKETS__", str(INDEX_BUCKETS))

_PREPARE_DRAW = r"""
-- KEYS[1]: the event's counters (C), which keep the draw in fields dsecret, dsize, dopened.
-- ARGV: a secret, kept unless one is. Returns the kept {secret, size, opened_at}.
redis.call('HSETNX', KEYS[1], 'dsecret', ARGV[1])
return redis.call('HMGET', KEYS[1], 'dsecret', 'dsize', 'dopened')
"""

_OPEN_DRAW = r"""
-- KEYS[1]: the event's counters (C). ARGV: now. The opening: the draw's size becomes the last
-- arrival index, once; every script reads it with the counters from then on. Returns
-- {secret, size, opened_at}.
local d = redis.call('HMGET', KEYS[1], 'dsecret', 'dsize', 'dopened', 'serving', 'last', 'hseq')
if not d[1] then return redis.error_reply('INVALID_TRANSITION no draw secret was prepared for this event') end
if d[2] then return {d[1], d[2], d[3]} end
-- Refused once the serving counter ever moved (hseq counts its moves), even back to 0: people
-- were admitted in arrival order, and some may hold tokens.
if (tonumber(d[4]) or 0) > 0 or (tonumber(d[6]) or 0) > 0 then
  return redis.error_reply('INVALID_TRANSITION places were admitted in arrival order; the draw cannot open')
end
local size = d[5] or '0'
redis.call('HSET', KEYS[1], 'dsize', size, 'dopened', ARGV[1])
return {d[1], size, ARGV[1]}
"""

_ARRIVALS = r"""
-- KEYS[1]: the event's counters (C). ARGV: first arrival index, count. Returns the request id
-- of each place from first on (false for a hole), cut short at the last index handed out:
-- one HMGET per position bucket.
local PREFIX = string.sub(KEYS[1], 1, -2)
local first = tonumber(ARGV[1])
local stop = math.min(first + tonumber(ARGV[2]) - 1, tonumber(redis.call('HGET', KEYS[1], 'last')) or 0)
local out = {}
local idx = first
while idx <= stop do
  local bucket = math.floor(idx / __PER_BUCKET__)
  local upto = math.min(stop, bucket * __PER_BUCKET__ + __PER_BUCKET__ - 1)
  local fields = {}
  for i = idx, upto do fields[#fields + 1] = i % __PER_BUCKET__ end
  local values = redis.call('HMGET', PREFIX .. 'p:' .. string.format('%d', bucket), unpack(fields))
  for i = 1, #fields do
    local v = values[i]
    out[#out + 1] = v and string.match(v, '^(.*)|[^|]*$') or false
  end
  idx = upto + 1
end
return out
""".replace("__PER_BUCKET__", str(PLACES_PER_BUCKET))

_REDEEM_RECORD = r"""
-- The redemption recorded at key as of now: state ('none' or 'used'), the value recorded and
-- the attempt that recorded it ('' for none). A redemption is "rATTEMPT:UNTIL:KEPT_UNTIL|value"
-- (or, written by an earlier version, "rKEPT_UNTIL|value": no attempt); anything else there (a
-- record ``put`` under the key) is no redemption and gives way to one.
local function read_record(key, now)
  local raw = redis.call('GET', key)
  if not raw or string.sub(raw, 1, 1) ~= 'r' then return 'none' end
  local bar = string.find(raw, '|', 1, true)
  local head = string.sub(raw, 2, bar - 1)
  local value = string.sub(raw, bar + 1)
  local by, _, kept = string.match(head, '^([^:]*):([^:]*):(.*)$')
  if not by then by, kept = '', head end
  if tonumber(kept) > tonumber(now) then return 'used', value, by end
  return 'none'
end
local function mark_redeemed(key, value, live_until, by, kept_until, keep_ms)
  redis.call('SET', key, 'r' .. by .. ':' .. live_until .. ':' .. kept_until .. '|' .. value, 'PX', keep_ms)
end
"""

_REDEEM = _REDEEM_RECORD + r"""
-- KEYS[1]: a key-value record. ARGV: now, kept_until, milliseconds to keep it, attempt ('' for
-- none), the value, until (the credential's expiry). Returns {value, replayed value}: {v, nil}
-- recorded now (or before by this attempt), {nil, v} recorded before, {nil, nil} expired unused.
local state, value, by = read_record(KEYS[1], ARGV[1])
if state == 'used' then
  if ARGV[4] ~= '' and by == ARGV[4] then return {value, false} end
  return {false, value}
end
if tonumber(ARGV[6]) <= tonumber(ARGV[1]) then return {false, false} end
mark_redeemed(KEYS[1], ARGV[5], ARGV[6], ARGV[4], ARGV[2], ARGV[3])
return {ARGV[5], false}
"""

_RELEASE = _REDEEM_RECORD + r"""
-- KEYS[1]: a key-value record. ARGV: now, attempt. A redemption recorded by the attempt is
-- forgotten. Returns 1 if released, else 0.
local state, value, by = read_record(KEYS[1], ARGV[1])
if state ~= 'used' or ARGV[2] == '' or by ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""

_REDEEM_FOR_SESSION = _REDEEM_RECORD + r"""
-- _ISSUE's keys and arguments (its request id left empty, a grant key always given), then
-- KEYS[11]: a key-value record; ARGV[8..12]: the event id, kept_until, milliseconds to keep
-- it, the value, until. Reads the record as _REDEEM does; for a key not recorded and not
-- expired (or recorded by this attempt, ARGV[2] = the jti) runs _ISSUE for the place the JSON
-- value names, and only when that succeeds records the redemption by this attempt. Returns
-- {value, replayed, ticket reply} or _ISSUE's error (nothing recorded).
local record = table.remove(KEYS)
local live_until = table.remove(ARGV)
local given = table.remove(ARGV)
local keep_ms = table.remove(ARGV)
local kept_until = table.remove(ARGV)
local event = table.remove(ARGV)
local function issue()
""" + _ISSUE + r"""
end
local state, value, by = read_record(record, ARGV[6])
if state == 'used' and by ~= ARGV[2] then return {false, value, false} end
if state == 'none' then
  if tonumber(live_until) <= tonumber(ARGV[6]) then return {false, false, false} end
  value = given
end
local ok, grant = pcall(cjson.decode, value)
if not ok or type(grant) ~= 'table' or type(grant.request_id) ~= 'string'
    or (grant.event_id ~= nil and grant.event_id ~= event) then
  return redis.error_reply('INVALID_TRANSITION the record names no place of this event')
end
ARGV[1] = grant.request_id
local r = issue()
if r.err then return r end
if state == 'none' then mark_redeemed(record, value, live_until, ARGV[2], kept_until, keep_ms) end
return {value, false, r}
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


_STATUS_OF = {status.value: status for status in Status}
"""Status by its value: a dict lookup, cheaper than calling the enum on every reply."""


def _index_bucket(name: str, digest: bytes | None = None) -> int:
    """Which of the :data:`INDEX_BUCKETS` hashes holds the record named ``name`` (given its SHA-256)."""
    digest = digest or hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[12:16], "big") % INDEX_BUCKETS


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


class _Script:
    """A Lua script called by its SHA1, loaded into the server on first ``NOSCRIPT``.

    redis-py's ``Script`` reaches ``EVALSHA`` through three layers of wrappers (and an import)
    per call; a store calls a script on every request, so on the store's own client this sends
    ``EVALSHA`` directly. With another client (a pipeline) it hands over to redis-py's.
    """

    def __init__(self, client: Any, source: str) -> None:
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

    def __init__(self, client: redis.Redis | RedisCluster, idempotency_ttl: int = IDEMPOTENCY_TTL,
                 allow_eviction: bool = False) -> None:
        self.client = client
        self.allow_eviction = allow_eviction
        self._policy_warning: str | None = None
        self.idempotency_ttl = idempotency_ttl
        self._event_keys: dict[str, tuple[str, ...]] = {}
        self._drawn_hints: dict[tuple[str, str], str] = {}
        self.sweep_positions = SWEEP_POSITIONS
        self._enter = _Script(client, _ENTER)
        self._enter_many = _Script(client, _ENTER_MANY)
        self._get_ticket = _Script(client, _GET_TICKET)
        self._set_alias = _Script(client, _SET_ALIAS)
        self._resolve_alias = _Script(client, _RESOLVE_ALIAS)
        self._advance = _Script(client, _ADVANCE)
        self._issue = _Script(client, _ISSUE)
        self._redeem_for_session = _Script(client, _REDEEM_FOR_SESSION)
        self._session_ticket = _Script(client, _SESSION_TICKET)
        self._end = _Script(client, _END)
        self._sweep = _Script(client, _SWEEP)
        self._claim_tick = _Script(client, _CLAIM_TICK)
        self._redeem = _Script(client, _REDEEM)
        self._release = _Script(client, _RELEASE)
        self._take = _Script(client, _TAKE)
        self._reset = _Script(client, _RESET)
        self._prepare_draw = _Script(client, _PREPARE_DRAW)
        self._open_draw = _Script(client, _OPEN_DRAW)
        self._arrivals = _Script(client, _ARRIVALS)

    @classmethod
    def from_url(cls, url: str, timeout: float = 0.5, allow_eviction: bool = False, **options: Any) -> RedisStore:
        """A store on a ``redis://``, ``rediss://`` or ``unix://`` URL (one server, with a
        connection pool), or ``redis+cluster://`` / ``rediss+cluster://`` (any node of a Redis
        Cluster; see :mod:`core.adapters.redis_client`).

        ``timeout`` bounds connecting and every reply, so a stalled Redis becomes a quick
        StoreUnavailable (HTTP 503) instead of hung workers. A connection that broke before
        the command was written is retried once; after it was written, a broken connection or a
        timeout is StoreUnavailable, because the script may have run (a client retrying
        ``enter`` with its idempotency key is safe, a blind resend here would not be). Only
        reads and entries (idempotent by request id) are made once more after a broken
        connection (:meth:`_repeatable`).

        The servers' ``maxmemory-policy`` is checked at once (:mod:`core.adapters.redis_eviction`):
        anything but ``noeviction`` raises :class:`~core.adapters.redis_eviction.EvictionPolicyRefused`
        (a :class:`core.settings.SettingsError`) unless ``allow_eviction``, which makes it a logged
        warning. A server that cannot be reached yet is checked by :meth:`ping` later.
        """
        store = cls(redis_client.connect(url, timeout, **options), allow_eviction=allow_eviction)
        try:
            store.check_eviction_policy()
        except StoreUnavailable as exc:
            redis_eviction.log.warning("maxmemory-policy not checked at start: %s", exc)
        return store

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
            if isinstance(exc, OutOfMemoryError):  # noeviction at maxmemory: the write was refused
                raise StoreUnavailable(f"Redis is out of memory (maxmemory reached): {exc}") from None
            raise StoreUnavailable(f"Redis store error: {exc}") from None
        except (redis.RedisError, RedisClusterException) as exc:  # the latter: no cluster node answers
            raise StoreUnavailable(f"Redis store unavailable: {type(exc).__name__}: {exc}") from None

    def _repeatable(self, call: Callable[[], T]) -> T:
        """``call`` under :meth:`_errors`, made once more if the connection broke before its
        reply came. Only for calls that running twice leaves as running once: reads, and entering
        (a request id takes one place, and the script finds it again). Any other write whose reply
        was lost is StoreUnavailable, never resent (see :mod:`core.adapters.redis_resend`)."""
        with self._errors():
            return again_if_lost(call)

    # -- QueueStore ---------------------------------------------------------------------------

    @staticmethod
    def _idempotency(idempotency_key: str | None) -> tuple[str, int]:
        """The 96-bit digest of an idempotency key ('' for none) and its index bucket.

        Idempotency records go in time buckets of a quarter of their lifetime each, every one
        split in :data:`INDEX_BUCKETS` hashes small enough to stay listpacks; a lookup reads the
        key's hash in the current time bucket and the four before it, and every hash expires as
        a whole. The digest keeps each record small whatever the client sent.
        """
        if idempotency_key is None:
            return "", 0
        raw = hashlib.sha256(idempotency_key.encode()).digest()
        return base64.urlsafe_b64encode(raw[:12]).decode(), _index_bucket(idempotency_key, raw)

    def _time_bucket(self, now: float) -> int:
        """The newest idempotency time bucket at ``now``."""
        return math.floor(now / (self.idempotency_ttl / _IDEMPOTENCY_BUCKETS))

    def _bucket_ttl(self) -> int:
        return math.ceil(self.idempotency_ttl * (1 + 1 / _IDEMPOTENCY_BUCKETS))

    def enter(self, event_id: str, request_id: str, idempotency_key: str | None, now: float,
              door: DoorRule | None = None) -> Ticket:
        digest, sub = self._idempotency(idempotency_key)
        rule = ["", "", "", ""] if door is None else \
            [door.max_active, door.budget, _num(door.since), "1" if door.after_draw else ""]
        args = [request_id, _num(now), digest, self._bucket_ttl(), self._time_bucket(now), sub, *rule]
        reply = self._repeatable(lambda: self._enter(keys=self._keys(event_id), args=args))
        return self._ticket(event_id, reply)

    def enter_many(self, event_id: str, entries: Sequence[tuple[str, str | None]], now: float) -> list[Ticket]:
        """One run of a script that enters every entry in list order: one command, one round trip.

        Every key of an event shares its hash tag, so the one script runs on the node owning the
        event's slot, on one server and on a Redis Cluster alike (a cluster pipeline cannot
        carry EVALSHA). The script is atomic as a whole, which is more than the contract asks;
        a write refused for memory before the first entry leaves nothing entered.
        """
        if not entries:
            return []
        args: list[Any] = [_num(now), self._bucket_ttl(), self._time_bucket(now)]
        for request_id, key in entries:
            args += [request_id, *self._idempotency(key)]
        replies = self._repeatable(lambda: self._enter_many(keys=self._keys(event_id), args=args))
        return [self._ticket(event_id, reply) for reply in replies]

    def get_ticket(self, event_id: str, request_id: str, now: float) -> Ticket | None:
        """One script. A place of an open draw read before by this store object is read with
        the position computed then (the script checks it names the same place of the same
        draw), so a waiting visitor's repeated reads cost what a fifo read costs; the first
        read computes the permutation in Lua (see :data:`DRAWN_HINTS`)."""
        key = (event_id, request_id)
        hint = self._drawn_hints.get(key)
        args = [request_id] if hint is None else [request_id, hint]
        reply = self._repeatable(lambda: self._get_ticket(keys=self._keys(event_id), args=args))
        return None if reply is None else self._ticket(event_id, self._keep_hint(key, reply))

    def _keep_hint(self, key: tuple[str, str], reply: Sequence[Any]) -> Sequence[Any]:
        """The ticket reply of a hinted read, its new hint (if any: a drawn place read without a
        valid one) kept under ``key`` as the one argument the next read passes."""
        if len(reply) <= 9:
            return reply
        if len(self._drawn_hints) >= DRAWN_HINTS:
            self._drawn_hints.clear()
        self._drawn_hints[key] = f"{reply[9]}:{reply[10]}:{reply[1]}:{reply[11]}"
        return reply[:9]

    def set_alias(self, event_id: str, alias: str, request_id: str, note: str, ttl: float, now: float) -> None:
        """One script: the record goes in the alias's hash of the current window (see ``_SET_ALIAS``).

        Aliases live in windows of :data:`ALIAS_WINDOW` seconds, each split in
        :data:`INDEX_BUCKETS` hashes that Redis keeps as listpacks, rather than one key each: a
        key with its own expiry costs about three times the record.
        """
        record = f"{_num(now + ttl)}|{request_id}|{note}"
        args = [alias, record, math.floor(now / ALIAS_WINDOW), _index_bucket(alias), max(1, math.ceil(ttl)),
                ALIAS_WINDOW]
        with self._errors():
            self._set_alias(keys=[self._prefix(event_id) + "c"], args=args)

    def resolve_alias(self, event_id: str, alias: str, now: float) -> tuple[str, str, Ticket | None] | None:
        """One script; a drawn place is read with its hint as in :meth:`get_ticket`, kept under
        the alias (the script checks it names the place the alias now stands for)."""
        key = (event_id, "alias " + alias)
        args = [alias, _num(now), math.floor(now / ALIAS_WINDOW), _index_bucket(alias), ALIAS_WINDOW]
        hint = self._drawn_hints.get(key)
        if hint is not None:
            args.append(hint)
        reply = self._repeatable(lambda: self._resolve_alias(keys=self._keys(event_id), args=args))
        if reply is None:
            return None
        request_id, note, ticket = reply
        return request_id, note, None if ticket is None else self._ticket(event_id, self._keep_hint(key, ticket))

    def counters(self, event_id: str) -> Counters:
        values = self._repeatable(lambda: self.client.hmget(self._prefix(event_id) + "c", list(_COUNTER_FIELDS)))
        return Counters(*(int(v or 0) for v in values))

    def advance_serving(self, event_id: str, by: int, now: float) -> int:
        with self._errors():
            return int(self._advance(keys=self._keys(event_id), args=[int(by), _num(now)]))

    def issue_session(
        self, event_id: str, request_id: str, jti: str, issued_at: int, expires_at: int, now: float,
        position_expiry: float = 0.0, grant: str | None = None,
    ) -> Ticket:
        keys, args = self._issue_call(event_id, request_id, jti, issued_at, expires_at, now, position_expiry, grant)
        with self._errors():
            reply = self._issue(keys=keys, args=args)
        return self._ticket(event_id, reply)

    def _issue_call(self, event_id: str, request_id: str, jti: str, issued_at: int, expires_at: int, now: float,
                    position_expiry: float, grant: str | None) -> tuple[list[Any], list[Any]]:
        """The keys and arguments of the issue script."""
        cutoff = _num(now - position_expiry) if position_expiry > 0 else ""
        keys = self._keys(event_id)
        keys.append(self._jti_key(event_id, jti))
        if grant is not None:
            keys.append(self._grant_key(event_id, grant))
        findable_ms = max(1, math.ceil((expires_at + SESSION_LOOKUP_GRACE - now) * 1000))
        return keys, [request_id, jti, int(issued_at), int(expires_at), cutoff, _num(now), findable_ms]

    def redeem_for_session(
        self, namespace: str, key: str, value: str, until: float, keep: float, event_id: str, jti: str,
        issued_at: int, expires_at: int, now: float, position_expiry: float = 0.0,
    ) -> tuple[str | None, str | None, Ticket | None]:
        """One script: the redemption is recorded and the session opened in one step. On a Redis
        Cluster the record's key (``wr:kv:...``) and the event's keys live in different slots,
        which one script cannot touch, so there it is two steps under the key as grant."""
        if isinstance(self.client, RedisCluster):
            return redeem_for_session_in_steps(self, namespace, key, value, until, keep, event_id, jti, issued_at,
                                               expires_at, now, position_expiry)
        keys, args = self._issue_call(event_id, "", jti, issued_at, expires_at, now, position_expiry, key)
        keys.append(self._kv_key(namespace, key))
        args += [event_id, _num(now + keep), max(1, math.ceil(keep * 1000)), value, _num(until)]
        with self._errors():
            recorded, replayed, reply = self._redeem_for_session(keys=keys, args=args)
        return recorded, replayed, None if not reply else self._ticket(event_id, reply)

    def session_ticket(self, event_id: str, jti: str, now: float) -> Ticket | None:
        keys = [*self._keys(event_id), self._jti_key(event_id, jti)]
        reply = self._repeatable(lambda: self._session_ticket(keys=keys))
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
                _num(now - position_expiry), str(math.floor(now)), self.sweep_positions]
        with self._errors():
            expired, timed_out, serving = self._sweep(keys=self._keys(event_id), args=args)
        return SweepResult(expired=int(expired), timed_out=int(timed_out), serving=int(serving))

    def expired_request_ids(self, event_id: str, limit: int) -> list[str]:
        if limit == 0:
            return []
        start = -limit if limit > 0 else 0
        return list(self._repeatable(lambda: self.client.lrange(self._prefix(event_id) + "x", start, -1)))

    def claim_tick(self, event_id: str, name: str, tick: int) -> bool:
        with self._errors():
            return bool(self._claim_tick(keys=[self._prefix(event_id) + "k"], args=[name, int(tick)]))

    def serving_history(self, event_id: str, since: float) -> list[tuple[float, int]]:
        name = self._prefix(event_id) + "h"
        rows = self._repeatable(lambda: self.client.zrangebyscore(name, _num(since), "+inf", withscores=True))
        return [(float(at), int(member.partition(":")[2])) for member, at in rows]

    def get_control(self, event_id: str) -> dict[str, str]:
        return dict(self._repeatable(lambda: self.client.hgetall(self._prefix(event_id) + "o")))

    def set_control(self, event_id: str, key: str, value: str | None) -> None:
        name = self._prefix(event_id) + "o"
        with self._errors():
            if value is None:
                self.client.hdel(name, key)
            else:
                self.client.hset(name, key, value)

    @staticmethod
    def _draw(reply: Sequence[Any]) -> DrawState:
        secret, size, opened_at = reply
        return DrawState(secret, None if size is None else int(size), _opt_float(opened_at))

    def prepare_draw(self, event_id: str, secret: str) -> DrawState:
        """One script: HSETNX of the secret into the event's counters hash, and the kept state
        (made again if its reply was lost: a second run keeps the same secret)."""
        keys = [self._prefix(event_id) + "c"]
        return self._draw(self._repeatable(lambda: self._prepare_draw(keys=keys, args=[secret])))

    def open_draw(self, event_id: str, now: float) -> DrawState:
        """One script writing two fields of the counters hash (size and time), whatever the
        number of places: every other script reads the draw with the counters and computes
        positions itself (:mod:`core.adapters.redis_draw`). Made again if its reply was lost:
        a second run returns the state the first one fixed."""
        keys = [self._prefix(event_id) + "c"]
        return self._draw(self._repeatable(lambda: self._open_draw(keys=keys, args=[_num(now)])))

    def draw_state(self, event_id: str) -> DrawState | None:
        name = self._prefix(event_id) + "c"
        reply = self._repeatable(lambda: self.client.hmget(name, ["dsecret", "dsize", "dopened"]))
        return None if reply[0] is None else self._draw(reply)

    def arrivals(self, event_id: str, first: int, count: int) -> list[str | None]:
        """One script reading the places' buckets (one HMGET per hundred places)."""
        if count <= 0:
            return []
        keys, args = [self._prefix(event_id) + "c"], [max(1, int(first)), int(count)]
        return list(self._repeatable(lambda: self._arrivals(keys=keys, args=args)))

    def reset(self, event_id: str, keep_controls: Collection[str] = ()) -> None:
        """One script: every key of the event goes but its idempotency buckets, which expire on
        their own and are told apart by the event's generation (see ``_RESET``), and the kept
        controls, written back into the override hash in the same script."""
        with self._errors():
            self._reset(keys=self._keys(event_id, _ALL_EVENT_KEYS), args=sorted(set(keep_controls)))

    def ping(self) -> None:
        """Raise StoreUnavailable unless every server answers and none may evict keys (unless
        eviction was allowed): what ``/readyz`` asks."""
        self._repeatable(self.client.ping)
        try:
            self.check_eviction_policy()
        except redis_eviction.EvictionPolicyRefused as exc:
            raise StoreUnavailable(str(exc)) from None

    def check_eviction_policy(self) -> None:
        """Read ``maxmemory-policy`` on every server: see :func:`core.adapters.redis_eviction.check`.
        A warning is logged once per store, not on every call."""
        message = self._repeatable(lambda: redis_eviction.check(self.client, self.allow_eviction))
        if message is not None and message != self._policy_warning:
            redis_eviction.log.warning(message)
        self._policy_warning = message

    def close(self) -> None:
        redis_client.close(self.client)

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
            # The command itself: redis-py's ``set`` checks its keyword arguments on every call
            # (an authorization code is written per sign-in).
            self.client.execute_command("SET", self._kv_key(namespace, key), record,
                                        "PX", max(1, math.ceil(ttl * 1000)))

    @staticmethod
    def _live_value(raw: str | None, now: float) -> str | None:
        if raw is None or raw.startswith("r"):  # absent, or redeemed: only ``redeem`` sees it
            return None
        expires_at, _, value = raw.partition("|")
        return value if float(expires_at) > now else None

    def get(self, namespace: str, key: str, now: float) -> str | None:
        raw = self._repeatable(lambda: self.client.get(self._kv_key(namespace, key)))
        return self._live_value(raw, now)

    def take(self, namespace: str, key: str, now: float) -> str | None:
        with self._errors():
            raw = self._take(keys=[self._kv_key(namespace, key)])
        return self._live_value(raw, now)

    def redeem(self, namespace: str, key: str, value: str, until: float, keep: float, now: float,
               attempt: str | None = None) -> tuple[str | None, str | None]:
        """One script on the record's own key: read, compare, record the redemption."""
        args = [_num(now), _num(now + keep), max(1, math.ceil(keep * 1000)), attempt or "", value, _num(until)]
        with self._errors():
            recorded, replayed = self._redeem(keys=[self._kv_key(namespace, key)], args=args)
        return recorded, replayed

    def release(self, namespace: str, key: str, attempt: str, now: float) -> bool:
        """One script on the record's own key: compare the attempt, forget the redemption."""
        with self._errors():
            return bool(self._release(keys=[self._kv_key(namespace, key)], args=[_num(now), attempt]))

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
