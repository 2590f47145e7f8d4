"""The answers: POST /v1/ask (one JSON answer) and /v1/ask/stream (server-sent events). Residents need no key; the
worker persona needs a valid one. A conversation is scoped to its caller; a worker's turns go to their notebook."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from assistant.answering.pipeline import AnswerEvent, AnswerService
from assistant.api import turns
from assistant.api.deps import Answers, ApiKey, Client, Key, StateDep
from assistant.api.errors import RESPONSES
from assistant.api.state import Metrics, State
from assistant.domain import Answer
from assistant.errors import GridworkerError

logger = logging.getLogger(__name__)
router = APIRouter(tags=["answers"])


class AskRequest(BaseModel):
    question: str = Field(description="居民或网格员的问题（简体或繁体中文）", examples=["低保怎么申请"])
    persona: Literal["resident", "worker"] = Field(
        default="resident", description="resident：居民（微信公众号口吻）；worker：网格员（需要 API key）"
    )
    conversation_id: str | None = Field(
        default=None, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="多轮对话的会话 id；首次提问不填，沿用响应里返回的 id 追问",
    )
    category: str | None = Field(
        default=None, max_length=64, description="只在这一政策类别中检索，如 c01-social-assistance"
    )


class CitationOut(BaseModel):
    label: str = Field(description="《文件名》第X条")
    title: str
    article: str
    text: str = Field(description="被引用条文（或工作指引段落）的全文")
    source: str = Field(description="语料中的文件路径（供运维排查；控制台不显示）")
    category: str
    audience: str
    point_id: str | None = Field(default=None, description="条文在知识库中的编号")
    doc_id: str | None = Field(default=None, description="文件编号（GET /v1/documents/{doc_id} 可读全文）")
    doc_title: str | None = Field(default=None, description="文件标题")
    level: str | None = Field(default=None, description="效力层级 id，如 national-law")
    level_zh: str | None = Field(default=None, description="效力层级：法律、行政法规、地方性法规、司法解释、工作指引……")
    effective_date: str | None = Field(default=None, description="施行日期（工作指引为更新日期）")
    category_name: str | None = None


class AskResponse(BaseModel):
    answer: str
    citations: list[CitationOut]
    mode: str = Field(description="extractive | llm | extractive (fallback: llm unavailable)")
    refused: bool
    refusal_reason: str | None = Field(description="no_evidence | out_of_scope | injection")
    emergency: bool
    emergency_kinds: list[str]
    report_suggested: bool
    hedged: bool = Field(default=False, description="答复附带了“可能未完全覆盖”的提示和转人工")
    confidence: float | None = Field(default=None, description="学习到的判断模型认为问题可回答的概率")
    conversation_id: str
    persona: str
    question: str
    condensed: str
    removed_citations: int = Field(description="被校验器删除的、没有检索依据的引用数")
    retrieval_mode: str
    timings: dict[str, float] = Field(description="各阶段耗时（毫秒）")
    turn_id: int | None = Field(default=None, description="网格员（带 API key）的这条答复在对话记录中的编号，用于反馈")


@dataclass(frozen=True, slots=True)
class Session:
    """A request's conversation: the id the caller sees, the one the service keeps, and the notebook's owner."""

    shown: str
    scoped: str
    owner: str | None


@router.post("/v1/ask", response_model=AskResponse, responses=RESPONSES, summary="回答一个问题（居民或网格员身份）")
def ask(body: AskRequest, key: Key, client: Client, state: StateDep, service: Answers) -> dict[str, Any]:
    key.admit(body.persona)
    session = _session(state, body.conversation_id, key, client)
    answer = service.answer(body.question, body.persona, session.scoped, body.category)
    return _answered(state, session, answer)


@router.post("/v1/ask/stream", responses=RESPONSES,
             summary="流式回答（server-sent events：meta、delta、answer、error）")
def ask_stream(body: AskRequest, key: Key, client: Client, state: StateDep, service: Answers) -> StreamingResponse:
    key.admit(body.persona)
    service.check_input(body.question, body.persona)  # bad input is a 422 before the stream starts
    session = _session(state, body.conversation_id, key, client)
    return StreamingResponse(_events(state, service, body, session), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _events(state: State, service: AnswerService, body: AskRequest, session: Session) -> Iterator[str]:
    """The stream's server-sent events; the answer event carries the API's answer (as /v1/ask returns it)."""
    try:
        for event in service.stream(body.question, body.persona, session.scoped, body.category):
            if isinstance(event, AnswerEvent):
                data = _answered(state, session, event.answer)
            else:
                data = event.json()
            if "conversation_id" in data:
                data["conversation_id"] = session.shown
            yield _sse(event.kind, data)
    except GridworkerError as exc:
        logger.error("stream failed: %s", exc)
        yield _sse("error", {"error": type(exc).__name__, "message": exc.user_message})


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _session(state: State, given: str | None, key: ApiKey, client: str) -> Session:
    """The conversation id the caller sees, and the one the service keeps: scoped to the caller (the API key, or
    the client address without one), so that naming someone else's id (or the WeChat channel's `wx:` ids) starts a
    new conversation instead of reading theirs. A new conversation gets an unguessable id. A worker's kept
    conversation that the service no longer remembers is given back to it."""
    shown = given or secrets.token_urlsafe(16)
    caller = ("key:" + key.value) if key.valid and key.value else client
    session = Session(shown, f"api:{hashlib.sha256(caller.encode()).hexdigest()[:16]}:{shown}", key.owner)
    turns.resume(state, session.owner, session.shown, session.scoped)
    return session


def _answered(state: State, session: Session, answer: Answer) -> dict[str, Any]:
    """Count the answer, and keep a worker's turn: the API's answer JSON, with its `turn_id`."""
    _count(state.metrics, answer)
    return turns.record(state, session.owner, turns.answer_json(state, answer, session.shown))


def _count(metrics: Metrics, answer: Answer) -> None:
    metrics.answers.labels(answer.persona, answer.mode, str(answer.refused).lower(),
                           str(answer.emergency).lower()).inc()
    if answer.removed_citations:
        metrics.removed.inc(answer.removed_citations)
