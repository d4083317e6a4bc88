"""The visitors' draw check page: ``GET /events/<event_id>/draw/verify[?ticket=TICKET_ID]``.

The page holds no verdict of the server's: its script (``static/draw_verify.js``) fetches the
public draw document (``GET /events/<event_id>/draw``) and recomputes the draw in the visitor's
browser with WebCrypto, the same permutation as :mod:`core.draw`. Without JavaScript it shows
the commitment, the opening time and the ``waitingroom verify-draw`` command to run instead.
404 for an unknown event, 400 for a ``ticket`` that is not a ticket id.
"""

from __future__ import annotations

import time

from flask import Response, make_response, request, url_for

from oidc_adaptor.plumbing import params
from oidc_adaptor.plumbing.services import services

from . import page
from .views import blueprint


def _utc(timestamp: float | None, fmt: str) -> str:
    return "" if timestamp is None else time.strftime(fmt, time.gmtime(timestamp))


@blueprint.get("/events/<event_id>/draw/verify")
def draw_verify(event_id: str) -> Response:
    event_id = params.event_id_from(event_id, "event id in the path")
    room = services().room
    opening = room.opening(event_id)  # UnknownEvent -> 404
    raw_ticket = request.args.get("ticket") or None
    ticket = None if raw_ticket is None else params.ticket_id_from(raw_ticket)
    html = page.render(
        event_id,
        "draw_verify.html",
        event_id=event_id,
        ticket=ticket,
        draw_url=url_for("api.event_draw", event_id=event_id),
        issuer=services().settings.server.issuer,
        commitment=opening.commitment,
        opens_iso=_utc(opening.opens_at, "%Y-%m-%dT%H:%M:%SZ"),
        opens_text=_utc(opening.opens_at, "%Y-%m-%d %H:%M UTC"),
    )
    return make_response(html, 200)
