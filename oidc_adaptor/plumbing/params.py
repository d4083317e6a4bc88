"""Parsing and validating REST input: JSON bodies and query parameters.

Every helper raises :class:`oidc_adaptor.plumbing.errors.BadRequest` (HTTP 400) with a message naming the
field, so views never see malformed input and client mistakes never become a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from flask import request

from core.model import EVENT_ID_PATTERN, REQUEST_ID_PATTERN
from core.settings import parse_instant

from .errors import BadRequest

MAX_STRING = 1024
"""No string field of the REST API is longer; longer values are rejected before any lookup."""


def request_parameters() -> list[tuple[str, str]]:
    """The request's parameters as (name, value) pairs in order: those of its URI, then, for a
    POST, those of its form, as Flask's ``request.values`` reads them. A POSTed request made
    again as a GET (``urlencode`` of these) carries all of them."""
    pairs = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
    if request.method == "POST":
        pairs += request.form.items(multi=True)
    return pairs


def json_object() -> dict[str, Any]:
    """The request body as a JSON object. An empty body counts as ``{}``.

    Any content type is accepted (clients of the AWS solution do not always send one); the body
    must be UTF-8 JSON whose top level is an object. Bodies above ``[server] max_body_bytes``
    are rejected by Flask with 413 before they are read.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("the request body is not valid UTF-8") from None
    except RecursionError:
        raise BadRequest("the request body is nested too deeply") from None
    except ValueError:
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("the request body must be a JSON object")
    return value


def _string(name: str, value: Any, required: bool) -> str | None:
    if value is None:
        if required:
            raise BadRequest(f"'{name}' is required")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string")
    if len(value) > MAX_STRING:
        raise BadRequest(f"'{name}' is too long")
    return value


def query_string(name: str, required: bool = True) -> str | None:
    values = request.args.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"'{name}' must be given once")
    return _string(name, values[0] if values else None, required)


def _matching(name: str, value: Any, pattern: re.Pattern[str], what: str) -> str:
    text = _string(name, value, required=True)
    assert text is not None
    if not pattern.match(text):
        raise BadRequest(f"'{name}' is not a valid {what}")
    return text


def event_id_from(value: Any, name: str = "event_id") -> str:
    """A syntactically valid event id (unknown ids are a 404 raised later by the room)."""
    return _matching(name, value, EVENT_ID_PATTERN, "event id")


TICKET_ID_PATTERN = re.compile(r"^t_[A-Za-z0-9_-]{24}$")
"""A public ticket id (:func:`core.model.ticket_id_for`): ``t_`` and 18 bytes of URL-safe base64."""


def ticket_id_from(value: Any, name: str = "ticket") -> str:
    return _matching(name, value, TICKET_ID_PATTERN, "ticket id")


def request_id_from(value: Any, name: str = "request_id") -> str:
    return _matching(name, value, REQUEST_ID_PATTERN, "request id")


def query_event_id() -> str:
    return event_id_from(query_string("event_id"))


def query_request_id() -> str:
    return request_id_from(query_string("request_id"))


def body_string(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    return _string(name, body.get(name), required)


def body_int(
    body: dict[str, Any], name: str, *, required: bool = True, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    """A whole number (JSON number without a fraction; ``true``/``false`` and strings are rejected)."""
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"'{name}' is required")
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"'{name}' must be a whole number")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "" if minimum is None else f" >= {minimum}"
        high = "" if maximum is None else f" <= {maximum}"
        raise BadRequest(f"'{name}' must be{low}{' and' if low and high else ''}{high}")
    return value


def body_instant(body: dict[str, Any], name: str) -> float | str | None:
    """An optional point in time: POSIX seconds, or an ISO 8601 date-time with an offset
    (``2026-03-01T09:00:00Z``); ``""`` stands for "no time" and is returned as it is."""
    value = body.get(name)
    if value is None or value == "":
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not 0 < value < 10**11:
        raise BadRequest(f"'{name}' must be a date-time like 2026-03-01T09:00:00Z or POSIX seconds")
    try:
        return parse_instant(value, f"'{name}'")
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def body_number(body: dict[str, Any], name: str, *, minimum_exclusive: float = 0.0) -> float | None:
    """An optional positive number (seconds)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise BadRequest(f"'{name}' must be a number")
    if value <= minimum_exclusive or value > 10**9:
        raise BadRequest(f"'{name}' must be a number > {minimum_exclusive:g}")
    return float(value)
