"""Incremental ingest through the real pipeline into a real Qdrant Edge shard."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant import wiring
from assistant.ingest.chunker import Chunker
from assistant.ingest.loaders import load_taxonomy
from assistant.ingest.pipeline import Ingestor
from assistant.settings import Settings

pytestmark = pytest.mark.integration

FILES = [
    "c01-social-assistance/重庆市城乡居民最低生活保障条例(2016-03-31).md",
    "c13-dogs-animal-epidemic/动物防疫法(2021-01-22).md",
    "c16-gas-special-equipment",
]


@pytest.fixture
def docs(tmp_path: Path, shared_corpus: Path) -> Path:
    root = tmp_path / "docs"
    for rel in FILES:
        src = shared_corpus / rel
        if src.is_dir():
            shutil.copytree(src, root / rel)
        else:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, root / rel)
    return root


def _run(settings: Settings, root: Path):  # type: ignore[no-untyped-def]
    comp = wiring.build(settings)
    try:
        ing = Ingestor(comp.index, comp.encoder, comp.embedder, Chunker(500), load_taxonomy(settings.taxonomy))
        report = ing.run(root)
        return report, comp.index.count(), comp.retriever().search("低保申请需要哪些材料", k=3).hits
    finally:
        comp.close()


def test_incremental_cycle(tmp_path: Path, docs: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    first, n, hits = _run(settings, docs)
    assert first.added == n > 500 and first.updated == first.deleted == 0 and not first.skipped
    assert hits[0].file.startswith("c01-social-assistance/")
    assert hits[0].label.startswith("《重庆市城乡居民最低生活保障条例》第")

    again, n2, _ = _run(settings, docs)
    assert (again.added, again.updated, again.deleted, again.unchanged) == (0, 0, 0, n)
    assert n2 == n

    # Change one article, add one, remove one: only those three points move.
    path = docs / FILES[0]
    text = path.read_text(encoding="utf-8")
    text = text.replace("第二条 本市居民最低生活保障适用本条例。", "第二条 本市城乡居民最低生活保障适用本条例。")
    text = text.replace("第三条 ", "第三条之一 新增的条文内容。\n\n第三条 ", 1)
    start = text.index("第五条 ")
    end = text.index("第六条 ")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    third, n3, _ = _run(settings, docs)
    assert (third.added, third.updated, third.deleted) == (1, 1, 1)
    assert n3 == n
    fourth, _, _ = _run(settings, docs)
    assert (fourth.added, fourth.updated, fourth.deleted, fourth.unchanged) == (0, 0, 0, n)

    # A removed file takes its points with it.
    gas = sorted((docs / FILES[2]).glob("*.md"))[0]
    gas.unlink()
    fifth, n5, _ = _run(settings, docs)
    assert fifth.deleted > 0 and n5 == n - fifth.deleted and fifth.added == 0


def test_new_encoder_settings_re_encode_unchanged_files(tmp_path: Path, docs: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    first, n, _ = _run(settings, docs)
    retuned = settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update={"k1": 1.5})})
    again, n2, hits = _run(retuned, docs)
    assert (again.added, again.updated, again.unchanged, again.deleted) == (0, n, 0, 0) and n2 == n
    third, _, _ = _run(retuned, docs)
    assert (third.updated, third.unchanged) == (0, n)


def test_bad_files_are_skipped_and_keep_their_points(tmp_path: Path, docs: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    _, n, _ = _run(settings, docs)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (docs / "empty.md").write_text("", encoding="utf-8")
    (docs / "latin1.txt").write_bytes(bytes(range(128, 256)) * 8)
    (docs / "c01-social-assistance" / "重庆市城乡居民最低生活保障条例(2016-03-31).md").write_text("", encoding="utf-8")
    report, n2, hits = _run(settings, docs)
    skipped = sorted(name for name, _ in report.skipped)
    assert skipped == [
        "broken.pdf", "c01-social-assistance/重庆市城乡居民最低生活保障条例(2016-03-31).md", "empty.md", "latin1.txt"
    ]
    assert n2 == n  # the emptied file's articles are still there: bad input never corrupts the index
    assert report.deleted == 0
    assert hits and hits[0].file.startswith("c01-social-assistance/")


def test_dense_model_change_is_refused(tmp_path: Path, docs: Path) -> None:
    from assistant.errors import SchemaMismatch

    settings = Settings(index_dir=tmp_path / "index")
    _run(settings, docs)
    other = settings.model_copy(update={"embedding": settings.embedding.model_copy(update={"model": "x"})})
    with pytest.raises(SchemaMismatch):
        wiring.build(other)
