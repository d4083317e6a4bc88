"""The VPC the cache and the functions live in."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct


class Network(Construct):
    """Two AZs, private subnets with NAT (functions reach AWS APIs), isolated subnets for the cache,
    flow logs on, and gateway endpoints so DynamoDB and S3 traffic skips the NAT."""

    def __init__(self, scope: Construct, id: str, *, nat_gateways: int, log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        self.vpc = ec2.Vpc(
            self, "Vpc", max_azs=2, nat_gateways=nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
                ec2.SubnetConfiguration(name="cache", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=26),
            ],
            gateway_endpoints={
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)},
        )
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        self.functions_security_group = ec2.SecurityGroup(
            self, "Functions", vpc=self.vpc, description="Waiting room Lambda functions", allow_all_outbound=True)
