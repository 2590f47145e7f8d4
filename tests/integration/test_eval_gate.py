"""The CI gate: the eval suite on the embedded default must not fall below the committed baseline
(eval/baseline/results.json) by more than the tolerance on any headline metric. `gridworker eval run` refreshes
the baseline when a change is meant to move it (commit the new file with the change, and say why)."""

from __future__ import annotations

import json

import pytest

from assistant.answering.pipeline import AnswerService
from eval.report import TOLERANCE, compare, page, summary, unlabelled
from eval.suite import HEADLINES, run
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_no_headline_metric_falls_below_the_baseline(answers: AnswerService) -> None:
    baseline = json.loads((ROOT / "eval/baseline/results.json").read_text(encoding="utf-8"))
    results = run(answers)
    assert set(results["headline"]) == {h for h in HEADLINES if ".stard_dev." not in h}  # STARD: `eval run` only
    table, drops = compare(baseline, results, TOLERANCE)
    assert drops == [], table
    assert results["answers"]["worker_leakage"] == 0 and results["emergency"]["recall"] == 1.0
    assert unlabelled(results) == []  # every metric a real run writes has its Chinese label and explanation
    html = page(results, baseline)
    assert html.startswith("<!doctype html>") and "<svg" in html and "未通过" in html and "▼ 显著下降" not in html
    assert "| 指标 | 本次 | 基线 | 差值 | 判定 | 说明 |" in summary(results, baseline)


def test_compare_flags_a_real_drop() -> None:
    a = {"headline": {"emergency.recall": 1.0, "answers.false_refusal_rate": 0.2}, "emergency": {"n": 45}}
    b = {"headline": {"emergency.recall": 0.8, "answers.false_refusal_rate": 0.19}, "emergency": {"n": 45}}
    table, drops = compare(a, b)
    assert drops == ["emergency.recall"] and "▼" in table
