"""The Flask application factory. Nothing here does I/O at import time."""

from __future__ import annotations

from typing import Any

from flask import Flask

from core.ports import Clock
from core.settings import Settings, SettingsError

from .plumbing.errors import register_error_handlers
from .plumbing.services import build_services


def check_settings(settings: Settings) -> None:
    """Every check of the settings that :func:`create_app` makes, without any I/O: the store URL
    names a store kind, and every configured client is valid (redirect URIs included). Raises
    SettingsError with a one-line reason.

    ``waitingroom check-config`` and ``waitingroom serve`` (before it starts any worker) call
    this too, so both accept exactly the configurations an app can be built from.
    """
    from core.adapters.stores import check_store_url

    from .oidc.clients import client_from_settings

    try:
        check_store_url(settings.server.store)
    except ValueError as exc:
        raise SettingsError(f"[server] store: {exc}") from None
    for client in settings.clients.values():
        client_from_settings(client, settings.events)


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
    check_settings(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.server.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    services = build_services(settings, store=store, clock=clock, keyset=keyset)
    app.extensions["waitingroom"] = services

    register_error_handlers(app)
    from . import admin_api, ops, panel, rest_api
    from .admin_api import site_sessions
    from .oidc import blueprint as oidc_blueprint
    from .plumbing import i18n, log_redaction, oauth_params, proxies, ratelimit, response_hooks

    response_hooks.init_app(app, cors_blueprint=rest_api.blueprint.name)
    proxies.trust_proxies(app, settings.server.trusted_proxies)
    ratelimit.init_app(app)
    oauth_params.init_app(app)
    i18n.init_app(app)

    app.register_blueprint(ops.blueprint)
    app.register_blueprint(rest_api.blueprint)
    app.register_blueprint(admin_api.blueprint, url_prefix=settings.server.admin_prefix)
    app.register_blueprint(oidc_blueprint)
    app.register_blueprint(site_sessions.blueprint, url_prefix=settings.server.admin_prefix)
    app.register_blueprint(site_sessions.public_blueprint)
    app.register_blueprint(panel.blueprint, url_prefix=settings.server.admin_prefix + "/panel")
    log_redaction.install()  # after Authlib is imported: its loggers print issued tokens at DEBUG

    if settings.server.scheduler if start_scheduler is None else start_scheduler:
        from .background.scheduler import start_scheduler as start

        start(app)
    return app
