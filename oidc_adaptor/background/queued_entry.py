"""Entering the line through a queue (on AWS: SQS) instead of the store, so a burst of
``POST /assign_queue_num`` never overwhelms the counter.

The HTTP side makes the visitor's request id at once, sends it with the event id to the queue
and answers 202; the consumer (:func:`oidc_adaptor.lambda_handlers.sqs_handler`) hands out the
position. A client that retries with the same idempotency key gets the same request id back
(remembered in the store's key-value side), so a retried request never leads to a second place.
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


def enqueuer() -> Any | None:
    """The app's queue client, or None when visitors enter the store directly."""
    return current_app.extensions.get(ENQUEUER_EXTENSION)


def enter_via_queue(
    queue: Any, room: WaitingRoom, kv: KeyValueStore, event_id: str, idempotency_key: str | None
) -> str:
    """Queue one entry and return its request id; a known idempotency key returns the earlier id.

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
    try:
        queue.enqueue(AssignMessage(event_id, request_id, idempotency_key, now))
    except Exception:
        if idempotency_key is not None:
            store.delete(KEY_NAMESPACE, remembered)
        raise
    return request_id
