"""Ports: the small protocols the core depends on. Adapters implement them; tests plug fakes in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from assistant.domain import Chunk, IndexHit, SearchFilters, SparseVector


class SparseEncoder(Protocol):
    @property
    def signature(self) -> str:
        """Identifies the vocabulary and weighting; stored vectors are stale when it changes."""
        ...

    def encode_document(self, text: str, extra: Sequence[str] = (), extra_weight: float = 0.5) -> SparseVector:
        """Term weights of a document (the BM25 tf part; the index applies IDF); `extra` texts (an article's lay
        questions) add their own weights, scaled by `extra_weight`."""
        ...

    def query_terms(self, text: str) -> list[str]:
        """The query's own terms after normalisation, before any expansion."""
        ...

    def encode_query(self, text: str, extra: dict[str, float] | None = None) -> SparseVector:
        """Term weights of a query, after normalisation and synonym expansion; `extra` adds weighted terms."""
        ...

    def query_text(self, text: str, expand: bool = True) -> str:
        """The query as a dense model should read it: normalised, rewritten and (with `expand`) expanded."""
        ...

    def variants(self, text: str) -> list[str]:
        """The lexicon's statutory forms of a word or question after its dialect rewrite, as texts (the expansion
        `encode_query` adds). Answering reads them, through `retrieval.evidence.Vocabulary`, to rank sentences and
        weigh coverage."""
        ...

    def tokens(self, text: str) -> list[str]:
        """The tokenizer's words of a text as it is: no normalisation, rewrite or expansion."""
        ...



class Embedder(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Dense vectors of passages, normalised for cosine similarity."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """Dense vector of a query (some models prefix queries with an instruction)."""
        ...


class CrossScorer(Protocol):
    @property
    def name(self) -> str: ...

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """Relevance of each text to the query, read together (a cross-encoder); higher is better."""
        ...


class Index(Protocol):
    @property
    def has_dense(self) -> bool: ...

    def upsert(
        self, chunks: Sequence[Chunk], sparse: Sequence[SparseVector], dense: Sequence[list[float]] | None
    ) -> None:
        """Insert or replace points by their deterministic ids."""
        ...

    def set_file_hash(self, point_ids: Sequence[str], file_hash: str) -> None:
        """Re-stamp unchanged chunks of a changed file, without touching their vectors."""
        ...

    def delete(self, point_ids: Sequence[str]) -> None: ...

    def scroll_state(self, root: str) -> dict[str, dict[str, tuple[str, str]]]:
        """file → {point_id: (content_hash, file_hash)} for every point ingested from root."""
        ...

    def query(
        self,
        sparse: SparseVector,
        dense: list[float] | None,
        filters: SearchFilters,
        limit: int,
        fields: list[str] | None = None,
    ) -> list[IndexHit]:
        """Sparse alone, or sparse and dense prefetch fused with RRF when a dense vector is given, or dense
        neighbours alone when the sparse vector is empty and a dense one is given.
        `fields` limits the payload returned (None = all of it, [] = none)."""
        ...

    def payloads(self, point_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Full payloads of the given points."""
        ...

    def scan(self, fields: list[str]) -> list[IndexHit]:
        """Every point with the given payload fields (the retriever's in-memory catalog)."""
        ...

    def count(self) -> int: ...

    def facet(self, field: str) -> dict[str, int]:
        """Number of points per value of a keyword payload field."""
        ...

    def close(self) -> None: ...


class ChatModel(Protocol):
    """An instruction-tuned chat model behind an OpenAI-compatible API (vLLM in production)."""

    @property
    def name(self) -> str: ...

    def complete(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> str:
        """The whole reply. Raises LLMUnavailable when the server cannot be reached or keeps failing."""
        ...

    def stream(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> Iterator[str]:
        """The reply as it is generated, piece by piece."""
        ...

    def ping(self) -> bool:
        """Whether the server answers now (for /readyz); never raises."""
        ...


class Notifier(Protocol):
    """Tells a resident, on the channel that brought them, that their report moved (the outbox's status notices).
    Adapters: `WeChatChannel` (a customer-service push, or kept to collect), the webhook channel (a callback POST).
    `user_ref` is the channel's own id for the resident (`UserRef.ref`); `report` is the dispatch store's JSON.
    Raises when the notice could not be handed over, so the outbox keeps the row and retries it."""

    async def notify_status(self, user_ref: str, report: dict[str, Any], note: str) -> None: ...


class SessionStore(Protocol):
    """What the front desk keeps per resident between messages, shared by every worker process and kept across
    restarts: the reporting conversation (`get`/`put` of small JSON documents, by name, with a lifetime) and the
    messages kept for a resident to collect. Adapters: the channel stores `SQLiteStore` and `RedisStore`
    (`assistant/channels/wechat/store.py`, built for every deployment); `PersistentConversations` keeps the answer
    service's conversations in one."""

    def get(self, name: str) -> dict[str, Any] | None:
        """The document stored under `name`, or None (never stored, or expired)."""
        ...

    def put(self, name: str, value: dict[str, Any], ttl_s: float | None = None) -> None:
        """Store `value` under `name`, for `ttl_s` seconds (None: no expiry)."""
        ...

    def add_pending(self, openid: str, text: str) -> None:
        """Keep a message for a resident (by the channel's id for them) to collect with their next message."""
        ...

    def take_pending(self, openid: str) -> list[str]:
        """The messages kept for a resident, oldest first; they are removed."""
        ...
