"""The WeChat API for customer-service messages, on wechatpy's synchronous client (call it from a thread).

The access_token is fetched and refreshed in one place: the channel store holds it for every worker process, and a
store-held lock (a short claim) makes one process fetch while the others wait and read. wechatpy refreshes once on
40001/40014/42001 and retries; 45009 (the daily quota) is remembered until the next day instead of hammering; the
API base comes from settings (tests point it at a fake on loopback).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

from assistant.channels.wechat.store import ChannelStore

logger = logging.getLogger(__name__)
QUOTA_EXHAUSTED = 45009
OUT_OF_WINDOW = 45015
NO_PERMISSION = 48001


class StoreSession(SessionStorage):  # type: ignore[misc]
    """wechatpy's session storage on the channel store (shared by processes, survives restarts)."""

    def __init__(self, store: ChannelStore) -> None:
        self.store = store

    def get(self, key: str, default: Any = None) -> Any:
        data = self.store.get(f"session:{key}")
        return default if data is None else data.get("v", default)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        self.store.put(f"session:{key}", {"v": value}, ttl)

    def delete(self, key: str) -> None:
        self.store.put(f"session:{key}", {}, 1)


class SendError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class WeChatApi(WeChatClient):  # type: ignore[misc]
    def __init__(self, app_id: str, secret: str, api_base: str, store: ChannelStore) -> None:
        super().__init__(app_id, secret, session=StoreSession(store))
        self.API_BASE_URL = api_base if api_base.endswith("/") else api_base + "/"
        self.store = store

    def fetch_access_token(self) -> Any:
        """One refresh per stale token across processes: whoever claims the refresh of the token in hand fetches a
        new one; the others wait for it to appear in the shared session instead of fetching their own (a second
        fetch would invalidate the first)."""
        stale = str(self.session.get(self.access_token_key) or "")
        if not self.store.claim(f"token-refresh:{stale}", "token", 30.0):
            for _ in range(50):
                time.sleep(0.1)
                token = self.session.get(self.access_token_key)
                if token and token != stale:
                    return {"access_token": token}
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )

    def send_text(self, openid: str, text: str) -> None:
        """One customer-service text message. Raises SendError with WeChat's errcode."""
        quota = self.store.get("quota-exhausted")
        if quota and quota.get("day") == time.strftime("%Y%m%d"):
            raise SendError(QUOTA_EXHAUSTED, "daily API quota exhausted (remembered until tomorrow)")
        try:
            self.message.send_text(openid, text)
        except WeChatClientException as exc:
            code = int(exc.errcode or 0)
            if code == QUOTA_EXHAUSTED:
                self.store.put("quota-exhausted", {"day": time.strftime("%Y%m%d")}, 86400)
                logger.error("WeChat API daily quota exhausted (45009): customer-service messages stop until tomorrow")
            raise SendError(code, str(exc.errmsg)) from exc
