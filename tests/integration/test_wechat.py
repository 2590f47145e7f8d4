"""The WeChat channel end to end: a fake WeChat (hashlib + cryptography) pushing to a real uvicorn server, in the
three modes, with retries; a fake WeChat API for customer-service pushes; exactly-once under retries and restarts."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request

from assistant import wiring
from assistant.answering.pipeline import AnswerService
from assistant.api.app import create_app
from assistant.channels.wechat.channel import WeChatChannel
from assistant.channels.wechat.protocol import Inbound
from assistant.channels.wechat.store import SQLiteStore
from assistant.domain import UserRef
from assistant.prompts import default
from assistant.settings import WeChatSettings
from tests.servers import serve
from tests.wechat_fake import FakeWeChat, event_xml, text_xml

pytestmark = pytest.mark.integration
TOKEN, AES = "gridworker-test-token", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
COLLECT, WELCOME = default().say("desk.collect"), default().say("desk.welcome")


class FakeApi:
    """WeChat's API on loopback: token and custom/send, with errors to inject."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.tokens = 0
        self.errors: list[int] = []
        self.app = FastAPI()

        @self.app.get("/cgi-bin/token")
        def token() -> dict[str, Any]:
            self.tokens += 1
            return {"access_token": f"token-{self.tokens}", "expires_in": 7200}

        @self.app.post("/cgi-bin/message/custom/send")
        async def send(request: Request) -> dict[str, Any]:
            if self.errors:
                code = self.errors.pop(0)
                return {"errcode": code, "errmsg": f"injected {code}"}
            self.sent.append(await request.json())
            return {"errcode": 0, "errmsg": "ok"}


def make_settings(kb_settings, tmp_path: Path, **wechat: Any):  # type: ignore[no-untyped-def]
    s = kb_settings.model_copy(deep=True)
    options = {"token": TOKEN, "aes_key": AES, "app_id": "wx_test_app", "state_db": tmp_path / "wx.sqlite3",
               "reply_budget_s": 4.0, "mode": "plain", **wechat}
    s.wechat = WeChatSettings(**options)
    return s


@pytest.fixture
def channel_factory(answers: AnswerService, kb_settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[Any] = []

    def make(responder: Callable[[WeChatChannel, Inbound], str | None] | None = None, **wechat: Any):  # type: ignore[no-untyped-def]
        settings = make_settings(kb_settings, tmp_path, **wechat)
        service = AnswerService(answers.retriever, answers.prompts, answers.settings, answers.llm_settings)
        channel = wiring.build_wechat(settings, service)
        if responder is not None:
            channel.respond = lambda inbound: responder(channel, inbound)
        made.append(channel)
        return settings, service, channel

    return make


@pytest.fixture
def fake_api() -> Iterator[tuple[FakeApi, str]]:
    api = FakeApi()
    with serve(api.app) as url:
        yield api, url + "/cgi-bin/"


def test_url_verification(channel_factory) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from tests.wechat_fake import sha1_sorted

    settings, service, channel = channel_factory()
    now = str(int(time.time()))
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        ok = httpx.get(f"{url}/wechat", params={"signature": sha1_sorted(TOKEN, now, "2"), "timestamp": now,
                                                 "nonce": "2", "echostr": "hello-echo"})
        bad = httpx.get(f"{url}/wechat", params={"signature": "0" * 40, "timestamp": now, "nonce": "2",
                                                  "echostr": "x"})
        stale = httpx.get(f"{url}/wechat", params={"signature": sha1_sorted(TOKEN, "1", "2"), "timestamp": "1",
                                                    "nonce": "2", "echostr": "x"})  # a captured URL, replayed later
    assert ok.status_code == 200 and ok.text == "hello-echo" and bad.status_code == 403 and stale.status_code == 403


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_resident_question_in_every_mode(channel_factory, mode: str) -> None:  # type: ignore[no-untyped-def]
    settings, service, channel = channel_factory(mode=mode)
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN, AES, "wx_test_app", mode)
        reply = wx.push(text_xml("o-resident-1", "低保怎么申请", 1001))
        assert reply and "最低生活保障" in reply and "《" in reply
        assert wx.push(event_xml("o-resident-1", "subscribe")) == WELCOME


