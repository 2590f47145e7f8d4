"""Emergencies first, look-alikes not: the dev set's bars and the cases the issue names."""

from __future__ import annotations

import json

import pytest

from assistant.answering.emergency import EmergencyDetector
from tests.conftest import ROOT

pytestmark = pytest.mark.unit
DEV = [json.loads(line) for line in (ROOT / "eval/data/emergency.dev.jsonl").read_text(encoding="utf-8").splitlines()]


def test_dev_set_has_both_sides() -> None:
    assert sum(r["emergency"] for r in DEV) >= 20 and sum(not r["emergency"] for r in DEV) >= 15


def test_recall_is_total_and_false_alarms_stay_under_ten_percent() -> None:
    detector = EmergencyDetector()
    missed = [r["message"] for r in DEV if r["emergency"] and not detector.detect(r["message"]).emergency]
    alarms = [r["message"] for r in DEV if not r["emergency"] and detector.detect(r["message"]).emergency]
    assert missed == []
    assert len(alarms) <= 0.10 * sum(not r["emergency"] for r in DEV), alarms


@pytest.mark.parametrize("message", ["燃气灶打不着火", "昨天有人打架", "如果着火了怎么逃生", "打架斗殴怎么处罚"])
def test_look_alikes_do_not_trip(message: str) -> None:
    assert not EmergencyDetector().detect(message).emergency


@pytest.mark.parametrize(
    ("message", "kind", "number"),
    [("家里着火了", "fire", "119"), ("有人晕倒了", "medical", "120"), ("楼下有人拿刀砍人", "violence", "110"),
     ("闻到好大一股煤气味", "gas", "96777"), ("后山滑坡了", "flood_collapse", "119"), ("我不想活了", "suicide", "110")],
)
def test_kind_and_numbers_come_first(message: str, kind: str, number: str) -> None:
    found = EmergencyDetector(gas_hotline="96777").detect(message)
    assert found.kinds == [kind]
    assert found.first_line.startswith("【紧急】") and number in found.first_line


def test_urgency_overrides_a_past_marker() -> None:
    assert EmergencyDetector().detect("昨天吵过，现在他们又在打人了，救命").emergency
