"""Second stage: a linear reranker over first-stage candidates, with weights learned on STARD train.

Every feature is cheap and needs no model weights: the first-stage score and rank, the lay-word profile match
(per article, summed per law, and per chapter) and citation priors of the learned artefact, co-citation and
neighbouring articles of the top hits, whether the question names the law, whether its words are in the
candidate's chapter and section headings, and soft routing (the share of the first stage's score mass that falls
in the candidate's category, and in its chapter: boosts, never filters). With a dense model the artefact holds
weights for, two more: the cosine and rank of the question's dense neighbours. The features learned from
training data are scaled by how much of the question's first-stage territory the training covered, so a question
about a law STARD never cites (most Chongqing regulations) is ranked by its own words rather than by another
domain's priors.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.domain import law_key
from assistant.retrieval.learned import LearnedModel, scoped

FEATURES = (
    "sparse", "sparse_rr", "memory", "memory_rr", "article_prior", "law_prior", "title_match", "category",
    "cocite", "neighbour", "law_memory", "heading", "chapter_memory", "chapter_routing", "dense", "dense_rr",
)
# Features that come from the training data; they are scaled by how familiar the question's territory is.
LEARNED = ("memory", "memory_rr", "article_prior", "law_prior", "cocite", "neighbour", "law_memory", "chapter_memory")
LEARNED_COLUMNS = [FEATURES.index(f) for f in LEARNED]
SEEDS_SPARSE = 10  # the first stage's top articles …
SEEDS_MEMORY = 5  # … and the profiles' top articles seed the co-citation and neighbour candidates
NEIGHBOURS = (-2, -1, 1, 2)
_LAW_SUFFIX = re.compile(r"(法|条例|规定|办法|解释|细则|决定)$")
ROUTING_DEPTH = 20
CHAPTER_ROUTING_DEPTH = 50
_CHAPTER_NO = re.compile(r"^第[零一二三四五六七八九十百千0-9]+[编章节]\s*")


def chapter_key(payload: dict[str, Any]) -> str:
    """law | chapter | section of a chunk: the unit of chapter profiles and chapter routing."""
    return f"{law_key(str(payload.get('title') or ''))}|{payload.get('chapter') or ''}|{payload.get('section') or ''}"


def heading_text(payload: dict[str, Any]) -> str:
    """The words of a chunk's chapter and section headings, numbering dropped (第五章 离婚 → 离婚)."""
    return " ".join(_CHAPTER_NO.sub("", str(h)) for h in (payload.get("chapter"), payload.get("section")) if h)


@dataclass(slots=True)
class Candidate:
    point_id: str
    payload: dict[str, Any]
    sparse: float = 0.0
    sparse_rank: int | None = None
    memory: float = 0.0
    memory_rank: int | None = None
    cocite: float = 0.0
    neighbour: float = 0.0
    chapter_memory: float = 0.0
    local: bool = False  # its learned evidence includes the resident questions' (scoped to its file)
    dense: float = 0.0  # cosine to the question, when a dense model is configured and the article is a neighbour
    dense_rank: int | None = None
    chapter: str = ""  # chapter_key(payload), filled in from the catalog
    headings: frozenset[str] = frozenset()  # content words of its chapter and section headings


def _title_match(law: str, query: str) -> float:
    """1 when the question names the law (劳动合同法 / 劳动合同), else the share of its name's bigrams present.
    `law` is the normalised title (`law_key`)."""
    name = _LAW_SUFFIX.sub("", law)
    if len(name) < 2:
        return 0.0
    if name in query:
        return 1.0
    grams = {name[i : i + 2] for i in range(len(name) - 1)}
    return sum(1 for g in grams if g in query) / len(grams) * 0.5


