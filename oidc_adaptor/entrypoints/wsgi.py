"""The WSGI entry point for any WSGI server: ``gunicorn oidc_adaptor.wsgi:app``.

Settings come from ``WAITINGROOM_CONFIG`` and ``WAITINGROOM_*`` variables. Importing this module
does no I/O: the app is built on the first request, in the process that serves it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask


class LazyApp:
    """A WSGI callable that builds the Flask app on first use, once per process."""

    def __init__(self, factory: Callable[[], Flask] | None = None) -> None:
        self._factory = factory
        self._app: Flask | None = None
        self._lock = threading.Lock()

    def get(self) -> Flask:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = (self._factory or _default_factory)()
        return self._app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.get()(environ, start_response)


def _default_factory() -> Flask:
    from core.settings import Settings
    from oidc_adaptor.app import create_app
    from oidc_adaptor.plumbing.logging_setup import configure_logging

    settings = Settings.load()
    configure_logging(settings.server.json_logs, settings.server.log_level)
    return create_app(settings)


app = LazyApp()
