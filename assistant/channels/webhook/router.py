"""The webhook channel's route, POST /channels/webhook/messages. Built with a function that finds the channel (the app's
state), so the channel does not import the HTTP edge; a 404 until the channel is configured."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from assistant.channels.http import bounded_body
from assistant.channels.webhook.adapter import WebhookChannel
from assistant.prompts import default

PATH = "/channels/webhook/messages"


def build_router(channel_of: Callable[[Request], WebhookChannel | None]) -> APIRouter:
    """The router; `channel_of` gives the configured channel of a request's app (None: the channel is off)."""
    router = APIRouter(tags=["channels"])

    @router.post(PATH, summary="通用 JSON webhook 渠道（12345 热线、企业微信类接入）：一条居民消息，同步返回答复")
    async def webhook_message(request: Request) -> JSONResponse:
        channel = channel_of(request)
        if channel is None:
            message = default().say("webhook.not_configured")
            return JSONResponse({"error": "not_configured", "message": message}, status_code=404)
        body = await bounded_body(request, channel.settings.max_body_bytes)
        if body is None:
            reply = channel.error(413, "webhook.too_large")
        else:
            reply = await channel.handle(body, request.headers.get("x-gridworker-timestamp"),
                                         request.headers.get("x-gridworker-signature"))
        return JSONResponse(reply.body, status_code=reply.status)

    return router

