"""``waitingroom verify-draw``: it fetches a draw document over HTTP, recomputes the draw with the
reference permutation, and fails (exit 1) on a changed list or secret or a draw not open yet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Response

from core import draw
from core.clock import ManualClock
from core.model import ticket_id_for
from oidc_adaptor.entrypoints import cli, verify_draw
from tests.oidc.helpers import live_provider, serve_wsgi
from tests.support import free_port

SECRET = "5a" * 32
TICKETS = [ticket_id_for(f"request-{i:032d}") for i in range(1, 41)]


def published(**changes: Any) -> dict[str, Any]:
    """An open draw document of 40 places, as ``GET /events/<id>/draw`` serves one."""
    document: dict[str, Any] = {
        "event_id": "sale", "queueing": "random_before_opening", "algorithm": draw.ALGORITHM,
        "opens_at": 1_800_000_000, "state": "open", "commitment": draw.commitment(SECRET), "secret": SECRET,
        "size": len(TICKETS), "opened_at": 1_800_000_000.25, "tickets": TICKETS,
    }
    document.update(changes)
    return document


class Origin:
    """A loopback HTTP server answering ``/events/sale/draw`` with whatever document is set."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.document: dict[str, Any] | None = published()


@pytest.fixture
def origin() -> Iterator[Origin]:
    port = free_port()
    served = Origin(f"http://127.0.0.1:{port}")
    app = Flask("origin")

    @app.get("/events/<event_id>/draw")
    def document(event_id: str) -> Response:
        if event_id != "sale" or served.document is None:
            return Response(json.dumps({"error": "not_found", "message": "no such event"}), 404,
                            mimetype="application/json")
        return Response(json.dumps(served.document), mimetype="application/json")

    with serve_wsgi(app, port):
        yield served


def verify(origin: Origin, *extra: str) -> int:
    return cli.main(["verify-draw", origin.url, "sale", *extra])


def test_a_published_draw_verifies_and_gives_a_ticket_its_drawn_position(
        origin: Origin, capsys: pytest.CaptureFixture[str]) -> None:
    ticket = TICKETS[6]
    assert verify(origin, "--ticket", ticket) == 0
    out = capsys.readouterr().out
    assert "VERIFIED" in out and "all 40 positions" in out
    expected = draw.permute(SECRET, len(TICKETS), 7)
    assert f"ticket {ticket}: arrival 7 of 40 in the pre-queue, drawn position {expected}" in out


def test_a_changed_secret_fails(origin: Origin, capsys: pytest.CaptureFixture[str]) -> None:
    origin.document = published(secret="5b" * 32)
    assert verify(origin, "--ticket", TICKETS[0]) == 1
    out = capsys.readouterr().out
    assert "FAILED: the revealed secret does not match the commitment" in out
    assert "VERIFIED" not in out


def test_a_changed_list_fails(origin: Origin, capsys: pytest.CaptureFixture[str]) -> None:
    origin.document = published(tickets=[*TICKETS[:-1], TICKETS[0]])  # one place named twice
    assert verify(origin) == 1
    assert "FAILED: the list names a ticket more than once" in capsys.readouterr().out
    origin.document = published(tickets=TICKETS[:-1])  # one place left out
    assert verify(origin) == 1
    assert "FAILED: the draw says 40 places, the list holds 39" in capsys.readouterr().out


