"""Where a resident's message says the problem is: a learned character tagger.

A linear-chain CRF (python-crfsuite) reads the message character by character — the character and its neighbours,
its kind (Han, digit, Chinese numeral, Latin), and the jieba word it belongs to (position in the word, the word
itself when short, whether the word ends in a place word such as 小区 / 路 / 栋 / 门口) — and tags the span a grid
worker could use to find the spot (「龙湖春森彼岸5栋2单元门口」「九龙村3组」「石桥铺派出所对面那个公交站」). It
is learned from the report bank's `place` labels (`data/intent_bank*.jsonl`, written apart from every evaluation
set): a message that names only what every building has (楼底下, 隔壁, 小区门口) is labelled with no place, so the
tagger learns to find none there and the assistant asks.

`gridworker learn-place` fits it; 5-fold cross-validation on the bank chooses the L1/L2 strengths and the span
confidence (the product of the span's tag marginals) below which the tagger's span is not trusted and the rules
(`extract.find_place`) are read instead. The fitted model is a small binary artefact (`data/place.crfsuite`) with a
JSON sidecar recording what was chosen and the bank's digest; without either (or without python-crfsuite) the rules
decide alone, and `PlaceReader.mode` says so.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import product
from pathlib import Path

from assistant.retrieval.normalize import normalize_query

logger = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
MODEL = DATA / "place.crfsuite"
SIDECAR = DATA / "place.json"
PLACE_WORDS = re.compile(
    r"(?:小区|花园|苑|山庄|天地|公寓|大厦|新村|家园|广场|市场|公园|学校|小学|中学|幼儿园|医院|大院|宿舍|家属院|"
    r"路|街|大道|巷|村|组|社|站|桥|立交|栋|幢|单元|号|楼|门口|对面|背后|后面|旁边|楼下|附近|路口|湾|坝|坪|沟|城|府|园|"
    r"超市|加油站|派出所|商场|酒店|饭店|车库|停车场)$"
)
NUMERALS = "零一二三四五六七八九十百两"
C1_GRID = (0.0, 0.05, 0.2)
C2_GRID = (0.01, 0.05, 0.2)
CONFIDENCE_GRID = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8)


def _kind(ch: str) -> str:
    if ch.isdigit():
        return "d"
    if ch in NUMERALS:
        return "n"
    if "\u4e00" <= ch <= "\u9fff":
        return "h"
    if ch.isalpha():
        return "a"
    return "p"


def _words(text: str) -> list[tuple[str, int]]:
    """Each character's jieba word and its position in it (0 = first)."""
    import jieba

    out: list[tuple[str, int]] = []
    for word in jieba.cut(text, HMM=True):
        out.extend((word, i) for i in range(len(word)))
    return out


def features(text: str) -> list[list[str]]:
    """CRF features of every character of `text` (already normalised)."""
    words = _words(text)
    n = len(text)
    out = []
    for i, ch in enumerate(text):
        word, pos = words[i] if i < len(words) else (ch, 0)
        last = pos == len(word) - 1
        f = [
            "b", f"c={ch}", f"k={_kind(ch)}",
            f"wp={'S' if len(word) == 1 else 'B' if pos == 0 else 'E' if last else 'M'}",
            f"wl={min(len(word), 4)}",
        ]
        if len(word) <= 4:
            f.append(f"w={word}")
        if PLACE_WORDS.search(word):
            f.append("pw")
            if last:
                f.append("pw_end")
        for off in (-3, -2, -1, 1, 2, 3):
            j = i + off
            c = text[j] if 0 <= j < n else ("^" if j < 0 else "$")
            f.append(f"c{off}={c}")
            if abs(off) == 1:
                f.append(f"k{off}={_kind(c) if c not in '^$' else c}")
        prev = text[i - 1] if i else "^"
        nxt = text[i + 1] if i + 1 < n else "$"
        f += [f"bg-={prev}{ch}", f"bg+={ch}{nxt}"]
        if 0 < i + 1 < n:
            f.append(f"tri={prev}{ch}{nxt}")
        out.append(f)
    return out


