"""Clients that do not read their answers, against a real ``waitingroom serve``: a response the
client leaves unread (a file sent with ``sendfile``, a large JSON document sent with ``sendall``)
or reads a little at a time cannot hold a worker thread past ``[server] request_timeout``, so
the room (``/healthz`` included) keeps answering, and the worker neither crashes nor leaks
descriptors."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import requests

from ..support import serve_process, server_config, wait_until
from .client_threads import clients_running

pytestmark = pytest.mark.slow

LOGO_BYTES = 8 * 1024 * 1024  # far more than the kernel buffers between server and client hold
LOGO_REQUEST = b"GET /events/spring-sale/logo HTTP/1.1\r\nHost: x\r\n\r\n"
# a range answer is written piece by piece with ``sendall`` (not ``sendfile``): 8 kB per write
DROPPED = "slow client dropped: it did not take its response"
RANGE_REQUEST = b"GET /events/spring-sale/logo HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n"


def small_window_connection(port: int) -> socket.socket:
    """A connection whose receive buffer is as small as the kernel allows, so an answer it does
    not read stays in the server's send buffer and soon fills it."""
    conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    conn.settimeout(5)
    conn.connect(("127.0.0.1", port))
    return conn


@contextmanager
def unread_answers(port: int, count: int, request: bytes, *, sip: float | None = None) -> Iterator[list[int]]:
    """``count`` connections that send ``request`` and then never read (``sip`` None) or read
    512 bytes every ``sip`` seconds until the block ends; yields the list that receives how many
    bytes each connection got before the server closed it (nothing for one still open)."""
    received: list[int] = []

    def run(stop: threading.Event) -> None:
        with small_window_connection(port) as conn:
            conn.sendall(request)
            got = 0
            with suppress(OSError):
                while not stop.wait(sip if sip is not None else 0.2):
                    if sip is None:
                        continue
                    data = conn.recv(512)
                    if not data:
                        received.append(got)
                        return
                    got += len(data)

    with clients_running(count, run):
        yield received