def test_a_ticket_outside_the_list_is_reported(origin: Origin, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(origin, "--ticket", ticket_id_for("entered-after-the-opening")) == 1
    out = capsys.readouterr().out
    assert "not in the published list" in out
    assert "a place taken before it must be in the list, and its absence means the draw left it out" in out


def test_before_the_opening_there_is_nothing_to_verify(origin: Origin, capsys: pytest.CaptureFixture[str]) -> None:
    origin.document = published(state="pre_queue", secret=None, size=None, opened_at=None, tickets=None)
    assert verify(origin) == 1
    out = capsys.readouterr().out
    assert "NOT OPEN YET" in out
    assert draw.commitment(SECRET) in out  # the commitment to keep until the reveal


def test_an_unknown_event_or_a_dead_origin_is_exit_3(origin: Origin, capsys: pytest.CaptureFixture[str]) -> None:
    origin.document = None
    assert verify(origin) == 3
    assert "404" in capsys.readouterr().err
    assert cli.main(["verify-draw", f"http://127.0.0.1:{free_port()}", "sale"]) == 3
    assert "cannot reach" in capsys.readouterr().err


def test_another_algorithm_is_not_taken_for_ours(origin: Origin, capsys: pytest.CaptureFixture[str]) -> None:
    origin.document = published(algorithm="something-else")
    assert verify(origin) == 1
    assert "FAILED: the draw uses 'something-else'" in capsys.readouterr().out


def test_a_large_draw_reports_progress_while_it_recomputes(origin: Origin, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_draw, "LARGE_DRAW", 30)
    monkeypatch.setattr(verify_draw, "PROGRESS_EVERY", 0.001)
    assert verify(origin) == 0
    captured = capsys.readouterr()
    assert "recomputing 40 positions (about" in captured.err and "recomputed in" in captured.err
    assert "VERIFIED" in captured.out


def test_the_draw_a_waiting_room_publishes_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: places taken over the REST API before the opening, the draw opened by the
    first read after it, and the command agrees with the position the API gives each place."""
    clock = ManualClock()
    events = {"sale": {"queueing": "random_before_opening", "opens_at": clock.now() + 60}}
    with live_provider(tmp_path, {}, clock=clock, events=events) as provider:
        places = [requests.post(f"{provider.url}/assign_queue_num", json={"event_id": "sale"}, timeout=10).json()
                  for _ in range(9)]
        clock.advance(65)
        mine = places[4]["request_id"]
        answer = requests.get(f"{provider.url}/queue_num", params={"event_id": "sale", "request_id": mine},
                              timeout=10).json()
        assert cli.main(["verify-draw", provider.url, "sale", "--ticket", ticket_id_for(mine)]) == 0
    out = capsys.readouterr().out
    assert f"arrival 5 of 9 in the pre-queue, drawn position {answer['queue_number']}" in out


def test_a_document_for_another_event_is_not_taken_for_the_one_asked(
        origin: Origin, capsys: pytest.CaptureFixture[str]) -> None:
    # An origin (or a cache, or a redirect) answering another event's sound draw must not make
    # the asked event's draw look verified: the ticket's position would be another draw's.
    origin.document = published(event_id="other-sale")
    assert verify(origin, "--ticket", TICKETS[0]) == 3
    captured = capsys.readouterr()
    assert "VERIFIED" not in captured.out
    assert "'other-sale'" in captured.err and "'sale'" in captured.err


@pytest.mark.parametrize("changes", [
    {"tickets": [["a list"], *TICKETS[1:]]},
    {"tickets": [{"an": "object"}, *TICKETS[1:]]},
    {"tickets": [7, *TICKETS[1:]]},
    {"commitment": "é" * 64},
    {"commitment": "not a sha-256"},
    {"secret": "é" * 64},
    {"secret": "not hex"},
])
def test_a_document_of_the_wrong_shape_is_unreadable_not_a_crash(
        origin: Origin, capsys: pytest.CaptureFixture[str], changes: dict[str, Any]) -> None:
    origin.document = published(**changes)
    assert verify(origin) == 3
    captured = capsys.readouterr()
    assert "waitingroom: cannot check the draw: the document's" in captured.err
    assert "Traceback" not in captured.err and "VERIFIED" not in captured.out


def test_a_commitment_is_compared_whatever_its_characters() -> None:
    assert not draw.matches_commitment(SECRET, "é" * 64)
    assert draw.matches_commitment(SECRET, draw.commitment(SECRET).upper())


def test_an_origin_that_trickles_its_document_is_given_up(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # Each byte comes well within the socket's timeout, so only a bound on the whole fetch ends it.
    import socket
    import threading

    monkeypatch.setattr(verify_draw, "FETCH_TIMEOUT", 1.0)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            while not stop.wait(0.05):
                try:
                    connection.sendall(b" ")
                except OSError:
                    return

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    outcome: list[int] = []
    arguments = ["verify-draw", f"http://127.0.0.1:{port}", "sale"]
    client = threading.Thread(target=lambda: outcome.append(cli.main(arguments)), daemon=True)
    client.start()
    client.join(timeout=30)  # generous on a loaded machine: the bound under test is 1 s
    stop.set()
    listener.close()
    assert not client.is_alive(), "verify-draw still reading a trickled document after 30 s"
    assert outcome == [3]
    assert "cannot reach" in capsys.readouterr().err


def test_a_redirect_to_another_host_is_refused(origin: Origin, capsys: pytest.CaptureFixture[str]) -> None:
    # A sound draw served by another host proves nothing about this waiting room's draw.
    port = free_port()
    app = Flask("redirecting")

    @app.get("/events/<event_id>/draw")
    def elsewhere(event_id: str) -> Response:
        return Response(status=302, headers={"Location": f"{origin.url}/events/{event_id}/draw"})

    with serve_wsgi(app, port):
        assert cli.main(["verify-draw", f"http://localhost:{port}", "sale"]) == 3
    captured = capsys.readouterr()
    assert "redirect" in captured.err and "127.0.0.1" in captured.err and "VERIFIED" not in captured.out
    assert verify(origin) == 0  # the document itself verifies where it is served
