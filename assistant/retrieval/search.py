"""The retrieval service.

question → normalised, expanded sparse vector (lexicon + learned associations), plus a dense vector when an
embedder is configured → Qdrant (first stage, RRF-fused when hybrid) → candidates from the learned lay-word
profiles and co-citations → linear rerank (learned weights) → hits collapsed to one per article. Each stage is
optional and timed; the timings come back with the result.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from assistant.domain import RANKING_FIELDS, Hit, IndexHit, SearchFilters, SparseVector
from assistant.ports import CrossScorer, Embedder, Index, SparseEncoder
from assistant.retrieval import rerank
from assistant.retrieval.evidence import Coverage, Vocabulary
from assistant.retrieval.learned import SCOPE, LearnedModel, scoped

logger = logging.getLogger(__name__)
TIE_MARGIN = 20  # hits fetched beyond a depth, so that a tie at the cut-off is broken by id, not by the index


@dataclass(slots=True)
class SearchResult:
    query: str
    hits: list[Hit]
    mode: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    # what the answer decision reads besides the hits: the dense neighbours' cosines (dense_top, dense_top5)
    signals: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stages:
    """Which stages run. All on by default when a learned model is loaded; each can be switched off."""

    assoc: bool = True
    memory: bool = True
    rerank: bool = True
    candidates: int = 300
    memory_k: int = 100
    assoc_weight: float = 0.3
    cross_top_n: int = 20
    dense_weight: float = 0.5  # weighted RRF of the reranked list and the dense neighbours (with an embedder)
    dense_rrf_k: int = 30
    dense_depth: int = 300
    dense_query: str = "raw"  # raw | rewritten | expanded: what the dense model reads (see SparseEncoder.query_text)
    dense_adapter: bool = True  # the artefact's learned map of question vectors, when fitted for the dense model


class Retriever:
    def __init__(
        self,
        index: Index,
        encoder: SparseEncoder,
        embedder: Embedder | None = None,
        learned: LearnedModel | None = None,
        stages: Stages = Stages(),
        cross: CrossScorer | None = None,
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.embedder = embedder if index.has_dense else None
        self.learned = learned
        self.stages = stages
        self.cross = cross
        self.vocabulary = Vocabulary(encoder, learned)  # the question's words as answering reads them
        self._cat: _Catalog | None = None
        # The artefact's weights were fitted with this dense model's features: the neighbours join the candidates
        # and the reranker weighs them. Otherwise (another model) its neighbours are fused after the reranker.
        self._dense_fitted = (
            self.embedder is not None and learned is not None and learned.fitted_for(self.embedder.name)
        )
        self._adapted = (
            stages.dense_adapter and self.embedder is not None and learned is not None
            and learned.adapts(self.embedder.name)
        )
        fitted_query = learned.meta.get("dense_query", "raw") if learned is not None else None
        if self._dense_fitted and fitted_query != stages.dense_query:
            logger.warning("the learned dense weights were fitted with dense_query=%s, this retriever uses %s",
                           fitted_query, stages.dense_query)

    @property
    def mode(self) -> str:
        base = f"hybrid(sparse+dense:{self.embedder.name})" if self.embedder else "sparse"
        if self.learned is not None and self.stages.rerank:
            base = f"{base}+rerank({self.learned.version})"
            if self.embedder is not None:
                base += "+dense(fitted)" if self._dense_fitted else "+dense(rrf)"
                base += "+adapter" if self._adapted else ""
        if self.cross is not None:
            base = f"{base}+cross({self.cross.name})"
        return base

    def search(
        self,
        query: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        held_out: frozenset[str] | None = None,
    ) -> SearchResult:
        """Top-k articles for a question. Parts of one split article count once, at their best rank.

        `held_out` (training only) is the gold of a training question: its own contribution to the learned
        profiles and priors is removed so that it is scored like an unseen question."""
        filters = filters or SearchFilters()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        wanted, k = k, max(k, self.stages.cross_top_n) if self.cross is not None else k
        learned = self.learned
        terms = self.encoder.query_terms(query)
        sparse = self._sparse_query(query, terms)
        t1 = time.perf_counter()
        timings["sparse_encode"] = (t1 - t0) * 1000
        dense = None
        if self.embedder is not None:
            dense = self.question_vector(query, timings)
        reranking = learned is not None and self.stages.rerank
        limit = max(k * 2, self.stages.candidates) if reranking else max(k * 2, k + 10)
        t2 = time.perf_counter()
        # Reranking: the first stage stays sparse (the reranker learned on sparse features); the dense neighbours
        # join the candidates or are fused after the reranker. Without it, Qdrant fuses sparse and dense itself.
        raw = self._query(sparse, None if reranking else dense, filters, limit, [] if reranking else None)
        t3 = time.perf_counter()
        timings["index_query"] = (t3 - t2) * 1000
        if not reranking or learned is None:
            hits = self._cross_rerank(query, collapse(raw, k), wanted, timings)
            timings["total"] = (time.perf_counter() - t0) * 1000
            return SearchResult(query=query, hits=hits, mode=self.mode, timings_ms=timings)

        fitted = dense is not None and self._dense_fitted
        ordered = self._candidates(query, terms, raw, filters, held_out, timings, dense if fitted else None)
        t5 = time.perf_counter()
        x = rerank.featurise(ordered, query, learned, held_out or frozenset(), terms)
        scores = rerank.score(x, learned.dense_weights if fitted else learned.weights)
        ranked: Iterable[IndexHit] = (
            IndexHit(ordered[i].point_id, float(scores[i]), ordered[i].payload) for i in np.argsort(-scores)
        )
        if dense is not None and not fitted:
            ranked = self._fuse_dense(list(ranked), dense, filters, timings)
        # A few spare articles: a point deleted since the catalog was read has no payload and drops out.
        top = collapse_ids(ranked, k + 5)
        full = self.index.payloads([h.point_id for h in top])
        if len(full) < len(top):
            self._cat = None  # the index changed under the catalog; read it again next time
        hits = collapse([IndexHit(h.point_id, h.score, full[h.point_id]) for h in top if h.point_id in full], k)
        timings["rerank"] = (time.perf_counter() - t5) * 1000
        hits = self._cross_rerank(query, hits, wanted, timings)
        signals = self._signals(query, filters, timings) if dense is not None else {}
        timings["total"] = (time.perf_counter() - t0) * 1000
        return SearchResult(query=query, hits=hits, mode=self.mode, timings_ms=timings, signals=signals)

    def coverage(self, question: str, hits: Sequence[Hit]) -> Coverage:
        """How much of the question the top three hits speak of, its words weighed by length, synonyms and learned
        associations counted (`Vocabulary.coverage`): the evidence answering weighs before it answers."""
        return self.vocabulary.coverage(question, hits)

    def _signals(self, query: str, filters: SearchFilters, timings: dict[str, float]) -> dict[str, float]:
        """How close the nearest passages are to the question as the dense model reads it (its own vector, not the
        learned map, which was fitted on training questions): cosine of the nearest and mean of the nearest five."""
        assert self.embedder is not None
        t = time.perf_counter()
        near = self.index.query(SparseVector([], []), self.embedder.embed_query(self.dense_text(query)), filters,
                                limit=5, fields=[])
        timings["dense_signals"] = (time.perf_counter() - t) * 1000
        if not near:
            return {}
        return {"dense_top": float(near[0].score), "dense_top5": float(sum(h.score for h in near) / len(near))}

    def dense_text(self, query: str) -> str:
        """The question as the dense model reads it (`Stages.dense_query`)."""
        mode = self.stages.dense_query
        return query if mode == "raw" else self.encoder.query_text(query, expand=mode == "expanded")

    def question_vector(self, query: str, timings: dict[str, float] | None = None) -> list[float]:
        """The question's dense vector, through the artefact's learned map when it has one for this model
        (`dense_encode` and `dense_map` in `timings` when given)."""
        assert self.embedder is not None
        timings = {} if timings is None else timings
        t = time.perf_counter()
        vector = self.embedder.embed_query(self.dense_text(query))
        timings["dense_encode"] = (time.perf_counter() - t) * 1000
        if self._adapted and self.learned is not None:
            t = time.perf_counter()
            vector = self.learned.adapt(vector)
            timings["dense_map"] = (time.perf_counter() - t) * 1000
        return vector

    def _fuse_dense(
        self, ranked: list[IndexHit], dense: list[float], filters: SearchFilters, timings: dict[str, float]
    ) -> list[IndexHit]:
        """Weighted reciprocal-rank fusion, per article, of the reranked candidates and the question's dense
        neighbours: the embedder finds articles that share meaning but no words with the question."""
        t = time.perf_counter()
        neighbours = self._neighbours(dense, filters)
        first: dict[object, IndexHit] = {}

        def slots(hits: list[IndexHit]) -> Iterator[object]:
            for h in collapse_ids(hits, len(hits)):
                key = article_slot(h)
                first.setdefault(key, h)
                yield key

        fused = rrf(((1.0, slots(ranked)), (self.stages.dense_weight, slots(neighbours))), self.stages.dense_rrf_k)
        out = [IndexHit(first[key].point_id, score, first[key].payload) for key, score in fused]
        timings["dense_fusion"] = (time.perf_counter() - t) * 1000
        return out

    def _neighbours(self, dense: list[float], filters: SearchFilters) -> list[IndexHit]:
        """The question's nearest passages by the dense model (cosine in `score`), ranking fields from the catalog;
        a point the catalog has not seen yet (ingested since it was read) is left out. Equal cosines are ordered by
        point id (`by_score`)."""
        cat = self._catalog()
        near = self._query(SparseVector([], []), dense, filters, self.stages.dense_depth, [])
        return [IndexHit(h.point_id, h.score, cat.by_id[h.point_id]) for h in near if h.point_id in cat.by_id]

    def _query(
        self, sparse: SparseVector, dense: list[float] | None, filters: SearchFilters, limit: int,
        fields: list[str] | None,
    ) -> list[IndexHit]:
        """The index's best `limit` hits, fetched `TIE_MARGIN` deeper and cut after ordering ties by id
        (`by_score`)."""
        return by_score(self.index.query(sparse, dense, filters, limit=limit + TIE_MARGIN, fields=fields), limit)

    def _cross_rerank(self, query: str, hits: list[Hit], k: int, timings: dict[str, float]) -> list[Hit]:
        """The optional last stage: a cross-encoder re-scores the top articles, reading question and text together."""
        if self.cross is None or not hits:
            return hits[:k]
        t = time.perf_counter()
        head, tail = hits[: self.stages.cross_top_n], hits[self.stages.cross_top_n :]
        scores = self.cross.score(query, [h.text for h in head])
        order = sorted(range(len(head)), key=lambda i: -scores[i])
        ranked = [replace(head[i], score=scores[i]) for i in order] + tail
        timings["cross_encode"] = (time.perf_counter() - t) * 1000
        return [replace(h, rank=i + 1) for i, h in enumerate(ranked[:k])]

    def _sparse_query(self, query: str, terms: list[str]) -> SparseVector:
        """The query's sparse vector, with the learned associations' statutory words added when enabled."""
        extra = {}
        if self.learned is not None and self.stages.assoc:
            extra = {t: w * self.stages.assoc_weight for t, w in self.learned.expansions(terms).items()}
        return self.encoder.encode_query(query, extra)

    def articles(self, keys: Iterable[str], filters: SearchFilters | None = None) -> list[Hit]:
        """The articles with these keys (民法典#1067), newest text of each, first part of a split one; keys that
        the index does not hold, or the filters do not admit, are left out. For the articles a guide cites."""
        filters = filters or SearchFilters()
        cat = self._catalog()
        picked: list[IndexHit] = []
        for key in dict.fromkeys(keys):
            ids = [pid for pid in cat.by_key.get(key, ()) if filters.admits(cat.by_id[pid])]
            if ids:
                best = max(ids, key=lambda pid: (str(cat.by_id[pid].get("effective_date") or ""),
                                                 -int(str(cat.by_id[pid].get("part") or 0))))
                picked.append(IndexHit(best, 0.0, cat.by_id[best]))
        return self._fetched(picked)

    def articles_at(self, places: Iterable[tuple[str, int]], filters: SearchFilters | None = None) -> list[Hit]:
        """The articles at these (file, article number) places, in that order (first part of a split one, newest
        copy); places the index does not hold, or the filters do not admit, are left out."""
        filters = filters or SearchFilters()
        cat = self._catalog()
        if cat.by_place is None:
            by_place: dict[tuple[str, int], list[str]] = {}
            for pid, payload in cat.by_id.items():
                file, no = payload.get("file"), payload.get("article_no")
                if isinstance(file, str) and isinstance(no, int) and not payload.get("article_sub"):
                    by_place.setdefault((file, no), []).append(pid)
            cat.by_place = by_place
        picked: list[IndexHit] = []
        for place in dict.fromkeys(places):
            ids = [pid for pid in cat.by_place.get(place, ()) if filters.admits(cat.by_id[pid])]
            if ids:
                best = min(ids, key=lambda pid: int(str(cat.by_id[pid].get("part") or 0)))
                picked.append(IndexHit(best, 0.0, cat.by_id[best]))
        return self._fetched(picked)

    def _fetched(self, picked: list[IndexHit]) -> list[Hit]:
        """Hits with their full payloads, in the given order (points deleted since the catalog was read drop out)."""
        full = self.index.payloads([h.point_id for h in picked])
        found = [IndexHit(h.point_id, 0.0, full[h.point_id]) for h in picked if h.point_id in full]
        return collapse(found, len(found))

    def warm(self) -> None:
        """Load what the first query would otherwise load (jieba tables, the candidate catalog)."""
        if self.learned is not None and self.stages.rerank:
            self._catalog()

    def _catalog(self, refresh: bool = False) -> _Catalog:
        """Ranking fields of every point, held in memory: candidates need no payload round trips."""
        if self._cat is None or refresh:
            self._cat = _Catalog.build(self.index.scan(RANKING_FIELDS), self.encoder.query_terms)
        return self._cat

    def _candidates(
        self,
        query: str,
        terms: list[str],
        raw: list[IndexHit],
        filters: SearchFilters,
        held_out: frozenset[str] | None,
        timings: dict[str, float],
        dense: list[float] | None = None,
    ) -> list[rerank.Candidate]:
        """First-stage hits, plus the question's dense neighbours (when given), the articles the learned profiles
        and the co-citation graph point to."""
        t_cat = time.perf_counter()
        loaded = self._cat is not None
        cat = self._catalog()
        if any(h.point_id not in cat.by_id for h in raw):
            loaded, cat = False, self._catalog(refresh=True)  # the index changed since the catalog was read
        if not loaded:  # once per process (and after ingests): a long-lived server pays it at start-up
            timings["catalog_load"] = (time.perf_counter() - t_cat) * 1000
        candidates = {h.point_id: cat.candidate(h.point_id, h.payload, h.score, rank) for rank, h in enumerate(raw)}
        if dense is not None:
            t = time.perf_counter()
            for rank, h in enumerate(self._neighbours(dense, filters)):
                cand = candidates.get(h.point_id)
                if cand is None:
                    cand = candidates[h.point_id] = cat.candidate(h.point_id, h.payload)
                cand.dense, cand.dense_rank = h.score, rank
            timings["dense_neighbours"] = (time.perf_counter() - t) * 1000
        if self.learned is None or not self.stages.memory:
            return list(candidates.values())
        t = time.perf_counter()
        held = held_out or frozenset()
        own = (Counter(set(terms)), held) if held_out else None
        # Calibrated, not max-normalised: a weak profile match stays weak even when it is the best one.
        memory = self.learned.memory(terms, self.stages.memory_k, own, admit=cat.by_key.__contains__)
        for rank, (key, value) in enumerate(memory.items()):
            for cand in cat.candidates(key, candidates, filters):
                if cand.memory_rank is None:  # an article's plain and file-scoped profiles: the best match counts
                    cand.memory, cand.memory_rank, cand.local = value, rank, SCOPE in key
        cocite, neighbour = rerank.graph_scores(rerank.seeds(list(candidates.values())), self.learned, held)
        for key, value in cocite.items():
            for cand in cat.candidates(key, candidates, filters):
                cand.cocite = value
        for key, value in neighbour.items():
            for cand in cat.candidates(key, candidates, filters):
                cand.neighbour = value
        chapters = self.learned.chapter_memory(terms, own)
        if chapters:
            for cand in candidates.values():
                file = cand.payload.get("file")
                local = chapters.get(scoped(file, cand.chapter), 0.0) if isinstance(file, str) else 0.0
                cand.chapter_memory = max(chapters.get(cand.chapter, 0.0), local)
                cand.local = cand.local or local > 0
        timings["memory"] = (time.perf_counter() - t) * 1000
        return list(candidates.values())

    def training_candidates(
        self, query: str, held_out: frozenset[str], dense: list[float] | None = None
    ) -> tuple[list[rerank.Candidate], np.ndarray]:
        """Candidates of a training question and their features, as if it had never been seen (for `learn`);
        with an embedder, its dense neighbours and their features too. `dense`: the question's vector as an
        adapter that never saw the question maps it (`learn` fits the adapter without each question's fold)."""
        terms = self.encoder.query_terms(query)
        raw = self._query(self._sparse_query(query, terms), None, SearchFilters(), self.stages.candidates, [])
        if dense is None and self.embedder is not None:
            dense = self.question_vector(query)
        ordered = self._candidates(query, terms, raw, SearchFilters(), held_out, {}, dense)
        return ordered, rerank.featurise(ordered, query, self.learned, held_out, terms)


@dataclass(slots=True)
class _Catalog:
    by_id: dict[str, dict[str, object]]
    by_key: dict[str, list[str]]
    chapter: dict[str, str]  # point → chapter key (law | chapter | section)
    headings: dict[str, frozenset[str]]  # point → content words of its headings
    by_place: dict[tuple[str, int], list[str]] | None = None  # (file, article number) → points, built on first use

    @classmethod
    def build(cls, points: list[IndexHit], tokens: Callable[[str], list[str]]) -> _Catalog:
        by_key: dict[str, list[str]] = {}
        chapter: dict[str, str] = {}
        headings: dict[str, frozenset[str]] = {}
        words: dict[str, frozenset[str]] = {}  # a few thousand distinct headings among ~20 K points
        for p in points:
            key = p.payload.get("article_key")
            if isinstance(key, str):
                by_key.setdefault(key, []).append(p.point_id)
                file = p.payload.get("file")
                if isinstance(file, str):  # the key of evidence scoped to this document
                    by_key.setdefault(scoped(file, key), []).append(p.point_id)
            chapter[p.point_id] = rerank.chapter_key(p.payload)
            text = rerank.heading_text(p.payload)
            if text not in words:
                words[text] = frozenset(t for t in tokens(text) if len(t) > 1)
            headings[p.point_id] = words[text]
        return cls({p.point_id: p.payload for p in points}, by_key, chapter, headings)

    def candidate(
        self, pid: str, payload: dict[str, Any], score: float = 0.0, rank: int | None = None
    ) -> rerank.Candidate:
        return rerank.Candidate(pid, self.by_id.get(pid, payload), score, rank,
                                chapter=self.chapter.get(pid, ""), headings=self.headings.get(pid, frozenset()))

    def candidates(
        self, key: str, pool: dict[str, rerank.Candidate], filters: SearchFilters
    ) -> list[rerank.Candidate]:
        """The candidates for an article key, added to the pool when new and admitted by the filters."""
        out = []
        for pid in self.by_key.get(key, ()):
            cand = pool.get(pid)
            if cand is None:
                payload = self.by_id[pid]
                if not filters.admits(payload):
                    continue
                cand = pool[pid] = self.candidate(pid, payload)
            out.append(cand)
        return out


K = TypeVar("K", bound=Hashable)


def rrf(lists: Iterable[tuple[float, Iterable[K]]], k: int) -> list[tuple[K, float]]:
    """Weighted reciprocal-rank fusion: each (weight, ranked items) list adds weight / (k + rank + 1) to its items,
    rank counted from 0. Best first; equal scores keep the order the items were first seen in."""
    fused: dict[K, float] = {}
    for weight, items in lists:
        for rank, item in enumerate(items):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(fused.items(), key=lambda kv: -kv[1])


def by_score(hits: list[IndexHit], limit: int) -> list[IndexHit]:
    """The first `limit` hits, best first, equal scores in point-id order. The same text in two laws or versions
    scores the same, and the index returns such ties in an order that changes from one build to the next, and
    keeps either one where a tie straddles its limit (the hits are fetched `TIE_MARGIN` deeper and cut here); the
    ranks are features."""
    return sorted(hits, key=lambda h: (-h.score, h.point_id))[:limit]


def collapse_ids(raw: Iterable[IndexHit], k: int) -> list[IndexHit]:
    """The first k distinct articles in rank order. Parts of one article count once; so do the versions of one
    article in several texts of the same law (民事诉讼法 2021 and 2023): the newest text takes the best rank."""
    slots: dict[object, int] = {}
    out: list[IndexHit] = []
    for item in raw:
        p = item.payload
        key = article_slot(item)
        if key in slots:
            held = out[slots[key]]
            if p.get("doc_id") != held.payload.get("doc_id") and _newer(p, held.payload):
                out[slots[key]] = IndexHit(item.point_id, held.score, p)
            continue
        if len(out) == k:
            break
        slots[key] = len(out)
        out.append(item)
    return out


def article_slot(item: IndexHit) -> object:
    """What one result stands for: an article across its parts and versions, or else the chunk itself."""
    p = item.payload
    if p.get("kind") == "article":
        return p.get("article_key") or (p["doc_id"], p["label"])
    return item.point_id


def _newer(a: dict[str, object], b: dict[str, object]) -> bool:
    return str(a.get("effective_date") or "") > str(b.get("effective_date") or "")


def collapse(raw: list[IndexHit], k: int) -> list[Hit]:
    hits: list[Hit] = []
    for item in collapse_ids(raw, k):
        p = item.payload
        hits.append(
            Hit(
                rank=len(hits) + 1, score=item.score, file=p["file"], article_no=p.get("article_no"),
                article_sub=p.get("article_sub"), label=p["label"], breadcrumb=p["breadcrumb"],
                title=p["title"], category=p["category"], level=p["level"], audience=p["audience"],
                text=p["text"], doc_id=p["doc_id"], point_id=item.point_id,
            )
        )
    return hits
