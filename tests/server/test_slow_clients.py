"""Slow clients against a real ``waitingroom serve``: connections that trickle a request's headers
or body cannot hold the worker threads, so the room (``/healthz`` included) keeps answering."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import requests

from ..support import serve_process, server_config
from .client_threads import clients_running

pytestmark = pytest.mark.slow

SLOW_BODY = (b"POST /assign_queue_num HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: 200\r\n\r\n{")
SLOW_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"


@contextmanager
def trickling(port: int, count: int, start: bytes) -> Iterator[list[bytes]]:
    """``count`` connections that send ``start`` and then one space every 0.2 s until the block
    ends; yields the list that receives what each connection was answered."""
    answers: list[bytes] = []

    def run(stop: threading.Event) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(start)
            with suppress(OSError):
                while not stop.wait(0.2):
                    conn.sendall(b" ")
            conn.settimeout(5)
            with suppress(OSError):
                answers.append(conn.recv(200))

    with clients_running(count, run):
        yield answers


def test_trickling_clients_cannot_hold_the_workers(tmp_path: Path) -> None:
    config = server_config(tmp_path, request_timeout=1)
    # one worker with two threads: without a deadline, four tricklers hold it for as long as they like
    with serve_process(config, workers=1, extra_args=["--threads", "2"]) as server:
        with trickling(server.port, 4, SLOW_BODY) as body_answers, trickling(server.port, 4, SLOW_HEADERS):
            for path in ("/healthz", "/readyz", "/serving_num?event_id=spring-sale"):
                # generous: what is measured is that an answer comes while the tricklers go on
                assert requests.get(server.base_url + path, timeout=20).status_code == 200
        assert body_answers and all(answer.startswith(b"HTTP/1.1 408") for answer in body_answers), body_answers
    assert "Traceback" not in server.log_text()
    assert "slow client dropped" in server.log_text()


def test_connections_that_send_nothing_do_not_hold_the_threads(tmp_path: Path) -> None:
    """A connection that never sends a byte waits in the worker's poller, not in a thread: with
    gunicorn's default, each took a thread for 5 s before it was set aside, so 40 of them kept
    one worker with two threads from answering anyone for 100 s."""
    config = server_config(tmp_path, request_timeout=1)
    with serve_process(config, workers=1, extra_args=["--threads", "2"]) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(40)]
        try:
            # 20 s is far below the 100 s the idle connections would hold the threads for, and
            # far above what an answer takes on a loaded machine
            assert requests.get(server.base_url + "/healthz", timeout=20).status_code == 200
        finally:
            for conn in idle:
                conn.close()
    assert "Traceback" not in server.log_text()


def _read_until_closed(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset ends it too)."""
    conn.settimeout(20)  # generous: the server closes it after the 1 s deadline
    received = b""
    with suppress(ConnectionResetError):
        while data := conn.recv(65536):
            received += data
    return received


def _trickle(conn: socket.socket, piece: bytes, times: int = 25) -> None:
    """Send ``piece`` every 0.2 s, ``times`` times (5 s: five times the deadline) or until the
    server closes the connection."""
    with suppress(OSError):
        for _ in range(times):
            conn.sendall(piece)
            threading.Event().wait(0.2)


def test_the_deadline_holds_for_each_request_of_a_kept_alive_or_pipelined_connection(tmp_path: Path) -> None:
    """The deadline starts again for each request of a connection: a trickled second request of
    a kept-alive connection, or a trickled third behind two pipelined ones, is late like a first."""
    config = server_config(tmp_path, request_timeout=1)
    with serve_process(config, workers=1, extra_args=["--threads", "2"]) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            first = b""
            while not first.endswith(b'{"status":"ok"}\n'):
                first += conn.recv(65536)
            assert first.startswith(b"HTTP/1.1 200")
            conn.sendall(SLOW_BODY)
            _trickle(conn, b" ")
            assert _read_until_closed(conn).startswith(b"HTTP/1.1 408")
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
                         + SLOW_HEADERS)
            _trickle(conn, b"X-Slow: 1\r\n")
            answers = _read_until_closed(conn)
            # the two complete requests are answered; the trickled one is dropped without an answer
            assert answers.count(b"HTTP/1.1 ") == 2 and b'{"status":"ready"}' in answers, answers
        assert requests.get(server.base_url + "/healthz", timeout=20).status_code == 200
    assert "Traceback" not in server.log_text()
    assert server.log_text().count("slow client dropped: its request did not arrive") == 1
