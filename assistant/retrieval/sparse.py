"""BM25-style sparse vectors from jieba tokens.

Documents carry the BM25 term-frequency part, tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len)); Qdrant's IDF
modifier multiplies in the inverse document frequency at query time, so the index stays correct as documents
are added or removed. `avg_len` is a fixed setting (part of the encoder signature) rather than a live corpus
statistic, which keeps every stored vector valid under incremental ingest.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence

from assistant.domain import SparseVector
from assistant.retrieval.lexicon import Lexicon
from assistant.retrieval.normalize import normalize_query
from assistant.retrieval.tokenize import Tokenizer


def term_id(term: str) -> int:
    """Stable 32-bit id of a term (Qdrant sparse indices are u32). crc32 collides rarely at this vocabulary size."""
    return zlib.crc32(term.encode("utf-8"))


class Bm25SparseEncoder:
    """Implements the `SparseEncoder` port."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        lexicon: Lexicon,
        k1: float = 1.2,
        b: float = 0.75,
        avg_len: float = 120.0,
        expansion_weight: float = 0.5,
    ) -> None:
        self.tokenizer = tokenizer
        self.lexicon = lexicon
        self.k1, self.b, self.avg_len = k1, b, avg_len
        self.expansion_weight = expansion_weight
        tokenizer.add_words(lexicon.terms())
        # jieba loads its HMM tables on the first cut; pay that once here, not in a user's first query.
        tokenizer.tokens("网格员走访独居老人")

    @property
    def signature(self) -> str:
        return f"bm25:{self.k1}:{self.b}:{self.avg_len}:{self.tokenizer.signature}:{self.lexicon.signature}"

    def encode_document(self, text: str, extra: Sequence[str] = (), extra_weight: float = 0.5) -> SparseVector:
        """BM25 document weights of the text; `extra` (the article's lay questions) adds its own BM25 weights,
        scaled by `extra_weight`, as a separate field of the same vector."""
        items: dict[int, float] = {}
        self._add(items, self.tokenizer.tokens(text), 1.0)
        if extra:
            self._add(items, self.tokenizer.tokens("\n".join(extra)), extra_weight)
        return _to_vector(items)

    def _add(self, items: dict[int, float], tokens: list[str], weight: float) -> None:
        counts = Counter(tokens)
        norm = self.k1 * (1 - self.b + self.b * len(tokens) / self.avg_len)
        for term, tf in counts.items():
            tid = term_id(term)
            items[tid] = items.get(tid, 0.0) + weight * tf * (self.k1 + 1) / (tf + norm)

    def query_terms(self, text: str) -> list[str]:
        """The query's own tokens after normalisation (no expansion)."""
        return self.tokenizer.tokens(self._rewritten(text))

    def _rewritten(self, text: str) -> str:
        """Normalised (width, script, spaces), then dialect rewritten: what every query-side path starts from."""
        return self.lexicon.rewrite(normalize_query(text))

    def query_text(self, text: str, expand: bool = True) -> str:
        """The query as text for a dense model: normalised, dialect rewritten (咋个 → 怎么) and, with `expand`, the
        lexicon's statutory terms appended (吃低保 → … 最低生活保障), so the embedder reads the law's words too."""
        query = self._rewritten(text)
        extra = self.lexicon.expand(query) if expand else []
        return " ".join([query, *extra])

    def encode_query(self, text: str, extra: dict[str, float] | None = None) -> SparseVector:
        """Query tokens at weight 1, lexicon expansions at `expansion_weight`, `extra` terms at their weight."""
        query = self._rewritten(text)
        items: dict[int, float] = {}
        for term in self.tokenizer.tokens(query):
            tid = term_id(term)
            items[tid] = max(items.get(tid, 0.0), 1.0)
        for expansion in self.lexicon.expand(query):
            for term in self.tokenizer.tokens(expansion):
                tid = term_id(term)
                items[tid] = max(items.get(tid, 0.0), self.expansion_weight)
        for term, weight in (extra or {}).items():
            tid = term_id(term)
            items[tid] = max(items.get(tid, 0.0), weight)
        return _to_vector(items)

    def variants(self, text: str) -> list[str]:
        """The lexicon's statutory forms of a word or question after its dialect rewrite (吃低保 → 最低生活保障),
        as texts: what `encode_query` adds at `expansion_weight`."""
        return self.lexicon.expand(self.lexicon.rewrite(text))

    def tokens(self, text: str) -> list[str]:
        """The tokenizer's words of a text as it is (no normalisation, rewrite or expansion)."""
        return self.tokenizer.tokens(text)


def _to_vector(items: dict[int, float]) -> SparseVector:
    indices = sorted(items)
    return SparseVector(indices=indices, values=[items[i] for i in indices])