def tags(text: str, place: str | None) -> list[str]:
    """BIO tags of `text` with the first occurrence of `place` as the span."""
    out = ["O"] * len(text)
    if place:
        start = text.find(place)
        if start >= 0:
            out[start] = "B"
            for i in range(start + 1, start + len(place)):
                out[i] = "I"
    return out


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    start: int
    confidence: float  # the product of the span's tag marginals (how sure the tagger is of exactly this span)


def _best_span(text: str, labels: Sequence[str], marginal: Callable[[str, int], float]) -> Span | None:
    spans: list[Span] = []
    i = 0
    while i < len(labels):
        if labels[i] == "B" or (labels[i] == "I" and (i == 0 or labels[i - 1] == "O")):
            j = i + 1
            while j < len(labels) and labels[j] == "I":
                j += 1
            conf = 1.0
            for k in range(i, j):
                conf *= marginal(labels[k], k)
            if j < len(labels):
                conf *= marginal("O", j) if labels[j] == "O" else 1.0
            spans.append(Span(text[i:j], i, conf))
            i = j
        else:
            i += 1
    return max(spans, key=lambda s: s.confidence) if spans else None


class PlaceTagger:
    """The fitted CRF; `span(text)` is the most confident place span of the normalised text, or None."""

    def __init__(self, model_path: Path) -> None:
        import pycrfsuite

        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(model_path))
        # a crfsuite tagger holds the sequence it was last `set`: one message at a time (WeChat pushes and API
        # requests are served from several threads)
        self._lock = threading.Lock()

    def span(self, text: str) -> Span | None:
        t = normalize_query(text)
        if not t:
            return None
        items = features(t)
        with self._lock:
            self._tagger.set(items)
            labels = self._tagger.tag()
            return _best_span(t, labels, self._tagger.marginal)


def train(rows: Sequence[tuple[str, str | None]], target: Path, c1: float, c2: float) -> None:
    import pycrfsuite

    trainer = pycrfsuite.Trainer(verbose=False)
    for text, place in rows:
        t = normalize_query(text)
        trainer.append(features(t), tags(t, normalize_query(place) if place else None))
    trainer.set_params({"c1": c1, "c2": c2, "max_iterations": 150, "feature.possible_transitions": True})
    trainer.train(str(target))


def labelled(bank: Sequence[dict]) -> list[tuple[str, str | None]]:  # type: ignore[type-arg]
    """The bank's problem messages with their place (None: no findable place), the place found in the text."""
    out: list[tuple[str, str | None]] = []
    for r in bank:
        if r.get("intent") not in ("report", "both", "emergency"):
            continue
        place = r.get("place") or None
        t = normalize_query(r["text"])
        if place and normalize_query(place) not in t:
            continue
        out.append((r["text"], place))
    return out


def _right(found: str, gold: str | None) -> bool:
    """What the report bench counts: the gold place inside what was kept; no place kept where none is findable."""
    if gold is None:
        return not found
    return bool(found) and normalize_query(gold) in normalize_query(found)


@dataclass(slots=True)
class Fitted:
    c1: float
    c2: float
    confidence: float  # below this the rules are read instead of the tagger's span
    trust_none: bool  # where the tagger finds no place: none (True) or what the rules find (False)
    ranked: bool  # the rules' place wins where it ranks higher (a name or number the span lacks)
    screened: bool  # a span of only generic words (楼下, 门口, 工地) is read as no span
    cv: dict[str, float]
    bank_digest: str

    def to_json(self) -> dict[str, object]:
        return {"c1": self.c1, "c2": self.c2, "confidence": self.confidence, "trust_none": self.trust_none,
                "ranked": self.ranked, "screened": self.screened, "cv": self.cv, "bank_digest": self.bank_digest}


