"""The HTTP API (FastAPI): thin routes over the answer service.

Residents (the WeChat channel, the resident persona) need no key; the worker persona, worker-only search and the
console's answers need an API key (`Authorization: Bearer <key>` or `X-API-Key`), admitted by its sha256 digest.
Errors come back as {"error": code, "message": Chinese text for the user}.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from assistant import __version__
from assistant.answering.pipeline import AUDIENCE, AnswerService
from assistant.api import docs_routes, library_routes, notebook_routes, reports_routes, turns
from assistant.api.deps import Problem, RateLimited, Unauthorized, limited, owner_of, presented_key
from assistant.api.security import page_headers
from assistant.api.state import Metrics, State
from assistant.domain import Answer, SearchFilters
from assistant.errors import DependencyUnavailable, GridworkerError, InputError
from assistant.privacy import install_log_masking
from assistant.settings import Settings

logger = logging.getLogger(__name__)
access = logging.getLogger("gridworker.access")
STATIC = Path(__file__).resolve().parent / "static"


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


class ErrorOut(BaseModel):
    error: str
    message: str


def create_app(
    settings: Settings | None = None, service: AnswerService | None = None, extra_key_hashes: list[str] | None = None,
    wechat: Any = None, dispatch: Any = None,
) -> FastAPI:
    """The app. Without `service`, the index, retriever and chat model are built from settings at start-up; the
    WeChat channel too when its token is set (or `wechat`, a built channel, is given)."""
    from assistant.settings import get_settings

    settings = settings or get_settings()
    install_log_masking()  # no phone, ID or bank card number in any log line of this process
    state = State(settings, service, extra_key_hashes or [])
    state.wechat = wechat
    state.dispatch = dispatch if dispatch is not None else getattr(wechat, "reports", None) and wechat.reports.dispatch

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state.service is None:
            from assistant import wiring

            state.components = wiring.build(settings, create=False)
            state.service = wiring.build_answers(state.components)
        from assistant import wiring
        from assistant.dispatch.outbox import OutboxWorker

        if settings.redis.url:
            state.redis = wiring.build_redis(settings)
            state.limiter = wiring.build_limiter(settings, "api", settings.api.rate_per_minute,
                                                 settings.api.rate_burst)
        if state.dispatch is None:
            state.dispatch = wiring.build_dispatch(settings)
        if getattr(state.dispatch, "engine", None) is not None:
            from assistant.dispatch.notebook import Notebook

            state.notebook = Notebook(state.dispatch.engine)
        if state.wechat is None and settings.wechat.token is not None:
            state.wechat = wiring.build_wechat(settings, state.service, dispatch=state.dispatch)
        if state.wechat is not None:
            state.protocol = wiring.build_protocol(settings)
        state.outbox = OutboxWorker(state.dispatch, settings.dispatch,
                                    state.wechat.notify_status if state.wechat is not None else None)
        outbox_task = asyncio.create_task(state.outbox.run())
        state.service.retriever.warm()
        logger.info("gridworker ready: mode=%s retrieval=%s", state.service.mode, state.service.retriever.mode)
        yield
        await state.outbox.stop()
        outbox_task.cancel()
        if state.components is not None:
            state.components.close()

    app = FastAPI(
        title="数智网格员 gridworker API",
        version=__version__,
        description=(
            "社区网格治理的 AI 网格员。`POST /v1/ask` 回答居民（resident）或网格员（worker）的问题，答案中的每条引用都"
            "经过校验，指向实际检索到的条文；`mode` 说明答案由大模型（llm）还是条文摘录（extractive）生成。"
            "网格员身份与控制台需要 API key：`Authorization: Bearer <key>`。"
        ),
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are served offline by docs_routes
        redoc_url=None,
    )
    app.state.gw = state
    app.add_middleware(BodyLimit, limit=settings.api.max_body_bytes)

    # -- errors ------------------------------------------------------------------------------------------------
    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"error": "invalid_input", "message": exc.user_message}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "；".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "body" for e in exc.errors()[:3])
        return JSONResponse(
            {"error": "invalid_request", "message": f"请求格式不正确（{where}），请检查后重试。"}, status_code=422
        )

    @app.exception_handler(GridworkerError)
    async def _gw_error(request: Request, exc: GridworkerError) -> JSONResponse:
        logger.error("request failed: %s", exc)
        return JSONResponse({"error": type(exc).__name__, "message": exc.user_message}, status_code=503)

    @app.middleware("http")
    async def _observe(request: Request, call_next: Any) -> Any:
        t = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        state.metrics.requests.labels(name, str(response.status_code)).inc()
        state.metrics.latency.labels(name).observe(time.perf_counter() - t)
        # the access log, without the query string (WeChat's signatures, a resident's words in /v1/search?q=)
        access.info("%s %s %s %.0f ms", request.method, request.url.path, response.status_code,
                    (time.perf_counter() - t) * 1000)
        if request.url.path.startswith("/static/"):
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def authorise(persona: str, key: str | None) -> None:
        if persona == "worker" and not state.keys.check(key):
            raise Unauthorized(bool(key))

    @app.exception_handler(RateLimited)
    async def _rate(request: Request, exc: RateLimited) -> JSONResponse:
        message = state.answers().prompts.error("rate_limited") if state.service else "请求过于频繁。"
        return JSONResponse({"error": "rate_limited", "message": message}, status_code=429,
                            headers={"Retry-After": str(max(1, round(exc.wait)))})

    @app.exception_handler(Unauthorized)
    async def _unauth(request: Request, exc: Unauthorized) -> JSONResponse:
        prompts = state.answers().prompts
        if exc.presented:
            return JSONResponse({"error": "invalid_key", "message": prompts.error("unauthorized")}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return JSONResponse({"error": "unauthorized", "message": prompts.error("forbidden")}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    # -- routes ------------------------------------------------------------------------------------------------
    responses: dict[int | str, dict[str, Any]] = {
        401: {"model": ErrorOut, "description": "网格员身份需要有效的 API key"},
        422: {"model": ErrorOut, "description": "问题为空、过长或请求格式错误"},
        429: {"model": ErrorOut, "description": "请求过于频繁"},
        503: {"model": ErrorOut, "description": "知识库或依赖的服务（Redis）暂时不可用"},
    }

    @app.post("/v1/ask", response_model=AskResponse, responses=responses, tags=["answers"],
              summary="回答一个问题（居民或网格员身份）")
    def ask(
        body: AskRequest,
        key: Annotated[str | None, Depends(presented_key)],
        client: Annotated[str, Depends(limited)],
    ) -> dict[str, Any]:
        authorise(body.persona, key)
        shown, scoped = _conversation(state, body.conversation_id, key, client)
        owner = _owner(state, key)
        turns.resume(state, owner, shown, scoped)
        answer = state.answers().answer(body.question, body.persona, scoped, body.category)
        _count(state.metrics, answer.persona, answer.mode, answer.refused, answer.emergency, answer.removed_citations)
        return turns.record(state, owner, turns.answer_json(state, answer, shown))

    @app.post("/v1/ask/stream", responses=responses, tags=["answers"],
              summary="流式回答（server-sent events：meta、delta、answer、error）")
    def ask_stream(
        body: AskRequest,
        key: Annotated[str | None, Depends(presented_key)],
        client: Annotated[str, Depends(limited)],
    ) -> StreamingResponse:
        authorise(body.persona, key)
        service = state.answers()
        service.check_input(body.question, body.persona)  # bad input is a 422 before the stream starts
        shown, scoped = _conversation(state, body.conversation_id, key, client)
        owner = _owner(state, key)
        turns.resume(state, owner, shown, scoped)

        def events() -> Iterator[str]:
            try:
                for event in service.stream(body.question, body.persona, scoped, body.category):
                    if event.kind == "answer":
                        answer: Answer = event.data["answer"]  # type: ignore[assignment]
                        _count(state.metrics, answer.persona, answer.mode, answer.refused, answer.emergency,
                               answer.removed_citations)
                        data: dict[str, Any] = turns.record(state, owner, turns.answer_json(state, answer, shown))
                    else:
                        data = dict(event.data)
                    if "conversation_id" in data:
                        data["conversation_id"] = shown
                    yield f"event: {event.kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
            except GridworkerError as exc:
                logger.error("stream failed: %s", exc)
                payload = {"error": type(exc).__name__, "message": exc.user_message}
                yield f"event: error\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/v1/search", tags=["search"], responses=responses, summary="检索条文（不生成答案）")
    def search(
        q: Annotated[str, Query(min_length=1, max_length=500, description="检索语句")],
        key: Annotated[str | None, Depends(presented_key)],
        _: Annotated[str, Depends(limited)],
        k: Annotated[int, Query(ge=1, le=50)] = 10,
        category: Annotated[str | None, Query(max_length=64)] = None,
        persona: Annotated[Literal["resident", "worker"], Query()] = "resident",
    ) -> dict[str, Any]:
        authorise(persona, key)
        service = state.answers()
        filters = SearchFilters(audiences=AUDIENCE[persona], categories=(category,) if category else ())
        result = service.retriever.search(q.strip(), k=k, filters=filters)
        return {"query": q, "mode": result.mode, "hits": [h.to_json() for h in result.hits],
                "timings": {k2: round(v, 2) for k2, v in result.timings_ms.items()}}

    @app.get("/v1/categories", tags=["search"], summary="政策类别（48 类）")
    def categories() -> list[dict[str, str]]:
        return state.categories

    @app.get("/v1/whoami", tags=["auth"], summary="检查 API key 是否有效（控制台登录用）")
    def whoami(key: Annotated[str | None, Depends(presented_key)]) -> dict[str, Any]:
        if not state.keys.check(key):
            raise Unauthorized(bool(key))
        return {"role": "worker"}

    @app.get("/healthz", tags=["ops"], summary="进程存活")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="就绪：知识库已加载、Redis（如已配置）可达；大模型是否可达")
    def readyz() -> JSONResponse:
        service = state.service
        body: dict[str, Any] = {"ready": False}
        redis_ok = _redis_reachable(state)
        if service is not None:
            try:
                points = service.retriever.index.count()
            except GridworkerError as exc:
                points, body["index_error"] = 0, str(exc)
            chat = service.chat
            body.update({
                "ready": points > 0, "index_points": points, "mode": service.mode,
                "retrieval_mode": service.retriever.mode,
                "llm": {"configured": chat is not None, "reachable": chat.ping() if chat is not None else None,
                        "model": chat.name if chat is not None else None},
            })
        body["ready"] = body["ready"] and redis_ok is not False
        body["redis"] = {"configured": redis_ok is not None, "reachable": redis_ok}
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus 指标", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(state.metrics.registry).decode(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)

    for router in (reports_routes.router, library_routes.router, notebook_routes.router):
        app.include_router(router, responses={401: responses[401], 404: {"model": ErrorOut}})
    docs_routes.install(app)
    app.mount("/static/console", StaticFiles(directory=STATIC / "console"), name="console")

    # -- WeChat ------------------------------------------------------------------------------------------------
    @app.get("/wechat", tags=["wechat"], summary="微信公众号服务器地址验证", response_class=PlainTextResponse)
    def wechat_verify(
        signature: str | None = None, timestamp: str | None = None, nonce: str | None = None,
        echostr: str | None = None,
    ) -> PlainTextResponse:
        from assistant.channels.wechat.protocol import ProtocolError

        if state.protocol is None:
            return PlainTextResponse("wechat channel not configured", status_code=404)
        try:
            return PlainTextResponse(state.protocol.verify_url(signature, timestamp, nonce, echostr))
        except ProtocolError as exc:
            return PlainTextResponse(exc.reason, status_code=exc.status)

    @app.post("/wechat", tags=["wechat"], summary="微信公众号消息推送（明文、兼容、安全模式）",
              response_class=PlainTextResponse)
    async def wechat_push(request: Request) -> PlainTextResponse:
        from assistant.channels.wechat.protocol import ProtocolError

        if state.protocol is None or state.wechat is None:
            return PlainTextResponse("wechat channel not configured", status_code=404)
        limit = settings.wechat.max_body_bytes
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > limit:
            return PlainTextResponse("body too large", status_code=400)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return PlainTextResponse("body too large", status_code=400)
        try:
            inbound = state.protocol.parse(dict(request.query_params), body)
        except ProtocolError as exc:
            logger.warning("wechat push refused (%s): %s", exc.status, exc.reason)
            return PlainTextResponse(exc.reason, status_code=exc.status)
        outcome = await state.wechat.handle(inbound)
        if outcome.text is None:
            return PlainTextResponse("success")
        return PlainTextResponse(state.protocol.reply(inbound, outcome.text), media_type="application/xml")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console")

    page = (STATIC / "console.html").read_text(encoding="utf-8")
    console_headers = page_headers(page)

    @app.get("/console", include_in_schema=False, response_class=HTMLResponse)
    def console() -> HTMLResponse:
        return HTMLResponse(page, headers=console_headers)

    return app


class BodyLimit:
    """Request bodies larger than the limit are a 413 in Chinese, declared (Content-Length) or streamed (chunked):
    nothing reads a 100 MB body whole. /wechat keeps its own, smaller limit."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        # read the body up to the limit here (FastAPI turns any error while it reads into a 400), then hand it on
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.limit:
                await self._refuse(send)
                return
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            result: dict[str, Any] = await receive()  # afterwards: the client's disconnect, for streams
            return result

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"error": "payload_too_large", "message": f"请求内容太大（上限 {self.limit // 1024} KB）。"},
                          ensure_ascii=False).encode("utf-8")
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _conversation(state: State, given: str | None, key: str | None, client: str) -> tuple[str, str]:
    """The conversation id the caller sees, and the one the service keeps: scoped to the caller (the API key, or
    the client address without one), so that naming someone else's id (or the WeChat channel's `wx:` ids) starts a
    new conversation instead of reading theirs. A new conversation gets an unguessable id."""
    shown = given or secrets.token_urlsafe(16)
    owner = ("key:" + key) if key and state.keys.check(key) else client
    return shown, f"api:{hashlib.sha256(owner.encode()).hexdigest()[:16]}:{shown}"


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


def _owner(state: State, key: str | None) -> str | None:
    """Whose notebook a request writes to: a worker's (a valid key), or no one's."""
    return owner_of(key) if key and state.keys.check(key) else None


def _count(metrics: Metrics, persona: str, mode: str, refused: bool, emergency: bool, removed: int) -> None:
    metrics.answers.labels(persona, mode, str(refused).lower(), str(emergency).lower()).inc()
    if removed:
        metrics.removed.inc(removed)
