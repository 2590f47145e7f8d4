"""The edge's middleware: a size limit on request bodies (a 413 in Chinese), and the observer that counts every
request in the metrics and writes the access log (without the query string)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import Request, Response

from assistant.api.deps import get_state

access = logging.getLogger("gridworker.access")


async def observe(request: Request, call_next: Any) -> Response:
    t = time.perf_counter()
    response: Response = await call_next(request)
    route = request.scope.get("route")
    name = getattr(route, "path", "unmatched")
    metrics = get_state(request).metrics
    metrics.requests.labels(name, str(response.status_code)).inc()
    metrics.latency.labels(name).observe(time.perf_counter() - t)
    # the access log, without the query string (WeChat's signatures, a resident's words in /v1/search?q=)
    access.info("%s %s %s %.0f ms", request.method, request.url.path, response.status_code,
                (time.perf_counter() - t) * 1000)
    if request.url.path.startswith("/static/"):
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response


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
