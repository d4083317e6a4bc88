"""The operator's control panel, served under the admin prefix (``{admin_prefix}/panel``).

The page itself is public HTML and JavaScript with no data in it: the operator signs in by
pasting an admin API key, which the script keeps in ``sessionStorage`` (gone when the tab
closes) and sends as ``Authorization: Bearer`` to the admin API. Every number the page shows
and every action it takes goes through that authenticated API, so the panel grants nothing the
key does not.

Besides the page, this blueprint adds the one read the admin API lacks for the chart: the
serving counter's history (``GET {admin_prefix}/panel/history``).

May import :mod:`core`, :mod:`oidc_adaptor.plumbing` and :mod:`oidc_adaptor.background`;
``aws_proxy`` is a separate local tool.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from oidc_adaptor.background import waiting_history
from oidc_adaptor.plumbing import security_headers
from oidc_adaptor.plumbing.auth import query_event, require_event_admin
from oidc_adaptor.plumbing.services import services

blueprint = Blueprint(
    "panel",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

HISTORY_WINDOW = 3600.0
"""The chart shows the last hour."""

MAX_POINTS = 720
"""Enough for one point every five seconds over an hour; older detail is thinned out."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)

PANEL_HEADERS = (("Content-Security-Policy", CONTENT_SECURITY_POLICY), ("X-Content-Type-Options", "nosniff"),
                 ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"))
"""What every panel response carries unless its view set the header itself."""


@blueprint.after_request
def _security_headers(response: Response) -> Response:
    security_headers.fill_missing(response.headers, PANEL_HEADERS)
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("")
@blueprint.get("/")
def page() -> str:
    """The panel page. It carries no data: everything is fetched with the operator's admin key."""
    waitingroom = current_app.extensions.get("waitingroom")
    prefix = waitingroom.settings.server.admin_prefix if waitingroom else current_app.config["PANEL_ADMIN_PREFIX"]
    return render_template("panel/index.html", admin_prefix=prefix)


@blueprint.get("/history")
@require_event_admin(query_event)
def history() -> Response:
    """The serving counter over the last hour: ``{"points": [[time, serving], ...]}``, oldest first.

    Each point is a moment the counter moved; a last point at ``now`` holds the current value,
    so a chart can draw steps up to the right edge. ``waiting`` is ``[[time, waiting], ...]``,
    sampled by the scheduler every few seconds (:mod:`oidc_adaptor.background.waiting_history`),
    so the chart shows the line from before the panel was opened.
    """
    room = services().room
    event_id = request.args.get("event_id", "")
    room.event(event_id)  # UnknownEvent -> 404
    now = room.clock.now()
    since = now - HISTORY_WINDOW
    points = room.store.serving_history(event_id, since)
    if len(points) > MAX_POINTS:
        step = len(points) / MAX_POINTS
        points = [points[int(i * step)] for i in range(MAX_POINTS)] + [points[-1]]
    counters = room.counters(event_id)
    points.append((now, counters.serving))
    return jsonify(
        event_id=event_id,
        now=now,
        since=since,
        points=[[round(t, 3), s] for t, s in points],
        serving_counter=counters.serving,
        last_position=counters.last_position,
        waiting=[*waiting_history.waiting_history(room, event_id), [round(now, 3), counters.waiting]],
    )
