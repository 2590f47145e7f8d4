"""Retrieval on the project's own resident-voice dev questions (eval/data/retrieval.resident.dev.jsonl) over
the full ../shared/corpus: Recall@1/5/10 and MRR@10 by (file, article number), plain sparse beside the full
pipeline, in the same run. The held-out test split is printed beside it: nothing is tuned on it, so the gap
between the two is the honest measure of how far dev figures generalise.

    python -m bench.resident [--show-misses]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from assistant.retrieval.search import Retriever
from bench.common import (
    DenseOnly,
    add_dense_arguments,
    dense_label,
    dense_settings,
    dense_wanted,
    ingest_folder,
    latency,
    temp_settings,
)
from bench.stard import without_dense

DATA = Path(__file__).resolve().parent.parent / "eval" / "data" / "retrieval.resident.dev.jsonl"
TEST = DATA.with_name("retrieval.resident.test.jsonl")


def evaluate(retriever: Retriever, rows: list[dict], show: bool) -> dict[str, float]:
    r1 = r5 = r10 = mrr = 0.0
    for row in rows:
        gold = {(g["file"], g["article_no"]) for g in row["gold"]}
        got = [(h.file, h.article_no) for h in retriever.search(row["question"], k=10).hits]
        r1 += len(gold & set(got[:1])) / len(gold)
        r5 += len(gold & set(got[:5])) / len(gold)
        r10 += len(gold & set(got[:10])) / len(gold)
        mrr += next((1 / (i + 1) for i, g in enumerate(got) if g in gold), 0.0)
        if show and not gold & set(got[:5]):
            print(f"  miss: {row['question']}  gold {sorted(gold)}  got {got[:3]}")
    n = len(rows)
    return {"R@1": r1 / n, "R@5": r5 / n, "R@10": r10 / n, "MRR@10": mrr / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--show-misses", action="store_true")
    add_dense_arguments(parser)
    args = parser.parse_args()
    dense = dense_wanted(args)
    label = dense_label(args.dense_model)
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    test = [json.loads(line) for line in TEST.read_text(encoding="utf-8").splitlines() if line.strip()]
    settings = temp_settings()
    comp, _ = ingest_folder(settings, settings.corpus_dir)
    full = comp.retriever()
    plain = Retriever(comp.index, comp.encoder, None, None)
    systems: list[tuple[str, object]] = [("sparse + lexicon, no learned stages", plain), ("full pipeline", full)]
    hybrid = None
    if dense:
        print(f"dense rows: embedding the corpus with {label} (cached in data/embedding-cache after the first run)")
        hybrid, _ = ingest_folder(dense_settings(args.dense_model), settings.corpus_dir)
        stages = hybrid.retriever().stages
        rrf = Retriever(hybrid.index, hybrid.encoder, hybrid.embedder, without_dense(hybrid.learned),
                        replace(stages, dense_adapter=False))
        systems += [(f"dense alone ({label})", DenseOnly(hybrid)),
                    ("dense alone, question expanded", DenseOnly(hybrid, dense_query="expanded")),
                    (f"full + dense by RRF ({label})", rrf)]
        if hybrid.learned is not None and hybrid.embedder is not None and hybrid.learned.adapts(
            hybrid.embedder.name
        ):
            systems += [("dense alone, learned query map", DenseOnly(hybrid, adapted=True)),
                        (f"full + mapped dense by RRF ({label})",
                         Retriever(hybrid.index, hybrid.encoder, hybrid.embedder, without_dense(hybrid.learned),
                                   stages))]
        if hybrid.learned is not None and hybrid.embedder is not None and hybrid.learned.fitted_for(
            hybrid.embedder.name
        ):
            systems.append((f"full + dense features ({label})", hybrid.retriever()))
    print(f"{len(rows)} resident-voice dev questions over {settings.corpus_dir} ({comp.index.count()} points)")
    print(f"{'system':<40}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'MRR@10':>8}{'p50 ms':>8}")
    dev: dict[str, dict[str, float]] = {}
    for name, r in systems:
        s = dev[name] = evaluate(r, rows, args.show_misses and name.startswith("full"))  # type: ignore[arg-type]
        lat = latency(lambda q, r=r: r.search(q, k=10), [row["question"] for row in rows])  # type: ignore[attr-defined]
        print(f"{name[:40]:<40}{s['R@1']:>7.3f}{s['R@5']:>7.3f}{s['R@10']:>7.3f}{s['MRR@10']:>8.3f}{lat['p50']:>8.2f}")
    print(f"held-out test split ({len(test)} questions):")
    for name, r in systems:
        s = evaluate(r, test, False)  # type: ignore[arg-type]
        print(f"{name[:40]:<40}{s['R@1']:>7.3f}{s['R@5']:>7.3f}{s['R@10']:>7.3f}{s['MRR@10']:>8.3f}")
    for name in ("full pipeline", f"full + dense by RRF ({label})", f"full + mapped dense by RRF ({label})",
                 f"full + dense features ({label})"):
        if name in dev:
            r5 = dev[name]["R@5"]
            print(f"bar (issue 3, {name}): Recall@5 >= 0.85 on dev -> {'MET' if r5 >= 0.85 else 'NOT MET'} ({r5:.3f})")
    comp.close()
    if hybrid is not None:
        hybrid.close()


if __name__ == "__main__":
    main()
