"""The reporting conversation on its own: ask what is missing, 修改 and 取消, repeated 确认, progress, rating."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.channels.wechat.store import SQLiteStore
from assistant.dispatch.store import DispatchStore
from assistant.reports.flow import ReportDesk

pytestmark = pytest.mark.integration


@pytest.fixture
def desk(tmp_path: Path) -> ReportDesk:
    return ReportDesk(SQLiteStore(tmp_path / "wx.sqlite3"), DispatchStore(f"sqlite:///{tmp_path}/d.sqlite3"))


def test_modify_then_confirm(desk: ReportDesk) -> None:
    assert "位置" in desk.start("o1", "我要反映 路灯坏了")
    assert "请确认" in desk.handle_text("o1", "幸福小区3栋门口")
    assert "修改" in desk.handle_text("o1", "修改")
    summary = desk.handle_text("o1", "不对 是在和平小区5栋门口")
    assert "和平小区5栋" in summary and "幸福小区" not in summary
    done = desk.handle_text("o1", "确认")
    ticket = done.split("工单号 ")[1].split("。")[0]
    assert desk.takes("o1", "确认") and ticket in desk.handle_text("o1", "确认")  # a second 确认: same ticket
    assert ticket in desk.progress("o1", "我的上报") and "已受理" in desk.progress("o1", f"查询进度 {ticket}")
    assert "没有找到" in desk.progress("someone-else", f"查询进度 {ticket}")  # only one's own tickets
    report = desk.dispatch.get(ticket)
    assert report is not None and report["location"]["text"].startswith("和平小区5栋")
    for status in ("assigned", "resolved"):
        desk.dispatch.update(report["id"], "center", status=status)
    assert "感谢" in (desk.rate("o1", "评价 5") or "") and desk.dispatch.get(ticket)["rating"] == 5  # type: ignore[index]


def test_cancel_drops_the_draft(desk: ReportDesk) -> None:
    desk.start("o2", "我要上报")
    assert "已取消" in desk.handle_text("o2", "取消")
    assert not desk.takes("o2", "路灯坏了") and desk.dispatch.listing(openid="o2") == []


def test_emergency_report_puts_the_numbers_first(desk: ReportDesk) -> None:
    reply = desk.start("o3", "我要反映 楼道里好大一股煤气味")
    assert reply.startswith("【紧急】") and "96777" in reply.splitlines()[0]
