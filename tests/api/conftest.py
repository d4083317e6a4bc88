"""Fixtures for the REST API tests: an app on a temporary SQLite store with a manual clock, and a
test client that checks every response against the OpenAPI document."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.clock import ManualClock
from core.errors import StoreUnavailable
from core.tokens import KeySet, SigningKey
from oidc_adaptor.app import create_app

from ..conftest import make_settings
from .openapi_check import check_response

EVENT = "spring-sale"
ADMIN_KEY = "test-admin-key"
SEEN: set[tuple[str, str, int]] = set()
"""(method, path template, status) of every response the checked clients saw in this process."""


class CheckedClient(FlaskClient):
    """A test client whose every response must match ``oidc_adaptor/openapi.json``."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        request = response.request
        if request.method != "OPTIONS":
            template = check_response(
                request.method, request.path, response.status_code, response.headers,
                response.content_type or "", response.get_data(),
            )
            SEEN.add((request.method, template, response.status_code))
        return response


@cache
def shared_keyset() -> KeySet:
    """One RSA key for the whole run: generating a key per test would dominate the suite's time."""
    return KeySet([SigningKey.generate(0.0)])


def build_app(tmp_path: Path, clock: ManualClock, **kwargs: Any) -> Flask:
    store = kwargs.pop("store", None)
    settings = kwargs.pop("settings", None) or make_settings(tmp_path, **kwargs)
    app = create_app(settings, clock=clock, store=store, keyset=shared_keyset())
    app.test_client_class = CheckedClient
    return app


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> Flask:
    return build_app(tmp_path, clock)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


class UnavailableStore:
    """A store whose backend is down: every call raises StoreUnavailable."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise StoreUnavailable("the store is unreachable (test)")

        return fail


@pytest.fixture
def down_client(tmp_path: Path, clock: ManualClock) -> FlaskClient:
    return build_app(tmp_path, clock, store=UnavailableStore()).test_client()


def enter(client: FlaskClient, event_id: str = EVENT, **kwargs: Any) -> dict[str, Any]:
    response = client.post("/assign_queue_num", json={"event_id": event_id}, **kwargs)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json
    return body


def advance(client: FlaskClient, by: int, event_id: str = EVENT) -> int:
    response = client.post(
        "/admin/increment_serving_counter", json={"event_id": event_id, "increment_by": by},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert response.status_code == 200, response.json
    return int(response.json["serving_counter"])
