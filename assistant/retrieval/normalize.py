"""Text normalisation shared by ingest and queries, so that both sides meet on the same characters."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import zhconv

# Characters the corpus README lists as quirks, plus the BOM.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = dict.fromkeys(map(ord, "\u3000\u2002\u2003\u2009\u00a0\u202f"), " ")
_FULLWIDTH_DIGITS = {ord("０") + i: ord("0") + i for i in range(10)}
_DOC_TABLE = {**_INVISIBLE, **_SPACES, **_FULLWIDTH_DIGITS}


def normalize_document(text: str) -> str:
    """Normalise a source file without changing its structure (line breaks and markers are kept)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_DOC_TABLE)
    return text.replace("<!-- FORCE BREAK -->", "")


_PUNCT_RUN = re.compile(r"[\s\u3000]+")


@lru_cache(maxsize=4096)
def normalize_query(text: str) -> str:
    """Normalise what a user typed: NFKC (full width → half width), traditional → simplified, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE))
    text = zhconv.convert(text, "zh-cn")
    return _PUNCT_RUN.sub(" ", text).strip().lower()
