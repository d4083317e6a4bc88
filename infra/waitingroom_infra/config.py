"""Deployment settings: a TOML file (``-c config=PATH``) with ``[deploy]``, ``[events]`` and
``[clients]`` tables, ``[deploy]`` keys overridable one by one with ``-c key=value``.

``[events]`` and ``[clients]`` are the same tables as in ``waitingroom.toml`` and are validated
with :class:`core.settings.Settings` at synth time, so a typo fails ``cdk synth``, not a Lambda.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from core.settings import Settings

DEFAULT_EVENTS: dict[str, Any] = {
    "spring-sale": {"name": "Spring ticket sale", "admission": {"strategy": "periodic", "increment_by": 50,
                                                                 "every": 10}},
}


@dataclass(frozen=True)
class DeployConfig:
    store: str = "redis"
    cache_node_type: str = "cache.t4g.micro"
    cache_replicas: int = 1
    nat_gateways: int = 1
    custom_domain: str = ""
    certificate_arn: str = ""
    admin_api_private: bool = False
    alarm_email: str = ""
    log_retention_days: int = 30
    key_rotation_days: int = 30
    assign_via_queue: bool = True
    tick_window_seconds: int = 55
    events: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_EVENTS))
    clients: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.store not in ("redis", "dynamodb"):
            raise ValueError("[deploy] store must be 'redis' or 'dynamodb'")
        if bool(self.custom_domain) != bool(self.certificate_arn):
            raise ValueError("[deploy] custom_domain and certificate_arn go together")
        if not 0 <= self.tick_window_seconds <= 55:
            raise ValueError("[deploy] tick_window_seconds must be 0 to 55 (the schedule fires every minute)")
        # Validate events and clients exactly as the app will.
        Settings.from_mapping({"events": self.events, "clients": self.clients})

    @property
    def event_ids(self) -> list[str]:
        return sorted(self.events)

    @property
    def redirect_uris(self) -> list[str]:
        return sorted({uri for client in self.clients.values() for uri in client.get("redirect_uris", [])})

    def settings_document(self) -> dict[str, Any]:
        """The ``[events]`` and ``[clients]`` tables the functions load (as WAITINGROOM_SETTINGS_JSON)."""
        return {"events": self.events, "clients": self.clients}

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
        names = {f.name for f in fields(cls)}
        for name in names:
            if name in context and name not in ("events", "clients"):
                deploy[name] = _coerce(context[name], getattr(cls(), name))
        unknown = set(deploy) - set(names)
        if unknown:
            raise ValueError(f"unknown [deploy] key(s): {', '.join(sorted(unknown))}")
        if "events" in data:
            deploy["events"] = data["events"]
        if "clients" in data:
            deploy["clients"] = data["clients"]
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
