"""The front desk: one neutral message in, the reply out, whatever the channel.

    event      → subscribe: the welcome; a menu click: its text (REPORT starts a report)
    rate limit → too fast (per channel and resident)
    text/voice → too long? → progress query → rating → a report in progress takes it → what the message reads as:
                 a problem (or 我要上报) starts a report; a question that also tells one gets the answer and the offer;
                 anything else the answer
    image      → added to the report (or starts one)        location → fills the report's place (or starts one)
A channel's adapter turns its protocol into a `Message` and delivers the reply its own way (WeChat within its
5-second window, the webhook in its HTTP response). Runs in a worker thread: one call per message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from assistant.answering.pipeline import AnswerService
from assistant.desk.message import Message
from assistant.desk.reports import ReportDesk
from assistant.domain import UserRef
from assistant.prompts import Prompts
from assistant.ratelimit import Limiter

logger = logging.getLogger(__name__)

MENU = {"POLICY": "desk.menu_policy", "REPORT": "desk.menu_report", "PROGRESS": "desk.menu_progress"}


def conversation_id(user: UserRef) -> str:
    """The answer service's conversation of a resident (WeChat's under its earlier name)."""
    return f"wx:{user.ref}" if user.channel == "wechat" else f"{user.channel}:{user.ref}"


class FrontDesk:
    """Every channel's residents, one routing: `respond` to a neutral message. `reports` is the reporting
    conversation (None: questions only); `limiters` the rate limit of each channel, per resident."""

    def __init__(self, answers: AnswerService, reports: ReportDesk | None = None, prompts: Prompts | None = None,
                 limiters: Mapping[str, Limiter] | None = None) -> None:
        self.answers = answers
        self.reports = reports
        self.prompts = prompts or answers.prompts
        self.limiters = dict(limiters or {})  # per channel; a channel without one is not limited here
        self.model_calls = 0  # answers produced by this process (tests and metrics read it)

    def say(self, key: str, **values: object) -> str:
        return self.prompts.say(key, **values)

    def respond(self, message: Message) -> str | None:
        """The reply to one message; None when there is nothing to say (an unsubscribe, a view event …)."""
        if message.kind == "event":
            return self._event(message)
        limiter = self.limiters.get(message.channel)
        if limiter is not None and not limiter.allow(_client(message.user))[0]:
            return self.say("desk.too_fast")
        user, kind = message.user, message.kind
        if kind == "text":
            return self.on_text(user, message.text)
        if kind == "voice":
            said = message.text.strip()
            return self.on_text(user, said) if said else self.say("desk.voice_unclear")
        if kind == "image":
            if self.reports is not None and message.media_id:
                return self.reports.handle_image(user, message.media_id) or self.say("desk.image")
            return self.say("desk.image")
        if kind == "location" and message.place is not None:
            place = message.place
            if self.reports is not None:
                done = self.reports.handle_location(user, place.latitude, place.longitude, place.label)
                if done:
                    return done
            return self.say("desk.location", label=place.label)
        if kind == "link":
            return self.say("desk.link", title=message.title)
        return self.say("desk.unsupported")

    def _event(self, message: Message) -> str | None:
        event = message.event.lower()
        if event.startswith("subscribe"):
            return self.say("desk.welcome")
        if event == "click":
            key = message.key.upper()
            if key == "REPORT" and self.reports is not None:
                return self.reports.start(message.user)
            return self.say(MENU.get(key, MENU["POLICY"]))
        return None  # unsubscribe, location reports, view …: nothing to say

    def on_text(self, user: UserRef, text: str) -> str:
        """A resident's words: progress, rating and a report in progress first; then what the message is: a problem
        to handle starts a report at once, a question that also tells a problem gets the answer and 「回复1上报」,
        anything else the answer."""
        text = text.strip()
        desk = self.reports
        if desk is None or not text:
            return self.ask(user, text)
        limit = self.answers.settings.max_question_chars
        if len(text) > limit:  # bounded at the edge: a draft in progress never sees an oversized message
            return self.say("desk.too_long", limit=limit)
        if desk.wants_progress(text):
            return desk.progress(user, text)
        rated = desk.rate(user, text)
        if rated:
            return rated
        if desk.takes(user, text):
            return desk.handle_text(user, text)
        reading = desk.read(text)
        desk.observe(user, text, reading)
        if desk.wants_report(text) or reading.intent in ("report", "emergency"):
            # an emergency gets the emergency line first, and the center a report of it
            return desk.start(user, text, by_assistant=not desk.wants_report(text),
                              emergency=reading.intent == "emergency")
        answer = self.ask(user, text, offer=False)
        if reading.intent == "both":  # the answer, and the report ready to confirm (or 「回复1」 for what is missing)
            return f"{answer}\n{desk.offer(user)}".strip()
        return answer

    def ask(self, user: UserRef, text: str, offer: bool | None = None) -> str:
        """The answer service's answer (the resident persona, the resident's own conversation)."""
        text = text.strip()
        limit = self.answers.settings.max_question_chars
        if not text:
            return self.say(MENU["POLICY"])
        if len(text) > limit:
            return self.say("desk.too_long", limit=limit)
        self.model_calls += 1
        answer = self.answers.answer(text, "resident", conversation_id=conversation_id(user), report_offer=offer)
        if self.reports is not None and answer.report_suggested:
            self.reports.offer(user)
        return answer.answer


def _client(user: UserRef) -> str:
    """Whom a rate-limit bucket counts: the channel's id for the resident (WeChat's bucket keeps the bare openid)."""
    return user.ref if user.channel == "wechat" else f"{user.channel}:{user.ref}"
