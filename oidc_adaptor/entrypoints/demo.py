"""The one-command local demo: waiting room, sample site and checkout API in one process.

``waitingroom demo`` needs no configuration. It starts, on the embedded SQLite store in a
temporary folder:

* the waiting room (OIDC provider, REST and admin API, control panel) on ``--port`` (8080), with
  one event whose periodic admission lets a few visitors in every few seconds, and a public
  client registered for the sample site;
* the static sample site on the next port, with a ``config.json`` written for this demo;
* the sample site's checkout API, behind the project's site gate, on the port after that.

Every server runs in a thread of this one process, so Ctrl-C (or SIGTERM) stops all of them
and nothing is left behind; the temporary folder is removed unless ``--state-dir`` was given.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import mimetypes
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

log = logging.getLogger("waitingroom.demo")


def _server(host: str, port: int, app: Any) -> BaseWSGIServer:
    """A threaded server on ``host:port``. The socket is bound here, so a busy port is an OSError
    (naming the port) for the caller to explain, not werkzeug's own message and exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listening = socket.create_server((host.strip("[]"), port), family=family)
    except OSError as exc:
        exc.filename = str(port)
        raise
    with listening:
        return make_server(host, port, app, threaded=True, fd=listening.fileno())

DEMO_EVENT_ID = "demo-sale"
DEMO_EVENT_NAME = "Spring ticket sale"
SAMPLE_CLIENT_ID = "sample-site"
CALLBACK_PATH = "/callback.html"

SITE_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' {connect}; form-action 'self' {connect}; frame-ancestors 'none'; base-uri 'none'"
)


def sample_site_dir() -> Path:
    """The static sample site: ``WAITINGROOM_SAMPLE_SITE`` if set, else ``sample_site/`` of the checkout."""
    override = os.environ.get("WAITINGROOM_SAMPLE_SITE")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "sample_site"


@dataclass(frozen=True)
class DemoPlan:
    """Where everything of one demo runs and how it admits visitors."""

    host: str = "127.0.0.1"
    port: int = 8080
    site_port: int | None = None  # default: port + 1
    api_port: int | None = None  # default: port + 2
    admin_key: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    increment_by: int = 3
    every: float = 5.0
    token_validity: int = 900
    queue_position_expiry: int = 120
    state_dir: str | None = None
    sale_opens_at: str | None = None
    opens_at: float | None = None
    """A fair opening (POSIX seconds): visitors who come earlier wait in a pre-queue and are drawn
    at random at this time (``--fair-opening SECONDS``); None for a line in arrival order."""

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def site_origin(self) -> str:
        return f"http://{self.host}:{self.site_port or self.port + 1}"

    @property
    def api_origin(self) -> str:
        return f"http://{self.host}:{self.api_port or self.port + 2}"

    @property
    def redirect_uri(self) -> str:
        return self.site_origin + CALLBACK_PATH


def demo_config(plan: DemoPlan, state_dir: str | Path) -> dict[str, Any]:
    """The waiting room configuration of the demo, as the mapping a TOML file would give."""
    state = Path(state_dir)
    return {
        "server": {
            "issuer": plan.issuer,
            "store": f"sqlite:///{state / 'state.db'}",
            "keys_file": str(state / "keys.json"),
            "admin_keys": [plan.admin_key],
            "cors_origins": [plan.site_origin],
            "scheduler": True,
            "scheduler_interval": min(1.0, plan.every / 2),
        },
        "events": {
            DEMO_EVENT_ID: {
                "name": DEMO_EVENT_NAME,
                "token_validity": plan.token_validity,
                "queue_position_expiry": plan.queue_position_expiry,
                "incr_serving_on_expiry": True,
                "admission": {"strategy": "periodic", "increment_by": plan.increment_by, "every": plan.every},
                **({} if plan.opens_at is None else {"opens_at": plan.opens_at, "queueing": "random_before_opening"}),
            }
        },
        "clients": {
            SAMPLE_CLIENT_ID: {
                "event": DEMO_EVENT_ID,
                "name": "Sample shop",
                "redirect_uris": [plan.redirect_uri],
                "token_lifetime": plan.token_validity,
            }
        },
    }


def site_config(plan: DemoPlan) -> dict[str, Any]:
    """The sample site's ``config.json`` for this demo (the CDK app writes the same shape)."""
    return {
        "issuer": plan.issuer,
        "client_id": SAMPLE_CLIENT_ID,
        "event_id": DEMO_EVENT_ID,
        "api_url": plan.api_origin,
        "event_name": DEMO_EVENT_NAME,
        "sale_opens_at": plan.sale_opens_at or datetime.fromtimestamp(
            plan.opens_at if plan.opens_at is not None else time.time(), UTC).isoformat(timespec="seconds"),
    }


