"""Browser tests: the real demo in a subprocess, driven in Debian's headless Chromium by Playwright.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (the ``chromium`` Debian
package, installed by ``scripts/test.sh``). axe-core comes from the npm registry through
``npm ci --prefix tests/browser``. A failing test leaves a screenshot of every page it opened
in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import free_port, wait_for_port

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is in the dev extra")

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("WAITINGROOM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
AXE_JS = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
ADMIN_KEY = "browser-test-admin-key"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a browser test, and they share one worker (one Chromium at a time)."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" or (report.when == "setup" and report.failed):
        item.stash[FAILED] = report.failed


FAILED = pytest.StashKey[bool]()


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
    return [sys.executable, "-m", "oidc_adaptor.demo"]


def _cli_has_demo() -> bool:
    try:
        from oidc_adaptor import cli  # noqa: F401
    except ImportError:
        return False
    return True


def start_demo(tmp_path: Path, *, admit: int = 1, every: float = 2.0, extra: tuple[str, ...] = ()) -> Demo:
    port, site_port, api_port = free_port(), free_port(), free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / "demo.log"
    log = log_path.open("w")
    command = [
        *demo_command(),
        "--port", str(port), "--site-port", str(site_port), "--api-port", str(api_port),
        "--admin-key", ADMIN_KEY, "--admit", str(admit), "--every", str(every),
        "--state-dir", str(tmp_path / "state"), *extra,
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


@pytest.fixture
def demo_factory(tmp_path: Path) -> Iterator[Callable[..., Demo]]:
    started: list[Demo] = []

    def make(**options: Any) -> Demo:
        demo = start_demo(tmp_path / f"demo{len(started)}", **options)
        started.append(demo)
        return demo

    yield make
    for demo in started:
        demo.stop()


@pytest.fixture
def demo(demo_factory: Callable[..., Demo]) -> Demo:
    """A demo letting one visitor in every two seconds."""
    return demo_factory()


# -- the browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test.sh does)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Open pages, each in its own browser context (own cookies and storage: another visitor).

    On failure every page still open is saved as a screenshot under test-artifacts/screenshots.
    """
    contexts: list[Any] = []
    pages: list[Any] = []

    def make(java_script: bool = True, **options: Any) -> Any:
        context = browser.new_context(java_script_enabled=java_script, **options)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []  # uncaught script errors, asserted on by tests
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        pages.append(page)
        return page

    yield make
    if request.node.stash.get(FAILED, False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        for index, page in enumerate(pages):
            try:
                page.screenshot(path=str(SCREENSHOTS / f"{name}-{index}.png"), full_page=True)
            except Exception as exc:  # a closed page must not hide the real failure
                print(f"no screenshot of page {index}: {exc}")
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.is_file():
        pytest.fail("axe-core is missing: run `npm ci --prefix tests/browser` (scripts/test.sh does)")
    return AXE_JS.read_text(encoding="utf-8")


def serious_violations(page: Any, axe_source: str) -> list[dict[str, Any]]:
    """Run axe-core in ``page`` and return the serious and critical violations.

    The script is evaluated through the DevTools protocol, which the pages' CSP (no inline
    scripts) does not block, so the pages are checked exactly as served.
    """
    page.evaluate(axe_source)
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, { resultTypes: ["violations"] });
            return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.map(n => n.target.join(" ")) }));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]
