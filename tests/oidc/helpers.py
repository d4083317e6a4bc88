"""A live provider over real HTTP for client-library tests, and small helpers shared by the suite."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from core.ports import Clock
from oidc_adaptor.app import create_app
from tests.conftest import make_settings
from tests.support import free_port

ADMIN_KEY = "test-admin-key"
EVENT = "spring-sale"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def check_again_url(html: str, base: str) -> str:
    """The "Check again" link of a waiting page (the same authorization URL), made absolute."""
    match = re.search(r'id="wr-check"[^>]*href="([^"]+)"', html)
    assert match, "waiting page has no check-again link"
    return urljoin(base, unescape(match.group(1)))


@dataclass
class ServedApp:
    url: str
    app: Flask
    server: BaseWSGIServer

    def admit(self, count: int = 1, event_id: str = EVENT) -> None:
        """Admit visitors the way an operator does: one admin API call."""
        response = requests.post(
            f"{self.url}/admin/increment_serving_counter",
            json={"event_id": event_id, "increment_by": count},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text

    @property
    def room(self) -> Any:
        return self.app.extensions["waitingroom"].room


def ensure_jwks_route(app: Flask) -> None:
    """The JWKS route belongs to the public API; stand in for it only if it is not there yet."""
    if any(rule.rule == "/.well-known/jwks.json" for rule in app.url_map.iter_rules()):
        return
    signer = app.extensions["waitingroom"].signer
    app.add_url_rule("/.well-known/jwks.json", "test_jwks", lambda: signer.jwks())


@contextmanager
def serve_wsgi(app: Any, port: int) -> Iterator[BaseWSGIServer]:
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=5)


@contextmanager
def live_provider(tmp_path: Path, clients: dict[str, Any], clock: Clock | None = None,
                  **sections: Any) -> Iterator[ServedApp]:
    """The waiting room app served on a free loopback port; the issuer is its real URL. ``clock``
    replaces the system clock."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_section = {"issuer": url, **sections.pop("server", {})}
    settings = make_settings(tmp_path, server=server_section, clients=clients, **sections)
    app = create_app(settings, clock=clock, start_scheduler=False)
    ensure_jwks_route(app)
    with serve_wsgi(app, port) as server:
        yield ServedApp(url, app, server)
