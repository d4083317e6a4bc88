"""Operations endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify

from core.errors import StoreUnavailable
from oidc_adaptor.plumbing import metrics
from oidc_adaptor.plumbing.errors import error_response
from oidc_adaptor.plumbing.services import services

blueprint = Blueprint("ops", __name__)
DOCUMENTED_ADMIN_PREFIX = "/admin"


@cache
def openapi_document() -> dict[str, Any]:
    """The hand-written OpenAPI 3.1 document shipped as ``oidc_adaptor/openapi.json``."""
    text = resources.files("oidc_adaptor").joinpath("openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@blueprint.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers. Touches no store, so a store outage never restarts workers."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> Response:
    """Readiness: 200 when the store answers a ping, 503 with Retry-After when it does not."""
    try:
        services().store.ping()
    except StoreUnavailable as exc:
        return error_response(503, StoreUnavailable.code, str(exc) or "the store is unavailable")
    return jsonify(status="ready")


@blueprint.get("/metrics")
def prometheus_metrics() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(metrics.render(services().room), content_type=CONTENT_TYPE_LATEST)


@blueprint.get("/openapi.json")
def openapi() -> Response:
    """The document, with this deployment's base URL and admin prefix filled in."""
    document = dict(openapi_document())
    settings = services().settings.server
    document["servers"] = [{"url": settings.issuer}]
    if settings.admin_prefix != DOCUMENTED_ADMIN_PREFIX:
        document["paths"] = {
            (settings.admin_prefix + path[len(DOCUMENTED_ADMIN_PREFIX):] if path.startswith("/admin/") else path): item
            for path, item in document["paths"].items()
        }
    return jsonify(document)
