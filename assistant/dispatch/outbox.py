"""The outbox sender: reports to the external dispatch system, status notices to residents.

Rows are written in the same transaction as the change they announce, so nothing is lost when the peer is down or
the process restarts; a row is leased before sending (one sender across processes), retried with exponential
backoff, and marked delivered only when the peer confirmed it. The external system gets the report's idempotency
key with every attempt, so a retry after a lost confirmation is not a second report there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from assistant.dispatch.store import DispatchStore
from assistant.privacy import mask
from assistant.settings import DispatchSettings

logger = logging.getLogger(__name__)
Notify = Callable[[str, dict[str, Any], str], Awaitable[None]]  # (openid, report, note)


class OutboxWorker:
    def __init__(self, store: DispatchStore, settings: DispatchSettings, notify: Notify | None = None) -> None:
        self.store = store
        self.settings = settings
        self.notify = notify
        self._client = httpx.AsyncClient(timeout=settings.timeout_s)
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception:
                logger.exception("outbox pass failed")
            try:
                await asyncio.wait_for(self._stop.wait(), self.settings.outbox_interval_s)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._stop.set()
        await self._client.aclose()

    async def run_once(self) -> int:
        sent = 0
        if self.settings.url:
            for oid, payload, report in await asyncio.to_thread(self.store.due, "dispatch"):
                if await asyncio.to_thread(self.store.lease, oid, self.settings.timeout_s * 2):
                    sent += await self._dispatch(oid, payload, report)
        if self.notify is not None:
            for oid, payload, report in await asyncio.to_thread(self.store.due, "notify"):
                if report.get("openid") and await asyncio.to_thread(self.store.lease, oid, 30.0):
                    await self.notify(report["openid"], report, str(payload.get("note") or ""))
                    await asyncio.to_thread(self.store.delivered, oid, "notify")
                    sent += 1
        return sent

    async def _dispatch(self, oid: int, payload: dict[str, Any], report: dict[str, Any]) -> int:
        s = self.settings
        headers = {"Idempotency-Key": str(payload["idempotency_key"])}
        if s.token is not None:
            headers["Authorization"] = f"Bearer {s.token.get_secret_value()}"
        try:
            r = await self._client.post(str(s.url), json=report, headers=headers)
            ok = 200 <= r.status_code < 300
            error = "" if ok else f"HTTP {r.status_code}: {mask(r.text)[:200]}"  # a peer may echo the report
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        if ok:
            await asyncio.to_thread(self.store.delivered, oid, "dispatch")
            return 1
        logger.warning("dispatch of %s failed, will retry: %s", report["ticket"], error)
        await asyncio.to_thread(self.store.failed, oid, error, s.outbox_backoff_s, s.outbox_backoff_cap_s)
        return 0
