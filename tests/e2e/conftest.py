"""The browser for the console's tests: Debian's /usr/bin/chromium driven by playwright (no browser download), a
served app with a worker key, and screenshots (to the test's tmp dir always; to CONSOLE_SCREENSHOTS, e.g.
docs/img, when that is set)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.api.app import create_app
from assistant.api.security import hash_key
from tests.servers import serve

KEY = "gw_console_e2e_key"
CHROMIUM = os.environ.get("GRIDWORKER_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")  # not longer: playwright's sync API keeps an event loop running in this thread
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("GRIDWORKER_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def console_url(answers, kb_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings = kb_settings.model_copy(deep=True)
    settings.api.key_hashes = [hash_key(KEY)]
    settings.api.rate_per_minute, settings.api.rate_burst = 600, 60
    with serve(create_app(settings, service=answers)) as url:
        yield url


def open_console(browser: Any, url: str, width: int = 1280, height: int = 900) -> Any:
    """A fresh browser context (clipboard allowed) on the console, not yet logged in."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = context.new_page()
    page.goto(f"{url}/console")
    return page


def log_in(page: Any, key: str = KEY) -> None:
    page.fill("#key", key)
    page.click("#login-btn")
    page.wait_for_selector("body[data-ready='1']")


@pytest.fixture
def shoot(tmp_path: Path):  # type: ignore[no-untyped-def]
    """shoot(page, "console-1280.png"): a screenshot of the viewport, kept for the docs when asked to."""
    wanted = os.environ.get("CONSOLE_SCREENSHOTS")

    def take(page: Any, name: str, top: bool = True) -> Path:
        if top:
            page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(150)  # let layout and fonts settle
        shot = tmp_path / name
        page.screenshot(path=str(shot))
        if wanted:
            target = Path(wanted) if Path(wanted).is_absolute() else ROOT / wanted
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, target / name)
        return shot

    return take
