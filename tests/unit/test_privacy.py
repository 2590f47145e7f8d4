"""Issue 26 #8: personal numbers in free text are masked (ID numbers, bank cards, phones) and nothing else is; a log
line of the process carries none of them, in its message or its traceback."""

from __future__ import annotations

import logging

import pytest

from assistant.desk.notices import status_notice
from assistant.domain import Location, ReportDraft
from assistant.privacy import install_log_masking, mask, mask_contact, mask_phone, mask_report

pytestmark = pytest.mark.unit

ID = "11010519491231002X"
ID_DIGITS = "510104199003071234"
CARD = "6222021234567894"  # passes the Luhn check
CARD_19 = "6217001234567890122"
PHONE = "13812345678"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"身份证{ID}。", "身份证1101**********002X。"),
        (f"证件号 {ID_DIGITS}", "证件号 5101**********1234"),
        (f"卡号{CARD}", "卡号6222********7894"),
        ("卡号 6222 0212 3456 7894", "卡号 6222 **** **** 7894"),
        (f"卡{CARD_19}", "卡6217***********0122"),
        (f"电话{PHONE}，", "电话138****5678，"),
        ("电话 138 1234 5678", "电话 138****5678"),
        ("+8613812345678", "+86138****5678"),
        ("座机023-68123456", "座机023-****3456"),
        ("(010)62345678", "(010)****5678"),
    ],
)
def test_personal_numbers_are_masked_but_recognisable(text: str, shown: str) -> None:
    assert mask(text) == shown


@pytest.mark.parametrize(
    "text",
    ["工单 GW20261127-0001", "MsgId 6222021234567890", "订单号 1234567890123456", "2026-11-27 08:30",
     "解放路12号3栋2单元", "12345 热线", "金额 10000000 元", "", "没有数字"],
)
def test_numbers_that_are_not_personal_stay(text: str) -> None:
    assert mask(text) == text  # a number that fails the Luhn check is not a card: ticket numbers and ids stay


def test_the_phone_mask_and_the_contact_field() -> None:
    assert mask_phone(f"{PHONE} {ID}") == f"138****5678 {ID}"
    assert mask_contact(PHONE) == "138****5678"
    assert mask_contact("王先生 8888 1234") == "王先生 **** 1234"  # a contact field's number, whatever its form
    assert mask_contact(None) is None


def test_a_report_is_masked_everywhere_a_number_can_hide() -> None:
    report = {"ticket": "GW20261127-0001", "description": f"捡到钱包，身份证{ID}，卡{CARD}", "contact": PHONE,
              "occurred_at": f"昨天 失主{PHONE}", "openid": "o-1",
              "location": {"text": f"幸福小区 联系{PHONE}", "label": None, "grid": "G1"},
              "events": [{"kind": "status", "note": f"已联系 {PHONE}", "actor": "center:desk"}]}
    shown = mask_report(report)
    text = repr(shown)
    assert ID not in text and CARD not in text and PHONE not in text
    assert shown["ticket"] == "GW20261127-0001" and shown["location"]["grid"] == "G1"
    assert "138****5678" in shown["contact"] and "1101**********002X" in shown["description"]
    assert PHONE in report["contact"] and ID in report["description"]  # the store's copy is untouched


def test_what_a_resident_is_shown_is_masked() -> None:
    draft = ReportDraft(category="other", location=Location(text=f"幸福小区 {PHONE}"),
                        description=f"捡到钱包，身份证{ID}，银行卡{CARD}", contact=ID_DIGITS)
    summary = draft.summary()
    assert all(n not in summary for n in (ID, CARD, PHONE, ID_DIGITS)), summary
    assert "1101**********002X" in summary and "6222********7894" in summary
    notice = status_notice({"ticket": "GW20261127-0001", "status": "assigned"}, f"网格员会联系您（{PHONE}）")
    assert PHONE not in notice and "138****5678" in notice


def test_no_log_line_carries_a_personal_number(caplog: pytest.LogCaptureFixture) -> None:
    install_log_masking()
    install_log_masking()  # idempotent: one factory, not two wrapped
    log = logging.getLogger("assistant.test_privacy")
    with caplog.at_level(logging.INFO):
        log.info("report from %s: %s", PHONE, f"身份证{ID}")
        log.warning("peer said: %s", {"card": CARD})
        try:
            raise ValueError(f"bad contact {ID_DIGITS}")
        except ValueError:
            log.exception("failed")
        log.info("ticket %s, %d items", "GW20261127-0001", 3)
    text = caplog.text
    assert all(n not in text for n in (ID, CARD, PHONE, ID_DIGITS)), text
    assert "138****5678" in text and "GW20261127-0001, 3 items" in text
    assert caplog.records[-1].args == ("GW20261127-0001", 3)  # a record without numbers keeps its arguments
