"""The team's eval datasets keep their promises: sizes, coverage, gold articles that exist, 2–4 key points."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from eval.suite import rows
from tests.conftest import ROOT

pytestmark = pytest.mark.unit


def test_answerable_questions_cover_every_category(shared_corpus) -> None:  # type: ignore[no-untyped-def]
    from assistant.numerals import int_to_cn

    data = rows("retrieval.resident") + rows("retrieval.worker")
    assert len(data) >= 150
    taxonomy = [c["id"] for c in json.loads((ROOT / "corpus/taxonomy.json").read_text("utf-8"))["categories"]]
    per_category = Counter(r["category"] for r in data)
    assert all(per_category[c] >= 3 for c in taxonomy), [c for c in taxonomy if per_category[c] < 3]
    voices = Counter(r.get("voice", "resident") for r in data)
    assert 0.5 <= voices["resident"] / len(data) <= 0.7
    for r in data:
        assert 2 <= len(r["key_points"]) <= 4, r["id"]
        for g in r["gold"]:
            text = (shared_corpus / g["file"]).read_text(encoding="utf-8")
            assert f"\n第{int_to_cn(g['article_no'])}条" in text, g  # the gold article exists


def test_the_other_sets_meet_their_sizes() -> None:
    assert len(rows("unanswerable")) >= 40
    assert len(rows("reports")) >= 50 and len(rows("emergency")) >= 30
    ids = [r["id"] for name in ("retrieval.resident", "retrieval.worker", "unanswerable", "reports", "emergency")
           for r in rows(name)]
    assert len(ids) == len(set(ids))


def test_resident_train_questions_are_apart_from_the_eval(shared_corpus) -> None:  # type: ignore[no-untyped-def]
    """The resident-voice train split (what `gridworker learn` reads besides STARD train) exists in the corpus,
    and none of its questions is a rewording of an eval question: character-bigram Jaccard below 0.3 with every
    dev and test question of every set."""
    from assistant.numerals import int_to_cn
    from eval.suite import _bigrams

    train = rows("retrieval.resident", ("train",))
    assert len(train) >= 150 and all(r["split"] == "train" for r in train)
    assert len({r["id"] for r in train}) == len(train)
    assert len({r["category"] for r in train}) >= 40
    held = [r.get("question") or r.get("message") or "" for name in
            ("retrieval.resident", "retrieval.worker", "unanswerable", "reports", "emergency") for r in rows(name)]
    held_grams = [g for q in held if (g := _bigrams(q))]
    for r in train:
        mine = _bigrams(r["question"])
        worst = max(len(mine & g) / len(mine | g) for g in held_grams)
        assert worst < 0.3, (r["id"], r["question"], worst)
        for g in r["gold"]:
            text = (shared_corpus / g["file"]).read_text(encoding="utf-8")
            assert f"\n第{int_to_cn(g['article_no'])}条" in text, g


def _jsonl(path):  # type: ignore[no-untyped-def]
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_the_held_out_set_is_apart_from_everything_that_is_fitted() -> None:
    """eval/holdout/ (issues 24 and 25's test sets) shares no message with the training data (the emergency bank,
    the report intent bank, the questions not to answer, the resident train split, the question field):
    character-bigram Jaccard below 0.6 with every training text, and its sizes are the issues' minimums."""
    from eval.suite import _bigrams

    holdout = ROOT / "eval" / "holdout"
    resident = _jsonl(holdout / "resident.a.jsonl") + _jsonl(holdout / "resident.b.jsonl")
    worker, unanswerable = _jsonl(holdout / "worker.jsonl"), _jsonl(holdout / "unanswerable.jsonl")
    emergency = _jsonl(holdout / "emergency.jsonl")
    assert len(resident) >= 80 and len(worker) >= 40 and len(unanswerable) >= 30
    assert sum(r["emergency"] for r in emergency) >= 40 and sum(not r["emergency"] for r in emergency) >= 40
    chats = _jsonl(holdout / "reports.jsonl")
    assert len(chats) >= 80 and sum(1 for c in chats if c["gold"].get("missing")) >= 6
    held = [r.get("question") or r["message"] for r in resident + worker + unanswerable + emergency]
    held += [t.get("content") or t["recognition"] for c in chats for t in c["turns"] if t["type"] in ("text", "voice")]
    banks = sorted((ROOT / "assistant/answering/data").glob("emergency_bank*.jsonl"))
    banks += sorted((ROOT / "assistant/reports/data").glob("intent_bank*.jsonl"))
    training = [r["text"] for path in banks for r in _jsonl(path)]
    training += [r["question"] for r in _jsonl(ROOT / "eval/train/unanswerable.train.jsonl")]
    training += [r["question"] for r in rows("retrieval.resident", ("train",))]
    training += [q for path in sorted((ROOT / "corpus/questions").glob("*.jsonl")) for r in _jsonl(path)
                 for q in r["questions"]]
    index: dict[str, list[int]] = {}
    grams = [_bigrams(t) for t in training]
    for i, g in enumerate(grams):
        for b in g:
            index.setdefault(b, []).append(i)
    for text in held:
        mine = _bigrams(text)
        shared = Counter(i for b in mine for i in index.get(b, ()))
        worst = max((n / len(mine | grams[i]) for i, n in shared.items()), default=0.0)
        assert worst < 0.6, (text, worst)
