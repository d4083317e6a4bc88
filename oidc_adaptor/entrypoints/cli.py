"""The ``waitingroom`` command: serve, demo, keys rotate, check-config, edge bundle, verify-draw.

Settings precedence, lowest first: built-in defaults, the config file (``--config`` or
``WAITINGROOM_CONFIG``), ``WAITINGROOM_*`` environment variables, then command-line flags.
Nothing here imports the Flask app at import time: ``serve`` builds it inside each gunicorn worker.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.errors import StoreUnavailable
from core.settings import ServerSettings, Settings, SettingsError, check_admin_key_strength

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_ACTIVATE_AFTER = 300.0
ROTATION_LEEWAY = 60.0
"""Seconds added to the longest token validity before an old public key leaves the JWKS (clock skew, caches)."""

MAIN_EPILOG = """\
examples:
  waitingroom demo                                   try it locally, nothing to configure
  waitingroom check-config --config waitingroom.toml
  waitingroom serve --config waitingroom.toml --port 8080 --workers 4
  waitingroom serve --config waitingroom.toml --store redis://127.0.0.1:6379/0
  waitingroom keys rotate --config waitingroom.toml
  waitingroom edge bundle --config edge.toml --out build/edge
  waitingroom verify-draw https://wr.example spring-sale   check an event's published random draw

Every [server] key of the config file can also come from an environment variable
(WAITINGROOM_STORE, WAITINGROOM_ISSUER, WAITINGROOM_ADMIN_KEYS, ...); flags win over both.
Run 'waitingroom COMMAND --help' for the options of one command.
"""

SERVE_EPILOG = """\
examples:
  waitingroom serve --config waitingroom.toml
  waitingroom serve --config waitingroom.toml --host 0.0.0.0 --port 8080 --workers 4
  waitingroom serve --config waitingroom.toml --store redis://10.0.0.5:6379/0
  WAITINGROOM_STORE=sqlite:////var/lib/waitingroom/state.db waitingroom serve --config waitingroom.toml

The server is gunicorn with N worker processes (threads in each); every worker builds its own app
and shares state through the store. With the embedded SQLite store keep all workers on one machine;
with Redis run as many servers as you like behind a load balancer. Ctrl-C or SIGTERM stops it
gracefully. Health: /healthz, readiness: /readyz, metrics: /metrics, API: /openapi.json.
"""

KEYS_EPILOG = """\
examples:
  waitingroom keys rotate --config waitingroom.toml
  waitingroom keys rotate --config waitingroom.toml --activate-after 0

A new RSA key is published in the JWKS at once and starts signing after --activate-after seconds,
so verifiers that cache the JWKS learn it first. Older keys stay published until every token they
signed has expired (the longest token validity configured, plus a minute). Running servers pick
up the change without a restart.
"""

CHECK_EPILOG = """\
examples:
  waitingroom check-config --config waitingroom.toml
  WAITINGROOM_STORE=redis://127.0.0.1:6379/0 waitingroom check-config --config waitingroom.toml

Exits 0 and prints a summary (no secrets) when the configuration is valid, 2 with the reason otherwise.
"""

DEMO_EPILOG = """\
examples:
  waitingroom demo
  waitingroom demo --port 9000 --admit 5 --every 2
  waitingroom demo --state-dir ./.waitingroom-demo     keep the line and keys between runs
  waitingroom demo --fair-opening 120                 a pre-queue drawn at random two minutes from now

