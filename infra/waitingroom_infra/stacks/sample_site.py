"""The sample site: its hosting (S3 behind CloudFront), then its content and checkout API.

Hosting comes first, so its domain is known to the API stack (the sample site's OpenID Connect
client redirects to ``https://<site>/callback.html``); the content (``config.json`` names the
issuer and the checkout API) and the checkout API come last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from .. import grants
from ..constructs.cdn import StaticSite
from ..constructs.checkout import CheckoutApi
from ..constructs.edge_gate import WaitingRoomEdgeGate

CALLBACK_PATH = "/callback.html"
SAMPLE_CLIENT_ID = "sample-site"


def deploy_site(scope: Construct, site: StaticSite, site_dir: Path, site_config: dict[str, Any]) -> None:
    """Upload whatever is in ``site_dir`` plus ``site_config`` as ``config.json`` to ``site``'s bucket."""
    sources = [s3deploy.Source.json_data("config.json", site_config)]
    if site_dir.is_dir() and any(site_dir.iterdir()):
        sources.insert(0, s3deploy.Source.asset(str(site_dir), exclude=["config.json"]))
    s3deploy.BucketDeployment(
        scope, "Deploy", sources=sources, destination_bucket=site.bucket,
        distribution=site.distribution, distribution_paths=["/*"], memory_limit=256)


class SampleSiteStack(Stack):
    """The bucket and its CloudFront distribution (origin access control).

    ``edge_gate``: keyword arguments of :class:`WaitingRoomEdgeGate` (``issuer``, ``client_id``,
    ``event_id``, ...) to put the whole site behind the waiting room at the edge; None leaves it open.
    With ``site_dir`` and ``site_config`` the stack uploads the site itself (a ``config.json``
    known at synth); the deployment leaves them out and uploads the site from
    :class:`SampleCheckoutStack`, once the issuer and the checkout API exist.
    """

    def __init__(self, scope: Construct, id: str, *, site_dir: Path | None = None,
                 site_config: dict[str, Any] | None = None, edge_gate: dict[str, Any] | None = None,
                 **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        self.site = StaticSite(self, "Site")
        self.gate = None
        if edge_gate is not None:
            self.gate = WaitingRoomEdgeGate(self, "EdgeGate", distribution=self.site.distribution, **edge_gate)
        self.origin = f"https://{self.site.distribution.distribution_domain_name}"
        if site_dir is not None and site_config is not None:
            deploy_site(self, self.site, site_dir, site_config)
        CfnOutput(self, "SiteUrl", value=self.origin + "/")

    @staticmethod
    def client(origin: str, event_id: str) -> dict[str, Any]:
        """The ``[clients]`` entry of the sample site: public, PKCE, redirecting to its own callback page."""
        return {"event": event_id, "redirect_uris": [origin + CALLBACK_PATH], "name": "Sample site"}


class SampleCheckoutStack(Stack):
    """The checkout API (guarded by the project's authorizer) and the site's files with a
    ``config.json`` generated for this deployment.

    ``admin`` (the admin API's URL, its ``POST /admin/sessions/end`` ARN, and the admin keys
    secret and key ARNs) lets the checkout end the visitor's session after an order, as the local
    demo does; without it (a private admin API the function cannot reach) sessions time out.
    """

    def __init__(self, scope: Construct, id: str, *, site: SampleSiteStack, site_dir: Path,
                 site_config: dict[str, Any], issuer: str, event_ids: list[str], authorizer: lambda_.IFunction,
                 asset_dir: Path, log_retention: logs.RetentionDays, admin: dict[str, str] | None,
                 **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        log_group = logs.LogGroup(self, "CheckoutLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        environment = {
            "WAITINGROOM_ISSUER": issuer,
            "WAITINGROOM_EVENT_ID": ",".join(event_ids),
            "WAITINGROOM_CHECKOUT_ORIGINS": site.origin,
        }
        if admin is not None:
            environment.update({"WAITINGROOM_ADMIN_API_URL": admin["url"], "WAITINGROOM_ADMIN_API_IAM": "true",
                                "WAITINGROOM_ADMIN_KEYS_SECRET": admin["secret_arn"]})
        self.function = lambda_.Function(
            self, "Checkout", runtime=lambda_.Runtime.PYTHON_3_12, architecture=lambda_.Architecture.ARM_64,
            handler="oidc_adaptor.entrypoints.demo_checkout.lambda_handler",
            code=lambda_.Code.from_asset(str(asset_dir)), timeout=Duration.seconds(10), memory_size=256,
            log_group=log_group, tracing=lambda_.Tracing.ACTIVE, environment=environment)
        if admin is not None:
            grants.read_secret(self.function, secret_arn=admin["secret_arn"], key_arn=admin["key_arn"])
            self.function.add_to_role_policy(iam.PolicyStatement(
                actions=["execute-api:Invoke"], resources=[admin["end_session_arn"]]))
        # Imported here, so API Gateway's permission to invoke it lands in this stack, beside the API.
        guard = lambda_.Function.from_function_attributes(
            self, "Authorizer", function_arn=authorizer.function_arn, same_environment=True)
        self.checkout = CheckoutApi(self, "Api", handler=self.function, authorizer=guard, site_origin=site.origin,
                                    log_retention=log_retention)
        self.api_url = self.checkout.api.url_for_path("/").rstrip("/")
        deploy_site(self, site.site, site_dir, {**site_config, "api_url": self.api_url})
        CfnOutput(self, "CheckoutApiUrl", value=self.api_url)
