"""Report extraction with the LLM back-end, against the scripted OpenAI-compatible server on loopback: valid JSON,
a repaired reply, a model that cannot produce the schema (rules take over), a model that is down."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from assistant.domain import ReportDraft
from assistant.llm.openai_compat import OpenAICompatChat
from assistant.prompts import Prompts
from assistant.reports.extract import extract_llm
from tests.servers import Script, fake_chat_app, serve

pytestmark = pytest.mark.integration
PROMPT = Prompts.load().render("report_extract")
GOOD = json.dumps({"category": "public_facilities", "location": {"text": "幸福小区3栋门口"},
                   "description": "路灯坏了", "occurred_at": "好几天", "urgency": "urgent", "contact": None},
                  ensure_ascii=False)


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def chat(script: Script) -> Iterator[OpenAICompatChat]:
    with serve(fake_chat_app(script)) as url:
        yield OpenAICompatChat(url + "/v1", "fake", max_retries=0, timeout_s=5)


def test_valid_json_fills_the_schema(chat: OpenAICompatChat, script: Script) -> None:
    script.replies = [f"好的：\n```json\n{GOOD}\n```"]
    d = extract_llm(chat, PROMPT, "幸福小区3栋门口路灯坏了好几天了", ReportDraft())
    assert d.category == "public_facilities" and d.location.text == "幸福小区3栋门口" and d.urgency == "urgent"
    assert "public_facilities|" in script.requests[0]["messages"][0]["content"]  # the schema reached the model


def test_one_repair_attempt(chat: OpenAICompatChat, script: Script) -> None:
    script.replies = ['{"category": "lamps", "description": "路灯坏了"}', GOOD]
    d = extract_llm(chat, PROMPT, "路灯坏了", ReportDraft())
    assert d.category == "public_facilities" and len(script.requests) == 2
    assert "不符合要求" in script.requests[1]["messages"][-1]["content"]


def test_rules_take_over_when_the_model_cannot(chat: OpenAICompatChat, script: Script) -> None:
    script.replies = ["我不知道", "还是不知道"]
    d = extract_llm(chat, PROMPT, "解放路12号门口井盖不见了", ReportDraft())
    assert d.category == "public_facilities" and d.location.text.startswith("解放路12号") and len(script.requests) == 2


def test_model_down_uses_rules() -> None:
    down = OpenAICompatChat("http://127.0.0.1:9/v1", "x", max_retries=0)
    d = extract_llm(down, PROMPT, "楼道里好大一股煤气味", ReportDraft())
    assert d.category == "gas_safety" and d.urgency == "emergency"


def test_llm_judge_faithfulness_is_labelled_model_judged(chat: OpenAICompatChat, script: Script) -> None:
    from assistant.domain import Answer, Citation
    from eval.judge import faithfulness

    cite = Citation("《某条例》第一条", "某条例", "第一条", "第一条 路灯由城市管理部门维护。", "x.md", "c11",
                    "public", "p1")
    a = Answer(question="路灯谁管", answer="路灯由城市管理部门维护。还会免费送花。", persona="resident", mode="llm",
               citations=[cite])
    script.replies = ['{"sentences": 2, "supported": 1, "unsupported": ["还会免费送花。"]}']
    out = faithfulness(chat, Prompts.load(), [a])
    assert out["score"] == 0.5 and out["judged"] == 1 and "model-judged" in out["note"]
    assert "路灯由城市管理部门维护" in script.requests[0]["messages"][0]["content"]
    script.replies = ["不是 JSON"]
    assert faithfulness(chat, Prompts.load(), [a])["score"] is None
