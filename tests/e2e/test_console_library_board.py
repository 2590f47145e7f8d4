"""The console's other views in headless Chromium: browsing the library (category → document → articles), the
reports board over the dispatch API (filter, open, a refused and an allowed status change), and /docs rendering
with every other origin blocked."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import KEY, log_in, open_console

pytestmark = pytest.mark.integration


def test_browse_a_category_a_document_and_its_articles(browser, console_url: str, shoot) -> None:  # type: ignore[no-untyped-def]
    page = open_console(browser, console_url)
    log_in(page)
    page.click(".tab[data-view='browse']")
    page.locator(".cat").nth(47).wait_for()
    assert page.locator(".cat").count() == 48
    shoot(page, "browse-1280.png")
    page.click(".cat[data-id='c01-social-assistance']")
    doc = page.locator(".doc", has_text="重庆市城乡居民最低生活保障条例")
    doc.wait_for()
    assert re.search(r"地方性法规（重庆）\s*施行日期：20\d\d-\d\d-\d\d", doc.inner_text())
    assert "社会救助与最低生活保障" in page.inner_text("#crumbs")
    guide = page.locator(".doc", has_text="低保申请流程")
    assert "工作指引" in guide.inner_text() and "更新日期：" in guide.inner_text()
    doc.click()
    page.locator(".article .art-no", has_text="第一条").wait_for()
    headings = page.locator(".article .art-no").all_inner_texts()
    assert headings.index("第一条") < headings.index("第十条") < headings.index("第二十条")
    body = page.inner_text("#view-browse")
    assert ".md" not in body and "/" not in body.replace("›", "") and "最低生活保障" in body
    assert "地方性法规（重庆）" in page.inner_text(".doc-head")
    shoot(page, "document-1280.png")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "document-390.png")
    page.click("#crumbs button:has-text('社会救助与最低生活保障')")
    page.locator(".doc").first.wait_for()
    page.context.close()


def test_reports_board_filter_open_and_move(browser, console_url: str, shoot) -> None:  # type: ignore[no-untyped-def]
    auth = {"Authorization": f"Bearer {KEY}"}
    made = []
    for i, (category, grid) in enumerate([("dogs", "G-E2E-07"), ("noise", "G-E2E-07"), ("dogs", "G-E2E-08")]):
        r = httpx.post(f"{console_url}/v1/reports", headers=auth | {"Idempotency-Key": f"e2e-board-{i}"}, json={
            "category": category, "location": {"text": f"幸福小区{i + 1}栋", "grid": grid},
            "description": "小区里有狗没拴绳，吓到小孩" if category == "dogs" else "夜里装修噪声",
            "contact": "13812345678"})
        assert r.status_code in (200, 201), r.text
        made.append(r.json()["ticket"])
    page = open_console(browser, console_url)
    log_in(page)
    page.click(".tab[data-view='board']")
    page.select_option("#f-status", "submitted")
    page.fill("#f-grid", "G-E2E-07")
    page.select_option("#f-category", "dogs")
    page.click("#f-go")
    page.wait_for_selector("#board-list[data-query='status=submitted&grid=G-E2E-07&category=dogs']")
    row = page.locator(f"tr.ticket-row[data-ticket='{made[0]}']")
    row.wait_for()
    assert page.locator("tr.ticket-row").count() == 1  # the noise report and the other grid are filtered out
    assert "养犬管理" in row.inner_text() and "已受理" in row.inner_text() and "dogs" not in row.inner_text()
    row.click()
    page.wait_for_selector("#ticket-status:has-text('已受理')")
    ticket = page.inner_text("#ticket")
    assert "小区里有狗没拴绳" in ticket and "138****5678" in ticket and "13812345678" not in ticket
    assert "创建" in page.inner_text("#ticket-events")

    page.select_option("#ticket-to", "in_progress")  # not allowed from 已受理: the API's Chinese error
    page.click("#ticket-go")
    page.wait_for_selector("#ticket-msg.error")
    assert "不能改为「处理中」" in page.inner_text("#ticket-msg")
    page.select_option("#ticket-to", "assigned")
    page.fill("#ticket-note", "已派给第七网格")
    page.click("#ticket-go")
    page.wait_for_selector("#ticket-status:has-text('已派单')")
    events = page.inner_text("#ticket-events")
    assert "已受理 → 已派单" in events and "已派给第七网格" in events
    page.locator("#board-list:has-text('没有符合条件的工单')").wait_for()  # it left the 已受理 list
    page.select_option("#f-status", "assigned")
    page.click("#f-go")
    page.locator(f"tr.ticket-row[data-ticket='{made[0]}']:has-text('已派单')").wait_for()
    shoot(page, "board-1280.png")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "board-390.png")
    page.context.close()


def _offline(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A page whose requests to any other origin are refused (and recorded)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(url):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return context.new_page(), blocked


def test_api_docs_render_with_other_origins_blocked(browser, console_url: str, shoot) -> None:  # type: ignore[no-untyped-def]
    page, blocked = _offline(browser, console_url)
    page.goto(f"{console_url}/docs")
    page.locator(".opblock-summary-path", has_text="/v1/ask").first.wait_for()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/v1/ask", "/v1/documents/{doc_id}", "/v1/feedback"} <= set(paths)
    shoot(page, "api-docs-1280.png")
    page.goto(f"{console_url}/redoc")
    page.get_by_text("/v1/documents/{doc_id}").first.wait_for(state="attached")
    assert blocked == [], blocked
    page.context.close()
