"""The reporting conversation on its own: ask what is missing, 修改 and 取消, repeated 确认, progress, rating."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.channels.wechat.store import SQLiteStore
from assistant.desk.reports import ReportDesk
from assistant.dispatch.store import DispatchStore
from assistant.domain import Location, UserRef
from assistant.reports.intent import Reading

pytestmark = pytest.mark.integration


def u(ref: str) -> UserRef:
    """A WeChat resident."""
    return UserRef("wechat", ref)


@pytest.fixture
def desk(tmp_path: Path) -> ReportDesk:
    return ReportDesk(SQLiteStore(tmp_path / "wx.sqlite3"), DispatchStore(f"sqlite:///{tmp_path}/d.sqlite3"))


def test_modify_then_confirm(desk: ReportDesk) -> None:
    assert "位置" in desk.start(u("o1"), "我要反映 路灯坏了")
    assert "请确认" in desk.handle_text(u("o1"), "幸福小区3栋门口")
    assert "修改" in desk.handle_text(u("o1"), "修改")
    summary = desk.handle_text(u("o1"), "不对 是在和平小区5栋门口")
    assert "和平小区5栋" in summary and "幸福小区" not in summary
    done = desk.handle_text(u("o1"), "确认")
    ticket = done.split("工单号 ")[1].split("。")[0]
    assert desk.takes(u("o1"), "确认") and ticket in desk.handle_text(u("o1"), "确认")  # a second 确认: same ticket
    assert ticket in desk.progress(u("o1"), "我的上报") and "已受理" in desk.progress(u("o1"), f"查询进度 {ticket}")
    assert "没有找到" in desk.progress(u("someone-else"), f"查询进度 {ticket}")  # only one's own tickets
    report = desk.dispatch.get(ticket)
    assert report is not None and report["location"]["text"].startswith("和平小区5栋")
    for status in ("assigned", "resolved"):
        desk.dispatch.update(report["id"], "center", status=status)
    assert "感谢" in (desk.rate(u("o1"), "评价 5") or "") and desk.dispatch.get(ticket)["rating"] == 5  # type: ignore[index]


def test_cancel_drops_the_draft(desk: ReportDesk) -> None:
    desk.start(u("o2"), "我要上报")
    assert "已取消" in desk.handle_text(u("o2"), "取消")
    assert not desk.takes(u("o2"), "路灯坏了") and desk.dispatch.listing(user=UserRef("wechat", "o2")) == []


def test_emergency_report_puts_the_numbers_first(desk: ReportDesk) -> None:
    reply = desk.start(u("o3"), "我要反映 楼道里好大一股煤气味")
    assert reply.startswith("【紧急】") and "96777" in reply.splitlines()[0]


def _reading(intent: str) -> Reading:
    return Reading(intent, {intent: 1.0}, "other", 0.0, "routine")


def test_a_photo_then_the_problem_then_the_place_is_asked_for_nothing_twice(desk: ReportDesk) -> None:
    assert "发生了什么" in desk.handle_image(u("o4"), "m-1")  # a photo alone starts a draft
    assert "在哪里" in desk.handle_text(u("o4"), "楼下垃圾堆起好几天了没人收，臭得很")
    summary = desk.handle_location(u("o4"), 29.55, 106.5, "重庆市渝中区鹅岭正街12号")
    assert "请确认" in summary and "鹅岭正街12号" in summary and "照片：1 张" in summary
    done = desk.handle_text(u("o4"), "确认")
    report = desk.dispatch.get(done.split("工单号 ")[1].split("。")[0])
    assert report is not None and report["photos"] == ["m-1"] and "垃圾堆起好几天了" in report["description"]


def test_what_was_said_before_the_location_fills_the_draft(desk: ReportDesk) -> None:
    said = "你好师傅，我们楼底下那个井盖没得了，晚上黑黢黢的怕娃儿踩进去"
    desk.observe(u("o5"), said, _reading("question"))  # read as a question: still what the place is about
    summary = desk.handle_location(u("o5"), 29.55, 106.5, "桂花园小区7栋")
    assert "请确认" in summary and "井盖没得了" in summary and "你好" not in summary.split("情况：")[1]


def test_the_assistant_starts_a_report_from_what_it_was_told(desk: ReportDesk) -> None:
    said = "桂花园小区7栋门口的路灯黑了一个多星期了"
    desk.observe(u("o6"), said, _reading("report"))
    reply = desk.start(u("o6"), said, by_assistant=True)
    assert reply.startswith("收到") and "请确认" in reply and "桂花园小区7栋" in reply


def test_an_offer_is_taken_by_a_1_and_lapses_when_the_resident_moves_on(desk: ReportDesk) -> None:
    said = "楼下烧烤摊天天油烟熏得窗子都不敢开，这种归哪个部门管哦"
    desk.observe(u("o7"), said, _reading("both"))
    desk.offer(u("o7"))
    assert desk.takes(u("o7"), "1")
    reply = desk.handle_text(u("o7"), "1")
    assert "油烟" in desk.load(u("o7")).draft["description"] and "在哪里" in reply  # type: ignore[index]
    desk.observe(u("o8"), said, _reading("both"))
    desk.offer(u("o8"))
    desk.observe(u("o8"), "低保咋个申请", _reading("question"))
    assert not desk.takes(u("o8"), "1") and desk.load(u("o8")).state == "idle"


def test_the_chat_is_remembered_only_for_the_memory_window(tmp_path: Path) -> None:
    desk = ReportDesk(SQLiteStore(tmp_path / "wx.sqlite3"), DispatchStore(f"sqlite:///{tmp_path}/d.sqlite3"),
                      memory_s=0.0)
    desk.observe(u("o9"), "楼底下井盖没得了好危险", _reading("report"))
    assert "发生了什么" in desk.handle_location(u("o9"), 29.5, 106.5, "桂花园小区7栋")


def test_a_long_message_cannot_lock_a_resident_out(desk: ReportDesk) -> None:
    """Issue 26 #2: a draft grown past the description limit used to fail every later message of the chat."""
    desk.start(u("o10"), "我要反映")
    long = "楼下垃圾堆起好几天了没人收臭得很" * 70  # ~1,100 characters
    desk.handle_text(u("o10"), long)
    desk.handle_text(u("o10"), long)
    assert len(desk.load(u("o10")).draft["description"]) <= 1000  # type: ignore[index]
    assert "已取消" in desk.handle_text(u("o10"), "取消")
    broken = desk.load(u("o11"))
    broken.state, broken.draft = "drafting", {"description": "x" * 1200}  # a draft saved by an older version
    desk.save(u("o11"), broken)
    assert "发生了什么" in desk.handle_text(u("o11"), "这里") or "在哪里" in desk.handle_text(u("o11"), "路灯坏了")


