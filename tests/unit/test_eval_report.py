"""The reviewers' eval report: Chinese labels for every metric, the whole run's wall time, the baseline beside each
metric with the gate's own verdict, one self-contained escaped page."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from eval.report import METRICS, compare, deltas, load_baseline, page, summary, unlabelled, write
from eval.suite import latency
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

BASELINE = ROOT / "eval/baseline/results.json"


def _run() -> dict[str, Any]:
    """A small run as `gridworker eval run` writes it: two suites, per-suite times, the whole run's wall time."""
    return {
        "mode": "extractive", "retrieval_mode": "sparse", "suites": ["retrieval", "emergency"],
        "started": "2026-12-04T10:00:00", "commit": "abc1234",
        "retrieval": {"resident": {"recall@1": 0.5, "recall@5": 0.8, "recall@10": 0.9, "mrr@10": 0.6,
                                   "ndcg@10": 0.65, "n": 83},
                      "worker": {"recall@1": 0.6, "recall@5": 0.9, "recall@10": 0.95, "mrr@10": 0.7,
                                 "ndcg@10": 0.75, "n": 67},
                      "per_category": {"c01-social-assistance": 0.75},
                      "failures": [{"question": "<script>alert(1)</script>低保咋个办", "expected": ["a#1"],
                                    "got": ["b#2"]}]},
        "emergency": {"recall": 0.8, "precision": 0.9, "false_alarm_rate": 0.05, "n": 45, "failures": []},
        "latency": latency([{"condense": 1.0, "retrieve.total": 20.0, "generate": 5.0, "total": 30.0}]),
        "timing": {"suites": {"retrieval": 12.5, "emergency": 8.5}, "suites_s": 21.0,
                   "setup": {"index": 45.0, "stard_index": 7.0}, "wall_s": 74.2},
        "headline": {"retrieval.resident.recall@5": 0.8, "retrieval.worker.recall@5": 0.9,
                     "emergency.recall": 0.8, "emergency.false_alarm_rate": 0.05},
    }


def _baseline() -> dict[str, Any]:
    base = copy.deepcopy(_run())
    base["emergency"]["recall"] = base["headline"]["emergency.recall"] = 1.0  # 1.0 -> 0.8 over 45 cases: a drop
    base["retrieval"]["resident"]["recall@5"] = base["headline"]["retrieval.resident.recall@5"] = 0.81  # noise
    base |= {"source": "eval/baseline/results.json", "started": "2026-12-03T09:59:00",
             "file_commit": "0e7a8d7 2026-12-03"}
    return base


def _rows(html: str) -> dict[str, str]:
    """The metric table's rows, by raw id."""
    return {m.group(1): m.group(0) for m in re.finditer(r'<tr>(?:(?!</tr>).)*?<code class="id">([^<]+)</code>'
                                                        r"(?:(?!</tr>).)*</tr>", html)}


def test_every_metric_of_the_baseline_and_of_a_run_has_a_label() -> None:
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    assert unlabelled(baseline) == []
    assert unlabelled(_run()) == []
    judged = {"answers": {"faithfulness_model_judged": {"score": None, "judged": 0, "judge": "m", "note": "x"}}}
    assert unlabelled(judged) == []
    assert unlabelled({"emergency": {"recall": 1.0, "new_metric": 0.5}}) == ["emergency.new_metric"]
    for name, (text, why) in METRICS.items():
        assert re.search(r"[\u4e00-\u9fff]", text) and re.search(r"[\u4e00-\u9fff]", why), name


def test_the_page_labels_each_metric_in_chinese_with_its_raw_id() -> None:
    html = page(_run())
    assert html.startswith('<!doctype html><html lang="zh-CN">')
    row = _rows(html)["retrieval.resident.recall@5"]
    assert "前5条召回率（居民问法）" in row and "金标条文出现在前五条检索结果中的比例" in row and "0.8" in row
    assert "紧急误报率" in _rows(html)["emergency.false_alarm_rate"]
    assert "单次回答总耗时中位数（毫秒）" in _rows(html)["latency.total.p50"]
    assert "社会救助与最低生活保障 c01" in html  # category bars by their Chinese names
    assert "未与基线比较" in html and "<th>基线</th>" not in html


