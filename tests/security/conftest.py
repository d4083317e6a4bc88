"""Fixtures of the security suite: an app with two events, per-event admin keys, OIDC clients and
known secrets, on a temporary SQLite store and a manual clock that starts at the real time."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from core.clock import ManualClock
from core.model import Counters
from oidc_adaptor.app import create_app
from tests.conftest import make_settings

EVENT = "spring-sale"
OTHER = "autumn-sale"
ADMIN_KEY = "global-admin-key-9f8e7d6c5b4a"
EVENT_KEY = "spring-only-key-1a2b3c4d5e6f"
OTHER_KEY = "autumn-only-key-6f5e4d3c2b1a"
CLIENT_SECRET = "shop-client-secret-0123456789abcdef"
SHOP_CB = "https://shop.example/oauth2/idpresponse"
SPA_CB = "http://127.0.0.1:9000/callback"

EVENTS = {
    EVENT: {"name": "Spring sale", "queue_position_expiry": 60, "admin_keys": [EVENT_KEY]},
    OTHER: {"name": "Autumn sale", "admin_keys": [OTHER_KEY]},
}
CLIENTS = {
    "shop": {"event": EVENT, "secret": CLIENT_SECRET, "redirect_uris": [SHOP_CB]},
    "spa": {"event": EVENT, "redirect_uris": [SPA_CB]},
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def build(tmp_path: Path, clock: ManualClock | None = None, *, store: str | None = None,
          server: dict[str, Any] | None = None, **kwargs: Any) -> Flask:
    settings = make_settings(
        tmp_path, store=store,
        server={"admin_keys": [ADMIN_KEY], **(server or {})},
        events=kwargs.pop("events", EVENTS), clients=kwargs.pop("clients", CLIENTS),
    )
    return create_app(settings, clock=clock or ManualClock(start=time.time()), start_scheduler=False, **kwargs)


def counters(app: Flask, event_id: str = EVENT) -> Counters:
    result: Counters = app.extensions["waitingroom"].room.counters(event_id)
    return result


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> Flask:
    return build(tmp_path, clock)
