"""Builds the whole app: stateful stack, sample site hosting, API stack, authorizer stack, and the
sample site's content and checkout API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk

from . import bundle, nag
from .config import DeployConfig
from .constructs.apis import STAGE
from .stacks.api import ApiStack
from .stacks.authorizer import AuthorizerStack
from .stacks.edge_waf import WAF_REGION, EdgeWafStack
from .stacks.sample_site import SAMPLE_CLIENT_ID, SampleCheckoutStack, SampleSiteStack
from .stacks.stateful import StatefulStack, log_retention

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WaitingRoomApp:
    app: cdk.App
    stateful: StatefulStack
    api: ApiStack
    authorizer: AuthorizerStack
    site: SampleSiteStack
    checkout: SampleCheckoutStack
    waf: EdgeWafStack | None = None

    @property
    def stacks(self) -> list[cdk.Stack]:
        return [s for s in (self.stateful, self.site, self.waf, self.api, self.authorizer, self.checkout)
                if s is not None]


def build(app: cdk.App, *, asset_dir: Path | None = None, config: DeployConfig | None = None,
          run_nag: bool = True) -> WaitingRoomApp:
    context = {key: app.node.try_get_context(key) for key in (
        "config", *DeployConfig.__dataclass_fields__)}
    config = config or DeployConfig.load({k: v for k, v in context.items() if v is not None}, ROOT / "infra")
    if SAMPLE_CLIENT_ID in config.clients:
        raise ValueError(f"[clients.{SAMPLE_CLIENT_ID}] is the deployment's own client for the sample site: "
                         "choose another client id")
    first_event = config.event_ids[0]
    # The sample site's client, checked now as the functions will check it (its domain is a placeholder here).
    config.check(config.settings_document({SAMPLE_CLIENT_ID: SampleSiteStack.client("https://site.invalid",
                                                                                    first_event)}))
    asset_dir = asset_dir or bundle.build()
    env = cdk.Environment(account=app.node.try_get_context("account"), region=app.node.try_get_context("region"))
    stateful = StatefulStack(app, "WaitingRoomState", config=config, env=env,
                             description="Waiting room: data (cache, table, queue, secrets, keys)")
    site = SampleSiteStack(app, "WaitingRoomSampleSite", env=env, description="Waiting room: sample site hosting")
    waf = None
    if config.waf:
        waf = EdgeWafStack(app, "WaitingRoomEdgeWaf", rate_limit=config.waf_rate_limit,
                           env=cdk.Environment(account=env.account, region=WAF_REGION),
                           description="Waiting room: AWS WAF web ACL of the public API's distribution")
    api = ApiStack(app, "WaitingRoomApi", config=config, stateful=stateful, asset_dir=asset_dir, env=env,
                   extra_clients={SAMPLE_CLIENT_ID: SampleSiteStack.client(site.origin, first_event)},
                   web_acl_arn=waf.web_acl.attr_arn if waf is not None else None,
                   cross_region_references=waf is not None and env.region != WAF_REGION,
                   description="Waiting room: functions, APIs, CloudFront, schedules")
    authorizer = AuthorizerStack(app, "WaitingRoomAuthorizer", config=config, issuer=api.issuer,
                                 asset_dir=asset_dir, env=env, description="Waiting room: API Gateway authorizer")
    admin = None
    if not config.admin_api_private:  # a private admin API is out of the checkout function's reach
        admin = {"url": api.admin.api.url, "secret_arn": stateful.secrets.admin_keys.secret_arn,
                 "key_arn": stateful.key.key_arn,
                 "end_session_arn": api.admin.api.arn_for_execute_api("POST", "/admin/sessions/end", STAGE)}
    checkout = SampleCheckoutStack(
        app, "WaitingRoomSampleCheckout", site=site, site_dir=ROOT / "sample_site", issuer=api.issuer,
        event_ids=[first_event], authorizer=authorizer.function, asset_dir=asset_dir,
        log_retention=log_retention(config.log_retention_days), admin=admin, env=env,
        description="Waiting room: sample site content and checkout API",
        site_config={"issuer": api.issuer, "client_id": SAMPLE_CLIENT_ID, "event_id": first_event,
                     "event_name": config.events[first_event].get("name", first_event), "sale_opens_at": None})
    built = WaitingRoomApp(app, stateful, api, authorizer, site, checkout, waf)
    if run_nag:
        nag.check(app, built.stacks)
    return built
