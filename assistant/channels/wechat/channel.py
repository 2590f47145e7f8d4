"""The WeChat channel: a verified push in, a reply out, inside WeChat's 5-second window, exactly once.

    push → dedupe key (MsgId, or FromUserName + CreateTime for events) → attach to the job already running for it
    (this process, or another through the store) or claim it and start one → wait up to the reply budget (4.5 s):
      ready   → passive reply (the first piece of at most 2048 UTF-8 bytes; the rest through customer service when
                the account may push, otherwise kept for the resident to collect);
      late    → verified account: answer `success`, push the answer through the customer-service API when ready
                (48-hour / 5-message window; out of window or no permission → kept to collect);
                unverified: keep the connection until WeChat gives up on this attempt; its retry attaches to the
                same job; the last attempt tells the resident to send any message to collect the answer.
A message is answered by one model call and delivered once, however many retries and worker processes there are.
With the channel store (Redis) unreachable a message can be neither deduplicated nor claimed, so it is not processed:
the resident is asked at once to send it again (`desk.unavailable`) and the operator gets an error in the log.
What a message means and what to say is the front desk's (`assistant/desk/`): a push becomes its neutral `Message`
(`to_message`); the fixed texts are in prompts/messages.toml.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from assistant.channels.wechat.client import NO_PERMISSION, OUT_OF_WINDOW, SendError, WeChatApi
from assistant.channels.wechat.protocol import Inbound, split_utf8
from assistant.channels.wechat.store import ChannelStore
from assistant.desk.front import FrontDesk
from assistant.desk.message import Message, Place
from assistant.desk.notices import status_notice
from assistant.domain import UserRef
from assistant.errors import DependencyUnavailable, GridworkerError
from assistant.settings import WeChatSettings

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Outcome:
    """What to answer WeChat: a passive text (rendered by the protocol), or `success` (nothing to show)."""

    text: str | None


class WeChatChannel:
    """WeChat's protocol and delivery; what a message means is the front desk's (`desk`). Also the channel's
    `Notifier` (ports.Notifier): a report's status notice goes out like a late answer."""

    def __init__(
        self,
        desk: FrontDesk,
        store: ChannelStore,
        settings: WeChatSettings,
        api: WeChatApi | None = None,
        responder: Callable[[Inbound], str | None] | None = None,
    ) -> None:
        self.desk = desk
        self.store = store
        self.settings = settings
        self.api = api
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.jobs: dict[str, asyncio.Task[str | None]] = {}
        self.respond = responder or self.respond_to

    def say(self, key: str) -> str:
        return self.desk.prompts.say(key)

    # -- the push ------------------------------------------------------------------------------------------------
    async def handle(self, inbound: Inbound) -> Outcome:
        if not inbound.checked:
            return self._unavailable(inbound, "its replay check could not run")
        try:
            return await self._handle(inbound)
        except DependencyUnavailable as exc:
            return self._unavailable(inbound, str(exc))

    def _unavailable(self, inbound: Inbound, why: str) -> Outcome:
        logger.error("wechat %s from …%s not processed (no dedupe without the channel store), asked to resend: %s",
                     inbound.dedupe_key, inbound.openid[-6:], why)
        return Outcome(self.say("desk.unavailable"))

    async def _handle(self, inbound: Inbound) -> Outcome:
        key = inbound.dedupe_key
        attempt = await asyncio.to_thread(self.store.attempt, key)
        if inbound.msg_type != "event":
            await asyncio.to_thread(self.store.open_window, inbound.openid)
        job = self.jobs.get(key)
        if job is None:
            done = await asyncio.to_thread(self.store.result, key)
            if done is not None:  # finished earlier (this or another process, or before a restart)
                return await self._deliver_now(inbound, key, done)
            if await asyncio.to_thread(self.store.claim, key, self.owner, self.settings.job_lease_s) or (
                self._owner_died(previous := await asyncio.to_thread(self.store.owner, key))
                and await asyncio.to_thread(self.store.take_over, key, self.owner, previous or "")
            ):
                job = asyncio.create_task(self._run(inbound, key))
                self.jobs[key] = job
            else:
                return await self._follow(inbound, key, attempt)  # another process is answering it
        try:
            text = await asyncio.wait_for(asyncio.shield(job), self.settings.reply_budget_s)
        except TimeoutError:
            return await self._late(inbound, key, attempt, job)
        return await self._deliver_now(inbound, key, text)

    @staticmethod
    def _owner_died(owner: str | None) -> bool:
        """A claim held by a process of this host that no longer runs (a restart): its job is taken over at once."""
        if not owner:
            return False
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    async def _run(self, inbound: Inbound, key: str) -> str | None:
        try:
            text = await asyncio.to_thread(self.respond, inbound)
        except DependencyUnavailable as exc:
            logger.error("wechat job %s failed: %s", key, exc)
            text = self.say("desk.unavailable")
        except GridworkerError as exc:
            logger.error("wechat job %s failed: %s", key, exc)
            text = exc.user_message
        except Exception:
            logger.exception("wechat job %s crashed", key)
            text = self.say("desk.failed")
        try:
            await asyncio.to_thread(self.store.set_result, key, text or "")
        finally:
            asyncio.get_running_loop().call_later(600, self.jobs.pop, key, None)
        return text

    async def _follow(self, inbound: Inbound, key: str, attempt: int) -> Outcome:
        """The job runs in another process: poll the store for its result within the budget."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.reply_budget_s
        while loop.time() < deadline:
            done = await asyncio.to_thread(self.store.result, key)
            if done is not None:
                return await self._deliver_now(inbound, key, done)
            await asyncio.sleep(0.1)
        if attempt >= self.settings.attempts and not self.settings.verified:
            return Outcome(self.say("desk.collect"))
        if self.settings.verified:
            return Outcome(None)  # the owner pushes it when ready
        await asyncio.sleep(self.settings.hold_s)  # hold: WeChat drops this attempt and retries
        return Outcome(None)

    async def _deliver_now(self, inbound: Inbound, key: str, text: str | None) -> Outcome:
        if not text:
            return Outcome(None)
        # Not "delivered" until WeChat has it: a retry of this message means the earlier reply never arrived (a
        # dropped connection, a kill -9 after the answer was ready), so it gets the same text again.
        got = await asyncio.to_thread(self.store.passive_reply, key, inbound.openid,
                                       self.say("desk.pending_head"))
        if got is None:
            return Outcome(None)  # it went out through customer service, or was kept to collect
        composed, first_time = got
        first, *rest = split_utf8(composed, self.settings.reply_max_bytes)
        if first_time:
            for piece in rest:
                await self._push_or_keep(inbound.openid, piece)
        return Outcome(first)

    async def _late(self, inbound: Inbound, key: str, attempt: int, job: asyncio.Task[str | None]) -> Outcome:
        if self.settings.verified:
            job.add_done_callback(lambda j: self._in_background(key, self._push_when_done(inbound, key, j)))
            return Outcome(None)  # `success`: WeChat stops retrying, the answer goes out by customer service
        if attempt >= self.settings.attempts:
            job.add_done_callback(lambda j: self._in_background(key, self._keep_when_done(inbound, key, j)))
            return Outcome(self.say("desk.collect"))
        # Hold the connection past WeChat's cut-off: it gives up on this attempt and retries, and the retry attaches
        # to the same job. Nothing is delivered here: a reply after the cut-off would go to a closed connection.
        await asyncio.sleep(self.settings.hold_s)
        return Outcome(None)

    @staticmethod
    def _in_background(key: str, work: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except DependencyUnavailable as exc:
                logger.error("wechat job %s: its late answer is lost, the channel store is unavailable: %s", key, exc)

        asyncio.ensure_future(guarded())

    async def _push_when_done(self, inbound: Inbound, key: str, job: asyncio.Task[str | None]) -> None:
        text = job.result() if not job.cancelled() else None
        if not text or not await asyncio.to_thread(self.store.mark_delivered, key):
            return
        for piece in split_utf8(text, self.settings.reply_max_bytes):
            await self._push_or_keep(inbound.openid, piece)

    async def _keep_when_done(self, inbound: Inbound, key: str, job: asyncio.Task[str | None]) -> None:
        text = job.result() if not job.cancelled() else None
        if not text or not await asyncio.to_thread(self.store.mark_delivered, key):
            return
        await asyncio.to_thread(self.store.add_pending, inbound.openid, text)

    async def _push_or_keep(self, openid: str, text: str) -> None:
        """Customer-service push when the account may and the window allows; otherwise kept to collect."""
        s = self.settings
        if self.api is not None and s.verified and await asyncio.to_thread(
            self.store.use_window, openid, s.cs_window_hours, s.cs_window_messages
        ):
            try:
                await asyncio.to_thread(self.api.send_text, openid, text)
                return
            except SendError as exc:
                logger.warning("customer-service push to %s failed (%s); kept to collect", openid[-6:], exc.code)
                if exc.code not in (OUT_OF_WINDOW, NO_PERMISSION):
                    logger.error("unexpected WeChat API error %s", exc)
        await asyncio.to_thread(self.store.add_pending, openid, text)

    async def notify_status(self, user_ref: str, report: dict[str, Any], note: str) -> None:
        """A report's status changed: tell the resident (customer service when allowed, else on their next message)."""
        await self._push_or_keep(user_ref, status_notice(report, note, self.desk.prompts))

    # -- what a message means: the front desk's ---------------------------------------------------------------
    def respond_to(self, inbound: Inbound) -> str | None:
        """The reply to one message (runs in a worker thread; one call per message): the push as a neutral message,
        answered by the front desk."""
        return self.desk.respond(to_message(inbound))


def to_message(inbound: Inbound) -> Message:
    """WeChat's push as the front desk's neutral message."""
    msg: Any = inbound.message
    kind = inbound.msg_type
    user = UserRef("wechat", inbound.openid)
    if kind == "event":
        return Message(user, "event", event=str(getattr(msg, "event", "")), key=str(getattr(msg, "key", "")))
    if kind == "text":
        return Message(user, "text", str(msg.content or ""))
    if kind == "voice":
        return Message(user, "voice", str(getattr(msg, "recognition", "") or ""))
    if kind == "image":
        return Message(user, "image", media_id=str(getattr(msg, "media_id", "") or ""))
    if kind == "location":
        lat, lng = (float(x) for x in getattr(msg, "location", (0.0, 0.0)))
        return Message(user, "location", place=Place(lat, lng, str(getattr(msg, "label", "") or "")))
    if kind == "link":
        return Message(user, "link", title=str(getattr(msg, "title", "")))
    return Message(user, "other")
