"""What the routes share: settings, the answer service, keys, the rate limiter, metrics, the stores; and the
lifespan that builds what was not handed in (`State.start`, `State.stop`)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram

from assistant.answering.pipeline import AnswerService
from assistant.api.library import Library
from assistant.api.security import KeyRing
from assistant.dispatch.notebook import Notebook
from assistant.errors import GridworkerError
from assistant.ports import Notifier
from assistant.ratelimit import Limiter, RateLimiter
from assistant.settings import Settings

if TYPE_CHECKING:
    import redis

    from assistant.channels.webhook.adapter import WebhookChannel
    from assistant.channels.wechat.channel import WeChatChannel
    from assistant.channels.wechat.protocol import Protocol
    from assistant.channels.wechat.store import ChannelStore
    from assistant.desk.front import FrontDesk
    from assistant.dispatch.outbox import OutboxWorker
    from assistant.dispatch.store import DispatchStore
    from assistant.wiring import Components

logger = logging.getLogger(__name__)


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

    def __init__(
        self, settings: Settings, service: AnswerService | None, extra_keys: list[str],
        wechat: WeChatChannel | None = None, dispatch: DispatchStore | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.keys = KeyRing(settings.api.key_hashes + extra_keys)
        # per process here; shared in Redis from start-up when GRIDWORKER_REDIS__URL is set
        self.limiter: Limiter = RateLimiter(settings.api.rate_per_minute, settings.api.rate_burst)
        self.redis: redis.Redis | None = None  # the Redis client /readyz pings, when Redis is configured
        self.metrics = Metrics.create()
        self.categories = _categories(settings.taxonomy)
        self.components: Components | None = None  # the index and models, when built here (not handed in)
        self.wechat = wechat  # the WeChat channel, when GRIDWORKER_WECHAT__TOKEN is set (or one is handed in)
        self.protocol: Protocol | None = None
        self.desk: FrontDesk | None = wechat.desk if wechat is not None else None  # one front desk, every channel
        self.sessions: ChannelStore | None = wechat.store if wechat is not None else None
        self.webhook: WebhookChannel | None = None  # the webhook channel, when GRIDWORKER_WEBHOOK__SECRET is set
        if dispatch is None and self.desk is not None and self.desk.reports is not None:
            dispatch = self.desk.reports.dispatch  # the channels' report desk and the API share one store
        self.dispatch = dispatch
        self.outbox: OutboxWorker | None = None
        self._outbox_task: asyncio.Task[None] | None = None
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

    def reports(self) -> DispatchStore:
        if self.dispatch is None:
            raise GridworkerError("the dispatch store is not ready")
        return self.dispatch

    # -- the lifespan ----------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Build what was not handed in (the answer service, Redis and the shared rate limit, the report store and
        the notebook on it, the session store, the front desk and the channels), start the outbox sender and warm
        the retriever."""
        from assistant import wiring
        from assistant.dispatch.outbox import OutboxWorker

        settings = self.settings
        if self.service is None:
            self.components = wiring.build(settings, create=False)
            self.service = wiring.build_answers(self.components)
        if settings.redis.url:
            self.redis = wiring.build_redis(settings)
            self.limiter = wiring.build_limiter(settings, "api", settings.api.rate_per_minute, settings.api.rate_burst)
        if self.dispatch is None:
            self.dispatch = wiring.build_dispatch(settings)
        self.notebook = Notebook(self.dispatch.engine)
        if self.sessions is None:
            self.sessions = wiring.build_channel_store(settings)
        # every deployment, WeChat or not: /v1/ask's conversations outlive the process and are shared by its workers
        wiring.keep_conversations(settings, self.service, self.sessions)
        self._channels()
        self.outbox = OutboxWorker(self.dispatch, settings.dispatch, self._notifiers())
        self._outbox_task = asyncio.create_task(self.outbox.run())
        self.service.retriever.warm()
        logger.info("gridworker ready: mode=%s retrieval=%s", self.service.mode, self.service.retriever.mode)

    def _channels(self) -> None:
        """The front desk (unless a handed-in channel brought one) and the configured channels on it."""
        from assistant import wiring

        settings, service, sessions = self.settings, self.answers(), self.sessions
        assert sessions is not None
        if self.desk is None:
            self.desk = wiring.build_front_desk(settings, service, sessions, self.dispatch)
        if self.wechat is None and settings.wechat.token is not None:
            self.wechat = wiring.build_wechat(settings, service, sessions, self.dispatch, self.desk)
        if self.wechat is not None:
            self.protocol = wiring.build_protocol(settings)
        if self.webhook is None:
            self.webhook = wiring.build_webhook(settings, self.desk, sessions)

    def _notifiers(self) -> dict[str, Notifier]:
        """Each channel's notifier, by the channel name a report carries."""
        from assistant import wiring

        notifiers: dict[str, Notifier] = {}
        if self.wechat is not None:
            notifiers["wechat"] = self.wechat
        if self.webhook is not None:
            notifiers["webhook"] = wiring.build_webhook_notifier(self.settings)
        return notifiers

    async def stop(self) -> None:
        if self.outbox is not None:
            await self.outbox.stop()
        if self._outbox_task is not None:
            self._outbox_task.cancel()
        if self.components is not None:
            self.components.close()


def _categories(path: Path) -> list[dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [{"id": c["id"], "name": c["name_zh"], "description": c.get("description_zh", "")}
                for c in data["categories"]]
    except (OSError, ValueError, KeyError):
        return []
