"""Issue 26 #7 and #12: a file of repeated text does not flood the index, and a bogus manifest is warned about.

Real pipeline, real Qdrant Edge shard, sparse only (no embedder: the flood must be cheap to ingest before the fix
too); the manifest warnings through the `gridworker` command as operators run it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant import wiring
from assistant.ingest import pipeline
from assistant.ingest.chunker import Chunker
from assistant.ingest.pipeline import Ingestor
from assistant.settings import EmbeddingSettings, Settings
from tests.integration.test_cli import gw

pytestmark = pytest.mark.integration

LAW = (
    "# 某市电动自行车停放充电管理办法\n\n"
    "第一条 为了规范电动自行车停放充电秩序，预防火灾，制定本办法。\n\n"
    "第二条 任何单位和个人不得在楼道、楼梯间、安全出口停放电动自行车或者为其充电，违者由消防救援机构责令改正。\n"
)
# Shares words with the law (电动自行车, 停放, 消防) so that, repeated, it would crowd the law out of the top five.
PARAGRAPH = "小区门口的电动自行车和共享单车乱停乱放，物业要定期清理，居民要文明停放，不要堵住消防通道和盲道。"


def _ingest(settings: Settings, root: Path) -> tuple[pipeline.RunReport, int, list]:  # type: ignore[type-arg]
    comp = wiring.build(settings)
    try:
        report = Ingestor(comp.index, comp.encoder, None, Chunker(500), {}).run(root)
        hits = comp.retriever().search("楼道里给电动自行车充电", k=5).hits
        return report, comp.index.count(), hits
    finally:
        comp.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index", embedding=EmbeddingSettings(model=None))


def test_repeated_paragraph_is_indexed_once(tmp_path: Path, settings: Settings) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "law.md").write_text(LAW, encoding="utf-8")
    (docs / "flood.txt").write_text("\n\n".join([PARAGRAPH] * 5000), encoding="utf-8")
    report, count, hits = _ingest(settings, docs)
    assert report.documents == 2 and not report.skipped
    assert count == report.added <= 2 + 3, count  # the law's two articles and a handful of flood chunks
    (note,) = [what for file, what in report.warnings if file == "flood.txt"]
    assert "duplicate" in note and "mostly repeated" in note, note
    assert hits[0].file == "law.md" and hits[0].article_no == 2, [(h.file, h.text[:20]) for h in hits]
    texts = [" ".join(h.text.split()) for h in hits]
    assert len(set(texts)) == len(texts)  # no identical passages fill the top five

    # Incremental: the same folder again changes nothing (an unchanged file is not re-chunked, so not re-warned).
    again, count2, _ = _ingest(settings, docs)
    assert (again.added, again.updated, again.deleted, again.unchanged) == (0, 0, 0, count) and count2 == count
    assert not again.warnings


def test_same_text_in_two_files_is_kept(tmp_path: Path, settings: Settings) -> None:
    """Only repetition inside one file is a flood: a law filed under two categories (the same bytes) and a law
    quoting another's article are indexed each under its own file."""
    docs = tmp_path / "docs"
    (docs / "a").mkdir(parents=True)
    (docs / "b").mkdir()
    (docs / "a" / "law.md").write_text(LAW, encoding="utf-8")
    (docs / "b" / "copy.md").write_text(LAW, encoding="utf-8")  # the very same bytes
    # Another law quoting the same article: legitimate, indexed under its own title.
    (docs / "b" / "quote.md").write_text(LAW.replace("某市电动自行车", "某区电动自行车"), encoding="utf-8")
    report, count, _ = _ingest(settings, docs)
    assert report.documents == 3 and count == report.added == 6
    assert report.skipped == [] and not report.warnings


def test_a_file_with_too_many_chunks_is_skipped(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "MAX_CHUNKS_PER_FILE", 3)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "law.md").write_text(LAW, encoding="utf-8")
    numerals = "一二三四五六七八九"
    (docs / "big.md").write_text(
        "# 大条例\n\n" + "\n\n".join(f"第{n}条 第{n}项规定，内容各不相同。" for n in numerals), encoding="utf-8"
    )
    report, count, _ = _ingest(settings, docs)
    assert report.documents == 1 and count == 2
    assert report.skipped == [("big.md", "9 chunks, more than the 3 one document may have: not indexed")]


def test_manifest_problems_are_warned_one_by_one(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    for folder in ("c01-social-assistance", "c02-employment"):
        (docs / folder).mkdir(parents=True)
    for name in ("c01-social-assistance/a.md", "c01-social-assistance/b.md", "c02-employment/c.md"):
        (docs / name).write_text(LAW.replace("某市", name[-4]), encoding="utf-8")
    (docs / "manifest.json").write_text(json.dumps({"categories": [
        {"id": "c01-social-assistance", "name_zh": "社会救助", "documents": [
            {"file": "c01-social-assistance/a.md", "title": "甲办法", "level": "local-regulation-chongqing"},
            {"file": "c01-social-assistance/missing.md", "title": "缺失的办法", "level": "national-law"},
            {"file": "c01-social-assistance/b.md", "title": "乙办法", "level": "national-lw"},
            "c01-social-assistance/x.md",
        ]},
    ]}, ensure_ascii=False), encoding="utf-8")
    r = gw("ingest", str(docs), index=tmp_path / "index", check=False)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning ")]
    assert len(warnings) == 4, r.stderr
    assert any("missing.md" in w and "not found" in w for w in warnings), warnings
    assert any("b.md" in w and "unknown level 'national-lw'" in w for w in warnings), warnings
    assert any("malformed entry" in w and "c01-social-assistance/x.md" in w for w in warnings), warnings
    assert any("c02-employment/c.md" in w and "not in manifest.json" in w and "folder name" in w
               for w in warnings), warnings
    assert "documents 3, chunks added 6" in r.stderr and "warnings 4" in r.stderr


def test_unknown_keys_category_and_broken_json_are_warned(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "c01").mkdir(parents=True)
    (docs / "c01" / "a.md").write_text(LAW, encoding="utf-8")
    (docs / "manifest.json").write_text(json.dumps({"categories": [
        {"id": "c99-nowhere", "documents": [{"file": "c01/a.md", "titel": "甲", "level": "national-law"}]},
    ]}), encoding="utf-8")
    r = gw("ingest", str(docs), index=tmp_path / "index")
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning ")]
    assert len(warnings) == 2, r.stderr
    assert any("unknown category 'c99-nowhere'" in w for w in warnings), warnings
    assert any("c01/a.md" in w and "unknown key 'titel'" in w for w in warnings), warnings

    shutil.rmtree(tmp_path / "index")
    (docs / "manifest.json").write_text('{"categories": [', encoding="utf-8")
    r = gw("ingest", str(docs), index=tmp_path / "index", check=False)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning ")]
    assert len(warnings) == 1 and "manifest.json" in warnings[0] and "not valid JSON" in warnings[0], r.stderr
    assert "documents 1, chunks added 2" in r.stderr
