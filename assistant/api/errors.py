"""The one table from errors to HTTP: the project's error tree (`assistant.errors`, the dispatch store's errors) and
the API's own exceptions (`deps`), each to its status, its {"error": code, "message": Chinese text} body and its
headers. One handler reads the table for every exception the app registers; an exception takes the entry of its
nearest class in the table (an InputError is a 422, a GridworkerError without an entry of its own a 503)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from assistant.api.deps import Problem, RateLimited, Unauthorized, get_state
from assistant.api.state import State
from assistant.dispatch.store import DispatchError, KeyReused
from assistant.errors import GridworkerError, InputError

logger = logging.getLogger(__name__)
BEARER = {"WWW-Authenticate": "Bearer"}
DISPATCH_CODES = {400: "bad_request", 404: "not_found", 409: "conflict", 422: "invalid_report", 503: "unavailable"}


class ErrorOut(BaseModel):
    error: str
    message: str


# The error bodies the answer and search routes document; the routers' share 401 and add a 404.
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "网格员身份需要有效的 API key"},
    422: {"model": ErrorOut, "description": "问题为空、过长或请求格式错误"},
    429: {"model": ErrorOut, "description": "请求过于频繁"},
    503: {"model": ErrorOut, "description": "知识库或依赖的服务（Redis）暂时不可用"},
}
ROUTER_RESPONSES: dict[int | str, dict[str, Any]] = {401: RESPONSES[401], 404: {"model": ErrorOut}}


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    error: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def _malformed(exc: RequestValidationError) -> str:
    where = "；".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "body" for e in exc.errors()[:3])
    return f"请求格式不正确（{where}），请检查后重试。"


def _dispatch(exc: DispatchError) -> Reply:
    messages = {404: "工单不存在。", 409: f"工单状态不允许这个操作（{exc}）。",
                422: f"上报信息不完整（{exc}）。", 400: f"请求不正确（{exc}）。"}
    return Reply(exc.status, DISPATCH_CODES.get(exc.status, "error"), messages.get(exc.status, exc.user_message))


def _unavailable(exc: GridworkerError) -> Reply:
    logger.error("request failed: %s", exc)
    return Reply(503, type(exc).__name__, exc.user_message)


def _rate_limited(exc: RateLimited, state: State) -> Reply:
    message = state.answers().prompts.error("rate_limited") if state.service else "请求过于频繁。"
    return Reply(429, "rate_limited", message, {"Retry-After": str(max(1, round(exc.wait)))})


def _unauthorized(exc: Unauthorized, state: State) -> Reply:
    prompts = state.answers().prompts
    if exc.presented:
        return Reply(401, "invalid_key", prompts.error("unauthorized"), BEARER)
    return Reply(401, "unauthorized", prompts.error("forbidden"), BEARER)


# exception class → its reply (the exception, the app's state); looked up along the exception's MRO
TABLE: dict[type[Exception], Callable[[Any, State], Reply]] = {
    RequestValidationError: lambda exc, _: Reply(422, "invalid_request", _malformed(exc)),
    InputError: lambda exc, _: Reply(422, "invalid_input", exc.user_message),
    KeyReused: lambda exc, _: Reply(409, "idempotency_key_reused", exc.user_message),
    DispatchError: lambda exc, _: _dispatch(exc),
    GridworkerError: lambda exc, _: _unavailable(exc),
    RateLimited: _rate_limited,
    Unauthorized: _unauthorized,
    Problem: lambda exc, _: Reply(exc.status, exc.code, exc.message),
}


def reply(exc: Exception, state: State) -> Reply:
    """The reply the table gives `exc` (its nearest class in the table)."""
    kind = next(k for k in type(exc).__mro__ if k in TABLE)
    return TABLE[kind](exc, state)


async def handle(request: Request, exc: Exception) -> JSONResponse:
    r = reply(exc, get_state(request))
    return JSONResponse({"error": r.error, "message": r.message}, status_code=r.status, headers=r.headers or None)


def install(app: FastAPI) -> None:
    """Register the one handler for every class in the table."""
    for kind in TABLE:
        app.add_exception_handler(kind, handle)
