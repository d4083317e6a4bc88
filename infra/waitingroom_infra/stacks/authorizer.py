"""The project's API Gateway Lambda authorizer, for APIs the waiting room protects."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ..config import DeployConfig
from .stateful import log_retention


class AuthorizerStack(Stack):
    """A function running ``authorizer.lambda_handler.handler`` that verifies waiting-room access
    tokens against the issuer's JWKS. Attach it to a REST or HTTP API with
    ``TokenAuthorizer``/``RequestAuthorizer`` (CDK grants API Gateway the invoke permission for
    that API only). It needs no IAM permissions of its own beyond its logs."""

    def __init__(self, scope: Construct, id: str, *, config: DeployConfig, issuer: str, asset_dir: Path,
                 **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        log_group = logs.LogGroup(self, "Logs", retention=log_retention(config.log_retention_days),
                                  removal_policy=RemovalPolicy.DESTROY)
        self.function = lambda_.Function(
            self, "Authorizer", runtime=lambda_.Runtime.PYTHON_3_12, architecture=lambda_.Architecture.ARM_64,
            handler="authorizer.lambda_handler.handler", code=lambda_.Code.from_asset(str(asset_dir)),
            timeout=Duration.seconds(5), memory_size=256, log_group=log_group, tracing=lambda_.Tracing.ACTIVE,
            environment={
                "WAITINGROOM_ISSUER": issuer,
                "WAITINGROOM_EVENT_ID": ",".join(config.event_ids),
                "WAITINGROOM_JWKS_URL": f"{issuer}/.well-known/jwks.json",
                # API Gateway caches an answer per token for every route of the stage (5 minutes by
                # default): the Allow must cover the stage, or the cached policy denies the next route.
                "WAITINGROOM_POLICY_SCOPE": "stage",
            })
        CfnOutput(self, "AuthorizerFunctionArn", value=self.function.function_arn)