Starts the waiting room with one event that lets a few visitors in every few seconds, the sample
shop and its checkout API, all on the embedded store. Press Ctrl-C to stop.
"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=34)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="waitingroom",
        description="A virtual waiting room that admits visitors fairly and hands out signed tokens,\n"
        "exposed as an OpenID Connect provider and a REST API.",
        epilog=MAIN_EPILOG,
        formatter_class=_formatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    serve = commands.add_parser(
        "serve", help="serve the waiting room with gunicorn", description="Serve the waiting room with gunicorn "
        "(OIDC provider, REST and admin API, waiting page).", epilog=SERVE_EPILOG, formatter_class=_formatter,
    )
    _config_argument(serve)
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    serve.add_argument("--workers", type=_positive_int, default=2, metavar="N", help="worker processes (default 2)")
    serve.add_argument("--threads", type=_positive_int, default=4, metavar="N", help="threads per worker (default 4)")
    serve.add_argument("--store", metavar="URL",
                       help="sqlite:///PATH or redis://HOST:PORT/DB (overrides [server] store)")
    serve.add_argument("--issuer", metavar="URL", help="public base URL (overrides [server] issuer; default: "
                       "http://HOST:PORT when not configured)")
    serve.add_argument("--json-logs", action="store_true", default=None, help="log one JSON object per line")
    serve.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    serve.set_defaults(handler=cmd_serve)

    keys = commands.add_parser(
        "keys", help="manage the token signing keys", description="Manage the token signing keys.",
        epilog=KEYS_EPILOG, formatter_class=_formatter,
    )
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", title="actions")
    rotate = key_commands.add_parser(
        "rotate", help="add a new signing key; old keys stay published until their tokens expire",
        description="Add a new signing key to [server] keys_file without downtime.", epilog=KEYS_EPILOG,
        formatter_class=_formatter,
    )
    _config_argument(rotate)
    rotate.add_argument(
        "--activate-after", type=_non_negative_float, default=DEFAULT_ACTIVATE_AFTER, metavar="SECONDS",
        help=f"publish now, start signing after this many seconds (default {DEFAULT_ACTIVATE_AFTER:g})",
    )
    rotate.add_argument(
        "--keep-old-for", type=_non_negative_float, default=None, metavar="SECONDS",
        help="keep old public keys this long after the new key activates (default: the longest token "
        f"validity configured + {ROTATION_LEEWAY:g} s)",
    )
    rotate.set_defaults(handler=cmd_keys_rotate)
    keys.set_defaults(handler=lambda args: _usage(keys))

    check = commands.add_parser(
        "check-config", help="validate a configuration and print a summary",
        description="Validate the configuration (file + environment) and print a summary without secrets.",
        epilog=CHECK_EPILOG, formatter_class=_formatter,
    )
    _config_argument(check)
    check.add_argument("--store", metavar="URL", help="check as if --store were given to serve")
    check.set_defaults(handler=cmd_check_config)

    hashing = commands.add_parser(
        "hash-secret", help="hash a client secret for [clients.X] secret_hash",
        description="Read a client secret from standard input and print its hash for the config file,\n"
        "so the file never holds the secret itself.",
        epilog="examples:\n  openssl rand -base64 32 | tee shop-secret.txt | waitingroom hash-secret\n"
        "  waitingroom hash-secret < shop-secret.txt\n\n"
        "Put the printed value in the client's table: secret_hash = \"scrypt$...\"",
        formatter_class=_formatter,
    )
    hashing.set_defaults(handler=cmd_hash_secret)

    demo = commands.add_parser(
        "demo", help="run the whole journey locally with a sample shop",
        description="Run the waiting room, a sample shop and its checkout API locally, with nothing to configure.",
        epilog=DEMO_EPILOG, formatter_class=_formatter,
    )
    from . import demo as demo_runner

    demo_runner.add_arguments(demo)
    demo.add_argument("--data-dir", dest="state_dir", default=argparse.SUPPRESS, metavar="DIR",
                      help="same as --state-dir")
    demo.set_defaults(handler=cmd_demo)
    _add_edge_parser(commands)
    from . import verify_draw

    verify_draw.add_parser(commands, _formatter)
    return parser


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", metavar="FILE", default=None,
        help="TOML configuration file (default: $WAITINGROOM_CONFIG, else built-in defaults)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_CONFIG


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_settings(config: str | None, **server_flags: Any) -> Settings:
    """defaults < file < environment (:meth:`Settings.load`) < flags."""
    settings = Settings.load(config)
    return settings.with_server(**server_flags)


