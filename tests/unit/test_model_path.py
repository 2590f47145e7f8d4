"""`package:NAME[/SUBDIR]` model references: the folder is found inside the installed package without importing
it (some model packages load their model, or import heavy dependencies, on import)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from assistant.embedders import resolve_model_path
from assistant.errors import EmbedderError


@pytest.fixture
def model_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pkg = tmp_path / "gw_fake_model_pkg"
    (pkg / "model").mkdir(parents=True)
    (pkg / "m3e-small").mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('imported')\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return pkg


def test_default_and_named_subfolders(model_package: Path) -> None:
    assert resolve_model_path("package:gw_fake_model_pkg") == str(model_package / "model")
    assert resolve_model_path("package:gw-fake-model-pkg/m3e-small") == str(model_package / "m3e-small")
    assert "gw_fake_model_pkg" not in sys.modules  # located, never imported


def test_missing_subfolder_or_package_is_a_clear_error(model_package: Path) -> None:
    with pytest.raises(EmbedderError, match="no-such/"):
        resolve_model_path("package:gw_fake_model_pkg/no-such")
    with pytest.raises(EmbedderError, match="not installed"):
        resolve_model_path("package:gw_no_such_package_here/model")


def test_plain_references_pass_through() -> None:
    assert resolve_model_path("BAAI/bge-small-zh-v1.5") == "BAAI/bge-small-zh-v1.5"
    assert resolve_model_path("/models/bge-m3") == "/models/bge-m3"
