"""One factory assembles the ingest pipeline from settings (`wiring.ingestor_from_settings`); the service, the evals
and the benches go through it instead of putting an `Ingestor` together themselves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant import wiring
from assistant.ingest.loaders import load_taxonomy
from assistant.ingest.pipeline import Ingestor
from assistant.settings import RetrievalSettings, Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("assistant", "bench", "eval")


class _SparseOnlyIndex:
    has_dense = False


def _ingestor(settings: Settings, **only: bool) -> Ingestor:
    return wiring.ingestor_from_settings(settings, _SparseOnlyIndex(), wiring.build_encoder(settings), None,  # type: ignore[arg-type]
                                         **only)


def test_the_factory_reads_the_settings() -> None:
    settings = Settings(retrieval=RetrievalSettings(max_chunk_chars=321, questions_weight=0.25))
    ing = _ingestor(settings)
    assert ing.chunker.max_chars == 321
    assert ing.taxonomy == load_taxonomy(settings.taxonomy) and ing.taxonomy
    assert len(ing.questions) > 0 and ing.questions_weight == 0.25
    assert ing.embedder is None


def test_the_factory_leaves_out_what_it_is_told_to() -> None:
    ing = _ingestor(Settings(), taxonomy=False, questions=False)
    assert ing.taxonomy == {} and len(ing.questions) == 0
    assert "|q:" not in ing.signature  # no question field: the signature of a plain Ingestor


def test_production_code_builds_ingestors_only_through_the_factory() -> None:
    calls = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for package in PRODUCTION
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bIngestor\(", line)
    ]
    assert len(calls) == 1 and calls[0].startswith("assistant/wiring.py:"), "\n".join(calls)
