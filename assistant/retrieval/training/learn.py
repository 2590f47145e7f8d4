"""Build the learned retrieval artefact from **train** splits only (dev and test are never read): STARD train
(laypeople's civil-law questions over stard/laws) and the team's resident-voice train questions over the
governance corpus (the checkout's eval/data/retrieval.resident.train.jsonl).

    gridworker learn [--stard DIR] [--resident PATH] [--out PATH]

1. Lay-word profiles and citation priors: the words of each training question, credited to its gold articles,
   and to their chapters (law | chapter | section, read from the ingested texts). Both train sets contribute;
   the resident questions' evidence is scoped to the corpus file each one cites (`scoped`), so it ranks that
   document and leaves other copies of a law (STARD's pool) alone.
2. Term associations: a lay word → statutory words that appear in the gold articles of the questions using it
   far more often than in gold articles at large (lift), kept only when seen in several questions.
3. Reranker weights: coordinate ascent on train, every training question scored with its own contribution to
   profiles and priors held out, over candidates from the real pipeline (statute chunks of stard/laws in a
   throwaway Qdrant Edge index), objective MRR@10 + Recall@10 + Recall@100; the dense weight set minimises a
   listwise softmax loss over the same candidates instead (convex: one optimum). The weights are fitted on STARD
   train, and on the resident train questions (over the governance corpus) when their weight is above 0.
4. With a dense model: its query map (`adapter.py` beside this module), fitted on both train sets before the dense
   weights, which are then fitted over each training question's vector as a map fitted without it gives it.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.domain import RANKING_FIELDS, article_key
from assistant.ports import Embedder, Index
from assistant.retrieval.learned import LearnedModel, scoped
from assistant.retrieval.rerank import FEATURES, Candidate, chapter_key
from assistant.retrieval.search import Retriever, Stages
from assistant.retrieval.sparse import Bm25SparseEncoder
from assistant.retrieval.training import CHECKOUT
from assistant.retrieval.training.stard import Question, load_questions
from assistant.settings import Settings

logger = logging.getLogger(__name__)

MIN_QUESTIONS = 3  # an association must be seen in at least this many questions
MIN_LIFT = 3.0
ASSOC_PER_TERM = 4
GRID = (0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)
GOAL = (1.0, 1.0, 1.0)  # MRR@10, Recall@10, Recall@100
LEARN_CANDIDATES = 1000
RESIDENT_TRAIN = CHECKOUT / "eval" / "data" / "retrieval.resident.train.jsonl"
# How many times each resident question counts in the weights' objective with `--resident` (0: the resident
# questions are only evidence: profiles, priors, chapter profiles, scoped to their files). Measured
# (bench/RETRIEVAL.md): with the evidence scoped, weight 0 leaves STARD where STARD train alone puts it and
# lifts the resident sets; weight 1 lifts resident dev one more question and costs STARD MRR@10 2 points and
# Recall@100 1 point, weight 3 more: sixteen weights shared by two pools are fitted best by the larger,
# better-covered one.
RESIDENT_FIT_WEIGHT = 0
# The dense weight set is fitted by a listwise softmax loss (`softmax_weights`), the sparse one by coordinate
# ascent on the metric (its fits were stable and every sparse figure was measured with them). The penalty is not
# tuned: 1 against a loss averaged over ~1,200 questions.
DENSE_L2 = 1.0


@dataclass(frozen=True, slots=True)
class Example:
    """A training question and its gold article keys (民法典#1067)."""

    text: str
    gold: frozenset[str]


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


def stard_examples(questions: list[Question]) -> list[Example]:
    return [Example(q.text, gold_keys(q)) for q in questions]


def resident_examples(
    path: Path, corpus_dir: Path, taxonomy: dict[str, str]
) -> tuple[list[Example], dict[str, str]]:
    """The team's resident-voice train questions, their gold (file, article) turned into article keys the way
    the ingest pipeline keys them, scoped to the file (`scoped`: what these questions teach holds for the
    governance corpus's documents, not for every copy of a law; only the files they cite are read). A gold
    article the corpus does not hold is an error in the data, reported, not skipped. Also returns the (scoped)
    chapter key of every article read."""
    from assistant.ingest import loaders, statute
    from assistant.ingest.chunker import Chunker

    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    wanted = {g["file"] for r in rows for g in r["gold"]}
    keys: dict[tuple[str, int], str] = {}
    chapters: dict[str, str] = {}
    for doc in loaders.load(corpus_dir, taxonomy):
        if isinstance(doc, Exception) or doc.file not in wanted:
            continue
        for chunk in Chunker().chunks(doc, statute.parse(doc.text), ""):
            payload = chunk.payload()
            key = payload["article_key"]
            if key and chunk.article_no is not None:
                local = scoped(chunk.file, key)
                keys.setdefault((chunk.file, chunk.article_no), local)
                chapters.setdefault(local, scoped(chunk.file, chapter_key(payload)))
    out = []
    for r in rows:
        gold = [(g["file"], g["article_no"]) for g in r["gold"]]
        missing = [g for g in gold if g not in keys]
        if missing:
            raise ValueError(f"{path.name} {r['id']}: gold not in {corpus_dir}: {missing}")
        out.append(Example(r["question"], frozenset(keys[g] for g in gold)))
    return out, chapters


def build_profiles(
    examples: list[Example], encoder: Bm25SparseEncoder
) -> tuple[dict[str, dict[str, int]], Counter[str], Counter[str]]:
    profiles: dict[str, Counter[str]] = defaultdict(Counter)
    article_prior: Counter[str] = Counter()
    law_prior: Counter[str] = Counter()
    for q in examples:
        terms = set(encoder.query_terms(q.text))
        for key in q.gold:
            profiles[key].update(terms)
            article_prior[key] += 1
            law_prior[key.split("#", 1)[0]] += 1
    return {k: dict(v) for k, v in profiles.items()}, article_prior, law_prior


def build_chapter_profiles(
    examples: list[Example], chapters: dict[str, str], encoder: Bm25SparseEncoder
) -> dict[str, dict[str, int]]:
    """The words of each training question credited to the chapters of its gold articles (once per chapter)."""
    profiles: dict[str, Counter[str]] = defaultdict(Counter)
    for q in examples:
        terms = set(encoder.query_terms(q.text))
        for chapter in {chapters[k] for k in q.gold if k in chapters}:
            profiles[chapter].update(terms)
    return {k: dict(v) for k, v in profiles.items()}


def build_cocite(examples: list[Example]) -> dict[str, dict[str, int]]:
    pairs: dict[str, Counter[str]] = defaultdict(Counter)
    for q in examples:
        keys = q.gold
        for a in keys:
            pairs[a].update(b for b in keys if b != a)
    return {a: dict(c) for a, c in pairs.items() if c}


def article_texts(laws_dir: Path) -> dict[str, str]:
    from assistant.ingest import loaders, statute

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
    examples: list[Example], texts: dict[str, str], encoder: Bm25SparseEncoder
) -> dict[str, list[tuple[str, float]]]:
    q_count: Counter[str] = Counter()
    pair: Counter[tuple[str, str]] = Counter()
    doc_count: Counter[str] = Counter()
    n_docs = 0
    doc_terms_cache: dict[str, set[str]] = {}
    for q in examples:
        q_terms = set(encoder.query_terms(q.text))
        d_terms: set[str] = set()
        for key in q.gold:
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
    # Strength on one scale for every lay word: the median lay word's best association is 1 (stronger ones are
    # capped there). Scaling each word by its own best target instead would give a weak association of a generic
    # word (不 → 生产者, p 0.08) the full weight of a strong one (一年 → 一年期, p 1.0).
    best_of = {a: sorted(t, key=lambda x: (-x[1], x[0]))[:ASSOC_PER_TERM] for a, t in assoc.items()}
    scale = float(np.median([best[0][1] for best in best_of.values()])) if best_of else 1.0
    out = {}
    for a, best in best_of.items():
        out[a] = [(b, round(min(1.0, w / scale), 4)) for b, w in best]
    return out


