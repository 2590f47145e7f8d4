"""Answer, hedge or decline: a calibrated decision learned from labelled questions, not a hand-weighted score.

The features describe how well what was retrieved fits the question, independently of the learned ranking's
memory of its training questions:
- `coverage`: the share of the question's content words (by length) that the top three texts contain, directly or
  through a synonym, dialect rewrite or learned association;
- `topic`: the rank-weighted share of the top five articles in their most common category (a question the corpus
  does not cover scatters its best matches over unrelated laws);
- `dense_top`, `dense_top5`: the cosine of the nearest passage, and the mean of the nearest five, by the dense
  model's own question vector (absent without a dense model: the sparse variant of the model is used then);
- `qnear_top`, `qnear_top5`: the same for the nearest lay questions of the question field (when its vectors are
  here; the dense variant is fitted with them when the training run had them);
- `terms`, `covered`: how many content words the question has, and how much of them (by length) the top texts
  cover (log): a long message full of context covers a small share of its words, yet much in absolute terms.

A logistic regression is fitted on answerable questions (the resident-voice train split) and questions the corpus
must not answer (eval/train/unanswerable.train.jsonl: not in the corpus, out of scope, injections), by
`gridworker learn-decision`. Its thresholds come from 5-fold cross-validation over that training data:
`answer` minimises the held-out false refusals plus false answers; `sure` is the probability above which held-out
answers are right 95% of the time. Between the two the answer is given with a plain hedge and a hand-off.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.answering.triage import _sigmoid, cross_probabilities, logistic

logger = logging.getLogger(__name__)

ARTEFACT = Path(__file__).resolve().parent / "data" / "decision.json"
SPARSE_FEATURES = ("coverage", "covered", "topic", "terms")
DENSE_FEATURES = (*SPARSE_FEATURES, "dense_top", "dense_top5")
QUESTION_FEATURES = ("qnear_top", "qnear_top5")  # with the question field's vectors


@dataclass(frozen=True, slots=True)
class Verdict:
    p: float
    outcome: str  # answer | hedge | decline


@dataclass(slots=True)
class Variant:
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    w: np.ndarray
    b: float
    answer: float
    sure: float
    cv: dict[str, float]

    def probability(self, x: dict[str, float]) -> float:
        v = (np.asarray([x.get(f, 0.0) for f in self.features]) - self.mean) / self.scale
        return float(_sigmoid(v @ self.w + self.b))

    def to_json(self) -> dict[str, object]:
        return {"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "w": self.w.tolist(), "b": self.b, "answer": self.answer, "sure": self.sure, "cv": self.cv}

    @classmethod
    def from_json(cls, d: dict) -> Variant:  # type: ignore[type-arg]
        return cls(tuple(d["features"]), np.asarray(d["mean"]), np.asarray(d["scale"]), np.asarray(d["w"]),
                   float(d["b"]), float(d["answer"]), float(d["sure"]), dict(d["cv"]))


@dataclass(slots=True)
class DecisionModel:
    sparse: Variant
    dense: Variant | None
    dense_model: str | None
    meta: dict[str, object]

    def decide(self, x: dict[str, float], dense_model: str | None = None) -> Verdict:
        dense = self.dense
        usable = dense is not None and dense_model == self.dense_model and all(f in x for f in dense.features)
        variant = dense if usable and dense is not None else self.sparse
        p = variant.probability(x)
        outcome = "answer" if p >= variant.sure else "hedge" if p >= variant.answer else "decline"
        return Verdict(p, outcome)

    def to_json(self) -> dict[str, object]:
        return {"meta": self.meta, "dense_model": self.dense_model, "sparse": self.sparse.to_json(),
                "dense": self.dense.to_json() if self.dense else None}

    @classmethod
    def from_json(cls, d: dict) -> DecisionModel:  # type: ignore[type-arg]
        return cls(Variant.from_json(d["sparse"]), Variant.from_json(d["dense"]) if d.get("dense") else None,
                   d.get("dense_model"), dict(d.get("meta", {})))


def load(path: Path = ARTEFACT) -> DecisionModel | None:
    if not path.is_file():
        return None
    try:
        return DecisionModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError) as exc:
        logger.warning("answer decision artefact %s not used: %s", path, exc)
        return None


def fit_variant(rows: list[dict[str, float]], labels: list[int], features: tuple[str, ...], l2: float = 1.0) -> Variant:
    x = np.asarray([[r.get(f, 0.0) for f in features] for r in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    p_cv = cross_probabilities(z, y, l2=l2)
    pos, neg = p_cv[y == 1], p_cv[y == 0]
    grid = np.unique(np.concatenate([p_cv, [0.5]]))
    errors = [np.mean(pos < t) + np.mean(neg >= t) for t in grid]
    answer = float(grid[int(np.argmin(errors))])
    sure = answer
    for t in grid[grid >= answer]:
        taken = p_cv >= t
        if taken.sum() and y[taken].mean() >= 0.95:
            sure = float(t)
            break
    w, b = logistic(z, y, l2)
    answered = float(np.mean(p_cv >= answer))
    hedged = float(np.mean((p_cv >= answer) & (p_cv < sure)))
    cv = {"false_refusal": float(np.mean(pos < answer)), "false_answer": float(np.mean(neg >= answer)),
          "hedged_share_of_answered": hedged / max(answered, 1e-9),
          "n_answerable": float(len(pos)), "n_unanswerable": float(len(neg))}
    return Variant(features, mean, scale, w.astype(np.float64), b, answer, sure, cv)


def terms_feature(n_terms: int) -> float:
    return math.log1p(n_terms)
