"""The Flask application factory. Nothing here does I/O at import time."""

from __future__ import annotations

from typing import Any

from flask import Flask

from core.ports import Clock
from core.settings import Settings

from .errors import register_error_handlers
from .services import build_services


def create_app(
    settings: Settings | None = None,
    *,
    store: Any | None = None,
    clock: Clock | None = None,
    keyset: Any | None = None,
    start_scheduler: bool | None = None,
) -> Flask:
    """Build the app: public REST API, admin API, OIDC provider, waiting page and operations endpoints.

    ``store``, ``clock`` and ``keyset`` replace the ones the settings name (tests, Lambda).
    The admission scheduler thread starts when ``start_scheduler`` (default: ``[server] scheduler``).
    """
    settings = settings or Settings.load()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.server.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    services = build_services(settings, store=store, clock=clock, keyset=keyset)
    app.extensions["waitingroom"] = services

    register_error_handlers(app)
    from . import ratelimit, response_hooks

    response_hooks.init_app(app)
    ratelimit.init_app(app)

    from . import admin, api, ops

    app.register_blueprint(ops.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(admin.blueprint, url_prefix=settings.server.admin_prefix)
    from .oidc import blueprint as oidc_blueprint

    app.register_blueprint(oidc_blueprint)
    from . import panel, site_sessions

    app.register_blueprint(site_sessions.blueprint, url_prefix=settings.server.admin_prefix)
    app.register_blueprint(site_sessions.public_blueprint)
    app.register_blueprint(panel.blueprint, url_prefix=settings.server.admin_prefix + "/panel")
    from . import log_redaction

    log_redaction.install()  # after Authlib is imported: its loggers print issued tokens at DEBUG

    if settings.server.scheduler if start_scheduler is None else start_scheduler:
        from .scheduler import start_scheduler as start

        start(app)
    return app
