"""A llama-index `BaseRetriever` over gridworker's own retrieval service, so llama-index query engines and
agents can use our index, lexicon and hybrid search. Pass it explicitly; llama-index's global `Settings`
is never consulted."""

from __future__ import annotations

from assistant.domain import SearchFilters
from assistant.errors import missing_extra
from assistant.retrieval.search import Retriever

try:  # the [llamaindex] extra; only whoever uses this adapter imports this module
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
except ModuleNotFoundError as exc:
    raise missing_extra(exc, "llamaindex") from exc


class GridworkerRetriever(BaseRetriever):
    def __init__(self, retriever: Retriever, k: int = 10, filters: SearchFilters | None = None) -> None:
        super().__init__()
        self._inner = retriever
        self._k = k
        self._filters = filters or SearchFilters()

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self._inner.search(query_bundle.query_str, k=self._k, filters=self._filters)
        return [
            NodeWithScore(
                node=TextNode(
                    id_=hit.point_id,
                    text=hit.text,
                    metadata={
                        "label": hit.label, "breadcrumb": hit.breadcrumb, "file": hit.file,
                        "article_no": hit.article_no, "category": hit.category, "level": hit.level,
                        "audience": hit.audience, "title": hit.title,
                    },
                ),
                score=hit.score,
            )
            for hit in result.hits
        ]