def redact_url(url: str) -> str:
    """A store URL with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


# -- serve ----------------------------------------------------------------------------------------


def serve_settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config, store=args.store, issuer=args.issuer, json_logs=args.json_logs,
                             log_level=args.log_level)
    if args.issuer is None and settings.server.issuer == ServerSettings().issuer:
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
        settings = settings.with_server(issuer=f"http://{host}:{args.port}")
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    from oidc_adaptor.app import check_settings

    settings = serve_settings(args)
    check_settings(settings)  # a bad configuration is one line here, not a traceback from every worker
    check_admin_key_strength(settings)
    from .server import override_notes, prepare, run_gunicorn

    _progress(f"waitingroom: configuration {settings.source}, {len(settings.events)} event(s), "
              f"store {redact_url(settings.server.store)}")
    prepare(settings, progress=_progress)  # a store or key file that cannot be opened: main() says so in one line
    for note in override_notes(settings):
        _progress(f"waitingroom: {note}")
    _progress(f"waitingroom: serving on http://{args.host}:{args.port} with {args.workers} worker(s) "
              f"x {args.threads} thread(s); issuer {settings.server.issuer}; Ctrl-C to stop")
    return run_gunicorn(settings, host=args.host, port=args.port, workers=args.workers, threads=args.threads)


# -- keys rotate ----------------------------------------------------------------------------------


def longest_token_validity(settings: Settings) -> int:
    values = [e.token_validity for e in settings.events.values()]
    values += [c.token_lifetime for c in settings.clients.values()]
    return max(values, default=3600)


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from core.adapters.filekeys import FileKeySource

    settings = load_settings(args.config)
    keep = args.keep_old_for
    if keep is None:
        keep = longest_token_validity(settings) + ROTATION_LEEWAY
    source = FileKeySource(settings.server.keys_file)
    now = time.time()
    _progress(f"waitingroom: generating a new RSA key for {settings.server.keys_file} ...")
    source.ensure(now)  # first: rotate() on a missing file would try to take its lock twice
    keyset = source.rotate(now, args.activate_after, keep)
    new = keyset.keys[-1]
    print(f"new key {new.kid}: published now, signs from {_when(new.not_before)}")
    for key in keyset.keys[:-1]:
        print(f"old key {key.kid}: leaves the JWKS at {_when(key.retire_at)}")
    return EXIT_OK


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


# -- check-config ---------------------------------------------------------------------------------


def config_summary(settings: Settings) -> str:
    """What the settings say, without admin keys, client secrets or store passwords."""
    server = settings.server
    lines = [
        f"configuration: {settings.source}",
        f"issuer:        {server.issuer}",
        f"store:         {redact_url(server.store)}{_store_file(server.store)}",
        f"keys file:     {Path(server.keys_file).resolve()}",
        f"admin API:     {server.admin_prefix} ({len(server.admin_keys)} key(s) configured)"
        if server.admin_keys else f"admin API:     {server.admin_prefix} (disabled: no admin_keys)",
        f"CORS origins:  {', '.join(server.cors_origins) or 'none'}",
        f"logs:          {'JSON' if server.json_logs else 'plain'}, level {server.log_level}",
        f"scheduler:     {'on' if server.scheduler else 'off'} (every {server.scheduler_interval:g} s)",
        f"events ({len(settings.events)}):",
    ]
    for event in settings.events.values():
        policy = event.admission
        if policy.strategy.value == "periodic":
            admission = f"periodic, {policy.increment_by} every {policy.every:g} s"
        elif policy.strategy.value == "max_active":
            admission = f"max_active, at most {policy.max_active} active (checked every {policy.every:g} s)"
        else:
            admission = "manual (admin API only)"
        if policy.start_at is not None:
            admission += f"; opens {_when(policy.start_at)}"
        if policy.end_at is not None:
            admission += f"; closes {_when(policy.end_at)}"
        expiry = f"{event.queue_position_expiry} s" if event.queue_position_expiry else "off"
        lines.append(
            f"  {event.event_id}: {event.display_name!r}; tokens valid {event.token_validity} s; "
            f"position expiry {expiry}{', replaced' if event.incr_serving_on_expiry else ''}; admission {admission}"
        )
    lines.append(f"clients ({len(settings.clients)}):")
    for client in settings.clients.values():
        kind = "public (PKCE)" if client.is_public else "confidential"
        lines.append(f"  {client.client_id}: event {client.event_id}, {kind}, "
                     f"redirect URIs {', '.join(client.redirect_uris)}")
    return "\n".join(lines)


def page_warnings(settings: Settings) -> list[str]:
    """What may spoil a waiting page: colour pairs below WCAG contrast, a logo or a template
    folder that is not there."""
    warnings = []
    if settings.server.templates_dir and not Path(settings.server.templates_dir).is_dir():
        warnings.append(f"[server] templates_dir {settings.server.templates_dir!r} is not a folder")
    for event in settings.events.values():
        where = f"[events.{event.event_id}.page]"
        warnings += [f"{where} {text}" for text in event.page.contrast_warnings()]
        if event.page.logo and not Path(event.page.logo).is_file():
            warnings.append(f"{where} logo {event.page.logo!r} is not a readable file")
        if event.page.templates_dir and not Path(event.page.templates_dir).is_dir():
            warnings.append(f"{where} templates_dir {event.page.templates_dir!r} is not a folder")
    return warnings


MIN_CLAIM_WINDOW = 60
"""Seconds below which an admitted visitor is unlikely to reach the site before the place expires."""


def config_warnings(settings: Settings) -> list[str]:
    """Settings that pass validation but cannot work as meant, one sentence each."""
    server = settings.server
    warnings = []
    if not settings.events:
        warnings.append("no events are configured; add an [events.<id>] table")
    for event in settings.events.values():
        expiry = event.queue_position_expiry
        if 0 < expiry < MIN_CLAIM_WINDOW:
            warnings.append(
                f"event {event.event_id}: queue_position_expiry = {expiry} s gives an admitted visitor less than "
                f"{MIN_CLAIM_WINDOW} s to reach the site; a page in a background tab, or without JavaScript, "
                "may lose its place before it checks again")
        if 0 < expiry <= 3 * server.scheduler_interval + server.clock_skew:
            warnings.append(
                f"event {event.event_id}: queue_position_expiry = {expiry} s is not longer than three scheduler "
                f"passes ({server.scheduler_interval:g} s each) plus clock_skew ({server.clock_skew:g} s)")
        policy = event.admission
        if policy.strategy.value != "manual" and policy.every < server.scheduler_interval:
            warnings.append(
                f"event {event.event_id}: admission every {policy.every:g} s is shorter than the scheduler "
                f"interval ({server.scheduler_interval:g} s), so admission steps run less often than configured")
        if policy.start_at is not None and policy.end_at is not None and policy.end_at <= policy.start_at:
            warnings.append(f"event {event.event_id}: admission end_at is not after start_at: nobody is ever let in")
        if policy.end_at is not None and policy.end_at <= time.time():
            warnings.append(f"event {event.event_id}: admission end_at has passed: nobody is let in automatically")
    if not server.scheduler:
        warnings.append("the scheduler is off: no admission strategy or expiry runs in this server")
    return warnings


def _store_file(url: str) -> str:
    """For a SQLite store, the file it resolves to from the current directory (as serve opens it)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return ""
    from core.adapters.sqlite import path_from_url

    return f" (file {Path(path_from_url(url)).resolve()})"


