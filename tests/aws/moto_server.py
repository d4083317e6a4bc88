"""A moto server shared by the tests that need AWS from several threads or processes.

moto's in-process mock is not thread-safe, so the contract suite's concurrency tests talk to
a moto server on a loopback port instead. The server answers one request at a time: the store
still meets every race at the protocol level (optimistic writes lose and retry), and moto's
state is never touched by two requests at once.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REGION = "eu-west-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a single-threaded moto server for this test session."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    saved = {name: os.environ.get(name) for name in FAKE_CREDENTIALS}
    os.environ.update(FAKE_CREDENTIALS)  # inherited by the processes the tests spawn
    server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=False)
    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dynamodb_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, str | None]:
    """Contract-suite factory: an empty DynamoDB store (a fresh table on the moto server) and the
    URL other processes open it with."""
    import boto3

    from core.adapters.dynamodb import DynamoDbStore, create_table

    endpoint: str = request.getfixturevalue("moto_endpoint")
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    table = f"state-{uuid.uuid4().hex[:12]}"
    create_table(client, table)
    return DynamoDbStore(table, client=client), f"dynamodb://{table}?region={REGION}&endpoint_url={endpoint}"
