"""cdk-nag AwsSolutions checks, and the suppressions we accept, each with its reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Stack, Token, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

STACK_SUPPRESSIONS: list[tuple[str, str]] = [
    ("AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
     "The AWS managed policy for a function's own log stream"),
    ("AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
     "The AWS managed policy for the network interfaces of functions in the VPC"),
    ("AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
     "The AWS managed policy API Gateway's account-level logging role needs"),
    ("AwsSolutions-IAM5[Resource::*]", "X-Ray PutTraceSegments/PutTelemetryRecords and cloudwatch:PutMetricData "
                                       "have no resource-level permissions (PutMetricData is limited to our "
                                       "namespace by a condition)"),
    ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", "CDK's grants on the one data key for the encrypted queue "
                                                  "(and the table with store = dynamodb)"),
    ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "CDK's grants on the one data key for sending to the "
                                                        "encrypted queue (and writing the table)"),
    ("AwsSolutions-IAM5[Action::s3:GetObject*]", "CDK BucketDeployment reads its asset objects"),
    ("AwsSolutions-IAM5[Action::s3:GetBucket*]", "CDK BucketDeployment on the asset and site buckets only"),
    ("AwsSolutions-IAM5[Action::s3:List*]", "CDK BucketDeployment on the asset and site buckets only"),
    ("AwsSolutions-IAM5[Action::s3:DeleteObject*]", "CDK BucketDeployment prunes old files of the site bucket"),
    ("AwsSolutions-IAM5[Action::s3:Abort*]", "CDK BucketDeployment multipart uploads to the site bucket"),
    ("AwsSolutions-IAM5[Resource::WaitingRoomSampleSite:ExportsOutputFnGetAttSiteBucket978D4AEBArn2068E4CD/*]",
     "CDK BucketDeployment writes the site files (into the bucket of the hosting stack)"),
    ("AwsSolutions-L1", "Functions pin Python 3.12, the runtime the vendored wheels are built for; CDK's "
                        "BucketDeployment helper function is managed by CDK"),
    ("AwsSolutions-APIG2", "Requests are validated by the application (JSON schemas, typed parameters), which "
                           "answers with the documented JSON errors"),
    ("AwsSolutions-APIG3", "The public stage answers only requests through CloudFront (origin header secret), "
                           "where WAF is attached with waf = true; the admin stage uses IAM; the checkout stage its "
                           "authorizer (rate limits: API Gateway throttling and the app)"),
    ("AwsSolutions-APIG4", "The public API is public by design: visitors are anonymous until admitted; the "
                           "admin API uses IAM authorization; the checkout API's CORS preflights carry no token"),
    ("AwsSolutions-COG4", "No Cognito: the public API is anonymous, the admin API uses IAM, the checkout API the "
                          "waiting room's own Lambda authorizer"),
    ("AwsSolutions-CFR1", "No geo restriction: a waiting room serves every visitor of the protected site"),
    ("AwsSolutions-CFR2", "WAF is optional and costs money: waf = true in deploy.toml attaches a web ACL with a "
                          "rate limit per client to the API distribution; the sample site is static files"),
    ("AwsSolutions-CFR3", "CloudFront access logs are optional (they hold visitor IPs); API Gateway access "
                          "logs record every request that reaches the origin"),
    ("AwsSolutions-CFR4", "Without a custom domain the default CloudFront certificate allows only what "
                          "CloudFront's default domain supports; with one, TLSv1.2_2021 is the minimum"),
    ("AwsSolutions-S1", "The sample site bucket only holds public demo files; CloudFront serves them"),
    ("AwsSolutions-SMG4", "The signing key set rotates through the scheduled key rotation function (new "
                          "KeySet versions), not the Secrets Manager rotation protocol; the cache auth token, "
                          "admin keys and origin header secret are rotated by putting a new value and redeploying "
                          "(docs/aws.md)"),
    ("AwsSolutions-EC23", "The interface endpoints (AWS APIs, the private admin API) accept HTTPS from the VPC's "
                          "own address range only"),
]


def check(app: App, stacks: list[Stack]) -> None:
    """Run the AwsSolutions pack over the app at synth, with the acknowledgements above on ``stacks``.

    Unacknowledged errors fail ``app.synth()``.
    """
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    for stack in stacks:
        rules = list(STACK_SUPPRESSIONS)
        region, account = region_and_account(stack)
        rules.append((f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-{account}-{region}/*]",
                      "CDK BucketDeployment reads the site files from the CDK asset bucket"))
        for rule, reason in rules:
            Validations.of(stack).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def region_and_account(stack: Stack) -> tuple[str, str]:
    """The region and account as cdk-nag writes them in a finding: the values, or the pseudo parameters."""
    if Token.is_unresolved(stack.account) or Token.is_unresolved(stack.region):
        return "<AWS::Region>", "<AWS::AccountId>"
    return stack.region, stack.account


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Accept one AwsSolutions ``rule`` on ``construct`` only (a choice made in ``deploy.toml``)."""
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))
