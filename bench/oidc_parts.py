"""Where the CPU of an OpenID Connect flow goes, in process: ``python -m bench.oidc_parts``.

The app (``create_app`` with the Redis store on a throw-away redis-server, the benchmark's
configuration, scheduler off) and the Flask floor (``bench.reference:oidc_floor_app``) are
called as WSGI apps in this process, one thread, with the same three requests the ``oidc``
benchmark sends for an admitted visitor. CPU time (``time.process_time``) is counted around
each call of the app only, so building the requests and reading the answers is left out; each
side runs ``--rounds`` rounds of ``--flows`` flows and the best round counts (the machine is
shared). HTTP parsing and writing by gunicorn are not in these numbers: under ``python -m bench
run --only oidc`` each request costs both sides about 0.3 ms more.

For the project, a second pass splits the flow's CPU into parts, each counted exclusive of the
parts it calls (so they add up): store calls (redis-py and the socket, per command), signing
the two tokens, Authlib's checks of the authorization request and its token endpoint (client
authentication, grant lookup, code and redirect URI checks, PKCE, the JSON answer), the code
redemption and token building of :mod:`oidc_adaptor.oidc.server`, the app's request hooks, and
the rest (Flask and werkzeug request handling, the views). Counting costs a few microseconds
per wrapped call, so that pass is slower than the first: "the rest" is the first pass's best
round less the counted parts, so it errs low by about that counting cost.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.test import EnvironBuilder, run_wsgi_app

from . import servers, suite

BASE_URL = "http://127.0.0.1:8080"
Timed = tuple[float, str, Any, bytes]


class App:
    """A WSGI app called in process; :meth:`call` returns (CPU seconds, status, headers, body)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def call(self, method: str, path: str, *, query: Any = None, data: Any = None,
             headers: dict[str, str] | None = None) -> Timed:
        builder = EnvironBuilder(path=path, method=method, query_string=query, data=data, headers=headers,
                                 base_url=BASE_URL)
        environ = builder.get_environ()
        builder.close()
        started = time.process_time()
        body_iter, status, response_headers = run_wsgi_app(self.app, environ)
        body = b"".join(body_iter)
        return time.process_time() - started, status, response_headers, body


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _authorize_query(challenge: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": suite.OIDC_PUBLIC_CLIENT, "redirect_uri": suite.REDIRECT_URI,
            "scope": "openid", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge, "code_challenge_method": "S256"}


def flow(app: App, cookie: str) -> tuple[float, float, float]:
    """One flow of the public client; CPU seconds of /authorize, /token and /userinfo."""
    verifier, challenge = _pkce()
    t_authorize, status, headers, _ = app.call("GET", "/authorize", query=_authorize_query(challenge),
                                               headers={"Cookie": cookie})
    if not status.startswith("302"):
        raise RuntimeError(f"/authorize answered {status}")
    code = parse_qs(urlsplit(headers["Location"]).query).get("code", [""])[0]
    t_token, status, _, body = app.call("POST", "/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": suite.REDIRECT_URI,
        "code_verifier": verifier, "client_id": suite.OIDC_PUBLIC_CLIENT})
    if not status.startswith("200"):
        raise RuntimeError(f"/token answered {status}: {body[:200]!r}")
    access = json.loads(body)["access_token"]
    t_userinfo, status, _, _ = app.call("GET", "/userinfo", headers={"Authorization": f"Bearer {access}"})
    if not status.startswith("200"):
        raise RuntimeError(f"/userinfo answered {status}")
    return t_authorize, t_token, t_userinfo


def best_round(app: App, cookies: list[str], flows: int, rounds: int) -> list[float]:
    """Milliseconds of CPU per flow for each endpoint, in the round with the least in all."""
    best: list[float] | None = None
    for _ in range(rounds):
        totals = [0.0, 0.0, 0.0]
        for i in range(flows):
            for k, seconds in enumerate(flow(app, cookies[i % len(cookies)])):
                totals[k] += seconds
        per_flow = [t / flows * 1000 for t in totals]
        if best is None or sum(per_flow) < sum(best):
            best = per_flow
    assert best is not None
    return best


