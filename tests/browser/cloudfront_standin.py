"""A small local stand-in for CloudFront's viewer-request step, for browser tests of the edge gate.

Run with a bare interpreter (``python -I -S cloudfront_standin.py --bundle DIR --origin DIR --port N``):
standard library only, and the gate is imported from the unzipped bundle, as Lambda@Edge would.
Each browser request becomes a viewer-request event document (headers keyed by lower-case name,
lists of ``{key, value}``; query string apart; the CloudFront developer guide's shape); the
handler's answer is either a generated response, sent as is, or the request to forward, served
by a static origin from ``--origin``. The origin also answers ``/_origin/headers`` with the
headers it received as JSON, so a test can see what the origin saw. Prints ``ready`` once listening.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def viewer_request_event(method: str, target: str, headers: list[tuple[str, str]], client_ip: str) -> dict[str, Any]:
    uri, _, querystring = target.partition("?")
    grouped: dict[str, list[dict[str, str]]] = {}
    for key, value in headers:
        grouped.setdefault(key.lower(), []).append({"key": key, "value": value})
    return {"Records": [{"cf": {
        "config": {"distributionDomainName": "d111111abcdef8.cloudfront.net", "distributionId": "EDFDVBD6EXAMPLE",
                   "eventType": "viewer-request", "requestId": "standin"},
        "request": {"clientIp": client_ip, "headers": grouped, "method": method, "querystring": querystring,
                    "uri": uri or "/"},
    }}]}


def make_handler(gate: Any, origin: Path) -> type[BaseHTTPRequestHandler]:
    class Viewer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            event = viewer_request_event("GET", self.path, list(self.headers.items()), self.client_address[0])
            answer = gate(event, None)
            if "status" in answer:
                self.generated(answer)
            else:
                self.origin(answer)

        def generated(self, answer: dict[str, Any]) -> None:
            body = answer.get("body", "").encode()
            self.send_response(int(answer["status"]), answer.get("statusDescription") or None)
            for entries in answer.get("headers", {}).values():
                for entry in entries:
                    self.send_header(entry["key"], entry["value"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def origin(self, request: dict[str, Any]) -> None:
            uri = request["uri"]
            if uri == "/_origin/headers":
                seen = {name: [e["value"] for e in entries] for name, entries in request["headers"].items()}
                self.reply(200, json.dumps(seen).encode(), "application/json")
                return
            path = (origin / (uri.lstrip("/") or "index.html")).resolve()
            if origin.resolve() not in path.parents or not path.is_file():
                self.reply(404, b"not found", "text/plain")
                return
            self.reply(200, path.read_bytes(), mimetypes.guess_type(path.name)[0] or "application/octet-stream")

        def reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Viewer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--origin", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    sys.path.insert(0, args.bundle)  # as Lambda puts /var/task first
    from authorizer.edge import handler

    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(handler, Path(args.origin)))
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
