"""An AWS WAF web ACL for the CloudFront distribution of the public API (``[deploy] waf = true``).

A web ACL for CloudFront lives in us-east-1 whatever the region of the rest, hence its own stack.
It holds one rule: a rate-based rule per client address (the viewer address CloudFront sees, not
a header the client could choose) that blocks an address sending more than ``rate_limit``
requests in any 5 minutes. The app's own ``enter_rate_limit`` still limits entries.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

WAF_REGION = "us-east-1"


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True)


class EdgeWafStack(Stack):
    def __init__(self, scope: Construct, id: str, *, rate_limit: int, **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        self.web_acl = wafv2.CfnWebACL(
            self, "WebAcl", scope="CLOUDFRONT", default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            description="Waiting room public API: a rate limit per client address",
            visibility_config=_visibility("WaitingRoomWebAcl"),
            rules=[wafv2.CfnWebACL.RuleProperty(
                name="RatePerClient", priority=0, action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=rate_limit, aggregate_key_type="IP", evaluation_window_sec=300)),
                visibility_config=_visibility("WaitingRoomRatePerClient"))])
        CfnOutput(self, "WebAclArn", value=self.web_acl.attr_arn)
