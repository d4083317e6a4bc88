"""Property-based fuzzing of every public and admin endpoint against ``oidc_adaptor/openapi.json``.

Schemathesis generates requests from the document, valid ones and invalid ones (wrong types,
missing fields, out-of-range numbers, odd strings), sends them to the app through WSGI, and
checks each response: never a 5xx, the status code documented, the content type documented, the
body matching its schema, the documented headers present. A bounded number of examples per
operation and mode keeps the whole run well under two minutes in CI.

Schemathesis draws strings that UTF-8 can encode, control characters and NUL included; invalid
UTF-8, lone surrogates, deep nesting and the OIDC endpoints' form and query parameters are fuzzed
by ``test_fuzz_strings.py``.

The admin key is sent with every request so the fuzzing reaches past authentication; the event
is seeded with places so that known ids and positions are exercised as well as unknown ones.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from core.clock import ManualClock

from .conftest import ADMIN_KEY, EVENT, bearer, build

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("openapi-fuzz")]  # one worker: the last test reads SEEN

EXAMPLES = int(os.environ.get("WAITINGROOM_FUZZ_EXAMPLES", "50"))
"""Examples per operation and generation mode (positive, negative); raise it for a deeper local run."""

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("fuzz")
    app = build(Path(tmp), ManualClock(start=time.time()))
    room = app.extensions["waitingroom"].room
    for _ in range(5):
        room.enter(EVENT)
    room.advance(EVENT, 2)
    loaded = schemathesis.openapi.from_wsgi("/openapi.json", app)
    loaded.app = app
    return loaded


def _operations() -> list[str]:
    document = Path(__file__).resolve().parents[2] / "oidc_adaptor" / "openapi.json"
    import json

    paths = json.loads(document.read_text())["paths"]
    labels = []
    for path, item in paths.items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                labels.append(f"{method.upper()} {path}")
                if operation.get("parameters") or item.get("parameters") or operation.get("requestBody"):
                    WITH_INPUT.add(labels[-1])
    return labels


WITH_INPUT: set[str] = set()
"""Operations that take any input: only they have invalid requests to generate."""
OPERATIONS = _operations()


def _with_known_event(case: Any) -> Any:
    """The same request about the seeded event, so the fuzzing reaches past "unknown event"."""
    for part in (case.path_parameters, case.query, case.body):
        if isinstance(part, dict) and "event_id" in part:
            part["event_id"] = EVENT
    return case


CASES = [
    pytest.param(label, mode, id=f"{label}-{mode.value}")
    for label in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or label in WITH_INPUT  # no input: nothing invalid to send
]


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_fuzz_operation(schema: Any, label: str, mode: GenerationMode) -> None:
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = st.one_of(strategy, strategy.map(_with_known_event))

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        headers = dict(case.headers or {})
        headers["Authorization"] = bearer(ADMIN_KEY)["Authorization"]  # the generated one is random
        case.headers = headers
        response = case.call_and_validate(checks=CHECKS)
        seen.add(response.status_code)

    seen: set[int] = set()
    run()
    # The fuzzing reached past authentication and validation: the admin key worked, and invalid
    # input was refused with a 4xx (never a 5xx: call_and_validate checks that on every case).
    if "/admin/" in path:
        assert 401 not in seen, f"{label}: the admin key was refused"
    if label == "GET /admin/events":
        assert 200 in seen
    if mode is GenerationMode.NEGATIVE:
        assert any(400 <= status < 500 for status in seen), f"{label}: no invalid request was refused"
