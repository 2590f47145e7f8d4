"""One typed settings object. Every field has an environment variable (GRIDWORKER_…, nested with `__`)
and an embedded default that runs on a laptop with no model, no GPU and no server."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_LEARNED = Path(__file__).resolve().parent / "retrieval" / "data" / "learned.json"


class QdrantSettings(BaseModel):
    url: str | None = Field(default=None, description="Qdrant server/cluster URL; unset = embedded Qdrant Edge")
    api_key: SecretStr | None = None
    collection: str = "gridworker"


class EmbeddingSettings(BaseModel):
    model: str | None = Field(
        default=None,
        description=(
            "sentence-transformers model: a local folder, an id already in the HF cache (never downloaded), "
            "or package:<python package> for a model shipped inside a PyPI package. Unset = sparse only."
        ),
    )
    query_prefix: str = ""  # bge-*-zh-v1.5: "为这个句子生成表示以用于检索相关文章："
    batch_size: int = 32
    device: str = "cpu"


class CrossEncoderSettings(BaseModel):
    model: str | None = Field(
        default=None,
        description="sentence-transformers CrossEncoder (production: BAAI/bge-reranker-base, local folder); "
        "unset = no cross-encoder stage",
    )
    top_n: int = 20  # how many of the ranked articles it re-scores
    batch_size: int = 32
    device: str = "cpu"


class RetrievalSettings(BaseModel):
    k1: float = 1.2
    b: float = 0.75
    avg_len: float = 120.0
    expansion_weight: float = 0.5
    max_chunk_chars: int = 500
    user_dict: Path | None = None
    synonyms: Path | None = None
    learned: Path | None = Field(
        default=DEFAULT_LEARNED,
        description="learned artefact (gridworker learn); unset/empty = no learned stages (plain sparse/hybrid)",
    )
    rerank: bool = True  # the learned second stage (needs `learned`)
    assoc: bool = True  # learned query associations in the first stage
    memory: bool = True  # candidates from the learned lay-word profiles
    candidates: int = 300  # first-stage depth fed to the reranker
    memory_k: int = 100  # articles taken from the lay-word profiles
    assoc_weight: float = 0.3

    @field_validator("k1", "avg_len", "max_chunk_chars")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be positive")
        return v


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDWORKER_", env_nested_delimiter="__", extra="ignore")

    index_dir: Path = Path("./data/index")
    corpus_dir: Path = Path("../shared/corpus")
    eval_dir: Path = Path("../shared/eval")
    taxonomy: Path = Path(__file__).resolve().parent.parent / "corpus" / "taxonomy.json"
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    cross_encoder: CrossEncoderSettings = Field(default_factory=CrossEncoderSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
