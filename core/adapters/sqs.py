"""Buffering ``POST /assign_queue_num`` through SQS, so a burst never overwhelms the counter.

With a queue configured, the HTTP handler makes the request id (the visitor's secret) at once,
sends ``{event_id, request_id, idempotency_key, sent_at}`` with :class:`SqsEnqueuer` and answers
immediately; the SQS consumer (:func:`oidc_adaptor.lambda_handlers.sqs_handler`) hands out the
positions later, one ``QueueStore.enter_many`` call per event of a batch, each message entered as
``(request_id, <key>)``. The key is the client's idempotency key when it sent one, else the
request id itself, so a redelivered message returns the place already handed out instead of
taking a second one. Until the consumer
has run, ``GET /queue_num`` for that request id answers "unknown" and clients poll again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..errors import StoreUnavailable

MESSAGE_VERSION = 1


@dataclass(frozen=True)
class AssignMessage:
    """One ``assign_queue_num`` request waiting in the queue."""

    event_id: str
    request_id: str
    idempotency_key: str | None = None
    sent_at: float | None = None

    @property
    def effective_key(self) -> str:
        """The idempotency key the consumer enters with: the client's, else the request id."""
        return self.idempotency_key or self.request_id

    def to_json(self) -> str:
        return json.dumps({"v": MESSAGE_VERSION, "event_id": self.event_id, "request_id": self.request_id,
                           "idempotency_key": self.idempotency_key, "sent_at": self.sent_at})

    @classmethod
    def from_json(cls, body: str) -> AssignMessage:
        """Parse a message body; ValueError if it is not one of ours."""
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("message body is not a JSON object")
        event_id, request_id = data.get("event_id"), data.get("request_id")
        key = data.get("idempotency_key")
        if not (isinstance(event_id, str) and isinstance(request_id, str) and (key is None or isinstance(key, str))):
            raise ValueError("message needs string event_id and request_id")
        sent_at = data.get("sent_at")
        return cls(event_id, request_id, key, float(sent_at) if isinstance(sent_at, (int, float)) else None)


class SqsEnqueuer:
    """Sends assign requests to the queue at ``queue_url`` (standard or FIFO)."""

    def __init__(self, queue_url: str, *, client: Any | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("sqs")
        self.queue_url = queue_url
        self.client = client
        self.fifo = queue_url.endswith(".fifo")

    def enqueue(self, message: AssignMessage) -> str:
        """Send one message; returns the SQS message id. Raises StoreUnavailable if SQS refuses."""
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"QueueUrl": self.queue_url, "MessageBody": message.to_json()}
        if self.fifo:  # one group per event keeps its order; the key deduplicates retries for 5 minutes
            kwargs["MessageGroupId"] = message.event_id
            kwargs["MessageDeduplicationId"] = hashlib.sha256(
                f"{message.event_id}\n{message.effective_key}".encode()).hexdigest()
        try:
            response = self.client.send_message(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable(f"cannot queue the request: {exc}") from None
        return str(response["MessageId"])