def fit(rows: list[tuple[str, str | None]], rules: Callable[[str], str], rank: Callable[[str], int],
        findable: Callable[[str], bool], bank_digest: str, target: Path = MODEL, folds: int = 5,
        log: Callable[[str], None] = lambda s: None) -> Fitted:
    """Choose (c1, c2) and the confidence floor by `folds`-fold CV on `rows`, then fit on all of them."""
    import random

    order = list(range(len(rows)))
    random.Random(7).shuffle(order)
    parts = [order[i::folds] for i in range(folds)]
    rule_found = [rules(text) for text, _ in rows]
    best: tuple[float, float, Policy, tuple[bool, bool], float] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for c1 in C1_GRID:
            for c2 in C2_GRID:
                spans: list[Span | None] = [None] * len(rows)
                for k, test in enumerate(parts):
                    held = set(test)
                    path = Path(tmp) / f"f{k}.crfsuite"
                    train([rows[i] for i in order if i not in held], path, c1, c2)
                    tagger = PlaceTagger(path)
                    for i in test:
                        spans[i] = tagger.span(rows[i][0])
                tagger_alone = sum(_right(s.text if s else "", rows[i][1]) for i, s in enumerate(spans)) / len(rows)
                for floor, (trust_none, ranked, screened) in product(CONFIDENCE_GRID, product((False, True), repeat=3)):
                    policy = Policy(floor, trust_none, rank if ranked else None, findable if screened else None)
                    acc = sum(_right(policy.decide(s, partial(rule_found.__getitem__, i)), rows[i][1])
                              for i, s in enumerate(spans)) / len(rows)
                    if best is None or acc > best[4] + 1e-9:
                        best = (c1, c2, policy, (ranked, screened), acc)
                        log(f"c1={c1} c2={c2} floor={floor} trust_none={trust_none} ranked={ranked} "
                            f"screened={screened}: {acc:.3f} (tagger alone {tagger_alone:.3f})")
    assert best is not None
    c1, c2, policy, (ranked, screened), acc = best
    rules_alone = sum(_right(rule_found[i], rows[i][1]) for i in range(len(rows))) / len(rows)
    train(rows, target, c1, c2)
    return Fitted(c1, c2, policy.floor, policy.trust_none, ranked, screened,
                  {"rows": float(len(rows)), "accuracy": acc, "rules_alone": rules_alone}, bank_digest)


@dataclass(frozen=True, slots=True)
class Policy:
    """How the tagger's span and the rules' place combine (each choice by cross-validation)."""

    floor: float = 1.0  # the span is trusted from this confidence up
    trust_none: bool = False  # where the tagger finds no place: none (True) or what the rules find (False)
    rank: Callable[[str], int] | None = None  # given: the rules' place wins where it ranks higher (a name, a number)
    findable: Callable[[str], bool] | None = None  # given: a span of only the words every building has is no span

    def decide(self, span: Span | None, rules: Callable[[], str]) -> str:
        if span is not None and self.findable is not None and not self.findable(span.text):
            span = None
        if span is not None and span.confidence >= self.floor:
            if self.rank is not None:
                other = rules()
                if other and self.rank(other) > self.rank(span.text):
                    return other
            return span.text
        if span is None and self.trust_none:
            return ""
        return rules()


class PlaceReader:
    """The tagger's span where it is sure enough, else the rules (`extract.find_place`)."""

    def __init__(self, tagger: PlaceTagger | None, rules: Callable[[str], str], policy: Policy = Policy()) -> None:
        self.tagger, self.rules, self.policy = tagger, rules, policy

    @property
    def mode(self) -> str:
        return "learned" if self.tagger is not None else "rules"

    def find(self, text: str) -> str:
        if self.tagger is None:
            return self.rules(text)
        return self.policy.decide(self.tagger.span(text), lambda: self.rules(text))


def load(rules: Callable[[str], str], rank: Callable[[str], int], findable: Callable[[str], bool],
         model_path: Path = MODEL, sidecar: Path = SIDECAR) -> PlaceReader:
    """The packaged tagger, or the rules alone when it (or python-crfsuite) is missing."""
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        policy = Policy(float(meta["confidence"]), bool(meta["trust_none"]), rank if meta["ranked"] else None,
                        findable if meta["screened"] else None)
        return PlaceReader(PlaceTagger(model_path), rules, policy)
    except (OSError, ImportError, ValueError, KeyError) as exc:
        logger.info("place tagger not used (%s): the rules find places", exc)
        return PlaceReader(None, rules)
