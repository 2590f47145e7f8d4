"""Chinese tokenisation for the sparse (BM25-style) vector: jieba with the project's dictionary of
governance and legal terms, search-mode segmentation, stopwords and punctuation removed."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from functools import cached_property
from importlib import resources
from pathlib import Path

import jieba

logger = logging.getLogger(__name__)

_DATA = resources.files("assistant.retrieval") / "data"
_KEEP = re.compile(r"[\u4e00-\u9fff0-9a-z]")


def _read_data(name: str) -> str:
    return (_DATA / name).read_text(encoding="utf-8")


class Tokenizer:
    """A jieba tokenizer of its own (never the global one), loaded once per process."""

    def __init__(self, user_dict: Path | None = None, extra_terms: Iterable[str] = ()) -> None:
        self._user_dict = user_dict
        self._extra_terms = tuple(extra_terms)

    @cached_property
    def _jieba(self) -> jieba.Tokenizer:
        jieba.setLogLevel(logging.WARNING)
        tok = jieba.Tokenizer()
        tok.initialize()
        for line in _read_data("user_dict.txt").splitlines():
            self._add_dict_line(tok, line)
        if self._user_dict is not None:
            for line in self._user_dict.read_text(encoding="utf-8").splitlines():
                self._add_dict_line(tok, line)
        for term in self._extra_terms:
            tok.add_word(term, freq=2000)
        return tok

    @staticmethod
    def _add_dict_line(tok: jieba.Tokenizer, line: str) -> None:
        line = line.strip()
        if not line or line.startswith("#"):
            return
        word, *rest = line.split()
        freq = int(rest[0]) if rest and rest[0].isdigit() else 2000
        tok.add_word(word, freq=freq)

    @cached_property
    def stopwords(self) -> frozenset[str]:
        return frozenset(
            w.strip() for w in _read_data("stopwords.txt").splitlines() if w.strip() and not w.startswith("#")
        )

    @cached_property
    def signature(self) -> str:
        """Changes whenever the vocabulary changes, so stale sparse vectors are re-encoded."""
        h = hashlib.sha1()
        h.update(_read_data("user_dict.txt").encode())
        h.update(_read_data("stopwords.txt").encode())
        if self._user_dict is not None:
            h.update(self._user_dict.read_bytes())
        h.update("|".join(self._extra_terms).encode())
        return h.hexdigest()[:12]

    def tokens(self, text: str) -> list[str]:
        """Search-mode tokens (overlapping n-grams of long words), stopwords and punctuation dropped."""
        stop = self.stopwords
        return [
            t
            for t in self._jieba.cut_for_search(text.lower(), HMM=True)
            if t not in stop and _KEEP.search(t) is not None
        ]

    def add_words(self, words: Iterable[str]) -> None:
        for w in words:
            self._jieba.add_word(w, freq=2000)