def test_bad_pushes_are_400_or_403_never_500(channel_factory) -> None:  # type: ignore[no-untyped-def]
    import httpx

    settings, service, channel = channel_factory()
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN)
        for body in (b"<xml><broken>", b'<!DOCTYPE x [<!ENTITY e "x">]><xml>&e;</xml>', b"x" * 200_000):
            query, _ = wx.request(text_xml("o", "hi", 1))  # a fresh nonce each: one query carries one body
            r = httpx.post(f"{url}/wechat", params=query, content=body)
            assert r.status_code == 400
        query, _ = wx.request(text_xml("o", "hi", 1))
        query["signature"] = "0" * 40
        assert httpx.post(f"{url}/wechat", params=query, content=text_xml("o", "hi", 1).encode()).status_code == 403


def test_a_reply_lost_on_the_wire_is_given_to_the_retry(channel_factory) -> None:  # type: ignore[no-untyped-def]
    """Issue 26 #11: the answer was marked delivered when it was ready, before the reply was written; when that
    reply never reached WeChat (connection gone, process killed), the retry got `success` and the resident never
    saw it. Here WeChat gives up on the first attempt just before the answer is ready (its connection closes), and
    its retry must get the answer."""

    def slow(channel: WeChatChannel, inbound: Inbound) -> str | None:
        time.sleep(1.2)
        return channel.respond_to(inbound)

    settings, service, channel = channel_factory(slow, reply_budget_s=4.0)
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN, timeout_s=1.0)
        reply = wx.push(text_xml("o-lost", "低保怎么申请", 2101))
    assert [a.get("timeout") for a in wx.log][:1] == [True]  # the first attempt's reply was lost
    assert reply and "最低生活保障" in reply


def test_duplicate_push_one_answer(channel_factory) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def counting(channel: WeChatChannel, inbound: Inbound) -> str | None:
        calls.append(inbound.dedupe_key)
        return channel.respond_to(inbound)

    settings, service, channel = channel_factory(counting, mode="safe")
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN, AES, "wx_test_app", "safe")
        xml = text_xml("o-dup", "遛狗不拴绳怎么处罚", 2002)
        first, second = wx.push(xml), wx.push(xml)
    assert first and "犬" in first and second == first and calls == ["msg:2002"]  # WeChat resends: same reply


def test_slow_answer_under_retries_unverified(channel_factory) -> None:  # type: ignore[no-untyped-def]
    calls: list[float] = []

    def slow(channel: WeChatChannel, inbound: Inbound) -> str | None:
        calls.append(time.monotonic())
        time.sleep(1.6)
        return channel.respond_to(inbound)

    settings, service, channel = channel_factory(slow, reply_budget_s=0.5, hold_s=0.6, verified=False)
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN, timeout_s=0.8)
        reply = wx.push(text_xml("o-slow", "低保怎么申请", 3003))
    assert len(calls) == 1  # one model call for three attempts
    assert reply and "最低生活保障" in reply
    assert wx.log[0].get("timeout")  # the first attempt did run out of time: the retry path was exercised


def test_too_slow_for_every_attempt_is_collected_later(channel_factory) -> None:  # type: ignore[no-untyped-def]
    def slower(channel: WeChatChannel, inbound: Inbound) -> str | None:
        if inbound.dedupe_key == "msg:4004":
            time.sleep(2.5)
        return channel.respond_to(inbound)

    settings, service, channel = channel_factory(slower, reply_budget_s=0.4, hold_s=0.5, verified=False)
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN, timeout_s=0.7)
        assert wx.push(text_xml("o-late", "低保怎么申请", 4004)) == COLLECT
        time.sleep(2.5)
        later = wx.push(text_xml("o-late", "遛狗不拴绳怎么处罚", 4005))
    assert later and later.startswith("您之前的问题已有答复") and "最低生活保障" in later and "犬" in later


