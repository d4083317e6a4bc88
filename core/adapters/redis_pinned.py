"""How the one-server Redis client spends as little as it can per command.

A store command is one round trip on every request, and on a server with request threads each
system call a command makes is a point where the thread gives up the interpreter lock and may
have to wait for it again. redis-py's defaults make six system calls per command: a pool check
that the connection has no unread data (``poll``), a ``poll`` before the write and another
before the read (how Python waits on a socket with a timeout), the write, the read, and the
pool's fork check. Two of them are needed. Two things here drop the rest:

* :class:`PinnedRedis`: each thread keeps one connection from the shared pool for as long as it
  lives (redis-py's ``single_connection_client``, one client per thread) instead of taking one
  from the pool and putting it back around every command. A connection only its own thread uses
  can hold no reply meant for another command, so the pool's check before each command has
  nothing to find; its health check (a ``PING`` on a connection idle for
  ``health_check_interval`` seconds) still runs. Pipelines and transactions still take pooled
  connections. A thread's connection goes back to the pool when the thread ends.
  What that check also found, a connection the server closed (a restart, a failover, ``CLIENT
  KILL``, an idle timeout), is looked for on a connection idle for :data:`IDLE_CHECK_SECONDS`:
  a command written to such a connection would fail with its reply lost, a write that never
  ran then answered 503 and never made again; the look is a reconnection instead. A thread
  that sends commands back to back (a busy server) skips it.
* :func:`kernel_timed`: the socket is a blocking one whose reads and writes the kernel bounds
  (``SO_RCVTIMEO`` and ``SO_SNDTIMEO``, socket(7)), so a stalled server still fails the command
  after the timeout, without a ``poll`` before each read and write. The kernel reports that
  timeout as ``EAGAIN`` (``BlockingIOError``), which redis-py takes for a broken connection;
  it is raised as redis-py's ``TimeoutError``, as Python's own timeout is, so what is never
  made again after a timeout (a handshake, a health check, :func:`~core.adapters.redis_resend.again_if_lost`)
  is not made again here either, and a stalled server costs one timeout per command, not
  several (``StoreUnavailable`` to the store, never resent once the command was written:
  :mod:`core.adapters.redis_resend`). TLS connections (``rediss://``) keep Python's own
  timeout: the kernel's would stop a TLS record half read, inside OpenSSL.

Measured with one worker of four threads: 11.5 to 7 voluntary context switches per request in
an OpenID Connect flow (``python -m bench.oidc_worker``; ``docs/performance.md``).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import redis

from . import kernel_timeouts

_forks = 0
"""How many times this process was forked from its parent's: a pinned client made before a fork
holds a socket the parent still uses, so a child makes its own."""


def _count_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_count_fork)


IDLE_CHECK_SECONDS = 0.1
"""A pinned connection unused for this long is checked before its next command, as the pool
checks each connection it hands out: closed by the server, or holding unread data, it connects
again. Shorter than any restart or failover of Redis, so a connection that outlived one is
checked; longer than the gaps between the commands of a busy request thread."""


class PinnedRedis(redis.Redis):
    """redis-py's one-server client whose commands run on a connection pinned to the calling
    thread (see the module docstring); otherwise the same client over the same pool. Thread-safe:
    each thread has its own connection. :meth:`close` closes every connection of the pool,
    pinned ones included; a thread's next command connects again."""

    def __init__(self, connection_pool: redis.ConnectionPool) -> None:
        super().__init__(connection_pool=connection_pool)
        self._threads = threading.local()

    def _pinned(self) -> redis.Redis:
        local = self._threads
        client: redis.Redis | None = getattr(local, "client", None)
        now = time.monotonic()
        if client is None or local.forks != _forks:
            client = redis.Redis(connection_pool=self.connection_pool, single_connection_client=True)
            local.client, local.forks = client, _forks
        elif now - local.used_at >= IDLE_CHECK_SECONDS:
            _drop_if_stale(client.connection)  # type: ignore[attr-defined]
        local.used_at = now
        return client

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return self._pinned().execute_command(*args, **options)

    def close(self) -> None:
        self.connection_pool.disconnect()


def _drop_if_stale(connection: Any) -> None:
    """Disconnect ``connection`` if the server closed it or it holds data no command asked for
    (what redis-py's pool checks before handing a connection out); the next command connects
    again. A connection not connected yet is left as it is."""
    if connection is None or connection._sock is None:
        return
    try:
        stale = connection.can_read(timeout=0)
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        stale = True
    if stale:
        connection.disconnect()


_KERNEL_TIMED: dict[tuple[type[Any], float], type[Any]] = {}


def kernel_timed(connection_class: type[Any], timeout: float) -> type[Any]:
    """``connection_class`` (plain TCP or Unix socket; not TLS) whose socket is blocking and
    bounded by the kernel: ``timeout`` seconds for each read and each write (see the module
    docstring). Give its pool ``socket_timeout=None``. A timeout is redis-py's ``TimeoutError``, as
    with Python's own timeout (redis-py reports the kernel's as a broken connection): it is never
    resent, nor made again as a read whose connection broke is. One subclass per (class, timeout),
    reused."""
    if (connection_class, timeout) not in _KERNEL_TIMED:
        class KernelTimed(connection_class):
            def _connect(self) -> Any:
                sock = super()._connect()
                kernel_timeouts.set_receive_timeout(sock, timeout)
                kernel_timeouts.set_send_timeout(sock, timeout)
                sock.settimeout(None)
                return sock

            def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
                try:
                    super().send_packed_command(*args, **kwargs)
                except redis.ConnectionError as exc:
                    if kernel_timeouts.expired(exc):
                        raise redis.TimeoutError("Timeout writing to socket") from exc
                    raise

            def read_response(self, *args: Any, **kwargs: Any) -> Any:
                try:
                    return super().read_response(*args, **kwargs)
                except redis.ConnectionError as exc:
                    if kernel_timeouts.expired(exc):
                        raise redis.TimeoutError("Timeout reading from socket") from exc
                    raise

        KernelTimed.__name__ = KernelTimed.__qualname__ = f"KernelTimed{connection_class.__name__}"
        _KERNEL_TIMED[(connection_class, timeout)] = KernelTimed
    return _KERNEL_TIMED[(connection_class, timeout)]
