"""The functions, the public and admin APIs, CloudFront, the SQS consumer and the schedules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import (
    CfnOutput,
    CustomResource,
    Duration,
    Stack,
)
from aws_cdk import (
    aws_dynamodb as dynamodb,
)
from aws_cdk import (
    aws_ec2 as ec2,
)
from aws_cdk import (
    aws_events as events,
)
from aws_cdk import (
    aws_events_targets as targets,
)
from aws_cdk import (
    aws_iam as iam,
)
from aws_cdk import (
    aws_kms as kms,
)
from aws_cdk import (
    aws_lambda_event_sources as sources,
)
from aws_cdk import (
    aws_secretsmanager as sm,
)
from aws_cdk import (
    aws_sns as sns,
)
from aws_cdk import (
    aws_sqs as sqs,
)
from constructs import Construct

from .. import grants
from ..config import DeployConfig
from ..constructs.apis import STAGE, AdminApi, PublicApi
from ..constructs.cdn import ApiDistribution
from ..constructs.functions import AppFunctions
from ..constructs.monitoring import Monitoring
from .stateful import StatefulStack, log_retention

METRICS_NAMESPACE = "WaitingRoom"
ORIGIN_HEADER = "X-Origin-Verify"  # oidc_adaptor.plumbing.origin_verify.HEADER


class ApiStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: DeployConfig, stateful: StatefulStack,
                 asset_dir: Path, extra_clients: dict[str, Any] | None = None, web_acl_arn: str | None = None,
                 **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        retention = log_retention(config.log_retention_days)
        network, cache = stateful.network, stateful.cache
        extra_env = {
            "WAITINGROOM_SIGNING_KEYS_SECRET": stateful.secrets.key_set.secret_arn,
            "WAITINGROOM_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        table = stateful.state.table if stateful.state is not None else None
        if cache is not None:
            store_url = cache.url_template
            extra_env["WAITINGROOM_STORE_AUTH_SECRET"] = cache.auth_secret.secret_arn
        else:
            assert table is not None  # the stateful stack makes one store or the other
            store_url = f"dynamodb://{table.table_name}?region={self.region}"
        if config.assign_via_queue:
            extra_env["WAITINGROOM_ASSIGN_QUEUE_URL"] = stateful.assign.queue.queue_url

        # The issuer is the public URL: the custom domain, else the distribution's own domain.
        # The distribution only needs the API's id, so it can be created before the functions.
        fns_issuer = f"https://{config.custom_domain}" if config.custom_domain else None

        self.functions = AppFunctions(
            self, "Functions", asset_dir=asset_dir, config=config, settings=config.settings_document(extra_clients),
            store_url=store_url,
            issuer=fns_issuer or "https://issuer.invalid", log_retention=retention,  # set below
            vpc=network.vpc if network else None,
            security_group=network.functions_security_group if network else None, extra_env=extra_env)
        fns = self.functions
        self.public = PublicApi(self, "Public", handler=fns.public_http, log_retention=retention)
        # CloudFront proves each request came through it with a secret header the app checks.
        origin_secret = sm.Secret.from_secret_complete_arn(self, "OriginSecret", stateful.secrets.origin.secret_arn)
        self.cdn = ApiDistribution(self, "Cdn", api=self.public.api, stage=STAGE, domain=config.custom_domain,
                                   certificate_arn=config.certificate_arn, web_acl_id=web_acl_arn,
                                   origin_headers={ORIGIN_HEADER: origin_secret.secret_value.unsafe_unwrap()})
        fns.public_http.add_environment("WAITINGROOM_ORIGIN_SECRET", stateful.secrets.origin.secret_arn)
        self.issuer = fns_issuer or f"https://{self.cdn.distribution.distribution_domain_name}"
        for fn in fns.all:
            fn.add_environment("WAITINGROOM_ISSUER", self.issuer)

        vpc_endpoint = None
        if config.admin_api_private and network is not None:
            vpc_endpoint = network.vpc.add_interface_endpoint(
                "AdminApiEndpoint", service=ec2.InterfaceVpcEndpointAwsService.APIGATEWAY, private_dns_enabled=True)
        self.admin = AdminApi(self, "Admin", handler=fns.admin_http, event_ids=config.event_ids,
                              log_retention=retention, vpc_endpoint=vpc_endpoint)
        fns.admin_http.add_environment("WAITINGROOM_ADMIN_KEYS_SECRET", stateful.secrets.admin_keys.secret_arn)

        # -- grants: each function gets what its handler touches, nothing more ------------------
        # Stateful resources are referenced by ARN here, so every grant lands in the function's own
        # role policy and the stateful stack never refers back to this one.
        key_arn = stateful.key.key_arn
        key = kms.Key.from_key_arn(self, "DataKey", key_arn)
        key_set_arn = stateful.secrets.key_set.secret_arn
        queue = sqs.Queue.from_queue_attributes(
            self, "AssignQueue", queue_arn=stateful.assign.queue.queue_arn,
            queue_url=stateful.assign.queue.queue_url, key_arn=key_arn)
        grants.read_secret(fns.admin_http, secret_arn=stateful.secrets.admin_keys.secret_arn, key_arn=key_arn)
        grants.read_secret(fns.public_http, secret_arn=stateful.secrets.origin.secret_arn, key_arn=key_arn)
        for fn in fns.all:
            grants.read_secret(fn, secret_arn=key_set_arn, key_arn=key_arn)
        # Only the rotation function writes the key set: at deploy time (the first key set, through
        # the custom resource below) and on its schedule. The others, the public one among them, read.
        grants.write_secret(fns.key_rotation, secret_arn=key_set_arn, key_arn=key_arn)
        first_key_set = CustomResource(
            self, "FirstKeySet", service_token=fns.key_rotation.function_arn, resource_type="Custom::SigningKeySet",
            properties={"SecretArn": key_set_arn})
        first_key_set.node.add_dependency(fns.key_rotation.role)  # type: ignore[arg-type]
        for fn in fns.store_users:  # no function starts before there is a key set to read
            fn.node.add_dependency(first_key_set)
        for fn in fns.store_users:
            if cache is not None:
                grants.read_secret(fn, secret_arn=cache.auth_secret.secret_arn, key_arn=key_arn)
            elif table is not None:
                dynamodb.Table.from_table_attributes(
                    self, f"State{fn.node.id}", table_arn=table.table_arn,
                    encryption_key=key).grant_read_write_data(fn)
        if config.assign_via_queue:
            queue.grant_send_messages(fns.public_http)
        fns.assign_consumer.add_event_source(sources.SqsEventSource(
            queue, batch_size=10, report_batch_item_failures=True, max_concurrency=config.consumer_concurrency))
        fns.status.add_to_role_policy(iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"], resources=["*"],  # PutMetricData has no resource ARNs
            conditions={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}}))
        status_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        status_bus.grant_put_events_to(fns.status)

        # -- schedules ---------------------------------------------------------------------------
        every_minute = events.Schedule.rate(Duration.minutes(1))
        for name, fn, schedule in (
            ("AdmissionTick", fns.admission, every_minute),
            ("ExpirySweep", fns.expiry, every_minute),
            ("StatusBroadcast", fns.status, every_minute),
            ("KeyRotation", fns.key_rotation, events.Schedule.rate(Duration.days(config.key_rotation_days))),
        ):
            events.Rule(self, name, schedule=schedule, targets=[targets.LambdaFunction(fn, retry_attempts=0)])

        # -- alarms and the dashboard -------------------------------------------------------------
        cache_nodes = ([f"{cache.group.ref}-{n:03d}" for n in range(1, config.cache_replicas + 2)]
                       if cache is not None else [])
        self.monitoring = Monitoring(
            self, "Monitoring", topic=sns.Topic.from_topic_arn(self, "AlarmTopic", stateful.alarms.topic.topic_arn),
            admission=fns.admission, critical=[fns.expiry, fns.assign_consumer],
            others=[fns.public_http, fns.admin_http, fns.status, fns.key_rotation], api=self.public.api,
            queue=queue if config.assign_via_queue else None, cache_nodes=cache_nodes,
            table_name=table.table_name if table is not None else None,
            metrics_namespace=METRICS_NAMESPACE, event_ids=config.event_ids)

        CfnOutput(self, "Issuer", value=self.issuer, description="OIDC issuer and public API base URL")
        CfnOutput(self, "AdminApiUrl", value=self.admin.api.url)
        CfnOutput(self, "AdminInvokePolicyArn", value=self.admin.invoke_policy.managed_policy_arn)
