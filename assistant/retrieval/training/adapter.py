"""The dense model's query map, learned from the training questions (`gridworker learn --dense`).

A lay question and the article that answers it sit apart in the embedding space of a general multilingual model
(孩子被人欺负 vs 学生欺凌); questions about the same kind of problem sit apart from it in the same direction. A linear
map of the question vector, q -> q + A q, fitted so that each training question's gold passages come first among
all passages of its pool, moves new questions that way too. Only the question side moves: the passage vectors in
the index stay the model's own, so the map needs no re-embedding and switches off with one setting.

The fit is a listwise softmax loss over every passage of the pool (STARD's laws for STARD train, the governance
corpus for the resident train questions, the resident gold scoped to its file), temperature `TAU` over cosines,
an L2 penalty `L2` on A, L-BFGS. Both were chosen on halves of the training splits (fit on one half, score the
other, the questions whose articles the fitting half never cited counted apart), not on dev: bench/RETRIEVAL.md,
*The query map*. `cross_fitted` gives each training question the vector a map that never saw it produces, so
that the reranker's dense weights are fitted on features that look like an unseen question's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.ports import Embedder
from assistant.retrieval.learned import map_questions, scoped

logger = logging.getLogger(__name__)

TAU = 0.005
L2 = 0.3
FOLDS = 3
MAXITER = 200


@dataclass(slots=True)
class Pool:
    """Every passage of an index: its article key (file-scoped for the governance corpus) and unit vector."""

    keys: list[str]
    vectors: np.ndarray  # passages x dim, float32


@dataclass(slots=True)
class Group:
    """Training questions over one pool: their model vectors and gold article keys."""

    pool: Pool
    questions: np.ndarray  # questions x dim, float32
    gold: list[frozenset[str]]

    def subset(self, rows: Sequence[int]) -> Group:
        return Group(self.pool, self.questions[list(rows)], [self.gold[i] for i in rows])


def pool_vectors(
    root: Path, taxonomy: dict[str, str], max_chunk_chars: int, embedder: Embedder, local: bool
) -> Pool:
    """The passages of a folder as the ingest pipeline chunks and embeds them (the embedder's cache answers
    for the texts an index build has embedded already). `local`: keys scoped to their file."""
    from assistant.ingest import loaders, statute
    from assistant.ingest.chunker import Chunker

    chunker = Chunker(max_chunk_chars)
    keys: list[str] = []
    texts: list[str] = []
    for doc in loaders.load(root, taxonomy):
        if isinstance(doc, Exception):
            continue
        for chunk in chunker.chunks(doc, statute.parse(doc.text), ""):
            key = chunk.payload().get("article_key")
            name = str(key) if key else f"?{chunk.point_id}"
            keys.append(scoped(chunk.file, name) if local and key else name)
            texts.append(chunk.index_text())
    vectors = np.asarray(embedder.embed_documents(texts), dtype=np.float32).reshape(len(texts), embedder.dim)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return Pool(keys, vectors / np.where(norms > 0, norms, 1.0))


def group(pool: Pool, embedder: Embedder, texts: Sequence[str], gold: Sequence[frozenset[str]]) -> Group:
    """Training questions with their model vectors (as the retriever embeds them: `dense_text` of each)."""
    vectors = np.asarray([embedder.embed_query(t) for t in texts], dtype=np.float32).reshape(-1, embedder.dim)
    return Group(pool, vectors, list(gold))


def fit(groups: Sequence[Group], tau: float = TAU, l2: float = L2, maxiter: int = MAXITER) -> np.ndarray:
    """A (dim x dim) minimising the mean over questions of -log(softmax mass on the gold passages), plus
    l2 * |A|^2. Scores are cosines of the mapped question (not renormalised: the map's scale is the penalty's
    business) with every passage of the question's pool, divided by `tau`."""
    from scipy.optimize import minimize

    data = []
    for g in groups:
        keys = np.asarray(g.pool.keys)
        mask = np.zeros((len(g.gold), len(keys)), dtype=bool)
        for row, gold in enumerate(g.gold):
            mask[row] = np.isin(keys, sorted(gold))
        rows = mask.any(axis=1)  # a question whose gold the pool lacks teaches nothing here
        if rows.any():
            data.append((g.questions[rows].astype(np.float64), g.pool.vectors.astype(np.float64), mask[rows]))
    if not data:
        raise ValueError("no training question has its gold in a pool")
    dim = data[0][0].shape[1]
    n = sum(len(m) for _, _, m in data)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        a = w.reshape(dim, dim)
        total, grad = 0.0, np.zeros((dim, dim))
        for q, p, mask in data:
            s = (q + q @ a.T) @ p.T / tau
            s -= s.max(axis=1, keepdims=True)
            e = np.exp(s)
            z, zg = e.sum(axis=1), (e * mask).sum(axis=1)
            total -= float((np.log(zg) - np.log(z)).sum())
            ds = e / z[:, None] - (e * mask) / zg[:, None]
            grad += ((ds @ p) / tau).T @ q
        return total / n + l2 * float((a * a).sum()), (grad / n + 2 * l2 * a).ravel()

    t = time.perf_counter()
    result = minimize(loss, np.zeros(dim * dim), jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
    logger.info("dense adapter: %d questions, %d iterations, loss %.4f, %.0f s", n, result.nit, result.fun,
                time.perf_counter() - t)
    adapter: np.ndarray = np.asarray(result.x, dtype=np.float64).reshape(dim, dim).astype(np.float16)
    return adapter


def cross_fitted(groups: Sequence[Group], folds: int = FOLDS, **kw: float) -> list[np.ndarray]:
    """Each group's question vectors mapped by an adapter fitted without their fold (question i is in fold
    i mod `folds` of its group): what the reranker's dense features look like for questions the map never saw."""
    out = [np.zeros_like(g.questions) for g in groups]
    for f in range(folds):
        train = [g.subset([i for i in range(len(g.gold)) if i % folds != f]) for g in groups]
        adapter = fit(train, **kw)  # type: ignore[arg-type]
        for g, o in zip(groups, out, strict=True):
            rows = [i for i in range(len(g.gold)) if i % folds == f]
            if rows:
                o[rows] = map_questions(adapter, g.questions[rows])
    return out
