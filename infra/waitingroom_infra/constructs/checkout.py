"""The sample site's checkout API: API Gateway in front of a small function, every route but the
CORS preflights guarded by the project's Lambda authorizer."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .apis import stage_options

AUTHORIZER_CACHE = Duration.minutes(5)
"""How long API Gateway reuses an authorizer answer for the same token (CDK's default). The cached
policy is applied to every route of the stage, so the authorizer must answer for the whole stage
(``WAITINGROOM_POLICY_SCOPE=stage``): a policy naming only the first route would deny the second."""

ROUTES: tuple[tuple[str, str], ...] = (("GET", "me"), ("POST", "checkout"))


class CheckoutApi(Construct):
    """``GET /me`` and ``POST /checkout`` behind a ``TOKEN`` authorizer reading ``Authorization``;
    ``OPTIONS`` on each route reaches the function unauthenticated (browsers send no token in a
    preflight). Gateway responses for 401/403 carry the site's CORS header, so the page sees the
    status instead of a CORS failure."""

    def __init__(self, scope: Construct, id: str, *, handler: lambda_.IFunction, authorizer: lambda_.IFunction,
                 site_origin: str, log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        self.api = apigw.RestApi(
            self, "Api", description="Waiting room sample checkout API (waiting-room tokens required)",
            endpoint_types=[apigw.EndpointType.REGIONAL], cloud_watch_role=False,
            deploy_options=stage_options(self, "AccessLogs", log_retention))
        self.authorizer = apigw.TokenAuthorizer(
            self, "Authorizer", handler=authorizer, identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=AUTHORIZER_CACHE)
        integration = apigw.LambdaIntegration(handler, allow_test_invoke=False)
        for method, path in ROUTES:
            resource = self.api.root.add_resource(path)
            resource.add_method(method, integration, authorizer=self.authorizer,
                                authorization_type=apigw.AuthorizationType.CUSTOM)
            resource.add_method("OPTIONS", integration, authorization_type=apigw.AuthorizationType.NONE)
        cors = {"Access-Control-Allow-Origin": f"'{site_origin}'", "Vary": "'Origin'"}
        for name, kind in (("Unauthorized", apigw.ResponseType.UNAUTHORIZED),
                           ("AccessDenied", apigw.ResponseType.ACCESS_DENIED)):
            self.api.add_gateway_response(name, type=kind, response_headers=cors)
        self.api.add_request_validator("Validator", validate_request_parameters=True)
