"""Compact JSON bodies for the answers every visitor polls, without ``jsonify``'s generality."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

_ENCODER = json.JSONEncoder(separators=(",", ":"))
"""The compact, key-order-keeping, ASCII-only encoding ``jsonify`` uses, made once (``json.dumps``
with options builds a new encoder per call)."""


def json_bytes(value: dict[str, Any]) -> bytes:
    """``value`` serialised as ``jsonify`` would (plain JSON types only)."""
    return (_ENCODER.encode(value) + "\n").encode()


def json_response(value: dict[str, Any]) -> Response:
    """What ``jsonify(value)`` returns."""
    return Response(json_bytes(value), mimetype="application/json")
