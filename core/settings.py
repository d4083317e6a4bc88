"""One Settings object, built at the edge from a TOML file and ``WAITINGROOM_*`` environment variables.

Precedence, lowest first: built-in defaults, the config file, environment variables, command-line
flags (applied by the caller with :meth:`Settings.with_overrides`).

Environment variables: ``WAITINGROOM_<SECTION>_<KEY>`` for ``[server]`` keys (for example
``WAITINGROOM_SERVER_STORE``; the short form ``WAITINGROOM_STORE`` works too) and
``WAITINGROOM_EVENTS__<EVENT>__<KEY>`` / ``WAITINGROOM_CLIENTS__<CLIENT>__<KEY>`` for tables of the
configuration file, with the id spelt as :func:`env_name` spells it (``SPRING_SALE`` for
``spring-sale``), so every name can be exported from a shell; naming an id the file does not
define is an error.
Values are parsed as TOML values when they parse (``3600``, ``true``, ``["a", "b"]``,
``{ strategy = "periodic", every = 5 }``), else taken as plain strings.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import page_look
from .model import AdmissionPolicy, EventSettings, Queueing, Strategy

ENV_PREFIX = "WAITINGROOM_"
DEFAULT_STORE = "sqlite:///waitingroom-state.db"


class SettingsError(ValueError):
    """The configuration is invalid; the message says which key and why."""


@dataclass(frozen=True)
class ClientSettings:
    """One OpenID Connect relying party."""

    client_id: str
    event_id: str
    redirect_uris: tuple[str, ...]
    secret: str | None = None  # None: a public client (PKCE required)
    secret_hash: str | None = None  # alternative to ``secret``: a hash made by ``waitingroom hash-secret``
    auth_methods: tuple[str, ...] = ()
    token_lifetime: int = 3600
    allow_insecure_http: bool = False
    email_claim: bool = False
    name: str = ""

    @property
    def is_public(self) -> bool:
        return self.secret is None and self.secret_hash is None


@dataclass(frozen=True)
class ServerSettings:
    issuer: str = "http://127.0.0.1:8080"
    store: str = DEFAULT_STORE
    keys_file: str = "waitingroom-keys.json"
    admin_keys: tuple[str, ...] = ()
    admin_prefix: str = "/admin"
    cors_origins: tuple[str, ...] = ()
    json_logs: bool = False
    log_level: str = "INFO"
    scheduler: bool = True
    scheduler_interval: float = 1.0
    max_body_bytes: int = 16 * 1024
    store_timeout: float = 0.5
    allow_redis_eviction: bool = False  # run on a Redis whose maxmemory-policy is not noeviction (warns)
    sqlite_synchronous: str = "FULL"  # SQLite durability: FULL loses no acknowledged place on power loss; NORMAL may
    retry_after: int = 2
    enter_rate_limit: str = ""  # e.g. "10/minute": entries per client address and window; "" = off
    trusted_proxies: int = 0  # proxies in front that append to X-Forwarded-For (0: use the peer address)
    clock_skew: float = 2.0  # seconds workers' clocks may differ; expiry and scheduled admission allow for it
    allow_weak_admin_keys: bool = False  # accept admin keys under 128 bits or placeholders (local tries only)
    request_timeout: float = 10.0  # seconds a request's headers and body may take to arrive (waitingroom serve)
    status_max_age: int = 1  # seconds caches (browsers, the nginx front, CloudFront) keep an event's status document
    templates_dir: str = ""  # a folder whose templates replace the built-in pages ("" = the built-in ones)


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    events: Mapping[str, EventSettings] = field(default_factory=dict)
    clients: Mapping[str, ClientSettings] = field(default_factory=dict)
    source: str = "defaults"
    event_admin_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    """``[events.X] admin_keys``: admin keys valid for that one event only."""

    def with_server(self, **changes: Any) -> Settings:
        """A copy with some ``[server]`` keys replaced (None values are ignored)."""
        values = {k: v for k, v in changes.items() if v is not None}
        return replace(self, server=replace(self.server, **values)) if values else self

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the config file (if any) and the environment into validated settings."""
        environ = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        path = path or environ.get(ENV_PREFIX + "CONFIG")
        source = "defaults"
        if path:
            try:
                data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise SettingsError(f"config file not found: {path}") from None
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
            source = str(path)
        _merge_environment(data, environ)
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "mapping") -> Settings:
        unknown = set(data) - {"server", "events", "clients"}
        if unknown:
            raise SettingsError(f"unknown section(s): {', '.join(sorted(unknown))}")
        server = _build_server(data.get("server", {}))
        raw_events = _table(data, "events")
        event_keys = {eid: _event_admin_keys(eid, raw) for eid, raw in raw_events.items()}
        events = {
            eid: _build_event(eid, {k: v for k, v in raw.items() if k != "admin_keys"})
            for eid, raw in raw_events.items()
        }
        clients = {cid: _build_client(cid, raw, events) for cid, raw in _table(data, "clients").items()}
        return cls(server=server, events=events, clients=clients, source=source,
                   event_admin_keys={eid: keys for eid, keys in event_keys.items() if keys})


