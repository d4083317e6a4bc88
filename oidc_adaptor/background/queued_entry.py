"""Entering the line through a queue (on AWS: SQS) instead of the store, so a burst of
``POST /assign_queue_num`` never overwhelms the counter.

The HTTP side makes the visitor's request id at once, sends it with the event id to the queue
and answers 200 with the request id, as the AWS solution's API does; the consumer
(:func:`oidc_adaptor.lambda_handlers.sqs_handler`) hands out the position. A client that retries
with the same idempotency key gets the same request id back (remembered in the store's key-value
side), so a retried request never leads to a second place.

Until the consumer has entered it, the request id is remembered as queued (:func:`is_queued`),
so ``GET /queue_num`` answers 202 "not entered yet, poll again" (again as the AWS API does)
instead of 404, which clients take as final.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from core.adapters.sqs import AssignMessage
from core.ports import KeyValueStore
from core.room import WaitingRoom, new_request_id

ENQUEUER_EXTENSION = "waitingroom_enqueuer"
KEY_NAMESPACE = "queued-entry"
KEY_TTL = 24 * 3600.0
PENDING_NAMESPACE = "queued-pending"
PENDING_TTL = 4 * 24 * 3600.0
"""How long a queued request id is answered as queued: the entry queue's retention (4 days on AWS,
``infra`` checks they agree), after which an entry the consumer never took is gone."""


def enqueuer() -> Any | None:
    """The app's queue client, or None when visitors enter the store directly."""
    return current_app.extensions.get(ENQUEUER_EXTENSION)


def enter_via_queue(
    queue: Any, room: WaitingRoom, kv: KeyValueStore, event_id: str, idempotency_key: str | None
) -> str:
    """Queue one entry and return its request id; a known idempotency key returns the earlier id.

    The request id is remembered as queued (for :func:`is_queued`) before the message is sent.
    If the queue refuses (StoreUnavailable), the remembered key is forgotten again, so the
    client's retry queues a fresh message instead of holding an id nobody will ever enter.
    """
    request_id = new_request_id()
    # The consumer's own check, made before anything is queued: an unknown event or a bad key
    # is refused here (as a direct enter refuses it), not dropped later to the DLQ.
    room.check_entry(event_id, request_id, idempotency_key)
    store, now = kv, room.clock.now()
    remembered = f"{event_id}/{idempotency_key}"
    if idempotency_key is not None:
        earlier = store.get(KEY_NAMESPACE, remembered, now)
        if earlier is not None:
            return str(earlier)
    if idempotency_key is not None:
        store.put(KEY_NAMESPACE, remembered, request_id, KEY_TTL, now)
    store.put(PENDING_NAMESPACE, f"{event_id}/{request_id}", "1", PENDING_TTL, now)
    try:
        queue.enqueue(AssignMessage(event_id, request_id, idempotency_key, now))
    except Exception:
        if idempotency_key is not None:
            store.delete(KEY_NAMESPACE, remembered)
        raise
    return request_id


def is_queued(kv: KeyValueStore, event_id: str, request_id: str, now: float) -> bool:
    """Whether ``request_id`` was queued for ``event_id`` (within :data:`PENDING_TTL`).

    Only meaningful for an id the store does not know yet: once entered, the place answers.
    """
    return kv.get(PENDING_NAMESPACE, f"{event_id}/{request_id}", now) is not None
