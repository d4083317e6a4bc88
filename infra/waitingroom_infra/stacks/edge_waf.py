"""An AWS WAF web ACL for the CloudFront distribution of the public API (``[deploy] waf = true``).

A web ACL for CloudFront lives in us-east-1 whatever the region of the rest, hence its own stack.
It holds one rule: a rate-based rule per client address (the viewer address CloudFront sees, not
a header the client could choose) that blocks an address sending more than ``rate_limit``
requests in any 5 minutes. The app's own ``enter_rate_limit`` still limits entries.

The rule does not count what the distribution caches for every visitor (the status document,
the counts, the public keys, the waiting page's files): a waiting page polls the status document
every 2 to 30 seconds, so some visitors behind one address (a mobile carrier's NAT, an office)
would otherwise make the address, their sign-ins with it, blocked by their waiting alone.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from ..constructs.cdn import COUNT_PATHS, KEY_PATHS, STATIC_PATH, STATUS_PATHS

WAF_REGION = "us-east-1"


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True)


def _path(constraint: str, value: str) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
        field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}), positional_constraint=constraint,
        search_string=value,
        text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")]))


def _matches(pattern: str) -> wafv2.CfnWebACL.StatementProperty:
    """A statement matching the URI paths of a CloudFront path pattern with at most one ``*``."""
    if "*" not in pattern:
        return _path("EXACTLY", pattern)
    head, tail = pattern.split("*")
    if not tail:
        return _path("STARTS_WITH", head)
    return wafv2.CfnWebACL.StatementProperty(and_statement=wafv2.CfnWebACL.AndStatementProperty(
        statements=[_path("STARTS_WITH", head), _path("ENDS_WITH", tail)]))


def not_cached_for_everyone() -> wafv2.CfnWebACL.StatementProperty:
    """Requests to any path but those the distribution caches for every visitor."""
    cached = [_matches(p) for p in (*STATUS_PATHS, *COUNT_PATHS, *KEY_PATHS, STATIC_PATH)]
    return wafv2.CfnWebACL.StatementProperty(not_statement=wafv2.CfnWebACL.NotStatementProperty(
        statement=wafv2.CfnWebACL.StatementProperty(or_statement=wafv2.CfnWebACL.OrStatementProperty(
            statements=cached))))


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
                    limit=rate_limit, aggregate_key_type="IP", evaluation_window_sec=300,
                    scope_down_statement=not_cached_for_everyone())),
                visibility_config=_visibility("WaitingRoomRatePerClient"))])
        CfnOutput(self, "WebAclArn", value=self.web_acl.attr_arn)
