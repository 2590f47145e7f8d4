"""qdrant-client adapter: a Qdrant server or cluster (GRIDWORKER_QDRANT__URL), the scale-out path.

Same collection schema and query shape as the Edge adapter. With url=":memory:" it runs qdrant-client's
local mode, which tests use as a stand-in for the server API (far too slow on sparse search for production).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from assistant.domain import Chunk, IndexHit, SearchFilters, SparseVector
from assistant.errors import IndexError_, SchemaMismatch
from assistant.index.schema import (
    COLLECTION,
    DENSE,
    KEYWORD_INDEXES,
    PREFETCH_FACTOR,
    RRF_K,
    SPARSE,
    STATE_FIELDS,
    add_state,
    filter_fields,
)

logger = logging.getLogger(__name__)
_BATCH = 256


def _filter(filters: SearchFilters) -> models.Filter | None:
    if filters.is_empty():
        return None
    conditions = filter_fields(filters)
    return models.Filter(must=[models.FieldCondition(key=k, match=models.MatchAny(any=v)) for k, v in conditions])


class ServerIndex:
    """Implements the `Index` port through qdrant-client."""

    def __init__(
        self, url: str, dense_dim: int | None, api_key: str | None = None, collection: str = COLLECTION
    ) -> None:
        self.collection = collection
        self._dense_dim = dense_dim
        try:
            self._client = (
                QdrantClient(location=":memory:") if url == ":memory:" else QdrantClient(url=url, api_key=api_key)
            )
            self._ensure_collection()
        except (ResponseHandlingException, UnexpectedResponse, ConnectionError) as exc:
            raise IndexError_(f"cannot reach Qdrant at {url}: {exc}") from exc

    def _ensure_collection(self) -> None:
        if self._client.collection_exists(self.collection):
            info = self._client.get_collection(self.collection)
            vectors = info.config.params.vectors or {}
            has_dense = isinstance(vectors, dict) and DENSE in vectors
            if has_dense != bool(self._dense_dim):
                raise SchemaMismatch(
                    f"collection {self.collection!r} dense={has_dense}, settings dense={bool(self._dense_dim)}"
                )
            return
        vectors_config = (
            {DENSE: models.VectorParams(size=self._dense_dim, distance=models.Distance.COSINE)}
            if self._dense_dim
            else {}
        )
        self._client.create_collection(
            self.collection,
            vectors_config=vectors_config,
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        for name in KEYWORD_INDEXES:
            self._client.create_payload_index(self.collection, name, models.PayloadSchemaType.KEYWORD)
        self._client.create_payload_index(self.collection, "article_no", models.PayloadSchemaType.INTEGER)

    @property
    def has_dense(self) -> bool:
        return bool(self._dense_dim)

    def upsert(
        self, chunks: Sequence[Chunk], sparse: Sequence[SparseVector], dense: Sequence[list[float]] | None
    ) -> None:
        points = []
        for i, chunk in enumerate(chunks):
            vector: dict[str, Any] = {
                SPARSE: models.SparseVector(indices=sparse[i].indices, values=sparse[i].values)
            }
            if dense is not None:
                vector[DENSE] = dense[i]
            points.append(models.PointStruct(id=chunk.point_id, vector=vector, payload=chunk.payload()))
        for start in range(0, len(points), _BATCH):
            self._client.upsert(self.collection, points[start : start + _BATCH], wait=True)

    def set_file_hash(self, point_ids: Sequence[str], file_hash: str) -> None:
        if point_ids:
            self._client.set_payload(self.collection, {"file_hash": file_hash}, points=list(point_ids), wait=True)

    def delete(self, point_ids: Sequence[str]) -> None:
        if point_ids:
            self._client.delete(self.collection, models.PointIdsList(points=list(point_ids)), wait=True)

    def scroll_state(self, root: str) -> dict[str, dict[str, tuple[str, str]]]:
        state: dict[str, dict[str, tuple[str, str]]] = {}
        flt = models.Filter(must=[models.FieldCondition(key="root", match=models.MatchValue(value=root))])
        offset = None
        while True:
            records, offset = self._client.scroll(
                self.collection, scroll_filter=flt, limit=4096, offset=offset,
                with_payload=STATE_FIELDS, with_vectors=False,
            )
            for rec in records:
                add_state(state, rec.id, rec.payload)
            if offset is None:
                return state

    def query(
        self,
        sparse: SparseVector,
        dense: list[float] | None,
        filters: SearchFilters,
        limit: int,
        fields: list[str] | None = None,
    ) -> list[IndexHit]:
        payload: bool | list[str] = fields if fields else fields is None
        sparse_q = models.SparseVector(indices=sparse.indices, values=sparse.values)
        flt = _filter(filters)
        if dense is not None and self.has_dense and not sparse.indices:  # dense neighbours only
            response = self._client.query_points(
                self.collection, query=dense, using=DENSE, query_filter=flt, limit=limit, with_payload=payload
            )
        elif dense is not None and self.has_dense:
            fetch = limit * PREFETCH_FACTOR
            response = self._client.query_points(
                self.collection,
                prefetch=[
                    models.Prefetch(query=sparse_q, using=SPARSE, limit=fetch, filter=flt),
                    models.Prefetch(query=dense, using=DENSE, limit=fetch, filter=flt),
                ],
                query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
                limit=limit,
                with_payload=payload,
            )
        else:
            if not sparse.indices:
                return []
            response = self._client.query_points(
                self.collection, query=sparse_q, using=SPARSE, query_filter=flt, limit=limit, with_payload=payload
            )
        return [IndexHit(str(p.id), p.score, p.payload or {}) for p in response.points]

    def scan(self, fields: list[str]) -> list[IndexHit]:
        out: list[IndexHit] = []
        offset = None
        while True:
            records, offset = self._client.scroll(
                self.collection, limit=4096, offset=offset, with_payload=fields, with_vectors=False
            )
            out.extend(IndexHit(str(r.id), 0.0, r.payload or {}) for r in records)
            if offset is None:
                return out

    def payloads(self, point_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        records = self._client.retrieve(self.collection, list(point_ids), with_payload=True, with_vectors=False)
        return {str(r.id): r.payload or {} for r in records}

    def count(self) -> int:
        return self._client.count(self.collection, exact=True).count

    def facet(self, field: str) -> dict[str, int]:
        response = self._client.facet(self.collection, key=field, limit=1000, exact=True)
        return {str(h.value): h.count for h in response.hits}

    def close(self) -> None:
        self._client.close()

    def drop_and_recreate(self) -> None:
        """`ingest --rebuild` on a server: the collection is dropped and created empty."""
        self._client.delete_collection(self.collection)
        self._ensure_collection()
