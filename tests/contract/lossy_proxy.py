"""A TCP proxy on loopback that loses one reply: what a client sees when a connection breaks
after its request reached the server and before the answer came back (a failover, a load
balancer closing an idle connection, a network cut).

Everything is forwarded byte for byte, except that once a :class:`Trap` is armed, the reply to
the next request that contains the trap's trigger is read from the server and thrown away: the
server ran the request, the client never learns its outcome. Then the proxy either closes the
client's connection at once (a broken connection) or forwards nothing more on it until the
client gives up and closes it (a reply that never comes: the client's timeout). The trap
springs exactly once, across all the proxies that share it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class Trap:
    """When armed, springs on the first request (one read from a client) containing ``trigger``;
    ``hold``: keep the connection open and silent instead of closing it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trigger: bytes | None = None
        self._hold = False
        self.sprung = 0

    def arm(self, trigger: bytes, hold: bool = False) -> None:
        with self._lock:
            self._trigger, self._hold = trigger, hold

    def take(self, request: bytes) -> str | None:
        """"close" or "hold" once, for the first request containing the trigger since
        :meth:`arm`; None for every other request."""
        with self._lock:
            if self._trigger is None or self._trigger not in request:
                return None
            self._trigger = None
            self.sprung += 1
            return "hold" if self._hold else "close"


class LossyProxy:
    """Listens on a free loopback port and forwards every connection to ``upstream``."""

    def __init__(self, upstream: tuple[str, int], trap: Trap) -> None:
        self.upstream = upstream
        self.trap = trap
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._closed:
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
            lose: list[str] = []  # what to do with the next reply, once the trap sprang here
            threading.Thread(target=self._requests, args=(client, server, lose), daemon=True).start()
            threading.Thread(target=self._replies, args=(server, client, lose), daemon=True).start()

    def _requests(self, client: socket.socket, server: socket.socket, lose: list[str]) -> None:
        with suppress(OSError):
            while chunk := client.recv(65536):
                if (how := self.trap.take(chunk)) is not None:
                    lose.append(how)  # before forwarding: the reply cannot overtake it
                server.sendall(chunk)
        _close(client, server)  # the client closed: so does the proxy

    def _replies(self, server: socket.socket, client: socket.socket, lose: list[str]) -> None:
        with suppress(OSError):
            while chunk := server.recv(65536):
                if "close" in lose:  # the server answered: lose it, and the connection
                    break
                if "hold" not in lose:  # held: answers go nowhere until the client closes
                    client.sendall(chunk)
        _close(client, server)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        self._listener.close()
        _close(*sockets)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@contextmanager
def lossy_proxies(upstreams: list[tuple[str, int]], trap: Trap) -> Iterator[list[LossyProxy]]:
    """One proxy per upstream, all sharing ``trap``; closed on exit."""
    proxies = [LossyProxy(upstream, trap) for upstream in upstreams]
    try:
        yield proxies
    finally:
        for proxy in proxies:
            proxy.close()
