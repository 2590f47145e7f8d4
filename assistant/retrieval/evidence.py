"""What retrieval knows about a question's words, for answering: its content words, the lexicon's statutory and
dialect forms of them, and how much of the question the retrieved texts cover (the evidence the answer decision
weighs). Answering reads these through `Retriever.vocabulary` and `Retriever.coverage`, over the `SparseEncoder`
port and the learned associations, never through a concrete encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assistant.domain import Hit
from assistant.ports import SparseEncoder
from assistant.retrieval.learned import LearnedModel
from assistant.retrieval.normalize import normalize_query

# Words that say little about the topic: they may not carry a sentence on their own, nor count as evidence.
GENERIC = frozenset(
    "申请 处理 办理 怎么 如何 可以 不能 能不能 规定 问题 需要 没 有 里 要 人 我 我们 你 他 她 家 "
    "请问 一下 现在 这个 那个 啥 啥子 咋 咋个 "
    "告诉 告诉我 教 教我 帮 帮我 帮忙 知道 想 想问 问问 一个 什么 哪个 东西 情况 事情"
    .split()
)


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a question the top texts speak of."""

    share: float  # 0..1: covered weight over the weight of every content word
    terms: int  # content words of the question (0: nothing to weigh)
    covered: float  # covered weight (each word weighs its length, at most 4)


class Vocabulary:
    """The question's words as retrieval reads them (query terms, lexicon expansions, synonyms) and their coverage by
    retrieved texts."""

    def __init__(self, encoder: SparseEncoder, learned: LearnedModel | None = None) -> None:
        self.encoder = encoder
        self.learned = learned

    def terms(self, question: str) -> list[str]:
        """The question's own terms after normalisation, before any expansion."""
        return self.encoder.query_terms(question)

    def expansions(self, question: str) -> list[str]:
        """The words the lexicon adds to the question (吃低保 → 最低生活保障), tokenised."""
        return [t for e in self.encoder.variants(normalize_query(question)) for t in self.encoder.tokens(e)]

    def synonyms(self, term: str) -> list[str]:
        """The lexicon's statutory and dialect forms of one word, tokenised."""
        return [t for e in self.encoder.variants(term) for t in self.encoder.tokens(e)]

    def coverage(self, question: str, hits: Sequence[Hit]) -> Coverage:
        """Each content word of the question counts by its length; it is covered when the top three texts contain it
        (1), a synonym or dialect rewrite of it from the lexicon (0.8), or a statutory word that the learned
        associations tie it to (the association's strength, at most 0.8)."""
        terms = [t for t in dict.fromkeys(self.encoder.query_terms(question)) if len(t) >= 2 and t not in GENERIC]
        weights = {t: float(min(len(t), 4)) for t in terms if not any(t != o and t in o for o in terms)}
        if not weights or not hits:
            return Coverage(0.0, len(weights), 0.0)
        text = normalize_query(" ".join(f"{h.title} {h.breadcrumb} {h.text}" for h in hits[:3]))
        covered = sum(weight * self._covers(term, text) for term, weight in weights.items())
        return Coverage(covered / sum(weights.values()), len(weights), covered)

    def _covers(self, term: str, text: str) -> float:
        """1 when the text has the word, else the best of its lexicon forms (0.8) and learned associations."""
        if term in text:
            return 1.0
        best = 0.0
        if any(e in text for e in self.encoder.variants(term) if e and e != term):
            best = 0.8
        if self.learned is not None:
            for target, strength in self.learned.assoc.get(term, ()):
                if target in text:
                    best = max(best, min(0.8, float(strength)))
        return best
