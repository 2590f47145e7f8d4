"""One contract, every `Index` implementation: Qdrant Edge (embedded default) and qdrant-client (the server
API; its `:memory:` local mode stands in for a server here). Same schema, same results."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.domain import SearchFilters
from assistant.index.edge import EdgeIndex
from assistant.index.server import ServerIndex
from assistant.ingest.chunker import Chunker
from assistant.ingest.pipeline import Ingestor
from assistant.ports import Index
from assistant.retrieval.lexicon import Lexicon
from assistant.retrieval.search import Retriever
from assistant.retrieval.sparse import Bm25SparseEncoder
from assistant.retrieval.tokenize import Tokenizer
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.integration

DOCS = [
    "c01-social-assistance/重庆市城乡居民最低生活保障条例(2016-03-31).md",
    "c13-dogs-animal-epidemic/动物防疫法(2021-01-22).md",
    "c14-fire-safety-fireworks/消防法(2021-04-29).md",
]
QUERIES = ["低保申请需要哪些材料", "携带犬只出户要系犬绳吗", "占用消防车通道怎么处罚", "楼道里堆放杂物"]


@pytest.fixture(scope="module")
def encoder() -> Bm25SparseEncoder:
    return Bm25SparseEncoder(Tokenizer(), Lexicon.load())


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path) -> Path:
    root = tmp_path_factory.mktemp("docs")
    for rel in DOCS:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_corpus / rel, root / rel)
    guide = root / "guides" / "走访.md"
    guide.parent.mkdir()
    guide.write_text("---\naudience: worker\ncategory: c03-elderly\n---\n# 内部走访指引\n\n## 要点\n\n"
                     "独居老人每周走访一次，低保对象同步核查。", encoding="utf-8")
    return root


def _make(kind: str, tmp: Path, dense: bool) -> Index:
    dim = HashingEmbedder.dim if dense else None
    if kind == "edge":
        return EdgeIndex(tmp / "edge", dim)
    return ServerIndex(":memory:", dim)


@pytest.fixture(params=["edge", "qdrant-client"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestIndexContract:
    def _ingest(self, index: Index, encoder: Bm25SparseEncoder, docs: Path, dense: bool) -> Retriever:
        embedder = HashingEmbedder() if dense else None
        report = Ingestor(index, encoder, embedder, Chunker(500), {}).run(docs)
        assert report.added == index.count() > 200
        return Retriever(index, encoder, embedder)

    def test_sparse_search_and_filters(self, kind: str, tmp_path: Path, encoder, docs: Path) -> None:  # type: ignore[no-untyped-def]
        index = _make(kind, tmp_path, dense=False)
        retriever = self._ingest(index, encoder, docs, dense=False)
        assert retriever.mode == "sparse"
        top = retriever.search("低保申请需要哪些材料", k=5).hits
        assert top[0].title == "重庆市城乡居民最低生活保障条例"
        only_fire = SearchFilters(categories=("c14-fire-safety-fireworks",))
        fire = retriever.search("占用消防车通道怎么处罚", k=5, filters=only_fire)
        assert fire.hits and {h.category for h in fire.hits} == {"c14-fire-safety-fireworks"}
        public = retriever.search("独居老人走访", k=50, filters=SearchFilters(audiences=("public",))).hits
        assert all(h.audience == "public" for h in public)
        worker = retriever.search("独居老人走访", k=5, filters=SearchFilters(audiences=("worker",))).hits
        assert worker and worker[0].title == "内部走访指引"
        assert index.facet("audience") == {"public": index.count() - 1, "worker": 1}
        assert retriever.search("的了吗", k=5).hits == []  # nothing but stopwords: no hits, no error
        index.close()

    def test_same_results_on_both_backends(self, tmp_path: Path, encoder, docs: Path) -> None:  # type: ignore[no-untyped-def]
        results = {}
        for name in ("edge", "qdrant-client"):
            index = _make(name, tmp_path / name, dense=False)
            retriever = self._ingest(index, encoder, docs, dense=False)
            results[name] = [[(h.label, round(h.score, 3)) for h in retriever.search(q, k=10).hits] for q in QUERIES]
            index.close()
        assert results["edge"] == results["qdrant-client"]

    def test_hybrid_fusion(self, kind: str, tmp_path: Path, encoder, docs: Path) -> None:  # type: ignore[no-untyped-def]
        index = _make(kind, tmp_path, dense=True)
        retriever = self._ingest(index, encoder, docs, dense=True)
        assert retriever.mode.startswith("hybrid(sparse+dense:")
        result = retriever.search("低保申请需要哪些材料", k=5)
        assert "dense_encode" in result.timings_ms
        assert any(h.title == "重庆市城乡居民最低生活保障条例" for h in result.hits[:3])
        # RRF scores are rank-based: 1/(k+rank) summed over both branches.
        assert 0 < result.hits[0].score <= 2 / 61 + 1e-9
        index.close()

    def test_state_and_delete(self, kind: str, tmp_path: Path, encoder, docs: Path) -> None:  # type: ignore[no-untyped-def]
        index = _make(kind, tmp_path, dense=False)
        self._ingest(index, encoder, docs, dense=False)
        state = index.scroll_state(str(docs.resolve()))
        assert sorted(state) == sorted([*DOCS, "guides/走访.md"])
        ids = list(state[DOCS[0]])
        index.set_file_hash(ids[:3], "new")
        after = index.scroll_state(str(docs.resolve()))[DOCS[0]]
        assert {after[pid][1] for pid in ids[:3]} == {"new"}
        index.delete(ids)
        assert DOCS[0] not in index.scroll_state(str(docs.resolve()))
        index.close()


def test_dense_neighbours_alone(kind: str, tmp_path: Path, encoder, docs: Path) -> None:  # type: ignore[no-untyped-def]
    """An empty sparse vector with a dense one asks for the dense neighbours only (the fusion stage's query)."""
    from assistant.domain import SparseVector

    index = _make(kind, tmp_path, dense=True)
    embedder = HashingEmbedder()
    Ingestor(index, encoder, embedder, Chunker(500), {}).run(docs)
    near = index.query(SparseVector([], []), embedder.embed_query("低保申请需要哪些材料"), SearchFilters(), limit=7)
    assert len(near) == 7
    scores = [h.score for h in near]
    assert scores == sorted(scores, reverse=True) and scores[0] <= 1 + 1e-6  # cosine, not RRF
    public = index.query(SparseVector([], []), embedder.embed_query("独居老人走访"),
                         SearchFilters(audiences=("worker",)), limit=5)
    assert [h.payload["title"] for h in public] == ["内部走访指引"]
    assert index.query(SparseVector([], []), None, SearchFilters(), limit=5) == []
    index.close()
