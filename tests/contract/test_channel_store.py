"""One contract, two channel stores: SQLite (embedded default) and Redis (several hosts), real servers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.answering.conversation import Turn
from assistant.channels.wechat.store import ChannelStore, PersistentConversations, RedisStore, SQLiteStore

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChannelStore]:
    if request.param == "sqlite":
        yield SQLiteStore(tmp_path / "store.sqlite3")
        return
    url = request.getfixturevalue("redis_url")  # skips without Redis, unless GRIDWORKER_REQUIRE_SERVICES is set
    prefix = f"gw:test:{uuid.uuid4().hex[:8]}:"
    s = RedisStore(url, prefix=prefix)
    yield s
    for key in s.r.scan_iter(f"{prefix}*"):
        s.r.delete(key)


def test_claim_is_exclusive_until_the_lease_ends(store: ChannelStore) -> None:
    assert store.attempt("msg:1") == 1 and store.attempt("msg:1") == 2
    assert store.claim("msg:1", "a", 0.3)
    assert not store.claim("msg:1", "b", 0.3) and store.owner("msg:1") == "a"
    time.sleep(0.4)
    assert store.claim("msg:1", "b", 0.3)  # a died without a result: b takes it after the lease
    store.set_result("msg:1", "答复")
    time.sleep(0.4)
    assert not store.claim("msg:1", "c", 0.3) and store.result("msg:1") == "答复"


def test_take_over_only_from_the_named_owner(store: ChannelStore) -> None:
    assert store.claim("msg:2", "dead", 60)
    assert not store.take_over("msg:2", "x", "someone-else")
    assert store.take_over("msg:2", "x", "dead") and store.owner("msg:2") == "x"
    assert not store.take_over("msg:2", "y", "dead")


def test_delivered_once_pending_in_order(store: ChannelStore) -> None:
    store.attempt("msg:3")
    assert store.mark_delivered("msg:3") and not store.mark_delivered("msg:3")
    store.add_pending("o", "一")
    store.add_pending("o", "二")
    assert store.take_pending("o") == ["一", "二"] and store.take_pending("o") == []


def test_a_passive_reply_is_repeated_for_a_retry_and_never_after_a_push(store: ChannelStore) -> None:
    """Issue 26 #11: an answer marked delivered before its reply was written was lost when the process died; a
    retry now gets the same text (kept answers included once), and a push path never follows a passive reply."""
    store.attempt("msg:4")
    assert store.passive_reply("msg:4", "o4", "之前：") is None  # no answer yet
    store.set_result("msg:4", "答复")
    store.add_pending("o4", "旧答复")
    assert store.passive_reply("msg:4", "o4", "之前：") == ("之前：旧答复\n\n答复", True)
    assert store.take_pending("o4") == []
    assert store.passive_reply("msg:4", "o4", "之前：") == ("之前：旧答复\n\n答复", False)  # WeChat's retry
    assert not store.mark_delivered("msg:4")  # no customer-service push after a passive reply
    store.attempt("msg:5")
    store.set_result("msg:5", "答复")
    assert store.mark_delivered("msg:5")  # pushed (late path) ...
    assert store.passive_reply("msg:5", "o5", "之前：") is None  # ... so a late retry is not answered twice


def test_customer_service_window(store: ChannelStore) -> None:
    assert not store.use_window("o", 48, 2)  # no user message yet
    store.open_window("o")
    assert store.use_window("o", 48, 2) and store.use_window("o", 48, 2) and not store.use_window("o", 48, 2)
    store.open_window("o")  # a new message renews it
    assert store.use_window("o", 48, 2)


def test_kv_with_expiry_and_conversations(store: ChannelStore) -> None:
    store.put("a", {"x": 1})
    store.put("b", {"y": "二"}, ttl_s=1)
    assert store.get("a") == {"x": 1} and store.get("b") == {"y": "二"}
    time.sleep(1.2)
    assert store.get("b") is None and store.get("missing") is None
    conv = PersistentConversations(store, max_turns=2)
    for q in ("一", "二", "三"):
        conv.append("wx:o", Turn(q, q, "答", ("《某法》第一条",), time.time()))
    assert [t.question for t in conv.history("wx:o")] == ["二", "三"]
    assert conv.history("wx:o")[0].labels == ("《某法》第一条",)