def test_the_page_shows_the_whole_runs_wall_time_and_where_it_went() -> None:
    html = page(_run())
    assert "整次运行用时 74.2 秒（自 gridworker eval run 开始到写出报告）" in html
    assert "加载代码与模型、建知识库索引 45.0 秒" in html and "STARD 法条索引 7.0 秒" in html
    assert "各套件合计 21.0 秒（检索 12.5 秒、紧急识别 8.5 秒）" in html and "其他 1.2 秒" in html
    gate_only = _run()
    del gate_only["timing"]["wall_s"], gate_only["timing"]["setup"]
    assert "整次运行用时未记录" in page(gate_only) and "整次运行用时 " not in page(gate_only)
    legacy = json.loads(BASELINE.read_text(encoding="utf-8"))
    assert "只计套件，不含建索引与加载模型" in summary(legacy)


def test_the_page_sets_each_metric_beside_the_baseline_with_the_gates_verdict() -> None:
    run, base = _run(), _baseline()
    html = page(run, base)
    rows = _rows(html)
    drop = rows["emergency.recall"]
    assert ">1<" in drop and ">0.800<" in drop and "-0.200" in drop and "▼ 显著下降" in drop and 'class="drop"' in drop
    assert "无显著变化" in rows["retrieval.resident.recall@5"] and "-0.010" in rows["retrieval.resident.recall@5"]
    assert "▼" not in rows["retrieval.resident.recall@1"]  # not a headline metric: a difference, no verdict
    assert "0e7a8d7 2026-12-03" in html and "2026-12-03T09:59:00" in html
    # the same rule as `eval compare`, which the CI gate uses
    assert [d.name for d in deltas(base, run) if d.verdict == "drop"] == compare(base, run)[1] == ["emergency.recall"]
    md = summary(run, base)
    assert "显著下降：紧急识别召回率" in md
    assert "| 紧急识别召回率 `emergency.recall` | 0.800 | 1 | -0.200 | ▼ 显著下降 |" in md
    assert "整次运行用时 74.2 秒" in md and "被测代码：abc1234" in md


def test_the_page_is_self_contained_and_escaped() -> None:
    html = page(_run(), _baseline())
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;低保咋个办" in html
    assert not re.search(r"(src|href)=|https?://|<link|@import|<script", html)


def test_a_run_is_written_with_its_baseline(tmp_path: Path) -> None:
    folder = tmp_path / "base"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(_baseline()), encoding="utf-8")
    reference = load_baseline(folder)
    assert reference is not None and reference["source"].endswith("results.json")
    assert load_baseline(tmp_path / "missing") is None
    write(_run(), tmp_path / "out", reference)
    assert "▼ 显著下降" in (tmp_path / "out/report.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "out/results.json").read_text(encoding="utf-8"))["timing"]["wall_s"] == 74.2


def test_the_suites_fixed_phrases_in_failures_read_in_chinese() -> None:
    run = _run()
    run["emergency"]["failures"] = [{"question": "楼下火锅店油烟太大了", "expected": False, "got": ["fire"]}]
    run["suites"].append("answers")
    run["answers"] = {"per_category": {}, "failures": [
        {"question": "出国旅游签证要准备什么", "expected": "refusal (not_in_corpus)", "got": "签证……", "citations": []},
        {"question": "低保咋个申请", "expected": "an answer", "got": "refused (no_evidence)", "citations": []}]}
    html = page(run)
    assert "<td>不紧急</td>" in html and "应当拒答（库内无依据）" in html
    assert "<td>应当作答</td><td>拒答了（证据不足）</td>" in html


def test_noise_is_taken_over_each_metrics_own_cases() -> None:
    from eval.report import _n

    run = {"retrieval": {"resident": {"n": 83}, "worker": {"n": 67}, "stard_dev": {"n": 308}},
           "answers": {"n_answerable": 83, "n_unanswerable": 40}, "emergency": {"n": 45}}
    assert _n(run, "retrieval.worker.recall@5") == 67
    assert _n(run, "retrieval.stard_dev.mrr@10") == 308
    assert _n(run, "retrieval.resident.recall@5") == 83
    assert _n(run, "answers.false_answer_rate") == 40
    assert _n(run, "answers.refusal_accuracy") == 123
    assert _n(run, "answers.key_point_coverage") == 83
    assert _n(run, "emergency.recall") == 45
