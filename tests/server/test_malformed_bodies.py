"""A chunked body whose framing is broken, sent to a real ``waitingroom serve``: the server
decodes chunks while the app reads them, and a framing error is the client's (400), never a 500
with a traceback in the log."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from ..support import serve_process, server_config

pytestmark = pytest.mark.slow

HEAD = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: %s\r\nConnection: close\r\n\r\n")
BROKEN = {
    "chunk size not hex": b"zz\r\n{}\r\n0\r\n\r\n",
    "chunk without its CRLF": b"2\r\n{}XX0\r\n\r\n",
    "bad chunk extension": b"2;\x01\r\n{}\r\n0\r\n\r\n",
}
TARGETS = [(b"/assign_queue_num", b"application/json"), (b"/token", b"application/x-www-form-urlencoded")]


def _answer(port: int, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_broken_chunked_bodies_are_400_with_a_json_error(tmp_path: Path) -> None:
    with serve_process(server_config(tmp_path), workers=1) as server:
        for path, content_type in TARGETS:
            for name, body in BROKEN.items():
                status, payload = _answer(server.port, HEAD % (path, content_type) + body)
                assert status == 400, (path, name, status, payload[:200])
                assert json.loads(payload)["error"], (path, name, payload[:200])
        log = server.log_text()
    assert "Traceback" not in log, log[-3000:]
