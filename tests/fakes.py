"""Test doubles that implement the ports for real (no mocks)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence


class HashingEmbedder:
    """A deterministic `Embedder`: character bigrams hashed into 64 dims, L2-normalised."""

    name = "fake-hashing-64"
    dim = 64

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        for a, b in zip(text, text[1:], strict=False):
            v[int(hashlib.md5((a + b).encode()).hexdigest()[:8], 16) % self.dim] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)
