"""The second channel: a generic JSON webhook (a 12345 hotline) against a real uvicorn server, a fake hotline
receiving the signed status callbacks. A problem told through it becomes a report in the same dispatch store as
WeChat's (channel "webhook"); bad signatures, stale timestamps, replays, oversized and malformed bodies are refused
with a Chinese message, never a 500. And the session store is built without WeChat: /v1/ask conversations
survive a restart."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from assistant.answering.pipeline import AnswerService
from assistant.api.app import create_app
from assistant.api.security import hash_key
from assistant.channels.webhook.adapter import sign
from assistant.channels.webhook.router import PATH
from assistant.dispatch.store import DispatchStore
from assistant.domain import UserRef
from assistant.settings import DispatchSettings, WebhookSettings
from tests.servers import serve

pytestmark = pytest.mark.integration
SECRET, CENTER = "hotline-shared-secret", "gw_center_token_for_tests"


class FakeHotline:
    """The hotline's callback endpoint on loopback: keeps what arrives and whether its signature holds."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.app = FastAPI()

        @self.app.post("/callback")
        async def callback(request: Request) -> dict[str, str]:
            body = await request.body()
            ts, sig = request.headers["x-gridworker-timestamp"], request.headers["x-gridworker-signature"]
            self.received.append({"body": json.loads(body), "signed": sign(SECRET, ts, body) == sig})
            return {"ok": "1"}


@pytest.fixture
def hotline() -> Iterator[tuple[FakeHotline, str]]:
    fake = FakeHotline()
    with serve(fake.app) as url:
        yield fake, url + "/callback"


@pytest.fixture
def service(answers: AnswerService) -> AnswerService:
    return AnswerService(answers.retriever, answers.prompts, answers.settings, answers.llm_settings)


def settings_for(kb_settings, tmp_path: Path, callback: str = ""):  # type: ignore[no-untyped-def]
    s = kb_settings.model_copy(deep=True)
    s.webhook = WebhookSettings(secret=SECRET, callback_url=callback or None, max_body_bytes=4096)
    s.wechat.state_db = tmp_path / "sessions.sqlite3"
    s.dispatch = DispatchSettings(outbox_interval_s=0.2, outbox_backoff_s=0.1, outbox_backoff_cap_s=0.5)
    s.api.key_hashes = [hash_key(CENTER)]
    return s


def post(url: str, payload: dict[str, Any] | bytes, secret: str = SECRET, ts: int | None = None) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    stamp = str(int(time.time()) if ts is None else ts)
    headers = {"Content-Type": "application/json", "X-Gridworker-Timestamp": stamp,
               "X-Gridworker-Signature": sign(secret, stamp, body)}
    return httpx.post(url + PATH, content=body, headers=headers, timeout=30)


def say(url: str, user: str, **fields: Any) -> str:
    r = post(url, {"message_id": uuid.uuid4().hex, "user": user, **fields})
    assert r.status_code == 200, r.text
    reply: str = r.json()["reply"]
    return reply


def test_a_problem_told_through_the_webhook_becomes_a_report_and_its_status_goes_back(  # type: ignore[no-untyped-def]
        service: AnswerService, kb_settings, tmp_path: Path, hotline) -> None:
    fake, callback = hotline
    settings = settings_for(kb_settings, tmp_path, callback)
    dispatch = DispatchStore(f"sqlite:///{tmp_path}/dispatch.sqlite3")
    with serve(create_app(settings, service=service, dispatch=dispatch)) as url:
        who = "caller-13800"
        assert "位置" in say(url, who, text="我要反映 小区门口路灯坏了好几天了")
        summary = say(url, who, kind="location", latitude=29.56, longitude=106.55, label="幸福小区南门")
        assert "请确认" in summary and "幸福小区南门" in summary
        done = say(url, who, text="确认")
        assert done.startswith("已提交，工单号 GW")
        ticket = done.split("工单号 ")[1].split("。")[0]
        mine = dispatch.listing(user=UserRef("webhook", who))
        assert [r["ticket"] for r in mine] == [ticket]
        assert mine[0]["channel"] == "webhook" and mine[0]["user_ref"] == who and "路灯坏了" in mine[0]["description"]
        assert ticket in say(url, who, text=f"查询进度 {ticket}")
        assert "没有找到" in say(url, "someone-else", text=f"查询进度 {ticket}")  # only one's own tickets

        center = {"Authorization": f"Bearer {CENTER}"}
        patched = httpx.patch(f"{url}/v1/reports/{ticket}", json={"status": "assigned", "note": "已派网格员"},
                              headers=center)
        assert patched.status_code == 200
        deadline = time.monotonic() + 15
        while not fake.received and time.monotonic() < deadline:
            time.sleep(0.2)
    assert len(fake.received) == 1 and fake.received[0]["signed"]
    notice = fake.received[0]["body"]
    assert notice["user"] == who and notice["ticket"] == ticket and notice["status"] == "assigned"
    assert "已派单" in notice["text"] and "已派网格员" in notice["text"]
    dispatch.close()


