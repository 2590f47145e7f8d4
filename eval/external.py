"""The external sets inside the eval run: STARD dev (retrieval over `stard/laws`) and LeCoQA test ∩ STARD dev
(answer overlap with lawyers' answers). Both need a second index, of the STARD law texts, built here.

LeCoQA's upstream metrics (METEOR with NLTK's WordNet data, BERTScore with bert-base-chinese) need downloads this
machine cannot make; the run reports overlap measures that need no model instead, and says so: character-level
ROUGE-L F1 and jieba-token F1 against the reference answer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jieba

from assistant.answering.pipeline import AnswerService
from eval.stard import law_names, load_questions, normalise_law, score


def stard_retrieval(service: AnswerService, stard_dir: Path) -> dict[str, Any]:
    names = law_names(stard_dir)
    questions = load_questions(stard_dir, "dev")
    ranked = []
    for q in questions:
        hits = service.retriever.search(q.text, k=100).hits
        ranked.append([(names.get(h.file) or normalise_law(h.title), h.article_no, h.article_sub)
                       for h in hits if h.article_no is not None])
    s = score(ranked, [q.gold for q in questions])
    return {"recall@10": s.recall_10, "recall@100": s.recall_100, "mrr@10": s.mrr_10, "ndcg@10": s.ndcg_10, "n": s.n}


def _lcs(a: str, b: str) -> int:
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: str, reference: str) -> float:
    c = [ch for ch in candidate if ch.isalnum()]
    r = [ch for ch in reference if ch.isalnum()]
    if not c or not r:
        return 0.0
    lcs = _lcs("".join(c), "".join(r))
    p, rec = lcs / len(c), lcs / len(r)
    return 0.0 if lcs == 0 else 2 * p * rec / (p + rec)


def token_f1(candidate: str, reference: str) -> float:
    c = [t for t in jieba.lcut(candidate) if t.strip() and any(ch.isalnum() for ch in t)]
    r = [t for t in jieba.lcut(reference) if t.strip() and any(ch.isalnum() for ch in t)]
    common = sum(min(c.count(t), r.count(t)) for t in set(c))
    if not common:
        return 0.0
    p, rec = common / len(c), common / len(r)
    return 2 * p * rec / (p + rec)


def lecoqa(service: AnswerService, lecoqa_dir: Path, stard_dir: Path) -> dict[str, Any]:
    """Extractive resident answers over the STARD laws for LeCoQA test queries that are in STARD dev (leak-free)."""
    dev_ids = {json.loads(x)["query_id"] for x in (stard_dir / "gold.jsonl").read_text("utf-8").splitlines()
               if json.loads(x)["split"] == "dev"}
    test = json.loads((lecoqa_dir / "example" / "test.json").read_text(encoding="utf-8"))
    rows = [r for r in test if r["query_id"] in dev_ids and isinstance(r.get("答案文本"), str)]
    rl = tf = 0.0
    refused = 0
    for r in rows:
        a = service.answer(r["问题"], "resident")
        refused += a.refused
        rl += rouge_l(a.answer, r["答案文本"])
        tf += token_f1(a.answer, r["答案文本"])
    n = len(rows)
    return {"rouge_l_char": rl / max(n, 1), "token_f1": tf / max(n, 1), "refused": refused, "n": n,
            "note": "overlap with lawyers' answers, no model (METEOR/BERTScore need downloads)"}


def finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0
