"""ChatModel over an OpenAI-compatible HTTP API: vLLM in production (`vllm serve Qwen/Qwen2.5-7B-Instruct`),
llama.cpp's server in tests. Plain httpx: connect and read timeouts, bounded retries with exponential backoff and
jitter on connection errors, timeouts, 429 and 5xx; streaming retries only before the first piece arrives.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx

from assistant.errors import LLMUnavailable

logger = logging.getLogger(__name__)
_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAICompatChat:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 20.0,
        connect_timeout_s: float = 2.0,
        max_retries: int = 2,
        backoff_s: float = 0.3,
        max_tokens: int = 512,
        temperature: float = 0.2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_tokens = max_tokens
        self.temperature = temperature
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=transport,
        )

    @property
    def name(self) -> str:
        return f"{self.model}@{self.base_url}"

    def _body(self, messages: list[dict[str, str]], max_tokens: int | None, stream: bool) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens or self.max_tokens,
            "temperature": self.temperature,
            "stream": stream,
        }

    def _sleep(self, attempt: int) -> None:
        time.sleep(self.backoff_s * (2**attempt) * (0.5 + random.random() / 2))

    def complete(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> str:
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                resp = self._client.post("/chat/completions", json=self._body(messages, max_tokens, False))
                if resp.status_code in _RETRY_STATUS:
                    last = LLMUnavailable(f"{self.base_url} answered {resp.status_code}: {resp.text[:200]}")
                elif resp.status_code >= 400:
                    raise LLMUnavailable(f"{self.base_url} refused the request ({resp.status_code}): {resp.text[:200]}")
                else:
                    return _content(resp.json())
            except (httpx.TransportError, ValueError) as exc:  # connect/read errors, timeouts, bad JSON
                last = exc
            logger.warning("chat model attempt %d failed: %s", attempt + 1, last)
            if attempt < self.max_retries:
                self._sleep(attempt)
        raise LLMUnavailable(f"chat model at {self.base_url} failed after {self.max_retries + 1} attempts: {last}")

    def stream(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> Iterator[str]:
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            started = False
            try:
                body = self._body(messages, max_tokens, True)
                with self._client.stream("POST", "/chat/completions", json=body) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        err = LLMUnavailable(f"{self.base_url} answered {resp.status_code}: {resp.text[:200]}")
                        if resp.status_code not in _RETRY_STATUS:
                            raise err
                        last = err
                    else:
                        for piece in _sse_pieces(resp.iter_lines()):
                            started = True
                            yield piece
                        return
            except (httpx.TransportError, ValueError) as exc:
                if started:  # half an answer cannot be retried without showing the resident a repeat
                    raise LLMUnavailable(f"chat model stream broke: {exc}") from exc
                last = exc
            logger.warning("chat model stream attempt %d failed: %s", attempt + 1, last)
            if attempt < self.max_retries:
                self._sleep(attempt)
        raise LLMUnavailable(f"chat model at {self.base_url} failed after {self.max_retries + 1} attempts: {last}")

    def ping(self) -> bool:
        try:
            return self._client.get("/models", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()


def _content(data: dict[str, Any]) -> str:
    try:
        return str(data["choices"][0]["message"]["content"] or "")
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"not a chat completion: {str(data)[:200]}") from exc


def _sse_pieces(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        choices = chunk.get("choices") or []
        if choices:
            piece = (choices[0].get("delta") or {}).get("content")
            if piece:
                yield piece
