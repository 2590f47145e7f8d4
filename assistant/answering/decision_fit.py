"""Fit the answer/hedge/decline decision (`decision.py`) on training questions only (`gridworker learn-decision`).

Answerable: the resident-voice train split (eval/data/retrieval.resident.train.jsonl, short questions) and the long,
multi-part resident messages of eval/train/resident.long.*.jsonl marked answerable. Not answerable:
eval/train/unanswerable.train.jsonl (not in the corpus, out of scope, injections) and the long messages marked not
answerable. Nothing of dev, test or the held-out sets is read. The features of each question come from the same
retrieval the service runs, over an index of the project's guides and the shared corpus, with the dense model when
one is configured (both variants are fitted from one pass: the sparse variant ignores the dense features).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from assistant.answering.decision import DENSE_FEATURES, QUESTION_FEATURES, SPARSE_FEATURES, DecisionModel, fit_variant
from assistant.answering.pipeline import AnswerService

# The training files live in the source checkout's eval/ folder (assistant/answering -> the project root), which the
# wheel does not ship: `gridworker learn-decision` is run from a checkout.
DATA = Path(__file__).resolve().parents[2] / "eval"
ANSWERABLE = DATA / "data" / "retrieval.resident.train.jsonl"
UNANSWERABLE = DATA / "train" / "unanswerable.train.jsonl"
LONG = sorted((DATA / "train").glob("resident.long.*.jsonl"))


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_questions() -> tuple[list[str], list[str]]:
    """(answerable, not answerable) questions of the training files."""
    pos = [str(r["question"]) for r in _rows(ANSWERABLE)]
    neg = [str(r["question"]) for r in _rows(UNANSWERABLE)]
    for path in LONG:
        for r in _rows(path):
            (pos if r.get("answerable", True) else neg).append(str(r["question"]))
    return pos, neg


def fit(service: AnswerService) -> DecisionModel:
    pos, neg = training_questions()
    t = time.perf_counter()
    rows = [service.gather(q, "resident").features for q in pos + neg]
    labels = [1] * len(pos) + [0] * len(neg)
    sparse = fit_variant(rows, labels, SPARSE_FEATURES)
    embedder = service.retriever.embedder
    features = DENSE_FEATURES + (QUESTION_FEATURES if all("qnear_top" in r for r in rows) else ())
    dense = fit_variant(rows, labels, features) if all("dense_top" in r for r in rows) else None
    meta = {"answerable": [ANSWERABLE.name, *(p.name for p in LONG)], "unanswerable": UNANSWERABLE.name,
            "n_answerable": len(pos),
            "n_unanswerable": len(neg), "seconds": round(time.perf_counter() - t, 1),
            "retrieval": service.retriever.mode}
    return DecisionModel(sparse, dense, embedder.name if (dense is not None and embedder is not None) else None, meta)
