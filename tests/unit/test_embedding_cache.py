"""The passage-vector cache keeps what a long first run embedded even when the run is interrupted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant.embedders import CachedEmbedder
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.unit


class FailsAfter(HashingEmbedder):
    """Embeds `calls` batches, then fails (a killed or crashed process)."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.seen: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if self.calls == 0:
            raise RuntimeError("interrupted")
        self.calls -= 1
        self.seen.extend(texts)
        return super().embed_documents(texts)


def test_an_interrupted_corpus_keeps_the_slices_it_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CachedEmbedder, "COMMIT_EVERY", 4)
    texts = [f"第{i}条 居民委员会的职责{i}" for i in range(10)]
    first = CachedEmbedder(FailsAfter(calls=2), tmp_path)
    with pytest.raises(RuntimeError):
        first.embed_documents(texts)
    again = FailsAfter(calls=1)
    vectors = CachedEmbedder(again, tmp_path).embed_documents(texts)
    assert again.seen == texts[8:]  # the first two slices came from the cache
    assert np.allclose(vectors, HashingEmbedder().embed_documents(texts), atol=1e-6)  # stored as float32


def test_shipped_seed_vectors_answer_before_the_model(tmp_path: Path) -> None:
    from assistant.embedders import SeedVectors

    seed = tmp_path / "seed.npz"
    SeedVectors.write(seed, ["甲", "乙"], [[1.0, 0.0], [0.0, 1.0]])

    class Inner:
        name, dim = "m", 2
        calls: list[list[str]] = []

        def embed_documents(self, texts):  # type: ignore[no-untyped-def]
            self.calls.append(list(texts))
            return [[0.5, 0.5] for _ in texts]

    inner = Inner()
    cache = CachedEmbedder(inner, tmp_path / "cache", seed=seed)
    out = cache.embed_documents(["甲", "丙", "乙"])
    assert out == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    assert inner.calls == [["丙"]]