def test_what_was_said_is_kept_only_for_the_memory_window(desk: ReportDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    kept: list[float | None] = []
    put = desk.store.put
    monkeypatch.setattr(desk.store, "put",
                        lambda name, value, ttl_s=None: (kept.append(ttl_s), put(name, value, ttl_s)))
    desk.observe(u("o12"), "我的电话13812345678 楼下井盖没得了", _reading("report"))
    assert kept[-1] is not None and kept[-1] <= desk.memory_s + 60  # personal words do not stay a week
    desk.start(u("o12"), by_assistant=True)
    assert kept[-1] == 7 * 86400  # a draft does


def test_a_report_closed_without_being_resolved_is_not_rated(desk: ReportDesk) -> None:
    """Issue 26 #12: a rating was accepted on a report closed straight from submitted."""
    from assistant.dispatch.store import DispatchError
    from assistant.domain import ReportDraft

    draft = ReportDraft(category="noise", location=Location(text="解放路12号"), description="半夜施工")
    closed = desk.dispatch.submit(draft, "k-closed", u("o13"), "center").report
    desk.dispatch.update(closed["id"], "center", status="closed")
    with pytest.raises(DispatchError):
        desk.dispatch.update(closed["id"], "resident", rating=5)
    other = draft.model_copy(update={"description": "路灯坏了"})
    done = desk.dispatch.submit(other, "k-done", u("o13"), "center").report
    for status in ("assigned", "resolved", "closed"):
        desk.dispatch.update(done["id"], "center", status=status)
    assert desk.dispatch.update(done["id"], "resident", rating=4)["rating"] == 4  # resolved, then closed: rated
