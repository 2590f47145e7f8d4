"""llama-index integration: our statute splitter as a NodeParser, our retriever as a BaseRetriever."""

from __future__ import annotations

import pytest
from llama_index.core import Document
from llama_index.core.schema import QueryBundle

from assistant.domain import IndexHit, SearchFilters, SparseVector
from assistant.ingest.llama import StatuteNodeParser
from assistant.retrieval.llama import GridworkerRetriever
from assistant.retrieval.search import Retriever

pytestmark = pytest.mark.unit


def test_node_parser_splits_articles(statute_text: str) -> None:
    doc = Document(text=statute_text, metadata={"file_path": "c01/示范.md", "category": "c01-social-assistance"})
    nodes = StatuteNodeParser().get_nodes_from_documents([doc])
    labels = [n.metadata["label"] for n in nodes]
    assert labels == [
        "《重庆市示范条例》第一条", "《重庆市示范条例》第二条", "《重庆市示范条例》第十二条",
        "《重庆市示范条例》第十二条之一", "《重庆市示范条例》第一千零八十三条",
    ]
    assert nodes[2].metadata["breadcrumb"].endswith("第一节 申请 › 第十二条")
    assert nodes[2].get_content().startswith("第十二条 申请最低生活保障")
    assert nodes[0].source_node is not None and nodes[0].source_node.node_id == doc.doc_id


class _OneHitIndex:
    has_dense = False

    def query(self, sparse: SparseVector, dense, filters: SearchFilters, limit: int, fields=None) -> list[IndexHit]:  # type: ignore[no-untyped-def]
        payload = {"doc_id": "d", "kind": "article", "label": "《示范》第一条", "file": "a.md", "article_no": 1,
                   "article_sub": None, "breadcrumb": "《示范》 › 第一条", "title": "示范", "category": "c01",
                   "level": "x", "audience": "public", "text": "第一条 内容。"}
        return [IndexHit("p1", 3.5, payload), IndexHit("p2", 1.0, {**payload})]


class _Enc:
    signature = "x"

    def query_terms(self, text: str) -> list[str]:
        return [text]

    def encode_query(self, text: str, extra: dict[str, float] | None = None) -> SparseVector:
        return SparseVector([1], [1.0])

    def encode_document(self, text: str) -> SparseVector:
        return SparseVector([1], [1.0])


def test_retriever_adapter_collapses_and_maps() -> None:
    retriever = GridworkerRetriever(Retriever(_OneHitIndex(), _Enc()), k=5)  # type: ignore[arg-type]
    nodes = retriever.retrieve(QueryBundle("问题"))
    assert len(nodes) == 1  # two parts of one article collapse to the best one
    assert nodes[0].score == 3.5 and nodes[0].node.metadata["label"] == "《示范》第一条"


def test_versions_of_one_article_collapse_to_the_newest() -> None:
    from assistant.retrieval.search import collapse_ids

    def hit(pid: str, doc: str, date: str, key: str = "民事诉讼法#1") -> IndexHit:
        return IndexHit(pid, 1.0, {"doc_id": doc, "kind": "article", "label": "x", "article_key": key,
                                   "effective_date": date})

    ranked = [hit("a", "old", "2021-12-24"), hit("b", "other", "2020-01-01", "刑法#1"), hit("c", "new", "2023-09-01")]
    top = collapse_ids(ranked, 5)
    assert [h.point_id for h in top] == ["c", "b"]  # the 2023 text, at the 2021 text's rank
    assert [h.point_id for h in collapse_ids(ranked, 1)] == ["a"]  # only what was seen before the cut counts
