"""Everything that holds data: deploy it once, update the API stacks freely."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from .. import nag
from ..config import DeployConfig
from ..constructs.cache import SessionCache
from ..constructs.network import Network
from ..constructs.state import Alarms, AssignQueue, SigningKeys, StateTable

SQS_CONSUMER_TIMEOUT = Duration.seconds(30)


class StatefulStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: DeployConfig, **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        retention = log_retention(config.log_retention_days)
        self.key = kms.Key(self, "DataKey", enable_key_rotation=True, removal_policy=RemovalPolicy.RETAIN,
                           description="Waiting room data at rest")
        # CloudWatch alarms publish to the encrypted topic; SNS needs to use the key for that.
        self.key.add_to_resource_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")], resources=["*"]))
        self.alarms = Alarms(self, "Alarms", key=self.key, email=config.alarm_email)
        self.state: StateTable | None = StateTable(self, "State", key=self.key) if config.store == "dynamodb" else None
        self.assign = AssignQueue(self, "Assign", key=self.key, alarm_topic=self.alarms.topic,
                                  consumer_timeout=SQS_CONSUMER_TIMEOUT)
        self.secrets = SigningKeys(self, "Keys", key=self.key)
        self.network: Network | None = None
        self.cache: SessionCache | None = None
        if config.store == "redis":
            self.network = Network(self, "Network", egress=config.vpc_egress, log_retention=retention)
            self.cache = SessionCache(self, "Cache", vpc=self.network.vpc,
                                      clients=self.network.functions_security_group,
                                      node_type=config.cache_node_type, replicas=config.cache_replicas, key=self.key)
            if config.cache_replicas == 0:
                nag.acknowledge(self.cache.group, "AwsSolutions-AEC4",
                                "cache_replicas = 0 in deploy.toml: one node without failover, by choice")


_RETENTIONS = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR, 731: logs.RetentionDays.TWO_YEARS,
}


def log_retention(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch retention that keeps logs at least ``days`` days."""
    return _RETENTIONS[min((d for d in _RETENTIONS if d >= days), default=731)]
