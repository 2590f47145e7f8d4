"""LLM-as-judge faithfulness (optional, model-judged): is every sentence of an answer supported by its cited texts?

Runs only when a chat model is configured (`--mode llm` with GRIDWORKER_LLM__BASE_URL); the score is reported as
`answers.faithfulness_model_judged` and labelled as judged by that model, never mixed with the measured metrics.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from assistant.domain import Answer
from assistant.errors import LLMUnavailable
from assistant.ports import ChatModel
from assistant.prompts import Prompts

logger = logging.getLogger(__name__)


def judge(chat: ChatModel, prompts: Prompts, answer: Answer) -> float | None:
    """Share of the answer's sentences the judge finds supported; None when the judge fails or is unreadable."""
    cited = "\n\n".join(f"{c.label}\n{c.text}" for c in answer.citations)
    prompt = prompts.render("judge_faithfulness", citations=cited, answer=answer.answer)
    try:
        raw = chat.complete([{"role": "user", "content": prompt}], max_tokens=300)
        data: dict[str, Any] = json.loads(raw[raw.find("{") : raw.rfind("}") + 1])
        total, supported = int(data["sentences"]), int(data["supported"])
    except (LLMUnavailable, ValueError, KeyError, TypeError) as exc:
        logger.warning("judge failed: %s", exc)
        return None
    return max(0.0, min(1.0, supported / total)) if total > 0 else None


def faithfulness(chat: ChatModel, prompts: Prompts, answers: list[Answer]) -> dict[str, Any]:
    scores = [s for a in answers if a.citations and not a.refused if (s := judge(chat, prompts, a)) is not None]
    return {"score": sum(scores) / len(scores) if scores else None, "judged": len(scores),
            "judge": chat.name, "note": "model-judged: depends on the judge model and prompts/judge_faithfulness.md"}
