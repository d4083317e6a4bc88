"""CloudFront viewer-request event documents, shaped like the example of the CloudFront developer guide
("Lambda@Edge event structure": headers keyed by lower-case name, each a list of ``{key, value}``)."""

from __future__ import annotations

from typing import Any

SITE_HOST = "shop.example"
CLIENT = "shop-edge"
"""The public client registered for the gate in :func:`tests.authorizer.conftest.edge_room`."""
CALLBACK = "/_waitingroom/callback"


def viewer_request(uri: str = "/", querystring: str = "", cookies: dict[str, str] | None = None,
                   host: str = SITE_HOST, method: str = "GET") -> dict[str, Any]:
    headers: dict[str, list[dict[str, str]]] = {
        "host": [{"key": "Host", "value": host}],
        "user-agent": [{"key": "User-Agent", "value": "Mozilla/5.0 (X11; Linux x86_64)"}],
        "accept": [{"key": "Accept", "value": "text/html,application/xhtml+xml"}],
    }
    if cookies:
        headers["cookie"] = [{"key": "Cookie", "value": "; ".join(f"{k}={v}" for k, v in cookies.items())}]
    return {"Records": [{"cf": {
        "config": {"distributionDomainName": "d111111abcdef8.cloudfront.net", "distributionId": "EDFDVBD6EXAMPLE",
                   "eventType": "viewer-request",
                   "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="},
        "request": {"clientIp": "203.0.113.178", "headers": headers, "method": method, "querystring": querystring,
                    "uri": uri},
    }}]}


def set_cookies(response: dict[str, Any]) -> dict[str, str]:
    """``name -> full Set-Cookie value`` of a generated response."""
    values = [h["value"] for h in response["headers"].get("set-cookie", [])]
    return {v.partition("=")[0]: v for v in values}


def cookie_value(set_cookie: str) -> str:
    return set_cookie.partition("=")[2].partition(";")[0]


def location(response: dict[str, Any]) -> str:
    return str(response["headers"]["location"][0]["value"])
