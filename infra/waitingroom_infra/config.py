"""Deployment settings: a TOML file (``-c config=PATH``) with ``[deploy]``, ``[server]``,
``[events]`` and ``[clients]`` tables, ``[deploy]`` keys overridable one by one with ``-c key=value``.

``[server]``, ``[events]`` and ``[clients]`` are the tables of ``waitingroom.toml``. They reach
every function as ``WAITINGROOM_SETTINGS_JSON`` and are checked at synth time by the functions'
own code (:func:`oidc_adaptor.entrypoints.lambda_handlers.check_configuration`), so a
configuration that synthesizes is one the functions accept. The ``[server]`` keys the deployment
sets itself (:data:`DEPLOYMENT_OWNED_SERVER_KEYS`) are refused with the reason.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from core.settings import ENV_PREFIX, SettingsError

DEFAULT_EVENTS: dict[str, Any] = {
    "spring-sale": {"name": "Spring ticket sale", "admission": {"strategy": "periodic", "increment_by": 50,
                                                                 "every": 10}},
}


DEPLOYMENT_OWNED_SERVER_KEYS: dict[str, str] = {
    "issuer": "the issuer is the CloudFront domain, or https://<custom_domain>: set [deploy] custom_domain",
    "store": "the store is the deployment's ElastiCache or DynamoDB: set [deploy] store",
    "keys_file": "the signing keys live in Secrets Manager and rotate on a schedule: set [deploy] key_rotation_days",
    "admin_keys": "admin keys live in the AdminKeys secret of the stateful stack: put them there, not in a file",
    "admin_prefix": "the admin API's routes are fixed under /admin by API Gateway",
    "scheduler": "admission runs on an EventBridge schedule, not a thread: set [deploy] tick_window_seconds",
}
"""``[server]`` keys that make no sense on Lambda, with what to do instead."""

LAMBDA_SERVER_DEFAULTS: dict[str, Any] = {"json_logs": True}
"""``[server]`` values the functions use unless ``deploy.toml`` says otherwise (CloudWatch reads JSON lines)."""

PLACEHOLDER_ISSUER = "https://issuer.invalid"
"""The issuer used to check the settings at synth when it is the distribution's domain, known only at deploy."""


@dataclass(frozen=True)
class DeployConfig:
    store: str = "redis"
    cache_node_type: str = "cache.t4g.medium"  # sizing rule: docs/aws.md, "Cache sizing"
    cache_replicas: int = 1
    vpc_egress: str = "endpoints"
    custom_domain: str = ""
    certificate_arn: str = ""
    admin_api_private: bool = False
    alarm_email: str = ""
    log_retention_days: int = 30
    key_rotation_days: int = 30
    assign_via_queue: bool = True
    tick_window_seconds: int = 55
    assign_consumer_concurrency: int = 0
    waf: bool = False
    waf_rate_limit: int = 2000
    server: dict[str, Any] = field(default_factory=dict)
    events: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_EVENTS))
    clients: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.store not in ("redis", "dynamodb"):
            raise ValueError("[deploy] store must be 'redis' or 'dynamodb'")
        if self.vpc_egress not in ("endpoints", "nat"):
            raise ValueError("[deploy] vpc_egress must be 'endpoints' (interface endpoints, no NAT) or 'nat' "
                             "(one NAT gateway per zone)")
        if bool(self.custom_domain) != bool(self.certificate_arn):
            raise ValueError("[deploy] custom_domain and certificate_arn go together")
        if not 0 <= self.tick_window_seconds <= 55:
            raise ValueError("[deploy] tick_window_seconds must be 0 to 55 (the schedule fires every minute)")
        if self.assign_consumer_concurrency and not 2 <= self.assign_consumer_concurrency <= 1000:
            raise ValueError("[deploy] assign_consumer_concurrency must be 2 to 1000 (SQS maximum concurrency), "
                             "or 0 for the store's default")
        if not 10 <= self.waf_rate_limit <= 2_000_000_000:
            raise ValueError("[deploy] waf_rate_limit must be 10 to 2,000,000,000 requests per 5 minutes")
        refused = sorted(set(self.server) & set(DEPLOYMENT_OWNED_SERVER_KEYS))
        if refused:
            raise SettingsError("; ".join(f"[server] {key} cannot be set on AWS: {DEPLOYMENT_OWNED_SERVER_KEYS[key]}"
                                          for key in refused))
        self.check(self.settings_document())

    def check(self, document: dict[str, Any]) -> None:
        """Run the functions' own configuration check on ``document`` (raises SettingsError)."""
        from oidc_adaptor.entrypoints.lambda_handlers import check_configuration

        issuer = f"https://{self.custom_domain}" if self.custom_domain else PLACEHOLDER_ISSUER
        check_configuration({
            f"{ENV_PREFIX}SETTINGS_JSON": json.dumps(document), f"{ENV_PREFIX}ISSUER": issuer,
            f"{ENV_PREFIX}SCHEDULER": "false"})

    @property
    def consumer_concurrency(self) -> int:
        """Concurrent SQS consumer invocations: ``assign_consumer_concurrency``, else sized to the store.

        Each invocation enters a batch of up to 10 with one store call. One Valkey primary takes
        tens of thousands of such calls a second, so 20 consumers stay far below it. DynamoDB hands
        out positions from one counter item per event (about 1,000 writes a second, one write per
        batch): 10 consumers enter about 5,000 visitors a second (docs/aws.md) with half of that
        item's writes to spare.
        """
        if self.assign_consumer_concurrency:
            return self.assign_consumer_concurrency
        return 20 if self.store == "redis" else 10

    @property
    def event_ids(self) -> list[str]:
        return sorted(self.events)

    @property
    def redirect_uris(self) -> list[str]:
        return sorted({uri for client in self.clients.values() for uri in client.get("redirect_uris", [])})

    def settings_document(self, extra_clients: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``[server]``, ``[events]`` and ``[clients]`` tables the functions load (as
        WAITINGROOM_SETTINGS_JSON), with ``extra_clients`` the deployment adds itself."""
        return {"server": {**LAMBDA_SERVER_DEFAULTS, **self.server}, "events": self.events,
                "clients": {**self.clients, **(extra_clients or {})}}

    @classmethod
    def load(cls, context: dict[str, Any], base_dir: Path) -> DeployConfig:
        """From the file named by context ``config`` (if it exists) and context overrides."""
        data: dict[str, Any] = {}
        path = context.get("config")
        if path:
            file = Path(path) if Path(path).is_absolute() else base_dir / path
            if file.exists():
                data = tomllib.loads(file.read_text(encoding="utf-8"))
        deploy = dict(data.get("deploy", {}))
        tables = ("server", "events", "clients")
        defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
        for name, default in defaults.items():
            if name in context:
                deploy[name] = _coerce(context[name], default)
        if "nat_gateways" in deploy:
            raise ValueError("[deploy] nat_gateways is replaced by vpc_egress: \"endpoints\" (no NAT) or \"nat\" "
                             "(one NAT gateway per zone)")
        unknown = set(deploy) - set(defaults)
        if unknown:
            raise ValueError(f"unknown [deploy] key(s): {', '.join(sorted(unknown))}")
        unknown_tables = set(data) - {"deploy", *tables}
        if unknown_tables:
            raise ValueError(f"unknown table(s) in the deployment settings: {', '.join(sorted(unknown_tables))}")
        for table in tables:
            if table in data:
                deploy[table] = data[table]
        return cls(**deploy)


def _coerce(value: Any, default: Any) -> Any:
    """Context values from ``-c key=value`` arrive as strings."""
    if not isinstance(value, str):
        return value
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(value)
    return value
