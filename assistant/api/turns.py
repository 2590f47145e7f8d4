"""What /v1/ask adds for the console around the answer service: citations that name their document (title,
level, effective date; never a path), each worker's turns kept in the notebook, and a kept conversation carried
back into the service's memory when the process has forgotten it (a restart, the memory's idle expiry)."""

from __future__ import annotations

import logging
import time
from typing import Any

from assistant.answering.conversation import Turn
from assistant.api.state import State
from assistant.domain import Answer
from assistant.errors import GridworkerError

logger = logging.getLogger(__name__)


def answer_json(state: State, answer: Answer, shown: str) -> dict[str, Any]:
    """The API's answer: the service's JSON, each citation with its document's id, title, level and date."""
    data = answer.to_json() | {"conversation_id": shown}
    try:
        described = state.library().describe(c.point_id for c in answer.citations)
    except GridworkerError as exc:  # the answer stands without the documents' details
        logger.warning("citation details unavailable: %s", exc)
        described = {}
    for out, cited in zip(data["citations"], answer.citations, strict=True):
        out.update({"point_id": cited.point_id, "doc_id": None, "doc_title": cited.title, "level": None,
                    "level_zh": None, "effective_date": None, "category_name": None}
                   | described.get(cited.point_id, {}))
    return data


def resume(state: State, owner: str | None, shown: str, scoped: str) -> None:
    """Give the answer service back a kept conversation it no longer remembers, so a follow-up still reads it."""
    if owner is None or state.notebook is None:
        return
    memory = state.answers().conversations
    if memory.history(scoped):
        return
    try:
        kept = state.notebook.conversation(owner, shown)
    except GridworkerError as exc:  # answered as a new conversation rather than not at all
        logger.error("conversation not resumed: %s", exc)
        return
    for turn in kept[-state.settings.answer.conversation_turns:]:
        labels = tuple(c.get("label", "") for c in turn["citations"])
        memory.append(scoped, Turn(turn["question"], turn["condensed"], turn["answer"], labels, time.time()))


def record(state: State, owner: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """Keep a worker's turn in their notebook; the answer JSON gains its `turn_id` (None when not kept)."""
    turn_id = None
    if owner is not None and state.notebook is not None:
        try:
            turn_id = state.notebook.record_turn(owner, data["conversation_id"], data)
        except GridworkerError as exc:  # the worker still gets the answer; only the record is missing
            logger.error("turn not kept: %s", exc)
    return data | {"turn_id": turn_id}
