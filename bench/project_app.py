"""The project's app as gunicorn serves it for the benchmarks: ``bench.project_app:app``.

Settings come from ``WAITINGROOM_CONFIG`` (the TOML file the bench writes) exactly as for
``waitingroom serve``; logging is configured the same way, so the per-request log line and the
metrics are part of what is measured.
"""

from __future__ import annotations

from core.settings import Settings
from oidc_adaptor.app import create_app
from oidc_adaptor.logging_setup import configure_logging

settings = Settings.load()
configure_logging(settings.server.json_logs, settings.server.log_level)
app = create_app(settings)
