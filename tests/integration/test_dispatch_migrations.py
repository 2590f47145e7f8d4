"""Migration 0003 keeps every report: a store at revision 0002 with reports from WeChat residents (an openid) and from
the center (none) is upgraded to (channel, user reference) and back, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, event, inspect, text

from assistant.dispatch.store import DispatchStore, _sqlite_pragmas, downgrade, migrate
from assistant.domain import Location, ReportDraft, UserRef

pytestmark = pytest.mark.integration
NOW = datetime(2020, 1, 1, 8, 30, tzinfo=UTC)
OPENID = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the session's PostgreSQL database is already at head)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dispatch.sqlite3'}"
        return
    import psycopg

    base = request.getfixturevalue("pg_url")  # skips (or fails, with GRIDWORKER_REQUIRE_SERVICES) without a server
    name = f"gridworker_migrate_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield base.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _report(n: int, openid: str | None) -> dict[str, Any]:
    return {"ticket": f"GW20200101-{n:04d}", "idempotency_key": f"k-{n}", "openid": openid,
            "category": "noise", "location_text": f"解放路{n}号", "latitude": None, "longitude": None,
            "location_label": None, "grid": None, "description": f"半夜施工 {n}", "photos": [],
            "occurred_at": None, "urgency": "routine", "contact": None, "status": "submitted", "rating": None,
            "created_at": NOW, "updated_at": NOW}


def _seed_0002(engine: Engine) -> None:
    """Reports as release 0002 wrote them: two from WeChat residents, one filed by the center, one with an empty
    openid (the old API took it for nobody); an event and a pending notice on the first (foreign keys must survive
    SQLite's table copy)."""
    migrate(engine, "0002")
    with engine.begin() as c:
        tables = MetaData()
        tables.reflect(c, only=["reports", "report_events", "outbox"])
        c.execute(tables.tables["reports"].insert(),
                  [_report(1, OPENID), _report(2, None), _report(3, "o-second-resident-0001"),
                   _report(4, "")])
        first = c.execute(text("SELECT id FROM reports WHERE ticket = 'GW20200101-0001'")).scalar_one()
        c.execute(tables.tables["report_events"].insert(),
                  [{"report_id": first, "at": NOW, "kind": "created", "to_status": "submitted",
                    "actor": "wechat"}])
        c.execute(tables.tables["outbox"].insert(),
                  [{"report_id": first, "kind": "notify", "payload": {"status": "assigned", "note": ""},
                    "attempts": 0, "next_at": NOW}])


def _columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("reports")}


def _engine(url: str) -> Engine:
    """An engine as the store makes it (on SQLite: foreign keys enforced, which a table copy must survive)."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def test_0003_keys_every_report_by_channel_and_back(url: str) -> None:
    engine = _engine(url)
    _seed_0002(engine)
    migrate(engine)
    assert "openid" not in _columns(engine) and {"channel", "user_ref"} <= _columns(engine)
    with engine.connect() as c:
        rows = c.execute(text("SELECT ticket, channel, user_ref, description FROM reports ORDER BY id")).all()
        assert c.execute(text("SELECT count(*) FROM report_events")).scalar() == 1
    assert [tuple(r) for r in rows] == [("GW20200101-0001", "wechat", OPENID, "半夜施工 1"),
                                        ("GW20200101-0002", None, None, "半夜施工 2"),
                                        ("GW20200101-0003", "wechat", "o-second-resident-0001", "半夜施工 3"),
                                        ("GW20200101-0004", None, None, "半夜施工 4")]  # an empty openid: nobody

    store = DispatchStore(url)  # migrates to head again: nothing to do
    mine = store.listing(user=UserRef("wechat", OPENID))
    assert [r["ticket"] for r in mine] == ["GW20200101-0001"]
    assert mine[0]["channel"] == "wechat" and mine[0]["user_ref"] == OPENID and mine[0]["openid"] == OPENID
    assert store.listing(user=UserRef("webhook", OPENID)) == []  # the same id on another channel is someone else
    assert [r["ticket"] for _, _, r in store.due("notify", channels=["wechat"])] == ["GW20200101-0001"]
    assert store.due("notify", channels=["webhook"]) == []
    draft = ReportDraft(category="dogs", location=Location(text="2栋"), description="狗叫")
    webhook = store.submit(draft, "k-hook", UserRef("webhook", "u-77"), "webhook").report
    assert webhook["channel"] == "webhook" and webhook["user_ref"] == "u-77" and webhook["openid"] is None
    store.close()

    downgrade(engine, "0002")
    assert "openid" in _columns(engine) and not {"channel", "user_ref"} & _columns(engine)
    with engine.connect() as c:
        back = c.execute(text("SELECT ticket, openid FROM reports ORDER BY id")).all()
    assert [tuple(r) for r in back] == [("GW20200101-0001", OPENID), ("GW20200101-0002", None),
                                        ("GW20200101-0003", "o-second-resident-0001"), ("GW20200101-0004", None),
                                        (webhook["ticket"], None)]  # every row kept; a webhook id is no openid
    migrate(engine)
    again = DispatchStore(url)
    assert [r["ticket"] for r in again.listing(user=UserRef("wechat", "o-second-resident-0001"))] == [
        "GW20200101-0003"]
    again.close()
    engine.dispose()
