"""The control panel for an AWS deployment, run on the operator's own machine.

On AWS the admin API sits behind API Gateway with IAM authorization, and its bearer keys live
in Secrets Manager. A browser page cannot sign AWS requests without AWS credentials in the
browser, which is what this avoids. Instead the operator runs, with short-lived credentials
from IAM Identity Center (``aws sso login``) or any other source boto3 finds::

    python -m oidc_adaptor.panel.aws_proxy --admin-api-url https://abc123.execute-api.eu-west-1.amazonaws.com/prod \\
        --admin-keys-secret arn:aws:secretsmanager:...:secret:AdminKeys... --profile ops

It listens on loopback only, serves the panel page, and forwards the panel's admin calls to the
admin API: each one SigV4-signed (in the query string, so the ``Authorization`` header can carry
the admin key) with the operator's temporary credentials, and with the admin key read from
Secrets Manager. The browser never sees AWS credentials or the admin key: it signs in with a
random key that this process prints and that is worthless anywhere else. Requests whose
``Host`` is not the loopback address it listens on are refused (DNS rebinding).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, Response, redirect, request

log = logging.getLogger("waitingroom.panel.aws")

FORWARDED_HEADERS = ("Content-Type", "Accept")
MAX_BODY = 64 * 1024
Signer = Callable[[str, str, bytes, dict[str, str]], str]
"""(method, url, body, headers) -> the URL to call, with the signature in its query string."""


def sigv4_query_signer(region: str, profile: str | None = None, expires: int = 60) -> Signer:
    """Sign with the credentials boto3 finds (SSO, role, environment), refreshed as they rotate."""
    import boto3
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    session = boto3.Session(profile_name=profile, region_name=region)

    def sign(method: str, url: str, body: bytes, headers: dict[str, str]) -> str:
        credentials = session.get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials: run `aws sso login` (or set a profile) first")
        aws_request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4QueryAuth(credentials.get_frozen_credentials(), "execute-api", region, expires=expires).add_auth(
            aws_request
        )
        return str(aws_request.url)

    return sign


def admin_key_from_secret(secret_id: str, region: str, profile: str | None = None) -> str:
    """The first admin key of the secret (the functions read it as a comma-separated list)."""
    import boto3

    client = boto3.Session(profile_name=profile, region_name=region).client("secretsmanager")
    value = client.get_secret_value(SecretId=secret_id)["SecretString"]
    return str(value).split(",")[0].strip()


def create_proxy_app(
    admin_api_url: str,
    admin_key: str,
    signer: Signer,
    *,
    local_key: str,
    allowed_hosts: Sequence[str],
    admin_prefix: str = "/admin",
    timeout: float = 10.0,
) -> Flask:
    """The panel page plus a signing forwarder for ``{admin_prefix}/...`` calls."""
    from . import blueprint as panel_blueprint

    upstream = admin_api_url.rstrip("/")
    if not upstream.startswith("https://") and not upstream.startswith("http://127.0.0.1"):
        raise ValueError("the admin API URL must be https")
    app = Flask(__name__)
    app.config["PANEL_ADMIN_PREFIX"] = admin_prefix
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.register_blueprint(panel_blueprint, url_prefix=admin_prefix + "/panel")
    hosts = frozenset(allowed_hosts)

    panel_paths = (admin_prefix + "/panel", admin_prefix + "/panel/")

    @app.before_request
    def _dispatch() -> Response | None:
        if request.host not in hosts:
            return Response("unknown host\n", status=421, mimetype="text/plain")
        path = request.path
        local = path in panel_paths or path.startswith(admin_prefix + "/panel/static/")
        if path.startswith(admin_prefix + "/") and not local:
            return forward(path[len(admin_prefix) + 1:])  # the API, panel/history included
        return None

    @app.get("/")
    def home() -> Any:
        return redirect(admin_prefix + "/panel")

    def forward(rest: str) -> Response:
        if request.method not in ("GET", "POST"):
            return Response(status=405, headers={"Allow": "GET, POST"})
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), local_key.encode()):
            response = Response('{"error": "unauthorized", "message": "use the key this panel printed"}',
                                status=401, mimetype="application/json")
            response.headers["WWW-Authenticate"] = 'Bearer realm="waitingroom-panel"'
            return response
        url = f"{upstream}{admin_prefix}/{urllib.parse.quote(rest)}"
        if request.query_string:
            url += "?" + request.query_string.decode("ascii", "replace")
        body = request.get_data() if request.method == "POST" else b""
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        signed_url = signer(request.method, url, body, headers)
        outgoing = urllib.request.Request(  # noqa: S310 - the URL is the configured https admin API
            signed_url, data=body if request.method == "POST" else None, method=request.method,
            headers={**headers, "Authorization": f"Bearer {admin_key}"},
        )
        try:
            with urllib.request.urlopen(outgoing, timeout=timeout) as answer:  # noqa: S310
                status, content, kind = answer.status, answer.read(), answer.headers.get("Content-Type")
        except urllib.error.HTTPError as exc:
            status, content, kind = exc.code, exc.read(), exc.headers.get("Content-Type")
        except (urllib.error.URLError, OSError) as exc:
            log.warning("admin API unreachable: %s", getattr(exc, "reason", exc))
            return Response('{"error": "bad_gateway", "message": "the admin API could not be reached"}',
                            status=502, mimetype="application/json")
        if status == 401:  # the browser's key was fine; the upstream refusal is about AWS or the secret
            status = 502
        return Response(content, status=status, content_type=kind or "application/json")

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oidc_adaptor.panel.aws_proxy",
        description="Serve the control panel locally for an AWS deployment, signing admin calls with your "
        "temporary AWS credentials.",
    )
    parser.add_argument("--admin-api-url", required=True, help="the AdminApiUrl output of the CDK app")
    parser.add_argument("--admin-keys-secret", required=True, help="ARN or name of the admin keys secret")
    parser.add_argument("--region", default=None, help="AWS region (default: taken from the admin API URL)")
    parser.add_argument("--profile", default=None, help="AWS profile, e.g. an IAM Identity Center one")
    parser.add_argument("--port", type=int, default=8090, help="local port (default 8090)")
    parser.add_argument("--admin-prefix", default="/admin")
    args = parser.parse_args(argv)
    region = args.region or _region_from_url(args.admin_api_url)
    if not region:
        parser.error("give --region: it cannot be read from the admin API URL")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    admin_key = admin_key_from_secret(args.admin_keys_secret, region, args.profile)
    local_key = secrets.token_urlsafe(18)
    host = f"127.0.0.1:{args.port}"
    app = create_proxy_app(args.admin_api_url, admin_key, sigv4_query_signer(region, args.profile),
                           local_key=local_key, allowed_hosts=[host, f"localhost:{args.port}"],
                           admin_prefix=args.admin_prefix)
    print(f"\nControl panel: http://{host}{args.admin_prefix}/panel\nSign in with: {local_key}\n"
          "(valid for this process only; Ctrl-C to stop)\n", flush=True)
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", args.port, app, threaded=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _region_from_url(url: str) -> str | None:
    host = urllib.parse.urlsplit(url).hostname or ""
    parts = host.split(".")
    if len(parts) >= 5 and parts[1] == "execute-api":
        return parts[2]
    return None


if __name__ == "__main__":
    sys.exit(main())
