"""When a Redis command may be sent again: only when it is known not to have reached the server.

redis-py resends a command after a broken connection (its ``Retry``; the cluster client's
retry loop and its transaction pipelines too, which also resend after a timeout), whether the
connection broke while connecting, while writing the command or while reading its reply. In the
last case the server has read the command and may well have run it: resending a store script
then runs it twice (the serving counter moved twice, a session ended twice and the caller told
it had already ended, a hit counted twice, a scheduler tick answered as claimed by another).

The rule kept here: a command is resent only when the failure came before its first byte was
handed to the socket (connecting, the handshake, the PING health check: each idempotent and
resent as redis-py does). From that byte on, a broken connection raises :class:`ReplyLost` and a
timeout :class:`ReplyTimedOut`; neither is resent by :class:`UnsentOnlyRetry` nor by the cluster
client's retry loop (which retries only the exact error types it names). Both are
:class:`redis.RedisError`, so the store reports them as :class:`core.errors.StoreUnavailable`
(HTTP 503 with Retry-After) and the caller decides: a client retrying ``enter`` with its
idempotency key gets its place back; a call that running twice leaves as running once (a read,
an entry under its own request id) may simply be made again (:func:`again_if_lost`).

Connections get the rule from :class:`UnsentOnlyPool`, which gives every connection class
redis-py picks for a URL (TCP, TLS, Unix socket) the :class:`_SentOnce` behaviour. Written
against redis-py's connection methods ``connect``, ``check_health``, ``send_packed_command`` and
``read_response`` and against ``Retry.call_with_retry``, which redis-py 5 to 8 all have (tested
with 8: ``tests/contract/test_redis_lost_reply.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.retry import Retry

from .redis_pinned import kernel_timed

T = TypeVar("T")


class Unanswered(redis.RedisError):
    """A command was (at least in part) written and no reply was read: it may have run."""


class ReplyLost(Unanswered, redis.ConnectionError):
    """The connection broke after the command was written, before its whole reply was read."""


class ReplyTimedOut(Unanswered, redis.TimeoutError):
    """No reply came within the socket timeout after the command was written."""


def _unanswered(error: Exception) -> Exception:
    """``error`` as :class:`Unanswered` if the transport failed (a connection or timeout error
    of redis-py's own), else unchanged: an error *reply* of the server (``LOADING``, ``NOAUTH``,
    which redis-py also raises as connection errors) says the command did not run."""
    if type(error) is redis.ConnectionError:
        return ReplyLost(*error.args)
    if type(error) is redis.TimeoutError:
        return ReplyTimedOut(*error.args)
    return error


class _SentOnce:
    """Connection mixin: errors after a command's first byte was written become :class:`Unanswered`.

    ``_preparing`` is true while connecting (socket, handshake) and during the PING health
    check: what is written and read then is idempotent and, failing, the caller's command has
    not been written yet, so those errors stay as redis-py raises them (and are resent).
    """

    _preparing = False

    # Both run before every command (the pool connects what it hands out; the health check
    # pings an idle connection), hence plain try/finally rather than a context manager.
    def connect(self) -> Any:
        outer, self._preparing = self._preparing, True
        try:
            return super().connect()  # type: ignore[misc]
        finally:
            self._preparing = outer

    def check_health(self) -> Any:
        outer, self._preparing = self._preparing, True
        try:
            return super().check_health()  # type: ignore[misc]
        finally:
            self._preparing = outer

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if self._preparing:
            super().send_packed_command(command, check_health)  # type: ignore[misc]
            return
        # Connect and check health first, as redis-py's send does, so that their failures (the
        # command not written yet) are told apart from a failure while writing it.
        if not self._sock:  # type: ignore[attr-defined]
            self.connect()
        if check_health:
            self.check_health()
        try:
            super().send_packed_command(command, check_health=False)  # type: ignore[misc]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise _unanswered(exc) from exc

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if self._preparing:
                raise
            raise _unanswered(exc) from exc


_SENT_ONCE: dict[type[Any], type[Any]] = {}


def sent_once(connection_class: type[Any]) -> type[Any]:
    """``connection_class`` with the :class:`_SentOnce` rule (one subclass per class, reused)."""
    if issubclass(connection_class, _SentOnce):
        return connection_class
    if connection_class not in _SENT_ONCE:
        _SENT_ONCE[connection_class] = type(f"SentOnce{connection_class.__name__}", (_SentOnce, connection_class), {})
    return _SENT_ONCE[connection_class]


class UnsentOnlyPool(redis.ConnectionPool):
    """A connection pool whose connections follow the rule of this module, whatever connection
    class the URL calls for. Also the ``connection_pool_class`` of a cluster client's nodes.
    With ``kernel_timeout`` (seconds; plain TCP or Unix sockets, with ``socket_timeout=None``)
    the kernel bounds each read and write: :func:`core.adapters.redis_pinned.kernel_timed`."""

    def __init__(self, connection_class: type[Any] = redis.Connection, kernel_timeout: float | None = None,
                 **kwargs: Any) -> None:
        if kernel_timeout is not None:  # see core.adapters.redis_pinned
            connection_class = kernel_timed(connection_class, kernel_timeout)
        super().__init__(connection_class=sent_once(connection_class), **kwargs)


class _NotResent(Exception):
    """Carries an :class:`Unanswered` error through redis-py's retry loop, which retries by
    error type and does not know this one."""

    def __init__(self, error: Unanswered) -> None:
        super().__init__(error)
        self.error = error


class UnsentOnlyRetry(Retry):
    """redis-py's :class:`~redis.retry.Retry` that never resends after :class:`Unanswered`.

    redis-py copies the retry policy into every connection and every cluster pipeline and calls
    ``call_with_retry`` around each send-and-read; the errors it retries are unchanged, but an
    :class:`Unanswered` one is raised at once, without the ``fail`` callback (the connection
    closed itself when the error came). The extra arguments of newer redis-py pass through.
    """

    def call_with_retry(self, do: Callable[[], T], fail: Callable[..., Any], *args: Any, **kwargs: Any) -> T:
        def attempt() -> T:
            try:
                return do()
            except Unanswered as exc:
                raise _NotResent(exc) from None

        try:
            return super().call_with_retry(attempt, fail, *args, **kwargs)
        except _NotResent as carrier:
            error = carrier.error
        raise error  # outside the handler: the error keeps its own cause, not the carrier


def again_if_lost(call: Callable[[], T]) -> T:
    """Make ``call`` once more if its connection broke before the reply came (:class:`ReplyLost`).

    Only for a call that, run twice, leaves things as run once: a read, or a script that is
    idempotent by its arguments. A timeout is not made again, so a stalled server costs one
    timeout, not two."""
    try:
        return call()
    except ReplyLost:
        return call()
