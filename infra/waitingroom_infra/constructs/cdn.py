"""CloudFront in front of the public API and in front of the sample site bucket."""

from __future__ import annotations

from aws_cdk import (
    Duration,
    Fn,
    Stack,
)
from aws_cdk import (
    aws_apigateway as apigw,
)
from aws_cdk import (
    aws_certificatemanager as acm,
)
from aws_cdk import (
    aws_cloudfront as cloudfront,
)
from aws_cdk import (
    aws_cloudfront_origins as origins,
)
from aws_cdk import (
    aws_s3 as s3,
)
from constructs import Construct

SHORT_CACHED_PATHS = ("/serving_num", "/waiting_num")


class ApiDistribution(Construct):
    """Nothing is cached except ``/serving_num`` and ``/waiting_num``: a couple of seconds, keyed by
    the ``event_id`` query string only, so a burst of pollers costs one request per event per TTL.
    Per-visitor paths (``/queue_num``, ``/authorize``, ``/token``, ...) always reach the API."""

    def __init__(self, scope: Construct, id: str, *, api: apigw.RestApi, stage: str, domain: str,
                 certificate_arn: str, origin_headers: dict[str, str] | None = None,
                 web_acl_id: str | None = None) -> None:
        super().__init__(scope, id)
        # The origin is built from the API id, not ``api.url``: the functions know the issuer
        # (this distribution's domain) and the API's stage depends on the functions.
        origin = origins.HttpOrigin(
            Fn.join("", [api.rest_api_id, ".execute-api.", Stack.of(self).region, ".", Stack.of(self).url_suffix]),
            origin_path=f"/{stage}", protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            custom_headers=origin_headers)
        self.counts_cache = cloudfront.CachePolicy(
            self, "CountsCache", comment="Waiting room counts: seconds, per event",
            default_ttl=Duration.seconds(2), min_ttl=Duration.seconds(0), max_ttl=Duration.seconds(5),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.allow_list("event_id"),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=True, enable_accept_encoding_brotli=True)
        counts = cloudfront.BehaviorOptions(
            origin=origin, cache_policy=self.counts_cache,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS, compress=True)
        certificate = acm.Certificate.from_certificate_arn(self, "Certificate", certificate_arn) if domain else None
        self.distribution = cloudfront.Distribution(
            self, "Distribution", comment="Waiting room public API",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin, cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL, compress=True),
            additional_behaviors={path: counts for path in SHORT_CACHED_PATHS},
            domain_names=[domain] if domain else None, certificate=certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100, web_acl_id=web_acl_id,
        )


class StaticSite(Construct):
    """A private, encrypted bucket served only through CloudFront with origin access control."""

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.bucket = s3.Bucket(
            self, "Bucket", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, versioned=False,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED)
        self.distribution = cloudfront.Distribution(
            self, "Distribution", comment="Waiting room sample site", default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED, compress=True),
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
