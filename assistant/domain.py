"""Plain domain types shared by ingest, retrieval, the front desk, dispatch and the interfaces. No I/O; the report
schema is a pydantic model (its validators are the one set of rules every intake applies)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.privacy import mask, mask_contact

_DATE_SUFFIX = re.compile(r"\(\d{4}-\d{2}-\d{2}\)$")


def law_key(title: str) -> str:
    """A law's name as STARD, manifests and the corpus can agree on: no 中华人民共和国, no date, no spaces or 、."""
    name = _DATE_SUFFIX.sub("", title.strip())
    return name.replace("中华人民共和国", "").replace(" ", "").replace("、", "")


def article_key(title: str, no: int | None, sub: int | None = None) -> str | None:
    """Identifies an article across versions and copies of its law: 民法典#1067, 刑法#133-1."""
    if no is None:
        return None
    return f"{law_key(title)}#{no}" + (f"-{sub}" if sub else "")


# The documents' levels (效力层级) ingest accepts in a manifest, with the names a worker reads.
LEVELS = {
    "national-law": "法律", "administrative-regulation": "行政法规", "local-regulation-chongqing": "地方性法规（重庆）",
    "local-regulation": "地方性法规", "department-rule": "部门规章", "local-rule": "地方政府规章",
    "judicial-interpretation": "司法解释", "normative-document": "规范性文件", "guide": "工作指引", "unknown": "其他",
}

# The payload fields ranking needs of a candidate; the full payload (text, breadcrumb …) is read for the
# final hits only, which keeps a deep first stage cheap.
RANKING_FIELDS = [
    "doc_id", "kind", "label", "title", "category", "level", "audience", "article_key", "article_no", "article_sub",
    "file", "effective_date", "part", "chapter", "section",
]

Audience = Literal["public", "worker"]
AUDIENCES: tuple[str, ...] = ("public", "worker")


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One file as loaded from disk, before parsing."""

    root: str  # absolute path of the folder that was ingested
    file: str  # path relative to root, with forward slashes
    text: str
    file_hash: str
    category: str
    category_name: str
    level: str
    title: str | None = None  # from the manifest, when it has one
    date: str | None = None  # from the manifest or the file name
    audience: Audience = "public"
    meta: dict[str, str] = field(default_factory=dict)  # front matter of team-written guides


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrievable unit: an article (or part of one), a preamble, or a section of a guide."""

    point_id: str
    doc_id: str
    root: str
    file: str
    file_hash: str
    title: str
    category: str
    category_name: str
    level: str
    audience: Audience
    effective_date: str | None
    kind: Literal["article", "preamble", "section"]
    article_no: int | None
    article_sub: int | None
    label: str  # citation label: 《title》第十二条
    breadcrumb: str  # 《title》 › 第二章 … › 第十二条
    chapter: str | None
    section: str | None
    part: int  # 0 for whole articles; 1.. for the parts of a split article
    text: str  # what a reader sees: the article text, marker included
    content_hash: str

    def index_text(self) -> str:
        """Text the encoders see: headings give context that the article body often lacks."""
        heads = " ".join(h for h in (self.title, self.chapter, self.section) if h)
        return f"{heads}\n{self.text}"

    def payload(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "root": self.root,
            "file": self.file,
            "file_hash": self.file_hash,
            "title": self.title,
            "category": self.category,
            "category_name": self.category_name,
            "level": self.level,
            "audience": self.audience,
            "effective_date": self.effective_date,
            "kind": self.kind,
            "article_no": self.article_no,
            "article_sub": self.article_sub,
            "article_key": article_key(self.title, self.article_no, self.article_sub),
            "label": self.label,
            "breadcrumb": self.breadcrumb,
            "chapter": self.chapter,
            "section": self.section,
            "part": self.part,
            "text": self.text,
            "content_hash": self.content_hash,
        }


@dataclass(frozen=True, slots=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True, slots=True)
class SearchFilters:
    categories: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.categories or self.levels or self.audiences or self.doc_ids)

    def admits(self, payload: dict[str, Any]) -> bool:
        """The same test the index applies, for candidates that come from elsewhere (never leak worker-only)."""
        return all(
            not allowed or payload.get(key) in allowed
            for key, allowed in (
                ("category", self.categories), ("level", self.levels),
                ("audience", self.audiences), ("doc_id", self.doc_ids),
            )
        )


@dataclass(frozen=True, slots=True)
class IndexHit:
    """What an index returns: a point id, a score, and the stored payload."""

    point_id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Hit:
    """A search result as the product shows it."""

    rank: int
    score: float
    file: str
    article_no: int | None
    article_sub: int | None
    label: str
    breadcrumb: str
    title: str
    category: str
    level: str
    audience: str
    text: str
    doc_id: str
    point_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "file": self.file,
            "article_no": self.article_no,
            "label": self.label,
            "text": self.text,
            "breadcrumb": self.breadcrumb,
            "title": self.title,
            "category": self.category,
            "level": self.level,
            "audience": self.audience,
        }


@dataclass(slots=True)
class IngestReport:
    documents: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    seconds: float = 0.0


Persona = Literal["resident", "worker"]
PERSONAS: tuple[str, ...] = ("resident", "worker")


@dataclass(frozen=True, slots=True)
class Citation:
    """One source an answer rests on; `label` is what the answer text shows (《title》第十二条)."""

    label: str
    title: str
    article: str  # 第十二条, or the section of a guide
    text: str  # the full text of the cited article (or guide section)
    source: str  # file, relative to the corpus root it was ingested from
    category: str
    audience: str
    point_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label, "title": self.title, "article": self.article, "text": self.text,
            "source": self.source, "category": self.category, "audience": self.audience,
        }


