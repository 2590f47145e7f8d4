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
the resident is asked at once to send it again (UNAVAILABLE) and the operator gets an error in the log.
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

from assistant.answering.pipeline import AnswerService
from assistant.api.security import Limiter, RateLimiter
from assistant.channels.wechat.client import NO_PERMISSION, OUT_OF_WINDOW, SendError, WeChatApi
from assistant.channels.wechat.protocol import Inbound, split_utf8
from assistant.channels.wechat.store import ChannelStore
from assistant.errors import DependencyUnavailable, GridworkerError
from assistant.reports.flow import ReportDesk
from assistant.settings import WeChatSettings

logger = logging.getLogger(__name__)

WELCOME = (
    "您好，欢迎关注！我是社区的“数智网格员”，可以：\n"
    "1. 解答低保、养老、就业、物业、养犬等政策问题，直接发文字或语音就行；\n"
    "2. 帮您上报问题（路灯坏了、违建、噪音扰民、独居老人需要关照等），回复“我要上报”；\n"
    "3. 查询上报进度，回复“查询进度”加工单号。\n"
    "遇到火灾、燃气泄漏、有人受伤等紧急情况，请先拨打119、110或120。"
)
MENU = {
    "POLICY": "请直接输入您想咨询的政策问题，例如“低保怎么申请”“遛狗不拴绳有人管吗”。",
    "REPORT": "请描述您要反映的问题和具体位置（也可以发送位置和照片），我来帮您生成工单。",
    "PROGRESS": "请回复“查询进度”加工单号（例如：查询进度 GW20261127-0001），或回复“我的上报”。",
}
COLLECT = "您的问题我们正在查询，答案准备好后，您发送任意消息即可收到。"
PENDING_HEAD = "您之前的问题已有答复：\n"
VOICE_UNCLEAR = "抱歉，暂时没能识别这条语音，请用文字描述您的问题。"
IMAGE = "收到您的照片。请用文字说明照片里的情况和具体位置；需要派人处理请回复“我要上报”。"
UNSUPPORTED = "暂不支持这种消息类型，请发送文字或语音。"
TOO_FAST = "您发送得太快了，请稍等一会儿再试。"
TOO_LONG = "消息太长了，请分几次发送，每次不超过{limit}个字。"
FAILED = "抱歉，系统暂时无法处理您的消息，请稍后再试；紧急情况请拨打110、119或120。"
UNAVAILABLE = "系统繁忙，您的这条消息暂未处理，请过一两分钟再发送一次；紧急情况请拨打110、119或120。"


@dataclass(slots=True)
class Outcome:
    """What to answer WeChat: a passive text (rendered by the protocol), or `success` (nothing to show)."""

    text: str | None


