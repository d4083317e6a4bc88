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

COUNT_PATHS = ("/serving_num", "/waiting_num")
"""Keyed on the ``event_id`` query string."""
STATUS_PATHS = ("/events/*/status", "/.well-known/jwks.json")
"""Keyed on the path alone (the event is in it): no query string, header or cookie."""
KEY_PATHS = ("/public_key",)
"""Keyed on ``event_id`` and ``format``."""
DRAW_PATHS = ("/events/*/draw",)
"""An event's public draw document: keyed on the path alone, kept as long as its own ``max-age``
says (a few seconds before the opening, an hour after it, when the list is large and final)."""
DRAW_MAX_WINDOW = 3600
"""The longest an open draw's document stays here before it is revalidated (its ``ETag``)."""

STATIC_PATH = "/static/*"
"""The waiting page's files (AWS managed CachingOptimized: at least a second, a day when allowed)."""

STATUS_MAX_AGE = 1
"""Seconds, the server's default ``[server] status_max_age``: the time to live when an answer names none."""
MAX_WINDOW = 300
"""The longest an answer's own ``max-age`` may keep it here (the JWKS says 300 s)."""


class ApiDistribution(Construct):
    """Nothing per visitor is cached: ``/queue_num``, ``/authorize``, ``/token``, ... always reach the API.

    What every visitor polls is cached at the edge for the window the server's ``Cache-Control``
    gives (``[server] status_max_age``, 1 s by default): each event's status document
    (``/events/<id>/status``), ``/serving_num`` and ``/waiting_num``, and the public keys
    (``/.well-known/jwks.json``, ``/public_key``), each event's draw document (``/events/<id>/draw``,
    up to an hour once the draw is open), and the waiting page's static files. Each is keyed
    on the event only, never on cookies, headers or other query strings, so a million waiting
    browsers cost the API one request per event, edge location and window."""

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
        self.status_cache = self._cache_policy("StatusCache", "Waiting room status documents: per event",
                                               cloudfront.CacheQueryStringBehavior.none())
        self.counts_cache = self._cache_policy("CountsCache", "Waiting room counts: per event",
                                               cloudfront.CacheQueryStringBehavior.allow_list("event_id"))
        self.key_cache = self._cache_policy("KeyCache", "Waiting room public key: per event and format",
                                            cloudfront.CacheQueryStringBehavior.allow_list("event_id", "format"))
        self.draw_cache = self._cache_policy("DrawCache", "Waiting room draw documents: per event",
                                             cloudfront.CacheQueryStringBehavior.none(), max_window=DRAW_MAX_WINDOW)
        behaviours = {
            **{path: self._cached(origin, self.counts_cache) for path in COUNT_PATHS},
            **{path: self._cached(origin, self.status_cache) for path in STATUS_PATHS},
            **{path: self._cached(origin, self.key_cache) for path in KEY_PATHS},
            **{path: self._cached(origin, self.draw_cache) for path in DRAW_PATHS},
            # The waiting page's script and style: every arriving visitor loads them once.
            STATIC_PATH: self._cached(origin, cloudfront.CachePolicy.CACHING_OPTIMIZED),
        }
        certificate = acm.Certificate.from_certificate_arn(self, "Certificate", certificate_arn) if domain else None
        self.distribution = cloudfront.Distribution(
            self, "Distribution", comment="Waiting room public API",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin, cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL, compress=True),
            additional_behaviors=behaviours,
            domain_names=[domain] if domain else None, certificate=certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100, web_acl_id=web_acl_id,
        )

    def _cache_policy(self, id: str, comment: str, query_strings: cloudfront.CacheQueryStringBehavior,
                      max_window: int = MAX_WINDOW) -> cloudfront.CachePolicy:
        """Seconds, as the answer's ``Cache-Control`` says (:data:`STATUS_MAX_AGE` if it says nothing),
        at most ``max_window``."""
        return cloudfront.CachePolicy(
            self, id, comment=comment, default_ttl=Duration.seconds(STATUS_MAX_AGE), min_ttl=Duration.seconds(0),
            max_ttl=Duration.seconds(max_window), query_string_behavior=query_strings,
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=True, enable_accept_encoding_brotli=True)

    @staticmethod
    def _cached(origin: cloudfront.IOrigin, policy: cloudfront.ICachePolicy) -> cloudfront.BehaviorOptions:
        return cloudfront.BehaviorOptions(
            origin=origin, cache_policy=policy, viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS, compress=True)


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
