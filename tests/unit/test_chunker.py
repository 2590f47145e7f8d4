import pytest

from assistant.domain import SourceDocument
from assistant.ingest import statute
from assistant.ingest.chunker import Chunker
from assistant.retrieval.normalize import normalize_document

pytestmark = pytest.mark.unit


def _src(text: str, file: str = "c01/示范.md") -> SourceDocument:
    return SourceDocument(
        root="/r", file=file, text=normalize_document(text), file_hash="h", category="c01-social-assistance",
        category_name="社会救助", level="local-regulation-chongqing",
    )


def test_one_chunk_per_article_with_breadcrumb(statute_text: str) -> None:
    src = _src(statute_text)
    chunks = Chunker(500).chunks(src, statute.parse(src.text), "sig")
    arts = [c for c in chunks if c.kind == "article"]
    assert len(arts) == 5
    c12 = arts[2]
    assert c12.label == "《重庆市示范条例》第十二条"
    assert c12.breadcrumb == "《重庆市示范条例》 › 第二章 申请与审批 › 第一节 申请 › 第十二条"
    assert (c12.chapter, c12.section) == ("第二章 申请与审批", "第一节 申请")
    assert c12.effective_date == "2016-06-01"
    assert arts[3].label == "《重庆市示范条例》第十二条之一" and arts[3].article_sub == 1
    payload = c12.payload()
    for key in ("doc_id", "title", "category", "level", "effective_date", "article_no", "label", "file",
                "content_hash", "audience"):
        assert payload[key] is not None, key


def test_ids_are_deterministic_and_content_sensitive(statute_text: str) -> None:
    src = _src(statute_text)
    a = Chunker(500).chunks(src, statute.parse(src.text), "sig")
    b = Chunker(500).chunks(src, statute.parse(src.text), "sig")
    assert [c.point_id for c in a] == [c.point_id for c in b]
    changed = _src(statute_text.replace("本市居民适用本条例。", "本市城乡居民适用本条例。"))
    c = Chunker(500).chunks(changed, statute.parse(changed.text), "sig")
    diff = [x.label for x, y in zip(a, c, strict=True) if x.content_hash != y.content_hash]
    assert diff == ["《重庆市示范条例》第二条"]
    assert [x.point_id for x in a] == [y.point_id for y in c]


def test_long_article_split_at_items_repeating_header() -> None:
    items = "\n\n".join(f"（{n}）第{n}项内容" + "很长的说明文字" * 12 + "；" for n in "一二三四五六七八")
    text = f"# 长条例\n\n{statute.INFO_END}\n\n第五条 有下列情形之一的，不予受理：\n\n{items}"
    src = _src(text)
    chunks = Chunker(300).chunks(src, statute.parse(src.text), "sig")
    assert len(chunks) > 2
    assert all(c.label == "《长条例》第五条" and c.article_no == 5 for c in chunks)
    assert [c.part for c in chunks] == list(range(1, len(chunks) + 1))
    assert all(c.text.startswith("第五条 有下列情形之一的，不予受理：") for c in chunks)
    assert all(len(c.text) <= 300 + 40 for c in chunks)
    body = "".join(c.text for c in chunks)
    for n in "一二三四五六七八":
        assert f"（{n}）第{n}项内容" in body
    assert len({c.point_id for c in chunks}) == len(chunks)


def test_guide_sections_split_on_sentences() -> None:
    long = "先核实身份。" * 120
    src = _src(f"# 走访要点\n\n## 准备\n\n{long}\n\n## 记录\n\n填写台账。", file="guides/走访.md")
    chunks = Chunker(200).chunks(src, statute.parse(src.text), "sig")
    assert {c.kind for c in chunks} == {"section"}
    assert all(len(c.text) <= 200 for c in chunks)
    assert chunks[0].label == "《走访要点》准备" and chunks[-1].text == "填写台账。"
    assert all(c.text.endswith("。") for c in chunks)
