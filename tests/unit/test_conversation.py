"""Conversation memory is bounded; follow-ups become standalone questions."""

from __future__ import annotations

import time

import pytest

from assistant.answering.conversation import ConversationStore, Turn, condense_rules, is_follow_up

pytestmark = pytest.mark.unit


def turn(q: str) -> Turn:
    return Turn(q, q, "答", (), time.time())


def test_store_is_bounded_in_conversations_and_turns() -> None:
    store = ConversationStore(max_conversations=3, max_turns=2, ttl_s=60)
    for i in range(5):
        store.append(f"c{i}", turn("问"))
    assert len(store) == 3 and store.history("c0") == [] and len(store.history("c4")) == 1
    for q in ("一", "二", "三"):
        store.append("c4", turn(q))
    assert [t.question for t in store.history("c4")] == ["二", "三"]


def test_idle_conversations_expire() -> None:
    store = ConversationStore(ttl_s=0.0)
    store.append("c", turn("问"))
    time.sleep(0.01)
    assert store.history("c") == []


@pytest.mark.parametrize("q", ["那要带什么材料", "需要多久呢", "要什么材料", "找谁"])
def test_follow_ups_are_recognised(q: str) -> None:
    assert is_follow_up(q)


def test_standalone_questions_are_left_alone() -> None:
    assert not is_follow_up("遛狗不拴绳怎么处罚")
    history = [turn("低保怎么申请")]
    assert condense_rules("遛狗不拴绳怎么处罚", history) == "遛狗不拴绳怎么处罚"


def test_follow_up_inherits_the_topic() -> None:
    out = condense_rules("那要带什么材料", [turn("低保怎么申请")])
    assert "低保" in out and "材料" in out
