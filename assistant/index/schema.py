"""The collection schema both Qdrant back-ends share: vector names, payload indexes, RRF parameter."""

from __future__ import annotations

from typing import Any

from assistant.domain import SearchFilters

COLLECTION = "gridworker"
SPARSE = "sparse"
DENSE = "dense"
KEYWORD_INDEXES = ("category", "level", "audience", "doc_id", "root", "file", "article_key")
RRF_K = 60
PREFETCH_FACTOR = 4  # each hybrid branch fetches limit × this before fusion
STATE_FIELDS = ["file", "content_hash", "file_hash"]



def filter_fields(filters: SearchFilters) -> list[tuple[str, list[str]]]:
    """The payload fields a search filter constrains, each with the values any of which may match."""
    pairs = (
        ("category", filters.categories),
        ("level", filters.levels),
        ("audience", filters.audiences),
        ("doc_id", filters.doc_ids),
    )
    return [(key, list(values)) for key, values in pairs if values]


def add_state(state: dict[str, dict[str, tuple[str, str]]], point_id: object, payload: dict[str, Any] | None) -> None:
    """Fold one scrolled point into the ingest state: file → {point_id: (content_hash, file_hash)}."""
    p = payload or {}
    state.setdefault(p["file"], {})[str(point_id)] = (p["content_hash"], p["file_hash"])
