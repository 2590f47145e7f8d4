"""What the wheel installs: the `assistant` package alone. The eval suite (eval/) and the benches (bench/) are
folders of the source checkout; the product imports eval only inside `gridworker eval`, and without it that command
says so in plain words and exits 2 instead of a traceback."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

CHECKOUT_ONLY = ("eval", "bench")


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(top-level module, at module level?) of every import in a module."""
    module_level = {id(node) for node in getattr(tree, "body", [])}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], id(node) in module_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module.split(".")[0], id(node) in module_level))
    return found


def test_the_wheel_ships_only_the_assistant_package() -> None:
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["hatch"]["build"]["targets"][
        "wheel"]
    assert wheel["packages"] == ["assistant"]
    assert wheel["dev-mode-dirs"] == ["."]  # the editable install still imports eval/, bench/ and serve.py


def test_only_the_eval_command_imports_the_checkout_and_only_lazily() -> None:
    found = []
    for path in sorted((ROOT / "assistant").rglob("*.py")):
        for module, top in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if module in CHECKOUT_ONLY and (top or path != ROOT / "assistant" / "cli.py"):
                found.append(f"{path.relative_to(ROOT)}: {module}")
    assert not found, "the installed package cannot import the checkout's folders:\n" + "\n".join(found)


@pytest.mark.parametrize("args", [["eval", "compare", "a", "b"], ["eval", "run", "--suite", "answers"]])
def test_gridworker_eval_without_the_checkout_says_so(args: list[str]) -> None:
    code = ("import sys\n"
            "sys.modules['eval'] = None  # as in an installed wheel: no eval package to import\n"
            "from assistant.cli import app\n"
            f"app({args!r})\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2
    assert "the eval suite (eval/) is not installed" in r.stderr and "source checkout" in r.stderr
    assert "Traceback" not in r.stderr