def _matrix(cands: list[Candidate], x: np.ndarray, local: bool = False) -> _Query:
    """Candidate article keys (file-scoped with `local`, as resident gold is) and features."""
    keys = []
    for c in cands:
        key, file = c.payload.get("article_key"), c.payload.get("file")
        if key and local and isinstance(file, str):
            key = scoped(file, str(key))
        keys.append(str(key or f"?{c.point_id}"))
    return _Query(frozenset(), keys, x)


def _training_queries(
    retriever: Retriever, examples: list[Example], local: bool = False, vectors: np.ndarray | None = None
) -> list[_Query]:
    """Each training question's candidates and features, its own contribution to the profiles held out.
    `local`: the gold keys are file-scoped (resident questions). `vectors`: each question's dense vector as a
    query map that never saw it gives it (`adapter.cross_fitted`)."""
    out = []
    for i, q in enumerate(examples):
        dense = [float(v) for v in vectors[i]] if vectors is not None else None
        mq = _matrix(*retriever.training_candidates(q.text, q.gold, dense), local=local)
        mq.gold = q.gold
        out.append(mq)
    return out


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


def softmax_weights(queries: list[_Query], l2: float = DENSE_L2) -> dict[str, float]:
    """Weights that minimise a listwise softmax loss (−log of the probability mass the scores give a question's
    gold candidates among all its candidates, averaged over questions) plus `l2`·|w|² / questions, by L-BFGS.
    The loss is convex and the penalty makes it strictly so: one optimum, which moves little when the features
    move little (coordinate ascent over a grid of the metric itself lands on one of many near-equal optima, and
    refits of the same evidence moved STARD dev MRR@10 by three points). Scaled so that `sparse` is 1 when it is
    positive (only the order of the scores matters)."""
    from scipy.optimize import minimize

    data = [(q.x, pos) for q in queries
            if (pos := np.array([k in q.gold for k in q.keys], dtype=bool)).any() and not pos.all()]
    if not data:
        return fit_weights(queries)
    n = len(data)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = l2 * float(w @ w), 2 * l2 * w
        for x, pos in data:
            s = x @ w
            e = np.exp(s - s.max())
            z, zp = e.sum(), e[pos].sum()
            total += float(np.log(z) - np.log(zp))
            grad = grad + x.T @ (e / z - np.where(pos, e / zp, 0.0))
        return total / n, grad / n

    start = np.zeros(len(FEATURES))
    start[FEATURES.index("sparse")] = 1.0
    w = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-7}).x
    anchor = w[FEATURES.index("sparse")]
    w = w / anchor if anchor > 0 else w
    return {name: round(float(v), 4) for name, v in zip(FEATURES, w, strict=True)}


