"""Writing an eval run (results.json, summary.md, a self-contained report.html) and comparing two runs.

The reports are for reviewers, in Chinese: every metric carries its label and a one-line explanation from
`METRICS` (its raw id stays beside it, small, for engineers), the run's wall time and where it went, and each
metric beside the baseline's with the same significance rule `gridworker eval compare` and the CI gate use
(`deltas`). A metric the suite starts to produce must be added to `METRICS`: tests/unit/test_eval_report.py fails
until it is.
"""

from __future__ import annotations

import functools
import html
import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.suite import HEADLINES, LOWER, WECHAT_BUDGET_MS

TAXONOMY = Path(__file__).resolve().parent.parent / "corpus" / "taxonomy.json"
TOLERANCE = 0.02  # a headline metric may fall this much (absolute) below the baseline before CI fails

# Every metric id the suite writes (the dotted path in results.json): its label and what it measures.
METRICS: dict[str, tuple[str, str]] = {
    "retrieval.resident.recall@1": ("首条召回率（居民问法）", "金标条文排在检索结果第一条的比例"),
    "retrieval.resident.recall@5": ("前5条召回率（居民问法）", "金标条文出现在前五条检索结果中的比例"),
    "retrieval.resident.recall@10": ("前10条召回率（居民问法）", "金标条文出现在前十条检索结果中的比例"),
    "retrieval.resident.mrr@10": ("平均倒数排名（居民问法）", "第一条金标条文名次的倒数取平均，前十条未出现记 0"),
    "retrieval.resident.ndcg@10": ("排序质量 nDCG@10（居民问法）", "按名次折损的前十条命中得分，归一到 0–1"),
    "retrieval.resident.n": ("居民问法题数", "用口语提问的可回答问题数（开发集与测试集合计）"),
    "retrieval.worker.recall@1": ("首条召回率（网格员问法）", "网格员问题的金标条文排在第一条的比例"),
    "retrieval.worker.recall@5": ("前5条召回率（网格员问法）", "网格员问题的金标条文出现在前五条检索结果中的比例"),
    "retrieval.worker.recall@10": ("前10条召回率（网格员问法）", "网格员问题的金标条文出现在前十条检索结果中的比例"),
    "retrieval.worker.mrr@10": ("平均倒数排名（网格员问法）", "网格员问题第一条金标条文名次的倒数取平均"),
    "retrieval.worker.ndcg@10": ("排序质量 nDCG@10（网格员问法）", "网格员问题按名次折损的前十条命中得分，归一到 0–1"),
    "retrieval.worker.n": ("网格员问法题数", "问流程、条件、时限、责任部门、罚则的问题数"),
    "retrieval.stard_dev.recall@10": ("前10条召回率（STARD）", "外部数据集 STARD 开发集：金标法条出现在前十条的比例"),
    "retrieval.stard_dev.recall@100": ("前100条召回率（STARD）", "STARD 开发集：金标法条出现在前一百条的比例"),
    "retrieval.stard_dev.mrr@10": ("平均倒数排名（STARD）", "STARD 开发集：第一条金标法条名次的倒数取平均"),
    "retrieval.stard_dev.ndcg@10": ("排序质量 nDCG@10（STARD）", "STARD 开发集：按名次折损的前十条命中得分"),
    "retrieval.stard_dev.n": ("STARD 题数", "STARD 开发集的问题数，在另建的法律条文索引上检索"),
    "answers.key_point_coverage": ("要点覆盖率（居民）",
                                   "已作答的居民问题中，回答覆盖金标要点的比例（字符二元组重合过半即算，非人工评判）"),
    "answers.citation_precision": ("引用核验通过率", "回答展示的引用中，确实指向本次检索到的条文的比例"),
    "answers.citation_precision_gold": ("引用精确率（对金标）", "已作答问题所引条文中属于金标条文的比例"),
    "answers.citation_recall_gold": ("引用召回率（对金标）", "已作答问题的金标条文被回答引用到的比例"),
    "answers.citations_removed": ("核验删除的引用数", "因不指向检索结果而在核验时删掉的引用条数，全部问题合计"),
    "answers.false_refusal_rate": ("误拒率", "本可回答的居民问题却被拒答的比例，越低越好"),
    "answers.false_answer_rate": ("误答率", "不该回答的问题（库外、超范围、提示注入）却作答的比例，越低越好"),
    "answers.refusal_accuracy": ("答拒判断准确率", "该答的答了、该拒的拒了，占可答与不可答问题总数的比例"),
    "answers.injection_resistance": ("抗注入率", "提示注入类问题被拒答且未泄露系统规则的比例"),
    "answers.worker_leakage": ("内部材料泄露数", "居民看到的回答里引用了仅限网格员的内部材料的条数，必须为 0"),
    "answers.worker_key_point_coverage": ("要点覆盖率（网格员）", "网格员问题的回答覆盖金标要点的比例，拒答计为未覆盖"),
    "answers.worker_citation_recall_gold": ("引用召回率（网格员，对金标）", "网格员问题的金标条文被回答引用到的比例"),
    "answers.n_answerable": ("可回答题数（居民）", "回答套件里有金标条文的居民问题数"),
    "answers.n_unanswerable": ("不可回答题数", "库外、超范围和提示注入问题数，应当拒答"),
    "answers.lecoqa.rouge_l_char": ("LeCoQA 字符 ROUGE-L F1",
                                    "回答与律师参考答案的最长公共子序列重合度（字符级，不用模型）"),
    "answers.lecoqa.token_f1": ("LeCoQA 分词 F1", "回答与律师参考答案按 jieba 分词后的词重合 F1（不用模型）"),
    "answers.lecoqa.refused": ("LeCoQA 拒答数", "LeCoQA 问题中被拒答的题数"),
    "answers.lecoqa.n": ("LeCoQA 题数", "LeCoQA 测试集与 STARD 开发集的交集（无训练泄漏），在法律条文索引上作答"),
    "answers.faithfulness_model_judged.score": ("忠实度（模型评判）",
                                                "评审模型认为有所引条文支撑的句子比例；取决于评审模型，不进门禁"),
    "answers.faithfulness_model_judged.judged": ("模型评判的回答数", "有引用且未拒答、评审模型给出了结果的回答数"),
    "emergency.recall": ("紧急识别召回率", "真实紧急情况被识别、且回复以「【紧急】」开头的比例"),
    "emergency.precision": ("紧急识别精确率", "被判为紧急的消息中确属紧急的比例"),
    "emergency.false_alarm_rate": ("紧急误报率", "形似紧急的非紧急消息被误判为紧急的比例，越低越好"),
    "emergency.n": ("紧急识别题数", "真实紧急情况与形似紧急的消息合计"),
    "reports.category_accuracy": ("上报类别准确率", "生成的工单类别与金标一致的对话比例"),
    "reports.urgency_accuracy": ("紧急程度准确率", "生成的工单紧急程度与金标一致的对话比例"),
    "reports.location_accuracy": ("上报位置准确率", "工单位置包含金标地点的对话比例"),
    "reports.description_accuracy": ("问题描述准确率", "工单描述包含金标关键词的对话比例"),
    "reports.followup_accuracy": ("缺项追问准确率", "缺少位置或问题描述时，助手追问了所缺那一项的对话比例"),
    "reports.started_accuracy": ("助手主动起草率", "居民未说「我要上报」之前，助手已开始起草或提议上报的对话比例"),
    "reports.one_report": ("恰好一张工单率", "信息齐全的对话恰好生成一张工单的比例"),
    "reports.extra_turns": ("平均追加轮次", "信息齐全的对话里，居民为提交工单平均还需多发的消息数，越低越好"),
    "reports.n": ("上报对话数", "模拟居民逐轮发送的上报对话数（文字、语音转写、位置、图片）"),
    "latency.within_wechat_budget": ("微信时限内比例",
                                     f"回答总耗时在 {WECHAT_BUDGET_MS / 1000:g} 秒（微信被动回复时限）以内的比例"),
}
_STAGES = {"condense": "追问改写", "retrieve": "检索", "generate": "生成回答", "total": "单次回答总"}
_STATS = {"p50": "中位数", "p95": "95 分位", "max": "最大值"}
METRICS |= {f"latency.{stage}.{stat}": (f"{name}耗时{word}（毫秒）", f"回答套件每个问题{name}耗时的{word}")
            for stage, name in _STAGES.items() for stat, word in _STATS.items()}

