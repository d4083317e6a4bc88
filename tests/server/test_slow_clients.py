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

pytestmark = pytest.mark.slow

SLOW_BODY = (b"POST /assign_queue_num HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: 200\r\n\r\n{")
SLOW_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"


@contextmanager
def trickling(port: int, count: int, start: bytes) -> Iterator[list[bytes]]:
    """``count`` connections that send ``start`` and then one space every 0.2 s until the block
    ends; yields the list that receives what each connection was answered."""
    stop = threading.Event()
    answers: list[bytes] = []

    def run() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(start)
            with suppress(OSError):
                while not stop.wait(0.2):
                    conn.sendall(b" ")
            conn.settimeout(5)
            with suppress(OSError):
                answers.append(conn.recv(200))

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield answers
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)


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
