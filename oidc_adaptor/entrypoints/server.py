"""Serving the app with gunicorn, programmatically (``waitingroom serve``).

The master process validates the settings, creates the signing keys and the SQLite schema once
(so workers never race to create them), and sets up prometheus-client's multiprocess directory.
Each worker then builds its own app with :func:`oidc_adaptor.app.create_app` in :meth:`load`,
after the fork: no store connection or thread is ever shared between processes.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from core.settings import Settings
from oidc_adaptor.plumbing.logging_setup import configure_logging
from oidc_adaptor.plumbing.proxies import GUNICORN_OPTIONS

from .arrival_deadline import deadline_worker_class
from .body_framing import framing_errors_as_bad_request

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Must be set before prometheus-client creates any metric, so this module never imports
:mod:`oidc_adaptor.plumbing.metrics` in the master: workers import it after the fork, with the variable set."""

log = logging.getLogger("waitingroom.server")

GRACEFUL_TIMEOUT = 10
WORKER_TIMEOUT = 30


def prepare(settings: Settings, progress: Callable[[str], None] = lambda _m: None) -> None:
    """One-time setup in the master: the keys file, for SQLite the schema, for Redis the check of
    its eviction policy (a refusal is a SettingsError, one line before any worker starts)."""
    from core.adapters.filekeys import FileKeySource
    from core.clock import SystemClock

    keys = FileKeySource(settings.server.keys_file)
    if not keys.path.exists():
        progress(f"waitingroom: creating signing keys in {keys.path} ...")
    keys.ensure(SystemClock().now())
    from core.adapters.stores import REDIS_SCHEMES, open_store

    if settings.server.store.startswith(("sqlite:///", *REDIS_SCHEMES)):
        # a store that cannot be opened (a read-only SQLite directory, a Redis Cluster whose
        # topology cannot be read) raises StoreUnavailable: the command prints one line, exit 3
        store = open_store(settings.server.store, timeout=settings.server.store_timeout,
                           allow_redis_eviction=settings.server.allow_redis_eviction,
                           sqlite_synchronous=settings.server.sqlite_synchronous)
        store.close()


def override_notes(settings: Settings) -> list[str]:
    """One line per event whose admission is changed at run time by overrides kept in the store
    (they outlive restarts and win over the configuration file), or why the store could not be
    asked. Opens the store and closes it again before any worker starts."""
    from core.adapters.stores import open_store
    from core.errors import StoreUnavailable
    from core.room import STATE_CONTROLS

    try:
        store = open_store(settings.server.store, timeout=settings.server.store_timeout)
    except (OSError, ValueError, StoreUnavailable) as exc:
        return [f"cannot read runtime overrides: {exc}"]
    notes = []
    try:
        for event in settings.events.values():
            controls = store.get_control(event.event_id)
            changed = {k: v for k, v in sorted(controls.items()) if k not in STATE_CONTROLS}
            if changed:
                pairs = ", ".join(f"{k}={v!r} (file: {getattr(event.admission, k, None)!r})"
                                  for k, v in changed.items())
                notes.append(f"event {event.event_id}: runtime override(s) win over the file: {pairs}; "
                             "return to the file's values from the control panel")
            if controls.get("paused") == "1":
                notes.append(f"event {event.event_id}: automatic admission is paused")
    except StoreUnavailable as exc:
        notes.append(f"cannot read runtime overrides: {exc}")
    finally:
        store.close()
    return notes


def _multiprocess_dir() -> tuple[str, bool]:
    """The directory for prometheus samples of all workers; created (and later removed) if not set."""
    existing = os.environ.get(MULTIPROC_ENV)
    if existing:
        Path(existing).mkdir(parents=True, exist_ok=True)
        for stale in Path(existing).glob("*.db"):  # samples of an earlier run would be added in
            stale.unlink()
        return existing, False
    path = tempfile.mkdtemp(prefix="waitingroom-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path, True


class WaitingRoomServer(BaseApplication):
    """Gunicorn with our options and an app built per worker."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 27: no shared ~/.gunicorn socket
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Any:
        configure_logging(self.settings.server.json_logs, self.settings.server.log_level, buffered=True)
        from oidc_adaptor.app import create_app

        app = create_app(self.settings)
        app.wsgi_app = framing_errors_as_bad_request(app.wsgi_app)  # type: ignore[method-assign,assignment]
        return app


class RootLogger(GunicornLogger):
    """Gunicorn's own messages (starting, booting workers, worker timeouts) through the process's
    log handler, so with ``json_logs`` they are JSON lines like every other, not plain text."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True


def _child_exit(server: Any, worker: Any) -> None:
    from oidc_adaptor.plumbing.metrics import mark_worker_dead

    mark_worker_dead(worker.pid)


def run_gunicorn(settings: Settings, *, host: str, port: int, workers: int, threads: int = 4) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status."""
    configure_logging(settings.server.json_logs, settings.server.log_level)
    metrics_dir, remove_after = _multiprocess_dir()
    options: dict[str, Any] = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": deadline_worker_class(settings.server.request_timeout),  # gthread, slow clients bounded
        "threads": threads,
        "timeout": WORKER_TIMEOUT,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "keepalive": 5,
        "accesslog": None,  # the app logs each request itself, without query strings
        "errorlog": "-",
        "logger_class": RootLogger,
        "loglevel": settings.server.log_level.lower(),
        "proc_name": "waitingroom",
        "child_exit": _child_exit,
        "preload_app": False,
        **GUNICORN_OPTIONS,  # forwarded headers: [server] trusted_proxies decides, in the app
    }
    master = os.getpid()
    try:
        WaitingRoomServer(settings, options).run()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    finally:
        # A gunicorn worker is a fork of this call: when it exits, its SystemExit unwinds through
        # here too. Only the master may remove the directory; a worker that did (one replaced after
        # a timeout, or the first to stop) took every other worker's samples with it, and its
        # replacement failed to open its own file on every metrics flush and every scrape.
        if remove_after and os.getpid() == master:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
