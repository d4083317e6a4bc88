"""A code redemption that fails with 503 neither burns the code nor revokes the visitor.

The token endpoint redeems a code and opens its session in one store step (two on DynamoDB and
Redis Cluster). When that step fails, or acts but its answer is lost, the client gets 503 and
retries the same code: the retry must complete the issue (once: at most one token response ever
succeeds per code) and must not pass for a replay, which would revoke the visitor's session. A
real replay, after a successful token response, still revokes. Run on every store, with the
failure injected at each exact store step of the redemption.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from core.clock import ManualClock
from core.errors import StoreUnavailable
from oidc_adaptor.app import create_app
from oidc_adaptor.oidc.codes import CODE_NAMESPACE
from tests.aws.moto_server import moto_endpoint  # noqa: F401 - the DynamoDB store's fixture
from tests.conftest import make_settings
from tests.contract.conftest import STORES
from tests.contract.helpers import run_concurrently
from tests.contract.lossy_proxy import Trap
from tests.contract.test_redis_lost_reply import _cluster, _one_server

from .conftest import CLIENTS, Flow
from .helpers import EVENT, pkce_pair

STEPS = [
    # (store, the store step that fails): one step where the store redeems and opens the session
    # together, each of the two steps where it cannot.
    ("sqlite", "redeem_for_session"),
    ("redis", "redeem_for_session"),
    ("redis-cluster", "redeem"),
    ("redis-cluster", "issue_session"),
    ("dynamodb", "redeem"),
    ("dynamodb", "issue_session"),
]
MODES = {
    "failed": "the step did nothing and raised StoreUnavailable",
    "answer lost": "the step acted, then its answer was lost (StoreUnavailable)",
}


@pytest.fixture(params=STEPS, ids=[f"{name}-{step}" for name, step in STEPS])
def store_step(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    name, step = request.param
    store, _url = STORES[name](request, tmp_path)
    try:
        yield store, step
    finally:
        store.close()


@pytest.fixture
def app(store_step: tuple[Any, str], tmp_path: Path) -> Flask:
    return create_app(make_settings(tmp_path, clients=CLIENTS), store=store_step[0],
                      clock=ManualClock(start=time.time()), start_scheduler=False)


def fail_once(store: Any, step: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the store's next call of ``step`` fail as ``mode`` says; returns the list the
    failure is recorded in (to check that it happened)."""
    real = getattr(store, step)
    failed: list[str] = []

    def once(*args: Any, **kwargs: Any) -> Any:
        if failed:
            return real(*args, **kwargs)
        failed.append(step)
        if mode == "answer lost":
            real(*args, **kwargs)
        raise StoreUnavailable(f"{step}: {MODES[mode]} (test)")

    monkeypatch.setattr(store, step, once)
    return failed


def admitted_code(flow: Flow) -> str:
    assert flow.authorize().status_code == 200
    flow.admit()
    return flow.code()