PLACEHOLDER_KEYS = frozenset({
    "change-me", "changeme", "change_me", "admin", "password", "secret", "test", "example", "admin-key",
    "your-admin-key", "replace-me", "replaceme", "sale-team-key",
})
"""Keys copied from examples; refused whatever their length."""

MIN_ADMIN_KEY_BITS = 128


def admin_key_bits(key: str) -> float:
    """What a key's form can hold, in bits: its length times log2 of the alphabet it draws on
    (lower case, upper case, digits, other characters each counted when present). An upper bound
    on what a person typed, exact for a random key of that alphabet."""
    alphabet = sum(size for present, size in (
        (any(c.islower() for c in key), 26), (any(c.isupper() for c in key), 26),
        (any(c.isdigit() for c in key), 10), (any(not c.isalnum() for c in key), 33),
    ) if present)
    bits = len(key) * math.log2(alphabet) if alphabet > 1 else 0.0
    return bits if len(set(key)) >= 8 else min(bits, len(set(key)) * 8.0)  # "aaaa...": few distinct characters


def check_admin_key_strength(settings: Settings) -> None:
    """Raise SettingsError for an admin key that is a known placeholder or holds under 128 bits,
    unless ``[server] allow_weak_admin_keys``. Run by ``waitingroom serve`` and ``check-config``
    (not by the app factory, so tests and the demo may use short keys)."""
    if settings.server.allow_weak_admin_keys:
        return
    keys = [(f"[server] admin_keys[{i}]", k) for i, k in enumerate(settings.server.admin_keys)]
    for event_id, event_keys in settings.event_admin_keys.items():
        keys += [(f"[events.{event_id}] admin_keys[{i}]", k) for i, k in enumerate(event_keys)]
    for where, key in keys:
        if key.strip().lower() in PLACEHOLDER_KEYS:
            problem = "is a placeholder from an example"
        elif (bits := admin_key_bits(key)) < MIN_ADMIN_KEY_BITS:
            problem = f"holds at most {bits:.0f} bits"
        else:
            continue
        raise SettingsError(
            f"{where} {problem}; use at least {MIN_ADMIN_KEY_BITS} random bits, e.g. the output of "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))' "
            "(or set [server] allow_weak_admin_keys = true for a local try)"
        )

MAX_STATUS_MAX_AGE = 60
"""Longest cache window for status documents: a minute-old serving counter already misleads the page."""

RATE_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|seconds|m|min|minute|minutes|h|hour|hours)\s*$")
_RATE_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_rate(text: str) -> tuple[int, float] | None:
    """``"10/minute"`` -> (10, 60.0); ``"5/30s"`` -> (5, 30.0); ``""`` -> None (no limit).

    Raises SettingsError for anything else.
    """
    if not text.strip():
        return None
    match = RATE_PATTERN.match(text)
    if match is None or int(match.group(1)) <= 0 or match.group(2) == "0":
        raise SettingsError(f"invalid rate {text!r}: use COUNT/UNIT like \"10/minute\" or \"5/30s\"")
    window = int(match.group(2) or 1) * _RATE_UNITS[match.group(3)[0]]
    return int(match.group(1)), float(window)


