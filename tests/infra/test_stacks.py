"""Template tests of every stack of the CDK app."""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk.assertions import Match

from .conftest import template


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


def test_stateful_stack(built: Any) -> None:
    t = template(built.stateful)
    t.has_resource_properties("AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
        "BillingMode": "PAY_PER_REQUEST",
    })
    t.has_resource_properties("AWS::ElastiCache::ReplicationGroup", {
        "Engine": "valkey", "TransitEncryptionEnabled": True, "AtRestEncryptionEnabled": True,
        "AuthToken": Match.any_value(), "KmsKeyId": Match.any_value(),
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
    t.resource_count_is("AWS::SecretsManager::Secret", 3)  # key set, admin keys, cache auth token
    t.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    t.has_resource_properties("AWS::EC2::FlowLog", Match.any_value())
    t.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    # no hard-coded physical names
    for kind in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SecretsManager::Secret"):
        for res in resources(t, kind).values():
            assert not {"TableName", "QueueName", "Name"} & set(res["Properties"]), kind


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
        assert json.loads(env["WAITINGROOM_SETTINGS_JSON"])["events"]["exam"]["admission"]["strategy"] == "max_active"
        assert "rediss://:{auth_token}@" in json.dumps(env["WAITINGROOM_STORE"])
        assert "admin_keys" not in env["WAITINGROOM_SETTINGS_JSON"]
        assert f["Properties"]["Runtime"] == "python3.12"
        assert f["Properties"]["LoggingConfig"]["LogGroup"]
    for group in resources(t, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30


def test_sqs_event_source_reports_partial_batch_failures(built: Any) -> None:
    t = template(built.api)
    t.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "FunctionResponseTypes": ["ReportBatchItemFailures"], "BatchSize": 10,
        "ScalingConfig": {"MaximumConcurrency": 2},
    })


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
                assert "/live/" in text and "/admin/" in text and "/*" not in text, resource
    # the admin invoke policy names each admin route, with the configured events filled in
    admin = next(iter(resources(t, "AWS::IAM::ManagedPolicy").values()))
    text = json.dumps(admin)
    assert "/live/POST/admin/increment_serving_counter" in text
    assert "/live/GET/admin/events/exam/counts" in text and "/live/GET/admin/events/spring-sale/counts" in text
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
        assert re.search(r'Stage\w*"\}, "/(GET|POST|OPTIONS)/', source), source


def test_public_and_admin_apis(built: Any) -> None:
    t = template(built.api)
    methods = resources(t, "AWS::ApiGateway::Method")
    admin = [m for m in methods.values() if m["Properties"].get("AuthorizationType") == "AWS_IAM"]
    public = [m for m in methods.values() if m["Properties"].get("AuthorizationType") == "NONE"]
    assert len(admin) == 12
    assert {m["Properties"]["HttpMethod"] for m in public} == {"GET", "POST", "OPTIONS"}
    assert all(m["Properties"]["HttpMethod"] != "ANY" for m in methods.values())
    t.has_resource_properties("AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["PRIVATE"]},
                                                           "Policy": Match.any_value()})
    t.has_resource_properties("AWS::ApiGateway::Stage", {"StageName": "live", "TracingEnabled": True,
                                                         "AccessLogSetting": Match.any_value()})


def test_cloudfront_caches_what_every_visitor_polls_keyed_on_the_event_only(built: Any) -> None:
    t = template(built.api)
    policies = {p["Properties"]["CachePolicyConfig"]["Name"]: p["Properties"]["CachePolicyConfig"]
                for p in resources(t, "AWS::CloudFront::CachePolicy").values()}
    assert len(policies) == 3
    queries = {}
    for config in policies.values():
        # The server's Cache-Control sets the window (status_max_age); 1 s where it names none.
        assert (config["DefaultTTL"], config["MinTTL"], config["MaxTTL"]) == (1, 0, 300)
        key = config["ParametersInCacheKeyAndForwardedToOrigin"]
        assert key["CookiesConfig"] == {"CookieBehavior": "none"} and key["HeadersConfig"] == {"HeaderBehavior": "none"}
        queries[config["Comment"]] = key["QueryStringsConfig"]
    assert sorted(queries.values(), key=str) == sorted([
        {"QueryStringBehavior": "none"},
        {"QueryStringBehavior": "whitelist", "QueryStrings": ["event_id"]},
        {"QueryStringBehavior": "whitelist", "QueryStrings": ["event_id", "format"]},
    ], key=str)
    distribution = next(iter(resources(t, "AWS::CloudFront::Distribution").values()))["Properties"][
        "DistributionConfig"]
    behaviours = {b["PathPattern"]: b for b in distribution["CacheBehaviors"]}
    assert set(behaviours) == {"/serving_num", "/waiting_num", "/events/*/status", "/.well-known/jwks.json",
                               "/public_key", "/static/*"}
    caching_disabled = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # AWS managed CachingDisabled
    assert distribution["DefaultCacheBehavior"]["CachePolicyId"] == caching_disabled
    assert "POST" in distribution["DefaultCacheBehavior"]["AllowedMethods"]
    status_policy = behaviours["/events/*/status"]["CachePolicyId"]
    assert behaviours["/.well-known/jwks.json"]["CachePolicyId"] == status_policy
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
    t.has_resource_properties("Custom::CDKBucketDeployment", {"SourceObjectKeys": Match.any_value()})
    deployment = next(iter(resources(t, "Custom::CDKBucketDeployment").values()))
    assert len(deployment["Properties"]["SourceObjectKeys"]) == 2  # the site folder and config.json


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
