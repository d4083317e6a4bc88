"""Logging configuration: plain text by default, one JSON object per line with ``[server] json_logs``.

Records may carry extra fields (``extra={...}``); the JSON formatter emits them as keys. Nothing
in this project passes a token, a request id, a client secret or an admin key to a log call; the
formatter also drops any extra field whose name says it holds one, as a second line of defence.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import sys
import threading
import time
from typing import Any, TextIO

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
_SECRET_WORDS = ("token", "secret", "password", "authorization", "request_id", "key_value", "cookie")

HANDLER_NAME = "waitingroom"


@functools.lru_cache(maxsize=1024)
def _is_emitted_extra(name: str) -> bool:
    """Whether a record attribute is an extra field to print: not a standard attribute, not
    private, and not named like something secret. Cached: records carry the same few names."""
    if name in _STANDARD or name.startswith("_"):
        return False
    lowered = name.lower()
    return not any(word in lowered for word in _SECRET_WORDS)


def _safe_extras(record: logging.LogRecord) -> dict[str, Any]:
    return {name: value for name, value in record.__dict__.items() if _is_emitted_extra(name)}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_safe_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = _safe_extras(record)
        if extras:
            text += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return text


class BufferedStderrHandler(logging.StreamHandler):
    """Writes records to standard error in batches instead of one ``write`` per record.

    A server thread that makes a system call gives up the GIL and then waits to get it back
    from the other request threads; one ``write`` per request log line cost a busy worker more
    than formatting the line did. Here a request only appends its line to a buffer; a
    background thread writes what has gathered every ``interval`` seconds. Records at WARNING
    and above are written at once, with whatever was buffered before them, so errors are never
    late. :meth:`close` (run by ``logging.shutdown`` at interpreter exit) writes the rest; only
    a process killed outright can lose the last ``interval`` of lines.

    Meant for long-running server processes (gunicorn workers). Lambda, which freezes the
    process between invocations, keeps the plain handler.
    """

    def __init__(self, interval: float = 0.2, fd: int | None = None) -> None:
        stream: TextIO = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(sys.stderr.fileno() if fd is None else fd, "w", closefd=False),
                              buffer_size=1 << 16),
            encoding="utf-8", errors="backslashreplace", line_buffering=False, write_through=False,
        )
        super().__init__(stream)
        self.interval = interval
        self._pending = threading.Event()
        self._pid = os.getpid()
        self._flusher = threading.Thread(target=self._flush_periodically, name="log-flusher", daemon=True)
        self._flusher.start()

    def flush(self) -> None:
        """Called by ``emit`` after every record: only note that something waits to be written."""
        self._pending.set()

    def write_out(self) -> None:
        """Write everything buffered so far."""
        # OSError/ValueError: stderr closed or gone, so there is nothing left to write logs to
        with self.lock, contextlib.suppress(OSError, ValueError):  # type: ignore[union-attr]
            self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.WARNING:
            self.write_out()

    def close(self) -> None:
        if os.getpid() == self._pid:  # a forked child must not write its parent's buffered lines
            self.write_out()
        super().close()

    def _flush_periodically(self) -> None:
        while True:
            self._pending.wait()
            time.sleep(self.interval)
            self._pending.clear()
            self.write_out()


def configure_logging(json_logs: bool = False, level: str = "INFO", *, buffered: bool = False) -> None:
    """Install one stderr handler on the root logger (replacing an earlier one of ours).

    ``buffered`` writes lines in batches (see :class:`BufferedStderrHandler`); server workers
    use it, everything else writes each line as it comes.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
            handler.close()
    handler = BufferedStderrHandler() if buffered else logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if json_logs else PlainFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
