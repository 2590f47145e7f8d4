import re

import pytest

from assistant.ingest import statute
from assistant.retrieval.normalize import normalize_document

pytestmark = pytest.mark.unit


def test_header_headings_articles(statute_text: str) -> None:
    doc = statute.parse(normalize_document(statute_text))
    assert doc.title == "重庆市示范条例"
    assert doc.metadata[1].endswith("修订")  # stray full-width bracket removed
    assert doc.effective_date == "2016-06-01"  # the 施行 date in the body beats the revision date
    assert [(a.no, a.sub) for a in doc.articles] == [(1, None), (2, None), (12, None), (12, 1), (1083, None)]
    art2 = doc.articles[1]
    assert art2.paragraphs[1] == "本条例所称居民，是指本市户籍居民。"  # U+200B removed, 款 kept
    art12 = doc.articles[2]
    assert art12.headings == ("第二章 申请与审批", "第一节 申请")
    assert art12.paragraphs[1:] == ["（一）户口簿；", "（二）身份证明；", "(三)收入证明。"]
    assert doc.articles[0].headings == ("第一章 总 则",)  # U+3000 and U+2002 normalised
    assert doc.articles[3].marker == "第十二条之一"
    assert "5个工作日" in doc.articles[3].text  # full-width digit normalised
    assert doc.articles[4].headings == ("第二章 申请与审批", "第二节 审批")


def test_effective_date_from_metadata_only() -> None:
    meta = ["2008年7月25日 通过", "2016年3月31日 修订"]
    assert statute.effective_date(meta) == "2016-03-31"
    assert statute.effective_date(["2020年5月28日 通过", "2021年1月1日 施行"]) == "2021-01-01"
    assert statute.effective_date([]) is None


def test_civil_code_book_and_preamble() -> None:
    text = (
        f"# 中华人民共和国民法典\n\n# 物权编\n\n{statute.INFO_END}\n\n## 第一分编 通则\n\n### 第一章 一般规定\n\n"
        "第二百零五条 本编调整因物的归属和利用产生的民事关系。"
    )
    doc = statute.parse(text)
    assert (doc.title, doc.book) == ("中华人民共和国民法典", "物权编")
    assert doc.articles[0].no == 205
    assert doc.articles[0].headings == ("第一分编 通则", "第一章 一般规定")


def test_judicial_interpretation_preamble() -> None:
    text = (
        f"# 最高人民法院关于审理某类案件的解释\n\n{statute.INFO_END}\n\n最高人民法院关于审理某类案件的解释\n\n"
        "法释〔2022〕17号\n\n为正确审理此类案件，制定本解释。\n\n第一条 适用范围。"
    )
    doc = statute.parse(text)
    assert "法释〔2022〕17号" in doc.preamble
    assert len(doc.articles) == 1


def test_non_statute_falls_back_to_sections() -> None:
    doc = statute.parse("# 独居老人走访要点\n\n## 走访频次\n\n每周至少一次。\n\n## 记录\n\n填写走访台账。")
    assert not doc.is_statute
    assert [h for h, _ in doc.sections] == [("走访频次",), ("记录",)]


@pytest.mark.slow
def test_every_article_marker_in_the_shared_corpus(shared_corpus) -> None:  # type: ignore[no-untyped-def]
    """The corpus README counts 18,765 markers; the parser must find each one as an article, no more."""
    marker = re.compile(r"^第[零一二三四五六七八九十百千]+ ?条(之[一二三四五六七八九十]+)?", re.M)
    files = [p for p in shared_corpus.rglob("*.md") if p.name != "README.md"]
    expected = found = 0
    for path in files:
        text = normalize_document(path.read_text(encoding="utf-8"))
        expected += len(marker.findall(text))
        doc = statute.parse(text)
        assert doc.title, path
        found += len(doc.articles)
    assert expected == 18765
    assert found == expected
