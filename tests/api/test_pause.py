"""Paused means nothing automatic lets anyone in: not the admission strategy, not the sweep's
replacement of expired places. Places that expired during a pause are replaced on resume."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from core.clock import ManualClock
from oidc_adaptor.background.scheduler import AdmissionScheduler

from .conftest import EVENT, advance, enter


def counts(client: FlaskClient, admin: dict[str, str]) -> dict[str, object]:
    body: dict[str, object] = client.get(f"/admin/events/{EVENT}/counts", headers=admin).json
    return body


def test_the_sweep_admits_nobody_during_a_pause_and_replaces_on_resume(
    app: Flask, client: FlaskClient, admin: dict[str, str], clock: ManualClock
) -> None:
    scheduler = AdmissionScheduler(app.extensions["waitingroom"].room)
    for _ in range(10):
        enter(client)
    advance(client, 3)
    assert client.post(f"/admin/events/{EVENT}/pause", headers=admin).status_code == 200
    clock.advance(70)  # past the 60 s claim window (and the clock skew allowed): the three expire
    scheduler.run_once()
    clock.advance(1)
    scheduler.run_once()
    now = counts(client, admin)
    assert (now["expired"], now["serving_counter"], now["paused"]) == (3, 3, True)
    assert client.post(f"/admin/events/{EVENT}/resume", headers=admin).status_code == 200
    clock.advance(1)
    scheduler.run_once()
    assert counts(client, admin)["serving_counter"] == 6  # the three expired places, replaced once
    clock.advance(1)
    scheduler.run_once()
    assert counts(client, admin)["serving_counter"] == 6


def test_without_a_pause_expired_places_are_replaced_at_once(
    app: Flask, client: FlaskClient, admin: dict[str, str], clock: ManualClock
) -> None:
    scheduler = AdmissionScheduler(app.extensions["waitingroom"].room)
    for _ in range(10):
        enter(client)
    advance(client, 3)
    clock.advance(70)
    scheduler.run_once()
    assert counts(client, admin)["serving_counter"] == 6
