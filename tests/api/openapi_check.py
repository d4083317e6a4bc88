"""Check real responses against ``oidc_adaptor/openapi.json``: documented status, headers and body schema."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "oidc_adaptor" / "openapi.json"
DOC_URI = "urn:waitingroom:openapi"


@cache
def document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    validate_spec(doc)
    return doc


@cache
def _registry() -> Registry:
    return Registry().with_resource(DOC_URI, Resource.from_contents(document(), default_specification=_spec()))


def _spec() -> Any:
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in document()["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        out.append((re.compile(pattern), template))
    return out


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    for pattern, template in _templates():
        if pattern.match(path):
            op = document()["paths"][template].get(method.lower())
            return (template, op) if op is not None else None
    return None


def check_response(method: str, path: str, status: int, headers: Any, content_type: str, body: bytes) -> str:
    """Raise AssertionError unless the response is what the document says; returns the path template."""
    found = operation_for(method, path)
    assert found is not None, f"{method} {path} is not documented"
    template, op = found
    responses = op["responses"]
    assert str(status) in responses, f"{method} {template} answered {status}, documented: {sorted(responses)}"
    response = _resolve(responses[str(status)])
    for name in response.get("headers", {}):
        assert name in headers, f"{method} {template} {status} lacks documented header {name}"
    content = response.get("content", {})
    if not content:  # 304 Not Modified and the like: documented without a body
        assert not body, f"{method} {template} {status} has a body the document does not describe"
        return template
    media = content_type.split(";")[0].strip()
    assert media in content, f"{method} {template} {status} answered {media}, documented: {sorted(content)}"
    if media == "application/json":
        schema = {"$ref": DOC_URI + "#/paths/" + _pointer(template) + f"/{method.lower()}/responses/{status}"}
        # follow the response $ref, then point at its schema
        raw = responses[str(status)]
        if "$ref" in raw:
            schema = {"$ref": DOC_URI + raw["$ref"] + "/content/application~1json/schema"}
        else:
            schema = {"$ref": schema["$ref"] + "/content/application~1json/schema"}
        validator = Draft202012Validator(schema, registry=_registry())
        errors = sorted(validator.iter_errors(json.loads(body)), key=str)
        assert not errors, f"{method} {template} {status}: body does not match the document: {errors[0].message}"
    return template


def _pointer(template: str) -> str:
    return template.replace("~", "~0").replace("/", "~1")


def documented_statuses() -> set[tuple[str, str, int]]:
    out = set()
    for template, item in document()["paths"].items():
        for method, op in item.items():
            for status in op["responses"]:
                out.add((method.upper(), template, int(status)))
    return out