class WeChatChannel:
    def __init__(
        self,
        answers: AnswerService,
        store: ChannelStore,
        settings: WeChatSettings,
        api: WeChatApi | None = None,
        responder: Callable[[Inbound], str | None] | None = None,
        reports: ReportDesk | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self.answers = answers
        self.store = store
        self.settings = settings
        self.api = api
        self.reports = reports
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.jobs: dict[str, asyncio.Task[str | None]] = {}
        self.limiter = limiter or RateLimiter(settings.rate_per_minute, settings.rate_burst)
        self.respond = responder or self.respond_to
        self.model_calls = 0  # answers produced by this process (tests and metrics read it)

    # -- the push ------------------------------------------------------------------------------------------------
    async def handle(self, inbound: Inbound) -> Outcome:
        if not inbound.checked:
            return self._unavailable(inbound, "its replay check could not run")
        try:
            return await self._handle(inbound)
        except DependencyUnavailable as exc:
            return self._unavailable(inbound, str(exc))

    @staticmethod
    def _unavailable(inbound: Inbound, why: str) -> Outcome:
        logger.error("wechat %s from …%s not processed (no dedupe without the channel store), asked to resend: %s",
                     inbound.dedupe_key, inbound.openid[-6:], why)
        return Outcome(UNAVAILABLE)

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
            text = UNAVAILABLE
        except GridworkerError as exc:
            logger.error("wechat job %s failed: %s", key, exc)
            text = exc.user_message
        except Exception:
            logger.exception("wechat job %s crashed", key)
            text = FAILED
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
            return Outcome(COLLECT)
        if self.settings.verified:
            return Outcome(None)  # the owner pushes it when ready
        await asyncio.sleep(self.settings.hold_s)  # hold: WeChat drops this attempt and retries
        return Outcome(None)

    async def _deliver_now(self, inbound: Inbound, key: str, text: str | None) -> Outcome:
        if not text:
            return Outcome(None)
        # Not "delivered" until WeChat has it: a retry of this message means the earlier reply never arrived (a
        # dropped connection, a kill -9 after the answer was ready), so it gets the same text again.
        got = await asyncio.to_thread(self.store.passive_reply, key, inbound.openid, PENDING_HEAD)
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
            return Outcome(COLLECT)
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

    async def notify_status(self, openid: str, report: dict[str, Any], note: str) -> None:
        """A report's status changed: tell the resident (customer service when allowed, else on their next message)."""
        from assistant.reports.flow import status_notice

        await self._push_or_keep(openid, status_notice(report, note))

    # -- what a message means ------------------------------------------------------------------------------------
    def respond_to(self, inbound: Inbound) -> str | None:
        """The reply to one message (runs in a worker thread; one call per message)."""
        msg: Any = inbound.message
        kind = inbound.msg_type
        if kind == "event":
            event = str(getattr(msg, "event", "")).lower()
            if event.startswith("subscribe"):
                return WELCOME
            if event == "click":
                key = str(getattr(msg, "key", "")).upper()
                if key == "REPORT" and self.reports is not None:
                    return self.reports.start(inbound.openid)
                return MENU.get(key, MENU["POLICY"])
            return None  # unsubscribe, LOCATION reports, view …: nothing to say
        allowed, _ = self.limiter.allow(inbound.openid)
        if not allowed:
            return TOO_FAST
        if kind == "text":
            return self.on_text(inbound.openid, str(msg.content or ""))
        if kind == "voice":
            said = str(getattr(msg, "recognition", "") or "").strip()
            return self.on_text(inbound.openid, said) if said else VOICE_UNCLEAR
        if kind == "image":
            media = str(getattr(msg, "media_id", "") or "")
            if self.reports is not None and media:
                return self.reports.handle_image(inbound.openid, media) or IMAGE
            return IMAGE
        if kind == "location":
            label = str(getattr(msg, "label", "") or "")
            if self.reports is not None:
                lat, lng = (float(x) for x in getattr(msg, "location", (0.0, 0.0)))
                done = self.reports.handle_location(inbound.openid, lat, lng, label)
                if done:
                    return done
            return f"已收到您的位置：{label}。请告诉我这里发生了什么问题，需要上报请回复“我要上报”。"
        if kind == "link":
            return f"收到链接《{getattr(msg, 'title', '')}》。请直接告诉我您想咨询的问题。"
        return UNSUPPORTED

    def on_text(self, openid: str, text: str) -> str:
        """A resident's words: progress, rating and a report in progress first; then what the message is: a problem
        to handle starts a report at once, a question that also tells a problem gets the answer and 「回复1上报」,
        anything else the answer."""
        text = text.strip()
        desk = self.reports
        if desk is None or not text:
            return self.ask(openid, text)
        limit = self.answers.settings.max_question_chars
        if len(text) > limit:  # bounded at the edge: a draft in progress never sees an oversized message
            return TOO_LONG.format(limit=limit)
        if desk.wants_progress(text):
            return desk.progress(openid, text)
        rated = desk.rate(openid, text)
        if rated:
            return rated
        if desk.takes(openid, text):
            return desk.handle_text(openid, text)
        reading = desk.read(text)
        desk.observe(openid, text, reading)
        if desk.wants_report(text) or reading.intent in ("report", "emergency"):
            # an emergency gets the emergency line first, and the center a report of it
            return desk.start(openid, text, by_assistant=not desk.wants_report(text),
                              emergency=reading.intent == "emergency")
        answer = self.ask(openid, text, offer=False)
        if reading.intent == "both":  # the answer, and the report ready to confirm (or 「回复1」 for what is missing)
            return f"{answer}\n{desk.offer(openid)}".strip()
        return answer

    def ask(self, openid: str, text: str, offer: bool | None = None) -> str:
        text = text.strip()
        limit = self.answers.settings.max_question_chars
        if not text:
            return MENU["POLICY"]
        if len(text) > limit:
            return TOO_LONG.format(limit=limit)
        self.model_calls += 1
        answer = self.answers.answer(text, "resident", conversation_id=f"wx:{openid}", report_offer=offer)
        if self.reports is not None and answer.report_suggested:
            self.reports.offer(openid)
        return answer.answer
