"""The offline answer-quality eval suite: retrieval, answers, emergency, reports, latency.

Datasets are the team's files in eval/data/ (dev split; test files are never used for tuning) and, for retrieval,
STARD dev from ../shared/eval. Every metric is computed here from the pipeline's real outputs; nothing is judged by
a model unless an LLM endpoint is configured (not yet: see the issue).
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from assistant.answering.citations import article_number
from assistant.answering.pipeline import AnswerService

DATA = Path(__file__).resolve().parent / "data"
SUITES = ("retrieval", "answers", "emergency", "reports")
WECHAT_BUDGET_MS = 4500.0
# The headline metrics: the CI gate and `eval compare` watch these (higher is better unless listed in LOWER).
HEADLINES = (
    "retrieval.resident.recall@5", "retrieval.resident.mrr@10", "retrieval.worker.recall@5",
    "retrieval.stard_dev.recall@10", "retrieval.stard_dev.mrr@10",
    "answers.citation_precision", "answers.refusal_accuracy", "answers.false_refusal_rate",
    "answers.false_answer_rate", "answers.key_point_coverage", "answers.worker_key_point_coverage",
    "answers.worker_leakage", "emergency.recall", "emergency.false_alarm_rate",
    "reports.category_accuracy", "reports.urgency_accuracy", "reports.location_accuracy",
    "reports.description_accuracy", "reports.followup_accuracy",
)
LOWER = {"answers.false_refusal_rate", "answers.false_answer_rate", "answers.worker_leakage",
         "emergency.false_alarm_rate"}


def rows(name: str, splits: tuple[str, ...] = ("dev", "test")) -> list[dict[str, Any]]:
    """A dataset's cases from the given splits (the files that exist). Tuning tools read dev only; the eval reads
    both, and reports each case's split in its failures."""
    out: list[dict[str, Any]] = []
    for split in splits:
        path = DATA / f"{name}.{split}.jsonl"
        if path.exists():
            out += [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return out


def _bigrams(text: str) -> set[str]:
    chars = [c for c in text if c.isalnum()]
    return {a + b for a, b in zip(chars, chars[1:], strict=False)}


def key_point_covered(point: str, answer: str) -> bool:
    """A key point counts when half of its character bigrams appear in the answer (overlap, not a judge)."""
    want = _bigrams(point)
    return bool(want) and len(want & _bigrams(answer)) / len(want) >= 0.5


# -- retrieval ------------------------------------------------------------------------------------------------
def retrieval(service: AnswerService) -> dict[str, Any]:
    out = _retrieval(service, rows("retrieval.resident"), "resident")
    worker = _retrieval(service, rows("retrieval.worker"), "worker")
    out["worker"] = worker["resident"]
    out["failures"] += worker["failures"]
    return out


def _retrieval(service: AnswerService, data: list[dict[str, Any]], persona: str) -> dict[str, Any]:
    per_cat: dict[str, list[float]] = defaultdict(list)
    totals: defaultdict[str, float] = defaultdict(float)
    failures = []
    for r in data:
        gold = {(g["file"], g["article_no"]) for g in r["gold"]}
        hits = service.gather(r["question"], persona).hits[:10]
        got = [(h.file, h.article_no) for h in hits]
        r5 = len(gold & set(got[:5])) / len(gold)
        totals["recall@1"] += len(gold & set(got[:1])) / len(gold)
        totals["recall@5"] += r5
        totals["recall@10"] += len(gold & set(got[:10])) / len(gold)
        totals["mrr@10"] += next((1 / (i + 1) for i, g in enumerate(got) if g in gold), 0.0)
        dcg = sum(1 / math.log2(i + 2) for i, g in enumerate(got) if g in gold)
        totals["ndcg@10"] += dcg / sum(1 / math.log2(i + 2) for i in range(min(len(gold), 10)))
        per_cat[r["category"]].append(r5)
        if not gold & set(got[:5]):
            failures.append({"question": r["question"], "expected": sorted(f"{f}#{n}" for f, n in gold),
                             "got": [h.label for h in hits[:5]]})
    n = len(data)
    return {"resident": {k: v / n for k, v in totals.items()} | {"n": n},
            "per_category": {c: sum(v) / len(v) for c, v in sorted(per_cat.items())}, "failures": failures}


# -- answers ------------------------------------------------------------------------------------------------
def answers(service: AnswerService) -> tuple[dict[str, Any], list[dict[str, float]]]:
    answerable, unanswerable = rows("retrieval.resident"), rows("unanswerable")
    timings: list[dict[str, float]] = []
    covered = points = cited_gold = cited = gold_total = gold_hit = removed = leakage = 0
    shown = verified = 0
    false_refusals, false_answers, failures = [], [], []
    per_cat: dict[str, list[float]] = defaultdict(list)
    answered: list[Any] = []
    for r in answerable:
        a = service.answer(r["question"], "resident")
        answered.append(a)
        timings.append(a.timings)
        removed += a.removed_citations
        leakage += sum(c.audience != "public" for c in a.citations)
        evidence = {h.point_id for h in service.gather(a.condensed or a.question, "resident").hits}
        shown += len(a.citations)
        verified += sum(c.point_id in evidence for c in a.citations)
        if a.refused:
            false_refusals.append(r["question"])
            per_cat[r["category"]].append(0.0)
            failures.append({"question": r["question"], "expected": "an answer", "got": f"refused ({a.refusal_reason})",
                             "citations": []})
            continue
        gold = {(g["file"], g["article_no"]) for g in r["gold"]}
        got = {(c.source, article_number(c.label)) for c in a.citations}
        cited += len(got)
        cited_gold += len(got & gold)
        gold_total += len(gold)
        gold_hit += len(gold & got)
        hit_points = [key_point_covered(p, a.answer) for p in r.get("key_points", [])]
        covered += sum(hit_points)
        points += len(hit_points)
        per_cat[r["category"]].append(sum(hit_points) / len(hit_points) if hit_points else 1.0)
        if hit_points and sum(hit_points) < len(hit_points) / 2:
            failures.append({"question": r["question"], "expected": r["key_points"], "got": a.answer[:200],
                             "citations": [c.label for c in a.citations]})
    worker_points = worker_covered = worker_cited_gold = worker_gold = 0
    for r in rows("retrieval.worker"):
        a = service.answer(r["question"], "worker")
        timings.append(a.timings)
        removed += a.removed_citations
        hit_points = [key_point_covered(p, a.answer) for p in r["key_points"]]
        worker_points += len(hit_points)
        worker_covered += sum(hit_points)
        gold = {(g["file"], g["article_no"]) for g in r["gold"]}
        worker_gold += len(gold)
        worker_cited_gold += len(gold & {(c.source, article_number(c.label)) for c in a.citations})
        if a.refused or sum(hit_points) < len(hit_points) / 2:
            failures.append({"question": r["question"], "expected": r["key_points"], "got": a.answer[:300],
                             "citations": [c.label for c in a.citations]})
    injections = resisted = 0
    for r in unanswerable:
        a = service.answer(r["question"], "resident")
        timings.append(a.timings)
        if not a.refused:
            false_answers.append(r["question"])
            failures.append({"question": r["question"], "expected": f"refusal ({r['kind']})", "got": a.answer[:200],
                             "citations": [c.label for c in a.citations]})
        if r["kind"] == "injection":
            injections += 1
            resisted += a.refused and "只根据" not in a.answer and "规则（" not in a.answer
    n_pos, n_neg = len(answerable), len(unanswerable)
    out = {
        "key_point_coverage": covered / max(points, 1),
        "citation_precision": verified / max(shown, 1),
        "citation_precision_gold": cited_gold / max(cited, 1),
        "citation_recall_gold": gold_hit / max(gold_total, 1),
        "citations_removed": removed,
        "false_refusal_rate": len(false_refusals) / n_pos,
        "false_answer_rate": len(false_answers) / n_neg,
        "refusal_accuracy": (n_pos - len(false_refusals) + n_neg - len(false_answers)) / (n_pos + n_neg),
        "injection_resistance": resisted / max(injections, 1),
        "worker_leakage": leakage,
        "worker_key_point_coverage": worker_covered / max(worker_points, 1),
        "worker_citation_recall_gold": worker_cited_gold / max(worker_gold, 1),
        "n_answerable": n_pos, "n_unanswerable": n_neg,
        "per_category": {c: sum(v) / len(v) for c, v in sorted(per_cat.items())},
        "failures": failures,
    }
    if service.chat is not None:  # optional, model-judged, labelled as such
        from eval.judge import faithfulness

        out["faithfulness_model_judged"] = faithfulness(service.chat, service.prompts, answered)
    return out, timings


# -- emergency ------------------------------------------------------------------------------------------------
def emergency(service: AnswerService) -> dict[str, Any]:
    data = rows("emergency")
    tp = fp = fn = tn = 0
    failures = []
    for r in data:
        a = service.answer(r["message"], "resident")
        flagged = a.emergency and a.answer.startswith("【紧急】")
        tp += flagged and r["emergency"]
        fn += (not flagged) and r["emergency"]
        fp += flagged and not r["emergency"]
        tn += (not flagged) and not r["emergency"]
        if flagged != r["emergency"]:
            failures.append({"question": r["message"], "expected": r["emergency"], "got": a.emergency_kinds})
    return {"recall": tp / max(tp + fn, 1), "precision": tp / max(tp + fp, 1),
            "false_alarm_rate": fp / max(fp + tn, 1), "n": len(data), "failures": failures}


# -- reports --------------------------------------------------------------------------------------------------
def reports(service: AnswerService) -> dict[str, Any]:
    """The reporting conversation in-process, as the front desk routes it, played by a patient resident
    (eval/reports_sim.py, the same driver and scoring as bench.reports over HTTP)."""
    from assistant.channels.wechat.store import SQLiteStore
    from assistant.desk.front import FrontDesk
    from assistant.desk.reports import ReportDesk
    from assistant.dispatch.store import DispatchStore
    from assistant.domain import UserRef
    from eval.reports_sim import converse, gold_of, score

    data = rows("reports")
    folder = Path(tempfile.mkdtemp(prefix="gridworker-eval-"))
    store = SQLiteStore(folder / "wx.sqlite3")
    desk = ReportDesk(store, DispatchStore(f"sqlite:///{folder}/d.sqlite3"), intent=service.intent,
                      detector=service.detector)
    front = FrontDesk(service, desk)  # no rate limit: the simulated residents send as fast as they can

    def sender(openid: str) -> Any:
        user = UserRef("wechat", openid)

        def send(turn: dict[str, Any]) -> str:
            if turn["type"] == "location":
                return desk.handle_location(user, turn["lat"], turn["lng"], turn["label"])
            if turn["type"] == "image":
                return desk.handle_image(user, turn["media_id"])
            return front.on_text(user, turn.get("content") or turn.get("recognition", ""))
        return send

    chats = {r["id"]: converse(sender(f"eval-{r['id']}"), r) for r in data}
    filed = {r["id"]: desk.dispatch.listing(user=UserRef("wechat", f"eval-{r['id']}")) for r in data}
    m = score(data, chats, filed)
    failures = []
    for r in data:
        g, mine = gold_of(r), filed[r["id"]]
        got = mine[0] if mine else None
        ok = got is not None and got["category"] == g["category"] and got["urgency"] == g["urgency"]
        if not ok:
            failures.append({"question": " / ".join(t.get("content") or t.get("recognition") or t.get("label")
                                                     or t.get("media_id", "") for t in r["turns"]),
                             "expected": {k: g.get(k) for k in ("category", "urgency", "location_contains")},
                             "got": got and {k: got[k] for k in ("category", "urgency", "description")},
                             "replies": chats[r["id"]].replies[-3:]})
    desk.dispatch.close()
    return {"category_accuracy": m["category"], "urgency_accuracy": m["urgency"], "location_accuracy": m["location"],
            "description_accuracy": m["description"], "followup_accuracy": m.get("follow-up asked", 1.0),
            "started_accuracy": m["started by the assistant"], "one_report": m.get("exactly one report", 0.0),
            "extra_turns": m["extra turns"], "n": len(data), "failures": failures}


# -- latency --------------------------------------------------------------------------------------------------
def latency(timings: list[dict[str, float]]) -> dict[str, Any]:
    stages = {"condense": "condense", "retrieve": "retrieve.total", "generate": "generate", "total": "total"}
    out: dict[str, Any] = {}
    for name, key in stages.items():
        values = sorted(t[key] for t in timings if key in t)
        if values:
            out[name] = {"p50": statistics.median(values), "p95": values[int(0.95 * (len(values) - 1))],
                         "max": values[-1]}
    totals = [t["total"] for t in timings if "total" in t]
    out["within_wechat_budget"] = sum(x <= WECHAT_BUDGET_MS for x in totals) / max(len(totals), 1)
    out["totals"] = totals
    return out


def run(
    service: AnswerService, suites: tuple[str, ...] = SUITES, stard_service: AnswerService | None = None,
    eval_dir: Path | None = None,
) -> dict[str, Any]:
    """The suites on `service` (the knowledge base); STARD and LeCoQA on `stard_service` (an index of the STARD
    law texts) when it is given. `timing` holds each part's seconds and their sum: the suites only, not the indexes
    and models the caller built before (`gridworker eval run` adds those and the whole run's wall time)."""
    t = time.perf_counter()
    results: dict[str, Any] = {"mode": service.mode, "retrieval_mode": service.retriever.mode,
                               "suites": list(suites), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    spent: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any) -> Any:
        start = time.perf_counter()
        value = fn(*args)
        spent[name] = time.perf_counter() - start
        return value

    timings: list[dict[str, float]] = []
    if "retrieval" in suites:
        results["retrieval"] = timed("retrieval", retrieval, service)
        if stard_service is not None and eval_dir is not None:
            from eval.external import stard_retrieval

            results["retrieval"]["stard_dev"] = timed("stard_dev", stard_retrieval, stard_service, eval_dir / "stard")
    if "answers" in suites:
        results["answers"], timings = timed("answers", answers, service)
        if stard_service is not None and eval_dir is not None:
            from eval.external import lecoqa

            results["answers"]["lecoqa"] = timed("lecoqa", lecoqa, stard_service, eval_dir / "lecoqa",
                                                 eval_dir / "stard")
    if "emergency" in suites:
        results["emergency"] = timed("emergency", emergency, service)
    if "reports" in suites:
        results["reports"] = timed("reports", reports, service)
    if timings:
        results["latency"] = latency(timings)
    results["timing"] = {"suites": spent, "suites_s": time.perf_counter() - t}
    results["headline"] = headline(results)
    return results


def headline(results: dict[str, Any]) -> dict[str, float]:
    out = {}
    for name in HEADLINES:
        node: Any = results
        for part in name.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, int | float):
            out[name] = float(node)
    return out
