"""Template tests of every stack of the CDK app."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match

from .conftest import CONFIG, function_settings, template


def resources(t: Any, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = t.find_resources(kind)
    return found


def statements(t: Any) -> list[dict[str, Any]]:
    out = []
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for res in resources(t, kind).values():
            out.extend(res["Properties"]["PolicyDocument"]["Statement"])
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_synth_is_fast_enough(built: Any) -> None:
    print(f"synth of 4 stacks + cdk-nag: {built.seconds:.1f}s")
    assert built.seconds < 120


def test_stateful_stack(built: Any, built_dynamodb: Any) -> None:
    t = template(built.stateful)
    t.resource_count_is("AWS::DynamoDB::Table", 0)  # the Valkey store needs no table
    template(built_dynamodb.stateful).has_resource_properties("AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
        "BillingMode": "PAY_PER_REQUEST",
    })
    t.has_resource_properties("AWS::ElastiCache::ReplicationGroup", {
        "Engine": "valkey", "TransitEncryptionEnabled": True, "AtRestEncryptionEnabled": True,
        "AuthToken": Match.any_value(), "KmsKeyId": Match.any_value(),
        "CacheNodeType": "cache.t4g.medium",  # sized for a million OpenID Connect visitors (docs/aws.md)
    })
    group = next(iter(resources(t, "AWS::ElastiCache::ReplicationGroup").values()))
    assert "resolve:secretsmanager" in json.dumps(group["Properties"]["AuthToken"])  # never a literal
    queues = resources(t, "AWS::SQS::Queue")
    assert len(queues) == 2
    main = next(q for q in queues.values() if "RedrivePolicy" in q["Properties"])
    assert main["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    assert all("KmsMasterKeyId" in q["Properties"] for q in queues.values())
    t.has_resource_properties("AWS::CloudWatch::Alarm", {"Threshold": 0, "MetricName":
                                                          "ApproximateNumberOfMessagesVisible"})
    t.resource_count_is("AWS::SecretsManager::Secret", 4)  # key set, admin keys, origin header, cache auth token
    t.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    t.has_resource_properties("AWS::EC2::FlowLog", Match.any_value())
    t.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    # no hard-coded physical names
    for kind in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SecretsManager::Secret"):
        for res in resources(t, kind).values():
            assert not {"TableName", "QueueName", "Name"} & set(res["Properties"]), kind


def test_the_cache_never_evicts(built: Any) -> None:
    t = template(built.stateful)
    groups = resources(t, "AWS::ElastiCache::ParameterGroup")
    assert len(groups) == 1
    logical_id, group = next(iter(groups.items()))
    assert group["Properties"]["Properties"] == {"maxmemory-policy": "noeviction"}
    assert group["Properties"]["CacheParameterGroupFamily"] == "valkey7"  # the family of engine valkey 7.2
    t.has_resource_properties("AWS::ElastiCache::ReplicationGroup", {
        "Engine": "valkey", "EngineVersion": "7.2", "CacheParameterGroupName": {"Ref": logical_id}})


def test_table_layout_matches_the_adapter(built: Any) -> None:
    from waitingroom_infra.constructs import state

    from core.adapters import dynamodb

    assert (state.PARTITION_KEY, state.SORT_KEY, state.TTL_ATTRIBUTE) == (
        dynamodb.PARTITION_KEY, dynamodb.SORT_KEY, dynamodb.TTL_ATTRIBUTE)


def test_functions_run_the_same_app(built: Any) -> None:
    t = template(built.api)
    functions = resources(t, "AWS::Lambda::Function")
    handlers = sorted(f["Properties"]["Handler"] for f in functions.values())
    assert handlers.count("oidc_adaptor.lambda_handlers.http_handler") == 2
    for name in ("sqs_handler", "admission_handler", "expiry_handler", "status_handler", "key_rotation_handler"):
        assert f"oidc_adaptor.lambda_handlers.{name}" in handlers
    for f in functions.values():
        env = f["Properties"]["Environment"]["Variables"]
        assert function_settings(f)["events"]["exam"]["admission"]["strategy"] == "max_active"
        assert "rediss://:{auth_token}@" in json.dumps(env["WAITINGROOM_STORE"])
        assert "admin_keys" not in json.dumps(env["WAITINGROOM_SETTINGS_JSON"])
        assert f["Properties"]["Runtime"] == "python3.12"
        assert f["Properties"]["LoggingConfig"]["LogGroup"]
    for group in resources(t, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30


def test_sqs_event_source_reports_partial_batch_failures(built: Any, built_dynamodb: Any) -> None:
    # consumers sized to the store: a Valkey primary takes far more batches than one DynamoDB counter item
    for app, consumers in ((built, 20), (built_dynamodb, 10)):
        template(app.api).has_resource_properties("AWS::Lambda::EventSourceMapping", {
            "FunctionResponseTypes": ["ReportBatchItemFailures"], "BatchSize": 10,
            "ScalingConfig": {"MaximumConcurrency": consumers},
        })


def test_the_entry_queue_keeps_entries_for_days_and_alarms_on_their_age(built: Any) -> None:
    from waitingroom_infra.constructs.state import ASSIGN_RETENTION

    from oidc_adaptor.background.queued_entry import PENDING_TTL

    t = template(built.stateful)
    main = next(q for q in resources(t, "AWS::SQS::Queue").values() if "RedrivePolicy" in q["Properties"])
    assert main["Properties"]["MessageRetentionPeriod"] == 4 * 24 * 3600
    # the app answers "queued" for exactly as long as SQS keeps the entry
    assert ASSIGN_RETENTION.to_seconds() == PENDING_TTL
    t.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "ApproximateAgeOfOldestMessage", "Namespace": "AWS/SQS", "Statistic": "Maximum",
        "Threshold": 300, "AlarmActions": Match.any_value()})


def test_schedules(built: Any) -> None:
    t = template(built.api)
    rules = resources(t, "AWS::Events::Rule")
    expressions = sorted(r["Properties"]["ScheduleExpression"] for r in rules.values())
    assert expressions == ["rate(1 minute)"] * 3 + ["rate(30 days)"]


def test_iam_is_scoped(built: Any) -> None:
    t = template(built.api)
    for statement in statements(t):
        actions = as_list(statement["Action"])
        resources_ = as_list(statement["Resource"])
        for action in actions:
            assert action not in ("*", "execute-api:*", "dynamodb:*", "sqs:*", "secretsmanager:*"), statement
        if "*" in resources_:
            # only actions without resource-level permissions, and metrics limited by namespace
            assert set(actions) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData"}
            if "cloudwatch:PutMetricData" in actions:
                assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "WaitingRoom"}}
        if any(a.startswith("execute-api:") for a in actions):
            for resource in resources_:
                text = json.dumps(resource)
                assert "/live/" in text and "/admin/" in text, resource
                assert "/*" not in text.replace("/admin/clients/*", ""), resource  # a client id is any segment
    # the admin invoke policy names each admin route, with the configured events filled in
    admin = next(iter(resources(t, "AWS::IAM::ManagedPolicy").values()))
    text = json.dumps(admin)
    assert "/live/POST/admin/increment_serving_counter" in text
    assert "/live/GET/admin/events/exam/counts" in text and "/live/GET/admin/events/spring-sale/counts" in text
    assert "/live/DELETE/admin/clients/*" in text and "/live/POST/admin/clients" in text
    # only the public function may send to the queue; only store users read the cache token
    send = [s for s in statements(t) if "sqs:SendMessage" in as_list(s["Action"])]
    assert len(send) == 1


def test_lambda_permissions_name_api_stage_and_method(built: Any) -> None:
    t = template(built.api)
    permissions = resources(t, "AWS::Lambda::Permission")
    api_permissions = [p for p in permissions.values() if p["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    assert api_permissions
    for permission in api_permissions:
        source = json.dumps(permission["Properties"]["SourceArn"])
        # this API, its stage (a reference, never "*"), a named method; "*" only for a path parameter
        assert re.search(r'Stage\w*"\}, "/(GET|POST|OPTIONS|DELETE)/', source), source


def test_public_and_admin_apis(built: Any) -> None:
    t = template(built.api)
    methods = resources(t, "AWS::ApiGateway::Method")
    admin = [m for m in methods.values() if m["Properties"].get("AuthorizationType") == "AWS_IAM"]
    public = [m for m in methods.values() if m["Properties"].get("AuthorizationType") == "NONE"]
    assert len(admin) == 18  # every admin route, /admin/clients and the opening's among them
    assert {m["Properties"]["HttpMethod"] for m in public} == {"GET", "POST", "OPTIONS"}
    assert all(m["Properties"]["HttpMethod"] != "ANY" for m in methods.values())
    t.has_resource_properties("AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["PRIVATE"]},
                                                           "Policy": Match.any_value()})
    t.has_resource_properties("AWS::ApiGateway::Stage", {"StageName": "live", "TracingEnabled": True,
                                                         "AccessLogSetting": Match.any_value()})
    # API Gateway itself answers 404 for the operations paths on the public API (no function, no store call)
    paths = {r["Properties"]["PathPart"]: lid for lid, r in resources(t, "AWS::ApiGateway::Resource").items()}
    for path in ("metrics", "readyz"):
        method = next(m["Properties"] for m in methods.values()
                      if m["Properties"]["ResourceId"] == {"Ref": paths[path]})
        assert method["Integration"]["Type"] == "MOCK"
        assert method["Integration"]["IntegrationResponses"][0]["StatusCode"] == "404"
    # the account's API Gateway logging role outlives this stack (other APIs log through it)
    role = next(r for lid, r in resources(t, "AWS::IAM::Role").items() if lid.startswith("PublicApiCloudWatchRole"))
    assert role["DeletionPolicy"] == "Retain"


def test_cloudfront_caches_what_every_visitor_polls_keyed_on_the_event_only(built: Any) -> None:
    t = template(built.api)
    policy_ids = {lid: p["Properties"]["CachePolicyConfig"]
                  for lid, p in resources(t, "AWS::CloudFront::CachePolicy").items()}
    policies = {config["Name"]: config for config in policy_ids.values()}
    assert len(policies) == 4
    queries = {}
    for config in policies.values():
        # The server's Cache-Control sets the window (status_max_age); 1 s where it names none. An
        # open draw's document may stay an hour (it is final and large), everything else 5 minutes.
        longest = 3600 if "draw" in config["Comment"] else 300
        assert (config["DefaultTTL"], config["MinTTL"], config["MaxTTL"]) == (1, 0, longest)
        key = config["ParametersInCacheKeyAndForwardedToOrigin"]
        assert key["CookiesConfig"] == {"CookieBehavior": "none"} and key["HeadersConfig"] == {"HeaderBehavior": "none"}
        queries[config["Comment"]] = key["QueryStringsConfig"]
    assert sorted(queries.values(), key=str) == sorted([
        {"QueryStringBehavior": "none"},
        {"QueryStringBehavior": "none"},
        {"QueryStringBehavior": "whitelist", "QueryStrings": ["event_id"]},
        {"QueryStringBehavior": "whitelist", "QueryStrings": ["event_id", "format"]},
    ], key=str)
    distribution = next(iter(resources(t, "AWS::CloudFront::Distribution").values()))["Properties"][
        "DistributionConfig"]
    behaviours = {b["PathPattern"]: b for b in distribution["CacheBehaviors"]}
    assert set(behaviours) == {"/serving_num", "/waiting_num", "/events/*/status", "/.well-known/jwks.json",
                               "/public_key", "/events/*/draw", "/static/*"}
    caching_disabled = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # AWS managed CachingDisabled
    assert distribution["DefaultCacheBehavior"]["CachePolicyId"] == caching_disabled
    assert "POST" in distribution["DefaultCacheBehavior"]["AllowedMethods"]
    status_policy = behaviours["/events/*/status"]["CachePolicyId"]
    assert behaviours["/.well-known/jwks.json"]["CachePolicyId"] == status_policy
    draw_policy = policy_ids[behaviours["/events/*/draw"]["CachePolicyId"]["Ref"]]
    assert draw_policy["MaxTTL"] == 3600 and draw_policy["Comment"] == "Waiting room draw documents: per event"
    assert behaviours["/serving_num"]["CachePolicyId"] == behaviours["/waiting_num"]["CachePolicyId"] != status_policy
    for behaviour in behaviours.values():
        assert behaviour["CachePolicyId"] != caching_disabled
        assert "POST" not in behaviour["AllowedMethods"]


def test_authorizer_stack(built: Any) -> None:
    t = template(built.authorizer)
    t.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "authorizer.lambda_handler.handler",
        "Environment": {"Variables": Match.object_like({"WAITINGROOM_EVENT_ID": "exam,spring-sale"})}})
    assert not resources(t, "AWS::Lambda::Permission")  # granted per API when attached


def test_sample_site_stack(built: Any) -> None:
    t = template(built.site)
    t.has_resource_properties("AWS::S3::Bucket", {"PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "BucketEncryption": Match.any_value()})
    t.resource_count_is("AWS::CloudFront::OriginAccessControl", 1)
    content = template(built.checkout)
    content.has_resource_properties("Custom::CDKBucketDeployment", {"SourceObjectKeys": Match.any_value()})
    deployment = next(iter(resources(content, "Custom::CDKBucketDeployment").values()))
    assert len(deployment["Properties"]["SourceObjectKeys"]) == 2  # the site folder and config.json
    # config.json is filled in at deploy time with the issuer and this stack's checkout API
    markers = json.dumps(deployment["Properties"]["SourceMarkers"])
    assert "WaitingRoomApi:ExportsOutputFnGetAttCdn" in markers and "ApiDeploymentStagelive" in markers


def test_the_sample_site_signs_in_with_its_own_public_client(built: Any) -> None:
    for function in resources(template(built.api), "AWS::Lambda::Function").values():
        client = function_settings(function)["clients"]["sample-site"]
        assert client["redirect_uris"] == ["https://resolved.example/callback.html"]  # the site's own domain
        assert "secret" not in client and "secret_hash" not in client  # public: PKCE
        assert client["event"] == "exam"  # the first event
    redirect = next(iter(resources(template(built.api), "AWS::Lambda::Function").values()))[
        "Properties"]["Environment"]["Variables"]["WAITINGROOM_SETTINGS_JSON"]
    assert "WaitingRoomSampleSite:ExportsOutputFnGetAttSiteDistribution" in json.dumps(redirect)


def test_the_sample_checkout_api_is_guarded_by_the_authorizer(built: Any, built_dynamodb: Any) -> None:
    t = template(built.checkout)
    t.has_resource_properties("AWS::ApiGateway::Authorizer", {
        "Type": "TOKEN", "IdentitySource": "method.request.header.Authorization",
        "AuthorizerResultTtlInSeconds": 300})
    methods = resources(t, "AWS::ApiGateway::Method").values()
    guarded = sorted(m["Properties"]["HttpMethod"] for m in methods if m["Properties"]["AuthorizationType"] == "CUSTOM")
    open_ = sorted(m["Properties"]["HttpMethod"] for m in methods if m["Properties"]["AuthorizationType"] == "NONE")
    assert guarded == ["GET", "POST"] and open_ == ["OPTIONS", "OPTIONS"]
    assert len(resources(t, "AWS::ApiGateway::GatewayResponse")) == 2  # 401 and 403 with the site's CORS header
    t.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "oidc_adaptor.entrypoints.demo_checkout.lambda_handler",
        "Environment": {"Variables": Match.object_like({"WAITINGROOM_EVENT_ID": "exam"})}})
    # API Gateway may invoke the authorizer, from this stack (the authorizer's own stack stays API-free)
    assert any(p["Properties"]["Principal"] == "apigateway.amazonaws.com"
               and "Authorizer" in json.dumps(p["Properties"]["FunctionName"])
               for p in resources(t, "AWS::Lambda::Permission").values())
    # the cached Allow covers the whole stage, as the cache does
    template(built.authorizer).has_resource_properties("AWS::Lambda::Function", {
        "Environment": {"Variables": Match.object_like({"WAITINGROOM_POLICY_SCOPE": "stage"})}})
    # with a public (IAM) admin API the checkout ends the visitor's session after an order
    ddb = template(built_dynamodb.checkout)
    ddb.has_resource_properties("AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like({
        "WAITINGROOM_ADMIN_API_IAM": "true", "WAITINGROOM_ADMIN_KEYS_SECRET": Match.any_value()})}})
    invoke = [s for s in statements(ddb) if "execute-api:Invoke" in as_list(s["Action"])]
    assert len(invoke) == 1 and "/live/POST/admin/sessions/end" in json.dumps(invoke[0]["Resource"])


def test_dynamodb_variant(built_dynamodb: Any) -> None:
    t = template(built_dynamodb.api)
    functions = resources(t, "AWS::Lambda::Function").values()
    assert all("VpcConfig" not in f["Properties"] for f in functions)
    for f in functions:
        env = f["Properties"]["Environment"]["Variables"]
        assert env["WAITINGROOM_ISSUER"] == "https://wait.example.com"
    # transactions are authorised by their item actions (PutItem, UpdateItem, ConditionCheckItem)
    table_statements = [s for s in statements(t) if "dynamodb:ConditionCheckItem" in as_list(s["Action"])]
    assert table_statements and all("Table" in json.dumps(s["Resource"]) for s in table_statements)
    stateful = template(built_dynamodb.stateful)
    stateful.resource_count_is("AWS::ElastiCache::ReplicationGroup", 0)
    stateful.resource_count_is("AWS::EC2::VPC", 0)
    distribution = next(iter(resources(t, "AWS::CloudFront::Distribution").values()))
    assert distribution["Properties"]["DistributionConfig"]["Aliases"] == ["wait.example.com"]


def test_cloudfront_proves_itself_to_the_api_with_a_secret_header(built: Any) -> None:
    t = template(built.api)
    distribution = next(iter(resources(t, "AWS::CloudFront::Distribution").values()))["Properties"][
        "DistributionConfig"]
    headers = distribution["Origins"][0]["OriginCustomHeaders"]
    assert [h["HeaderName"] for h in headers] == ["X-Origin-Verify"]
    value = json.dumps(headers[0]["HeaderValue"])
    assert "{{resolve:secretsmanager:" in value and "KeysOriginVerify" in value  # never a literal
    public = next(f for f in resources(t, "AWS::Lambda::Function").values()
                  if "WAITINGROOM_ORIGIN_SECRET" in f["Properties"]["Environment"]["Variables"])
    assert public["Properties"]["MemorySize"] == 1024  # the public function, and only it
    assert sum("WAITINGROOM_ORIGIN_SECRET" in f["Properties"]["Environment"]["Variables"]
               for f in resources(t, "AWS::Lambda::Function").values()) == 1
    assert "WebACLId" not in distribution  # WAF is off unless asked for


def test_waf_puts_a_rate_limit_per_client_on_the_distribution(built_direct: Any) -> None:
    acl = template(built_direct.waf)
    assert built_direct.waf.region == "us-east-1"
    acl.has_resource_properties("AWS::WAFv2::WebACL", {"Scope": "CLOUDFRONT", "DefaultAction": {"Allow": {}},
                                                       "Rules": [Match.object_like({
                                                           "Action": {"Block": {}},
                                                           "Statement": {"RateBasedStatement": {
                                                               "Limit": 2000, "AggregateKeyType": "IP",
                                                               "EvaluationWindowSec": 300}}})]})
    distribution = next(iter(resources(template(built_direct.api), "AWS::CloudFront::Distribution").values()))
    assert distribution["Properties"]["DistributionConfig"]["WebACLId"]


def test_waf_does_not_count_the_polls_the_distribution_answers_for_everyone(built_direct: Any) -> None:
    """A waiting page polls its status document every 2 to 30 s: counted, a dozen visitors behind
    one carrier NAT would get that address blocked, sign-ins and all."""
    acl = next(iter(resources(template(built_direct.waf), "AWS::WAFv2::WebACL").values()))["Properties"]
    scope = acl["Rules"][0]["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    excluded = scope["NotStatement"]["Statement"]["OrStatement"]["Statements"]

    def matches(statement: dict[str, Any], path: str) -> bool:
        if "AndStatement" in statement:
            return all(matches(s, path) for s in statement["AndStatement"]["Statements"])
        byte = statement["ByteMatchStatement"]
        test = {"EXACTLY": str.__eq__, "STARTS_WITH": str.startswith, "ENDS_WITH": str.endswith}
        return bool(test[byte["PositionalConstraint"]](path, byte["SearchString"]))

    for polled in ("/events/spring-sale/status", "/serving_num", "/waiting_num", "/public_key",
                   "/.well-known/jwks.json", "/static/waiting.js"):
        assert any(matches(s, polled) for s in excluded), polled
    for counted in ("/assign_queue_num", "/authorize", "/token", "/queue_num", "/events/spring-sale",
                    "/static"):
        assert not any(matches(s, counted) for s in excluded), counted


def test_the_deployment_goes_to_the_account_and_region_of_the_cli_credentials(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cdk deploy`` without ``-c region``: the CLI passes its credentials' account and region as
    CDK_DEFAULT_ACCOUNT/REGION. Without them the stacks were environment-agnostic and ``waf = true``
    (a reference from us-east-1 to the API stack's region) failed the synth."""
    import aws_cdk as cdk
    from waitingroom_infra import bundle
    from waitingroom_infra.application import build, environment
    from waitingroom_infra.config import DeployConfig

    env = environment(cdk.App(), {"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-central-1"})
    assert (env.account, env.region) == ("123456789012", "eu-central-1")
    given = cdk.App(context={"account": "210987654321", "region": "eu-west-1"})
    assert environment(given, {"CDK_DEFAULT_REGION": "eu-central-1"}).region == "eu-west-1"  # -c wins
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    with pytest.raises(ValueError, match="-c region"):  # said plainly, not as a CDK stack trace at synth
        build(cdk.App(outdir=str(tmp_path / "out")), asset_dir=bundle.source_only(tmp_path / "asset"),
              config=DeployConfig(**{**CONFIG, "waf": True}), run_nag=False)