def _temp_index(embedder: Embedder | None) -> Index:
    """A throwaway Qdrant Edge index (with dense vectors when there is an embedder)."""
    from assistant.index.edge import EdgeIndex

    return EdgeIndex(Path(tempfile.mkdtemp(prefix="gw-learn-")) / "edge", embedder.dim if embedder else None)


@dataclass(slots=True)
class _Run:
    """What one `learn` run fits from: its settings, the sparse encoder, the dense model (or none), the two sets of
    training examples and the retrieval stages their candidates come from."""

    settings: Settings
    encoder: Bm25SparseEncoder
    embedder: Embedder | None
    stard: list[Example]
    residents: list[Example]
    stages: Stages


def learn(
    settings: Settings,
    stard_dir: Path,
    out: Path,
    limit: int | None = None,
    candidates: int = LEARN_CANDIDATES,
    resident: Path | None = None,
    embedder: Embedder | None = None,
    resident_weight: int | None = None,
    dense_adapter: bool = True,
) -> LearnedModel:
    """Build, fit and save the artefact. Reads `gold.jsonl` (train rows only) and the `laws/` texts, and the
    resident-voice train questions (`resident`, e.g. RESIDENT_TRAIN; off by default, see bench/RETRIEVAL.md) with the
    corpus files they cite.
    `limit` takes only the first N STARD training questions (tests); `candidates` is the first-stage depth the
    weights are fitted over (deeper than the serving default: the fit sees gold articles from deep in the pool).
    With an `embedder`, a second weight set is fitted with its dense neighbours among the candidates
    (`dense_weights`, for that model only); the texts are embedded once (the embedder's cache keeps them).
    `resident_weight`: how many times each resident question counts in the weights' objective (None:
    RESIDENT_FIT_WEIGHT). `dense_adapter` (with an embedder): also fit the dense model's query map
    (`adapter.py`); the dense weights are then fitted over the mapped vectors, each training question's
    from a map fitted without it."""
    from assistant import wiring
    from assistant.ingest.loaders import load_taxonomy

    questions = load_questions(stard_dir, "train")[:limit]
    residents, resident_chapters = (
        resident_examples(resident, settings.corpus_dir, load_taxonomy(settings.taxonomy)) if resident else ([], {})
    )
    r = settings.retrieval
    stages = Stages(candidates=candidates, memory_k=r.memory_k, assoc_weight=r.assoc_weight, dense_depth=r.dense_depth,
                    dense_query=r.dense_query)
    run = _Run(settings, wiring.build_encoder(settings), embedder, stard_examples(questions), residents, stages)
    index = _temp_index(embedder)
    model = _evidence(run, stard_dir, index, resident_chapters, _meta(run, len(questions), resident))
    held_vectors: list[np.ndarray | None] = [None, None]
    if embedder is not None and dense_adapter:
        held = _fit_query_map(run, model, index, stard_dir)
        held_vectors[: len(held)] = held
    queries, dense_queries = _training_sets(run, model, index, run.stard, vectors=held_vectors[0])
    index.close()
    resident_queries, resident_dense = _resident_training_sets(run, model, held_vectors[1])
    weight = RESIDENT_FIT_WEIGHT if resident_weight is None else resident_weight
    model.weights = fit_weights(queries + resident_queries * weight)
    if embedder is not None:
        model.dense_weights = softmax_weights(dense_queries + resident_dense * weight)
    _record_fits(model, queries, resident_queries, dense_queries, resident_dense)
    model.meta["version"] = f"{'train' if residents else 'stard-train'}-{model.digest()}"
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return model