def worker_sockets(server_pid: int) -> int:
    """Sockets open in the server's one worker (the master's only child): its listening socket
    and the connections it has not closed (other descriptors, such as the store connection each
    thread opens when it first serves, are not counted)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    assert len(children) == 1, children
    fds = Path(f"/proc/{children[0]}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))


def logo_config(tmp_path: Path) -> Path:
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(LOGO_BYTES))
    events = {"spring-sale": {"name": "Spring sale", "page": {"logo": str(logo), "logo_alt": "Acme"}}}
    return server_config(tmp_path, events=events, request_timeout=1)


def test_clients_that_never_read_a_file_do_not_hold_the_threads(tmp_path: Path) -> None:
    """The logo is sent with ``sendfile``: a client that never reads it is dropped like one that
    never reads any other answer (Python's ``socket.sendfile`` waits without end on a blocking
    socket once the kernel's send bound runs out)."""
    with serve_process(logo_config(tmp_path), workers=1, extra_args=["--threads", "2"]) as server, \
            unread_answers(server.port, 3, LOGO_REQUEST):
        for _ in range(3):
            # generous: what is measured is that an answer comes while the readers stall
            assert requests.get(server.base_url + "/healthz", timeout=20).status_code == 200
    assert "Traceback" not in server.log_text()


def test_clients_that_read_a_file_slowly_do_not_hold_the_threads(tmp_path: Path) -> None:
    """A client that takes a little of the file now and then is dropped at the deadline of the
    write too: it cannot keep a thread for as long as 8 MiB at its pace would take."""
    with serve_process(logo_config(tmp_path), workers=1, extra_args=["--threads", "2"]) as server, \
            unread_answers(server.port, 3, LOGO_REQUEST, sip=0.05):
        for _ in range(3):
            assert requests.get(server.base_url + "/healthz", timeout=20).status_code == 200
        # the client cannot tell: what the server had sent before it gave up still comes
            wait_until(lambda: server.log_text().count(DROPPED) >= 3, 60, "the slow readers to be dropped")
    assert "Traceback" not in server.log_text()


def test_clients_that_read_a_ranged_answer_slowly_do_not_hold_the_threads(tmp_path: Path) -> None:
    """A range of the logo is written 8 kB at a time with ``sendall``: a client that takes each
    piece just before the kernel's bound on one write runs out is dropped all the same, once the
    answer has taken ``request_timeout`` in all."""
    with serve_process(logo_config(tmp_path), workers=1, extra_args=["--threads", "2"]) as server:
        assert requests.get(server.base_url + "/events/spring-sale/logo", headers={"Range": "bytes=0-9"},
                            timeout=20).status_code == 206
        with unread_answers(server.port, 3, RANGE_REQUEST, sip=0.05):
            for _ in range(3):
                assert requests.get(server.base_url + "/healthz", timeout=20).status_code == 200
            # the client cannot tell: what the server had sent before it gave up still comes
            wait_until(lambda: server.log_text().count(DROPPED) >= 3, 60, "the slow readers to be dropped")
    assert "Traceback" not in server.log_text()


def open_server_connections(port: int) -> int:
    """Connections accepted on ``port`` that the server has not closed yet (ESTABLISHED or
    CLOSE_WAIT in ``/proc/net/tcp``: the states in which the server still holds a descriptor)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] in ("01", "08"):
            count += 1
    return count


def test_unread_answers_leak_no_sockets(tmp_path: Path) -> None:
    """Each dropped connection is closed: rounds of clients that do not read leave the worker with
    no more sockets than before."""
    with serve_process(logo_config(tmp_path), workers=1, extra_args=["--threads", "2"]) as server:
        wait_until(lambda: open_server_connections(server.port) == 0, 60, "the start-up checks to close")
        before = worker_sockets(server.process.pid)
        def round_of_unread_answers() -> int:
            with unread_answers(server.port, 4, LOGO_REQUEST):
                assert requests.get(server.base_url + "/healthz", timeout=20).status_code == 200
            wait_until(lambda: open_server_connections(server.port) == 0, 60, "the worker to close the connections")
            return worker_sockets(server.process.pid)

        assert [round_of_unread_answers() for _ in range(3)] == [before] * 3
    assert "Traceback" not in server.log_text()


def test_clients_that_keep_a_closed_connection_open_do_not_stall_the_worker(tmp_path: Path) -> None:
    """A client that asks for ``Connection: close`` and then neither reads nor closes its end:
    gunicorn shuts the connection's writing side and waited (up to 2 s) on the worker's main
    thread for the client to close too, one connection after the other, so 30 such clients
    kept the worker from taking any new connection for a minute. Now what has arrived is read
    and the connection is closed at once."""
    config = server_config(tmp_path, request_timeout=10)
    with serve_process(config, workers=1, extra_args=["--threads", "2"]) as server:
        holders = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(30)]
        try:
            for conn in holders:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            # 20 s is a third of the minute the holders stalled the worker for, and far above
            # what an answer takes on a loaded machine
            assert requests.get(server.base_url + "/healthz", timeout=20).status_code == 200
            assert all(conn.recv(200).startswith(b"HTTP/1.1 200") for conn in holders)
        finally:
            for conn in holders:
                conn.close()
    assert "Traceback" not in server.log_text()
    assert "slow client dropped" not in server.log_text()  # each of them sent its request at once


def test_a_crowd_of_every_kind_of_slow_client_neither_stops_nor_harms_the_worker(tmp_path: Path) -> None:
    """All of the above at once against one worker with two threads, with connections that send
    nothing and clients that trickle headers or a body: a normal client keeps getting answers,
    the worker is the same process afterwards (it never crashed) and holds no more sockets after
    each crowd than before."""
    from .test_slow_clients import SLOW_BODY, SLOW_HEADERS, trickling

    with serve_process(logo_config(tmp_path), workers=1, extra_args=["--threads", "2"]) as server:
        wait_until(lambda: open_server_connections(server.port) == 0, 60, "the start-up checks to close")
        before = worker_sockets(server.process.pid)
        worker = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()

        def crowd() -> int:
            idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(20)]
            holders = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(10)]
            try:
                for conn in holders:
                    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                with trickling(server.port, 3, SLOW_BODY), trickling(server.port, 3, SLOW_HEADERS), \
                        unread_answers(server.port, 2, LOGO_REQUEST), \
                        unread_answers(server.port, 2, RANGE_REQUEST, sip=0.05):
                    for path in ("/healthz", "/serving_num?event_id=spring-sale", "/healthz"):
                        assert requests.get(server.base_url + path, timeout=20).status_code == 200
            finally:
                for conn in idle + holders:
                    conn.close()
            wait_until(lambda: open_server_connections(server.port) == 0, 60, "the worker to close the connections")
            return worker_sockets(server.process.pid)

        assert [crowd(), crowd()] == [before, before]
        assert Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split() == worker
    assert "Traceback" not in server.log_text()
