"""The console's notebook (workers): their conversations, kept whole and resumable, their feedback on answers
(the review list), and the Chinese labels the console shows. Every read is scoped to the caller's key."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from assistant.api.deps import Problem, StateDep, Worker
from assistant.api.labels import labels

router = APIRouter(tags=["console"])
NOTE_MAX = 500
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class FeedbackIn(BaseModel):
    turn_id: int = Field(ge=1, description="答复的编号（/v1/ask 响应中的 turn_id）")
    verdict: Literal["useful", "not_useful"] = Field(description="useful：有用；not_useful：没用")
    note: str | None = Field(default=None, description=f"补充说明（可选，最多 {NOTE_MAX} 字）")


@router.get("/v1/console/labels", summary="控制台显示用的中文名称（模式、拒答原因、效力层级、工单状态等）")
def console_labels(_: Worker) -> dict[str, Any]:
    return labels()


@router.get("/v1/conversations", summary="本人（本密钥）的对话列表")
def conversations(
    owner: Worker, state: StateDep, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    return state.notes().conversations(owner, limit)


@router.get("/v1/conversations/{conversation_id}", summary="一次对话的全部问答（可接着追问）")
def conversation(conversation_id: str, owner: Worker, state: StateDep) -> dict[str, Any]:
    turns = state.notes().conversation(owner, conversation_id) if CONVERSATION_ID.match(conversation_id) else []
    if not turns:
        raise Problem(404, "not_found", "没有找到这次对话。")
    return {"conversation_id": conversation_id, "turns": turns}


@router.post("/v1/feedback", status_code=201, summary="对一条答复反馈“有用 / 没用”（可附说明）")
def add_feedback(body: FeedbackIn, owner: Worker, state: StateDep) -> dict[str, Any]:
    note = (body.note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise Problem(422, "note_too_long", f"补充说明太长（{len(note)} 字），最多 {NOTE_MAX} 字，请精简后再提交。")
    entry = state.notes().add_feedback(owner, body.turn_id, body.verdict, note)
    if entry is None:
        raise Problem(404, "not_found", "没有找到这条答复，无法反馈。")
    return entry


@router.get("/v1/feedback", summary="本人（本密钥）提交的反馈（审阅列表）")
def feedback(
    owner: Worker, state: StateDep, verdict: Literal["useful", "not_useful"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    return state.notes().feedback(owner, verdict, limit)
