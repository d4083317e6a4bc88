"""``waitingroom verify-draw ISSUER EVENT_ID [--ticket TICKET_ID]``: check an event's published draw.

Fetches the event's public draw document (``GET {ISSUER}/events/{EVENT_ID}/draw``), recomputes
every position with :func:`core.draw.verify` (the same permutation every store uses) and says
whether the revealed secret matches the commitment published before the opening and whether
the list is sound. With ``--ticket`` it also gives that ticket's arrival index and drawn
position. Exit status: 0 when everything checks out, 1 when a check fails or there is nothing
to check yet (the draw is not open), 3 when the document cannot be fetched or read: not
answered within :data:`FETCH_TIMEOUT`, redirected to another host, not a draw document, or the
draw of another event.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import re
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO
from urllib.parse import quote

from authorizer.http import FetchError, http_get
from core import draw

EXIT_VERIFIED = 0
EXIT_FAILED = 1
EXIT_UNREADABLE = 3
FETCH_TIMEOUT = 120.0
"""Seconds to fetch the document: a draw of a million places is a list of about 30 MB."""
MAX_DOCUMENT_BYTES = 1 << 30
LARGE_DRAW = 50_000
"""From this many places on, the command says how far it got while it recomputes."""
SAMPLE = 2_000
"""Positions computed first to estimate the time the whole list takes."""
PROGRESS_EVERY = 5.0
"""Seconds between progress lines."""

EPILOG = """\
examples:
  waitingroom verify-draw https://wr.example spring-sale
  waitingroom verify-draw https://wr.example spring-sale --ticket t_Jq3v0d1xS8mJvG2p4bHcXw9Z

Fetches ISSUER/events/EVENT_ID/draw, checks that the revealed secret is the one committed to
before the opening, that the list names each ticket once, and recomputes every position.
Your ticket id is the 'sub' of your tokens, also shown on the waiting page.
Exit status: 0 verified, 1 a check failed or the draw is not open yet, 3 the document cannot be read.
"""


def add_parser(commands: Any, formatter: Any) -> None:
    """Add the ``verify-draw`` command to the ``waitingroom`` command's subparsers."""
    parser = commands.add_parser(
        "verify-draw", help="check an event's published random draw",
        description="Recompute an event's random draw from its public draw document and check it.",
        epilog=EPILOG, formatter_class=formatter,
    )
    parser.add_argument("issuer", metavar="ISSUER", help="the waiting room's public base URL")
    parser.add_argument("event_id", metavar="EVENT_ID", help="the event whose draw to check")
    parser.add_argument("--ticket", metavar="TICKET_ID", help="also give this ticket's position")
    parser.set_defaults(handler=run)


def document_url(issuer: str, event_id: str) -> str:
    return f"{issuer.rstrip('/')}/events/{quote(event_id, safe='')}/draw"


