"""Writing an eval run (results.json, summary.md, a self-contained report.html) and comparing two runs."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from eval.suite import HEADLINES, LOWER

TOLERANCE = 0.02  # a headline metric may fall this much (absolute) below the baseline before CI fails


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "summary.md").write_text(summary(results), encoding="utf-8")
    (out / "report.html").write_text(page(results), encoding="utf-8")


def _fmt(v: float) -> str:
    return f"{v:.3f}" if isinstance(v, float) and not float(v).is_integer() else f"{v:g}"


def summary(results: dict[str, Any]) -> str:
    lines = [f"# Eval run {results['started']}", "",
             f"mode `{results['mode']}`, retrieval `{results['retrieval_mode']}`, "
             f"suites {', '.join(results['suites'])}, {results['seconds']:.1f} s", "",
             "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in results["headline"].items()]
    lecoqa = results.get("answers", {}).get("lecoqa")
    if lecoqa:
        lines.append(f"\nLeCoQA test ∩ STARD dev (n={lecoqa['n']}): character ROUGE-L F1 {lecoqa['rouge_l_char']:.3f}, "
                     f"jieba-token F1 {lecoqa['token_f1']:.3f}, refused {lecoqa['refused']} ({lecoqa['note']})")
    lat = results.get("latency")
    if lat:
        lines += ["", "| stage | p50 ms | p95 ms | max ms |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['p50']:.1f} | {v['p95']:.1f} | {v['max']:.1f} |" for k, v in lat.items()
                  if isinstance(v, dict)]
        lines.append(f"\nwithin the 4.5 s WeChat budget: {lat['within_wechat_budget']:.1%}")
    return "\n".join(lines) + "\n"


def _bars(title: str, values: dict[str, float], width: int = 640) -> str:
    if not values:
        return ""
    row = 18
    h = row * len(values) + 30
    parts = [f'<h3>{html.escape(title)}</h3><svg width="{width}" height="{h}" role="img">']
    for i, (name, v) in enumerate(values.items()):
        y = 20 + i * row
        w = max(0.0, min(1.0, v)) * (width - 330)
        parts.append(f'<text x="0" y="{y + 12}" font-size="12">{html.escape(name)}</text>'
                     f'<rect x="260" y="{y}" width="{w:.1f}" height="13" fill="#0b6bcb"/>'
                     f'<text x="{265 + w:.1f}" y="{y + 12}" font-size="12">{v:.2f}</text>')
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
    return (f'<h3>Latency per answer (ms, total; 0 – {top:.0f})</h3><svg width="{width}" height="140">{bars}'
            f'<text x="20" y="135" font-size="11">0</text><text x="{width - 60}" y="135" font-size="11">'
            f'{top:.0f} ms</text></svg>')


def _failures(name: str, items: list[dict[str, Any]]) -> str:
    if not items:
        return f"<h3>{html.escape(name)}: no failures</h3>"
    def cell(value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return f"<td>{html.escape(text)}</td>"

    rows = "".join(
        "<tr>" + "".join(cell(item.get(k, "")) for k in ("question", "expected", "got", "citations")) + "</tr>"
        for item in items[:100]
    )
    return (f"<h3>{html.escape(name)}: {len(items)} failures</h3><table><tr><th>question</th><th>expected</th>"
            f"<th>got</th><th>citations</th></tr>{rows}</table>")


def page(results: dict[str, Any]) -> str:
    head = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in results["headline"].items())
    body = [f"<h1>gridworker eval — {html.escape(results['started'])}</h1>",
            f"<p>mode <b>{html.escape(results['mode'])}</b>, retrieval {html.escape(results['retrieval_mode'])}, "
            f"{results['seconds']:.1f} s</p><table><tr><th>metric</th><th>value</th></tr>{head}</table>"]
    lecoqa = results.get("answers", {}).get("lecoqa")
    if lecoqa:
        body.append(f"<p>LeCoQA test ∩ STARD dev (n={lecoqa['n']}): character ROUGE-L F1 "
                    f"{lecoqa['rouge_l_char']:.3f}, jieba-token F1 {lecoqa['token_f1']:.3f}, "
                    f"refused {lecoqa['refused']} — {html.escape(lecoqa['note'])}</p>")
    if "retrieval" in results:
        body.append(_bars("Retrieval Recall@5 per category (resident dev)", results["retrieval"]["per_category"]))
    if "answers" in results:
        body.append(_bars("Answers: key-point coverage per category (refusals count 0)",
                          results["answers"]["per_category"]))
    if "latency" in results:
        body.append(_histogram(results["latency"]["totals"]))
    for suite in ("retrieval", "answers", "emergency", "reports"):
        if suite in results:
            body.append(_failures(suite, results[suite].get("failures", [])))
    style = ("body{font:14px/1.5 sans-serif;max-width:1100px;margin:20px auto;color:#1d2733}"
             "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #dde3ea;padding:3px 8px;"
             "vertical-align:top;font-size:13px}th{background:#f2f5f8}")
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>gridworker eval</title>'
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def compare(a: dict[str, Any], b: dict[str, Any], tolerance: float = TOLERANCE) -> tuple[str, list[str]]:
    """A regression table (b against a) and the headline metrics that dropped beyond tolerance (and noise)."""
    lines = ["| metric | A | B | delta | |", "|---|---|---|---|---|"]
    drops = []
    for name in HEADLINES:
        if name not in a["headline"] or name not in b["headline"]:
            continue
        va, vb = a["headline"][name], b["headline"][name]
        delta = vb - va
        worse = -delta if name not in LOWER else delta
        n = _n(b, name)
        noise = 2 * math.sqrt(max(va * (1 - va), 0.0) / n) if n and 0 <= va <= 1 else 0.0
        flag = ""
        if worse > max(tolerance, noise):
            flag = "▼ significant drop"
            drops.append(name)
        elif worse < -tolerance:
            flag = "▲"
        lines.append(f"| {name} | {_fmt(va)} | {_fmt(vb)} | {delta:+.3f} | {flag} |")
    return "\n".join(lines), drops


def _n(results: dict[str, Any], name: str) -> int:
    suite = name.split(".")[0]
    node = results.get(suite, {})
    return int(node.get("n") or node.get("n_answerable") or (node.get("resident") or {}).get("n") or 0)
