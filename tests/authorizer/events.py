"""API Gateway authorizer event documents, shaped like the examples of the API Gateway developer guide
("Input to an API Gateway Lambda authorizer" and "Control access to HTTP APIs with Lambda authorizers").
"""

from __future__ import annotations

from typing import Any

from .conftest import METHOD_ARN

ROUTE_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/GET/request"


def rest_token(authorization_token: str, method_arn: str = METHOD_ARN) -> dict[str, Any]:
    """REST API, TOKEN authorizer: the token source header's value and the method ARN."""
    return {"type": "TOKEN", "authorizationToken": authorization_token, "methodArn": method_arn}


def rest_request(
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    method_arn: str = METHOD_ARN,
) -> dict[str, Any]:
    """REST API, REQUEST authorizer (proxy integration), as API Gateway sends it."""
    all_headers = {
        "X-AMZ-Date": "20170718T062915Z",
        "Accept": "*/*",
        "CloudFront-Viewer-Country": "US",
        "CloudFront-Forwarded-Proto": "https",
        "CloudFront-Is-Tablet-Viewer": "false",
        "CloudFront-Is-Mobile-Viewer": "false",
        "User-Agent": "curl/7.68.0",
        "X-Forwarded-Proto": "https",
        "CloudFront-Is-SmartTV-Viewer": "false",
        "Host": "abcdef123.execute-api.us-east-1.amazonaws.com",
        "Accept-Encoding": "gzip, deflate",
        "X-Forwarded-Port": "443",
        "X-Amzn-Trace-Id": "Root=1-5e66d96f-7491f09xmpl79d18acf3d050",
        "Via": "1.1 3dc6d5f0d1f4b8b6d4c5c1d1f1e8a9c3.cloudfront.net (CloudFront)",
        "X-Amz-Cf-Id": "nBsWBOrSHMgnaROZJK1wGCZ9PcRcSpq_oSXZNQwQ10OTZL4cimZo3g==",
        "X-Forwarded-For": "198.51.100.7, 130.176.0.1",
        "CloudFront-Is-Desktop-Viewer": "true",
        **(headers or {}),
    }
    query = query or {}
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        "resource": "/request",
        "path": "/request",
        "httpMethod": "GET",
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {name: [value] for name, value in query.items()} or None,
        "pathParameters": {},
        "stageVariables": {"StageVar1": "stageValue1"},
        "requestContext": {
            "path": "/request",
            "accountId": "123456789012",
            "resourceId": "05c7jb",
            "stage": "test",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {
                "apiKey": "",
                "sourceIp": "198.51.100.7",
                "clientCert": None,
            },
            "resourcePath": "/request",
            "httpMethod": "GET",
            "apiId": "abcdef123",
        },
    }


def http_api_v2(
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    query: dict[str, str] | None = None,
    identity_source: list[str] | None = None,
) -> dict[str, Any]:
    """HTTP API, Lambda authorizer with payload format 2.0 (header names arrive lower-cased)."""
    all_headers = {
        "accept": "*/*",
        "content-length": "0",
        "host": "abcdef123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "curl/7.68.0",
        "x-amzn-trace-id": "Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e",
        "x-forwarded-for": "198.51.100.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    query = query or {}
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": ROUTE_ARN,
        "identitySource": identity_source or [],
        "routeKey": "GET /request",
        "rawPath": "/request",
        "rawQueryString": "&".join(f"{k}={v}" for k, v in query.items()),
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef123",
            "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef123",
            "http": {
                "method": "GET",
                "path": "/request",
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "curl/7.68.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "GET /request",
            "stage": "$default",
            "time": "10/Mar/2020:05:16:23 +0000",
            "timeEpoch": 1583817383220,
        },
        "pathParameters": {},
        "stageVariables": {},
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    return event