class StaticSite:
    """A WSGI app serving a folder of static files, with ``config.json`` given by the caller.

    Only files inside the folder are served (no traversal, no dotfiles); the CSP lets the
    pages' scripts talk to the waiting room and the API origins and nothing else.
    """

    def __init__(self, root: Path, config: Mapping[str, Any], connect: Iterable[str] = ()) -> None:
        self.root = root.resolve()
        self.config_body = json.dumps(config, indent=2).encode()
        self.csp = SITE_CONTENT_SECURITY_POLICY.format(connect=" ".join(connect))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.respond(request)
        response.headers["Content-Security-Policy"] = self.csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("method not allowed\n", status=405, headers={"Allow": "GET, HEAD"})
        path = request.path.lstrip("/") or "index.html"
        if path == "config.json":
            return Response(self.config_body, mimetype="application/json", headers={"Cache-Control": "no-store"})
        if any(part.startswith(".") or part == "" for part in path.split("/")):
            return Response("not found\n", status=404, mimetype="text/plain")
        target = (self.root / path).resolve()
        if self.root not in target.parents or not target.is_file():
            return Response("not found\n", status=404, mimetype="text/plain")
        mimetype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if mimetype.startswith("text/") or mimetype in ("application/javascript", "application/json"):
            mimetype += "; charset=utf-8"
        return Response(target.read_bytes(), headers={"Content-Type": mimetype, "Cache-Control": "no-cache"})


@dataclass
class RunningDemo:
    """The servers of one demo; :meth:`stop` shuts every one down and removes temporary state."""

    plan: DemoPlan
    servers: list[BaseWSGIServer]
    threads: list[threading.Thread]
    stop_hooks: list[Callable[[], None]]
    cleanup_dir: str | None

    def urls(self) -> dict[str, str]:
        return {
            "site": self.plan.site_origin + "/",
            "waiting_room": self.plan.issuer,
            "panel": self.plan.issuer + "/admin/panel",
            "checkout_api": self.plan.api_origin,
        }

    def stop(self) -> None:
        for hook in self.stop_hooks:
            try:
                hook()
            except Exception:  # keep stopping the rest
                log.exception("stopping the demo")
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(timeout=5)
        if self.cleanup_dir:
            shutil.rmtree(self.cleanup_dir, ignore_errors=True)


def start_demo(plan: DemoPlan, site_dir: Path | None = None) -> RunningDemo:
    """Start the three servers in background threads and return once they all listen."""
    from authorizer.config import AuthorizerConfig
    from authorizer.session_end import admin_session_ender
    from core.settings import Settings
    from oidc_adaptor.app import create_app

    from .demo_checkout import create_checkout_app

    site_dir = site_dir or sample_site_dir()
    if not (site_dir / "index.html").is_file():
        raise SystemExit(f"the sample site was not found in {site_dir}; set WAITINGROOM_SAMPLE_SITE")
    cleanup = None
    state_dir = plan.state_dir
    if state_dir is None:
        state_dir = cleanup = tempfile.mkdtemp(prefix="waitingroom-demo-")
    Path(state_dir).mkdir(parents=True, exist_ok=True)

    settings = Settings.from_mapping(demo_config(plan, state_dir), source="demo")
    room_app = create_app(settings, start_scheduler=True)
    services = room_app.extensions["waitingroom"]
    gate_config = AuthorizerConfig(
        issuer=plan.issuer,
        audience=(DEMO_EVENT_ID,),
        jwks_url=f"{plan.issuer}/.well-known/jwks.json",
        jwks_min_interval=1.0,
        # Ending the session at checkout revokes the token (not only when it expires). The demo
        # asks on every request so this shows at once; a busy site caches answers a few seconds.
        session_status_url=f"{plan.issuer}/session_status?event_id={{event_id}}&jti={{jti}}",
        session_status_ttl=0.0,
    )
    checkout_app = create_checkout_app(
        gate_config,
        allowed_origins=[plan.site_origin],
        end_session=admin_session_ender(plan.issuer, plan.admin_key, settings.server.admin_prefix),
    )
    site_app = StaticSite(site_dir, site_config(plan), connect=[plan.issuer, plan.api_origin])

    servers: list[BaseWSGIServer] = []
    threads: list[threading.Thread] = []
    stop_hooks: list[Callable[[], None]] = []
    scheduler = room_app.extensions.get("waitingroom_scheduler")
    if scheduler is not None:
        stop_hooks.append(scheduler.stop)
    stop_hooks.append(services.store.close)
    try:
        for port, app in (
            (plan.port, room_app),
            (int(plan.site_origin.rsplit(":", 1)[1]), site_app),
            (int(plan.api_origin.rsplit(":", 1)[1]), checkout_app),
        ):
            servers.append(_server(plan.host, port, app))
    except OSError as exc:
        for server in servers:
            server.server_close()
        for hook in stop_hooks:
            hook()
        if cleanup:
            shutil.rmtree(cleanup, ignore_errors=True)
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(f"cannot start the demo: port {exc.filename} is in use. Choose other ports with "
                             f"--port N (the waiting room takes N, the sample site N+1 and its API N+2), for "
                             f"example: waitingroom demo --port {plan.port + 10}") from None
        raise SystemExit(f"cannot start the demo: {exc}") from None
    for server in servers:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        thread.start()
        threads.append(thread)
    return RunningDemo(plan, servers, threads, stop_hooks, cleanup)


