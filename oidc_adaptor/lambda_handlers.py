"""Stable path of the AWS Lambda handlers (``oidc_adaptor.lambda_handlers.http_handler`` and the rest).

The handlers live in :mod:`oidc_adaptor.entrypoints.lambda_handlers`; this module keeps the names
that the CDK app and deployed functions' handler settings use.
"""

from __future__ import annotations

from .entrypoints.lambda_handlers import (
    admission_handler,
    expiry_handler,
    http_handler,
    key_rotation_handler,
    process_assign_records,
    sqs_handler,
    status_handler,
)

__all__ = [
    "admission_handler",
    "expiry_handler",
    "http_handler",
    "key_rotation_handler",
    "process_assign_records",
    "sqs_handler",
    "status_handler",
]
