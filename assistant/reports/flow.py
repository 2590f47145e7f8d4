"""From chat to a submitted report: the resident's reporting conversation, one state per openid (kept in the channel
store, so it survives restarts and is shared by worker processes).

    idle ──我要反映 / 报修 / 投诉 / menu 我要上报──▶ drafting ──all required fields──▶ confirming ──确认──▶ submitted
                                                   ▲  asks only for what is missing │ 修改 ▲ 取消 → idle
A consultation that describes a problem is remembered, so 「我要上报」 right after it starts from what was said.
Submission is idempotent on the draft's key: a double 确认 or a WeChat retry gives the same ticket.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from assistant.answering.emergency import EmergencyDetector
from assistant.channels.wechat.store import ChannelStore
from assistant.dispatch.store import STATUS_ZH, DispatchStore
from assistant.ports import ChatModel
from assistant.reports.extract import extract_llm, extract_rules
from assistant.reports.grids import GridMap
from assistant.reports.schema import Location, ReportDraft, mask_phone
from assistant.retrieval.normalize import normalize_query

logger = logging.getLogger(__name__)

TRIGGER = re.compile(r"^(我要|我想|想|要|帮我)?(反映|报修|投诉|举报|上报|报告|报个|报一下)|(我要|我想|帮我)(反映|报修|投诉|举报|上报)")
CONFIRM = re.compile(r"^(确认|确定|提交|是的?|对的?|好的?|没问题|可以|ok)[。！!.]*$", re.IGNORECASE)
CANCEL = re.compile(r"^(取消|算了|不用了|不报了|不要了|放弃)[。！!.]*$")
MODIFY = re.compile(r"^(修改|更正|改一下|不对|有误)[。！!.]*$")
PROGRESS = re.compile(r"(查询进度|进度查询|查进度|我的上报|我的工单|工单进度)")
TICKET = re.compile(r"GW\d{8}-\d{4}", re.IGNORECASE)
RATE = re.compile(r"^评价\s*([1-5])\s*分?$")

ASK = {
    "description": "请简单描述一下您要反映的问题（发生了什么）。",
    "location": "请告诉我具体位置（小区、楼栋、路名或参照物），也可以直接发送微信位置。",
}
CONFIRM_PROMPT = "请确认以下上报信息：\n{summary}\n回复“确认”提交，回复“修改”更正，回复“取消”放弃。"
SUBMITTED = "已提交，工单号 {ticket}。我们会尽快安排处理，您可以回复“查询进度 {ticket}”查看进展。"
ALREADY = "该上报已提交过，工单号 {ticket}。"
CANCELLED = "已取消本次上报。还有其他问题随时告诉我。"
MODIFY_PROMPT = "请直接告诉我需要修改的内容（位置、情况或紧急程度），我来更新。"
NOT_FOUND = "没有找到这个工单，请核对工单号（例如 GW20261127-0001）。"
NONE_YET = "您还没有上报过问题。需要上报请回复“我要上报”。"


@dataclass(slots=True)
class Flow:
    state: str = "idle"  # idle | drafting | confirming | modifying
    draft: dict[str, Any] | None = None
    key: str = ""
    last_problem: str = ""
    last_location: dict[str, Any] | None = None
    photos: list[str] | None = None


class ReportDesk:
    def __init__(self, store: ChannelStore, dispatch: DispatchStore, chat: ChatModel | None = None,
                 extract_prompt: str = "", gas_hotline: str = "96777", grids: GridMap | None = None) -> None:
        self.store = store
        self.grids = grids
        self.dispatch = dispatch
        self.chat = chat
        self.extract_prompt = extract_prompt
        self.detector = EmergencyDetector(gas_hotline)

    # -- state -----------------------------------------------------------------------------------------------
    def load(self, openid: str) -> Flow:
        data = self.store.get(f"flow:{openid}") or {}
        return Flow(**{k: v for k, v in data.items() if k in Flow.__slots__})

    def save(self, openid: str, flow: Flow) -> None:
        self.store.put(f"flow:{openid}", {k: getattr(flow, k) for k in Flow.__slots__}, 7 * 86400)

    def active(self, openid: str) -> bool:
        return self.load(openid).state != "idle"

    # -- entry points ----------------------------------------------------------------------------------------
    def wants_report(self, text: str) -> bool:
        return bool(TRIGGER.search(normalize_query(text)))

    def wants_progress(self, text: str) -> bool:
        return bool(PROGRESS.search(text) or TICKET.fullmatch(text.strip()))

    def remember_problem(self, openid: str, text: str) -> None:
        flow = self.load(openid)
        flow.last_problem = text
        self.save(openid, flow)

    def start(self, openid: str, text: str = "") -> str:
        flow = self.load(openid)
        body = TRIGGER.sub("", normalize_query(text)).strip("，,。:：一下 ") if text else ""
        seed = body if len(body) >= 4 else flow.last_problem
        draft = ReportDraft()
        if flow.last_location:
            draft.location = Location(**flow.last_location)
        if flow.photos:
            draft.photos = list(flow.photos)[:9]
        if seed:
            draft = self._extract(seed, draft)
        flow = Flow(state="drafting", draft=draft.model_dump(), key=f"wx:{openid}:{time.time_ns()}",
                    last_problem="", last_location=None, photos=None)
        return self._next(openid, flow, draft)

    def takes(self, openid: str, text: str) -> bool:
        """Whether this text belongs to the reporting conversation (a draft in progress, or a repeated 确认)."""
        flow = self.load(openid)
        return flow.state != "idle" or (bool(flow.key) and bool(CONFIRM.match(normalize_query(text))))

    def rate(self, openid: str, text: str) -> str | None:
        m = RATE.match(normalize_query(text))
        if not m:
            return None
        done = [r for r in self.dispatch.listing(openid=openid, limit=10) if r["status"] in ("resolved", "closed")]
        if not done:
            return "暂时没有可以评价的已办结工单。"
        self.dispatch.update(done[0]["id"], "resident", rating=int(m.group(1)))
        return f"感谢您的评价（{m.group(1)}分），工单 {done[0]['ticket']}。"

    def handle_text(self, openid: str, text: str) -> str:
        flow = self.load(openid)
        t = normalize_query(text)
        draft = ReportDraft.model_validate(flow.draft or {})
        if flow.state == "idle" and flow.key and CONFIRM.match(t):
            result = self.dispatch.submit(draft, flow.key, openid) if flow.draft else None
            return ALREADY.format(ticket=result.report["ticket"]) if result else CANCELLED
        if CANCEL.match(t):
            self.save(openid, Flow())
            return CANCELLED
        if flow.state == "confirming":
            if CONFIRM.match(t):
                return self._submit(openid, flow, draft)
            if MODIFY.match(t):
                flow.state = "modifying"  # the next message corrects the draft: what it names replaces
                self.save(openid, flow)
                return MODIFY_PROMPT
        asked_location = flow.state == "drafting" and "location" in draft.missing() and bool(draft.description)
        updated = self._extract(text, draft, replace=flow.state in ("confirming", "modifying"))
        if asked_location and not updated.location.is_set() and len(t) >= 2:
            updated.location = Location(text=t[:200])  # we asked where: the answer is the place, however vague
        return self._next(openid, flow, updated)

    def handle_location(self, openid: str, lat: float, lng: float, label: str) -> str | None:
        """A location message fills the draft's location (or is remembered for the next report)."""
        loc = Location(text=label or "", latitude=lat, longitude=lng, label=label or None)
        flow = self.load(openid)
        if flow.state == "idle":
            flow.last_location = loc.model_dump()
            self.save(openid, flow)
            return None
        draft = ReportDraft.model_validate(flow.draft or {})
        draft.location = loc
        return self._next(openid, flow, draft)

    def handle_image(self, openid: str, media_id: str) -> str | None:
        flow = self.load(openid)
        if flow.state == "idle":
            flow.photos = [*(flow.photos or []), media_id][-9:]
            self.save(openid, flow)
            return None
        draft = ReportDraft.model_validate(flow.draft or {})
        if media_id not in draft.photos and len(draft.photos) < 9:
            draft.photos.append(media_id)
        return f"已添加照片（共{len(draft.photos)}张）。\n" + self._next(openid, flow, draft)

    def progress(self, openid: str, text: str) -> str:
        m = TICKET.search(text)
        if m:
            report = self.dispatch.get(m.group(0).upper(), events=False)
            if report is None or report["openid"] != openid:  # residents see only their own tickets
                return NOT_FOUND
            return _progress_line(report)
        mine = self.dispatch.listing(openid=openid, limit=5)
        if not mine:
            return NONE_YET
        return "您最近的上报：\n" + "\n".join(_progress_line(r) for r in mine)

    # -- internals -------------------------------------------------------------------------------------------
    def _extract(self, text: str, draft: ReportDraft, replace: bool = False) -> ReportDraft:
        if replace:  # a correction while confirming: what it names replaces what the draft had
            fresh = extract_rules(text, ReportDraft(), self.detector)
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
        return extract_rules(text, draft, self.detector)

    def _next(self, openid: str, flow: Flow, draft: ReportDraft) -> str:
        missing = draft.missing()
        head = ""
        if draft.urgency == "emergency":
            alarm = self.detector.detect(draft.description)
            head = (alarm.first_line or "【紧急】如有危险请立即拨打110、119或120。") + "\n"
        if missing:
            flow.state, flow.draft = "drafting", draft.model_dump()
            self.save(openid, flow)
            return head + ASK[missing[0]]
        flow.state, flow.draft = "confirming", draft.model_dump()
        self.save(openid, flow)
        return head + CONFIRM_PROMPT.format(summary=draft.summary())

    def _submit(self, openid: str, flow: Flow, draft: ReportDraft) -> str:
        if self.grids is not None and not draft.location.grid:
            draft.location.grid = self.grids.locate(draft.location)
        result = self.dispatch.submit(draft, flow.key, openid)
        self.save(openid, Flow(key=flow.key, draft=flow.draft))  # a repeated 确认 finds the same ticket
        logger.info("report %s from %s (%s)", result.report["ticket"], openid[-6:],
                    mask_phone(draft.contact or "-"))
        template = SUBMITTED if result.created else ALREADY
        return template.format(ticket=result.report["ticket"])


def _progress_line(report: dict[str, Any]) -> str:
    return (f"{report['ticket']}｜{report['description'][:20]}｜{STATUS_ZH.get(report['status'], report['status'])}"
            f"｜更新于 {report['updated_at'][:16].replace('T', ' ')}")


def status_notice(report: dict[str, Any], note: str = "") -> str:
    text = f"您反映的问题（工单 {report['ticket']}）状态更新：{STATUS_ZH.get(report['status'], report['status'])}。"
    if note:
        text += f"\n说明：{note}"
    if report["status"] == "resolved":
        text += "\n如对处理结果满意，请回复“评价 5”（1～5分）。"
    return text
