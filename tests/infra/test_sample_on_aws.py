"""The sample on AWS, end to end: the functions run with the environment the synthesized templates
give them (references filled in with moto's resources), the visitor signs in through the sample
site's own public client, and the checkout API lets the token through the project's authorizer on
both of its routes, as API Gateway's authorizer cache would apply it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ..aws.conftest import REGION
from .conftest import rendered, template

SITE = "https://site.example"
EVENTS = Path(__file__).resolve().parents[1] / "aws" / "events"
CHECKOUT_API = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/live"


def function_env(stack: Any, handler: str, values: dict[str, str]) -> dict[str, str]:
    """The environment of the function running ``handler``, with each reference replaced by
    ``values[name]`` (or, inside a longer text, by the site's host)."""
    for function in template(stack).find_resources("AWS::Lambda::Function").values():
        if function["Properties"].get("Handler") == handler:
            env = function["Properties"]["Environment"]["Variables"]
            return {name: values[name] if name in values else rendered(value, urlsplit(SITE).hostname or "")
                    for name, value in env.items()}
    raise AssertionError(f"no function runs {handler}")


def rest_event(method: str, path: str, headers: dict[str, str], body: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "apigw_rest_v1.json").read_text())
    event.update(httpMethod=method, path=path, body=body, isBase64Encoded=False,
                 headers=headers, multiValueHeaders={k: [v] for k, v in headers.items()},
                 queryStringParameters=None, multiValueQueryStringParameters=None)
    event["requestContext"].update(httpMethod=method, path=f"/live{path}", resourcePath=path)
    return event


def test_a_visitor_signs_in_on_the_sample_site_and_checks_out(
    built_dynamodb: Any, aws: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    from authorizer import lambda_handler as authorizer
    from core.adapters.dynamodb import create_table
    from core.adapters.secrets import SecretsManagerKeySource
    from oidc_adaptor.entrypoints import demo_checkout, lambda_handlers
    from oidc_adaptor.plumbing import counter_cache

    create_table(boto3.client("dynamodb", region_name=REGION), "state")
    sm = boto3.client("secretsmanager", region_name=REGION)
    keys = sm.create_secret(Name="keys", SecretString="{}")["ARN"]
    SecretsManagerKeySource(keys).ensure(time.time())  # what the deploy-time custom resource does
    origin_value = secrets.token_urlsafe(32)
    origin = sm.create_secret(Name="origin", SecretString=origin_value)["ARN"]
    queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="assign")["QueueUrl"]
    env = function_env(built_dynamodb.api, "oidc_adaptor.lambda_handlers.http_handler", {
        "WAITINGROOM_STORE": f"dynamodb://state?region={REGION}", "WAITINGROOM_SIGNING_KEYS_SECRET": keys,
        "WAITINGROOM_ORIGIN_SECRET": origin, "WAITINGROOM_ASSIGN_QUEUE_URL": queue})
    issuer = env["WAITINGROOM_ISSUER"]
    lambda_handlers.reset(env)
    try:
        app = lambda_handlers.get_app()
        settings = app.extensions["waitingroom"].settings
        client = settings.clients["sample-site"]
        assert client.is_public and client.redirect_uris == (f"{SITE}/callback.html",)
        event_id = client.event_id

        # the browser at /authorize through CloudFront (which adds the origin header)
        browser = app.test_client()
        through_cdn = {"X-Origin-Verify": origin_value}
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        query = {"response_type": "code", "client_id": "sample-site", "redirect_uri": f"{SITE}/callback.html",
                 "scope": "openid", "state": "s1", "nonce": "n1", "code_challenge": challenge,
                 "code_challenge_method": "S256"}
        assert browser.get("/authorize", query_string=query).status_code == 403  # around CloudFront
        waiting = browser.get("/authorize", query_string=query, headers=through_cdn)
        if waiting.status_code == 303:  # a first visit: the place cookie is set, then seen coming back
            waiting = browser.get(waiting.headers["Location"], headers=through_cdn)
        if waiting.status_code == 200:  # the waiting page, until the admission function lets them in
            assert "text/html" in waiting.content_type
            app.extensions["waitingroom"].room.advance(event_id, 1)
            counter_cache.for_app(app).counters_changed(event_id)
            admitted = browser.get("/authorize", query_string=query, headers=through_cdn)
        else:  # or, with room in the event and nobody waiting, admitted at the door
            admitted = waiting
        assert admitted.status_code == 302, admitted.get_data(as_text=True)
        location = admitted.headers["Location"]
        assert location.startswith(f"{SITE}/callback.html?")
        code = parse_qs(urlsplit(location).query)["code"][0]
        tokens = app.test_client().post("/token", headers={**through_cdn, "Origin": SITE}, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": f"{SITE}/callback.html",
            "client_id": "sample-site", "code_verifier": verifier})
        assert tokens.status_code == 200, tokens.get_data(as_text=True)
        access_token = tokens.json["access_token"]
        jwks = json.dumps(app.extensions["waitingroom"].signer.jwks())
    finally:
        lambda_handlers.reset()

    # the checkout API's authorizer, configured as its stack configures it
    auth_env = function_env(built_dynamodb.authorizer, "authorizer.lambda_handler.handler", {})
    assert auth_env["WAITINGROOM_ISSUER"] == issuer
    for name, value in {**auth_env, "WAITINGROOM_JWKS": jwks}.items():
        monkeypatch.setenv(name, value)
    authorizer.reset()
    answer = authorizer.handler({"type": "TOKEN", "authorizationToken": f"Bearer {access_token}",
                                 "methodArn": f"{CHECKOUT_API}/GET/me"}, None)
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    # API Gateway caches this answer for the token and applies it to the next route: it must allow it
    assert fnmatchcase(f"{CHECKOUT_API}/POST/checkout", statement["Resource"])
    assert not fnmatchcase("arn:aws:execute-api:eu-west-1:123456789012:other-api/live/POST/checkout",
                           statement["Resource"])
    monkeypatch.setenv("WAITINGROOM_POLICY_SCOPE", "method")  # what the default would have cached
    authorizer.reset()
    narrow = authorizer.handler({"type": "TOKEN", "authorizationToken": f"Bearer {access_token}",
                                 "methodArn": f"{CHECKOUT_API}/GET/me"}, None)
    assert not fnmatchcase(f"{CHECKOUT_API}/POST/checkout", narrow["policyDocument"]["Statement"][0]["Resource"])
    authorizer.reset()

    # the checkout function behind it (sessions are ended through the admin API, not reachable here)
    checkout_env = function_env(built_dynamodb.checkout,
                                "oidc_adaptor.entrypoints.demo_checkout.lambda_handler", {})
    assert checkout_env["WAITINGROOM_CHECKOUT_ORIGINS"] == SITE
    for name in ("WAITINGROOM_ADMIN_API_URL", "WAITINGROOM_ADMIN_KEYS_SECRET", "WAITINGROOM_ADMIN_API_IAM"):
        checkout_env.pop(name)
        monkeypatch.delenv(name, raising=False)
    for name, value in {**checkout_env, "WAITINGROOM_JWKS": jwks}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(demo_checkout, "_handler", None)
    order = demo_checkout.lambda_handler(rest_event("POST", "/checkout", {
        "Authorization": f"Bearer {access_token}", "Origin": SITE, "Content-Type": "application/json"},
        json.dumps({"quantity": 2})), None)
    assert order["statusCode"] == 201, order
    assert json.loads(order["body"])["quantity"] == 2
    headers = {k.lower(): v for k, v in order.get("multiValueHeaders", {}).items()}
    assert headers["access-control-allow-origin"] == [SITE]
    assert os.environ["WAITINGROOM_EVENT_ID"] == event_id


