"""Builds the whole app: stateful stack, API stack, authorizer stack, sample site stack."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk

from . import bundle, nag
from .config import DeployConfig
from .stacks.api import ApiStack
from .stacks.authorizer import AuthorizerStack
from .stacks.sample_site import SampleSiteStack
from .stacks.stateful import StatefulStack

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WaitingRoomApp:
    app: cdk.App
    stateful: StatefulStack
    api: ApiStack
    authorizer: AuthorizerStack
    site: SampleSiteStack

    @property
    def stacks(self) -> list[cdk.Stack]:
        return [self.stateful, self.api, self.authorizer, self.site]


def build(app: cdk.App, *, asset_dir: Path | None = None, config: DeployConfig | None = None,
          run_nag: bool = True) -> WaitingRoomApp:
    context = {key: app.node.try_get_context(key) for key in (
        "config", *DeployConfig.__dataclass_fields__)}
    config = config or DeployConfig.load({k: v for k, v in context.items() if v is not None}, ROOT / "infra")
    asset_dir = asset_dir or bundle.build()
    env = cdk.Environment(account=app.node.try_get_context("account"), region=app.node.try_get_context("region"))
    stateful = StatefulStack(app, "WaitingRoomState", config=config, env=env,
                             description="Waiting room: data (cache, table, queue, secrets, keys)")
    api = ApiStack(app, "WaitingRoomApi", config=config, stateful=stateful, asset_dir=asset_dir, env=env,
                   description="Waiting room: functions, APIs, CloudFront, schedules")
    authorizer = AuthorizerStack(app, "WaitingRoomAuthorizer", config=config, issuer=api.issuer,
                                 asset_dir=asset_dir, env=env, description="Waiting room: API Gateway authorizer")
    first_client = next(iter(config.clients), "sample-site")
    first_event = config.event_ids[0]
    site = SampleSiteStack(
        app, "WaitingRoomSampleSite", site_dir=ROOT / "sample_site", env=env,
        description="Waiting room: sample site",
        site_config={"issuer": api.issuer, "client_id": first_client, "event_id": first_event,
                     "api_url": api.issuer, "event_name": config.events[first_event].get("name", first_event),
                     "sale_opens_at": None})
    if run_nag:
        nag.check(app, [stateful, api, authorizer, site])
    return WaitingRoomApp(app, stateful, api, authorizer, site)
