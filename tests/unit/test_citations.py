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