def test_verified_account_pushes_late_answers_once(channel_factory, fake_api) -> None:  # type: ignore[no-untyped-def]
    api, api_base = fake_api

    def slow(channel: WeChatChannel, inbound: Inbound) -> str | None:
        time.sleep(1.0)
        return channel.respond_to(inbound)

    settings, service, channel = channel_factory(slow, reply_budget_s=0.3, verified=True, app_secret="s3cret",
                                                 api_base=api_base, mode="compat")
    api.errors = [42001]  # the first send meets an expired token: refreshed once, sent again
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN, AES, "wx_test_app", "compat", timeout_s=2.0)
        assert wx.push(text_xml("o-verified", "低保怎么申请", 5005)) == "success"
        deadline = time.monotonic() + 10
        while not api.sent and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
    assert len(api.sent) == 1 and api.sent[0]["touser"] == "o-verified"
    assert "最低生活保障" in api.sent[0]["text"]["content"] and api.tokens == 2


def test_out_of_window_push_is_kept_to_collect(channel_factory, fake_api) -> None:  # type: ignore[no-untyped-def]
    api, api_base = fake_api

    def slow(channel: WeChatChannel, inbound: Inbound) -> str | None:
        if inbound.dedupe_key == "msg:6006":
            time.sleep(0.8)
        return channel.respond_to(inbound)

    settings, service, channel = channel_factory(slow, reply_budget_s=0.3, verified=True, app_secret="s",
                                                 api_base=api_base)
    api.errors = [45015]
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN, timeout_s=2.0)
        assert wx.push(text_xml("o-window", "低保怎么申请", 6006)) == "success"
        deadline = time.monotonic() + 15  # the late answer meets the out-of-window error, then is kept
        while api.errors and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        later = wx.push(text_xml("o-window", "你好", 6007))
    assert api.sent == [] and later and "最低生活保障" in later


