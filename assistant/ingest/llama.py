"""llama-index integration of the statute splitter: a `NodeParser` that turns llama-index `Document`s into
one `TextNode` per article (or article part / preamble / guide section), with our payload as metadata.

Nothing here touches llama-index's global `Settings`; no model is involved in splitting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from assistant.domain import SourceDocument
from assistant.errors import missing_extra
from assistant.ingest import statute
from assistant.ingest.chunker import Chunker
from assistant.retrieval.normalize import normalize_document

try:  # the [llamaindex] extra; only whoever uses this adapter imports this module
    from llama_index.core.node_parser import NodeParser
    from llama_index.core.schema import BaseNode, NodeRelationship, TextNode
except ModuleNotFoundError as exc:
    raise missing_extra(exc, "llamaindex") from exc


class StatuteNodeParser(NodeParser):
    """Article-level splitting of Chinese statutes for llama-index pipelines.

    Document metadata read when present: `file_path` / `file_name`, `category`, `category_name`, `level`,
    `title`, `date`, `audience`.
    """

    max_chars: int = 500

    def _parse_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False, **kwargs: Any) -> list[BaseNode]:
        chunker = Chunker(self.max_chars)
        out: list[BaseNode] = []
        for node in nodes:
            meta = dict(node.metadata)
            text = normalize_document(node.get_content())
            src = SourceDocument(
                root=str(meta.get("root", "")),
                file=str(meta.get("file_path") or meta.get("file_name") or node.node_id),
                text=text,
                file_hash=hashlib.sha1(text.encode()).hexdigest(),
                category=str(meta.get("category", "uncategorized")),
                category_name=str(meta.get("category_name", meta.get("category", ""))),
                level=str(meta.get("level", "unknown")),
                title=meta.get("title"),
                date=meta.get("date"),
                audience="worker" if meta.get("audience") == "worker" else "public",
            )
            for chunk in chunker.chunks(src, statute.parse(text), signature="llama-index"):
                payload = chunk.payload()
                payload.pop("text")
                child = TextNode(
                    id_=chunk.point_id,
                    text=chunk.text,
                    metadata=payload,
                    excluded_embed_metadata_keys=[k for k in payload if k not in ("title", "breadcrumb")],
                    excluded_llm_metadata_keys=[k for k in payload if k not in ("label", "breadcrumb")],
                )
                child.relationships[NodeRelationship.SOURCE] = node.as_related_node_info()
                out.append(child)
        return out