def _record_fits(
    model: LearnedModel, queries: list[_Query], resident: list[_Query], dense: list[_Query],
    resident_dense: list[_Query],
) -> None:
    """The fitted weights' figures on their own training candidates, in the artefact's meta."""
    for name, qs, weights in (("train_fit", queries, model.weights),
                              ("resident_train_fit", resident, model.weights),
                              ("dense_train_fit", dense, model.dense_weights),
                              ("dense_resident_train_fit", resident_dense, model.dense_weights)):
        if qs:
            mrr, r10, r100 = objective(qs, np.array([weights[f] for f in FEATURES]))
            model.meta[name] = {"mrr@10": round(mrr, 4), "recall@10": round(r10, 4), "recall@100": round(r100, 4)}


def _meta(run: _Run, train_questions: int, resident: Path | None) -> dict[str, object]:
    """The artefact's description: its sources, the tokenizer and features it was fitted with, the dense model."""
    meta: dict[str, object] = {
        "version": "",  # set once fitted: the digest covers the weights too
        "source": "STARD train split (../shared/eval/stard/gold.jsonl, split == train)"
        + (f" and {resident.name}" if resident else ""),
        "train_questions": train_questions,
        **({"resident_train_questions": len(run.residents), "resident_scope": "file"} if run.residents else {}),
        "tokenizer": run.encoder.signature,
        "features": list(FEATURES),
    }
    if run.embedder is not None:
        meta["dense_model"] = run.embedder.name
        meta["dense_query"] = run.settings.retrieval.dense_query  # what the dense model read of each question
    return meta