def fetch_document(url: str) -> dict[str, Any]:
    """The draw document at ``url``. Raises ValueError with a one-line reason (unreachable,
    an HTTP error, not a JSON object)."""
    try:
        status, body = http_get(url, FETCH_TIMEOUT, MAX_DOCUMENT_BYTES, same_host=True)
    except FetchError as exc:
        raise ValueError(str(exc)) from None
    if status == 404:
        raise ValueError(f"{url} answered 404: no such event (or no waiting room at that address)")
    if status != 200:
        raise ValueError(f"{url} answered HTTP {status}")
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        raise ValueError(f"{url} did not answer JSON") from None
    if not isinstance(document, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return document


def _when(timestamp: Any) -> str:
    if not isinstance(timestamp, int | float):
        return "unknown"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _field(document: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = document.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"the document's {name!r} is missing or not a {getattr(kind, '__name__', kind)}")
    return value


_HEX = re.compile(r"[0-9a-fA-F]+")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def _hex_field(document: dict[str, Any], name: str, shape: re.Pattern[str]) -> str:
    value = _field(document, name, str)
    if not shape.fullmatch(value):
        raise ValueError(f"the document's {name!r} is not hexadecimal text of the right length")
    return value


def _ticket_list(document: dict[str, Any]) -> list[str | None]:
    tickets = _field(document, "tickets", list)
    if not all(ticket is None or isinstance(ticket, str) for ticket in tickets):
        raise ValueError("the document's 'tickets' holds something that is neither a ticket id nor null")
    return tickets


def check(document: dict[str, Any], event_id: str, ticket: str | None, out: TextIO, progress: TextIO) -> int:
    """Check one draw document of event ``event_id``, writing the outcome to ``out`` and progress
    notes to ``progress``. Returns the exit status (:data:`EXIT_VERIFIED` or :data:`EXIT_FAILED`);
    raises ValueError for a document that is not a draw document, or is another event's (a sound
    draw of another event would give the ticket a position it does not hold)."""
    named = document.get("event_id")
    if named != event_id:
        raise ValueError(f"the document is the draw of event {named!r}, not of {event_id!r}")
    algorithm = _field(document, "algorithm", str)
    committed = _hex_field(document, "commitment", _SHA256_HEX)
    print(f"event        {event_id}", file=out)
    print(f"algorithm    {algorithm}", file=out)
    print(f"opens at     {_when(document.get('opens_at'))}", file=out)
    print(f"commitment   {committed}", file=out)
    if algorithm != draw.ALGORITHM:
        print(f"FAILED: the draw uses {algorithm!r}; this version recomputes {draw.ALGORITHM!r}", file=out)
        return EXIT_FAILED
    secret = document.get("secret")
    if secret is None:
        print(f"NOT OPEN YET: the secret is revealed at the opening ({_when(document.get('opens_at'))}); "
              "keep the commitment above and run this again after it", file=out)
        return EXIT_FAILED
    secret = _hex_field(document, "secret", _HEX)
    tickets = _ticket_list(document)
    size = _field(document, "size", int)
    print(f"opened at    {_when(document.get('opened_at'))}", file=out)
    print(f"secret       {secret}", file=out)
    print(f"places       {size:,} in the draw, {len(tickets):,} in the published list", file=out)
    result = _recompute(committed, secret, tickets, size, progress)
    for problem in result.problems:
        print(f"FAILED: {problem}", file=out)
    status = EXIT_VERIFIED if result.ok else EXIT_FAILED
    if result.ok:
        print(f"VERIFIED: the secret matches the commitment and all {len(result.positions):,} positions "
              "were recomputed", file=out)
    if ticket is not None:
        status = max(status, _report_ticket(ticket, tickets, result, out))
    return status


def _recompute(committed: str, secret: str, tickets: list[Any], size: int, progress: TextIO) -> draw.Verification:
    """:func:`core.draw.verify` of the list; for a large draw (:data:`LARGE_DRAW` places or more)
    it runs in a thread while ``progress`` hears, every :data:`PROGRESS_EVERY` seconds, how far
    it probably got (from the rate of a short sample: a million places take some seconds)."""
    if len(tickets) < LARGE_DRAW or not 1 <= size <= draw.MAX_SIZE:
        return draw.verify(committed, secret, tickets, size)
    sample = min(SAMPLE, size)
    started = time.monotonic()
    for index in range(1, sample + 1):
        draw.permute(secret, size, index)
    per_place = (time.monotonic() - started) / sample
    estimate = per_place * len(tickets)
    print(f"recomputing {len(tickets):,} positions (about {estimate:.0f} s)…", file=progress, flush=True)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(draw.verify, committed, secret, tickets, size)
        while True:
            try:
                result = running.result(timeout=PROGRESS_EVERY)
                break
            except concurrent.futures.TimeoutError:
                elapsed = time.monotonic() - started
                share = min(0.99, elapsed / estimate) if estimate > 0 else 0.0
                print(f"  {elapsed:.0f} s, about {share:.0%} done", file=progress, flush=True)
    print(f"recomputed in {time.monotonic() - started:.1f} s", file=progress, flush=True)
    return result


def _report_ticket(ticket: str, tickets: Sequence[Any], result: draw.Verification, out: TextIO) -> int:
    if ticket not in result.positions:
        if not result.ok:
            print(f"ticket {ticket}: no position, the draw did not verify", file=out)
        else:
            print(f"ticket {ticket}: not in the published list (a place taken after the opening keeps "
                  "its arrival order and is not part of the draw; a place taken before it must be in the "
                  "list, and its absence means the draw left it out)", file=out)
        return EXIT_FAILED
    arrival = list(tickets).index(ticket) + 1
    print(f"ticket {ticket}: arrival {arrival:,} of {len(tickets):,} in the pre-queue, "
          f"drawn position {result.positions[ticket]:,}", file=out)
    return EXIT_VERIFIED


def run(args: argparse.Namespace) -> int:
    url = document_url(args.issuer, args.event_id)
    print(f"fetching {url}", file=sys.stderr, flush=True)
    try:
        document = fetch_document(url)
        return check(document, args.event_id, args.ticket, sys.stdout, sys.stderr)
    except ValueError as exc:
        print(f"waitingroom: cannot check the draw: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
