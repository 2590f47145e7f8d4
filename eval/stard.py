"""STARD (../shared/eval/stard) article-level scoring, as its README prescribes: a gold item is a (law, article_no,
article_sub) pair; retrieved chunks map to pairs through the laws/ manifest (or the normalised title for other
files), are de-duplicated in rank order, then cut at k. Its questions are read by
`assistant.retrieval.training.stard` (the learner reads the train split), re-exported here for the suite and benches."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.domain import law_key
from assistant.retrieval.training.stard import Pair, Question, load_questions

__all__ = ["Pair", "Question", "Scores", "dedupe", "law_names", "load_questions", "normalise_law", "score"]

normalise_law = law_key


def law_names(stard_dir: Path) -> dict[str, str]:
    """file under laws/ → normalised law name."""
    manifest = json.loads((stard_dir / "laws" / "manifest.json").read_text(encoding="utf-8"))
    return {m["file"]: normalise_law(m["law_name"]) for m in manifest}


def dedupe(pairs: Iterable[Pair]) -> list[Pair]:
    seen: set[Pair] = set()
    out = []
    for p in pairs:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


@dataclass(frozen=True, slots=True)
class Scores:
    recall_10: float
    recall_100: float
    mrr_10: float
    ndcg_10: float
    n: int


def score(ranked: Sequence[list[Pair]], gold: Sequence[frozenset[Pair]]) -> Scores:
    r10 = r100 = mrr = ndcg = 0.0
    for pairs, g in zip(ranked, gold, strict=True):
        pairs = dedupe(pairs)
        r10 += len(g.intersection(pairs[:10])) / len(g)
        r100 += len(g.intersection(pairs[:100])) / len(g)
        rr = next((1 / (i + 1) for i, p in enumerate(pairs[:10]) if p in g), 0.0)
        mrr += rr
        dcg = sum(1 / math.log2(i + 2) for i, p in enumerate(pairs[:10]) if p in g)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(g), 10)))
        ndcg += dcg / idcg
    n = len(gold)
    return Scores(r10 / n, r100 / n, mrr / n, ndcg / n, n)
