"""The outbox sender: reports to the external dispatch system, status notices to residents on their own channel.

Rows are written in the same transaction as the change they announce, so nothing is lost when the peer is down or
the process restarts; a row is leased before sending (one sender across processes), retried with exponential
backoff, and marked delivered only when the peer confirmed it. The external system gets the report's idempotency
key with every attempt, so a retry after a lost confirmation is not a second report there.

A status notice goes to the `Notifier` of the channel the report came through (`notifiers["wechat"]` for a report
whose reporter is `UserRef("wechat", openid)`). A notice whose channel has no notifier here is not sent and not
dropped: it waits, undelivered, until that channel is configured (logged once, the resident masked).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from assistant.dispatch.store import DispatchStore
from assistant.domain import UserRef
from assistant.ports import Notifier
from assistant.privacy import mask
from assistant.settings import DispatchSettings

logger = logging.getLogger(__name__)
NOTICE_LEASE_S = 30.0


class OutboxWorker:
    def __init__(self, store: DispatchStore, settings: DispatchSettings,
                 notifiers: Mapping[str, Notifier] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.notifiers: dict[str, Notifier] = dict(notifiers or {})
        self._stranded: set[int] = set()  # notices already logged as having no notifier here
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
        return sent + await self._notices()

    async def _notices(self) -> int:
        await self._log_stranded()
        if not self.notifiers:
            return 0
        sent = 0
        for oid, payload, report in await asyncio.to_thread(self.store.due, "notify", 20, list(self.notifiers)):
            if report.get("user_ref") and await asyncio.to_thread(self.store.lease, oid, NOTICE_LEASE_S):
                sent += await self._notify(oid, payload, report)
        return sent

    async def _notify(self, oid: int, payload: dict[str, Any], report: dict[str, Any]) -> int:
        user = UserRef(report["channel"], report["user_ref"])
        try:
            await self.notifiers[user.channel].notify_status(user.ref, report, str(payload.get("note") or ""))
        except Exception as exc:  # noqa: BLE001 - any notifier's failure: this notice is retried, the rest go on
            logger.warning("status notice of %s to %s failed, will retry: %s", report["ticket"], user, exc)
            s = self.settings
            await asyncio.to_thread(self.store.failed, oid, f"{type(exc).__name__}: {exc}", s.outbox_backoff_s,
                                    s.outbox_backoff_cap_s)
            return 0
        await asyncio.to_thread(self.store.delivered, oid, "notify")
        return 1

    async def _log_stranded(self) -> None:
        for oid, report in await asyncio.to_thread(self.store.stranded, "notify", list(self.notifiers)):
            if oid not in self._stranded:
                self._stranded.add(oid)
                who = UserRef(report["channel"] or "", report["user_ref"] or "")
                logger.warning("status notice of %s to %s waits: no notifier for channel %r here",
                               report["ticket"], who, report["channel"])

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
