"""STARD's questions (../shared/eval/stard/gold.jsonl), as the learner reads its train split and the eval suite and
benches its dev split: a gold item is a (law, article_no, article_sub) pair, the law's name normalised
(`assistant.domain.law_key`). Scoring stays with the eval suite (`eval/stard.py`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from assistant.domain import law_key

Pair = tuple[str, int, int | None]


@dataclass(frozen=True, slots=True)
class Question:
    qid: int
    text: str
    split: str
    gold: frozenset[Pair]


def load_questions(stard_dir: Path, split: str) -> list[Question]:
    out = []
    for line in (stard_dir / "gold.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["split"] != split:
            continue
        gold = frozenset((law_key(g["law"]), g["article_no"], g["article_sub"]) for g in rec["gold"])
        out.append(Question(rec["query_id"], rec["question"].replace("\n", " ").strip(), rec["split"], gold))
    return out