LECOQA_NOTE = ("LeCoQA 只计回答与律师参考答案的重合度，不用模型：上游的 METEOR 与 BERTScore 需要下载 NLTK 数据和"
               "模型权重，本机无法下载")
MODES = {"extractive": "抽取式（不调用大模型）", "llm": "大模型生成"}
PARTS = {"retrieval": "检索", "stard_dev": "STARD 法条检索", "answers": "回答", "lecoqa": "LeCoQA 作答",
         "emergency": "紧急识别", "reports": "事件上报", "index": "加载代码与模型、建知识库索引",
         "stard_index": "STARD 法条索引"}
_GROUPS = {"retrieval": "检索", "answers": "回答", "emergency": "紧急识别", "reports": "事件上报", "latency": "耗时"}
_NOT_METRICS = {"per_category", "failures", "totals"}  # per-category bars and raw lists, shown apart
_VERDICTS = {"drop": "▼ 显著下降", "gain": "▲ 明显提升", "": "无显著变化"}


def metric_ids(results: dict[str, Any]) -> list[str]:
    """The dotted ids of the numeric metrics in a results dict (not the per-category breakdowns, the headline copy,
    the timings or the raw latency list)."""
    out: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if key in _NOT_METRICS:
                continue
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            elif value is None or isinstance(value, int | float) and not isinstance(value, bool):
                out.append(prefix + key)  # None: a score that could not be computed (no judge answers)

    walk({k: v for k, v in results.items() if k in _GROUPS and isinstance(v, dict)}, "")
    return out


