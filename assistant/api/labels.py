"""The Chinese names the console shows for the API's ids (answer modes, refusal reasons, document levels, report
statuses …): one table here, served at /v1/console/labels, so that no raw English id reaches a worker's screen."""

from __future__ import annotations

from typing import Any

from assistant.dispatch.store import TRANSITIONS
from assistant.domain import CATEGORIES, LEVELS, STATUS_ZH, URGENCY_ZH

LEVEL_ZH = LEVELS
MODE_ZH = {"extractive": "条文摘录", "llm": "大模型生成",
           "extractive (fallback: llm unavailable)": "条文摘录（大模型暂不可用）"}
REFUSAL_ZH = {"no_evidence": "知识库中没有足够依据", "out_of_scope": "超出服务范围", "injection": "疑似异常指令"}
EMERGENCY_ZH = {"gas": "燃气泄漏", "fire": "火情", "medical": "急症伤病", "violence": "暴力侵害",
                "flood_collapse": "洪涝或垮塌", "suicide": "自伤风险"}
PERSONA_ZH = {"worker": "网格员", "resident": "居民"}
VERDICT_ZH = {"useful": "有用", "not_useful": "没用"}
EVENT_ZH = {"created": "创建", "status": "状态变更", "note": "备注", "rating": "评价", "delivered": "已送达"}
AUDIENCE_ZH = {"public": "公开", "worker": "仅网格员"}


def level_zh(level: str | None) -> str:
    return LEVEL_ZH.get(level or "unknown", "其他")


def labels() -> dict[str, Any]:
    """Every table the console needs, and which report statuses each status may move to."""
    return {
        "modes": MODE_ZH, "refusals": REFUSAL_ZH, "emergencies": EMERGENCY_ZH, "levels": LEVEL_ZH,
        "personas": PERSONA_ZH, "verdicts": VERDICT_ZH, "events": EVENT_ZH, "audiences": AUDIENCE_ZH,
        "report_statuses": STATUS_ZH, "report_categories": CATEGORIES, "urgencies": URGENCY_ZH,
        "transitions": {k: sorted(v) for k, v in TRANSITIONS.items()},
    }
