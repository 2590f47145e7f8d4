"""The dense model's learned query map (`assistant/retrieval/training/adapter.py`): it learns a systematic gap
between how questions and their passages are embedded, generalises it to questions it never saw, is reproducible,
travels in the artefact and is applied only for the model it was fitted for."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.retrieval.learned import LearnedModel, map_questions
from assistant.retrieval.training import adapter

pytestmark = pytest.mark.unit

DIM = 16


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _world(seed: int = 0) -> tuple[adapter.Pool, np.ndarray]:
    """60 articles; a question about article i is its passage seen through a fixed distortion (a rotation of
    half the axes: lay words sit apart from the law's the same way across articles) plus noise."""
    rng = np.random.default_rng(seed)
    passages = _unit(rng.normal(size=(60, DIM)))
    q, _ = np.linalg.qr(rng.normal(size=(DIM // 2, DIM // 2)))
    distortion = np.eye(DIM)
    distortion[: DIM // 2, : DIM // 2] = q
    return adapter.Pool([f"law#{i}" for i in range(60)], passages), distortion


def _questions(pool: adapter.Pool, distortion: np.ndarray, articles: list[int], seed: int) -> adapter.Group:
    rng = np.random.default_rng(seed)
    vectors = _unit(pool.vectors[articles] @ distortion.T + 0.15 * rng.normal(size=(len(articles), DIM)))
    return adapter.Group(pool, vectors, [frozenset({f"law#{i}"}) for i in articles])


def _recall_at_1(group: adapter.Group, vectors: np.ndarray) -> float:
    top = np.argmax(vectors @ group.pool.vectors.T, axis=1)
    return float(np.mean([group.pool.keys[t] in g for t, g in zip(top, group.gold, strict=True)]))


def test_the_map_learns_the_gap_and_generalises_to_unseen_questions_and_articles() -> None:
    pool, distortion = _world()
    train = _questions(pool, distortion, [i % 40 for i in range(200)], seed=1)  # articles 0-39 only
    unseen_articles = _questions(pool, distortion, list(range(40, 60)) * 3, seed=2)
    fitted = adapter.fit([train], tau=0.05, l2=0.001)
    assert fitted.dtype == np.float16 and fitted.shape == (DIM, DIM)
    before = _recall_at_1(unseen_articles, unseen_articles.questions)
    after = _recall_at_1(unseen_articles, map_questions(fitted, unseen_articles.questions))
    assert before < 0.6 and after > before + 0.3  # what it learned holds for articles no question cited
    assert np.array_equal(fitted, adapter.fit([train], tau=0.05, l2=0.001))  # reproducible


def test_a_heavy_penalty_keeps_the_models_own_vectors() -> None:
    pool, distortion = _world()
    train = _questions(pool, distortion, list(range(40)), seed=1)
    assert float(np.abs(adapter.fit([train], tau=0.05, l2=1e4).astype(np.float32)).max()) < 1e-3


def test_cross_fitted_vectors_come_from_maps_that_did_not_see_the_question() -> None:
    """Fold f's questions are mapped by a map fitted on the other folds: a question's own gold does not pull its
    vector, so a question whose article no other question cites gains nothing in-sample."""
    pool, distortion = _world()
    group = _questions(pool, distortion, [i % 40 for i in range(120)], seed=1)
    held = adapter.cross_fitted([group], folds=3, tau=0.05, l2=0.001)[0]
    assert held.shape == group.questions.shape
    np.testing.assert_allclose(np.linalg.norm(held, axis=1), 1.0, rtol=1e-5)
    first = group.subset(list(range(0, 120, 3)))
    manual = map_questions(adapter.fit([group.subset([i for i in range(120) if i % 3])], tau=0.05, l2=0.001),
                           first.questions)
    np.testing.assert_allclose(held[0::3], manual, rtol=1e-5, atol=1e-6)


def test_questions_whose_gold_the_pool_lacks_are_left_out_of_the_fit() -> None:
    pool, distortion = _world()
    train = _questions(pool, distortion, list(range(40)), seed=1)
    stray = adapter.Group(pool, train.questions, [frozenset({"another#1"})] * 40)
    assert np.array_equal(adapter.fit([train, stray], tau=0.05, l2=0.01), adapter.fit([train], tau=0.05, l2=0.01))
    with pytest.raises(ValueError):
        adapter.fit([stray])


def test_the_map_travels_in_the_artefact_and_serves_only_its_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pool, distortion = _world()
    fitted = adapter.fit([_questions(pool, distortion, list(range(40)), seed=1)], tau=0.05, l2=0.01)
    model = LearnedModel({}, {}, {}, {}, {"sparse": 1.0}, meta={"dense_model": "m"}, dense_adapter=fitted)
    path = tmp_path / "learned.json"
    model.save(path)
    again = LearnedModel.load(path)
    assert again.dense_adapter is not None and np.array_equal(again.dense_adapter, fitted)
    assert again.digest() == model.digest() != LearnedModel({}, {}, {}, {}, {"sparse": 1.0}).digest()
    assert again.adapts("m") and not again.adapts("other") and not again.adapts(None)
    q = pool.vectors[0].tolist()
    mapped = np.asarray(again.adapt(q))
    np.testing.assert_allclose(mapped, map_questions(fitted, np.asarray([q], dtype=np.float32))[0], atol=1e-6)
    assert abs(float(np.linalg.norm(mapped)) - 1.0) < 1e-6
    assert LearnedModel({}, {}, {}, {}, {}).adapt(q) == q  # no map: the model's own vector
