"""Servers the benchmarks start and stop by themselves: redis-server, gunicorn and the nginx front
(``deploy/nginx/waitingroom.conf``), on free loopback ports.

Every process is started with a bounded start-up wait and stopped (terminate, then kill) when its
context exits, whatever happened inside. The reference apps and the project run under the same
:class:`ServerConfig`, so their numbers compare.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:  # servers run in their own session: take down the master's workers with it
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        proc.wait(timeout=5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (gunicorn workers), from /proc.

    0.0 where /proc is not available: the CPU columns are then left out of the results.
    """
    total = 0.0
    try:
        tick = os.sysconf("SC_CLK_TCK")
        pids = [pid]
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        for one in pids:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    except (OSError, ValueError):
        return 0.0
    return total


@dataclass
class RedisServer:
    url: str
    port: int
    client: redis.Redis
    pid: int = 0

    def version(self) -> str:
        return str(self.client.info("server")["redis_version"])


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """A throw-away ``redis-server`` (no persistence) on a free loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--maxclients", "10000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = None
    try:
        wait_for_port(port, proc)
        client = redis.Redis(port=port, decode_responses=True)
        yield RedisServer(url=f"redis://127.0.0.1:{port}/0", port=port, client=client, pid=proc.pid)
    finally:
        if client is not None:
            client.close()
        _stop(proc)


@dataclass(frozen=True)
class ServerConfig:
    """How gunicorn serves an app; the same for a reference and for the project.

    The project runs under ``waitingroom serve`` (gthread workers, keep-alive 5 s, 30 s worker
    timeout); the references run under plain gunicorn with exactly those options.
    """

    workers: int = 1
    threads: int = 4

    def gunicorn_args(self) -> list[str]:
        return ["--workers", str(self.workers), "--worker-class", "gthread", "--threads", str(self.threads),
                "--keep-alive", "5", "--timeout", "30", "--graceful-timeout", "10", "--log-level", "warning"]

    def describe(self) -> str:
        return f"{self.workers} gunicorn worker(s) x {self.threads} threads (gthread)"


@dataclass
class HttpServer:
    base_url: str
    port: int
    pid: int
    log_path: Path


@contextmanager
def _serve(cmd: list[str], port: int, log_path: Path, env: Mapping[str, str] | None,
           ready_path: str) -> Iterator[HttpServer]:
    root = Path(__file__).resolve().parent.parent
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), full_env.get("PYTHONPATH", "")) if p)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=str(root),
                                start_new_session=True)
    try:
        wait_for_port(port, proc)
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + ready_path, proc)
        yield HttpServer(base_url=base, port=port, pid=proc.pid, log_path=log_path)
    except BaseException:
        _stop(proc)
        sys.stderr.write(log_path.read_text(errors="replace")[-3000:])
        raise
    else:
        _stop(proc)


@contextmanager
def gunicorn(app: str, config: ServerConfig, workdir: Path, env: Mapping[str, str] | None = None,
             name: str = "app", ready_path: str = "/") -> Iterator[HttpServer]:
    """``gunicorn APP`` (a ``module:callable`` WSGI target) on a free loopback port, with ``config``."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *config.gunicorn_args(), app]
    with _serve(cmd, port, workdir / f"{name}-{port}.log", env, ready_path) as server:
        yield server


@contextmanager
def waitingroom_serve(config_file: Path, config: ServerConfig, workdir: Path, env: Mapping[str, str] | None = None,
                      name: str = "project") -> Iterator[HttpServer]:
    """The project as users run it: ``waitingroom serve --config FILE`` on a free loopback port."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-c", "import sys; from oidc_adaptor.cli import main; sys.exit(main())",
           "serve", "--config", str(config_file), "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(config.workers), "--threads", str(config.threads)]
    with _serve(cmd, port, workdir / f"{name}-{port}.log", env, "/healthz") as server:
        yield server


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Wait until the app answers at all (any HTTP status): workers import lazily."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


NGINX_CONF = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "waitingroom.conf"
"""The reference front users copy; :func:`nginx_front` runs this very file."""

STATIC_DIR = Path(__file__).resolve().parent.parent / "oidc_adaptor" / "static"

_MAIN_CONF = """\
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/waitingroom.conf;
}}
"""
"""The parts of Debian's /etc/nginx/nginx.conf the front needs, with every path in one folder."""


def front_config(upstream_port: int, listen_port: int, cache_dir: Path, static_dir: Path = STATIC_DIR,
                 source: Path = NGINX_CONF) -> str:
    """The shipped front configuration with the lines its comments mark CHANGE filled in.

    Raises ValueError if one of those lines is not found exactly once: the file changed, and
    what runs here would no longer be what users copy.
    """
    text = source.read_text(encoding="utf-8")
    changes = {
        "proxy_cache_path /var/cache/nginx/waitingroom ": f"proxy_cache_path {cache_dir} ",
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream_port};",
        "listen 80;": f"listen 127.0.0.1:{listen_port};",
        "alias /opt/waitingroom/static/;": f"alias {static_dir}/;",
    }
    for old, new in changes.items():
        if text.count(old) != 1:
            raise ValueError(f"{source} should contain {old!r} exactly once")
        text = text.replace(old, new)
    return text


@contextmanager
def nginx_front(upstream_port: int, workdir: Path, name: str = "nginx",
                port: int | None = None) -> Iterator[HttpServer]:
    """Debian's nginx in the foreground, with ``deploy/nginx/waitingroom.conf`` in front of the
    server on ``upstream_port``, listening on ``port`` (default: a free one); its pid file, logs,
    temporary files and cache live in ``workdir``."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is not installed: apt-get install nginx (scripts/test.sh does)")
    prefix = workdir / name
    prefix.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    (prefix / "waitingroom.conf").write_text(front_config(upstream_port, port, prefix / "cache"), encoding="utf-8")
    # As root, nginx would run its workers as "nobody", who cannot enter a private temporary folder.
    user = "user root;" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(_MAIN_CONF.format(user=user, prefix=prefix), encoding="utf-8")
    cmd = [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log"),
           "-g", "daemon off;"]
    with _serve(cmd, port, prefix / "stdout.log", None, "/static/waiting.js") as server:
        yield server


_REQUESTS_SAMPLE = re.compile(r'^waitingroom_http_requests_total\{([^}]*)\} ([0-9.e+]+)$', re.M)


def origin_requests(base_url: str, route: str | None = None) -> int:
    """Requests the server at ``base_url`` counted in its own metrics: those of ``route`` (a Flask
    route template such as ``/events/<event_id>/status``), or of every route but ``/metrics``.

    A worker applies its counts once a second (the one answering applies its own at once), so
    read this a second or two after the load stops when the server runs several workers.
    """
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    wanted = f'route="{route}"' if route else None
    return sum(int(float(value)) for labels, value in _REQUESTS_SAMPLE.findall(text)
               if (wanted in labels if wanted else 'route="/metrics"' not in labels))
