"""Unguessable identifiers for the hot paths, from the operating system's CSPRNG in batches.

``secrets.token_urlsafe`` makes one ``getrandom`` system call per identifier, and CPython gives
up the GIL around it; in a server thread that means waiting to get the GIL back from the other
request threads, which cost a busy worker more than the rest of making a place in line. This
module draws :data:`CHUNK` bytes from ``os.urandom`` at a time and hands them out in order, each
byte once: the identifiers are exactly as unpredictable, one system call serves a few hundred.

Each byte is handed out once per process: a lock guards the position, and a forked child
(gunicorn workers are forks of one master) throws away the batch it inherited, so two workers
never hand out the same bytes.
"""

from __future__ import annotations

import base64
import os
import threading

CHUNK = 8192
"""Bytes drawn from the OS per system call (341 request ids of 24 bytes)."""


class _Pool:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # A fresh lock too: one held by another thread at fork time would stay held in the child.
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0

    def take(self, size: int) -> bytes:
        if size > CHUNK // 4:
            return os.urandom(size)
        with self._lock:
            start = self._offset
            if start + size > len(self._buffer):
                self._buffer = os.urandom(CHUNK)
                start = 0
            self._offset = start + size
            return self._buffer[start:start + size]


_pool = _Pool()
os.register_at_fork(after_in_child=_pool._reset)


def token_bytes(size: int) -> bytes:
    """``size`` random bytes, like :func:`secrets.token_bytes`."""
    return _pool.take(size)


def token_urlsafe(size: int) -> str:
    """``size`` random bytes as unpadded base64url text, like :func:`secrets.token_urlsafe`."""
    return base64.urlsafe_b64encode(_pool.take(size)).rstrip(b"=").decode("ascii")
