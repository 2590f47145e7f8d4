"""Qdrant Edge adapter: the Qdrant engine in-process, persisted in a folder. The embedded default."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from assistant.domain import Chunk, IndexHit, SearchFilters, SparseVector
from assistant.errors import IndexError_, IndexLocked, SchemaMismatch
from assistant.index import holder
from assistant.index.schema import (
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
_BATCH = 512


def _filter(filters: SearchFilters) -> qe.Filter | None:
    if filters.is_empty():
        return None
    conditions = filter_fields(filters)
    return qe.Filter(must=[qe.FieldCondition(key=k, match=qe.MatchAny(any=v)) for k, v in conditions])


class EdgeIndex:
    """Implements the `Index` port on a Qdrant Edge shard."""

    def __init__(self, path: Path, dense_dim: int | None, *, writes: bool = True, snapshot: bool = False) -> None:
        """`writes`: this process may write (ingest); recorded for others to see. `snapshot`: when a server holds
        the shard (it never writes), open a private copy of it instead of failing (read-only commands)."""
        self.path = path
        self._dense_dim = dense_dim
        self.snapshot_of: holder.Holder | None = None
        self._copy: Path | None = None
        sparse = {SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
        vectors = {DENSE: qe.EdgeVectorParams(size=dense_dim, distance=qe.Distance.Cosine)} if dense_dim else {}
        config = qe.EdgeConfig(vectors=vectors, sparse_vectors=sparse)
        try:
            self._shard = self._open(path, config)
        except _Locked as exc:
            held = holder.current(path)
            if not snapshot or held is None or held.writes:
                raise IndexLocked(path, held, writes) from exc
            self._copy = Path(tempfile.mkdtemp(prefix="gridworker-snapshot-"))
            shutil.copytree(path, self._copy / "edge", ignore=shutil.ignore_patterns(holder.RECORD, "*.tmp"))
            self._shard = self._open(self._copy / "edge", config)
            self.snapshot_of = held
            logger.info("index %s is held by %s: reading a snapshot", path, held.describe())
        else:
            holder.claim(path, writes=writes)

    @staticmethod
    def _open(path: Path, config: qe.EdgeConfig) -> qe.EdgeShard:
        try:
            if (path / "edge_config.json").exists() or any(path.glob("segments*")):
                return qe.EdgeShard.load(str(path), config)
            path.mkdir(parents=True, exist_ok=True)
            shard = qe.EdgeShard.create(str(path), config)
            for name in KEYWORD_INDEXES:
                shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))
            shard.update(qe.UpdateOperation.create_field_index("article_no", qe.PayloadSchemaType.Integer))
            return shard
        except Exception as exc:  # the binding raises plain exceptions; translate at the boundary
            msg = str(exc)
            if "wouldblock" in msg.lower().replace(" ", "") or "lock" in msg.lower():
                raise _Locked(msg) from exc
            if "incompatible" in msg.lower() or "mismatch" in msg.lower() or "vector" in msg.lower():
                raise SchemaMismatch(f"index at {path} does not match the configured vectors: {msg}") from exc
            raise IndexError_(f"cannot open Qdrant Edge shard at {path}: {msg}") from exc

    @property
    def has_dense(self) -> bool:
        return bool(self._dense_dim)

    def upsert(
        self, chunks: Sequence[Chunk], sparse: Sequence[SparseVector], dense: Sequence[list[float]] | None
    ) -> None:
        points = []
        for i, chunk in enumerate(chunks):
            vector: dict[str, Any] = {SPARSE: qe.SparseVector(indices=sparse[i].indices, values=sparse[i].values)}
            if dense is not None:
                vector[DENSE] = dense[i]
            points.append(qe.Point(id=chunk.point_id, vector=vector, payload=chunk.payload()))
        for start in range(0, len(points), _BATCH):
            self._shard.update(qe.UpdateOperation.upsert_points(points[start : start + _BATCH]))
        self._shard.flush()

    def set_file_hash(self, point_ids: Sequence[str], file_hash: str) -> None:
        if point_ids:
            self._shard.update(qe.UpdateOperation.set_payload(list(point_ids), {"file_hash": file_hash}))
            self._shard.flush()

    def delete(self, point_ids: Sequence[str]) -> None:
        if point_ids:
            self._shard.update(qe.UpdateOperation.delete_points(list(point_ids)))
            self._shard.flush()

    def scroll_state(self, root: str) -> dict[str, dict[str, tuple[str, str]]]:
        state: dict[str, dict[str, tuple[str, str]]] = {}
        flt = qe.Filter(must=[qe.FieldCondition(key="root", match=qe.MatchValue(value=root))])
        offset = None
        while True:
            records, offset = self._shard.scroll(
                qe.ScrollRequest(offset=offset, limit=4096, filter=flt, with_payload=STATE_FIELDS, with_vector=False)
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
        sparse_q = qe.Query.Nearest(qe.SparseVector(indices=sparse.indices, values=sparse.values), using=SPARSE)
        flt = _filter(filters)
        if dense is not None and self.has_dense and not sparse.indices:  # dense neighbours only
            request = qe.QueryRequest(limit=limit, query=qe.Query.Nearest(dense, using=DENSE), filter=flt,
                                      with_payload=payload, with_vector=False)
        elif dense is not None and self.has_dense:
            fetch = limit * PREFETCH_FACTOR
            request = qe.QueryRequest(
                limit=limit,
                prefetches=[
                    qe.Prefetch(limit=fetch, query=sparse_q, filter=flt),
                    qe.Prefetch(limit=fetch, query=qe.Query.Nearest(dense, using=DENSE), filter=flt),
                ],
                query=qe.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]  # the stub names the outer class only
                with_payload=payload,
                with_vector=False,
            )
        else:
            if not sparse.indices:
                return []
            request = qe.QueryRequest(limit=limit, query=sparse_q, filter=flt, with_payload=payload, with_vector=False)
        return [IndexHit(str(p.id), p.score, p.payload or {}) for p in self._shard.query(request)]

    def scan(self, fields: list[str]) -> list[IndexHit]:
        out: list[IndexHit] = []
        offset = None
        while True:
            records, offset = self._shard.scroll(
                qe.ScrollRequest(offset=offset, limit=4096, with_payload=fields, with_vector=False)
            )
            out.extend(IndexHit(str(r.id), 0.0, r.payload or {}) for r in records)
            if offset is None:
                return out

    def payloads(self, point_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        records = self._shard.retrieve(list(point_ids), with_payload=True, with_vector=False)
        return {str(r.id): r.payload or {} for r in records}

    def count(self) -> int:
        return self._shard.count(qe.CountRequest(exact=True))

    def facet(self, field: str) -> dict[str, int]:
        response = self._shard.facet(qe.FacetRequest(key=field, limit=1000, exact=True))
        return {str(h.value): h.count for h in response.hits}

    def close(self) -> None:
        self._shard.close()
        if self._copy is not None:
            shutil.rmtree(self._copy, ignore_errors=True)
        else:
            holder.release(self.path)


class _Locked(Exception):
    """Qdrant Edge could not take the shard's lock: another process holds it."""
