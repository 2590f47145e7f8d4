"""From chat to report to dispatch, end to end: a resident's multi-turn WeChat chat (text, location, photo) becomes
one report in PostgreSQL through a real uvicorn server; the center changes its status and the resident is told;
an external dispatch system that is down for a while still receives every report exactly once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from assistant import wiring
from assistant.answering.pipeline import AnswerService
from assistant.api.app import create_app
from assistant.api.security import hash_key
from assistant.dispatch.outbox import OutboxWorker
from assistant.dispatch.store import DispatchError, DispatchStore
from assistant.domain import Location, ReportDraft
from assistant.settings import DispatchSettings, WeChatSettings
from tests.integration.test_wechat import TOKEN, FakeApi
from tests.servers import serve
from tests.wechat_fake import FakeWeChat, image_xml, location_xml, text_xml

pytestmark = pytest.mark.integration
CENTER = "gw_center_service_token"


class FakeDispatch:
    """An external dispatch system: down (503) for its first `down` calls, then it accepts, remembering keys."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.calls = 0
        self.accepted: dict[str, dict[str, Any]] = {}
        self.app = FastAPI()

        @self.app.post("/intake")
        async def intake(request: Request) -> JSONResponse:
            self.calls += 1
            if self.calls <= self.down:
                return JSONResponse({"error": "maintenance"}, status_code=503)
            key = request.headers["Idempotency-Key"]
            self.accepted.setdefault(key, await request.json())
            return JSONResponse({"ok": True})


@pytest.fixture
def fake_api() -> Iterator[tuple[FakeApi, str]]:
    api = FakeApi()
    with serve(api.app) as url:
        yield api, url + "/cgi-bin/"


def test_chat_to_report_to_status_notice(answers: AnswerService, kb_settings, pg_url: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                         fake_api) -> None:
    api, api_base = fake_api
    external = FakeDispatch(down=3)
    with serve(external.app) as ext_url:
        settings = kb_settings.model_copy(deep=True)
        settings.wechat = WeChatSettings(token=TOKEN, app_id="wx_test_app", app_secret="s", api_base=api_base,
                                         verified=True, state_db=tmp_path / "wx.sqlite3")
        settings.dispatch = DispatchSettings(db_url=pg_url, url=f"{ext_url}/intake", outbox_interval_s=0.2,
                                             outbox_backoff_s=0.1, outbox_backoff_cap_s=0.5)
        settings.api.key_hashes = [hash_key(CENTER)]
        service = AnswerService(answers.retriever, answers.prompts, answers.settings, answers.llm_settings)
        dispatch = DispatchStore(pg_url, outbox_enabled=True)
        channel = wiring.build_wechat(settings, service, dispatch=dispatch)
        with serve(create_app(settings, service=service, wechat=channel, dispatch=dispatch)) as url:
            wx = FakeWeChat(f"{url}/wechat", TOKEN)
            who = "o-resident-report"
            assert "发生了什么" in (wx.push(text_xml(who, "我要反映", 9001)) or "")
            asked = wx.push(text_xml(who, "小区门口路灯坏了好几天了晚上黑黢黢的", 9002)) or ""
            assert "位置" in asked
            summary = wx.push(location_xml(who, 29.56, 106.55, "幸福小区南门", 9003)) or ""
            assert "请确认" in summary and "幸福小区南门" in summary and "公共设施" in summary
            assert "共1张" in (wx.push(image_xml(who, "media-123", 9004)) or "")
            done = wx.push(text_xml(who, "确认", 9005)) or ""
            assert done.startswith("已提交，工单号 GW")
            ticket = done.split("工单号 ")[1].split("。")[0]
            again = wx.push(text_xml(who, "确认", 9006)) or ""
            assert ticket in again and "已提交过" in again

            center = {"Authorization": f"Bearer {CENTER}"}
            listed = httpx.get(f"{url}/v1/reports", headers=center).json()
            assert len(listed) == 1
            report = listed[0]
            assert report["ticket"] == ticket and report["category"] == "public_facilities"
            assert report["location"]["label"] == "幸福小区南门" and report["location"]["latitude"] == 29.56
            assert report["photos"] == ["media-123"] and "路灯坏了" in report["description"]
            assert (report["channel"], report["user_ref"], report["openid"]) == ("wechat", who, who)
            assert report["status"] == "submitted"
            assert httpx.get(f"{url}/v1/reports", headers={"Authorization": "Bearer nope"}).status_code == 401

            patched = httpx.patch(f"{url}/v1/reports/{ticket}", json={"status": "assigned", "note": "已派网格员"},
                                  headers=center)
            assert patched.status_code == 200 and [e["kind"] for e in patched.json()["events"]] == ["created", "status"]
            bad = httpx.patch(f"{url}/v1/reports/{ticket}", json={"status": "closed", "rating": 9}, headers=center)
            assert bad.status_code == 422
            deadline = time.monotonic() + 15
            while (not api.sent or not external.accepted) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert any(ticket in m["text"]["content"] and "已派单" in m["text"]["content"] for m in api.sent)
            assert "已派单" in (wx.push(text_xml(who, f"查询进度 {ticket}", 9007)) or "")
            time.sleep(1.0)
        assert external.calls > 3 and len(external.accepted) == 1  # down, retried, delivered once
        assert next(iter(external.accepted.values()))["ticket"] == ticket
        dispatch.close()


def test_idempotent_intake_and_transitions_in_postgres(pg_url: str) -> None:
    store = DispatchStore(pg_url)
    draft = ReportDraft(category="noise", location=Location(text="解放路12号"), description="半夜施工")
    first = store.submit(draft, "center-key-1", None, "center")
    second = store.submit(draft, "center-key-1", None, "center")
    assert first.created and not second.created and first.report["ticket"] == second.report["ticket"]
    rid = first.report["id"]
    for status in ("assigned", "in_progress", "resolved"):
        store.update(rid, "center", status=status)
    rated = store.update(rid, "resident", rating=5)
    assert rated["rating"] == 5 and rated["status"] == "resolved"
    assert [e["to"] for e in rated["events"] if e["kind"] == "status"] == ["assigned", "in_progress", "resolved"]
    with pytest.raises(DispatchError):
        store.update(rid, "center", status="assigned")  # resolved → assigned is not a transition
    store.close()


def test_outbox_survives_a_restart_and_delivers_once(pg_url: str) -> None:
    external = FakeDispatch(down=10**6)
    with serve(external.app) as ext_url:
        settings = DispatchSettings(url=f"{ext_url}/intake", outbox_backoff_s=0.01, outbox_backoff_cap_s=0.05)
        store = DispatchStore(pg_url, outbox_enabled=True)
        drafts = [ReportDraft(category="dogs", location=Location(text=f"{i}栋"), description=f"狗叫扰民 {i}")
                  for i in range(5)]
        for i, d in enumerate(drafts):
            store.submit(d, f"outbox-{i}", None, "center")
        asyncio.run(_drain(OutboxWorker(store, settings), rounds=3))  # the system is down: nothing delivered
        store.close()  # "restart"
        assert not external.accepted
        external.down = 0
        restarted = DispatchStore(pg_url, outbox_enabled=True)
        asyncio.run(_drain(OutboxWorker(restarted, settings), rounds=5))
        asyncio.run(_drain(OutboxWorker(restarted, settings), rounds=2))  # a second sender finds nothing left
        restarted.close()
    assert sorted(external.accepted) == [f"outbox-{i}" for i in range(5)]


async def _drain(worker: OutboxWorker, rounds: int) -> None:
    for _ in range(rounds):
        await worker.run_once()
        await asyncio.sleep(0.06)
    await worker.stop()
