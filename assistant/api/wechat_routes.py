"""The WeChat official account's server address: GET verifies it, POST takes the pushes (plaintext, compatible
and safe modes). A 404 until the channel is configured; the push body has its own, smaller limit."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from assistant.api.deps import StateDep
from assistant.channels.http import bounded_body

logger = logging.getLogger(__name__)
router = APIRouter(tags=["wechat"])
NOT_CONFIGURED = "wechat channel not configured"
TOO_LARGE = "body too large"


@router.get("/wechat", summary="微信公众号服务器地址验证", response_class=PlainTextResponse)
def wechat_verify(
    state: StateDep, signature: str | None = None, timestamp: str | None = None, nonce: str | None = None,
    echostr: str | None = None,
) -> PlainTextResponse:
    from assistant.channels.wechat.protocol import ProtocolError

    if state.protocol is None:
        return PlainTextResponse(NOT_CONFIGURED, status_code=404)
    try:
        return PlainTextResponse(state.protocol.verify_url(signature, timestamp, nonce, echostr))
    except ProtocolError as exc:
        return PlainTextResponse(exc.reason, status_code=exc.status)


@router.post("/wechat", summary="微信公众号消息推送（明文、兼容、安全模式）", response_class=PlainTextResponse)
async def wechat_push(request: Request, state: StateDep) -> PlainTextResponse:
    from assistant.channels.wechat.protocol import ProtocolError

    if state.protocol is None or state.wechat is None:
        return PlainTextResponse(NOT_CONFIGURED, status_code=404)
    body = await bounded_body(request, state.settings.wechat.max_body_bytes)
    if body is None:
        return PlainTextResponse(TOO_LARGE, status_code=400)
    try:
        inbound = state.protocol.parse(dict(request.query_params), body)
    except ProtocolError as exc:
        logger.warning("wechat push refused (%s): %s", exc.status, exc.reason)
        return PlainTextResponse(exc.reason, status_code=exc.status)
    outcome = await state.wechat.handle(inbound)
    if outcome.text is None:
        return PlainTextResponse("success")
    return PlainTextResponse(state.protocol.reply(inbound, outcome.text), media_type="application/xml")

