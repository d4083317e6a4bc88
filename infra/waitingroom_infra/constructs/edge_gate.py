"""The waiting room in front of any CloudFront distribution: the Lambda@Edge viewer-request gate.

Builds the gate's bundle at synth (``authorizer.edge_bundle``: configuration baked in, since
Lambda@Edge has no environment variables), creates the function in us-east-1 with the
edge role (``experimental.EdgeFunction``: a separate ``edge-lambda-stack-<region>`` stack when
the calling stack lives elsewhere) and attaches its version as the viewer-request trigger of the
chosen behaviors of an existing ``cloudfront.Distribution``. Runtime code lives in
``authorizer/edge.py``; see docs/aws.md for registering the gate's public client.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import Aspects, Duration, IAspect, Stack, Token
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_lambda as lambda_
from aws_cdk.aws_cloudfront import experimental
from constructs import Construct, IConstruct, IValidation

from authorizer import edge_bundle
from authorizer.edge_config import DEFAULT_CALLBACK_PATH, DEFAULT_COOKIE_NAME, EdgeConfig

ROOT = Path(__file__).resolve().parents[3]
BUILD_DIR = ROOT / "infra" / "build" / "edge"
DEFAULT_BEHAVIOR = "*"
"""The path pattern that names a distribution's default behavior."""


