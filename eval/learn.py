"""Build the learned retrieval artefact from STARD **train** only (dev and test are never read).

    gridworker learn [--stard DIR] [--out PATH]

1. Lay-word profiles and citation priors: the words of each training question, credited to its gold articles,
   and to their chapters (law | chapter | section, read from the ingested texts).
2. Term associations: a lay word → statutory words that appear in the gold articles of the questions using it
   far more often than in gold articles at large (lift), kept only when seen in several questions.
3. Reranker weights: coordinate ascent on train, every training question scored with its own contribution to
   profiles and priors held out, over candidates from the real pipeline (statute chunks of stard/laws in a
   throwaway Qdrant Edge index), objective MRR@10 + Recall@10 + Recall@100.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.domain import RANKING_FIELDS, article_key
from assistant.retrieval.learned import LearnedModel
from assistant.retrieval.rerank import FEATURES, Candidate, chapter_key
from assistant.retrieval.search import Retriever, Stages
from assistant.retrieval.sparse import Bm25SparseEncoder
from assistant.settings import Settings
from eval.stard import Question, load_questions

logger = logging.getLogger(__name__)

MIN_QUESTIONS = 3  # an association must be seen in at least this many questions
MIN_LIFT = 3.0
ASSOC_PER_TERM = 4
GRID = (0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)
GOAL = (1.0, 1.0, 1.0)  # MRR@10, Recall@10, Recall@100
LEARN_CANDIDATES = 1000


@dataclass(slots=True)
class _Query:
    gold: frozenset[str]
    keys: list[str]  # article key per candidate (law#no-sub)
    x: np.ndarray  # candidates × features
    key_index: np.ndarray | None = None  # candidate → distinct article
    gold_mask: np.ndarray | None = None  # distinct article → is gold

    def prepare(self) -> None:
        distinct = {k: i for i, k in enumerate(dict.fromkeys(self.keys))}
        self.key_index = np.array([distinct[k] for k in self.keys], dtype=np.int64)
        self.gold_mask = np.array([k in self.gold for k in distinct], dtype=bool)


def gold_keys(q: Question) -> frozenset[str]:
    return frozenset(k for law, no, sub in q.gold if (k := article_key(law, no, sub)) is not None)


def build_profiles(
    questions: list[Question], encoder: Bm25SparseEncoder
) -> tuple[dict[str, dict[str, int]], Counter[str], Counter[str]]:
    profiles: dict[str, Counter[str]] = defaultdict(Counter)
    article_prior: Counter[str] = Counter()
    law_prior: Counter[str] = Counter()
    for q in questions:
        terms = set(encoder.query_terms(q.text))
        for key in gold_keys(q):
            profiles[key].update(terms)
            article_prior[key] += 1
            law_prior[key.split("#", 1)[0]] += 1
    return {k: dict(v) for k, v in profiles.items()}, article_prior, law_prior


def build_chapter_profiles(
    questions: list[Question], chapters: dict[str, str], encoder: Bm25SparseEncoder
) -> dict[str, dict[str, int]]:
    """The words of each training question credited to the chapters of its gold articles (once per chapter)."""
    profiles: dict[str, Counter[str]] = defaultdict(Counter)
    for q in questions:
        terms = set(encoder.query_terms(q.text))
        for chapter in {chapters[k] for k in gold_keys(q) if k in chapters}:
            profiles[chapter].update(terms)
    return {k: dict(v) for k, v in profiles.items()}


def build_cocite(questions: list[Question]) -> dict[str, dict[str, int]]:
    pairs: dict[str, Counter[str]] = defaultdict(Counter)
    for q in questions:
        keys = gold_keys(q)
        for a in keys:
            pairs[a].update(b for b in keys if b != a)
    return {a: dict(c) for a, c in pairs.items() if c}


def article_texts(laws_dir: Path) -> dict[str, str]:
    from ingest import loaders, statute

    texts: dict[str, str] = {}
    for doc in loaders.load(laws_dir, {}):
        if isinstance(doc, Exception):
            continue
        parsed = statute.parse(doc.text)
        title = parsed.title if parsed.book else (doc.title or parsed.title)
        for art in parsed.articles:
            key = article_key(title, art.no, art.sub)
            if key:
                texts.setdefault(key, art.text)
    return texts


def build_associations(
    questions: list[Question], texts: dict[str, str], encoder: Bm25SparseEncoder
) -> dict[str, list[tuple[str, float]]]:
    q_count: Counter[str] = Counter()
    pair: Counter[tuple[str, str]] = Counter()
    doc_count: Counter[str] = Counter()
    n_docs = 0
    doc_terms_cache: dict[str, set[str]] = {}
    for q in questions:
        q_terms = set(encoder.query_terms(q.text))
        d_terms: set[str] = set()
        for key in gold_keys(q):
            if key not in texts:
                continue
            if key not in doc_terms_cache:
                doc_terms_cache[key] = set(encoder.tokenizer.tokens(texts[key]))
            d_terms |= doc_terms_cache[key]
        if not d_terms:
            continue
        n_docs += 1
        doc_count.update(d_terms)
        q_count.update(q_terms)
        pair.update((a, b) for a in q_terms for b in d_terms if a != b)
    assoc: dict[str, list[tuple[str, float]]] = {}
    for (a, b), c in pair.items():
        if c < MIN_QUESTIONS or q_count[a] < MIN_QUESTIONS:
            continue
        p = c / q_count[a]
        lift = p / (doc_count[b] / n_docs)
        if lift >= MIN_LIFT:
            assoc.setdefault(a, []).append((b, p * math.log(lift)))
    out = {}
    for a, targets in assoc.items():
        best = sorted(targets, key=lambda t: (-t[1], t[0]))[:ASSOC_PER_TERM]
        top = best[0][1]
        out[a] = [(b, round(w / top, 4)) for b, w in best]
    return out


def _matrix(cands: list[Candidate], x: np.ndarray) -> _Query:
    keys = [str(c.payload.get("article_key") or f"?{c.point_id}") for c in cands]
    return _Query(frozenset(), keys, x)


def objective(queries: list[_Query], w: np.ndarray) -> tuple[float, float, float]:
    """Mean MRR@10, Recall@10, Recall@100 over article keys (an article ranks at its best candidate)."""
    mrr = r10 = r100 = 0.0
    for q in queries:
        if q.key_index is None or q.gold_mask is None:
            q.prepare()
        assert q.key_index is not None and q.gold_mask is not None
        best = np.full(len(q.gold_mask), -np.inf)
        np.maximum.at(best, q.key_index, q.x @ w)
        hits = q.gold_mask[np.argsort(-best, kind="stable")]
        n = len(q.gold)
        r10 += hits[:10].sum() / n
        r100 += hits[:100].sum() / n
        first = np.flatnonzero(hits[:10])
        mrr += 1 / (first[0] + 1) if first.size else 0.0
    m = len(queries)
    return float(mrr / m), float(r10 / m), float(r100 / m)


def fit_weights(
    queries: list[_Query], goal_weights: tuple[float, float, float] = GOAL, rounds: int = 4
) -> dict[str, float]:
    w = np.zeros(len(FEATURES))
    w[FEATURES.index("sparse")] = 1.0

    def goal(v: np.ndarray) -> float:
        return float(np.dot(objective(queries, v), goal_weights))

    best = goal(w)
    for _ in range(rounds):
        improved = False
        for j, name in enumerate(FEATURES):
            if name == "sparse":
                continue  # the scale anchor
            for value in GRID:
                trial = w.copy()
                trial[j] = value
                g = goal(trial)
                if g > best + 1e-6:
                    best, w, improved = g, trial, True
        logger.info("round done: objective %.4f weights %s", best, dict(zip(FEATURES, w.round(3), strict=True)))
        if not improved:
            break
    return {name: float(v) for name, v in zip(FEATURES, w, strict=True)}


def learn(
    settings: Settings, stard_dir: Path, out: Path, limit: int | None = None, candidates: int = LEARN_CANDIDATES
) -> LearnedModel:
    """Build, fit and save the artefact. Reads `gold.jsonl` (train rows only) and the `laws/` texts.
    `limit` takes only the first N training questions (tests); `candidates` is the first-stage depth the
    weights are fitted over (deeper than the serving default: the fit sees gold articles from deep in the pool)."""
    from assistant import wiring
    from ingest.chunker import Chunker
    from ingest.pipeline import Ingestor

    questions = load_questions(stard_dir, "train")[:limit]
    encoder = wiring.build_encoder(settings)
    profiles, article_prior, law_prior = build_profiles(questions, encoder)
    assoc = build_associations(questions, article_texts(stard_dir / "laws"), encoder)
    content = json.dumps([profiles, assoc], ensure_ascii=False, sort_keys=True)
    digest = hashlib.sha1(content.encode()).hexdigest()[:8]
    meta = {
        "version": f"stard-train-{digest}",
        "source": "STARD train split (../shared/eval/stard/gold.jsonl, split == train)",
        "train_questions": len(questions),
        "tokenizer": encoder.signature,
        "features": list(FEATURES),
    }
    tmp = Settings(**{**settings.model_dump(), "index_dir": Path(tempfile.mkdtemp(prefix="gw-learn-")) / "index"})
    comp = wiring.build(tmp)
    Ingestor(comp.index, encoder, None, Chunker(tmp.retrieval.max_chunk_chars), {}).run(stard_dir / "laws")
    chapters = {str(p.payload["article_key"]): chapter_key(p.payload)
                for p in comp.index.scan(RANKING_FIELDS) if p.payload.get("article_key")}
    model = LearnedModel(
        profiles, dict(article_prior), dict(law_prior), assoc, {"sparse": 1.0}, build_cocite(questions), meta,
        chapter_profiles=build_chapter_profiles(questions, chapters, encoder),
        article_chapter={k: c for k, c in chapters.items() if k in article_prior},
    )
    r = settings.retrieval
    retriever = Retriever(comp.index, encoder, None, model, Stages(candidates=candidates, memory_k=r.memory_k,
                                                                      assoc_weight=r.assoc_weight))
    queries = []
    for q in questions:
        gold = gold_keys(q)
        mq = _matrix(*retriever.training_candidates(q.text, gold))
        mq.gold = gold
        queries.append(mq)
    comp.close()
    model.weights = fit_weights(queries)
    mrr, r10, r100 = objective(queries, np.array([model.weights[f] for f in FEATURES]))
    model.meta["train_fit"] = {"mrr@10": round(mrr, 4), "recall@10": round(r10, 4), "recall@100": round(r100, 4)}
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return model
