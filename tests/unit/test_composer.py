"""The extractive composer's sentences: no list lead-in without its items, no bare item numbers."""

from __future__ import annotations

import pytest

from assistant.answering.composer import split_sentences

pytestmark = pytest.mark.unit


def test_a_list_lead_in_and_a_bare_item_number_are_not_sentences() -> None:
    article = ("第十五条 申请最低生活保障，按照下列程序办理：\n（一）由申请人向街道办事处提出书面申请；\n（十一）\n"
               "（二）居民委员会入户调查。")
    out = split_sentences(article)
    assert not any(s.endswith("：") for s in out)
    assert "（十一）" not in out
    assert out == ["（一）由申请人向街道办事处提出书面申请；", "（二）居民委员会入户调查。"]
