"""Logging configuration: plain text by default, one JSON object per line with ``[server] json_logs``.

Records may carry extra fields (``extra={...}``); the JSON formatter emits them as keys. Nothing
in this project passes a token, a request id, a client secret or an admin key to a log call; the
formatter also drops any extra field whose name says it holds one, as a second line of defence.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
_SECRET_WORDS = ("token", "secret", "password", "authorization", "request_id", "key_value", "cookie")

HANDLER_NAME = "waitingroom"


def _safe_extras(record: logging.LogRecord) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for name, value in record.__dict__.items():
        if name in _STANDARD or name.startswith("_"):
            continue
        if any(word in name.lower() for word in _SECRET_WORDS):
            continue
        extras[name] = value
    return extras


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


def configure_logging(json_logs: bool = False, level: str = "INFO") -> None:
    """Install one stderr handler on the root logger (replacing an earlier one of ours)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if json_logs else PlainFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
