"""The dispatch API's reporter over a real uvicorn server and a real report store: a report names who filed it as
{channel, ref}; the older `openid` field still means a WeChat resident; a bad reporter is a 422 in Chinese, never a
500. (The reports router alone, with the caller fixed as the center: the keys are test_personal_data's subject.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from assistant.api import errors, reports_routes
from assistant.api.deps import Caller, dispatch_store, service_token
from assistant.api.state import State
from assistant.dispatch.outbox import OutboxWorker
from assistant.dispatch.store import DispatchStore
from assistant.domain import UserRef
from assistant.settings import DispatchSettings, Settings
from tests.servers import serve

pytestmark = pytest.mark.integration
BODY = {"category": "noise", "location": {"text": "解放路12号"}, "description": "半夜施工"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, DispatchStore]]:
    store = DispatchStore(f"sqlite:///{tmp_path / 'dispatch.sqlite3'}")
    app = FastAPI()
    app.state.gw = State(Settings(index_dir=tmp_path / "index"), None, [], None, store)
    errors.install(app)
    app.include_router(reports_routes.router)
    app.dependency_overrides[service_token] = lambda: Caller("center:test", personal=True)
    app.dependency_overrides[dispatch_store] = lambda: store
    with serve(app) as url:
        yield url, store
    store.close()


def _post(url: str, body: dict[str, Any], key: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/reports", json=body, headers={"Idempotency-Key": key})


def test_a_report_names_its_reporter_by_channel(api: tuple[str, DispatchStore]) -> None:
    url, store = api
    hook = _post(url, BODY | {"reporter": {"channel": "webhook", "ref": "12345-u-9"}}, "k-hook")
    assert hook.status_code == 201, hook.text
    assert (hook.json()["channel"], hook.json()["user_ref"], hook.json()["openid"]) == ("webhook", "12345-u-9", None)
    old = _post(url, BODY | {"openid": "o-resident-1"}, "k-old")  # a client of the older API
    assert old.status_code == 201 and (old.json()["channel"], old.json()["user_ref"]) == ("wechat", "o-resident-1")
    assert old.json()["openid"] == "o-resident-1"
    said_twice = {"openid": "o-resident-2", "reporter": {"channel": "wechat", "ref": "o-resident-2"}}
    both = _post(url, BODY | said_twice, "k-2")
    assert both.status_code == 201 and both.json()["user_ref"] == "o-resident-2"
    center = _post(url, BODY, "k-center")
    assert center.status_code == 201 and center.json()["channel"] is None and center.json()["user_ref"] is None
    assert [r["ticket"] for r in store.listing(user=UserRef("webhook", "12345-u-9"))] == [hook.json()["ticket"]]
    assert [r["ticket"] for r in store.listing(user=UserRef("wechat", "o-resident-1"))] == [old.json()["ticket"]]
    again = _post(url, BODY | {"reporter": {"channel": "wechat", "ref": "o-resident-1"}}, "k-old")
    assert again.status_code == 200 and again.json()["ticket"] == old.json()["ticket"]  # the same report, said anew
    other = _post(url, BODY | {"reporter": {"channel": "webhook", "ref": "o-resident-1"}}, "k-old")
    assert other.status_code == 409  # the same key from someone else is another report


@pytest.mark.parametrize("bad", [
    {"reporter": {"channel": "WeChat!", "ref": "o-1"}}, {"reporter": {"channel": "wechat", "ref": ""}},
    {"reporter": {"channel": "webhook", "ref": "u" * 129}}, {"reporter": {"channel": "wechat"}},
    {"openid": "o" * 65}, {"openid": "o-1", "reporter": {"channel": "webhook", "ref": "o-1"}},
    {"location": {"text": "解放路", "latitude": 999}},
])
def test_a_bad_reporter_is_a_422_in_chinese(api: tuple[str, DispatchStore], bad: dict[str, Any]) -> None:
    url, store = api
    r = _post(url, BODY | bad, f"k-{hash(str(bad))}")
    assert r.status_code == 422 and "请求格式不正确" in r.json()["message"], r.text
    assert store.listing() == []


class Recorder:
    """A Notifier that remembers what it was asked to send; `fail` times it raises first."""

    def __init__(self, fail: int = 0) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fail = fail

    async def notify_status(self, user_ref: str, report: dict[str, Any], note: str) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("callback refused")
        self.sent.append((user_ref, report["ticket"], note))


def test_each_notice_goes_to_the_reports_own_channel(api: tuple[str, DispatchStore],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    url, store = api
    wechat, webhook = Recorder(), Recorder(fail=1)
    made = {who: _post(url, BODY | {"reporter": {"channel": ch, "ref": who}}, f"k-{who}").json()
            for ch, who in (("wechat", "oyORnuP8q7ou2gfYjqLzSIWZf0rs"), ("webhook", "u-42"), ("wecom", "w-7"))}
    for report in made.values():
        store.update(report["id"], "center", status="assigned", note="已派网格员")
    settings = DispatchSettings(outbox_backoff_s=0.01, outbox_backoff_cap_s=0.02)
    worker = OutboxWorker(store, settings, {"wechat": wechat, "webhook": webhook})
    with caplog.at_level("WARNING", logger="assistant.dispatch.outbox"):
        asyncio.run(_rounds(worker, 4))
    wx, hook = made["oyORnuP8q7ou2gfYjqLzSIWZf0rs"]["ticket"], made["u-42"]["ticket"]
    assert wechat.sent == [("oyORnuP8q7ou2gfYjqLzSIWZf0rs", wx, "已派网格员")]
    assert webhook.sent == [("u-42", hook, "已派网格员")]  # it failed once, was retried, and the rest went on
    waiting = [m for m in caplog.messages if "no notifier" in m]
    assert len(waiting) == 1 and made["w-7"]["ticket"] in waiting[0]  # logged once, and kept for later
    assert "oyORnuP8q7ou2gfYjqLzSIWZf0rs" not in caplog.text and "w-7" not in caplog.text
    assert [r["ticket"] for _, _, r in store.due("notify")] == [made["w-7"]["ticket"]]


async def _rounds(worker: OutboxWorker, n: int) -> None:
    for _ in range(n):
        await worker.run_once()
        await asyncio.sleep(0.05)
    await worker.stop()
