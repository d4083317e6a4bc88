"""The Lambda functions: the same project code (one vendored asset), one handler each, own role each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ..config import DeployConfig
from .network import APP_SUBNETS

SCHEDULED_RESERVED = 2
"""Reserved concurrency of the admission and expiry functions."""


class AppFunctions(Construct):
    """HTTP (public), HTTP (admin), SQS consumer and the scheduled jobs, all from ``asset_dir``.

    Each function gets its own role; the stacks grant each one only what its handler touches.
    """

    def __init__(self, scope: Construct, id: str, *, asset_dir: Path, config: DeployConfig, settings: dict[str, Any],
                 store_url: str,
                 issuer: str, log_retention: logs.RetentionDays, vpc: ec2.IVpc | None,
                 security_group: ec2.ISecurityGroup | None, extra_env: dict[str, str]) -> None:
        super().__init__(scope, id)
        self._code = lambda_.Code.from_asset(str(asset_dir))
        self._retention = log_retention
        self._vpc = vpc
        self._security_groups = [security_group] if security_group is not None else None
        self._env = {
            "WAITINGROOM_SETTINGS_JSON": json.dumps(settings, separators=(",", ":")),
            "WAITINGROOM_STORE": store_url,
            "WAITINGROOM_ISSUER": issuer,
            "WAITINGROOM_SCHEDULER": "false",
            "WAITINGROOM_KEYS_FILE": "/tmp/unused-keys.json",  # noqa: S108 - keys come from Secrets Manager
            **extra_env,
        }
        self.public_http = self._function("PublicHttp", "oidc_adaptor.lambda_handlers.http_handler",
                                          Duration.seconds(10), memory=1024)
        self.admin_http = self._function("AdminHttp", "oidc_adaptor.lambda_handlers.http_handler",
                                         Duration.seconds(10))
        # Reserved concurrency: a surge on the public function cannot take the account's concurrency
        # from the functions that move the line. Two for the scheduled ones (a tick may overlap the
        # next), as many consumers as the SQS event source may run.
        self.assign_consumer = self._function("AssignConsumer", "oidc_adaptor.lambda_handlers.sqs_handler",
                                              Duration.seconds(30), reserved=config.consumer_concurrency)
        self.admission = self._function("Admission", "oidc_adaptor.lambda_handlers.admission_handler",
                                        Duration.seconds(config.tick_window_seconds + 15),
                                        env={"WAITINGROOM_TICK_WINDOW": str(config.tick_window_seconds)},
                                        reserved=SCHEDULED_RESERVED)
        self.expiry = self._function("Expiry", "oidc_adaptor.lambda_handlers.expiry_handler", Duration.seconds(30),
                                     reserved=SCHEDULED_RESERVED)
        self.status = self._function("Status", "oidc_adaptor.lambda_handlers.status_handler", Duration.seconds(30))
        self.key_rotation = self._function("KeyRotation", "oidc_adaptor.lambda_handlers.key_rotation_handler",
                                           Duration.seconds(30), in_vpc=False)

    @property
    def all(self) -> list[lambda_.Function]:
        return [self.public_http, self.admin_http, self.assign_consumer, self.admission, self.expiry, self.status,
                self.key_rotation]

    @property
    def store_users(self) -> list[lambda_.Function]:
        """The functions that open the store (all but key rotation)."""
        return [f for f in self.all if f is not self.key_rotation]

    def _function(self, id: str, handler: str, timeout: Duration, *, memory: int = 512,
                  env: dict[str, str] | None = None, in_vpc: bool = True,
                  reserved: int | None = None) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{id}Logs", retention=self._retention, removal_policy=RemovalPolicy.DESTROY)
        vpc = self._vpc if in_vpc else None
        return lambda_.Function(
            self, id, runtime=lambda_.Runtime.PYTHON_3_12, architecture=lambda_.Architecture.ARM_64,
            handler=handler, code=self._code, timeout=timeout, memory_size=memory,
            environment={**self._env, **(env or {})}, log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE, reserved_concurrent_executions=reserved,
            vpc=vpc, security_groups=self._security_groups if vpc is not None else None,
            vpc_subnets=ec2.SubnetSelection(subnet_group_name=APP_SUBNETS) if vpc else None,
        )
