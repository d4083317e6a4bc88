"""ElastiCache (Valkey) for counters and positions: TLS, encryption at rest, auth token in Secrets Manager."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct


class SessionCache(Construct):
    """A replication group reachable only from ``clients`` on port 6379, with ``noeviction``.

    ElastiCache's default parameter group evicts keys with a TTL (``volatile-lru``) when memory
    runs out, which silently drops places in line and idempotency records; the store refuses to
    run on it (see ``core/adapters/redis_eviction.py``). Its own parameter group makes a full
    cache refuse writes instead (HTTP 503, nothing lost).

    ``url_template`` is the store URL with ``{auth_token}`` in place of the token: the function
    fills it in from ``auth_secret`` at cold start, so the token never sits in its configuration.
    """

    PORT = 6379

    def __init__(self, scope: Construct, id: str, *, vpc: ec2.IVpc, clients: ec2.ISecurityGroup,
                 node_type: str, replicas: int, key: kms.IKey) -> None:
        super().__init__(scope, id)
        self.auth_secret = sm.Secret(
            self, "AuthToken", description="Auth token of the waiting room cache", encryption_key=key,
            generate_secret_string=sm.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False))
        self.security_group = ec2.SecurityGroup(self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
                                                description="Waiting room cache")
        self.security_group.add_ingress_rule(clients, ec2.Port.tcp(self.PORT), "functions to the cache")
        subnets = elasticache.CfnSubnetGroup(
            self, "Subnets", description="Waiting room cache subnets",
            subnet_ids=vpc.select_subnets(subnet_group_name="cache").subnet_ids)
        self.parameters = elasticache.CfnParameterGroup(
            self, "Parameters", cache_parameter_group_family="valkey7",
            description="Waiting room cache: never evict keys", properties={"maxmemory-policy": "noeviction"})
        self.group = elasticache.CfnReplicationGroup(
            self, "ReplicationGroup",
            replication_group_description="Waiting room counters and positions",
            engine="valkey", engine_version="7.2", cache_node_type=node_type,
            num_node_groups=1, replicas_per_node_group=replicas,
            automatic_failover_enabled=replicas > 0, multi_az_enabled=replicas > 0,
            transit_encryption_enabled=True, at_rest_encryption_enabled=True, kms_key_id=key.key_arn,
            auth_token=self.auth_secret.secret_value.unsafe_unwrap(),  # resolved by CloudFormation, not in the template
            cache_subnet_group_name=subnets.ref, security_group_ids=[self.security_group.security_group_id],
            port=self.PORT, snapshot_retention_limit=1, cache_parameter_group_name=self.parameters.ref,
        )

    @property
    def url_template(self) -> str:
        return f"rediss://:{{auth_token}}@{self.group.attr_primary_end_point_address}:{self.PORT}/0"