def test_restart_takes_over_a_dead_claim(channel_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    settings, service, channel = channel_factory()
    import socket

    store = SQLiteStore(settings.wechat.state_db)
    assert store.claim("msg:7007", f"{socket.gethostname()}:{pid}:old", 600)  # claimed, then the process died
    store.attempt("msg:7007")
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        reply = FakeWeChat(f"{url}/wechat", TOKEN).push(text_xml("o-restart", "低保怎么申请", 7007))
    assert reply and "最低生活保障" in reply


def test_two_processes_one_answer(channel_factory) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []
    lock = threading.Lock()

    def slowish(channel: WeChatChannel, inbound: Inbound) -> str | None:
        with lock:
            calls.append(channel.owner)
        time.sleep(0.5)
        return channel.respond_to(inbound)

    s1, svc1, ch1 = channel_factory(slowish)
    s2, svc2, ch2 = channel_factory(slowish)  # same SQLite file: two workers of one deployment
    with serve(create_app(s1, service=svc1, wechat=ch1)) as u1, serve(create_app(s2, service=svc2, wechat=ch2)) as u2:
        xml = text_xml("o-two", "低保怎么申请", 8008)
        replies: list[str | None] = []
        threads = [threading.Thread(target=lambda u=u: replies.append(FakeWeChat(f"{u}/wechat", TOKEN).push(xml)))
                   for u in (u1, u2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(calls) == 1  # one answer, and each attempt that WeChat makes gets it
    assert len(replies) == 2 and replies[0] == replies[1] and replies[0] and "最低生活保障" in replies[0]


@pytest.mark.parametrize("code", [45009, 48001])
def test_api_errors_keep_the_answer_for_collection(channel_factory, fake_api, code: int) -> None:  # type: ignore[no-untyped-def]
    api, api_base = fake_api

    def slow(channel: WeChatChannel, inbound: Inbound) -> str | None:
        if inbound.dedupe_key.endswith("01"):
            time.sleep(0.8)
        return channel.respond_to(inbound)

    settings, service, channel = channel_factory(slow, reply_budget_s=0.3, verified=True, app_secret="s",
                                                 api_base=api_base)
    api.errors = [code]
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN, timeout_s=2.0)
        assert wx.push(text_xml(f"o-{code}", "低保怎么申请", code * 100 + 1)) == "success"
        deadline = time.monotonic() + 15  # the late answer meets the API error, then is kept (not a fixed sleep:
        while api.errors and time.monotonic() < deadline:  # this test failed under load with 1.5 s)
            time.sleep(0.1)
        time.sleep(0.5)
        later = wx.push(text_xml(f"o-{code}", "你好", code * 100 + 2))
    assert api.sent == [] and later and "最低生活保障" in later
    if code == 45009:  # the daily quota is remembered: no second call today
        assert channel.api is not None and channel.store.get("quota-exhausted") is not None


def test_voice_menu_and_event_dedupe(channel_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.wechat_fake import voice_xml

    voice_unclear, menu_progress = default().say("desk.voice_unclear"), default().say("desk.menu_progress")

    settings, service, channel = channel_factory()
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN)
        spoken = wx.push(voice_xml("o-voice", "遛狗不拴绳有人管没得", 11001))
        assert spoken and "犬" in spoken
        assert wx.push(voice_xml("o-voice", None, 11002)) == voice_unclear
        assert wx.push(event_xml("o-voice", "CLICK", "PROGRESS")) == menu_progress
        # the REPORT menu right after describing a problem starts from it: only the location is still missing
        assert "位置" in (wx.push(event_xml("o-voice", "CLICK", "REPORT", created=1_800_000_000)) or "")
        assert "发生了什么" in (wx.push(event_xml("o-fresh", "CLICK", "REPORT", created=1_800_000_000)) or "")
        subscribe = event_xml("o-voice", "subscribe", created=1_800_000_001)
        assert wx.push(subscribe) == WELCOME and wx.push(subscribe) == WELCOME  # deduped by FromUserName + CreateTime
        assert wx.push(event_xml("o-voice", "unsubscribe")) == "success"


def test_a_problem_told_in_a_chat_becomes_one_report_without_being_asked_twice(channel_factory) -> None:  # type: ignore[no-untyped-def]
    """No 我要上报: the message is read as a problem to handle (the learned intent model), the draft asks only for
    the place, the location message fills it, one 确认 files it; a policy question in between is answered."""
    from tests.wechat_fake import location_xml

    settings, service, channel = channel_factory()
    assert channel.desk.reports is not None and channel.desk.reports.intent.mode == "learned"
    with serve(create_app(settings, service=service, wechat=channel)) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN)
        who = "o-told"
        first = wx.push(text_xml(who, "你好师傅 我们楼底下那个井盖没得了 晚上黑黢黢的 怕娃儿些踩进去", 12001)) or ""
        assert first.startswith("收到") and "在哪里" in first
        summary = wx.push(location_xml(who, 29.55, 106.5, "重庆市九龙坡区渝州路88号", 12002)) or ""
        assert "请确认" in summary and "渝州路88号" in summary and "井盖没得了" in summary and "你好" not in summary
        done = wx.push(text_xml(who, "确认", 12003)) or ""
        assert "工单号" in done
        assert len(channel.desk.reports.dispatch.listing(user=UserRef("wechat", who))) == 1
        answer = wx.push(text_xml("o-asks", "低保咋个申请嘛", 12004)) or ""
        assert "请确认" not in answer and "回复“1”" not in answer
        assert channel.desk.reports.load(UserRef("wechat", "o-asks")).state == "idle"
