"""Synthesise the CDK app once per test session (a synth of all stacks takes seconds on 2 cores)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.aws.conftest import aws  # noqa: F401 - moto for every AWS service, shared with the AWS tests

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("aws_cdk", reason="install the infra extra to test the CDK app")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
sys.path.insert(0, str(ROOT / "infra"))

CONFIG = {
    "store": "redis", "alarm_email": "ops@example.com", "admin_api_private": True,
    "server": {"cors_origins": ["https://tickets.example"], "enter_rate_limit": "20/minute"},
    "events": {
        "spring-sale": {"name": "Spring sale", "admission": {"strategy": "periodic", "increment_by": 50, "every": 10}},
        "exam": {"queue_position_expiry": 300, "admission": {"strategy": "max_active", "max_active": 200}},
    },
    "clients": {"shop": {"event": "spring-sale", "redirect_uris": ["https://shop.example/oauth2/idpresponse"]}},
}


def _synth(tmp: Path, **overrides: Any) -> Any:
    import aws_cdk as cdk
    from waitingroom_infra import bundle
    from waitingroom_infra.application import build
    from waitingroom_infra.config import DeployConfig

    started = time.monotonic()
    app = cdk.App(outdir=str(tmp / "cdk.out"), context={"account": "123456789012", "region": "eu-west-1"})
    built = build(app, asset_dir=bundle.source_only(tmp / "asset"), config=DeployConfig(**{**CONFIG, **overrides}))
    app.synth()  # runs cdk-nag: unacknowledged AwsSolutions errors fail here
    built.seconds = time.monotonic() - started
    built.outdir = tmp / "cdk.out"
    return built


VARIANTS: dict[str, dict[str, Any]] = {
    "redis": {},
    "dynamodb": {"store": "dynamodb", "admin_api_private": False, "custom_domain": "wait.example.com",
                 "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abcd"},
    "direct-entry": {"assign_via_queue": False, "cache_replicas": 0, "alarm_email": "", "waf": True,
                     "vpc_egress": "nat", "reserve_concurrency": False},
}
"""Every deployment shape the tests synthesise, each once per session."""

_synthesized: dict[str, Any] = {}


def synthesized(name: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app of variant ``name``, synthesised on first use in this session."""
    if name not in _synthesized:
        _synthesized[name] = _synth(tmp_path_factory.mktemp(f"synth-{name}"), **VARIANTS[name])
    return _synthesized[name]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return synthesized("redis", tmp_path_factory)


@pytest.fixture(scope="session")
def built_dynamodb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return synthesized("dynamodb", tmp_path_factory)


@pytest.fixture(scope="session")
def built_direct(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Entries straight to the store, a cache without replicas, WAF on, one NAT gateway per zone."""
    return synthesized("direct-entry", tmp_path_factory)


@pytest.fixture(scope="session", params=sorted(VARIANTS))
def every_variant(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Each variant in turn (tests using it run once per deployment shape)."""
    return synthesized(request.param, tmp_path_factory)


def template(stack: Any) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_stack(stack)


def rendered(value: Any, placeholder: str = "resolved.example") -> str:
    """A template string value with every reference (``Fn::Join`` parts that are not text) replaced
    by ``placeholder``: what the value looks like once CloudFormation has resolved it."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(rendered(part, placeholder) for part in parts)
    return placeholder


def function_settings(function: dict[str, Any]) -> dict[str, Any]:
    """The WAITINGROOM_SETTINGS_JSON document of a function resource, references filled in."""
    import json

    document: dict[str, Any] = json.loads(rendered(function["Properties"]["Environment"]["Variables"][
        "WAITINGROOM_SETTINGS_JSON"]))
    return document