def test_the_public_function_sees_the_viewer_address_cloudfront_saw(
    built_dynamodb: Any, aws: None,
) -> None:
    """CloudFront appends the viewer's address to ``X-Forwarded-For``, API Gateway CloudFront's.
    A viewer may send its own ``X-Forwarded-For`` first: the leftmost value is the viewer's
    choice, so the entry rate limit and the failed-sign-in counts per address must read the
    second from the right (two trusted proxies), never the leftmost."""
    import boto3
    from flask import request

    from core.adapters.dynamodb import create_table
    from core.adapters.secrets import SecretsManagerKeySource
    from oidc_adaptor.entrypoints import lambda_handlers

    create_table(boto3.client("dynamodb", region_name=REGION), "state")
    sm = boto3.client("secretsmanager", region_name=REGION)
    keys = sm.create_secret(Name="keys", SecretString="{}")["ARN"]
    SecretsManagerKeySource(keys).ensure(time.time())
    origin = sm.create_secret(Name="origin", SecretString="through-cloudfront")["ARN"]
    env = function_env(built_dynamodb.api, "oidc_adaptor.lambda_handlers.http_handler", {
        "WAITINGROOM_STORE": f"dynamodb://state?region={REGION}", "WAITINGROOM_SIGNING_KEYS_SECRET": keys,
        "WAITINGROOM_ORIGIN_SECRET": origin, "WAITINGROOM_ASSIGN_QUEUE_URL": "https://sqs.invalid/q"})
    lambda_handlers.reset(env)
    try:
        app = lambda_handlers.get_app()
        app.add_url_rule("/seen-address", "seen_address", lambda: {"address": request.remote_addr})
        event = rest_event("GET", "/seen-address", {
            "X-Origin-Verify": "through-cloudfront",
            "X-Forwarded-For": "6.6.6.6, 203.0.113.9, 130.176.1.2"})  # chosen, viewer, CloudFront
        answer = lambda_handlers.http_handler(event, None)
        assert json.loads(answer["body"]) == {"address": "203.0.113.9"}
    finally:
        lambda_handlers.reset()