def unlabelled(results: dict[str, Any]) -> list[str]:
    """Metric ids in `results` without a label in METRICS (a test keeps this empty)."""
    return [m for m in metric_ids(results) if m not in METRICS]


def _value(results: dict[str, Any] | None, name: str) -> float | None:
    node: Any = results
    for part in name.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


# -- comparison (eval compare, the CI gate and the report's baseline column) ------------------------------------
@dataclass(frozen=True)
class Delta:
    """One headline metric of a run (`value`) against a reference (`base`); verdict "drop", "gain" or ""."""

    name: str
    base: float
    value: float
    verdict: str

    @property
    def delta(self) -> float:
        return self.value - self.base


def deltas(a: dict[str, Any], b: dict[str, Any], tolerance: float = TOLERANCE) -> list[Delta]:
    """The headline metrics of run `b` against reference `a`: a drop is significant when it is larger than the
    tolerance and than two binomial standard errors of the reference (the noise of a proportion over n cases)."""
    out = []
    for name in HEADLINES:
        if name not in a["headline"] or name not in b["headline"]:
            continue
        va, vb = a["headline"][name], b["headline"][name]
        worse = va - vb if name not in LOWER else vb - va
        n = _n(b, name)
        noise = 2 * math.sqrt(max(va * (1 - va), 0.0) / n) if n and 0 <= va <= 1 else 0.0
        verdict = "drop" if worse > max(tolerance, noise) else "gain" if worse < -tolerance else ""
        out.append(Delta(name, va, vb, verdict))
    return out


def compare(a: dict[str, Any], b: dict[str, Any], tolerance: float = TOLERANCE) -> tuple[str, list[str]]:
    """A regression table (b against a) and the headline metrics that dropped beyond tolerance (and noise)."""
    flags = {"drop": "▼ significant drop", "gain": "▲", "": ""}
    rows = deltas(a, b, tolerance)
    lines = ["| metric | A | B | delta | |", "|---|---|---|---|---|"]
    lines += [f"| {d.name} | {_fmt(d.base)} | {_fmt(d.value)} | {d.delta:+.3f} | {flags[d.verdict]} |" for d in rows]
    return "\n".join(lines), [d.name for d in rows if d.verdict == "drop"]


def _n(results: dict[str, Any], name: str) -> int:
    """How many cases a headline metric is a proportion over: its own split's n where the run records one
    (retrieval.worker.* over the worker questions, not the resident ones), the unanswerable questions for the
    false-answer rate, both kinds for refusal accuracy, else the suite's n."""
    parts = name.split(".")
    node = results.get(parts[0], {})
    split = node.get(parts[1]) if len(parts) > 2 else None
    if isinstance(split, dict) and split.get("n"):
        return int(split["n"])
    if name == "answers.false_answer_rate" and node.get("n_unanswerable"):
        return int(node["n_unanswerable"])
    if name == "answers.refusal_accuracy" and node.get("n_unanswerable"):
        return int(node.get("n_answerable", 0)) + int(node["n_unanswerable"])
    return int(node.get("n") or node.get("n_answerable") or (node.get("resident") or {}).get("n") or 0)


# -- provenance ---------------------------------------------------------------------------------------------------
def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def revision(folder: Path) -> str | None:
    """The checkout's commit (with "-dirty" when it has uncommitted changes), or None outside git."""
    return _git(folder, "describe", "--always", "--dirty")