def userinfo(flow: Flow, access_token: str) -> int:
    return flow.browser.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_retry_after_a_failed_redemption_gets_the_tokens_once(
        app: Flask, store_step: tuple[Any, str], mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store, step = store_step
    flow = Flow(app)
    room = flow.room
    code = admitted_code(flow)
    failed = fail_once(store, step, mode, monkeypatch)

    first = flow.redeem(code)
    assert failed == [step]
    assert first.status_code == 503 and first.headers.get("Retry-After"), first.get_json()
    assert room.counters(EVENT).abandoned == 0  # nothing revoked

    # Another verifier cannot complete the issue, nor burn the code, nor revoke anything.
    wrong = flow.redeem(code, verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"

    retry = flow.redeem(code)
    assert retry.status_code == 200, retry.get_json()
    access = retry.get_json()["access_token"]
    assert userinfo(flow, access) == 200
    assert room.counters(EVENT).issued == 1 and room.counters(EVENT).abandoned == 0

    # The code is used now: a replay after this successful token response gets nothing and
    # revokes what the code issued.
    replay = flow.redeem(code)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert userinfo(flow, access) == 401
    assert room.counters(EVENT).abandoned == 1


def test_signing_that_fails_after_the_redemption_leaves_the_code_to_the_retry(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The keys can be unreachable too (Secrets Manager): the store step succeeded, the tokens
    were never signed, so the code is released and the retry gets them."""
    flow = Flow(app)
    code = admitted_code(flow)
    signer = flow.room.signer
    real = signer.sign
    failed: list[bool] = []

    def sign_fails_once(claims: Any) -> str:
        if not failed:
            failed.append(True)
            raise StoreUnavailable("the key set cannot be read (test)")
        return real(claims)

    monkeypatch.setattr(signer, "sign", sign_fails_once)
    assert flow.redeem(code).status_code == 503 and failed
    retry = flow.redeem(code)
    assert retry.status_code == 200, retry.get_json()
    assert flow.room.counters(EVENT).abandoned == 0
    assert flow.redeem(code).get_json()["error"] == "invalid_grant"
    assert userinfo(flow, retry.get_json()["access_token"]) == 401


def test_concurrent_retries_after_a_lost_answer_get_one_token_response(
        app: Flask, store_step: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    store, step = store_step
    flow = Flow(app)
    code = admitted_code(flow)
    fail_once(store, step, "answer lost", monkeypatch)
    assert flow.redeem(code).status_code == 503
    answers = run_concurrently(4, lambda _: flow.redeem(code))
    statuses = sorted(a.status_code for a in answers)  # type: ignore[union-attr]
    # One succeeds, or none: on a store that redeems and issues in two steps, a presentation
    # that lands between them is a replay that refuses the issue under way. The others are
    # replays, refused; the session is revoked, as RFC 6749 section 4.1.2 asks of a code
    # presented twice.
    assert statuses in ([200, 400, 400, 400], [400, 400, 400, 400])
    assert all(a.get_json()["error"] == "invalid_grant" for a in answers if a.status_code == 400)  # type: ignore[union-attr]
    assert flow.room.counters(EVENT).issued <= 1


LOST_REPLIES = [("one server", "the redemption script"), ("cluster", "the redeem step"), ("cluster", "the issue step")]


@pytest.mark.parametrize(("where", "step"), LOST_REPLIES, ids=[f"{w}-{s}" for w, s in LOST_REPLIES])
def test_a_redis_reply_lost_after_the_script_ran_leaves_the_code_to_the_retry(
        request: pytest.FixtureRequest, tmp_path: Path, where: str, step: str) -> None:
    """The real thing on Redis: a TCP proxy between the store and the server drops the
    connection after the server ran the step and before its reply came back. The store says
    503 (it never resends such a command); the retry of the code gets the tokens, once."""
    trap = Trap()
    stores = (_one_server if where == "one server" else _cluster)(request, trap, 5.0)
    store = next(stores)
    try:
        app = create_app(make_settings(tmp_path, clients=CLIENTS), store=store,
                         clock=ManualClock(start=time.time()), start_scheduler=False)
        warm = Flow(app)  # a flow first, so every script is loaded: the reply lost is the step's own
        assert warm.redeem(admitted_code(warm)).status_code == 200
        flow = Flow(app)
        code = admitted_code(flow)
        keys: list[str] = []
        real_redeem = flow.room.redeem_for_oidc_session

        def arm_on_the_code(event_id: str, namespace: str, key: str, *args: Any) -> Any:
            assert namespace == CODE_NAMESPACE
            if not keys:  # the first presentation only: its own key names the request to lose
                keys.append(key)
                trap.arm((f"g:{key}" if step == "the issue step" else key).encode())
            return real_redeem(event_id, namespace, key, *args)

        flow.room.redeem_for_oidc_session = arm_on_the_code
        first = flow.redeem(code)
        assert trap.sprung == 1  # the step reached Redis and ran; its reply was lost
        assert first.status_code == 503, first.get_json()
        assert flow.room.counters(EVENT).abandoned == 0
        retry = flow.redeem(code)
        assert retry.status_code == 200, retry.get_json()
        access = retry.get_json()["access_token"]
        assert userinfo(flow, access) == 200 and flow.room.counters(EVENT).issued == 2
        replay = flow.redeem(code)
        assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
        assert userinfo(flow, access) == 401
    finally:
        stores.close()
