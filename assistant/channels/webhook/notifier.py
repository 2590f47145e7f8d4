"""The webhook channel's `Notifier` (ports.Notifier): a report's status change is POSTed to the caller's callback URL,
signed like the intake (X-Gridworker-Timestamp, X-Gridworker-Signature), with the notice a resident reads:

    {"user": "...", "ticket": "GW...", "status": "assigned", "status_zh": "已派单", "note": "...", "text": "..."}

A callback that fails (unreachable, not 2xx) raises, so the outbox keeps the notice and retries it."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx

from assistant.channels.webhook.adapter import sign
from assistant.desk.notices import status_notice
from assistant.domain import STATUS_ZH
from assistant.privacy import mask
from assistant.prompts import Prompts, default
from assistant.settings import WebhookSettings

logger = logging.getLogger(__name__)


class WebhookNotifier:
    """The webhook channel's status notices: one signed POST to the callback URL per notice."""

    def __init__(self, settings: WebhookSettings, prompts: Prompts | None = None) -> None:
        self.settings = settings
        self.prompts = prompts or default()

    async def notify_status(self, user_ref: str, report: dict[str, Any], note: str) -> None:
        """POST the notice to the callback URL; without one configured there is no one to tell (logged)."""
        s = self.settings
        if not s.callback_url or s.secret is None:
            logger.warning("webhook notice for %s not sent: no callback URL configured", report.get("ticket"))
            return
        body = json.dumps({
            "user": user_ref, "ticket": report["ticket"], "status": report["status"],
            "status_zh": STATUS_ZH.get(report["status"], report["status"]), "note": mask(note),
            "text": status_notice(report, note, self.prompts),
        }, ensure_ascii=False).encode("utf-8")
        now = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Gridworker-Timestamp": now,
                   "X-Gridworker-Signature": sign(s.secret.get_secret_value(), now, body)}
        async with httpx.AsyncClient(timeout=s.timeout_s) as client:
            response = await client.post(s.callback_url, content=body, headers=headers)
        response.raise_for_status()