def test_bad_requests_are_refused_in_chinese_never_500(  # type: ignore[no-untyped-def]
        service: AnswerService, kb_settings, tmp_path: Path) -> None:
    settings = settings_for(kb_settings, tmp_path)
    with serve(create_app(settings, service=service)) as url:
        good = {"message_id": "m-1", "user": "u-1", "text": "低保怎么申请"}
        first = post(url, good)
        assert first.status_code == 200 and "最低生活保障" in first.json()["reply"]
        refused = {
            401: [post(url, good, secret="wrong"), post(url, good | {"message_id": "m-2"}, ts=int(time.time()) - 3600)],
            409: [post(url, good)],  # the same message id again
            413: [post(url, {"message_id": "m-3", "user": "u-1", "text": "长" * 3000})],
            400: [post(url, b"{not json"), post(url, b"[" * 2000 + b"]" * 2000), post(url, b"\xff\xfe")],
            422: [post(url, {"user": "u-1", "text": "x"}),
                  post(url, {"message_id": "m-4", "user": "u", "kind": "video"}),
                  post(url, {"message_id": "m-5", "user": "u", "kind": "location", "latitude": 999})],
        }
        unsigned = httpx.post(url + PATH, json=good)
        odd = httpx.post(url + PATH, content=json.dumps(good).encode(), headers={  # not ASCII: still a 401
            "X-Gridworker-Timestamp": b"\xb2", "X-Gridworker-Signature": b"sha256=\xe9"})
    for status, responses in {**refused, 401: [*refused[401], unsigned, odd]}.items():
        for r in responses:
            assert r.status_code == status, (status, r.text)
            body = r.json()
            assert body["error"] and any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]), body


def test_the_webhook_is_404_until_configured(  # type: ignore[no-untyped-def]
        service: AnswerService, kb_settings) -> None:
    with serve(create_app(kb_settings, service=service)) as url:
        r = post(url, {"message_id": "m", "user": "u", "text": "你好"})
    assert r.status_code == 404 and r.json()["error"] == "not_configured"


def test_ask_conversations_survive_a_restart_without_wechat(  # type: ignore[no-untyped-def]
        answers: AnswerService, kb_settings, tmp_path: Path) -> None:
    """Issue 28: the session store was built only with WeChat, so /v1/ask's conversations lived in one process."""
    settings = kb_settings.model_copy(deep=True)
    settings.wechat.state_db = tmp_path / "sessions.sqlite3"

    def ask(question: str, conversation_id: str | None = None) -> dict[str, Any]:
        fresh = AnswerService(answers.retriever, answers.prompts, answers.settings, answers.llm_settings)
        with serve(create_app(settings, service=fresh)) as url:  # a new process: nothing in memory
            r = httpx.post(f"{url}/v1/ask", json={"question": question, "persona": "resident",
                                                   "conversation_id": conversation_id}, timeout=30)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    first = ask("低保怎么申请")
    again = ask("那要带什么材料", first["conversation_id"])
    assert again["conversation_id"] == first["conversation_id"] and "低保" in again["condensed"]
