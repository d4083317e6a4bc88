"""Browser tests: the real demo in a subprocess, driven in Debian's headless Chromium by Playwright.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (the ``chromium`` Debian
package, installed by ``scripts/test.sh``). axe-core comes from the npm registry through
``npm ci --prefix tests/browser``. A failing test leaves a screenshot of every page it opened
in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .demo_process import ADMIN_KEY, Demo, start_demo

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


__all__ = ["ADMIN_KEY", "Demo", "serious_violations"]


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Not per session: other suites run their own Playwright in
    the same worker, and two sync Playwright instances cannot be alive at once."""
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
