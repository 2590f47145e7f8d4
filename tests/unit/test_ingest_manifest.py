"""The manifest's checks (issue 26 #12) and the within-file duplicate rule (#7), without an index."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.api.labels import LEVEL_ZH
from assistant.domain import SourceDocument
from assistant.ingest import loaders, statute
from assistant.ingest.chunker import Chunker
from assistant.ingest.manifest import KNOWN_LEVELS
from assistant.ingest.pipeline import unique_chunks

pytestmark = pytest.mark.unit


def _warnings(root: Path, taxonomy: dict[str, str] | None = None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    list(loaders.load(root, taxonomy or {}, lambda file, what: out.append((file, what))))
    return out


def test_known_levels_are_the_ones_the_console_names() -> None:
    assert set(LEVEL_ZH) == KNOWN_LEVELS


def test_the_stard_list_shape_with_its_bookkeeping_keys_is_clean(tmp_path: Path) -> None:
    (tmp_path / "民法典").mkdir()
    (tmp_path / "民法典" / "合同编.md").write_text("# 合同编\n\n第一条 文。", encoding="utf-8")
    (tmp_path / "manifest.json").write_text(json.dumps([{
        "file": "民法典/合同编.md", "law_name": "中华人民共和国民法典", "source_path": "民法典/合同编.md",
        "date": None, "gold_version": True, "stard_queries": 3, "gold_articles": 2, "bytes": 10,
        "project_corpus_file": "c09/合同编.md", "note": None,
    }]), encoding="utf-8")
    assert _warnings(tmp_path) == []
    (doc,) = loaders.load(tmp_path, {})
    assert isinstance(doc, SourceDocument) and doc.title == "中华人民共和国民法典" and doc.category == "民法典"


def test_each_problem_is_one_warning_and_the_rest_is_used(tmp_path: Path) -> None:
    (tmp_path / "c01").mkdir()
    (tmp_path / "c01" / "a.md").write_text("# 甲\n\n第一条 文。", encoding="utf-8")
    (tmp_path / "guide.md").write_text("---\ntitle: 指引\ncategory: c01\n---\n# 指引\n\n正文。", encoding="utf-8")
    (tmp_path / "manifest.json").write_text(json.dumps({"categories": [
        {"id": "c01", "name_zh": "甲类", "documents": [
            {"file": "c01/a.md", "title": "旧名", "level": "national-law"},
            {"file": "c01/a.md", "title": "甲法", "level": "national-law", "date": 2020},
            {"file": "c01/a.md", "title": "甲法", "level": "national-law"},
        ]},
        {"id": "c02", "name_zh": "乙类", "documents": [{"file": "c01/notes.doc"}]},
    ]}), encoding="utf-8")
    got = _warnings(tmp_path, {"c01": "甲类"})
    assert [f for f, _ in got] == ["manifest.json", "c01/a.md", "manifest.json", "c01/notes.doc"], got
    assert "malformed entry" in got[0][1] and "entry 2" in got[0][1]
    assert "listed twice" in got[1][1] and "unknown category 'c02'" in got[2][1]
    # The guide's front matter names its category: not a silent fallback, so no warning for it.
    docs = {d.file: d for d in loaders.load(tmp_path, {}) if isinstance(d, SourceDocument)}
    assert docs["c01/a.md"].title == "甲法" and docs["c01/a.md"].category_name == "甲类"


def test_a_missing_or_broken_manifest_falls_back_to_folders(tmp_path: Path) -> None:
    (tmp_path / "c01").mkdir()
    (tmp_path / "c01" / "a.md").write_text("# 甲\n\n第一条 文。", encoding="utf-8")
    assert _warnings(tmp_path) == []  # no manifest: folder names are the rule, nothing to warn about
    (tmp_path / "manifest.json").write_text('"just a string"', encoding="utf-8")
    assert [f for f, _ in _warnings(tmp_path)] == ["manifest.json"]


def test_unique_chunks_keeps_the_first_of_each_text() -> None:
    src = SourceDocument(root="/r", file="f.md", text="正文。", file_hash="h", category="c", category_name="c",
                         level="unknown")
    (base,) = Chunker(500).chunks(src, statute.parse(src.text), "")
    chunks = [replace(base, point_id=str(i), text=t)
              for i, t in enumerate(["一段  重复的\n话。", "别的话。", " 一段 重复的 话。 ", "一段重复的话。"])]
    assert [c.point_id for c in unique_chunks(chunks)] == ["0", "1", "3"]  # only whitespace is normalised
