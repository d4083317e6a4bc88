"""A deadline for a request to arrive, for gunicorn's threaded worker.

Gunicorn's ``gthread`` worker gives a connection a thread as soon as its first bytes arrive, and
the thread then reads the headers and the body with blocking reads that never time out. A client
that sends a POST's headers and then trickles its body (one byte every few seconds) holds that
thread for as long as it likes; a few dozen such connections hold every thread of every worker,
and the room stops answering, ``/healthz`` included.

:func:`deadline_worker_class` makes a ``gthread`` worker whose connections are wrapped in a
:class:`DeadlineSocket`: from the moment a thread takes a request, the headers and body must
arrive within ``[server] request_timeout`` seconds in all (however they are split), and each
write of the response must be taken by the client within the same time. A request whose headers
are late is dropped (the connection is closed, logged once at INFO); a body that is late ends the
request with 408 Request Timeout. This bounds what one slow client can hold; it does not make
the threads many. Production puts a buffering proxy in front (``deploy/nginx/waitingroom.conf``),
which reads each request completely before passing it on.

A new connection that has sent nothing yet is set aside in the worker's poller at once, so it
holds no thread while it is idle (it is closed after ``keepalive`` seconds, 5).
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from typing import Any

from gunicorn.workers import gthread
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.exceptions import RequestTimeout

log = logging.getLogger("waitingroom.server")

_IDLE = getattr(gthread, "_DEFER", None)
"""What ``handle`` returns to set a connection aside until it is readable (gunicorn >= 27)."""


class DeadlineSocket:
    """A client socket whose reads share one deadline per request (see the module docstring).

    Everything but ``recv``, ``recv_into``, ``sendall`` and ``setblocking`` is the wrapped socket's
    own. The socket's timeout is changed only when it must be: each change is a system call, and
    a request usually arrives in one read and leaves in two writes.
    """

    def __init__(self, sock: socket.socket, client: Any, timeout: float) -> None:
        self._sock = sock
        self._client = client
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.in_app = False  # the app is reading the body: a late body is a 408, not a dropped connection
        self._socket_timeout = sock.gettimeout()
        self._first_read = True

    def start_request(self) -> None:
        """A thread takes the connection's next request: its time to arrive starts now."""
        self.deadline = time.monotonic() + self.timeout
        self.in_app = False
        self._first_read = True

    def setblocking(self, flag: bool) -> None:
        """Gunicorn makes the socket blocking to read a request: here that is a wait bounded by
        ``timeout``, which the request's first read keeps (see :meth:`_arm`); non-blocking as asked."""
        self._set_timeout(self.timeout if flag else 0.0)

    def _set_timeout(self, value: float) -> None:
        if value != self._socket_timeout:
            self._sock.settimeout(value)
            self._socket_timeout = value

    def _arm(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self._late()
        if self._first_read and self._socket_timeout == self.timeout:
            # The first read starts microseconds after the deadline was set: a wait of ``timeout``
            # ends at the deadline, so the socket keeps the timeout it has.
            self._first_read = False
            return
        self._first_read = False
        self._set_timeout(remaining)

    def _late(self) -> None:
        if self.in_app:
            raise RequestTimeout(f"the request body did not arrive within {self.timeout:g} s")
        log.info("slow client dropped: its request did not arrive within %g s", self.timeout,
                 extra={"remote": self._client[0] if isinstance(self._client, tuple) else str(self._client)})
        # gunicorn closes the connection quietly on a reset, as when the client hangs up
        raise ConnectionResetError(errno.ECONNRESET, "the request did not arrive in time")

    def recv(self, size: int, *flags: int) -> bytes:
        self._arm()
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            self._late()
            raise

    def recv_into(self, buffer: Any, *args: int) -> int:
        self._arm()
        try:
            return self._sock.recv_into(buffer, *args)
        except TimeoutError:
            self._late()
            raise

    def sendall(self, data: Any, *flags: int) -> None:
        self._set_timeout(self.timeout)  # a client that does not read its answer is dropped too
        try:
            self._sock.sendall(data, *flags)
        except TimeoutError:
            raise ConnectionResetError(errno.ECONNRESET, "the client did not read its response in time") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def deadline_worker_class(request_timeout: float) -> type[ThreadWorker]:
    """A ``gthread`` worker class whose requests must arrive within ``request_timeout`` seconds."""

    class DeadlineThreadWorker(ThreadWorker):
        def handle(self, conn: Any) -> Any:
            if _IDLE is not None and not conn.initialized and not getattr(conn, "data_ready", True) \
                    and not conn.wait_for_data(0):
                # A new connection with nothing to read yet waits in the poller, not in this
                # thread (gunicorn would wait here up to 5 s: a few dozen connections that send
                # nothing held every thread). The poller closes it after ``keepalive`` seconds.
                return _IDLE
            if not isinstance(conn.sock, DeadlineSocket):
                conn.sock = DeadlineSocket(conn.sock, conn.client, request_timeout)
            conn.sock.start_request()
            return super().handle(conn)

        def handle_request(self, req: Any, conn: Any) -> Any:
            conn.sock.in_app = True
            try:
                return super().handle_request(req, conn)
            finally:
                conn.sock.in_app = False

    return DeadlineThreadWorker


__all__ = ["DeadlineSocket", "deadline_worker_class"]
