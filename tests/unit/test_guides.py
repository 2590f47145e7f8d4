"""The team's skills library (corpus/guides): one guide or more per category, every citation real.

A guide cites 《title》第X条 (or 第X条、第Y条 after one title); each must name a document of the shared corpus and
an article that exists in it, so that the worker who follows a guide can open the exact article."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from assistant.ingest import loaders, statute
from assistant.numerals import cn_to_int
from tests.conftest import CORPUS, ROOT

pytestmark = pytest.mark.unit

GUIDES = ROOT / "corpus" / "guides"
CITATION = re.compile(
    r"《((?:[^《》]|《[^《》]*》)+)》((?:第[零一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?、?)+)"
)
ARTICLE = re.compile(r"第([零一二三四五六七八九十百千]+)条(?:之([一二三四五六七八九十]+))?")


@lru_cache(maxsize=1)
def corpus_articles() -> dict[str, set[tuple[int, int | None]]]:
    out: dict[str, set[tuple[int, int | None]]] = {}
    for doc in loaders.load(CORPUS, {}):
        assert not isinstance(doc, Exception)
        parsed = statute.parse(doc.text)
        title = parsed.title if parsed.book else (doc.title or parsed.title)
        out.setdefault(title, set()).update((a.no, a.sub) for a in parsed.articles)
    return out


def guides() -> list[Path]:
    return sorted(GUIDES.rglob("*.md"))


def test_every_category_has_a_guide() -> None:
    taxonomy = json.loads((ROOT / "corpus" / "taxonomy.json").read_text(encoding="utf-8"))
    ids = {c["id"] for c in taxonomy["categories"]}
    assert len(ids) == 48
    covered = {p.parent.name for p in guides()}
    assert covered == ids


@pytest.mark.parametrize("path", guides(), ids=lambda p: p.stem)
def test_guide_front_matter_and_citations(path: Path, shared_corpus: Path) -> None:
    meta, body = loaders.front_matter(path.read_text(encoding="utf-8"))
    assert meta["category"] == path.parent.name
    assert meta["audience"] in ("public", "worker")
    assert body.startswith(f"# {meta['title']}\n")
    cites = CITATION.findall(body)
    assert len(cites) >= 2, "a guide rests on the articles it cites"
    known = corpus_articles()
    for title, articles in cites:
        assert title in known, f"{title} is not a document of the shared corpus"
        for m in ARTICLE.finditer(articles):
            key = (cn_to_int(m.group(1)), cn_to_int(m.group(2)) if m.group(2) else None)
            assert key in known[title], f"《{title}》{m.group(0)} does not exist"
