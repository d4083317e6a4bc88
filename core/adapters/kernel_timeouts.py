"""Socket timeouts kept by the kernel instead of by Python.

Python implements a socket's timeout by making the socket non-blocking and calling ``poll``
before every read and every write: one more system call each time, and in a threaded server
one more point where the thread gives up the interpreter lock and may have to wait for it. A
blocking socket with ``SO_RCVTIMEO`` and ``SO_SNDTIMEO`` (socket(7)) is bounded the same way
with no ``poll``: a read or write that runs out of time fails with ``EAGAIN``, which Python
raises as :class:`BlockingIOError` (on a blocking socket nothing else raises it).

Used by the Redis client (:mod:`core.adapters.redis_pinned`) and by the server's per-request
arrival deadline (:mod:`oidc_adaptor.entrypoints.arrival_deadline`). Plain TCP and Unix sockets
only: a TLS socket must keep Python's own timeout (the kernel's would stop a record half read,
inside OpenSSL).
"""

from __future__ import annotations

import socket
import struct

_TIMEVAL = struct.Struct("@ll")  # struct timeval on Linux: seconds, microseconds


def timeval(seconds: float) -> bytes:
    """``seconds`` as a ``struct timeval``, at least one microsecond (zero means no timeout)."""
    microseconds = max(1, round(seconds * 1_000_000))
    return _TIMEVAL.pack(*divmod(microseconds, 1_000_000))


def set_receive_timeout(sock: socket.socket, seconds: float) -> None:
    """Bound each blocking read of ``sock`` by ``seconds`` (``SO_RCVTIMEO``)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(seconds))


def set_send_timeout(sock: socket.socket, seconds: float) -> None:
    """Bound each blocking write of ``sock`` by ``seconds`` (``SO_SNDTIMEO``)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(seconds))


def expired(error: BaseException | None) -> bool:
    """Whether ``error`` (or the error it was raised from) is a kernel timeout running out on a
    blocking socket: ``EAGAIN``, as :class:`BlockingIOError`."""
    if error is None:
        return False
    return isinstance(error, BlockingIOError) or isinstance(error.__cause__ or error.__context__, BlockingIOError)