def banner(demo: RunningDemo) -> str:
    plan = demo.plan
    return "\n".join(
        [
            "",
            "Waiting room demo is running (embedded store, nothing to configure).",
            "",
            f"  Sample shop        {plan.site_origin}/        <- open this, in several tabs or browsers",
            f"  Control panel      {plan.issuer}/admin/panel   admin key: {plan.admin_key}",
            f"  Waiting room       {plan.issuer}   (OIDC issuer; discovery at /.well-known/openid-configuration)",
            f"  Checkout API       {plan.api_origin}/checkout   (needs a waiting-room access token)",
            "",
            f"  Admission: {plan.increment_by} visitor(s) every {plan.every:g} s. Press Ctrl-C to stop.",
            *_fair_opening_lines(plan),
            "",
        ]
    )


def _fair_opening_lines(plan: DemoPlan) -> list[str]:
    """With ``--fair-opening``: when the draw happens and where anyone can check it."""
    if plan.opens_at is None:
        return []
    opens = time.strftime("%H:%M:%S UTC", time.gmtime(plan.opens_at))
    check = f"{plan.issuer}/events/{DEMO_EVENT_ID}/draw/verify"
    return [
        f"  Fair opening: visitors who join before {opens} are put in line by a random draw then.",
        f"  Check the draw after it at {check}",
        f"  or with: waitingroom verify-draw {plan.issuer} {DEMO_EVENT_ID}",
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="waitingroom demo", description="Run the whole journey locally.")
    add_arguments(parser)
    return parser.parse_args(argv)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's command-line options (shared with ``waitingroom demo``)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="waiting room port; the site and API use the next two")
    parser.add_argument("--site-port", type=int, default=None, help="sample site port (default port + 1)")
    parser.add_argument("--api-port", type=int, default=None, help="checkout API port (default port + 2)")
    parser.add_argument("--admin-key", default=None, help="admin API key for the control panel (default: random)")
    parser.add_argument("--admit", type=int, default=3, help="visitors let in per admission step (default 3)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between admission steps (default 5)")
    parser.add_argument("--state-dir", default=None, help="keep the store and keys here (default: a temporary folder)")
    parser.add_argument("--fair-opening", type=float, default=None, metavar="SECONDS",
                        help="open the sale SECONDS from now with a random draw of everyone who came earlier")


def plan_from_args(args: argparse.Namespace) -> DemoPlan:
    values: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "site_port": args.site_port,
        "api_port": args.api_port,
        "increment_by": args.admit,
        "every": args.every,
        "state_dir": args.state_dir,
        "opens_at": None if args.fair_opening is None else time.time() + args.fair_opening,
    }
    if args.admin_key:
        values["admin_key"] = args.admin_key
    return DemoPlan(**values)


def run(plan: DemoPlan, out: Any = None) -> int:
    """Start the demo, print where everything is, and block until Ctrl-C or SIGTERM."""
    out = out or sys.stdout
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    # One line per request (the waiting pages poll) would bury the banner; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    demo = start_demo(plan)
    try:
        print(banner(demo), file=out, flush=True)
        while not stop.wait(0.5):
            pass
        print("Stopping the demo...", file=out, flush=True)
    finally:
        demo.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Stopped.", file=out, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(plan_from_args(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
