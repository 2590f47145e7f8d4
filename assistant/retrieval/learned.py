"""The learned retrieval artefact: what residents' words map to in the law's words, learned from STARD train.

It holds, per article seen in training (keyed by normalised law title + article number):
- a *profile* of the words lay people used when that article was the answer (a resident-voice field the
  article itself does not contain), searchable through a small inverted index;
- a citation *prior* per article and per law (how often people need it);
plus term *associations* (a lay word → statutory words that co-occur with it in gold articles), the same
lay-word profiles one level up — per *chapter* (law | chapter | section) of the gold articles, which reaches the
articles next to the ones training happened to cite — and the reranker's feature weights. `gridworker learn`
rebuilds it from the train split; nothing from dev or test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

DEFAULT_PATH = Path(str(resources.files("assistant.retrieval") / "data" / "learned.json"))
SCOPE = "::"


def scoped(file: str, key: str) -> str:
    """Evidence that holds for one document only: `file::key`, where key is an article key (民法典#1067), a law
    (民法典) or a chapter key. The resident-voice train questions were written against the governance corpus's
    files, so what they teach is scoped to those files; STARD's evidence (plain keys) holds for every copy and
    version of a law. `file` is the path as the ingest pipeline records it (relative to the corpus root)."""
    return f"{file}{SCOPE}{key}"


class ProfileIndex:
    """Lay-word profiles (key → word counts) behind a small inverted index, scored BM25-like."""

    def __init__(
        self,
        profiles: dict[str, dict[str, int]],
        idf_from: dict[str, dict[str, int]] | None = None,
        unknown: dict[str, float] | None = None,
    ) -> None:
        """`idf_from`: the profiles whose document frequencies weigh the words (default: these). `unknown`: the
        weights of words none of those profiles has, counted in the query's coverage only (the calibration)."""
        self.unknown = unknown or {}
        self.postings: dict[str, list[tuple[str, int]]] = {}
        for key, terms in profiles.items():
            for term, count in terms.items():
                self.postings.setdefault(term, []).append((key, count))
        population = profiles if idf_from is None else idf_from
        df = Counter(term for terms in population.values() for term in terms)
        n = max(len(population), 1)
        self.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

    def match(self, terms: Iterable[str], own: Counter[str], held: frozenset[str]) -> dict[str, float]:
        """Profile scores of the terms; `own` words are taken out of the `held` profiles first (held-out scoring)."""
        scores: dict[str, float] = {}
        for term in sorted(set(terms)):  # a fixed order: float sums, hence ties, are the same in every process
            idf = self.idf.get(term)
            if idf is None:
                continue
            for key, count in self.postings.get(term, ()):
                if key in held:
                    count -= own.get(term, 0)
                    if count <= 0:
                        continue
                scores[key] = scores.get(key, 0.0) + idf * count / (count + 1.0)
        return scores

    def coverage(self, terms: Iterable[str]) -> float:
        """The most a profile can score for these terms: scores divided by it lie in [0, 1)."""
        return sum(self.idf.get(t, self.unknown.get(t, 0.0)) for t in sorted(set(terms)))


def _by_source(profiles: dict[str, dict[str, int]]) -> tuple[ProfileIndex, ...]:
    """The profiles split by source. Plain keys (STARD) are weighed among themselves, so that adding resident
    evidence changes none of their scores for a question whose words STARD knows; file-scoped keys (resident
    questions) are weighed among all profiles, where a lay word many articles share counts as little as it does
    for STARD's. Both are calibrated by the question's words across all profiles: a word only residents use
    (低保, 网格员) tells that STARD's civil-law profiles cover the question less (measured: weighing STARD's
    against their own words only let them outrank the governance articles, resident dev Recall@5 0.769 → 0.685)."""
    local = {k: v for k, v in profiles.items() if SCOPE in k}
    plain = {k: v for k, v in profiles.items() if SCOPE not in k}
    if not local:
        return (ProfileIndex(plain),) if plain else ()
    union = ProfileIndex(profiles).idf
    return tuple(ProfileIndex(p, profiles if p is local else None, union) for p in (plain, local) if p)


def map_questions(adapter: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Question vectors (one per row) through a learned query map, q → q + A q, at unit length (a row the map
    sends to zero stays zero). Serving (`LearnedModel.adapt`) and fitting (`eval.adapter`) both use it."""
    mapped = vectors + vectors @ adapter.astype(np.float32, copy=False).T
    norms = np.linalg.norm(mapped, axis=1, keepdims=True)
    out: np.ndarray = mapped / np.where(norms > 0, norms, 1.0)
    return out


@dataclass(slots=True)
class LearnedModel:
    profiles: dict[str, dict[str, int]]
    article_prior: dict[str, int]
    law_prior: dict[str, int]
    assoc: dict[str, list[tuple[str, float]]]
    weights: dict[str, float]
    cocite: dict[str, dict[str, int]] = field(default_factory=dict)  # articles cited together in training
    meta: dict[str, object] = field(default_factory=dict)
    chapter_profiles: dict[str, dict[str, int]] = field(default_factory=dict)  # chapter key → lay words
    article_chapter: dict[str, str] = field(default_factory=dict)  # gold article key → its chapter key
    # Reranker weights fitted with a dense model's features (meta["dense_model"] names it); empty = none.
    dense_weights: dict[str, float] = field(default_factory=dict)
    # A linear map of that dense model's question vectors, q -> q + A q (then unit length), fitted on the training
    # questions by `learn --dense` (`eval/adapter.py`): it moves a lay question towards the statutory passages
    # that answered questions like it. dim x dim, float16 values (stored as float16, loaded as float32 so that a
    # query pays no conversion); None = the model's own vectors.
    dense_adapter: np.ndarray | None = None
    # One profile index per source of evidence (plain keys: STARD; file-scoped keys: the resident questions); see
    # `_by_source` for how each is weighed.
    _articles: tuple[ProfileIndex, ...] = field(init=False, repr=False)
    _chapters: tuple[ProfileIndex, ...] = field(init=False, repr=False)
    _log_prior: dict[str, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._articles = _by_source(self.profiles)
        self._chapters = _by_source(self.chapter_profiles)
        self._log_prior = {k: math.log1p(n) for k, n in self.article_prior.items()}

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> LearnedModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            profiles=data["profiles"],
            article_prior=data["article_prior"],
            law_prior=data["law_prior"],
            assoc={k: [(t, w) for t, w in v] for k, v in data["assoc"].items()},
            weights=data["weights"],
            cocite=data.get("cocite", {}),
            meta=data.get("meta", {}),
            chapter_profiles=data.get("chapter_profiles", {}),
            article_chapter=data.get("article_chapter", {}),
            dense_weights=data.get("dense_weights", {}),
            dense_adapter=_decode_matrix(data["dense_adapter"]) if "dense_adapter" in data else None,
        )

    def save(self, path: Path) -> None:
        data = {
            "meta": self.meta,
            "weights": self.weights,
            "law_prior": dict(sorted(self.law_prior.items())),
            "article_prior": dict(sorted(self.article_prior.items())),
            "assoc": {k: [[t, round(w, 4)] for t, w in v] for k, v in sorted(self.assoc.items())},
            "profiles": {k: dict(sorted(v.items())) for k, v in sorted(self.profiles.items())},
            "cocite": {k: dict(sorted(v.items())) for k, v in sorted(self.cocite.items())},
            "chapter_profiles": {k: dict(sorted(v.items())) for k, v in sorted(self.chapter_profiles.items())},
            "article_chapter": dict(sorted(self.article_chapter.items())),
            **({"dense_weights": self.dense_weights} if self.dense_weights else {}),
            **({"dense_adapter": _encode_matrix(self.dense_adapter)} if self.dense_adapter is not None else {}),
        }
        path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":"), indent=None) + "\n",
                        encoding="utf-8")

    def digest(self) -> str:
        """Identifies what the artefact ranks with: its evidence, associations and both weight sets (two fits of
        the same evidence with other weights are two versions)."""
        content = json.dumps(
            [self.profiles, self.article_prior, self.law_prior, self.assoc, self.cocite, self.chapter_profiles,
             self.article_chapter, self.weights, self.dense_weights],
            ensure_ascii=False, sort_keys=True,
        )
        digest = hashlib.sha1(content.encode())
        if self.dense_adapter is not None:
            digest.update(np.ascontiguousarray(self.dense_adapter, dtype=np.float16).tobytes())
        return digest.hexdigest()[:8]

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unversioned"))

    def fitted_for(self, dense_model: str | None) -> bool:
        """Whether this artefact holds reranker weights fitted with that dense model's features."""
        return bool(self.dense_weights) and dense_model is not None and self.meta.get("dense_model") == dense_model

    def adapts(self, dense_model: str | None) -> bool:
        """Whether this artefact holds a query map fitted for that dense model."""
        fitted = self.meta.get("dense_model")
        return self.dense_adapter is not None and dense_model is not None and fitted == dense_model

    def adapt(self, vector: Sequence[float]) -> list[float]:
        """The question vector through the learned map (`adapts` says whether it was fitted for the model)."""
        if self.dense_adapter is None:
            return list(vector)
        mapped = map_questions(self.dense_adapter, np.asarray([vector], dtype=np.float32))[0]
        return [float(v) for v in mapped] if mapped.any() else list(vector)

    def memory(
        self,
        terms: Iterable[str],
        limit: int,
        held_out: tuple[Counter[str], frozenset[str]] | None = None,
        admit: Callable[[str], bool] | None = None,
    ) -> dict[str, float]:
        """The `limit` best articles whose lay-word profile matches the query (BM25-like), calibrated to [0, 1) by
        the query's coverage within each source of evidence. `admit` keeps only the keys it accepts (those the
        index holds: an article of a law the index does not have would only take a place). `held_out` removes one
        training question's own words from its gold articles, so training features look like unseen questions."""
        terms = sorted(set(terms))
        own, gold = held_out if held_out is not None else (Counter(), frozenset())
        scores: dict[str, float] = {}
        for index in self._articles:
            scale = index.coverage(terms) or 1.0
            scores.update((k, v / scale) for k, v in index.match(terms, own, gold).items()
                          if admit is None or admit(k))
        return dict(sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])

    def chapter_memory(
        self, terms: Iterable[str], held_out: tuple[Counter[str], frozenset[str]] | None = None
    ) -> dict[str, float]:
        """Chapters whose lay-word profile matches the query, calibrated to [0, 1) by the query's coverage.
        `held_out` (own words, gold article keys) takes the question out of its gold articles' chapters."""
        terms = sorted(set(terms))
        own, gold = held_out if held_out is not None else (Counter(), frozenset())
        held = frozenset(c for k in gold if (c := self.article_chapter.get(k)) is not None)
        scores: dict[str, float] = {}
        for index in self._chapters:
            scale = index.coverage(terms) or 1.0
            scores.update((k, v / scale) for k, v in index.match(terms, own, held).items())
        return scores

    def article_prior_of(self, key: object, held_out: frozenset[str] = frozenset(), file: object = None) -> float:
        """log(1 + training citations of the article), a held-out question's own citation removed. With the
        candidate's `file`, the citations scoped to that file count too."""
        if not isinstance(key, str):
            return 0.0
        local = scoped(file, key) if isinstance(file, str) else None
        if key not in held_out and (local is None or local not in self.article_prior):
            return self._log_prior.get(key, 0.0)
        n = sum(max(self.article_prior.get(k, 0) - (k in held_out), 0) for k in (key, local) if k is not None)
        return math.log1p(n)

    def law_prior_of(self, law: str, held_out: frozenset[str] = frozenset(), file: object = None) -> float:
        """log(1 + training citations of the law), and of the law in that `file` when given."""
        laws = (law, scoped(file, law)) if isinstance(file, str) else (law,)
        n = sum(max(self.law_prior.get(name, 0) - sum(1 for k in held_out if k.split("#", 1)[0] == name), 0)
                for name in laws)
        return math.log1p(n)

    def cocited(self, key: str, held_out: frozenset[str] = frozenset()) -> dict[str, int]:
        """Articles cited together with `key` in training, with counts (a held-out question's own pairs removed)."""
        out = dict(self.cocite.get(key, {}))
        if key in held_out:
            for other in held_out:
                if other in out:
                    out[other] -= 1
        return {k: n for k, n in out.items() if n > 0}

    def expansions(self, terms: Iterable[str]) -> dict[str, float]:
        """Statutory words associated with the query's lay words, with their association strength."""
        out: dict[str, float] = {}
        present = set(terms)
        for term in present:
            for target, weight in self.assoc.get(term, ()):
                if target not in present:
                    out[target] = max(out.get(target, 0.0), weight)
        return out


def _encode_matrix(m: np.ndarray) -> dict[str, object]:
    """A matrix as float16 bytes in base64 (a 384 x 384 map is 0.4 MB of JSON instead of 1.5)."""
    data = np.ascontiguousarray(m, dtype="<f2")
    return {"dtype": "float16", "shape": list(data.shape), "data": base64.b64encode(data.tobytes()).decode("ascii")}


def _decode_matrix(obj: dict[str, object]) -> np.ndarray:
    shape = tuple(int(n) for n in obj["shape"])  # type: ignore[attr-defined]
    data = np.frombuffer(base64.b64decode(str(obj["data"])), dtype="<f2")
    if obj.get("dtype") != "float16" or data.size != math.prod(shape):
        raise ValueError(f"malformed dense_adapter: dtype {obj.get('dtype')}, shape {shape}, {data.size} values")
    return data.reshape(shape).astype(np.float32)
