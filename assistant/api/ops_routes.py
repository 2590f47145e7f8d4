"""Operations: the console's key check (/v1/whoami), liveness (/healthz), readiness (/readyz: the index has points,
Redis answers when configured; whether the chat model answers) and the Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from assistant.answering.pipeline import AnswerService
from assistant.api.deps import StateDep, Worker
from assistant.api.state import State
from assistant.errors import DependencyUnavailable, GridworkerError

logger = logging.getLogger(__name__)
router = APIRouter()


@router.get("/v1/whoami", tags=["auth"], summary="检查 API key 是否有效（控制台登录用）")
def whoami(_: Worker) -> dict[str, Any]:
    return {"role": "worker"}


@router.get("/healthz", tags=["ops"], summary="进程存活")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"], summary="就绪：知识库已加载、Redis（如已配置）可达；大模型是否可达")
def readyz(state: StateDep) -> JSONResponse:
    body: dict[str, Any] = {"ready": False}
    redis_ok = _redis_reachable(state)
    if state.service is not None:
        body.update(_service_readiness(state.service))
    body["ready"] = body["ready"] and redis_ok is not False
    body["redis"] = {"configured": redis_ok is not None, "reachable": redis_ok}
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", tags=["ops"], summary="Prometheus 指标", response_class=PlainTextResponse)
def metrics(state: StateDep) -> PlainTextResponse:
    return PlainTextResponse(generate_latest(state.metrics.registry).decode(), media_type=CONTENT_TYPE_LATEST)


def _service_readiness(service: AnswerService) -> dict[str, Any]:
    """Whether the index has points (an index error is named), the modes, and whether the chat model answers."""
    body: dict[str, Any] = {}
    try:
        points = service.retriever.index.count()
    except GridworkerError as exc:
        points, body["index_error"] = 0, str(exc)
    chat = service.chat
    return body | {
        "ready": points > 0, "index_points": points, "mode": service.mode, "retrieval_mode": service.retriever.mode,
        "llm": {"configured": chat is not None, "reachable": chat.ping() if chat is not None else None,
                "model": chat.name if chat is not None else None},
    }


def _redis_reachable(state: State) -> bool | None:
    """None when no Redis is configured; else whether it answers (the cause goes to the log, not to the prober)."""
    from assistant.channels.wechat.store import ping

    if state.redis is None:
        return None
    try:
        ping(state.redis)
    except DependencyUnavailable as exc:
        logger.warning("not ready: %s", exc)
        return False
    return True
