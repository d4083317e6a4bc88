"""A deadline for a request to arrive, for gunicorn's threaded worker.

Gunicorn's ``gthread`` worker gives a connection a thread as soon as its first bytes arrive, and
the thread then reads the headers and the body with blocking reads that never time out. A client
that sends a POST's headers and then trickles its body (one byte every few seconds) holds that
thread for as long as it likes; a few dozen such connections hold every thread of every worker,
and the room stops answering, ``/healthz`` included.

:func:`deadline_worker_class` makes a ``gthread`` worker whose connections are wrapped in a
:class:`DeadlineSocket`: from the moment a thread takes a request, the headers and body must
arrive within ``[server] request_timeout`` seconds in all (however they are split), and the
response must be taken by the client within the same time in all, from its first write that has
to wait (however many writes it takes, with ``sendall`` or ``sendfile``). A request whose headers
are late is dropped (the connection is closed, logged once at INFO), and so is a client that does
not take its response in time; a body that is late ends the request with 408 Request Timeout.
This bounds what one slow client can hold; it does not make the threads many. Production puts a
buffering proxy in front (``deploy/nginx/waitingroom.conf``), which reads each request completely
before passing it on.

A new connection that has sent nothing yet is set aside in the worker's poller at once, so it
holds no thread while it is idle (it is closed after ``keepalive`` seconds, 5).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from contextlib import suppress
from typing import Any, NoReturn

from gunicorn.workers import gthread
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.exceptions import RequestTimeout

from core.adapters import kernel_timeouts

log = logging.getLogger("waitingroom.server")

_IDLE = getattr(gthread, "_DEFER", None)
"""What ``handle`` returns to set a connection aside until it is readable (gunicorn >= 27)."""

_SENDFILE_BLOCK = 64 * 1024
"""The most one ``os.sendfile`` call is asked to send: a pipe's worth. The kernel moves a file to
a socket through a pipe and applies ``SO_SNDTIMEO`` afresh to each pipeful, so one call for a
whole file that the client takes a little at a time outlasts the deadline many times over."""


class DeadlineSocket:
    """A client socket whose reads share one deadline per request, and whose writes one per
    response (see the module docstring).

    Everything but ``recv``, ``recv_into``, ``sendall``, ``sendfile``, ``setblocking`` and
    ``shutdown`` is the wrapped socket's own. The deadlines are kept by the kernel
    (:mod:`core.adapters.kernel_timeouts`): the socket is blocking while a thread serves it,
    each read is bounded by ``SO_RCVTIMEO`` (the time left to the request's deadline) and each
    write that has to wait by ``SO_SNDTIMEO`` (the time left to the response's deadline, which
    the first such write starts), so a read or write is one system call, without the ``poll``
    Python puts before each on a socket with a timeout. A bound changes only when it must: a
    request usually arrives in one read and leaves in two writes the kernel takes at once, and
    then no bound changes at all.

    Writes are looped here rather than by :meth:`socket.socket.sendall` and
    :meth:`socket.socket.sendfile`: on a blocking socket the first waits ``SO_SNDTIMEO`` afresh
    for each part the client takes (a client that reads a little now and then held the thread
    for as long as it liked), and the second, once the kernel's bound runs out, waits for the
    client without any bound at all.
    """

    def __init__(self, sock: socket.socket, client: Any, timeout: float) -> None:
        self._sock = sock
        self._client = client
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.in_app = False  # the app is reading the body: a late body is a 408, not a dropped connection
        self._blocking = sock.gettimeout() != 0.0
        kernel_timeouts.set_receive_timeout(sock, timeout)
        kernel_timeouts.set_send_timeout(sock, timeout)
        self._receive_timeout = timeout
        self._send_timeout = timeout
        self._first_read = True
        self._write_deadline: float | None = None  # set by the response's first write that may wait
        self._closing = False

    def start_request(self) -> None:
        """A thread takes the connection's next request: its time to arrive starts now."""
        self.deadline = time.monotonic() + self.timeout
        self.in_app = False
        self._first_read = True
        self._write_deadline = None

    def setblocking(self, flag: bool) -> None:
        """Blocking while a thread serves the connection (bounded by the kernel), non-blocking
        while it waits in the worker's poller, as gunicorn asks."""
        if flag != self._blocking:
            self._sock.setblocking(flag)
            self._blocking = flag

    def _set_receive_timeout(self, value: float) -> None:
        if value != self._receive_timeout:
            kernel_timeouts.set_receive_timeout(self._sock, value)
            self._receive_timeout = value

    def _arm(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self._late()
        if self._first_read:
            # the request's first read: it may take the whole time (a request that arrives in
            # one read, the usual case, changes no bound)
            self._first_read = False
            self._set_receive_timeout(self.timeout)
            return
        self._set_receive_timeout(remaining)

    def _late(self) -> None:
        if self.in_app:
            raise RequestTimeout(f"the request body did not arrive within {self.timeout:g} s")
        log.info("slow client dropped: its request did not arrive within %g s", self.timeout,
                 extra={"remote": self._remote()})
        raise ConnectionResetError(errno.ECONNRESET, "the request did not arrive in time")

    def _remote(self) -> str:
        return str(self._client[0] if isinstance(self._client, tuple) else self._client)

    def shutdown(self, how: int) -> None:
        """Shut the socket down; once its writing side is, reads only drain what has arrived."""
        self._sock.shutdown(how)
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            self._closing = True

    def _drain(self) -> None:
        # gunicorn closes a connection by shutting its writing side and then reading until the
        # client closes too (for up to 2 s, often on the worker's main thread, which accepts
        # and dispatches every connection): a client that kept its end open stalled the whole
        # worker for that long, each in turn. What has arrived is still read (it is what would
        # make the kernel answer the close with a reset); nothing more is waited for.
        self._sock.setblocking(False)
        self._blocking = False

    def recv(self, size: int, *flags: int) -> bytes:
        if self._closing:
            self._drain()
            return self._sock.recv(size, *flags)
        if not self._blocking:  # in the poller's hands: no data is BlockingIOError, as asked
            return self._sock.recv(size, *flags)
        self._arm()
        try:
            return self._sock.recv(size, *flags)
        except (BlockingIOError, TimeoutError):  # the kernel's bound ran out (EAGAIN)
            self._late()
            raise

    def recv_into(self, buffer: Any, *args: int) -> int:
        if self._closing:
            self._drain()
            return self._sock.recv_into(buffer, *args)
        if not self._blocking:
            return self._sock.recv_into(buffer, *args)
        self._arm()
        try:
            return self._sock.recv_into(buffer, *args)
        except (BlockingIOError, TimeoutError):
            self._late()
            raise

    def _arm_write(self) -> None:
        """Bound the next write by the time left to the response's deadline (dropping the
        client if none is left); the response's first write that may wait starts that deadline."""
        self.setblocking(True)  # bounded by SO_SNDTIMEO: a client that does not read its answer is dropped too
        now = time.monotonic()
        if self._write_deadline is None:
            self._write_deadline = now + self.timeout
            remaining = self.timeout  # the usual case: no bound changes
        else:
            remaining = self._write_deadline - now
            if remaining <= 0:
                self._slow_reader()
        if remaining != self._send_timeout:
            kernel_timeouts.set_send_timeout(self._sock, remaining)
            self._send_timeout = remaining

    def _slow_reader(self) -> NoReturn:
        log.info("slow client dropped: it did not take its response within %g s", self.timeout,
                 extra={"remote": self._remote()})
        # gunicorn closes the connection quietly on a reset, as when the client hangs up
        raise ConnectionResetError(errno.ECONNRESET, "the client did not read its response in time")

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of ``data`` within the response's deadline, else :class:`ConnectionResetError`."""
        self.setblocking(True)
        remaining = memoryview(data).cast("B")
        with suppress(BlockingIOError):  # the usual case: the kernel takes it all at once, no bound changes
            remaining = remaining[self._sock.send(remaining, flags | socket.MSG_DONTWAIT):]
        while remaining:
            self._arm_write()
            try:
                sent = self._sock.send(remaining, flags)
            except (BlockingIOError, TimeoutError):  # the kernel's bound ran out (EAGAIN)
                self._slow_reader()
            remaining = remaining[sent:]

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """:meth:`socket.socket.sendfile` within the response's deadline, else
        :class:`ConnectionResetError`: ``count`` bytes of ``file`` from ``offset`` (to its end
        if None); returns the bytes sent and leaves ``file`` positioned after them."""
        if count is None:
            count = os.fstat(file.fileno()).st_size - offset
        total = 0
        try:
            while total < count:
                self._arm_write()
                try:
                    sent = os.sendfile(self._sock.fileno(), file.fileno(), offset + total,
                                       min(count - total, _SENDFILE_BLOCK))
                except (BlockingIOError, TimeoutError):
                    self._slow_reader()
                if sent == 0:  # the file ended before ``count``
                    break
                total += sent
        finally:
            if total:
                file.seek(offset + total)
        return total

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
