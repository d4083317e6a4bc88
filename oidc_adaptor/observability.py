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

HIGH_VOLUME_ROUTES = frozenset({"/assign_queue_num", "/serving_num", "/waiting_num", "/queue_num",
                                "/authorize/status"})
"""What every visitor calls, once (entering the line) or over and over (polling): a successful
answer is logged at DEBUG, not INFO. A burst of a million visitors entering in a minute, or a
line of a million polling every few seconds, must not turn into a million log lines, and such a
line would say nothing the request metrics (which count each request, by route and status) do
not. Failures are logged at INFO like any request; admin calls, tokens and sign-ins stay INFO."""


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        seconds = time.perf_counter() - started if started is not None else 0.0
        current = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup, not five
        rule = current.url_rule
        route = rule.rule if rule is not None else "unmatched"
        status = response.status_code
        observe_request(route, current.method, status, seconds)
        if route in QUIET_ROUTES:
            return response
        level = logging.DEBUG if route in HIGH_VOLUME_ROUTES and status < 400 else logging.INFO
        if log.isEnabledFor(level):
            path = current.path
            log.log(level, "%s %s %s", current.method, path, status, extra={
                "method": current.method, "route": route, "path": path, "status": status,
                "duration_ms": round(seconds * 1000, 2),
            })
        return response
