"""llama-index is the [llamaindex] extra: the service's own modules never import it, and its adapters say which
extra to install when it is missing. Each check runs in a fresh interpreter: other tests import llama-index."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ("assistant.cli", "assistant.api.app", "assistant.wiring", "assistant.ingest.pipeline")
ADAPTERS = ("assistant.ingest.llama", "assistant.retrieval.llama")


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_the_service_does_not_import_llama_index() -> None:
    loaded = _python(f"import sys, {', '.join(SERVICE)}\n"
                     "print(sorted(m for m in sys.modules if m.split('.')[0] == 'llama_index'))")
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("module", ADAPTERS)
def test_an_adapter_without_llama_index_names_the_extra(module: str) -> None:
    code = ("import importlib, sys\n"
            "sys.modules['llama_index'] = None  # as if it were not installed\n"
            "try:\n"
            f"    importlib.import_module({module!r})\n"
            "except ModuleNotFoundError as exc:\n"
            "    print(exc.name, '|', exc)\n")
    name, message = _python(code).strip().split(" | ", 1)
    assert name.startswith("llama_index")
    assert "[llamaindex] extra" in message and "pip install 'gridworker[llamaindex]'" in message
