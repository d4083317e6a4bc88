"""A real ``waitingroom demo`` in a subprocess, on free loopback ports, for tests."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support import free_port, wait_for_port

ADMIN_KEY = "browser-test-admin-key"


# -- the demo under test ---------------------------------------------------------------------------


@dataclass
class Demo:
    """One running ``waitingroom demo`` process and where its parts listen."""

    process: subprocess.Popen[str]
    port: int
    site_port: int
    api_port: int
    admin_key: str
    log_path: Path
    output: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def site(self) -> str:
        return f"http://127.0.0.1:{self.site_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def panel(self) -> str:
        return f"{self.issuer}/admin/panel"

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method, self.issuer + "/admin" + path, headers={"Authorization": f"Bearer {self.admin_key}"},
            timeout=5, **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def counts(self, event_id: str = "demo-sale") -> dict[str, Any]:
        return dict(self.admin("GET", f"/events/{event_id}/counts"))

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return int(self.process.returncode)


def demo_command() -> list[str]:
    """``waitingroom demo`` when the console script is installed, else the same module by path."""
    script = shutil.which("waitingroom", path=str(Path(sys.executable).parent)) or shutil.which("waitingroom")
    if script and _cli_has_demo():
        return [script, "demo"]
    return [sys.executable, "-m", "oidc_adaptor.entrypoints.demo"]


def _cli_has_demo() -> bool:
    try:
        from oidc_adaptor import cli  # noqa: F401
    except ImportError:
        return False
    return True


def start_demo(
    tmp_path: Path, *, admit: int = 1, every: float = 2.0, keep_state: bool = True, extra: tuple[str, ...] = ()
) -> Demo:
    """Start the demo and return once all three servers listen and the banner is printed."""
    port, site_port, api_port = free_port(), free_port(), free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / "demo.log"
    log = log_path.open("w")
    command = [
        *demo_command(),
        "--port", str(port), "--site-port", str(site_port), "--api-port", str(api_port),
        "--admin-key", ADMIN_KEY, "--admit", str(admit), "--every", str(every),
        *(["--state-dir", str(tmp_path / "state")] if keep_state else []), *extra,
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    demo = Demo(process, port, site_port, api_port, ADMIN_KEY, log_path)
    try:
        for p in (port, site_port, api_port):
            wait_for_port(p, timeout=30)
        deadline = time.monotonic() + 30
        while "Ctrl-C" not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the demo did not start:\n" + log_path.read_text())
            time.sleep(0.05)
    except BaseException:
        demo.stop(signal.SIGKILL)
        raise
    return demo


