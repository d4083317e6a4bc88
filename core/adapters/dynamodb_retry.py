"""Which DynamoDB errors are worth another try, and the jittered backoff that tries again.

DynamoDB refuses a request it could serve a moment later in a few documented ways: throttling
(``ProvisionedThroughputExceededException``, ``ThrottlingException``, ``RequestLimitExceeded``),
a conflict with a transaction in flight on the same item (``TransactionConflictException`` for a
single-item write; ``TransactionCanceledException`` whose cancellation reasons are only
``TransactionConflict`` or throttling for a transaction). None of these changed anything, so
trying again is always safe. See "Error handling with DynamoDB" in the DynamoDB Developer Guide
(retryable errors, exponential backoff) and the ``TransactWriteItems`` API reference
(cancellation reason codes).

botocore's ``standard`` retry mode already retries the throttling codes a few times; the loop
here covers what it does not (cancellation reasons, conflicts) and bounds the whole wait by the
store's deadline, after which the caller gets :class:`core.errors.StoreUnavailable`: HTTP 503
with ``Retry-After``, never a 500.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import StoreUnavailable

T = TypeVar("T")

RETRYABLE_CODES = frozenset({
    "TransactionConflictException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
})
"""Error codes of a request DynamoDB refused without applying it, for load or a conflict."""

RETRYABLE_REASONS = frozenset({
    "TransactionConflict",
    "ProvisionedThroughputExceeded",
    "ThrottlingError",
    "RequestLimitExceeded",
})
"""Cancellation reason codes of a transaction cancelled for load or a conflict, not a condition."""

BASE_DELAY = 0.005  # seconds: the first retry waits up to this (full jitter)
MAX_DELAY = 0.2  # seconds: no single wait is longer


def is_retryable(response: dict[str, Any]) -> bool:
    """True if a ``ClientError`` response is a refusal for load or conflict (nothing applied).

    A cancelled transaction is retryable only when none of its reasons is a failed condition
    (``ConditionalCheckFailed``) or a validation error: those are answers, not refusals.
    """
    code = response.get("Error", {}).get("Code", "")
    if code in RETRYABLE_CODES:
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = [r.get("Code", "None") for r in response.get("CancellationReasons") or []]
    if not reasons:  # no reasons given: the message names them; conflicts are the retryable case
        return "TransactionConflict" in str(response.get("Error", {}).get("Message", ""))
    return any(r in RETRYABLE_REASONS for r in reasons) and all(r in RETRYABLE_REASONS or r == "None"
                                                              for r in reasons)


def backoff(attempt: int, deadline: float) -> None:
    """Sleep a random time up to ``BASE_DELAY * 2**attempt`` (capped), never past ``deadline``
    (a ``time.monotonic()`` instant). Full jitter spreads retrying callers apart."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** min(attempt, 16))
    pause = random.uniform(0, ceiling)  # jitter, not security
    time.sleep(max(0.0, min(pause, deadline - time.monotonic())))


def call_with_retries(call: Callable[[], T], operation: str, timeout: float) -> T:
    """Run ``call`` (one DynamoDB request) again after each retryable refusal, with jittered
    backoff, for up to ``timeout`` seconds; then raise :class:`StoreUnavailable`.

    Other ``ClientError``s and every ``BotoCoreError`` pass through unchanged: the caller
    decides what a failed condition or an unreachable endpoint means.
    """
    from botocore.exceptions import ClientError

    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return call()
        except ClientError as exc:
            if not is_retryable(exc.response):
                raise
            code = exc.response.get("Error", {}).get("Code", "")
            if time.monotonic() >= deadline:
                raise StoreUnavailable(f"DynamoDB {operation} kept failing ({code}); try again") from None
            backoff(attempt, deadline)
            attempt += 1
