"""Real HTTP servers on loopback for tests: uvicorn in a thread, and a scripted OpenAI-compatible chat server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


@contextmanager
def serve(app: Any, host: str = "127.0.0.1", **options: Any) -> Iterator[str]:
    """Run an ASGI app under a real uvicorn server on a free loopback port; yields its base URL. `options` are
    uvicorn's (e.g. what `gridworker serve` passes: `assistant.cli._edge`)."""
    config = uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Script:
    """What the fake chat server does, call by call. `replies` are texts (or callables of the request body);
    `fail_first` answers 500 that many times first; `delay_s` sleeps before answering."""

    replies: list[str | Callable[[dict[str, Any]], str]] = field(default_factory=list)
    fail_first: int = 0
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def next_reply(self, body: dict[str, Any]) -> str:
        reply = self.replies[min(len(self.requests) - 1 - self.fail_first, len(self.replies) - 1)]
        return reply(body) if callable(reply) else reply


def fake_chat_app(script: Script) -> FastAPI:
    """The OpenAI chat-completions protocol (JSON and SSE streaming), answering from a script."""
    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "fake-qwen", "object": "model"}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> JSONResponse | StreamingResponse:
        body = await request.json()
        script.requests.append(body)
        if len(script.requests) <= script.fail_first:
            return JSONResponse({"error": {"message": "overloaded", "type": "server_error"}}, status_code=500)
        if script.delay_s:
            time.sleep(script.delay_s)
        text = script.next_reply(body)
        if not body.get("stream"):
            return JSONResponse({
                "id": "chatcmpl-1", "object": "chat.completion", "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            })

        def events() -> Iterator[str]:
            for i in range(0, len(text), 8):
                chunk = {"id": "c", "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"content": text[i : i + 8]}}]}
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app