class Parts:
    """Exclusive CPU seconds per part: a wrapped call's time less that of wrapped calls inside it."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self._stack: list[list[Any]] = []

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            frame = [time.process_time(), 0.0]
            self._stack.append(frame)
            try:
                return function(*args, **kwargs)
            finally:
                self._stack.pop()
                elapsed = time.process_time() - frame[0]
                self.seconds[label] += elapsed - frame[1]
                if self._stack:
                    self._stack[-1][1] += elapsed

        return wrapped


@contextmanager
def counted_parts(flask_app: Any, parts: Parts) -> Iterator[None]:
    """Wrap the parts of the app named in the module docstring; unwrap on exit."""
    from oidc_adaptor.oidc.server import CodeGrant

    services = flask_app.extensions["waitingroom"]
    server = flask_app.extensions["waitingroom_oidc"].server
    client = services.store.client
    undo: list[Callable[[], None]] = []

    def patch(owner: Any, name: str, label: str, on_class: bool = False) -> None:
        original = owner.__dict__[name] if on_class else getattr(owner, name)
        setattr(owner, name, parts.wrap(label, original))
        undo.append(lambda: setattr(owner, name, original) if on_class else delattr(owner, name))

    patch(client, "execute_command", "store calls (redis-py, socket)")
    patch(services.signer, "sign", "signing the two tokens (RSA, PyJWT)")
    patch(server, "get_consent_grant", "Authlib: authorization request checks")
    patch(server, "create_token_response", "Authlib: token endpoint (client auth, code, PKCE, answer)")
    patch(CodeGrant, "query_authorization_code", "code redemption (project)", on_class=True)
    patch(CodeGrant, "generate_token", "token response building (claims, session)", on_class=True)
    hooks = [*flask_app.before_request_funcs.values(), *flask_app.after_request_funcs.values()]
    saved = [list(funcs) for funcs in hooks]
    for funcs in hooks:
        funcs[:] = [parts.wrap("request hooks (parameter check, headers, metrics, log)", f) for f in funcs]
    try:
        yield
    finally:
        for funcs, original_funcs in zip(hooks, saved, strict=True):
            funcs[:] = original_funcs
        for step in reversed(undo):
            step()


def _project(workdir: Path, redis_url: str) -> tuple[Any, App, list[str]]:
    """The project's app with eight admitted browsers; returns (Flask app, App, place cookies)."""
    from core.settings import Settings
    from oidc_adaptor.app import create_app
    from oidc_adaptor.plumbing import counter_cache

    config = suite.project_config(redis_url, workdir, admit_rate=400, scheduler=False)
    flask_app = create_app(Settings.load(config), start_scheduler=False)
    app = App(flask_app)
    cookies = []
    for _ in range(8):
        _, challenge = _pkce()
        _, status, headers, _ = app.call("GET", "/authorize", query=_authorize_query(challenge))
        if not status.startswith("303"):  # a first visit: the place cookie, and the check that it returns
            raise RuntimeError(f"a first /authorize answered {status}")
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        location = urlsplit(headers["Location"])
        app.call("GET", location.path, query=location.query, headers={"Cookie": cookie})
        cookies.append(cookie)
    app.call("POST", "/admin/increment_serving_counter",
             data=json.dumps({"event_id": suite.OIDC_EVENT, "increment_by": len(cookies)}),
             headers={"Authorization": f"Bearer {suite.ADMIN_KEY}", "Content-Type": "application/json"})
    counter_cache.for_app(flask_app).counters_changed(suite.OIDC_EVENT)
    for cookie in cookies:  # the first flow of each place opens its session
        flow(app, cookie)
    return flask_app, app, cookies


def measure(flows: int = 400, rounds: int = 5) -> dict[str, Any]:
    """Both sides' CPU per flow and endpoint (ms), and the project's parts (ms per flow)."""
    with tempfile.TemporaryDirectory(prefix="oidc-parts-") as tmp, \
            servers.redis_server(Path(tmp) / "redis") as redis_server:
        workdir = Path(tmp)
        flask_app, project, cookies = _project(workdir, redis_server.url)
        os.environ["BENCH_KEYS_FILE"] = str(workdir / "keys.json")  # the floor signs with the same key
        from .reference import oidc_floor_app

        floor = App(oidc_floor_app)
        for cookie in cookies:
            flow(floor, cookie)
        result: dict[str, Any] = {"project": best_round(project, cookies, flows, rounds),
                                  "floor": best_round(floor, cookies, flows, rounds)}
        parts = Parts()
        with counted_parts(flask_app, parts):
            total = sum(sum(flow(project, cookies[i % len(cookies)])) for i in range(flows))
        per_flow = {label: seconds / flows * 1000 for label, seconds in parts.seconds.most_common()}
        # The rest against the uncounted best round: counting inflates the counted parts a little
        # (and the rest more, as each count's own cost lands on its caller), so this errs low.
        per_flow["the rest (Flask, werkzeug, views)"] = sum(result["project"]) - sum(per_flow.values())
        result["parts"] = per_flow
        result["counted_total"] = total / flows * 1000
        flask_app.extensions["waitingroom"].store.close()
        return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.oidc_parts", description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=400, help="flows per round (default 400)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side; the best counts (default 5)")
    args = parser.parse_args(argv)
    result = measure(args.flows, args.rounds)
    for side in ("project", "floor"):
        authorize, token, userinfo = result[side]
        print(f"{side:8s} {sum(result[side]):.3f} ms per flow: authorize {authorize:.3f}, token {token:.3f}, "
              f"userinfo {userinfo:.3f}")
    print(f"floor / project: {sum(result['floor']) / sum(result['project']):.2f}x")
    print(f"project, by part (ms per flow, each exclusive of the others; counted pass {result['counted_total']:.3f}):")
    for label, ms in result["parts"].items():
        print(f"  {ms:6.3f}  {label}")


if __name__ == "__main__":
    main()
