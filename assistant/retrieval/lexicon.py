"""The governance synonym lexicon: residents' words → the law's words (低保 → 最低生活保障).

The lexicon is a TSV the team maintains (`data/synonyms.tsv`): a colloquial term, then one or more
statutory terms separated by `|`. Expansion is by substring, so 遛狗不拴绳 triggers both 遛狗 and 拴绳.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Lexicon:
    entries: tuple[tuple[str, tuple[str, ...]], ...]
    rewrites: tuple[tuple[str, str], ...] = ()  # spoken / dialect forms → Mandarin (data/dialect.tsv)

    @classmethod
    def load(cls, extra: Path | None = None) -> Lexicon:
        text = (resources.files("assistant.retrieval") / "data" / "synonyms.tsv").read_text(encoding="utf-8")
        if extra is not None:
            text += "\n" + extra.read_text(encoding="utf-8")
        entries: dict[str, list[str]] = {}
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            head, _, tail = line.partition("\t")
            targets = [t.strip() for t in tail.split("|") if t.strip()]
            if head and targets:
                entries.setdefault(head.strip(), []).extend(t for t in targets if t not in entries.get(head, []))
        # Longest keys first so that 物业服务费 wins over 物业 when both would match.
        ordered = sorted(entries.items(), key=lambda kv: -len(kv[0]))
        dialect = (resources.files("assistant.retrieval") / "data" / "dialect.tsv").read_text(encoding="utf-8")
        rewrites = {}
        for line in dialect.splitlines():
            src, sep, dst = line.strip().partition("\t")
            if sep and not src.startswith("#"):
                rewrites[src] = dst.strip()
        by_length = sorted(rewrites.items(), key=lambda kv: -len(kv[0]))
        return cls(tuple((k, tuple(v)) for k, v in ordered), tuple(by_length))

    def rewrite(self, query: str) -> str:
        """Spoken and dialect forms to Mandarin (咋个 → 怎么, 娃儿 → 孩子), longest first, one pass."""
        for src, dst in self.rewrites:
            if src in query:
                query = query.replace(src, dst)
        return query

    def expand(self, query: str) -> list[str]:
        """Statutory terms implied by the query, in lexicon order, without repeats or terms already present."""
        out: list[str] = []
        for key, targets in self.entries:
            if key in query:
                out.extend(t for t in targets if t not in out and t not in query)
        return out

    def terms(self) -> set[str]:
        """Every term on either side: they go into the tokenizer's dictionary."""
        words: set[str] = set()
        for key, targets in self.entries:
            words.add(key)
            words.update(targets)
        return words

    @property
    def signature(self) -> str:
        return hashlib.sha1(repr((self.entries, self.rewrites)).encode()).hexdigest()[:12]