def _event_admin_keys(event_id: str, raw: Mapping[str, Any]) -> tuple[str, ...]:
    keys = raw.get("admin_keys", [])
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise SettingsError(f"[events.{event_id}] admin_keys must be a list of non-empty strings")
    return tuple(keys)


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Mapping[str, Any]]:
    table = data.get(name, {})
    if not isinstance(table, Mapping) or not all(isinstance(v, Mapping) for v in table.values()):
        raise SettingsError(f"[{name}] must be a table of tables, like [{name}.my-id]")
    return table


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def env_name(item_id: str) -> str:
    """How an event or client id is spelt in an environment variable name: upper case, with
    ``-`` and ``.`` as ``_``, so a shell can export it (``spring-sale`` -> ``SPRING_SALE``)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", item_id).upper()


def _defined_id(variable: str, section: str, spelt: str, table: Mapping[str, Any]) -> str:
    """The id of the event or client that ``spelt`` names in ``variable`` (see :func:`env_name`).

    A variable sets a key of an event or client the configuration defines; one naming any other
    is an error, never a new event or client with default settings."""
    matches = [item_id for item_id in table if env_name(item_id) == env_name(spelt)]
    if len(matches) == 1:
        return matches[0]
    kind = section[:-1]
    if matches:
        raise SettingsError(f"{variable} could mean {kind}s {', '.join(sorted(matches))}; rename one of them")
    known = ", ".join(env_name(i) for i in sorted(table)) or "none"
    raise SettingsError(f"{variable} names {kind} {spelt!r}, which the configuration does not define "
                        f"(defined, as spelt in variable names: {known})")


def _merge_environment(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    server_keys = {f.upper() for f in ServerSettings.__dataclass_fields__}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        rest = name[len(ENV_PREFIX):]
        value = _parse_env_value(raw)
        if "__" in rest:
            section, _, tail = rest.partition("__")
            item, _, key = tail.partition("__")
            if section.lower() in ("events", "clients") and item and key:
                table = data.setdefault(section.lower(), {})
                table[_defined_id(name, section.lower(), item, table)][key.lower()] = value
            continue
        key = rest[len("SERVER_"):] if rest.startswith("SERVER_") else rest
        if key in server_keys:
            data.setdefault("server", {})[key.lower()] = value


def _build_server(raw: Mapping[str, Any]) -> ServerSettings:
    fields = ServerSettings.__dataclass_fields__
    unknown = set(raw) - set(fields)
    if unknown:
        raise SettingsError(f"unknown [server] key(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        default = getattr(ServerSettings(), key)
        if isinstance(default, tuple):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SettingsError(f"[server] {key} must be a list of strings")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise SettingsError(f"[server] {key} must be true or false")
        elif isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SettingsError(f"[server] {key} must be a number")
        elif not isinstance(value, str):
            raise SettingsError(f"[server] {key} must be a string")
        values[key] = value
    server = ServerSettings(**values)
    if not server.issuer.startswith(("http://", "https://")) or server.issuer.endswith("/"):
        raise SettingsError("[server] issuer must be an http(s) URL without a trailing slash")
    if isinstance(server.status_max_age, float) or not 0 <= server.status_max_age <= MAX_STATUS_MAX_AGE:
        raise SettingsError(f"[server] status_max_age must be a whole number of seconds from 0 to {MAX_STATUS_MAX_AGE}")
    if not server.admin_prefix.startswith("/") or server.admin_prefix.endswith("/"):
        raise SettingsError("[server] admin_prefix must start with '/' and not end with one")
    parse_rate(server.enter_rate_limit)
    if not isinstance(server.trusted_proxies, int) or not 0 <= server.trusted_proxies <= 10:
        raise SettingsError("[server] trusted_proxies must be a whole number from 0 to 10")
    if not 0 <= server.clock_skew <= 60:
        raise SettingsError("[server] clock_skew must be between 0 and 60 seconds")
    if server.sqlite_synchronous.upper() not in ("FULL", "EXTRA", "NORMAL"):
        raise SettingsError("[server] sqlite_synchronous must be FULL, EXTRA or NORMAL")
    if not 0 < server.store_timeout <= 60:
        raise SettingsError("[server] store_timeout must be more than 0 and at most 60 seconds")
    if not 0.1 <= server.request_timeout <= 300:
        raise SettingsError("[server] request_timeout must be between 0.1 and 300 seconds")
    return server


def parse_instant(value: Any, name: str) -> float:
    """A point in time from TOML: an offset date-time (``2026-03-01T09:00:00Z``), the same as an
    ISO 8601 string, or POSIX seconds. A time without an offset would be ambiguous: refused."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a date-time like 2026-03-01T09:00:00Z")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name} must be a date-time like 2026-03-01T09:00:00Z") from None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} needs a time zone offset, like 2026-03-01T09:00:00Z or +01:00")
        return value.timestamp()
    raise ValueError(f"{name} must be a date-time like 2026-03-01T09:00:00Z")


