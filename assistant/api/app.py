"""The HTTP API (FastAPI): the factory that puts the edge together. The routes live in one router per area
(answers, search, ops, wechat, console; reports, library, notebook, docs; a channel's own, such as the webhook's
`assistant/channels/webhook/router.py`), what they need comes through `deps`, the shared state and its lifespan are
`state.State`, and errors map to HTTP through the one table in `errors`.

Residents (the WeChat channel, the resident persona) need no key; the worker persona, worker-only search and the
console's answers need an API key (`Authorization: Bearer <key>` or `X-API-Key`), admitted by its sha256 digest.
Errors come back as {"error": code, "message": Chinese text for the user}.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from assistant import __version__
from assistant.answering.pipeline import AnswerService
from assistant.api import (
    answers_routes,
    console_routes,
    deps,
    docs_routes,
    errors,
    library_routes,
    notebook_routes,
    ops_routes,
    reports_routes,
    search_routes,
    wechat_routes,
)
from assistant.api.middleware import BodyLimit, observe
from assistant.api.state import State
from assistant.channels.webhook.router import build_router as webhook_router
from assistant.privacy import install_log_masking
from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.channels.wechat.channel import WeChatChannel
    from assistant.dispatch.store import DispatchStore

DESCRIPTION = (
    "社区网格治理的 AI 网格员。`POST /v1/ask` 回答居民（resident）或网格员（worker）的问题，答案中的每条引用都"
    "经过校验，指向实际检索到的条文；`mode` 说明答案由大模型（llm）还是条文摘录（extractive）生成。"
    "网格员身份与控制台需要 API key：`Authorization: Bearer <key>`。"
)


def create_app(
    settings: Settings | None = None, service: AnswerService | None = None, extra_key_hashes: list[str] | None = None,
    wechat: WeChatChannel | None = None, dispatch: DispatchStore | None = None,
) -> FastAPI:
    """The app. Without `service`, the index, retriever and chat model are built from settings at start-up; the
    WeChat channel too when its token is set (or `wechat`, a built channel, is given)."""
    from assistant.settings import get_settings

    settings = settings or get_settings()
    install_log_masking()  # no phone, ID or bank card number in any log line of this process
    app = FastAPI(
        title="数智网格员 gridworker API", version=__version__, description=DESCRIPTION, lifespan=lifespan,
        docs_url=None, redoc_url=None,  # /docs and /redoc are served offline by docs_routes
    )
    app.state.gw = State(settings, service, extra_key_hashes or [], wechat, dispatch)
    app.add_middleware(BodyLimit, limit=settings.api.max_body_bytes)
    app.middleware("http")(observe)
    errors.install(app)
    for router in (answers_routes.router, search_routes.router, ops_routes.router):
        app.include_router(router)
    for router in (reports_routes.router, library_routes.router, notebook_routes.router):
        app.include_router(router, responses=errors.ROUTER_RESPONSES)
    docs_routes.install(app)
    app.mount("/static/console", StaticFiles(directory=console_routes.STATIC / "console"), name="console")
    for router in (wechat_routes.router, webhook_router(lambda request: deps.get_state(request).webhook),
                   console_routes.router):
        app.include_router(router)
    return app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: State = app.state.gw
    await state.start()
    yield
    await state.stop()
