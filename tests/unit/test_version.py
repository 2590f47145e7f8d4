"""One version: pyproject.toml's `[project] version`, read at run time from the package metadata. The app reports
that one, and no module of the package writes a version of its own."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

import assistant

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("assistant", "eval", "bench")  # the wheel's package and the checkout's eval suite and benches
# `__version__ = "1.2"`, `version="1.2"`, `"version": "1.2.3"`: a version written as a literal.
LITERAL = re.compile(r"""(__version__|\bversion\b["']?)\s*[:=]\s*["']v?\d+\.\d+""")


def _declared() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])


def test_the_installed_metadata_is_pyproject_version() -> None:
    # A stale install (pyproject.toml changed since `pip install -e .`) would report the old one: `make venv` again.
    assert version("gridworker") == _declared()
    assert assistant.__version__ == _declared()


def test_the_api_reports_the_package_version(tmp_path: Path) -> None:
    # In a child process: create_app installs the log masking process-wide.
    code = ("from assistant.api.app import create_app; from assistant.settings import Settings; "
            f"app = create_app(Settings(index_dir={str(tmp_path / 'index')!r})); "
            "print(app.version); print(app.openapi()['info']['version'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == [version("gridworker")] * 2


def test_no_module_writes_a_version_of_its_own() -> None:
    declared = re.compile(rf"""["']v?{re.escape(_declared())}["']""")
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if LITERAL.search(line) or declared.search(line)
    ]
    assert not found, "read the version from importlib.metadata (assistant.__version__):\n" + "\n".join(found)
