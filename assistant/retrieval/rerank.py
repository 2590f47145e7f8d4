"""Second stage: a linear reranker over first-stage candidates, with weights learned on STARD train.

Every feature is cheap and needs no model weights: the first-stage score and rank, the lay-word profile match
and citation priors of the learned artefact, whether the question names the law, and a soft category routing
(the share of the first stage's score mass that falls in the candidate's category: a boost, never a filter).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from assistant.domain import law_key
from assistant.retrieval.learned import LearnedModel

FEATURES = (
    "sparse", "sparse_rr", "memory", "memory_rr", "article_prior", "law_prior", "title_match", "category",
)
_LAW_SUFFIX = re.compile(r"(法|条例|规定|办法|解释|细则|决定)$")
ROUTING_DEPTH = 20


@dataclass(slots=True)
class Candidate:
    point_id: str
    payload: dict[str, Any]
    sparse: float = 0.0
    sparse_rank: int | None = None
    memory: float = 0.0
    memory_rank: int | None = None
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0


def _title_match(title: str, query: str) -> float:
    """1 when the question names the law (劳动合同法 / 劳动合同), else the share of its name's bigrams present."""
    name = _LAW_SUFFIX.sub("", law_key(title))
    if len(name) < 2:
        return 0.0
    if name in query:
        return 1.0
    grams = {name[i : i + 2] for i in range(len(name) - 1)}
    return sum(1 for g in grams if g in query) / len(grams) * 0.5


def featurise(
    candidates: list[Candidate],
    query: str,
    model: LearnedModel | None,
    held_out: frozenset[str] = frozenset(),
) -> None:
    top_sparse = max((c.sparse for c in candidates), default=0.0) or 1.0
    top_memory = max((c.memory for c in candidates), default=0.0) or 1.0
    routed = [c for c in candidates if c.sparse_rank is not None and c.sparse_rank < ROUTING_DEPTH]
    mass: Counter[str] = Counter()
    for c in routed:
        mass[c.payload.get("category", "")] += c.sparse
    total = sum(mass.values()) or 1.0
    title_match: dict[str, float] = {}
    for c in candidates:
        p = c.payload
        key = p.get("article_key")
        if p["title"] not in title_match:
            title_match[p["title"]] = _title_match(p["title"], query)
        a_prior, l_prior = model.prior(key, law_key(p["title"]), held_out) if model else (0.0, 0.0)
        c.features = {
            "sparse": c.sparse / top_sparse,
            "sparse_rr": 1.0 / (c.sparse_rank + 2) if c.sparse_rank is not None else 0.0,
            "memory": c.memory / top_memory,
            "memory_rr": 1.0 / (c.memory_rank + 2) if c.memory_rank is not None else 0.0,
            "article_prior": a_prior,
            "law_prior": l_prior,
            "title_match": title_match[p["title"]],
            "category": mass[p.get("category", "")] / total,
        }


def score(candidates: list[Candidate], weights: dict[str, float]) -> None:
    for c in candidates:
        c.score = sum(weights.get(name, 0.0) * value for name, value in c.features.items())