def load_baseline(path: Path) -> dict[str, Any] | None:
    """A reference run (results.json or its folder) with where it came from: `source`, and `file_commit` (the
    commit that last changed the file, with its date) when git knows it. None when there is no such file."""
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    try:
        data["source"] = str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        data["source"] = str(path)
    data["file_commit"] = _git(path.parent, "log", "-1", "--format=%h %cs", "--", path.name)
    if data["file_commit"] and _git(path.parent, "status", "--porcelain", "--", path.name):
        data["file_commit"] += "，另有未提交的修改"
    return data


def write(results: dict[str, Any], out: Path, baseline: dict[str, Any] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "summary.md").write_text(summary(results, baseline), encoding="utf-8")
    (out / "report.html").write_text(page(results, baseline), encoding="utf-8")


# -- shared text --------------------------------------------------------------------------------------------------
def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "—"
    return f"{v:.{digits}f}" if isinstance(v, float) and not float(v).is_integer() else f"{v:g}"


def label(name: str) -> tuple[str, str]:
    """A metric's Chinese label and explanation (the raw id when it has none yet: the label test catches that)."""
    return METRICS.get(name, (name, "（尚无说明）"))


def _seconds(parts: dict[str, float]) -> str:
    return "、".join(f"{PARTS.get(k, k)} {v:.1f} 秒" for k, v in parts.items())


def timing_text(results: dict[str, Any]) -> str:
    """Where the run's time went, labelled for what each number covers."""
    timing = results.get("timing") or {}
    if not timing:
        if "seconds" in results:  # results written before the wall time was recorded
            return f"各套件用时 {results['seconds']:.1f} 秒（旧格式：只计套件，不含建索引与加载模型）"
        return "用时未记录"
    suites = f"各套件合计 {timing['suites_s']:.1f} 秒（{_seconds(timing.get('suites', {}))}）"
    if "wall_s" not in timing:
        return f"{suites}；不含建索引与加载模型，整次运行用时未记录"
    setup = timing.get("setup", {})
    rest = timing["wall_s"] - timing["suites_s"] - sum(setup.values())
    return (f"整次运行用时 {timing['wall_s']:.1f} 秒（自 gridworker eval run 开始到写出报告）：其中"
            f"{_seconds(setup)}；{suites}；其他 {max(rest, 0.0):.1f} 秒")


def baseline_text(baseline: dict[str, Any] | None) -> str:
    if baseline is None:
        return "未与基线比较"
    parts = [f"基线 {baseline.get('source', '（未知来源）')}", f"测于 {baseline.get('started', '未知时间')}"]
    if baseline.get("commit"):
        parts.append(f"被测代码 {baseline['commit']}")
    if baseline.get("file_commit"):
        parts.append(f"基线文件提交于 {baseline['file_commit']}")
    return "，".join(parts)


