"""The WaitingRoomEdgeGate construct, synthesized for real: the bundle becomes a Lambda@Edge function
in us-east-1 and the viewer-request trigger of the chosen behaviors."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

GATE = {"issuer": "https://wait.example.com", "client_id": "shop-edge", "event_id": "spring-sale",
        "unprotected_paths": ["/healthz"], "state_secret": "x" * 43}


def site_stack(tmp: Path, region: str, **gate: Any) -> tuple[Any, Any]:
    import aws_cdk as cdk
    from waitingroom_infra.stacks.sample_site import SampleSiteStack

    app = cdk.App(outdir=str(tmp / "cdk.out"))
    stack = SampleSiteStack(app, "Site", site_dir=ROOT / "sample_site", site_config={"issuer": GATE["issuer"]},
                            edge_gate={**GATE, "build_dir": tmp / "edge", **gate},
                            env=cdk.Environment(account="123456789012", region=region))
    return app, stack


def template(stack: Any) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_stack(stack)


def test_the_sample_site_behind_the_gate(tmp_path: Path) -> None:
    from aws_cdk.assertions import Match

    _, stack = site_stack(tmp_path, "us-east-1")
    t = template(stack)
    t.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "authorizer.edge.handler", "Runtime": "python3.12", "MemorySize": 128, "Timeout": 5})
    t.has_resource_properties("AWS::IAM::Role", {"AssumeRolePolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Principal": {"Service": "edgelambda.amazonaws.com"}})])}})
    t.has_resource_properties("AWS::CloudFront::Distribution", {"DistributionConfig": Match.object_like({
        "DefaultCacheBehavior": Match.object_like({"LambdaFunctionAssociations": [{
            "EventType": "viewer-request", "IncludeBody": False,
            "LambdaFunctionARN": {"Ref": Match.string_like_regexp("^EdgeGateFunctionFnCurrentVersion")}}]})})})
    bundle = stack.gate.bundle
    assert bundle.size < 1024 * 1024
    with zipfile.ZipFile(bundle.path) as archive:
        assert "authorizer/edge_config.json" in archive.namelist()


def test_outside_us_east_1_the_function_goes_to_its_own_us_east_1_stack(tmp_path: Path) -> None:
    app, stack = site_stack(tmp_path, "eu-west-1")
    edge_stacks = [s for s in app.node.children if getattr(s, "region", None) == "us-east-1"]
    assert len(edge_stacks) == 1
    template(edge_stacks[0]).has_resource_properties("AWS::Lambda::Function", {"Handler": "authorizer.edge.handler"})
    template(stack).resource_count_is("AWS::Lambda::Function", 2)  # BucketDeployment's + the version reader
    app.synth()


def shop_distribution(tmp: Path) -> tuple[Any, Any, Any]:
    """Someone's own stack and distribution: a default behavior and two path patterns."""
    import aws_cdk as cdk
    from aws_cdk import aws_cloudfront as cloudfront
    from aws_cdk import aws_cloudfront_origins as origins

    app = cdk.App(outdir=str(tmp / "cdk.out"))
    stack = cdk.Stack(app, "Shop", env=cdk.Environment(account="123456789012", region="us-east-1"))
    origin = origins.HttpOrigin("origin.shop.example")
    distribution = cloudfront.Distribution(
        stack, "Cdn", default_behavior=cloudfront.BehaviorOptions(origin=origin),
        additional_behaviors={"/static/*": cloudfront.BehaviorOptions(origin=origin),
                              "/tickets/*": cloudfront.BehaviorOptions(origin=origin)})
    return app, stack, distribution


def test_a_path_pattern_behavior_of_an_existing_distribution(tmp_path: Path) -> None:
    from waitingroom_infra.constructs.edge_gate import WaitingRoomEdgeGate

    _, stack, distribution = shop_distribution(tmp_path / "a")
    WaitingRoomEdgeGate(stack, "Gate", distribution=distribution, path_patterns=["/tickets/*"],
                        callback_path="/tickets/_waitingroom/callback", build_dir=tmp_path / "edge", **GATE)
    distributions = template(stack).find_resources("AWS::CloudFront::Distribution").values()
    [config] = [r["Properties"]["DistributionConfig"] for r in distributions]
    by_pattern = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert by_pattern["/tickets/*"]["LambdaFunctionAssociations"][0]["EventType"] == "viewer-request"
    assert "LambdaFunctionAssociations" not in by_pattern["/static/*"]
    assert "LambdaFunctionAssociations" not in config["DefaultCacheBehavior"]

    app, stack, distribution = shop_distribution(tmp_path / "b")
    WaitingRoomEdgeGate(stack, "Typo", distribution=distribution, path_patterns=["/nope/*"],
                        callback_path="/nope/callback", build_dir=tmp_path / "edge", **GATE)
    with pytest.raises(Exception, match="no behavior for path pattern '/nope/\\*'"):
        app.synth()


def test_the_settings_are_checked_at_synth(tmp_path: Path) -> None:
    import aws_cdk as cdk

    from authorizer.edge_config import EdgeConfigError

    with pytest.raises(EdgeConfigError, match="callback_path"):
        site_stack(tmp_path, "us-east-1", callback_path="callback")
    with pytest.raises(ValueError, match="plain string"):
        site_stack(tmp_path / "b", "us-east-1", issuer=cdk.Fn.import_value("WaitingRoomIssuer"))


def test_the_callback_path_must_be_gated_too(tmp_path: Path) -> None:
    # Admitted visitors come back to the callback path: an ungated behavior would hand it to the
    # origin and the sign-in would never complete.
    from waitingroom_infra.constructs.edge_gate import WaitingRoomEdgeGate, path_pattern_matches

    _, stack, distribution = shop_distribution(tmp_path)
    with pytest.raises(ValueError, match="callback_path '/_waitingroom/callback' is under none of the gated"):
        WaitingRoomEdgeGate(stack, "Gate", distribution=distribution, path_patterns=["/tickets/*"],
                            build_dir=tmp_path / "edge", **GATE)
    assert path_pattern_matches("/tickets/*", "/tickets/_waitingroom/callback")
    assert path_pattern_matches("_waitingroom/*", "/_waitingroom/callback")  # the leading / is optional
    assert path_pattern_matches("/t?ckets/*/callback", "/tickets/x/y/callback")
    assert not path_pattern_matches("/Tickets/*", "/tickets/callback")  # case-sensitive
    assert not path_pattern_matches("/tickets.*", "/ticketsX/callback")  # a dot is a dot
