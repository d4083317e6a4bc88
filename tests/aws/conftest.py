"""Fixtures for the AWS adapters and Lambda handlers: every AWS service is moto's, in memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's mock of every AWS service, with fake credentials and a region."""
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def dynamodb_table(aws: None) -> str:
    import boto3

    from core.adapters.dynamodb import create_table

    create_table(boto3.client("dynamodb", region_name=REGION), "waitingroom-state")
    return "waitingroom-state"


@pytest.fixture
def dynamodb_store(dynamodb_table: str) -> Any:
    from core.adapters.dynamodb import DynamoDbStore

    return DynamoDbStore(dynamodb_table, region=REGION)
