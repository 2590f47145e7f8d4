"""What the routes share: settings, the answer service, keys, the rate limiter, metrics, the stores."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from assistant.answering.pipeline import AnswerService
from assistant.api.library import Library
from assistant.api.security import KeyRing, Limiter, RateLimiter
from assistant.dispatch.notebook import Notebook
from assistant.errors import GridworkerError
from assistant.settings import Settings


@dataclass(slots=True)
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    answers: Counter
    removed: Counter

    @classmethod
    def create(cls) -> Metrics:
        reg = CollectorRegistry()
        return cls(
            reg,
            Counter("gridworker_http_requests", "HTTP requests", ["route", "status"], registry=reg),
            Histogram("gridworker_http_request_seconds", "HTTP request latency", ["route"], registry=reg,
                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 4.5, 10, 30)),
            Counter("gridworker_answers", "Answers given", ["persona", "mode", "refused", "emergency"], registry=reg),
            Counter("gridworker_citations_removed", "Citations removed by the verifier", registry=reg),
        )


class State:
    """What the routes share; the answer service is built at start-up (or handed in by tests)."""

    def __init__(self, settings: Settings, service: AnswerService | None, extra_keys: list[str]) -> None:
        self.settings = settings
        self.service = service
        self.keys = KeyRing(settings.api.key_hashes + extra_keys)
        # per process here; shared in Redis from start-up when GRIDWORKER_REDIS__URL is set
        self.limiter: Limiter = RateLimiter(settings.api.rate_per_minute, settings.api.rate_burst)
        self.redis: Any = None  # the Redis client /readyz pings, when Redis is configured
        self.metrics = Metrics.create()
        self.categories = _categories(settings.taxonomy)
        self.components: Any = None
        self.wechat: Any = None  # WeChatChannel, when GRIDWORKER_WECHAT__TOKEN is set
        self.protocol: Any = None
        self.dispatch: Any = None  # DispatchStore
        self.outbox: Any = None
        self.notebook: Notebook | None = None  # the console's conversations and feedback (dispatch database)
        self._library: Library | None = None
        self.service_tokens = KeyRing(settings.dispatch.token_hashes or (settings.api.key_hashes + extra_keys))

    def answers(self) -> AnswerService:
        if self.service is None:
            raise GridworkerError("the answer service is not ready")
        return self.service

    def library(self) -> Library:
        if self._library is None:
            self._library = Library(self.answers().retriever.index)
        return self._library

    def notes(self) -> Notebook:
        if self.notebook is None:
            raise GridworkerError("the console notebook is not ready (no dispatch database)")
        return self.notebook


def _categories(path: Path) -> list[dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [{"id": c["id"], "name": c["name_zh"], "description": c.get("description_zh", "")}
                for c in data["categories"]]
    except (OSError, ValueError, KeyError):
        return []
