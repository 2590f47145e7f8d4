"""The worker console's question view in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright):
log in, ask, read the answer as sections in Chinese, open a cited article from its chip (title, level, date; no
path), copy the answer, give feedback and find it in the review list, reload and carry on the same conversation."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.conftest import KEY, log_in, open_console

pytestmark = pytest.mark.integration
PATHLIKE = re.compile(r"\.md\b|/")


def test_ask_read_copy_feedback_and_resume(browser, console_url: str, shoot) -> None:  # type: ignore[no-untyped-def]
    page = open_console(browser, console_url)
    page.fill("#key", "gw_wrong_key")
    page.click("#login-btn")
    page.wait_for_selector("#login-error:has-text('密钥')")
    log_in(page)
    page.wait_for_selector("#category option:nth-child(49)", state="attached")  # all 48 categories (the CSP forbids
    # eval, so waits are selectors, not wait_for_function)

    page.fill("#question", "低保怎么申请")
    page.select_option("#persona", "worker")
    page.click("#ask-btn")
    card = page.locator("article.turn").last
    card.locator(".chip").first.wait_for()

    # Chinese labels, the answer as sections under headings
    badges = card.locator(".badges").inner_text()
    assert "模式：条文摘录" in badges and "身份：网格员" in badges
    assert "extractive" not in page.inner_text("body") and "worker" not in page.inner_text("body")
    headings = card.locator(".sec-title").all_inner_texts()
    assert "依据" in headings, headings
    assert not re.search(r"^\s*【", card.locator(".answer").inner_text(), flags=re.M)  # no raw 【】 heading lines
    assert "最低生活保障" in card.locator(".answer").inner_text()

    # a law's chip opens the article with its document's title, level and effective date, never a path
    chip = card.locator(".chip", has_text="条例").first
    label = chip.inner_text()
    chip.click()
    dialog = page.locator("#article-dialog")
    dialog.wait_for(state="visible")
    meta = page.inner_text("#dlg-meta")
    assert re.search(r"效力层级：(行政法规|地方性法规（重庆）)", meta)
    assert re.search(r"施行日期：\d{4}-\d{2}-\d{2}", meta)
    assert page.inner_text("#dlg-title") in label and len(page.inner_text("#dlg-text")) > 20
    assert not PATHLIKE.search(dialog.inner_text()), dialog.inner_text()
    shoot(page, "console-article-1280.png")
    page.click("#dlg-close")
    dialog.wait_for(state="hidden")

    # copy: read the clipboard back
    card.locator("button.copy").click()
    card.locator(".status:has-text('已复制')").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    first = re.sub(r"^【[^】]+】", "", copied.split("\n")[0]).strip()
    assert first and first in card.locator(".answer").inner_text()
    assert "【依据】" in copied and "引用：" in copied and label in copied

    # feedback, then the review list
    card.locator("button.vote[data-verdict='not_useful']").click()
    card.locator(".fb-note").fill("缺少办理时限")
    card.locator(".fb-send").click()
    card.locator(".status:has-text('已提交反馈')").wait_for()
    shoot(page, "console-1280.png")

    # reload: the conversation is still there, and a follow-up continues it
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("article.turn")
    assert page.locator("article.turn").count() == 1 and page.inner_text("article.turn .q") == "低保怎么申请"
    assert page.locator("article.turn .sec-title").count() >= 1
    page.fill("#question", "那要带什么材料")
    page.click("#ask-btn")
    page.locator("article.turn").nth(1).wait_for()
    page.wait_for_selector("#conversations li.current:has-text('2 问')")
    conv = page.evaluate("localStorage.getItem('gw_conv')")
    kept = httpx.get(f"{console_url}/v1/conversations/{conv}", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert [t["question"] for t in kept["turns"]] == ["低保怎么申请", "那要带什么材料"]
    assert "低保" in kept["turns"][1]["condensed"]  # the follow-up was read in the conversation's context

    page.click(".tab[data-view='review']")
    row = page.locator(".review-row", has_text="缺少办理时限")
    row.wait_for()
    assert "低保怎么申请" in row.inner_text() and row.locator(".verdict").inner_text() == "没用"
    shoot(page, "review-1280.png")

    # 390 px: one column, nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.click(".tab[data-view='ask']")
    page.locator("article.turn").first.scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "console-390.png")

    # a new conversation as a resident: the resident's answer has its next steps
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("#new-conv")
    page.select_option("#persona", "resident")
    page.fill("#question", "低保怎么申请")
    page.click("#ask-btn")
    page.wait_for_selector("article.turn .badges:has-text('身份：居民')")
    assert "下一步" in page.locator("article.turn").last.inner_text()
    page.context.close()
