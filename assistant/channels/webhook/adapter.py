"""The webhook's protocol. A request is

    POST /channels/webhook/messages
    X-Gridworker-Timestamp: <unix seconds>
    X-Gridworker-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body, keyed by the shared secret>
    {"message_id": "...", "user": "...", "kind": "text" | "location" | "image", "text": "...",
     "latitude": 29.56, "longitude": 106.55, "label": "...", "media_id": "..."}

and is answered {"message_id": ..., "reply": "<the front desk's reply>"} (200), or {"error": code, "message":
Chinese text} with 401 (bad signature, stale timestamp), 409 (a message id already taken), 413 (body over the
limit), 400 (not JSON), 422 (not a message), 503 (a dependency down: send it again later). A message id is claimed in
the channel store (exactly once across processes and restarts); the desk runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from assistant.channels.wechat.store import ChannelStore
from assistant.desk.front import FrontDesk
from assistant.desk.message import Message, Place
from assistant.domain import UserRef
from assistant.errors import DependencyUnavailable, GridworkerError
from assistant.settings import WebhookSettings

logger = logging.getLogger(__name__)
CHANNEL = "webhook"
CLAIM_LEASE_S = 60.0  # a message whose processing died may be sent again after this long


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature of a request (or of a callback): `sha256=` and the hex HMAC-SHA256 of "<timestamp>." + body."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii", "replace") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Inbound(BaseModel):
    """One message as the caller sends it."""

    message_id: str = Field(min_length=1, max_length=128)
    user: str = Field(min_length=1, max_length=128)
    kind: Literal["text", "location", "image"] = "text"
    text: str = Field(default="", max_length=4000)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    label: str = Field(default="", max_length=200)
    media_id: str = Field(default="", max_length=256)

    def message(self) -> Message:
        user = UserRef(CHANNEL, self.user)
        if self.kind == "location":
            place = Place(self.latitude or 0.0, self.longitude or 0.0, self.label)
            return Message(user, "location", self.text, place=place)
        if self.kind == "image":
            return Message(user, "image", self.text, media_id=self.media_id)
        return Message(user, "text", self.text)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the route answers: an HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]


class WebhookChannel:
    """The webhook's adapter: verifies, parses, refuses replays, and asks the front desk."""

    def __init__(self, desk: FrontDesk, store: ChannelStore, settings: WebhookSettings) -> None:
        if settings.secret is None:
            raise ValueError("the webhook channel needs a secret")
        self.desk = desk
        self.store = store
        self.settings = settings
        self._secret = settings.secret.get_secret_value()

    def error(self, status: int, key: str, **values: object) -> Reply:
        """A refusal: the text `key` of messages.toml ("webhook.stale"), its last part the error code."""
        return Reply(status, {"error": key.rpartition(".")[2], "message": self.desk.prompts.say(key, **values)})

    async def handle(self, body: bytes, timestamp: str | None, signature: str | None) -> Reply:
        refused = self._refused(body, timestamp, signature)
        if refused is not None:
            return refused
        try:
            inbound = Inbound.model_validate(json.loads(body))
        except ValidationError as exc:  # JSON, but not a message
            return self.error(422, "webhook.bad_request", detail=_detail(exc))
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deep
            return self.error(400, "webhook.not_json")
        key = f"{CHANNEL}:{inbound.message_id}"
        try:
            if not await asyncio.to_thread(self.store.claim, key, "webhook", CLAIM_LEASE_S):
                return self.error(409, "webhook.replayed")
            text = await asyncio.to_thread(self.desk.respond, inbound.message())
            await asyncio.to_thread(self.store.set_result, key, text or "")
        except DependencyUnavailable as exc:
            logger.error("webhook message %s not processed: %s", key, exc)
            return Reply(503, {"error": "unavailable", "message": self.desk.prompts.say("desk.unavailable")})
        except GridworkerError as exc:
            logger.error("webhook message %s failed: %s", key, exc)
            text = exc.user_message
        return Reply(200, {"message_id": inbound.message_id, "reply": text or ""})

    def _refused(self, body: bytes, timestamp: str | None, signature: str | None) -> Reply | None:
        """413 over the size limit; 401 unless the signature is the secret's over this timestamp and body, and the
        timestamp is recent (a captured request sent again after the window is refused here; within it, by its
        message id)."""
        if len(body) > self.settings.max_body_bytes:
            return self.error(413, "webhook.too_large")
        expected = sign(self._secret, timestamp or "", body).encode("ascii")
        if not timestamp or not signature or not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            return self.error(401, "webhook.bad_signature")
        fresh = timestamp.isascii() and timestamp.isdigit()
        if not fresh or abs(time.time() - int(timestamp)) > self.settings.timestamp_window_s:
            return self.error(401, "webhook.stale")
        return None


def _detail(exc: ValidationError) -> str:
    """What was wrong with a message, in a few words (field names and pydantic's message, never the values)."""
    return "；".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:3])
