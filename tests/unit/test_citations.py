"""The citation verifier: only what was retrieved may be cited; the rest is removed and counted."""

from __future__ import annotations

import pytest

from assistant.answering.citations import verify
from assistant.domain import Hit

pytestmark = pytest.mark.unit


def hit(title: str, no: int | None, label: str, audience: str = "public") -> Hit:
    return Hit(rank=1, score=1.0, file=f"x/{title}.md", article_no=no, article_sub=None, label=label,
               breadcrumb=label, title=title, category="c01-social-assistance", level="local", audience=audience,
               text=f"{label} 正文。", doc_id=title, point_id=f"{title}-{no}")


EVIDENCE = [
    hit("重庆市城乡居民最低生活保障条例", 10, "《重庆市城乡居民最低生活保障条例》第十条"),
    hit("中华人民共和国老年人权益保障法", 30, "《中华人民共和国老年人权益保障法》第三十条"),
    hit("低保申请流程", None, "《低保申请流程》网格员怎么做", "worker"),
]


def test_valid_citations_stay_and_are_listed_in_order() -> None:
    text = "可以申请（《老年人权益保障法》第三十条）。按户申请（《重庆市城乡居民最低生活保障条例》第10条）。"
    out = verify(text, EVIDENCE)
    assert out.removed == [] and out.text == text
    assert [c.label for c in out.citations] == [
        "《中华人民共和国老年人权益保障法》第三十条", "《重庆市城乡居民最低生活保障条例》第十条",
    ]


def test_invented_law_and_invented_article_are_removed() -> None:
    text = (
        "按户申请（依据《重庆市城乡居民最低生活保障条例》第十条、《重庆市低保实施细则》第九条）。"
        "另见《重庆市城乡居民最低生活保障条例》第九十九条。"
    )
    out = verify(text, EVIDENCE)
    assert out.removed == ["《重庆市低保实施细则》第九条", "《重庆市城乡居民最低生活保障条例》第九十九条"]
    assert "实施细则" not in out.text and "第九十九条" not in out.text
    assert "《重庆市城乡居民最低生活保障条例》第十条" in out.text
    assert "、）" not in out.text and "（）" not in out.text
    assert [c.label for c in out.citations] == ["《重庆市城乡居民最低生活保障条例》第十条"]


def test_a_guide_is_cited_by_its_title() -> None:
    out = verify("先入户了解情况（《低保申请流程》）。", EVIDENCE)
    assert out.removed == [] and [c.label for c in out.citations] == ["《低保申请流程》网格员怎么做"]


def test_names_that_are_not_documents_are_left_alone() -> None:
    out = verify("填写《城市居民最低生活保障待遇审批表》，带上《残疾人证》。", EVIDENCE)
    assert out.removed == [] and "审批表" in out.text and out.citations == []


def guide(text: str) -> Hit:
    return Hit(rank=1, score=1.0, file="c13/养犬纠纷调处.md", article_no=None, article_sub=None,
               label="《养犬纠纷调处》处置要点", breadcrumb="处置要点", title="养犬纠纷调处",
               category="c13-dogs-animal-epidemic",
               level="guide", audience="public", text=text, doc_id="养犬纠纷调处", point_id="guide-1")


def test_an_article_a_retrieved_guide_cites_is_kept_though_its_text_was_not_retrieved() -> None:
    g = guide("遛狗不拴绳的，公安机关处警告（依据《中华人民共和国治安管理处罚法》第七十五条）。")
    text = "遛狗不拴绳的，处警告（依据《中华人民共和国治安管理处罚法》第七十五条；见《养犬纠纷调处》处置要点）。"
    out = verify(text, [*EVIDENCE, g])
    assert out.removed == [] and out.text == text


def test_removal_inside_a_guide_bracket_leaves_clean_text() -> None:
    text = "遛狗不拴绳的，处警告（依据《中华人民共和国治安管理处罚法》第九十九条；见《养犬纠纷调处》处置要点）。"
    out = verify(text, [*EVIDENCE, guide("遛狗不拴绳的，公安机关处警告。")])
    assert out.removed == ["《中华人民共和国治安管理处罚法》第九十九条"]
    assert "（；" not in out.text and "依据；" not in out.text
    assert out.text == "遛狗不拴绳的，处警告（见《养犬纠纷调处》处置要点）。"


def test_a_law_that_a_retrieved_article_itself_names_is_not_an_invention() -> None:
    article = hit("重庆市城乡居民最低生活保障条例", 40, "《重庆市城乡居民最低生活保障条例》第四十条")
    article = Hit(**{**{f: getattr(article, f) for f in article.__slots__},  # type: ignore[attr-defined]
                     "text": "第四十条 违反本条例规定的，依照《中华人民共和国治安管理处罚法》给予处罚。"})
    text = "骗取低保的，依照《中华人民共和国治安管理处罚法》给予处罚（《重庆市城乡居民最低生活保障条例》第四十条）。"
    out = verify(text, [article])
    assert out.removed == [] and out.text == text
