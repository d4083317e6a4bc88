"""Signing keys in Secrets Manager and the assign queue client, against moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from core.adapters.secrets import SecretsManagerKeySource
from core.adapters.sqs import AssignMessage, SqsEnqueuer
from core.errors import StoreUnavailable
from core.tokens import KeySet, SigningKey

REGION = "eu-west-1"
NOW = 1_800_000_000.0


class Ticker:
    def __init__(self) -> None:
        self.value = 0.0

    def __call__(self) -> float:
        return self.value


class CountingClient:
    def __init__(self, client: Any) -> None:
        self._client = client
        self.gets = 0
        self.fail = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_secret_value(self, **kwargs: Any) -> Any:
        self.gets += 1
        if self.fail:
            raise RuntimeError("Secrets Manager is down")
        return self._client.get_secret_value(**kwargs)


def test_keys_are_cached_for_the_ttl_and_survive_a_failed_refresh(aws: None) -> None:
    client = CountingClient(boto3.client("secretsmanager", region_name=REGION))
    arn = client.create_secret(Name="keys")["ARN"]  # no value yet: the deployment creates it empty
    ticker = Ticker()
    source = SecretsManagerKeySource(arn, client=client, ttl=300, monotonic=ticker)
    first = source.ensure(NOW)
    gets = client.gets
    for _ in range(50):
        assert source() is first
    assert client.gets == gets  # not fetched per call
    ticker.value = 301
    client.fail = True
    assert source() is first  # refresh failed: keep signing with the keys held
    client.fail = False
    ticker.value = 700
    assert source().keys[0].kid == first.keys[0].kid
    assert client.gets == gets + 2


def test_racing_first_starts_agree_on_one_key_set(aws: None) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    arn = client.create_secret(Name="keys", SecretString="placeholder")["ARN"]
    a = SecretsManagerKeySource(arn, client=client)
    b = SecretsManagerKeySource(arn, client=client)
    fetched: list[Any] = []
    original = b._fetch

    def stale_fetch() -> Any:
        fetched.append(1)
        return None if len(fetched) == 1 else original()  # b saw the placeholder before a wrote

    b._fetch = stale_fetch  # type: ignore[method-assign]
    keys_a = a.ensure(NOW)
    keys_b = b.ensure(NOW)
    assert [k.kid for k in keys_a.keys] == [k.kid for k in keys_b.keys]


def test_rotation_writes_a_new_version_that_every_process_picks_up(aws: None) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    initial = KeySet([SigningKey.generate(NOW)])
    arn = client.create_secret(Name="keys", SecretString=initial.to_json())["ARN"]
    ticker = Ticker()
    reader = SecretsManagerKeySource(arn, client=client, ttl=60, monotonic=ticker)
    assert [k.kid for k in reader().keys] == [initial.keys[0].kid]
    rotated = SecretsManagerKeySource(arn, client=client).rotate(NOW, activate_after=120, keep_old_for=3600)
    assert len(rotated.keys) == 2
    assert len(reader().keys) == 1  # still cached
    ticker.value = 61
    keys = reader()
    assert [k.kid for k in keys.keys] == [k.kid for k in rotated.keys]
    assert keys.current(NOW).kid == initial.keys[0].kid  # the new key signs only after activate_after
    assert keys.current(NOW + 121).kid == rotated.keys[-1].kid
    assert len(keys.jwks(NOW)["keys"]) == 2  # but is published at once


def test_a_secret_without_key_set_is_an_error_until_ensured(aws: None) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    arn = client.create_secret(Name="keys", SecretString=json.dumps({"password": "x"}))["ARN"]
    with pytest.raises(StoreUnavailable):
        SecretsManagerKeySource(arn, client=client)()


@pytest.mark.parametrize("fifo", [False, True])
def test_enqueue_round_trip(aws: None, fifo: bool) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = {"FifoQueue": "true"} if fifo else {}
    url = sqs.create_queue(QueueName="assign.fifo" if fifo else "assign", Attributes=attributes)["QueueUrl"]
    enqueuer = SqsEnqueuer(url, client=sqs)
    message = AssignMessage("spring-sale", "request-0001-0123456789abcdef", "client key with spaces", 12.5)
    enqueuer.enqueue(message)
    if fifo:  # a retried send of the same request is deduplicated by the queue
        enqueuer.enqueue(AssignMessage("spring-sale", "request-0002-0123456789abcdef", "client key with spaces"))
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [AssignMessage.from_json(m["Body"]) for m in received] == [message]


def test_enqueue_failure_is_store_unavailable(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    with pytest.raises(StoreUnavailable):
        SqsEnqueuer("https://sqs.eu-west-1.amazonaws.com/123456789012/missing", client=sqs).enqueue(
            AssignMessage("e", "request-0001-0123456789abcdef"))


def test_malformed_messages() -> None:
    for body in ["[]", "{}", '{"event_id": 1, "request_id": "x"}', "not json"]:
        with pytest.raises(ValueError):
            AssignMessage.from_json(body)
