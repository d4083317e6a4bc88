"""Per-request metrics and request logs.

Routes are labelled by their URL rule (``/queue_num``, ``/admin/events/<event_id>/counts``),
never by the raw path, so metrics keep a bounded set of labels; unmatched paths share the label
``unmatched``. Request logs carry the path without its query string, because the query string
of ``/queue_num`` holds the request id that proves a place in line.

:class:`RequestTimer` notes when each request arrived; :func:`observe` is called by the app's
response hook (:mod:`oidc_adaptor.plumbing.response_hooks`) once the response is final.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Request, Response

from .metrics import observe_request

log = logging.getLogger("waitingroom.request")

STARTED = "waitingroom.started"
"""WSGI environ key: ``time.perf_counter()`` when the request reached the app."""

QUIET_ROUTES = frozenset({"/metrics", "/healthz", "/readyz"})
"""Never logged per request."""

HIGH_VOLUME_ROUTES = frozenset({"/assign_queue_num", "/serving_num", "/waiting_num", "/queue_num",
                                "/generate_token", "/authorize", "/authorize/status", "/token",
                                "/events/<event_id>/status", "/userinfo", "/userInfo"})
"""What every visitor calls, once (entering the line; getting its tokens: ``/generate_token``,
or ``/authorize`` and the relying party's ``/token`` call) or over and over (polling, the
waiting page's refreshes, and a relying party reading /userinfo for each visitor it signs in
and again as it refreshes): a successful answer is logged at DEBUG, not INFO. A burst of a
million visitors entering in a minute, a line of a million polling every few seconds, or a
million admitted visitors signing in over ten minutes must not turn into millions of log lines,
and such a line would say nothing the request metrics (which count each request, by route and
status) do not. Failures are logged at INFO like any request (a refused code, a bad client); a
replayed code is a WARNING of its own; admin calls stay INFO."""


class RequestTimer:
    """WSGI middleware: records the arrival time of each request in its environ."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[STARTED] = time.perf_counter()
        return self.app(environ, start_response)


def observe(request: Request, response: Response) -> None:
    """Count the request in the metrics and write its log line (see :data:`HIGH_VOLUME_ROUTES`)."""
    started = request.environ.get(STARTED)
    seconds = time.perf_counter() - started if started is not None else 0.0
    rule = request.url_rule
    route = rule.rule if rule is not None else "unmatched"
    status = response.status_code
    observe_request(route, request.method, status, seconds)
    if route in QUIET_ROUTES:
        return
    level = logging.DEBUG if route in HIGH_VOLUME_ROUTES and status < 400 else logging.INFO
    if log.isEnabledFor(level):
        path = request.path
        log.log(level, "%s %s %s", request.method, path, status, extra={
            "method": request.method, "route": route, "path": path, "status": status,
            "duration_ms": round(seconds * 1000, 2),
        })
