"""Report fields from a resident's words, without a model (rules + keyword lexicon), voice-style text included."""

from __future__ import annotations

import pytest

from assistant.domain import Location, ReportDraft
from assistant.privacy import mask_phone
from assistant.reports.extract import classify, extract_rules

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "category"),
    [("小区门口路灯坏了好几天了", "public_facilities"), ("楼下有人在楼顶偷偷加盖房子", "illegal_construction"),
     ("隔壁独居老人好几天没出门了", "vulnerable_people"), ("楼道里好大一股煤气味", "gas_safety"),
     ("广场舞音响太吵了每天晚上十点还在跳", "noise"), ("遛狗不拴绳吓到小孩", "dogs"),
     ("垃圾堆在路边好几天没人收", "city_appearance"), ("门口有人摆摊占道", "street_order"), ("想问个事", "other")],
)
def test_categories(text: str, category: str) -> None:
    assert classify(text) == category


def test_voice_style_text_without_punctuation() -> None:
    d = extract_rules("我要反映一下幸福小区3栋门口那个路灯坏了好几天了晚上黑黢黢的老人走路怕摔 电话13812345678")
    assert d.category == "public_facilities"
    assert d.location.text.startswith("幸福小区3栋")
    assert "路灯坏了" in d.description and "13812345678" not in d.description
    assert d.urgency == "urgent" and d.contact == "13812345678" and d.occurred_at
    assert d.missing() == []


def test_emergency_urgency_and_missing_fields() -> None:
    d = extract_rules("楼道里好大一股煤气味")
    assert d.urgency == "emergency" and d.category == "gas_safety" and d.missing() == ["location"]
    assert extract_rules("我要上报").missing() == ["description", "location"]


def test_a_place_only_reply_fills_the_location_not_the_description() -> None:
    draft = extract_rules("路灯坏了")
    d = extract_rules("在幸福小区3栋门口", draft)
    assert d.location.text.startswith("幸福小区3栋") and d.description == "路灯坏了"


def test_summary_masks_the_phone() -> None:
    d = ReportDraft(description="路灯坏了", location=Location(text="幸福小区"), contact="13812345678")
    assert "138****5678" in d.summary() and "13812345678" not in d.summary()
    assert mask_phone("电话13812345678") == "电话138****5678"
