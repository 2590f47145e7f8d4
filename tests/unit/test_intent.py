"""What a resident's message is: the softmax models (fitted here on a tiny synthetic bank, no embedder needed), their
artefact, and the rules that decide without them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.reports import intent
from assistant.reports.extract import clean_description

pytestmark = pytest.mark.unit

CENTRES = {"report": 0, "question": 1, "both": 2, "emergency": 3, "chitchat": 4}


def _bank() -> tuple[list[dict], dict[str, np.ndarray]]:  # type: ignore[type-arg]
    """Rows whose vectors sit around one centre per intent (and a second axis per category and urgency)."""
    rng = np.random.default_rng(3)
    rows, vectors = [], {}
    cats = list(intent.CATEGORY_KEYS)
    for i in range(400):
        name = intent.INTENTS[i % 5]
        cat = cats[i % 16] if name in ("report", "both", "emergency") else None
        urg = intent.URGENCIES[i % 3] if name in ("report", "both") else None
        v = rng.normal(0, 0.05, 48)
        v[CENTRES[name]] += 1.0
        if cat:
            v[8 + cats.index(cat)] += 1.0
        if urg:
            v[30 + intent.URGENCIES.index(urg)] += 1.0
        text = f"{name}-{i}"
        rows.append({"text": text, "intent": name, "category": cat, "urgency": urg})
        vectors[text] = v
    return rows, vectors


def test_fit_learns_intent_category_and_urgency_and_round_trips(tmp_path: Path) -> None:
    rows, vectors = _bank()
    model = intent.fit(rows, lambda texts: [vectors[t] for t in texts], "toy")
    assert model.cv["intent_accuracy"] > 0.95 and model.cv["category_accuracy"] > 0.9
    assert model.cv["urgency_accuracy"] > 0.9
    probe = np.zeros(48)
    probe[CENTRES["both"]], probe[8 + intent.CATEGORY_KEYS.index("noise")], probe[31] = 1.0, 1.0, 1.0
    reading = model.read(probe)
    assert (reading.intent, reading.category, reading.urgency) == ("both", "noise", "urgent") and reading.reportable
    path = tmp_path / "intent.json"
    path.write_text(json.dumps(model.to_json()), encoding="utf-8")
    again = intent.load(path)
    assert again is not None and again.read(probe).intent == "both" and again.bank_digest == model.bank_digest


def test_an_artefact_for_other_labels_is_not_used(tmp_path: Path) -> None:
    rows, vectors = _bank()
    data = intent.fit(rows[:200], lambda texts: [vectors[t] for t in texts], "toy").to_json()
    data["intents"] = ["report", "question"]
    path = tmp_path / "intent.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert intent.load(path) is None and intent.load(tmp_path / "absent.json") is None


def test_lexicon_speaks_only_below_the_confidence_floor() -> None:
    rows, vectors = _bank()
    model = intent.fit(rows, lambda texts: [vectors[t] for t in texts], "toy")
    vague = np.zeros(48)
    vague[CENTRES["report"]] = 1.0  # no category axis: the model is unsure of the category
    model.lexicon_below = 1.01
    assert model.read(vague, lexicon_category="dogs").category == "dogs"
    model.lexicon_below = 0.0
    assert model.read(vague, lexicon_category="dogs").category != "dogs" or model.read(vague).category == "dogs"


def test_rules_decide_without_a_model() -> None:
    reader = intent.IntentReader()
    assert reader.mode == "rules"
    assert reader.read("小区门口路灯坏了好几天了").intent == "both"  # the answer and the offer
    assert reader.read("低保怎么申请").intent == "question"
    assert reader.read("我要反映一下楼道灯的事").intent == "report"
    gas = reader.read("楼道里好大一股煤气味")
    assert gas.category == "gas_safety" and gas.urgency == "emergency" and gas.source == "rules"


def test_an_explicit_request_is_a_report_whatever_the_model_reads() -> None:
    rows, vectors = _bank()
    model = intent.fit(rows, lambda texts: [vectors[t] for t in texts], "toy")
    chit = np.zeros(48)
    chit[CENTRES["chitchat"]] = 1.0
    reader = intent.IntentReader(model, lambda text: chit)
    assert reader.mode == "learned" and reader.read("你好呀").intent == "chitchat"
    assert reader.read("我要上报一个事").intent == "report"


@pytest.mark.parametrize(
    ("said", "kept"),
    [("你好我想反映一下幸福小区3栋门口的路灯坏了", "幸福小区3栋门口的路灯坏了"),
     ("师傅在不在哦，麻烦一下，楼底下垃圾堆起好几天了", "楼底下垃圾堆起好几天了"),
     ("喂 那个 我要投诉 烧烤摊油烟大得很 电话13812345678", "烧烤摊油烟大得很"),
     ("楼道里有人说你好", "楼道里有人说你好")],
)
def test_the_description_keeps_what_was_said_without_the_opener(said: str, kept: str) -> None:
    assert clean_description(said) == kept
