"""The library the console browses: categories → documents (title, level, effective date) → articles, read from
the index's payloads (never from files: the same in embedded and server mode). Documents are named by their
`doc_id` (a digest), never by a path.

The catalog (one row per document, its points in reading order) is read once, on first use, by one scroll over
the index's ranking fields; a document the catalog has not seen (ingested since) makes it read again, at most once
a minute.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from assistant.api.labels import level_zh
from assistant.ingest.chunker import point_id
from assistant.ports import Index

DOC_ID = re.compile(r"^[0-9a-f]{16}$")
CATEGORY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
FIELDS = ["doc_id", "title", "category", "category_name", "level", "audience", "effective_date", "kind",
          "article_no", "article_sub", "part"]
REFRESH_S = 60.0


@dataclass(slots=True)
class DocumentEntry:
    doc_id: str
    title: str
    category: str
    category_name: str
    level: str
    audience: str
    effective_date: str | None
    points: list[tuple[tuple[int, int, int, int], str]] = field(default_factory=list)  # (reading order, point id)

    def summary(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "title": self.title, "category": self.category,
                "category_name": self.category_name, "level": self.level, "level_zh": level_zh(self.level),
                "audience": self.audience, "effective_date": self.effective_date, "articles": len(self.points)}


class Library:
    """Read-only views of the indexed documents for workers (both audiences)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._docs: dict[str, DocumentEntry] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def documents(self, category: str) -> list[dict[str, Any]]:
        """The documents of one category: laws first by level, then by title."""
        docs = [d for d in self._catalog().values() if d.category == category]
        order = {lv: i for i, lv in enumerate(("national-law", "administrative-regulation", "judicial-interpretation",
                                                "department-rule", "local-regulation-chongqing", "guide"))}
        docs.sort(key=lambda d: (order.get(d.level, 99), d.title))
        return [d.summary() for d in docs]

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """One document with its articles (or a guide's sections) in reading order; None when unknown."""
        if not DOC_ID.match(doc_id):
            return None
        entry = self._catalog().get(doc_id)
        if entry is None and time.monotonic() - self._read_at > REFRESH_S:
            entry = self._catalog(refresh=True).get(doc_id)
        if entry is None:
            return None
        ids = [pid for _, pid in sorted(entry.points)]
        payloads = self.index.payloads(ids)
        articles = [_article(pid, payloads[pid]) for pid in ids if pid in payloads]
        return entry.summary() | {"articles": articles}

    def describe(self, point_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """What a citation shows of its document, by point id: doc_id, title, level, effective date, category."""
        wanted = list(dict.fromkeys(point_ids))
        if not wanted:
            return {}
        out = {}
        for pid, p in self.index.payloads(wanted).items():
            out[pid] = {"point_id": pid, "doc_id": p.get("doc_id"), "doc_title": p.get("title"),
                        "level": p.get("level"), "level_zh": level_zh(p.get("level")),
                        "effective_date": p.get("effective_date"), "category_name": p.get("category_name")}
        return out

    def _catalog(self, refresh: bool = False) -> dict[str, DocumentEntry]:
        with self._lock:
            if self._docs is None or refresh:
                self._docs, self._read_at = _build(self.index.scan(FIELDS)), time.monotonic()
            return self._docs


def _build(points: Iterable[Any]) -> dict[str, DocumentEntry]:
    docs: dict[str, DocumentEntry] = {}
    sections: dict[str, list[str]] = {}
    for hit in points:
        p = hit.payload
        doc_id = p.get("doc_id")
        if not doc_id:
            continue
        entry = docs.get(doc_id)
        if entry is None:
            entry = docs[doc_id] = DocumentEntry(
                doc_id, p.get("title") or "", p.get("category") or "", p.get("category_name") or "",
                p.get("level") or "unknown", p.get("audience") or "public", p.get("effective_date"))
        if p.get("kind") == "section":
            sections.setdefault(doc_id, []).append(hit.point_id)
            continue
        first = 0 if p.get("kind") == "preamble" else 1
        entry.points.append(((first, p.get("article_no") or 0, p.get("article_sub") or 0, p.get("part") or 0),
                             hit.point_id))
    for doc_id, ids in sections.items():
        docs[doc_id].points.extend(_section_order(doc_id, ids))
    return docs


def _section_order(doc_id: str, ids: list[str]) -> list[tuple[tuple[int, int, int, int], str]]:
    """A guide's sections in reading order, recovered from their deterministic point ids (the chunker keys them
    s0, s1 … as they come)."""
    left, out = set(ids), []
    for s in range(500):
        for part in range(50):
            pid = point_id(doc_id, f"s{s}", part)
            if pid not in left:
                break
            out.append(((2, s, 0, part), pid))
            left.discard(pid)
        if not left:
            break
    return out + [((3, 0, 0, i), pid) for i, pid in enumerate(sorted(left))]


def _article(point_id: str, p: dict[str, Any]) -> dict[str, Any]:
    label = p.get("label") or ""
    heading = label.split("》", 1)[-1] if "》" in label else label
    return {"point_id": point_id, "label": label, "heading": heading or "序言", "kind": p.get("kind"),
            "chapter": p.get("chapter"), "section": p.get("section"), "text": p.get("text") or ""}
