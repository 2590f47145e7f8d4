"""Issue 26 #8 over a real uvicorn server: ID, bank card and phone numbers come back whole only to the command
center's service tokens; an API key (admitted when no service tokens are configured), a resident's WeChat views and
the logs see them masked; the actor of an event is a name, never a piece of the token."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.answering.pipeline import AnswerService
from assistant.api.app import create_app
from assistant.api.security import hash_key
from assistant.channels.wechat.store import SQLiteStore
from assistant.desk.reports import ReportDesk
from assistant.dispatch.store import DispatchStore
from assistant.domain import UserRef
from tests.servers import serve

pytestmark = pytest.mark.integration
CENTER = "gw_Kq2pZx9LmW4vY3bR5dHj7Ur4N7"  # a named service token
CENTER_2 = "gw_Qb8yWm3Zk6Pv2Lx9Ju5Hf1Ds4Ag7"  # an unnamed one
WORKER = "gw_Fz5Jq8Wb2Mx7Ly4Pk9Rv3Hd6Gs1"  # an API key
ID = "11010519491231002X"
CARD = "6222 0212 3456 7894"  # passes the Luhn check
PHONE = "13812345678"
NUMBERS = (ID, CARD, CARD.replace(" ", ""), PHONE)
REPORT = {"category": "other", "location": {"text": f"幸福小区3栋 失主{PHONE}"}, "contact": PHONE,
          "description": f"楼道里捡到一个钱包，里面有身份证{ID}和银行卡{CARD}，失主电话{PHONE}"}


@pytest.fixture(scope="module")
def servers(answers: AnswerService, kb_settings, tmp_path_factory: pytest.TempPathFactory  # type: ignore[no-untyped-def]
            ) -> Iterator[tuple[str, str]]:
    """(the center's server: service tokens configured; a server where no service tokens are configured, so the
    API keys are admitted to the dispatch API), over one report store."""
    store = DispatchStore(f"sqlite:///{tmp_path_factory.mktemp('pd')}/dispatch.sqlite3")
    center = kb_settings.model_copy(deep=True)
    center.api.key_hashes = [hash_key(WORKER)]
    center.dispatch.token_hashes = [hash_key(CENTER), hash_key(CENTER_2)]
    center.dispatch.token_names = {hash_key(CENTER): "duty-desk"}
    keys_only = kb_settings.model_copy(deep=True)
    keys_only.api.key_hashes = [hash_key(WORKER)]
    with serve(create_app(center, service=answers, dispatch=store)) as center_url, \
            serve(create_app(keys_only, service=answers, dispatch=store)) as keys_url:
        yield center_url, keys_url
    store.close()


def bearer(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} | extra


def _filed(url: str, key: str) -> dict[str, Any]:
    r = httpx.post(f"{url}/v1/reports", json=REPORT, headers=bearer(CENTER, **{"Idempotency-Key": key}))
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def test_the_center_reads_personal_numbers_whole_any_other_key_masked(servers: tuple[str, str]) -> None:
    center_url, keys_url = servers
    made = _filed(center_url, "pd-whole")
    for shown in (made, httpx.get(f"{center_url}/v1/reports/{made['ticket']}", headers=bearer(CENTER)).json(),
                  httpx.get(f"{center_url}/v1/reports", headers=bearer(CENTER_2)).json()[0]):
        assert ID in shown["description"] and CARD in shown["description"] and shown["contact"] == PHONE
        assert PHONE in shown["location"]["text"]
    assert httpx.get(f"{center_url}/v1/reports", headers=bearer(WORKER)).status_code == 401  # as before

    moved = httpx.patch(f"{keys_url}/v1/reports/{made['ticket']}", headers=bearer(WORKER),
                        json={"status": "assigned", "note": f"已联系失主 {PHONE}，身份证 {ID} 已核对"})
    assert moved.status_code == 200, moved.text
    for shown in (moved.json(), httpx.get(f"{keys_url}/v1/reports/{made['ticket']}", headers=bearer(WORKER)).json(),
                  *httpx.get(f"{keys_url}/v1/reports", headers=bearer(WORKER)).json()):
        text = repr(shown)
        assert not any(n in text for n in NUMBERS), text
        assert shown["ticket"].startswith("GW")
    masked = moved.json()
    assert "1101**********002X" in masked["description"] and "6222 **** **** 7894" in masked["description"]
    assert masked["contact"] == "138****5678" and "138****5678" in masked["events"][-1]["note"]
    whole = httpx.get(f"{center_url}/v1/reports/{made['ticket']}", headers=bearer(CENTER)).json()
    assert PHONE in whole["events"][-1]["note"]  # the center reads the note as it was written


def test_an_actor_is_a_name_never_a_piece_of_the_token(servers: tuple[str, str]) -> None:
    center_url, keys_url = servers
    made = _filed(center_url, "pd-actor")
    httpx.patch(f"{center_url}/v1/reports/{made['ticket']}", json={"status": "assigned"}, headers=bearer(CENTER_2))
    httpx.patch(f"{keys_url}/v1/reports/{made['ticket']}", json={"status": "in_progress"}, headers=bearer(WORKER))
    events = httpx.get(f"{center_url}/v1/reports/{made['ticket']}", headers=bearer(CENTER)).json()["events"]
    actors = [e["actor"] for e in events]
    assert actors[0] == "center:duty-desk" and actors[1].startswith("center:") and actors[2].startswith("key:")
    assert len(set(actors)) == 3
    for actor, token in zip(actors, (CENTER, CENTER_2, WORKER), strict=True):
        pieces = {token[i:i + 4] for i in range(len(token) - 3)}
        assert not any(p in actor for p in pieces), (actor, token)


def test_no_personal_number_reaches_the_log(servers: tuple[str, str], caplog: pytest.LogCaptureFixture) -> None:
    center_url, keys_url = servers
    with caplog.at_level(logging.INFO):
        made = _filed(center_url, "pd-log")
        httpx.get(f"{keys_url}/v1/search", params={"q": f"{PHONE} {ID} 低保"}, headers=bearer(WORKER))
        httpx.get(f"{center_url}/v1/reports/{ID}", headers=bearer(CENTER))  # a number in the path: 404
        httpx.get(f"{center_url}/v1/reports/{PHONE}", headers=bearer(WORKER))  # and a refused one: 401
        httpx.patch(f"{center_url}/v1/reports/{made['ticket']}", json={"note": f"回电 {PHONE}"}, headers=bearer(CENTER))
    text = caplog.text
    assert "/v1/reports/1101**********002X 404" in text and "/v1/reports/138****5678 401" in text
    assert not any(n in text for n in NUMBERS), text


def test_a_residents_views_are_masked(tmp_path: Path) -> None:
    desk = ReportDesk(SQLiteStore(tmp_path / "wx.sqlite3"), DispatchStore(f"sqlite:///{tmp_path}/d.sqlite3"))
    who = UserRef("wechat", "o-pd")
    desk.start(who, f"我要反映 楼道里捡到一个钱包，身份证{ID}，银行卡{CARD}")
    summary = desk.handle_text(who, "幸福小区3栋门口")
    assert "请确认" in summary and not any(n.lower() in summary.lower() for n in NUMBERS), summary
    done = desk.handle_text(who, "确认")
    ticket = done.split("工单号 ")[1].split("。")[0]
    stored = desk.dispatch.get(ticket)
    assert stored is not None and ID.lower() in stored["description"].lower()  # the center's copy is whole
    for view in (desk.progress(who, "我的上报"), desk.progress(who, f"查询进度 {ticket}")):
        assert ticket in view and "1101***" in view and ID[:10] not in view, view  # masked, then cut to 20