def cmd_check_config(args: argparse.Namespace) -> int:
    from oidc_adaptor.app import check_settings

    settings = load_settings(args.config, store=args.store)
    check_settings(settings)
    check_admin_key_strength(settings)
    print(config_summary(settings))
    for warning in [*config_warnings(settings), *page_warnings(settings)]:
        print(f"warning: {warning}", file=sys.stderr)
    print("configuration OK")
    return EXIT_OK


def cmd_hash_secret(args: argparse.Namespace) -> int:
    from oidc_adaptor.oidc.passwords import hash_secret

    secret = sys.stdin.readline().strip()
    if not secret:
        print("waitingroom: no secret on standard input", file=sys.stderr)
        return EXIT_CONFIG
    print(hash_secret(secret))
    return EXIT_OK


# -- demo -----------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo as demo_runner

    return demo_runner.run(demo_runner.plan_from_args(args))


# -- edge bundle ----------------------------------------------------------------------------------

EDGE_EPILOG = """\
examples:
  waitingroom edge bundle --config edge.toml --out build/edge
  waitingroom edge bundle --config edge.toml --out build/edge --jwks jwks.json
  waitingroom edge bundle --config edge.toml --out build/edge --no-fetch-jwks

Builds waitingroom-edge.zip, the CloudFront viewer-request function (handler
authorizer.edge.handler) with its configuration, its sign-in cookie key and the issuer's public
keys inside: Lambda@Edge has no environment variables. The issuer's keys are fetched from its
JWKS unless --jwks or --no-fetch-jwks is given (then the gate fetches them on its first request).
Prints the zip's path and size; fails if it exceeds Lambda@Edge's 1 MB limit. See docs/aws.md.
"""


