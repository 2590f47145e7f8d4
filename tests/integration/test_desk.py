"""The front desk on its own: neutral messages from any channel, routed to the welcome, the menus, the report flow
and the answer service; the rate limit per channel and resident; the fixed texts from prompts/messages.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.answering.pipeline import AnswerService
from assistant.channels.wechat.store import SQLiteStore
from assistant.desk.front import FrontDesk, conversation_id
from assistant.desk.message import Message, Place
from assistant.desk.reports import ReportDesk
from assistant.dispatch.store import DispatchStore
from assistant.domain import UserRef
from assistant.prompts import default
from assistant.ratelimit import RateLimiter

pytestmark = pytest.mark.integration


@pytest.fixture
def desk(answers: AnswerService, tmp_path: Path) -> FrontDesk:
    reports = ReportDesk(SQLiteStore(tmp_path / "s.sqlite3"), DispatchStore(f"sqlite:///{tmp_path}/d.sqlite3"))
    return FrontDesk(answers, reports, limiters={"webhook": RateLimiter(1, 2)})


def test_events_and_kinds_get_their_fixed_texts(desk: FrontDesk) -> None:
    say, who = default().say, UserRef("wechat", "o-kinds")
    assert desk.respond(Message(who, "event", event="subscribe")) == say("desk.welcome")
    assert desk.respond(Message(who, "event", event="CLICK", key="PROGRESS")) == say("desk.menu_progress")
    assert desk.respond(Message(who, "event", event="unsubscribe")) is None
    assert desk.respond(Message(who, "voice", "")) == say("desk.voice_unclear")
    assert desk.respond(Message(who, "link", title="社区通知")) == say("desk.link", title="社区通知")
    assert desk.respond(Message(who, "other")) == say("desk.unsupported")
    long = "路" * (desk.answers.settings.max_question_chars + 1)
    assert desk.respond(Message(who, "text", long)) == say("desk.too_long", limit=len(long) - 1)


def test_a_report_from_any_channel_and_its_own_rate_limit(desk: FrontDesk) -> None:
    hotline = UserRef("webhook", "caller-1")
    assert "位置" in (desk.respond(Message(hotline, "text", "我要反映 路灯坏了")) or "")
    summary = desk.respond(Message(hotline, "location", place=Place(29.5, 106.5, "幸福小区南门"))) or ""
    assert "请确认" in summary and "幸福小区南门" in summary
    assert desk.respond(Message(hotline, "text", "确认")) == default().say("desk.too_fast")  # a burst of 2
    assert desk.reports is not None and desk.reports.load(hotline).state == "confirming"  # nothing lost
    wechat = UserRef("wechat", "caller-1")  # the same id on another channel: another resident, no limiter here
    assert desk.reports.load(wechat).state == "idle"
    assert conversation_id(wechat) == "wx:caller-1" and conversation_id(hotline) == "webhook:caller-1"
