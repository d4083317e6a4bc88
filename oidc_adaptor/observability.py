"""Per-request metrics and request logs, installed on the app by :func:`init_app`.

Routes are labelled by their URL rule (``/queue_num``, ``/admin/events/<event_id>/counts``),
never by the raw path, so metrics keep a bounded set of labels; unmatched paths share the label
``unmatched``. Request logs carry the path without its query string, because the query string
of ``/queue_num`` holds the request id that proves a place in line.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from .metrics import observe_request

log = logging.getLogger("waitingroom.request")

QUIET_ROUTES = frozenset({"/metrics", "/healthz", "/readyz"})
"""Never logged per request."""

POLL_ROUTES = frozenset({"/serving_num", "/waiting_num", "/queue_num", "/authorize/status"})
"""What every waiting visitor calls over and over: a successful answer is logged at DEBUG, not
INFO, so a line of a million visitors does not turn into a million log lines every few seconds
(the request metrics still count each one). Failures are logged at INFO like any request."""


def route_label() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        seconds = time.perf_counter() - started if started is not None else 0.0
        route = route_label()
        observe_request(route, request.method, response.status_code, seconds)
        if route in QUIET_ROUTES:
            return response
        level = logging.DEBUG if route in POLL_ROUTES and response.status_code < 400 else logging.INFO
        if log.isEnabledFor(level):
            log.log(
                level,
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "route": route,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
        return response