def _add_edge_parser(commands: Any) -> None:
    edge = commands.add_parser(
        "edge", help="the CloudFront Lambda@Edge gate", description="The CloudFront Lambda@Edge gate.",
        epilog=EDGE_EPILOG, formatter_class=_formatter,
    )
    actions = edge.add_subparsers(dest="edge_command", metavar="ACTION", title="actions")
    bundle = actions.add_parser(
        "bundle", help="build the Lambda@Edge zip from a TOML file",
        description="Build the viewer-request function's zip from a TOML file ([edge] table).",
        epilog=EDGE_EPILOG, formatter_class=_formatter,
    )
    bundle.add_argument("--config", "-c", metavar="FILE", required=True, help="the gate's TOML configuration")
    bundle.add_argument("--out", metavar="DIR", required=True, help="folder to write waitingroom-edge.zip into")
    keys = bundle.add_mutually_exclusive_group()
    keys.add_argument("--jwks", metavar="FILE", help="bundle the issuer's keys from this JWKS file")
    keys.add_argument("--no-fetch-jwks", action="store_true", help="bundle no keys; the gate fetches them")
    bundle.set_defaults(handler=cmd_edge_bundle)
    edge.set_defaults(handler=lambda args: _usage(edge))


def cmd_edge_bundle(args: argparse.Namespace) -> int:
    from authorizer import edge_bundle
    from authorizer.edge_config import EdgeConfig, EdgeConfigError

    try:
        config = EdgeConfig.from_toml(args.config)
        jwks = edge_bundle.load_jwks(args.jwks) if args.jwks else None
        built = edge_bundle.build(config, args.out, jwks=jwks, fetch_jwks=not args.no_fetch_jwks)
    except (EdgeConfigError, edge_bundle.BundleError) as exc:
        print(f"waitingroom: cannot build the edge bundle: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"{built.path} {built.size} bytes ({built.size / edge_bundle.MAX_ZIP_BYTES:.0%} of the 1 MB limit), "
          f"{built.keys} public key(s), handler {edge_bundle.HANDLER}")
    return EXIT_OK


# -- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        return _usage(parser)
    try:
        return handler(args)
    except SettingsError as exc:
        print(f"waitingroom: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (StoreUnavailable, OSError) as exc:  # a store or key file that cannot be opened: one line
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = f"{exc.filename}: " if isinstance(exc, OSError) and exc.filename else ""
        print(f"waitingroom: cannot start: {where}{reason}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return 130


__all__ = ["build_parser", "config_summary", "main", "redact_url"]

if __name__ == "__main__":
    sys.exit(main())
