"""The collection schema both Qdrant back-ends share: vector names, payload indexes, RRF parameter."""

from __future__ import annotations

COLLECTION = "gridworker"
SPARSE = "sparse"
DENSE = "dense"
KEYWORD_INDEXES = ("category", "level", "audience", "doc_id", "root", "file")
RRF_K = 60
PREFETCH_FACTOR = 4  # each hybrid branch fetches limit × this before fusion
STATE_FIELDS = ["file", "content_hash", "file_hash"]