def test_functions_reach_aws_apis_through_endpoints_in_every_zone(built: Any, built_direct: Any) -> None:
    t = template(built.stateful)
    t.resource_count_is("AWS::EC2::NatGateway", 0)
    t.resource_count_is("AWS::EC2::InternetGateway", 0)
    services = sorted(json.dumps(e["Properties"]["ServiceName"]).split(".")[-1].rstrip('"]}')
                      for e in resources(t, "AWS::EC2::VPCEndpoint").values()
                      if e["Properties"].get("VpcEndpointType") == "Interface")
    assert services == ["events", "execute-api", "monitoring", "secretsmanager", "sqs", "xray"]  # + private admin API
    for endpoint in resources(t, "AWS::EC2::VPCEndpoint").values():
        if endpoint["Properties"].get("VpcEndpointType") == "Interface":
            assert len(endpoint["Properties"]["SubnetIds"]) == 2 and endpoint["Properties"]["PrivateDnsEnabled"]
    # the other choice: one NAT gateway per zone, no interface endpoints but the private admin API's
    nat = template(built_direct.stateful)
    nat.resource_count_is("AWS::EC2::NatGateway", 2)
    assert ["execute-api" in json.dumps(e["Properties"]["ServiceName"])
            for e in resources(nat, "AWS::EC2::VPCEndpoint").values()
            if e["Properties"].get("VpcEndpointType") == "Interface"] == [True]
