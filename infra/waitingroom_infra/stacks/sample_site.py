"""The sample site on S3 behind CloudFront (origin access control)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from ..constructs.cdn import StaticSite
from ..constructs.edge_gate import WaitingRoomEdgeGate


class SampleSiteStack(Stack):
    """Deploys whatever is in ``site_dir`` plus a ``config.json`` generated for this deployment.

    ``edge_gate``: keyword arguments of :class:`WaitingRoomEdgeGate` (``issuer``, ``client_id``,
    ``event_id``, ...) to put the whole site behind the waiting room at the edge; None leaves it open.
    """

    def __init__(self, scope: Construct, id: str, *, site_dir: Path, site_config: dict[str, Any],
                 edge_gate: dict[str, Any] | None = None, **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        self.site = StaticSite(self, "Site")
        self.gate = None
        if edge_gate is not None:
            self.gate = WaitingRoomEdgeGate(self, "EdgeGate", distribution=self.site.distribution, **edge_gate)
        sources = [s3deploy.Source.json_data("config.json", site_config)]
        if site_dir.is_dir() and any(site_dir.iterdir()):
            sources.insert(0, s3deploy.Source.asset(str(site_dir), exclude=["config.json"]))
        s3deploy.BucketDeployment(
            self, "Deploy", sources=sources, destination_bucket=self.site.bucket,
            distribution=self.site.distribution, distribution_paths=["/*"], memory_limit=256)
        CfnOutput(self, "SiteUrl", value=f"https://{self.site.distribution.distribution_domain_name}")
