"""Speed on the full ../shared/corpus (about 18,900 chunks), embedded default, sparse only:
full ingest, re-ingest with nothing changed, peak RSS, and query latency through the public retrieval
function (tokenising included), printed beside bm25s + jieba over the same articles in the same run.

    python -m bench.speed
"""

from __future__ import annotations

import resource
from collections import Counter

from assistant.retrieval.search import Retriever
from assistant.settings import get_settings
from bench.common import ingest_folder, latency, temp_settings
from eval.stard import load_questions


def bm25s_latency(corpus_texts: list[str], queries: list[str]) -> dict[str, float]:
    import bm25s
    import jieba

    jieba.initialize()
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(w, len(vocab)) for w in jieba.lcut_for_search(t)] for t in corpus_texts]
    model = bm25s.BM25()
    model.index(bm25s.tokenization.Tokenized(ids, vocab), show_progress=False)

    def query(q: str) -> None:
        qids = [vocab[w] for w in jieba.lcut_for_search(q) if w in vocab]
        if qids:
            model.retrieve(bm25s.tokenization.Tokenized([qids], vocab), k=10, show_progress=False)

    return latency(query, queries)


def main() -> None:
    settings = temp_settings()
    corpus = settings.corpus_dir
    stard = get_settings().eval_dir / "stard"
    queries = [q.text for q in load_questions(stard, "train")] + [q.text for q in load_questions(stard, "dev")]

    comp, first = ingest_folder(settings, corpus)
    peak_ingest = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    points = comp.index.count()
    comp.close()
    comp, again = ingest_folder(settings, corpus)
    sparse_path = Retriever(comp.index, comp.encoder)
    ours = latency(lambda q: sparse_path.search(q, k=10), queries)
    full = comp.retriever()
    full_lat = latency(lambda q: full.search(q, k=10), queries)
    stages: Counter[str] = Counter()
    for q in queries:
        stages.update(full.search(q, k=10).timings_ms)
    comp.close()
    base = bm25s_latency(_article_texts(corpus), queries)

    print(f"corpus {corpus}: {points} points; {len(queries)} queries (STARD train+dev questions)")
    print(f"full ingest (sparse only)     {first:7.2f} s   bar <= 30 s   {'MET' if first <= 30 else 'NOT MET'}")
    print(f"re-ingest, nothing changed    {again:7.2f} s   bar <= 3 s    {'MET' if again <= 3 else 'NOT MET'}")
    print(f"peak RSS after ingest         {peak_ingest:7.0f} MiB")
    print(f"{'query latency (k=10)':<30}{'p50 ms':>8}{'p99 ms':>8}{'mean ms':>9}")
    print(f"{'gridworker sparse path':<30}{ours['p50']:>8.2f}{ours['p99']:>8.2f}{ours['mean']:>9.2f}")
    print(f"{'gridworker full pipeline':<30}{full_lat['p50']:>8.2f}{full_lat['p99']:>8.2f}{full_lat['mean']:>9.2f}"
          f"   ({full.mode})")
    print(f"{'bm25s + jieba (baseline)':<30}{base['p50']:>8.2f}{base['p99']:>8.2f}{base['mean']:>9.2f}")
    ok = ours["p50"] <= 5 and ours["p99"] <= 20
    print(f"bar p50 <= 5 ms, p99 <= 20 ms (sparse path): {'MET' if ok else 'NOT MET'}; p50 ratio vs bm25s "
          f"x{ours['p50'] / base['p50']:.2f}")
    ok_full = full_lat["p50"] <= 5 and full_lat["p99"] <= 20
    print(f"same bar, full pipeline: {'MET' if ok_full else 'NOT MET'}; p50 ratio vs sparse path "
          f"x{full_lat['p50'] / ours['p50']:.2f}")
    print("mean cost per stage, full pipeline (ms): "
          + ", ".join(f"{k} {v / len(queries):.2f}" for k, v in stages.items()))


def _article_texts(corpus) -> list[str]:  # type: ignore[no-untyped-def]
    from bench.stard import ARTICLE

    texts = []
    for path in sorted(corpus.rglob("*.md")):
        if path.name == "README.md":
            continue
        text = path.read_text(encoding="utf-8")
        marks = list(ARTICLE.finditer(text))
        texts += [text[m.start() : (marks[i + 1].start() if i + 1 < len(marks) else len(text))]
                  for i, m in enumerate(marks)]
    return texts


if __name__ == "__main__":
    main()