class WaitingRoomEdgeGate(Construct):
    """A viewer-request function that lets through only visitors the waiting room admitted.

    ``issuer``, ``client_id`` and ``event_id`` must be plain strings (they are baked into the
    bundle at synth, so not CloudFormation tokens). ``distribution`` and ``path_patterns``
    (``"*"`` = the default behavior) choose the behaviors to protect; without a distribution,
    pass :attr:`edge_lambda` in the ``edge_lambdas`` of your own ``BehaviorOptions``.
    ``state_secret`` (>= 32 characters) keeps the bundle identical between synths; without one a
    new key is drawn each synth (sign-ins under way when the new version deploys start over).
    ``jwks``: the issuer's JWKS to bundle; without it the gate fetches the keys on first use.
    Raises ``authorizer.edge_config.EdgeConfigError`` on an invalid setting.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        issuer: str,
        client_id: str,
        event_id: str,
        distribution: cloudfront.Distribution | None = None,
        path_patterns: Sequence[str] = (DEFAULT_BEHAVIOR,),
        callback_path: str = DEFAULT_CALLBACK_PATH,
        cookie_name: str = DEFAULT_COOKIE_NAME,
        unprotected_paths: Sequence[str] = (),
        site_origin: str | None = None,
        state_secret: str = "",
        jwks: dict[str, Any] | None = None,
        build_dir: Path | None = None,
    ) -> None:
        super().__init__(scope, id)
        for name, value in (("issuer", issuer), ("client_id", client_id), ("event_id", event_id)):
            if Token.is_unresolved(value):
                raise ValueError(f"WaitingRoomEdgeGate: {name} must be a plain string: Lambda@Edge functions "
                                 "have no environment variables, so it is baked into the bundle at synth")
        self.config = EdgeConfig(
            issuer=issuer, client_id=client_id, event_id=event_id, callback_path=callback_path,
            cookie_name=cookie_name, unprotected_paths=tuple(unprotected_paths), site_origin=site_origin,
            state_secret=state_secret,
        )
        out = (build_dir or BUILD_DIR) / self.node.addr
        self.bundle = edge_bundle.build(self.config, out, jwks=jwks)
        self.function = experimental.EdgeFunction(
            self, "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler=edge_bundle.HANDLER,
            code=lambda_.Code.from_asset(str(self.bundle.path)),
            memory_size=128,  # Lambda@Edge viewer-request quota
            timeout=Duration.seconds(5),  # Lambda@Edge viewer-request quota
            description=f"Waiting room gate for event {event_id} (client {client_id})",
        )
        self.edge_lambda = cloudfront.EdgeLambda(
            event_type=cloudfront.LambdaEdgeEventType.VIEWER_REQUEST,
            function_version=self.function.current_version,
        )
        if distribution is not None:
            self.attach(distribution, path_patterns)

    def attach(self, distribution: cloudfront.Distribution, path_patterns: Sequence[str] = (DEFAULT_BEHAVIOR,)) -> None:
        """Make the gate the viewer-request trigger of these behaviors of ``distribution``.

        Works on a distribution built elsewhere: the association is written into its
        CloudFormation resource at synth (replacing another viewer-request function of the
        same behavior, if any). A pattern the distribution has no behavior for fails the synth.
        """
        cfn = distribution.node.default_child
        if not isinstance(cfn, cloudfront.CfnDistribution):
            raise TypeError("WaitingRoomEdgeGate.attach needs a cloudfront.Distribution")
        callback = self.config.callback_path
        if not any(pattern == DEFAULT_BEHAVIOR or path_pattern_matches(pattern, callback) for pattern in path_patterns):
            # The waiting room sends admitted visitors to the callback path: served by an ungated
            # behavior, it reaches the origin and the sign-in never completes.
            raise ValueError(f"WaitingRoomEdgeGate: callback_path {callback!r} is under none of the gated path "
                             f"patterns {list(path_patterns)}: gate its behavior too, or choose a callback_path "
                             "under one of them")
        association = {"EventType": "viewer-request", "LambdaFunctionARN": self.function.current_version.edge_arn,
                       "IncludeBody": False}
        for pattern in path_patterns:
            if pattern == DEFAULT_BEHAVIOR:
                cfn.add_property_override("DistributionConfig.DefaultCacheBehavior.LambdaFunctionAssociations",
                                          [association])
            else:
                cfn.node.add_validation(_MissingBehavior(cfn, pattern))
                Aspects.of(cfn).add(_AttachToBehavior(pattern, association))


@jsii.implements(IAspect)
class _AttachToBehavior:
    """Adds the association to the cache behavior with ``pattern`` once the distribution's
    behaviors are all known (aspects run just before synth)."""

    def __init__(self, pattern: str, association: dict[str, Any]) -> None:
        self.pattern = pattern
        self.association = association

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, cloudfront.CfnDistribution):
            return
        index = _behavior_index(node, self.pattern)
        if index is not None:
            node.add_property_override(f"DistributionConfig.CacheBehaviors.{index}.LambdaFunctionAssociations",
                                       [self.association])


@jsii.implements(IValidation)
class _MissingBehavior:
    """Fails the synth when the distribution has no behavior for the pattern."""

    def __init__(self, cfn: cloudfront.CfnDistribution, pattern: str) -> None:
        self.cfn = cfn
        self.pattern = pattern

    def validate(self) -> list[str]:
        if _behavior_index(self.cfn, self.pattern) is None:
            return [f"WaitingRoomEdgeGate: the distribution has no behavior for path pattern {self.pattern!r}"]
        return []


def path_pattern_matches(pattern: str, path: str) -> bool:
    """Whether a CloudFront path pattern matches ``path``: ``*`` is any run of characters (``/``
    included), ``?`` exactly one, everything else itself, case-sensitively ("Path pattern" in the
    CloudFront Developer Guide's distribution settings)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lstrip("/"))
    return re.fullmatch(regex, path.lstrip("/"), re.DOTALL) is not None


def _behavior_index(cfn: cloudfront.CfnDistribution, pattern: str) -> int | None:
    """Where the behavior for ``pattern`` sits in the rendered ``CacheBehaviors`` list. Read from the
    resource's untyped properties: the typed ``distribution_config`` cannot carry the distribution's
    lazy values into Python."""
    properties = Stack.of(cfn).resolve(cfn._cfn_properties)  # protected in CfnResource, public through jsii
    behaviors = (properties.get("distributionConfig") or {}).get("cacheBehaviors") or []
    for index, behavior in enumerate(behaviors):
        if behavior.get("pathPattern") == pattern:
            return index
    return None