def _rows(results: dict[str, Any], baseline: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per metric of this run (headline metrics first), formatted: this run's value, the baseline's, the
    difference and the verdict (None where none is given: not a headline metric, or no baseline)."""
    verdicts = {d.name: d.verdict for d in deltas(baseline, results)} if baseline else {}
    ids = metric_ids(results)
    ids = [h for h in HEADLINES if h in ids] + [m for m in ids if m not in HEADLINES]
    rows = []
    for name in ids:
        value, base = _value(results, name), _value(baseline, name)
        delta = None if value is None or base is None else value - base
        digits = 1 if name.startswith("latency.") and name != "latency.within_wechat_budget" else 3  # ms
        rows.append({"id": name, "label": label(name)[0], "why": label(name)[1], "value": _fmt(value, digits),
                     "base": _fmt(base, digits), "delta": "—" if delta is None else f"{delta:+.{digits}f}",
                     "headline": name in HEADLINES, "verdict": verdicts.get(name)})
    return rows


# -- summary.md ---------------------------------------------------------------------------------------------------
def summary(results: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    suites = "、".join(PARTS.get(s, s) for s in results["suites"])
    rows = _rows(results, baseline)
    drops = [r["label"] for r in rows if r["verdict"] == "drop"]
    lines = [f"# 数智网格员离线评测 {results['started']}", "",
             f"- 模式：{MODES.get(results['mode'], results['mode'])}；套件：{suites}；被测代码："
             f"{results.get('commit') or '未记录'}",
             f"- 检索方式：`{results['retrieval_mode']}`",
             f"- {timing_text(results)}",
             f"- {baseline_text(baseline)}"
             + (f"；显著下降：{'、'.join(drops)}" if drops else "；无显著下降" if baseline else ""), ""]
    for title, chosen in (("门禁指标（CI 与 eval compare 判定）", True), ("其他指标（不判定升降）", False)):
        lines += [f"## {title}", "", "| 指标 | 本次 | 基线 | 差值 | 判定 | 说明 |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['label']} `{r['id']}` | {r['value']} | {r['base']} | {r['delta']} | "
                  f"{_VERDICTS[r['verdict']] if r['verdict'] is not None else ''} | {r['why']} |"
                  for r in rows if r["headline"] is chosen]
        lines.append("")
    lecoqa = results.get("answers", {}).get("lecoqa")
    if lecoqa:
        lines.append(f"LeCoQA 测试集 ∩ STARD 开发集（{lecoqa['n']} 题）：字符 ROUGE-L F1 {lecoqa['rouge_l_char']:.3f}，"
                     f"分词 F1 {lecoqa['token_f1']:.3f}，拒答 {lecoqa['refused']} 题。{LECOQA_NOTE}。")
    lines.append("每题的失败明细、各类别分布与耗时分布见同目录的 report.html。")
    return "\n".join(lines) + "\n"


# -- report.html --------------------------------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text))


def _metric_table(rows: list[dict[str, Any]], with_baseline: bool) -> str:
    head = "<tr><th>指标</th><th>本次</th>" + ("<th>基线</th><th>差值</th><th>判定</th>" if with_baseline else "")
    body = []
    for r in rows:
        gate = '<span class="gate">门禁</span>' if r["headline"] else ""
        cells = [f'<td><b>{_e(r["label"])}</b>{gate}<div class="why">{_e(r["why"])}</div>'
                 f'<code class="id">{_e(r["id"])}</code></td>', f'<td class="num">{r["value"]}</td>']
        if with_baseline:
            verdict = r["verdict"]
            css = {"drop": "drop", "gain": "gain"}.get(verdict or "", "")
            cells += [f'<td class="num">{r["base"]}</td>', f'<td class="num">{r["delta"]}</td>',
                      f'<td class="{css}">{_e(_VERDICTS[verdict]) if verdict is not None else "—"}</td>']
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}</tr>{''.join(body)}</table>"


def _metrics(results: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    rows = _rows(results, baseline)
    parts = ["<h2>指标</h2>"]
    if baseline:
        parts.append("<p class=\"note\">「判定」只对门禁指标给出，规则与 <code>gridworker eval compare</code> "
                     "和 CI 门禁相同："
                     f"比基线变差超过 {TOLERANCE} 且超过基线两个二项标准误才算显著下降。其他指标只列差值。</p>")
    for group, name in _GROUPS.items():
        mine = [r for r in rows if r["id"].split(".")[0] == group]
        if mine:
            parts.append(f"<h3>{_e(name)}</h3>{_metric_table(mine, baseline is not None)}")
    return "".join(parts)


@functools.cache
def _category_names() -> dict[str, str]:
    """Category id -> its Chinese name (corpus/taxonomy.json), so the bars read 社会救助… rather than c01-…"""
    try:
        data = json.loads(TAXONOMY.read_text(encoding="utf-8"))
        return {c["id"]: f"{c['name_zh']} {c['id'].split('-')[0]}" for c in data["categories"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _bars(title: str, values: dict[str, float], width: int = 720) -> str:
    if not values:
        return ""
    row = 18
    h = row * len(values) + 30
    names = _category_names()
    parts = [f'<h3>{_e(title)}</h3><svg width="{width}" height="{h}" role="img" aria-label="{_e(title)}">']
    for i, (name, v) in enumerate(values.items()):
        y = 20 + i * row
        w = max(0.0, min(1.0, v)) * (width - 380)
        parts.append(f'<text x="0" y="{y + 12}" font-size="12">{_e(names.get(name, name))}</text>'
                     f'<rect x="310" y="{y}" width="{w:.1f}" height="13" fill="#0b6bcb"/>'
                     f'<text x="{315 + w:.1f}" y="{y + 12}" font-size="12">{v:.2f}</text>')
    return "".join(parts) + "</svg>"


def _histogram(values: list[float], width: int = 640, bins: int = 20) -> str:
    if not values:
        return ""
    top = max(values) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v / top * bins))] += 1
    peak = max(counts) or 1
    bw = (width - 40) / bins
    bars = "".join(f'<rect x="{20 + i * bw:.1f}" y="{120 - c / peak * 100:.1f}" width="{bw - 2:.1f}" '
                   f'height="{c / peak * 100:.1f}" fill="#0b6bcb"/>' for i, c in enumerate(counts))
    return (f"<h3>单次回答总耗时分布（毫秒，0 – {top:.0f}，{len(values)} 次回答）</h3>"
            f'<svg width="{width}" height="140">{bars}<text x="20" y="135" font-size="11">0</text>'
            f'<text x="{width - 60}" y="135" font-size="11">{top:.0f} 毫秒</text></svg>')


_FAILURES = {"retrieval": "检索：前五条没有金标条文的问题", "answers": "回答：误拒、误答或要点覆盖不足一半的问题",
             "emergency": "紧急识别：判错的消息", "reports": "事件上报：类别或紧急程度不对的对话"}


_REASONS = {"not_in_corpus": "库内无依据", "out_of_scope": "超出服务范围", "injection": "提示注入",
            "no_evidence": "证据不足"}


def _zh(suite: str, value: Any) -> str:
    """A failure's cell in Chinese where the suite wrote a fixed English phrase (a question or answer stays as is)."""
    if suite == "emergency" and isinstance(value, bool):
        return "紧急" if value else "不紧急"
    if not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value == "an answer":
        return "应当作答"
    for phrase, zh in (("refusal", "应当拒答"), ("refused", "拒答了")):
        if value.startswith(f"{phrase} (") and value.endswith(")"):
            reason = value[len(phrase) + 2 : -1]
            return f"{zh}（{_REASONS.get(reason, reason)}）"
    return value


def _failures(suite: str, items: list[dict[str, Any]]) -> str:
    title = _FAILURES.get(suite, suite)
    if not items:
        return f"<h3>{_e(title)}：没有未通过的</h3>"

    def cell(value: Any) -> str:
        return f"<td>{_e(_zh(suite, value))}</td>"

    rows = "".join(
        "<tr>" + "".join(cell(item.get(k, "")) for k in ("question", "expected", "got", "citations")) + "</tr>"
        for item in items[:100]
    )
    more = "（只列前 100 条，完整列表见 results.json）" if len(items) > 100 else ""
    return (f"<h3>{_e(title)}：{len(items)} 条未通过{more}</h3><table><tr><th>问题</th><th>期望</th>"
            f"<th>实际</th><th>引用</th></tr>{rows}</table>")


def page(results: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    suites = "、".join(PARTS.get(s, s) for s in results["suites"])
    body = [f"<h1>数智网格员离线评测报告</h1><p class=\"note\">开始于 {_e(results['started'])}</p><ul>"
            f"<li>模式：{_e(MODES.get(results['mode'], results['mode']))}；套件：{_e(suites)}；被测代码："
            f"{_e(results.get('commit') or '未记录')}</li>"
            f"<li>检索方式：<code>{_e(results['retrieval_mode'])}</code></li>"
            f"<li>{_e(timing_text(results))}</li><li>{_e(baseline_text(baseline))}</li></ul>",
            _metrics(results, baseline)]
    lecoqa = results.get("answers", {}).get("lecoqa")
    if lecoqa:
        body.append(f"<p class=\"note\">{_e(LECOQA_NOTE)}</p>")
    body.append("<h2>分类别</h2>")
    if "retrieval" in results:
        body.append(_bars("各类别前5条召回率（居民问法）", results["retrieval"]["per_category"]))
    if "answers" in results:
        body.append(_bars("各类别要点覆盖率（居民，拒答计 0）", results["answers"]["per_category"]))
    if "latency" in results:
        body.append("<h2>耗时</h2>" + _histogram(results["latency"]["totals"]))
    body.append("<h2>未通过的用例</h2>")
    for suite in ("retrieval", "answers", "emergency", "reports"):
        if suite in results:
            body.append(_failures(suite, results[suite].get("failures", [])))
    style = ("body{font:14px/1.5 sans-serif;max-width:1100px;margin:20px auto;color:#1d2733}"
             "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #dde3ea;padding:3px 8px;"
             "vertical-align:top;font-size:13px}th{background:#f2f5f8}td.num{text-align:right;white-space:nowrap}"
             ".why{color:#4a5866;font-size:12px}.id{color:#8a96a3;font-size:11px}.note{color:#4a5866}"
             ".gate{margin-left:6px;padding:0 4px;font-size:11px;border:1px solid #0b6bcb;color:#0b6bcb}"
             ".drop{color:#b3261e;font-weight:bold}.gain{color:#1e7b34}")
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>数智网格员离线评测报告</title>'
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
