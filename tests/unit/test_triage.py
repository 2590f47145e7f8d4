"""The semantic layer of emergency triage and how the detector combines it with the rules (no model needed: the
embedder is a stand-in that places situations and look-alikes on two axes)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.answering import triage
from assistant.answering.emergency import UNSURE, EmergencyDetector
from assistant.answering.triage import KINDS, TriageModel

pytestmark = pytest.mark.unit
DIM = 16


def model(p: float, kinds: dict[str, float], on: float = 0.6, veto: float = 0.1) -> TriageModel:
    """A model whose reading of any vector is `p` and `kinds` (weights zero, biases set)."""
    logit = lambda q: float(np.log(q / (1 - q)))  # noqa: E731
    kb = np.asarray([logit(kinds.get(k, 0.01)) for k in KINDS], dtype=np.float32)
    return TriageModel("stub", np.zeros(DIM, np.float32), logit(p), np.zeros((len(KINDS), DIM), np.float32), kb,
                       on, veto, {"harmless": 0.99, "marker": 0.9}, 0.5, "x", {})


def detector(p: float, kinds: dict[str, float] | None = None) -> EmergencyDetector:
    return EmergencyDetector("96777", model(p, kinds or {}), lambda text: [0.0] * DIM)


def test_semantic_layer_raises_the_alarm_without_any_alarm_word() -> None:
    found = detector(0.9, {"medical": 0.9}).detect("我爸说话含含糊糊的一边嘴巴歪了")
    assert found.kinds == ["medical"] and "120" in found.first_line


def test_every_kind_that_applies_gives_its_number() -> None:
    found = detector(0.95, {"traffic": 0.8, "medical": 0.7}).detect("路口两个车撞了有个人躺在地上流血")
    assert set(found.kinds) >= {"traffic", "medical"}
    assert "110" in found.first_line and "120" in found.first_line


def test_sure_of_danger_unsure_of_kind_gives_every_number() -> None:
    found = detector(0.9, {"fire": 0.2, "medical": 0.3}).detect("快来人啊")
    assert found.first_line == f"【紧急】{UNSURE}。"
    assert all(n in found.first_line for n in ("110", "119", "120"))


def test_a_confidently_calm_reading_vetoes_a_rule_hit() -> None:
    assert EmergencyDetector().detect("救命啊作业太多了").emergency  # the rule alone fires on 救命
    assert not detector(0.02).detect("救命啊作业太多了").emergency


def test_a_rule_hit_stands_when_the_model_is_merely_unsure() -> None:
    found = detector(0.3).detect("家里着火了")
    assert found.kinds == ["fire"] and "119" in found.first_line


def test_below_threshold_without_a_rule_stays_calm() -> None:
    assert not detector(0.5, {"fire": 0.9}).detect("小区消防通道被车堵了找谁").emergency


def test_without_the_model_the_rules_run_alone_and_say_so() -> None:
    d = EmergencyDetector()
    assert d.mode == "rules only" and d.detect("有人晕倒了").kinds == ["medical"]


def test_fit_learns_thresholds_by_cross_validation_on_the_bank() -> None:
    rng = np.random.default_rng(0)
    rows, vectors = [], []
    for i in range(120):
        danger = i % 2 == 0
        kind = KINDS[i % 4]
        v = rng.normal(0, 0.3, DIM)
        v[0] += 2.0 if danger else -2.0
        v[1 + KINDS.index(kind)] += 2.0
        rows.append({"text": f"m{i}", "emergency": danger, "kinds": [kind]})
        vectors.append(v)
    by_text = {r["text"]: v for r, v in zip(rows, vectors, strict=True)}
    fitted = triage.fit(rows, lambda texts: [by_text[t] for t in texts], "stub", lambda t: False)
    assert fitted.cv["recall_at_on"] > 0.9 and fitted.cv["false_alarm_at_on"] <= 0.08
    reading = fitted.read(np.asarray(vectors[0], dtype=np.float32))
    assert reading.p_emergency > fitted.on and reading.top_kinds()[0] == rows[0]["kinds"][0]
    again = TriageModel.from_json(fitted.to_json())
    assert abs(again.read(np.asarray(vectors[1], np.float32)).p_emergency - fitted.read(
        np.asarray(vectors[1], np.float32)).p_emergency) < 1e-4


def test_the_packaged_artefact_matches_the_packaged_bank() -> None:
    packaged = triage.load()
    assert packaged is not None
    assert packaged.bank_digest == triage.bank_digest(triage.read_bank()), "run gridworker learn-triage"