def _build_event(event_id: str, raw: Mapping[str, Any]) -> EventSettings:
    allowed = {"name", "token_validity", "queue_position_expiry", "incr_serving_on_expiry", "admission", "page",
               "opens_at", "queueing"}
    unknown = set(raw) - allowed
    if unknown:
        raise SettingsError(f"unknown key(s) in [events.{event_id}]: {', '.join(sorted(unknown))}")
    if not isinstance(raw.get("incr_serving_on_expiry", True), bool):
        raise SettingsError(f"[events.{event_id}] incr_serving_on_expiry must be true or false")
    try:
        adm = dict(raw.get("admission", {}))
        strategy = Strategy(adm.pop("strategy", "manual"))
        for bound in ("start_at", "end_at"):
            if bound in adm:
                adm[bound] = parse_instant(adm[bound], f"admission {bound}")
        policy = AdmissionPolicy(strategy=strategy, **adm)
        queueing = str(raw.get("queueing", Queueing.FIFO.value))
        if queueing not in {q.value for q in Queueing}:
            raise ValueError(f"queueing must be one of {', '.join(repr(q.value) for q in Queueing)}, not {queueing!r}")
        return EventSettings(
            event_id=event_id,
            name=str(raw.get("name", "")),
            token_validity=int(raw.get("token_validity", 3600)),
            queue_position_expiry=int(raw.get("queue_position_expiry", 900)),
            incr_serving_on_expiry=bool(raw.get("incr_serving_on_expiry", True)),
            admission=policy,
            page=page_look.parse(raw.get("page", {}), f"[events.{event_id}.page]"),
            opens_at=None if raw.get("opens_at") is None else parse_instant(raw["opens_at"], "opens_at"),
            queueing=Queueing(queueing),
        )
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"[events.{event_id}]: {exc}") from None


def _build_client(client_id: str, raw: Mapping[str, Any], events: Mapping[str, EventSettings]) -> ClientSettings:
    allowed = {
        "event", "secret", "secret_hash", "redirect_uris", "auth_methods", "token_lifetime",
        "allow_insecure_http", "email_claim", "name",
    }
    unknown = set(raw) - allowed
    if unknown:
        raise SettingsError(f"unknown key(s) in [clients.{client_id}]: {', '.join(sorted(unknown))}")
    event_id = raw.get("event")
    if event_id not in events:
        raise SettingsError(f"[clients.{client_id}] event {event_id!r} is not defined in [events]")
    uris = raw.get("redirect_uris", [])
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise SettingsError(f"[clients.{client_id}] redirect_uris must be a non-empty list of URLs")
    methods = raw.get("auth_methods")
    secret = raw.get("secret")
    secret_hash = raw.get("secret_hash")
    public = secret is None and secret_hash is None
    if methods is None:
        methods = ["none"] if public else ["client_secret_basic", "client_secret_post"]
    return ClientSettings(
        client_id=client_id,
        event_id=str(event_id),
        redirect_uris=tuple(uris),
        secret=None if secret is None else str(secret),
        secret_hash=None if secret_hash is None else str(secret_hash),
        auth_methods=tuple(methods),
        token_lifetime=int(raw.get("token_lifetime", 3600)),
        allow_insecure_http=bool(raw.get("allow_insecure_http", False)),
        email_claim=bool(raw.get("email_claim", False)),
        name=str(raw.get("name", "")),
    )
