"""The retrieval service: query → normalised, expanded sparse vector (+ dense vector when an embedder is
configured) → Index.query → hits collapsed to one per article, with the time each stage took."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from assistant.domain import Hit, IndexHit, SearchFilters
from assistant.ports import Embedder, Index, SparseEncoder


@dataclass(slots=True)
class SearchResult:
    query: str
    hits: list[Hit]
    mode: str
    timings_ms: dict[str, float] = field(default_factory=dict)


class Retriever:
    def __init__(self, index: Index, encoder: SparseEncoder, embedder: Embedder | None = None) -> None:
        self.index = index
        self.encoder = encoder
        self.embedder = embedder if index.has_dense else None

    @property
    def mode(self) -> str:
        return f"hybrid(sparse+dense:{self.embedder.name})" if self.embedder else "sparse"

    def search(self, query: str, k: int = 10, filters: SearchFilters | None = None) -> SearchResult:
        """Top-k articles for a question. Parts of one split article count once, at their best rank."""
        filters = filters or SearchFilters()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        sparse = self.encoder.encode_query(query)
        t1 = time.perf_counter()
        timings["sparse_encode"] = (t1 - t0) * 1000
        dense = None
        if self.embedder is not None:
            dense = self.embedder.embed_query(query)
            timings["dense_encode"] = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        raw = self.index.query(sparse, dense, filters, limit=max(k * 2, k + 10))
        t3 = time.perf_counter()
        timings["index_query"] = (t3 - t2) * 1000
        hits = collapse(raw, k)
        timings["total"] = (time.perf_counter() - t0) * 1000
        return SearchResult(query=query, hits=hits, mode=self.mode, timings_ms=timings)


def collapse(raw: list[IndexHit], k: int) -> list[Hit]:
    seen: set[tuple[str, str]] = set()
    hits: list[Hit] = []
    for item in raw:
        p = item.payload
        key = (p["doc_id"], p["label"] if p.get("kind") == "article" else item.point_id)
        if key in seen:
            continue
        seen.add(key)
        hits.append(
            Hit(
                rank=len(hits) + 1, score=item.score, file=p["file"], article_no=p.get("article_no"),
                article_sub=p.get("article_sub"), label=p["label"], breadcrumb=p["breadcrumb"],
                title=p["title"], category=p["category"], level=p["level"], audience=p["audience"],
                text=p["text"], doc_id=p["doc_id"], point_id=item.point_id,
            )
        )
        if len(hits) == k:
            break
    return hits
