"""From chat to a submitted report: the resident's reporting conversation, one state per resident (`UserRef`: the
channel and its id for them), kept in the session store, so it survives restarts and is shared by worker processes.

    idle ──a message that reads as a report / 我要上报 / menu 我要上报──▶ drafting ──all required fields──▶ confirming
      │                                                                  ▲ asks one thing at a time │ 修改 ▲ 取消 → idle
      └─a question that also tells a problem: answer + 「回复1上报」──▶ offered ──1──▶ drafting       └─确认─▶ submitted
The last minutes of the chat are remembered (what the resident said, the location and photos they sent): a draft
starts from all of it, so nothing they already told is asked again. Submission is idempotent on the draft's key: a
double 确认 or a channel's retry gives the same ticket. Every text the resident reads is in prompts/messages.toml
([report]).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from assistant.answering.emergency import EmergencyDetector
from assistant.desk.notices import progress_line
from assistant.dispatch.store import DispatchStore
from assistant.domain import Location, ReportDraft, UserRef
from assistant.ports import ChatModel, SessionStore
from assistant.privacy import mask, mask_contact
from assistant.prompts import Prompts, default
from assistant.reports.extract import clean_description, extract_llm, extract_rules
from assistant.reports.grids import GridMap
from assistant.reports.intent import TRIGGER, IntentReader, Reading
from assistant.retrieval.normalize import normalize_query

logger = logging.getLogger(__name__)

CONFIRM = re.compile(r"^(确认|确定|提交|是的?|对的?|好的?|没问题|可以|ok)[。！!.]*$", re.IGNORECASE)
CANCEL = re.compile(r"^(取消|算了|不用了|不报了|不要了|放弃)[。！!.]*$")
MODIFY = re.compile(r"^(修改|更正|改一下|不对|有误)[。！!.]*$")
PROGRESS = re.compile(r"(查询进度|进度查询|查进度|我的上报|我的工单|工单进度)")
TICKET = re.compile(r"GW\d{8}-\d{4}", re.IGNORECASE)
RATE = re.compile(r"^评价\s*([1-5])\s*分?$")

ASK = {"description": "report.ask_description", "location": "report.ask_location"}  # what a missing field asks
OFFER_YES = re.compile(r"^(1|１|一|上报|要上报|报|帮我报|需要|要|好|好的|可以|确认|是的?)[。！!.]*$")
MEMORY_S = 600.0  # how far back the chat fills a draft
_WHERE = re.compile(r"^(?:就在|在|位置是|地址是|地点是|地点在|位置在|地方是)")


@dataclass(slots=True)
class Flow:
    state: str = "idle"  # idle | offered | drafting | confirming | modifying
    draft: dict[str, Any] | None = None
    key: str = ""
    recent: list[dict[str, Any]] | None = None  # the last minutes: {"t", "kind": text|location|image, ...}
    by_assistant: bool = False  # the flow was started by the assistant's reading, not by 我要上报


class ReportDesk:
    """The reporting conversation of every channel's residents, each keyed by their `UserRef`."""

    def __init__(self, store: SessionStore, dispatch: DispatchStore, chat: ChatModel | None = None,
                 extract_prompt: str = "", gas_hotline: str = "96777", grids: GridMap | None = None,
                 intent: IntentReader | None = None, detector: EmergencyDetector | None = None,
                 memory_s: float = MEMORY_S, prompts: Prompts | None = None) -> None:
        self.store = store
        self.prompts = prompts or default()
        self.grids = grids
        self.dispatch = dispatch
        self.chat = chat
        self.extract_prompt = extract_prompt
        self.detector = EmergencyDetector(gas_hotline)  # the rules: what each message says in so many words
        self.alarm = detector or self.detector  # emergency triage with its semantic layer, when given
        self.intent = intent or IntentReader()
        self.memory_s = memory_s

    # -- state -----------------------------------------------------------------------------------------------
    def load(self, user: UserRef) -> Flow:
        data = self.store.get(_flow_name(user)) or {}
        return Flow(**{k: v for k, v in data.items() if k in Flow.__slots__})

    def save(self, user: UserRef, flow: Flow) -> None:
        # what the resident said is kept only as long as it may fill a draft; a draft (or a filed report's key, for
        # a repeated 确认) for a week
        ttl = 7 * 86400 if flow.state != "idle" or flow.key else int(self.memory_s) + 60
        self.store.put(_flow_name(user), {k: getattr(flow, k) for k in Flow.__slots__}, ttl)

    def active(self, user: UserRef) -> bool:
        return self.load(user).state not in ("idle", "offered")

    def _recent(self, flow: Flow) -> list[dict[str, Any]]:
        now = time.time()
        return [e for e in (flow.recent or []) if now - float(e.get("t", 0)) <= self.memory_s][-12:]

    def observe(self, user: UserRef, text: str, reading: Reading | None = None) -> None:
        """Remember what the resident said (and what it read as) for a draft that may follow."""
        flow = self.load(user)
        entry = {"t": time.time(), "kind": "text", "text": text[:500],
                 "intent": reading.intent if reading else "question"}
        flow.recent = [*self._recent(flow), entry]
        if flow.state == "offered" and not (reading and reading.reportable):
            flow.state = "idle"  # the offer lapses when the resident moves on
        self.save(user, flow)

    def read(self, text: str) -> Reading:
        return self.intent.read(text)

    # -- entry points ----------------------------------------------------------------------------------------
    def wants_report(self, text: str) -> bool:
        return bool(TRIGGER.search(normalize_query(text)))

    def wants_progress(self, text: str) -> bool:
        return bool(PROGRESS.search(text) or TICKET.fullmatch(text.strip()))

    def offer(self, user: UserRef) -> str:
        """The answer offers to file what the resident told: with everything there, the summary to confirm at once
        (「确认」 or 「1」 files it); otherwise 「回复1」 starts the draft and asks what is missing."""
        flow = self.load(user)
        if flow.state != "idle":
            return ""
        draft = self._judge(self._from_memory(self._recent(flow)))
        ready = bool(draft.description) and not draft.missing()
        flow.state = "offered"
        flow.draft = draft.model_dump() if ready else None
        flow.key = _new_key(user) if ready else flow.key
        self.save(user, flow)
        return self.say("report.offer_ready", summary=draft.summary()) if ready else self.say("report.offer")

    def _from_memory(self, recent: list[dict[str, Any]], text: str = "") -> ReportDraft:
        """A draft from what the chat holds: what the resident said (what read as a problem), sent and showed."""
        said = [e["text"] for e in recent if e["kind"] == "text" and e.get("intent") not in ("chitchat", "question")]
        if not said:  # nothing read as a problem: the last thing said that was not small talk
            said = [e["text"] for e in recent if e["kind"] == "text" and e.get("intent") != "chitchat"][-1:]
        seeds = {_told(t): None for t in [*said, text] if len(clean_description(_told(t))) >= 4}
        draft = ReportDraft()
        places = [e for e in recent if e["kind"] == "location"]
        if places:
            draft.location = Location(**places[-1]["location"])
        draft.photos = [e["media_id"] for e in recent if e["kind"] == "image"][-9:]
        for seed in seeds:
            draft = self._extract(seed, draft)
        return draft

    def start(self, user: UserRef, text: str = "", by_assistant: bool = False, emergency: bool = False) -> str:
        """A draft from what the chat holds: this message, what the resident said, sent and showed before it."""
        flow = self.load(user)
        recent = self._recent(flow)
        draft = self._judge(self._from_memory(recent, text))
        if emergency:
            draft.urgency = "emergency"
        flow = Flow(state="drafting", draft=draft.model_dump(), key=_new_key(user),
                    recent=recent, by_assistant=by_assistant)
        reply = self._next(user, flow, draft)
        return f"{self.say('report.taken')}\n{reply}" if by_assistant and not reply.startswith("【") else reply

    def takes(self, user: UserRef, text: str) -> bool:
        """Whether this text belongs to the reporting conversation: a draft in progress, a yes to the offer, or a
        repeated 确认."""
        flow = self.load(user)
        t = normalize_query(text)
        if flow.state == "offered":
            return bool(OFFER_YES.match(t))
        if flow.state == "drafting" and not (flow.draft or {}).get("description") and self.intent.mode == "learned" \
                and self.intent.read(text).intent in ("question", "chitchat"):
            # a draft that a photo or a location started, and the resident asks something else: it waits in the
            # chat's memory, the question is answered
            flow.state, flow.draft = "idle", None
            self.save(user, flow)
            return False
        return flow.state != "idle" or (bool(flow.key) and bool(CONFIRM.match(t)))

    def rate(self, user: UserRef, text: str) -> str | None:
        m = RATE.match(normalize_query(text))
        if not m:
            return None
        done = [r for r in self.dispatch.listing(user=user, limit=10) if r["status"] in ("resolved", "closed")]
        if not done:
            return self.say("report.nothing_to_rate")
        self.dispatch.update(done[0]["id"], "resident", rating=int(m.group(1)))
        return self.say("report.rated", score=m.group(1), ticket=done[0]["ticket"])

    def handle_text(self, user: UserRef, text: str) -> str:
        flow = self.load(user)
        t = normalize_query(text)
        if flow.state == "offered":
            if flow.draft:  # the offer showed the whole report: a yes files it
                return self._submit(user, flow, _draft(flow))
            flow.state = "idle"
            self.save(user, flow)
            return self.start(user, by_assistant=True)
        draft = _draft(flow)
        if flow.state == "idle" and flow.key and CONFIRM.match(t):
            if not flow.draft:
                return self.say("report.cancelled")
            result = self.dispatch.submit(draft, flow.key, user=user)
            return self.say("report.already", ticket=result.report["ticket"])
        if CANCEL.match(t):
            self.save(user, Flow())
            return self.say("report.cancelled")
        if flow.state == "confirming":
            if CONFIRM.match(t):
                return self._submit(user, flow, draft)
            if MODIFY.match(t):
                flow.state = "modifying"  # the next message corrects the draft: what it names replaces
                self.save(user, flow)
                return self.say("report.modify")
        asked_location = flow.state == "drafting" and "location" in draft.missing() and bool(draft.description)
        updated = self._extract(text, draft, replace=flow.state == "modifying")
        if asked_location and 2 <= len(t) <= 40:
            # we asked where: a short answer is the place, as the resident said it (however vague); a long one
            # gives the place it names (extracted above)
            updated.location = updated.location.model_copy(update={"text": _WHERE.sub("", t).strip("，,。 ")[:200]})
        return self._next(user, flow, self._judge(updated))

    def handle_location(self, user: UserRef, lat: float, lng: float, label: str) -> str:
        """A location message fills the draft's location (or is remembered for the next report)."""
        loc = Location(text=label or "", latitude=lat, longitude=lng, label=label or None)
        flow = self.load(user)
        if flow.state in ("idle", "offered"):
            flow.recent = [*self._recent(flow), {"t": time.time(), "kind": "location", "location": loc.model_dump()}]
            self.save(user, flow)
            # a place sent to the grid worker is a place where something needs handling: a draft starts from it
            # and what the resident said just before; whatever is still missing is asked
            return self.start(user, by_assistant=True)
        draft = _draft(flow)
        if draft.location.text and not label:
            loc.text = draft.location.text
        elif draft.location.text and draft.location.text not in (label or ""):
            loc.text = f"{draft.location.text}（{label}）" if label else draft.location.text
            loc.label = None
        draft.location = loc
        return self._next(user, flow, draft)

    def handle_image(self, user: UserRef, media_id: str) -> str:
        flow = self.load(user)
        if flow.state in ("idle", "offered"):
            flow.recent = [*self._recent(flow), {"t": time.time(), "kind": "image", "media_id": media_id}]
            self.save(user, flow)
            return self.start(user, by_assistant=True)  # a photo shows a problem: the draft starts with it
        draft = _draft(flow)
        if media_id not in draft.photos and len(draft.photos) < 9:
            draft.photos.append(media_id)
        return self.say("report.photo_added", count=len(draft.photos)) + "\n" + self._next(user, flow, draft)

    def progress(self, user: UserRef, text: str) -> str:
        m = TICKET.search(text)
        if m:
            report = self.dispatch.get(m.group(0).upper(), events=False)
            if report is None or not _belongs(report, user):  # residents see only their own tickets
                return self.say("report.not_found")
            return progress_line(report, self.prompts)
        mine = self.dispatch.listing(user=user, limit=5)
        if not mine:
            return self.say("report.none_yet")
        return self.say("report.recent") + "\n" + "\n".join(progress_line(r, self.prompts) for r in mine)

    # -- internals -------------------------------------------------------------------------------------------
    def say(self, key: str, **values: object) -> str:
        return self.prompts.say(key, **values)

    def _extract(self, text: str, draft: ReportDraft, replace: bool = False) -> ReportDraft:
        if replace:  # a correction while confirming: what it names replaces what the draft had
            fresh = extract_rules(text, ReportDraft(), self.detector, self.intent.place)
            draft = draft.model_copy(deep=True)
            if fresh.location.is_set():
                draft.location = fresh.location
            if fresh.category != "other":
                draft.category = fresh.category
            if fresh.urgency != "routine":
                draft.urgency = fresh.urgency
            if fresh.description and not fresh.location.is_set() and not MODIFY.match(fresh.description):
                draft.description = fresh.description
            return draft
        if self.chat is not None and self.extract_prompt:
            return extract_llm(self.chat, self.extract_prompt, text, draft)
        return extract_rules(text, draft, self.detector, self.intent.place)

    def _judge(self, draft: ReportDraft) -> ReportDraft:
        """Category and urgency read from everything the resident described (the learned models when here; the
        rules' reading, already in the draft, otherwise). An emergency stays one."""
        if self.intent.mode != "learned" or not draft.description or (self.chat is not None and self.extract_prompt):
            return draft
        reading = self.intent.read(draft.description)
        draft = draft.model_copy(deep=True)
        draft.category = reading.category  # type: ignore[assignment]
        # the urgency model alone: overriding it with emergency triage (which reads hazards, not how soon a report
        # needs handling) made urgency worse on both dev sets; the resident still gets the emergency line (_next)
        draft.urgency = "emergency" if reading.intent == "emergency" else reading.urgency  # type: ignore[assignment]
        return draft

    def _next(self, user: UserRef, flow: Flow, draft: ReportDraft) -> str:
        missing = draft.missing()
        # the emergency line whenever the report is an emergency or emergency triage reads danger in what was told
        # (the report's urgency, for the center, is the urgency model's; the resident is told the numbers anyway)
        alarm = self.alarm.detect(draft.description) if draft.description else None
        head = ""
        if draft.urgency == "emergency" or (alarm is not None and alarm.emergency):
            head = ((alarm.first_line if alarm is not None else "") or self.say("report.emergency")) + "\n"
        if missing:
            flow.state, flow.draft = "drafting", draft.model_dump()
            self.save(user, flow)
            return head + self.say(ASK[missing[0]])
        flow.state, flow.draft = "confirming", draft.model_dump()
        self.save(user, flow)
        return head + self.say("report.confirm", summary=draft.summary())

    def _submit(self, user: UserRef, flow: Flow, draft: ReportDraft) -> str:
        if self.grids is not None and not draft.location.grid:
            draft.location.grid = self.grids.locate(draft.location)
        result = self.dispatch.submit(draft, flow.key, user=user)
        self.save(user, Flow(key=flow.key, draft=flow.draft))  # a repeated 确认 finds the same ticket
        logger.info("report %s from %s (%s)", result.report["ticket"], user,
                    mask_contact(draft.contact or "-"))
        return self.say("report.submitted" if result.created else "report.already", ticket=result.report["ticket"])


def _flow_name(user: UserRef) -> str:
    """Where a resident's flow is kept; WeChat's under its earlier name, so that drafts in progress survive the move."""
    return f"flow:{user.ref}" if user.channel == "wechat" else f"flow:{user.channel}:{user.ref}"


def _new_key(user: UserRef) -> str:
    """A new draft's idempotency key in the dispatch store (WeChat's keep their earlier prefix)."""
    prefix = "wx" if user.channel == "wechat" else user.channel
    return f"{prefix}:{user.ref}:{time.time_ns()}"


def _belongs(report: dict[str, Any], user: UserRef) -> bool:
    return report.get("channel") == user.channel and report.get("user_ref") == user.ref


def _draft(flow: Flow) -> ReportDraft:
    """The flow's draft; one that no longer validates (an older schema, a limit) is dropped rather than failing
    every later message of the chat."""
    try:
        return ReportDraft.model_validate(flow.draft or {})
    except ValidationError as exc:
        logger.warning("dropped a report draft that does not validate: %s", mask(str(exc))[:200])
        flow.draft = None
        return ReportDraft()


def _told(text: str) -> str:
    """What a message tells, without the words that ask to file it."""
    return TRIGGER.sub("", normalize_query(text)).strip("，,。:：一下 ")