@dataclass(slots=True)
class Answer:
    """What the assistant says to one message, with everything a reviewer needs to judge it."""

    question: str
    answer: str
    persona: str
    mode: str  # extractive | llm | extractive (fallback: …)
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    refusal_reason: str | None = None  # no_evidence | out_of_scope | injection
    emergency: bool = False
    emergency_kinds: list[str] = field(default_factory=list)
    report_suggested: bool = False
    hedged: bool = False  # answered with a plain word that the sources may not cover all of it, and a hand-off
    confidence: float | None = None  # the learned decision's probability that the question is answerable here
    conversation_id: str = ""
    condensed: str = ""  # the standalone question that was searched
    removed_citations: int = 0  # citations the verifier removed (invented by the model)
    retrieval_mode: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "citations": [c.to_json() for c in self.citations],
            "mode": self.mode,
            "refused": self.refused,
            "refusal_reason": self.refusal_reason,
            "emergency": self.emergency,
            "emergency_kinds": self.emergency_kinds,
            "report_suggested": self.report_suggested,
            "hedged": self.hedged,
            "confidence": None if self.confidence is None else round(self.confidence, 3),
            "conversation_id": self.conversation_id,
            "persona": self.persona,
            "question": self.question,
            "condensed": self.condensed,
            "removed_citations": self.removed_citations,
            "retrieval_mode": self.retrieval_mode,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }


@dataclass(frozen=True, slots=True)
class UserRef:
    """Who a report or a status notice belongs to: the channel that brought the resident and the channel's own id
    for them ("wechat" + openid; "webhook" + the caller's user id). Shown masked (`wechat:…Zf0rs`), so that a log
    line or an f-string never carries a whole id; the fields themselves stay whole."""

    channel: str
    ref: str

    def __str__(self) -> str:
        shown = min(6, len(self.ref) // 2)  # at most half of a short id
        tail = self.ref[len(self.ref) - shown:]
        return f"{self.channel}:…{tail}"

    def __repr__(self) -> str:
        return f"UserRef({self})"


# A report's status as residents and workers read it.
STATUS_ZH = {"submitted": "已受理", "assigned": "已派单", "in_progress": "处理中", "resolved": "已办结",
             "closed": "已关闭", "reopened": "已重新打开"}

# The structured problem report a resident's chat (or a channel's intake) becomes.
CATEGORIES: dict[str, str] = {
    "city_appearance": "市容环境", "street_order": "街面秩序", "illegal_construction": "违法建设",
    "public_facilities": "公共设施", "greening": "园林绿化", "noise": "噪声扰民", "fire_safety": "消防安全",
    "gas_safety": "燃气安全", "building_safety": "房屋与地质安全", "vulnerable_people": "特殊人群关爱",
    "dispute": "矛盾纠纷", "public_order": "社会治安", "dogs": "养犬管理", "property": "物业服务",
    "public_health": "公共卫生", "other": "其他",
}
Category = Literal[
    "city_appearance", "street_order", "illegal_construction", "public_facilities", "greening", "noise",
    "fire_safety", "gas_safety", "building_safety", "vulnerable_people", "dispute", "public_order", "dogs",
    "property", "public_health", "other",
]
Urgency = Literal["routine", "urgent", "emergency"]
DESCRIPTION_MAX = 1000
URGENCY_ZH = {"routine": "一般", "urgent": "紧急", "emergency": "特急（危及安全）"}


class Location(BaseModel):
    text: str = Field(default="", max_length=200, description="地址描述，如：XX小区3栋2单元门口")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    label: str | None = Field(default=None, max_length=200, description="微信位置消息的地点名称")
    grid: str | None = Field(default=None, max_length=64, description="网格编号（配置了网格地图时）")

    def is_set(self) -> bool:
        return bool(self.text.strip() or (self.latitude is not None and self.longitude is not None))

    def describe(self) -> str:
        if self.text and self.label and self.label not in self.text:
            return f"{self.text}（{self.label}）"
        return self.text or self.label or f"{self.latitude},{self.longitude}"


class ReportDraft(BaseModel):
    category: Category = "other"
    location: Location = Field(default_factory=Location)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    photos: list[str] = Field(default_factory=list, max_length=9, description="微信图片的 MediaId")
    occurred_at: str | None = Field(default=None, max_length=64, description="发生时间（居民的说法或 ISO 时间）")
    urgency: Urgency = "routine"
    contact: str | None = Field(default=None, max_length=64, description="联系电话（可选）")

    def missing(self) -> list[str]:
        """Required fields still empty, in the order the assistant asks for them."""
        out = []
        if not self.description.strip():
            out.append("description")
        if not self.location.is_set():
            out.append("location")
        return out

    def summary(self) -> str:
        """The report as the resident is shown it to confirm: ID, bank card and phone numbers masked."""
        lines = [
            f"类别：{CATEGORIES[self.category]}",
            f"位置：{mask(self.location.describe()) or '（未填写）'}",
            f"情况：{mask(self.description) or '（未填写）'}",
            f"紧急程度：{URGENCY_ZH[self.urgency]}",
        ]
        if self.occurred_at:
            lines.append(f"发生时间：{mask(self.occurred_at)}")
        if self.photos:
            lines.append(f"照片：{len(self.photos)} 张")
        if self.contact:
            lines.append(f"联系电话：{mask_contact(self.contact)}")
        return "\n".join(lines)
