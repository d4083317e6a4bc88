"""The VPC the cache and the functions live in."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

APP_SUBNETS = "app"
CACHE_SUBNETS = "cache"
INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,  # keys, admin keys, cache token
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,  # queued entry
    "EventBridge": ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,  # status events
    "CloudWatch": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,  # status metrics
    "XRay": ec2.InterfaceVpcEndpointAwsService.XRAY,  # traces of the functions
}
"""Every AWS API the functions in the VPC call (DynamoDB has a gateway endpoint; logs are shipped
by the Lambda service, not from the VPC)."""


class Network(Construct):
    """Two AZs, subnets for the functions and isolated subnets for the cache, flow logs on, and a
    gateway endpoint so DynamoDB traffic stays in the VPC.

    ``egress`` says how the functions reach AWS APIs: ``"endpoints"`` (interface endpoints for
    every API they call, in both zones, and no NAT gateway: nothing depends on one zone and
    nothing reaches the internet) or ``"nat"`` (one NAT gateway per zone).
    """

    def __init__(self, scope: Construct, id: str, *, egress: str, log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        via_nat = egress == "nat"
        self.vpc = ec2.Vpc(
            self, "Vpc", max_azs=2, nat_gateways=2 if via_nat else 0,
            subnet_configuration=[
                *([ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)]
                  if via_nat else []),
                ec2.SubnetConfiguration(
                    name=APP_SUBNETS, cidr_mask=22,
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS if via_nat else ec2.SubnetType.PRIVATE_ISOLATED),
                ec2.SubnetConfiguration(name=CACHE_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=26),
            ],
            gateway_endpoints={
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)},
        )
        if not via_nat:
            for name, service in INTERFACE_ENDPOINTS.items():
                self.vpc.add_interface_endpoint(name, service=service, private_dns_enabled=True,
                                                subnets=ec2.SubnetSelection(subnet_group_name=APP_SUBNETS))
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        self.functions_security_group = ec2.SecurityGroup(
            self, "Functions", vpc=self.vpc, description="Waiting room Lambda functions", allow_all_outbound=True)
