"""API Gateway: the public REST API (behind CloudFront) and the IAM-authenticated admin API."""

from __future__ import annotations

from aws_cdk import (
    RemovalPolicy,
    Stack,
)
from aws_cdk import (
    aws_apigateway as apigw,
)
from aws_cdk import (
    aws_ec2 as ec2,
)
from aws_cdk import (
    aws_iam as iam,
)
from aws_cdk import (
    aws_lambda as lambda_,
)
from aws_cdk import (
    aws_logs as logs,
)
from constructs import Construct

from .. import nag

STAGE = "live"
PUBLIC_METHODS = ("GET", "POST", "OPTIONS")  # never ANY: every permission names its method
ADMIN_ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "increment_serving_counter"),
    ("POST", "update_session"),
    ("GET", "expired_tokens"),
    ("GET", "num_active_tokens"),
    ("POST", "reset_initial_state"),
    ("POST", "generate_token"),
    ("POST", "sessions/end"),
    ("GET", "events"),
    ("GET", "events/{event_id}/counts"),
    ("POST", "events/{event_id}/pause"),
    ("POST", "events/{event_id}/resume"),
    ("POST", "events/{event_id}/admission"),
    ("POST", "events/{event_id}/opening"),
    ("POST", "events/{event_id}/open"),
    ("GET", "clients"),
    ("POST", "clients"),
    ("GET", "clients/{client_id}"),
    ("DELETE", "clients/{client_id}"),
)
PATH_VALUES_ANY = "*"
"""What a path parameter other than ``event_id`` (a client id chosen at registration) becomes in
the invoke policy: any one path segment."""
NOT_PUBLIC = ("metrics", "readyz")
"""Operations paths API Gateway answers 404 itself on the public API: ``/metrics`` describes one
function instance only (CloudWatch has the deployment's), and ``/readyz`` makes a store call per
anonymous request."""


def stage_options(scope: Construct, id: str, retention: logs.RetentionDays) -> apigw.StageOptions:
    access_logs = logs.LogGroup(scope, id, retention=retention, removal_policy=RemovalPolicy.DESTROY)
    return apigw.StageOptions(
        stage_name=STAGE, tracing_enabled=True, metrics_enabled=True,
        logging_level=apigw.MethodLoggingLevel.ERROR, data_trace_enabled=False,
        access_log_destination=apigw.LogGroupLogDestination(access_logs),
        access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
            caller=False, http_method=True, ip=True, protocol=True, request_time=True, resource_path=True,
            response_length=True, status=True, user=False),
        throttling_burst_limit=5000, throttling_rate_limit=10000,
    )


class PublicApi(Construct):
    """Every public path (REST API, OIDC endpoints, waiting page) to the public function."""

    def __init__(self, scope: Construct, id: str, *, handler: lambda_.IFunction,
                 log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        self.api = apigw.RestApi(
            self, "Api", description="Waiting room public API (served through CloudFront)",
            endpoint_types=[apigw.EndpointType.REGIONAL], cloud_watch_role=True,
            # The role is an account-wide setting of API Gateway: other APIs of the account log through
            # it, so it stays when this stack is deleted.
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=stage_options(self, "AccessLogs", log_retention),
            binary_media_types=["image/*", "font/*"],
        )
        integration = apigw.LambdaIntegration(handler, allow_test_invoke=False)
        self.api.root.add_method("GET", integration)
        proxy = self.api.root.add_resource("{proxy+}")
        for method in PUBLIC_METHODS:
            proxy.add_method(method, integration)
        not_found = apigw.MockIntegration(
            request_templates={"application/json": '{"statusCode": 404}'},
            integration_responses=[apigw.IntegrationResponse(status_code="404", response_templates={
                "application/json": '{"error": "not_found", "message": "not served on the public API"}'})])
        for path in NOT_PUBLIC:
            self.api.root.add_resource(path).add_method(
                "GET", not_found, method_responses=[apigw.MethodResponse(status_code="404")])
        self.api.add_request_validator("Validator", validate_request_parameters=True)


class AdminApi(Construct):
    """The admin routes under ``/admin``, each with IAM authorization, to the admin function.

    ``invoke_policy`` grants ``execute-api:Invoke`` on exactly these routes of this stage, with
    the configured event ids filled into the paths: attach it to the operators' role.
    With ``vpc_endpoint`` the API is PRIVATE and its resource policy admits only that endpoint.
    """

    def __init__(self, scope: Construct, id: str, *, handler: lambda_.IFunction, event_ids: list[str],
                 log_retention: logs.RetentionDays, vpc_endpoint: ec2.IInterfaceVpcEndpoint | None = None) -> None:
        super().__init__(scope, id)
        policy = None
        endpoint_types = [apigw.EndpointType.REGIONAL]
        if vpc_endpoint is not None:
            endpoint_types = [apigw.EndpointType.PRIVATE]
            policy = iam.PolicyDocument(statements=[
                iam.PolicyStatement(principals=[iam.AnyPrincipal()], actions=["execute-api:Invoke"],
                                    resources=["execute-api:/*"],
                                    conditions={"StringEquals": {"aws:SourceVpce": vpc_endpoint.vpc_endpoint_id}}),
            ])
        self.api = apigw.RestApi(
            self, "Api", description="Waiting room admin API (IAM authorization)",
            endpoint_types=endpoint_types, policy=policy, cloud_watch_role=False,
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
            deploy_options=stage_options(self, "AccessLogs", log_retention),
        )
        integration = apigw.LambdaIntegration(handler, allow_test_invoke=False)
        admin = self.api.root.add_resource("admin")
        arns: list[str] = []
        for method, path in ADMIN_ROUTES:
            resource = admin.resource_for_path(path)
            resource.add_method(method, integration)
            concrete = [path.replace("{event_id}", e) for e in event_ids] if "{event_id}" in path else [path]
            concrete = [p.replace("{client_id}", PATH_VALUES_ANY) for p in concrete]
            arns.extend(self.api.arn_for_execute_api(method, f"/admin/{p}", STAGE) for p in concrete)
        self.api.add_request_validator("Validator", validate_request_parameters=True)
        self.invoke_policy = iam.ManagedPolicy(
            self, "InvokePolicy", description="Call the waiting room admin API (every admin route, this stage)",
            statements=[iam.PolicyStatement(actions=["execute-api:Invoke"], resources=arns)])
        stack = Stack.of(self)
        api_id = stack.resolve(stack.get_logical_id(self.api.node.default_child))  # type: ignore[arg-type]
        region, account = nag.region_and_account(stack)
        for method, path in ADMIN_ROUTES:
            if "{client_id}" in path:
                route = f"/{STAGE}/{method}/admin/{path.replace('{client_id}', PATH_VALUES_ANY)}"
                nag.acknowledge(self.invoke_policy, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:"
                                f"{region}:{account}:<{api_id}>{route}]",
                                "A registered client's id is any one path segment under /admin/clients/")