def _share(labels: list[str], mass: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row: the share of the masked mass that falls on the row's label."""
    total: Counter[str] = Counter()
    for i in np.flatnonzero(mask):
        total[labels[i]] += mass[i]
    whole = sum(total.values()) or 1.0
    return np.array([total[label] / whole for label in labels])


def featurise(
    candidates: list[Candidate],
    query: str,
    model: LearnedModel | None,
    held_out: frozenset[str] = frozenset(),
    terms: list[str] | None = None,
) -> np.ndarray:
    """The candidates' feature matrix (rows in candidate order, columns in FEATURES order). `terms` are the
    question's tokens (for the heading match)."""
    n = len(candidates)
    sparse = np.fromiter((c.sparse for c in candidates), float, n)
    sparse_rank = np.fromiter((-1 if c.sparse_rank is None else c.sparse_rank for c in candidates), float, n)
    memory = np.fromiter((c.memory for c in candidates), float, n)
    memory_rank = np.fromiter((-1 if c.memory_rank is None else c.memory_rank for c in candidates), float, n)
    titles = [c.payload["title"] for c in candidates]
    cats = [c.payload.get("category", "") for c in candidates]
    routed = (sparse_rank >= 0) & (sparse_rank < ROUTING_DEPTH)
    laws = {t: law_key(t) for t in set(titles)}
    files = [c.payload.get("file") for c in candidates]
    sources = list(zip(titles, files, strict=True))
    named = {title: _title_match(law, query) for title, law in laws.items()}
    law_prior = {(title, file): model.law_prior_of(laws[title], held_out, file) if model else 0.0
                 for title, file in set(sources)}
    # Trust the learned evidence as far as the question lies in territory the training covered: the share of
    # the first stage's top score mass that falls in laws with training citations. Per source: STARD's evidence
    # by STARD's territory (its civil-law profiles say little about a 低保 question), a candidate the resident
    # questions speak for by the territory of both.
    mass = sum(sparse[i] for i in np.flatnonzero(routed)) or 1.0
    plain = {t: model.law_prior_of(law, held_out) > 0 for t, law in laws.items()} if model else {}
    stard = sum(sparse[i] for i in np.flatnonzero(routed) if plain.get(titles[i])) / mass
    both = sum(sparse[i] for i in np.flatnonzero(routed) if law_prior[sources[i]] > 0) / mass
    confidence = np.array([both if c.local or _cited_locally(model, c, held_out) else stard for c in candidates])
    x = np.zeros((n, len(FEATURES)))
    x[:, 0] = sparse / (sparse.max(initial=0.0) or 1.0)
    x[:, 1] = np.where(sparse_rank >= 0, 1.0 / (sparse_rank + 2), 0.0)
    x[:, 2] = memory  # already calibrated to [0, 1) by the query's coverage
    x[:, 3] = np.where(memory_rank >= 0, memory / (memory_rank + 2), 0.0)
    if model is not None:
        x[:, 4] = [model.article_prior_of(c.payload.get("article_key"), held_out, f)
                   for c, f in zip(candidates, files, strict=True)]
    x[:, 5] = [law_prior[s] for s in sources]
    x[:, 6] = [named[t] for t in titles]
    x[:, 7] = _share(cats, sparse, routed)
    x[:, 8] = [c.cocite for c in candidates]
    x[:, 9] = [c.neighbour for c in candidates]
    x[:, 10] = _share([laws[t] for t in titles], memory, memory > 0)
    words = {t for t in terms or () if len(t) > 1}
    x[:, 11] = [len(words & c.headings) / len(words) for c in candidates] if words else 0.0
    x[:, 12] = [c.chapter_memory for c in candidates]
    chapters = [c.chapter or chapter_key(c.payload) for c in candidates]
    x[:, 13] = _share(chapters, sparse, (sparse_rank >= 0) & (sparse_rank < CHAPTER_ROUTING_DEPTH))
    dense = np.fromiter((c.dense for c in candidates), float, n)
    dense_rank = np.fromiter((-1 if c.dense_rank is None else c.dense_rank for c in candidates), float, n)
    near = dense_rank >= 0
    if near.any():  # cosines of one model sit in a narrow band: spread the neighbours' over [0, 1]
        low, high = dense[near].min(), dense[near].max()
        x[:, 14] = np.where(near, (dense - low) / ((high - low) or 1.0), 0.0)
        x[:, 15] = np.where(near, 1.0 / (dense_rank + 2), 0.0)
    x[:, LEARNED_COLUMNS] *= confidence[:, None]
    return x


def _cited_locally(model: LearnedModel | None, c: Candidate, held_out: frozenset[str]) -> bool:
    """Whether resident questions cite this very article of this file (a held-out one's own citation aside)."""
    key, file = c.payload.get("article_key"), c.payload.get("file")
    if model is None or not isinstance(key, str) or not isinstance(file, str):
        return False
    local = scoped(file, key)
    return model.article_prior.get(local, 0) - (local in held_out) > 0


def seeds(candidates: list[Candidate]) -> list[tuple[str, float]]:
    """(article key, strength) of the articles that seed graph candidates: top of the first stage and profiles."""
    out: dict[str, float] = {}
    for c in candidates:
        key = c.payload.get("article_key")
        if not key:
            continue
        strength = 0.0
        if c.sparse_rank is not None and c.sparse_rank < SEEDS_SPARSE:
            strength = 1.0 / (c.sparse_rank + 1)
        if c.memory_rank is not None and c.memory_rank < SEEDS_MEMORY:
            strength = max(strength, 1.0 / (c.memory_rank + 1))
        if strength:
            out[key] = max(out.get(key, 0.0), strength)
    return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))


def graph_scores(
    seed_list: list[tuple[str, float]], model: LearnedModel, held_out: frozenset[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Co-citation and neighbour (same law, article ±1/±2) scores of articles around the seeds."""
    cocite: dict[str, float] = {}
    neighbour: dict[str, float] = {}
    for key, strength in seed_list:
        counts = model.cocited(key, held_out)
        total = sum(counts.values()) or 1
        for other, n in counts.items():
            cocite[other] = cocite.get(other, 0.0) + strength * n / total
        law, _, rest = key.partition("#")
        if "-" in rest or not rest.isdigit():
            continue
        for delta in NEIGHBOURS:
            no = int(rest) + delta
            if no > 0:
                other = f"{law}#{no}"
                neighbour[other] = max(neighbour.get(other, 0.0), strength / abs(delta))
    return cocite, neighbour


def score(x: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    scores: np.ndarray = x @ np.array([weights.get(name, 0.0) for name in FEATURES])
    return scores