def _evidence(
    run: _Run, stard_dir: Path, index: Index, resident_chapters: dict[str, str], meta: dict[str, object]
) -> LearnedModel:
    """The model's evidence before any weight is fitted: profiles, priors, associations, co-citations and chapters,
    with STARD's laws ingested into `index` (where the chapters of their articles are read)."""
    from assistant import wiring

    examples = run.stard + run.residents
    profiles, article_prior, law_prior = build_profiles(examples, run.encoder)
    assoc = build_associations(run.stard, article_texts(stard_dir / "laws"), run.encoder)
    wiring.ingestor_from_settings(run.settings, index, run.encoder, run.embedder, taxonomy=False,
                                  questions=False).run(stard_dir / "laws")
    chapters = {str(p.payload["article_key"]): chapter_key(p.payload)
                for p in index.scan(RANKING_FIELDS) if p.payload.get("article_key")}
    chapters = {**resident_chapters, **chapters}
    return LearnedModel(
        profiles, dict(article_prior), dict(law_prior), assoc, {"sparse": 1.0}, build_cocite(examples), meta,
        chapter_profiles=build_chapter_profiles(examples, chapters, run.encoder),
        article_chapter={k: c for k, c in sorted(chapters.items()) if k in article_prior},
    )


def _fit_query_map(run: _Run, model: LearnedModel, index: Index, stard_dir: Path) -> list[np.ndarray]:
    """Fit the dense model's query map into `model` (STARD's questions over its laws, the resident questions over
    the governance corpus) and return each group's question vectors as a map fitted without them gives them."""
    from assistant.ingest.loaders import load_taxonomy
    from assistant.retrieval.training import adapter as query_map

    embedder, settings = run.embedder, run.settings
    assert embedder is not None
    r = settings.retrieval
    reads = Retriever(index, run.encoder, None, None, run.stages).dense_text  # what the dense model reads
    groups = [query_map.group(query_map.pool_vectors(stard_dir / "laws", {}, r.max_chunk_chars, embedder, False),
                              embedder, [reads(e.text) for e in run.stard], [e.gold for e in run.stard])]
    if run.residents:
        pool = query_map.pool_vectors(settings.corpus_dir, load_taxonomy(settings.taxonomy), r.max_chunk_chars,
                                      embedder, True)
        groups.append(query_map.group(pool, embedder, [reads(e.text) for e in run.residents],
                                      [e.gold for e in run.residents]))
    model.dense_adapter = query_map.fit(groups)
    held = query_map.cross_fitted(groups)
    model.meta["dense_adapter"] = {"tau": query_map.TAU, "l2": query_map.L2, "folds": query_map.FOLDS,
                                   "questions": sum(len(g.gold) for g in groups)}
    return held


def _training_sets(
    run: _Run, model: LearnedModel, index: Index, examples: list[Example], local: bool = False,
    vectors: np.ndarray | None = None,
) -> tuple[list[_Query], list[_Query]]:
    """The examples' candidates without and (with an embedder) with the dense neighbours."""
    sparse = _training_queries(Retriever(index, run.encoder, None, model, run.stages), examples, local)
    dense = (_training_queries(Retriever(index, run.encoder, run.embedder, model, run.stages), examples, local, vectors)
             if run.embedder else [])
    return sparse, dense


def _resident_training_sets(
    run: _Run, model: LearnedModel, vectors: np.ndarray | None
) -> tuple[list[_Query], list[_Query]]:
    """The resident questions' own candidates, over a throwaway index of the governance corpus (none without
    resident questions)."""
    from assistant import wiring

    if not run.residents:
        return [], []
    rindex = _temp_index(run.embedder)
    wiring.ingestor_from_settings(run.settings, rindex, run.encoder, run.embedder, questions=False).run(
        run.settings.corpus_dir)
    sets = _training_sets(run, model, rindex, run.residents, local=True, vectors=vectors)
    rindex.close()
    return sets
