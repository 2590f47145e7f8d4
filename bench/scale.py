"""Scale run: the full corpus and synthetic copies of it (10× by default), reporting how ingest time and
query latency grow. Copies are symlinked files in copyN/ folders, so each is a distinct document.

    python -m bench.scale [--factors 1,3,10]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

from assistant.retrieval.search import Retriever
from assistant.settings import get_settings
from bench.common import ingest_folder, latency, temp_settings
from eval.stard import load_questions


def make_copies(corpus: Path, factor: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"gridworker-scale-{factor}x-"))
    files = [p for p in corpus.rglob("*.md") if p.name != "README.md"]
    for i in range(factor):
        for src in files:
            dst = root / f"copy{i}" / src.relative_to(corpus)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src.resolve())
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--factors", default="1,10")
    args = parser.parse_args()
    settings0 = get_settings()
    queries = [q.text for q in load_questions(settings0.eval_dir / "stard", "dev")]
    rows = []
    for factor in (int(f) for f in args.factors.split(",")):
        root = make_copies(settings0.corpus_dir, factor)
        settings = temp_settings()
        comp, seconds = ingest_folder(settings, root)
        points = comp.index.count()
        sparse_path = Retriever(comp.index, comp.encoder)
        lat = latency(lambda q, r=sparse_path: r.search(q, k=10), queries)
        full = comp.retriever()
        full_lat = latency(lambda q, r=full: r.search(q, k=10), queries)
        comp.close()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append((factor, points, seconds, lat, rss))
        print(f"{factor:>3}x  {points:>8} points  ingest {seconds:7.1f} s  sparse p50 {lat['p50']:.2f} ms  "
              f"p99 {lat['p99']:.2f} ms  full pipeline p50 {full_lat['p50']:.2f} ms p99 {full_lat['p99']:.2f} ms  "
              f"peak RSS {rss:.0f} MiB", flush=True)
    base = rows[0]
    print("\ngrowth relative to the first row:")
    for factor, points, seconds, lat, _ in rows:
        print(f"{factor:>3}x  points x{points / base[1]:.1f}  ingest x{seconds / base[2]:.1f}  "
              f"p50 x{lat['p50'] / base[3]['p50']:.2f}  p99 x{lat['p99'] / base[3]['p99']:.2f}")


if __name__ == "__main__":
    main()
