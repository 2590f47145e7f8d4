"""The worker console in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright):
log in, ask as a worker, see a cited answer whose citation expands to the article text."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from assistant.answering.pipeline import AnswerService
from assistant.api.app import create_app
from assistant.api.security import hash_key
from tests.servers import serve

pytestmark = pytest.mark.integration
KEY = "gw_console_e2e_key"
CHROMIUM = os.environ.get("GRIDWORKER_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
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


def test_login_ask_and_read_the_cited_article(browser, answers: AnswerService, kb_settings) -> None:  # type: ignore[no-untyped-def]
    settings = kb_settings.model_copy(deep=True)
    settings.api.key_hashes = [hash_key(KEY)]
    with serve(create_app(settings, service=answers)) as url:
        page = browser.new_page()
        page.goto(f"{url}/console")
        page.fill("#key", "gw_wrong_key")
        page.click("#login-btn")
        page.wait_for_selector("#login-error:has-text('密钥')")
        page.fill("#key", KEY)
        page.click("#login-btn")
        page.wait_for_selector("#app:not(.hidden)")
        page.wait_for_function("document.querySelectorAll('#category option').length > 40")

        page.fill("#question", "低保怎么申请")
        page.select_option("#persona", "worker")
        page.click("#ask-btn")
        page.wait_for_selector("details.citation")
        answer = page.inner_text("#answer")
        assert "【依据】" in answer and "最低生活保障" in answer
        assert "extractive" in page.inner_text("#badges")
        first = page.locator("details.citation").first
        first.locator("summary").click()
        assert len(first.locator("pre").inner_text()) > 20  # the full article text
        assert "低保怎么申请" in page.inner_text("#recent")

        page.select_option("#persona", "resident")
        page.click("#new-conv")
        page.click("#ask-btn")
        page.wait_for_selector("details.citation")
        page.wait_for_function("!document.querySelector('#answer').innerText.startsWith('【依据】')")
        assert "下一步" in page.inner_text("#answer")
        page.close()
