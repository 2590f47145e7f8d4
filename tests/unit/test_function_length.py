"""No function is over MAX_LINES lines (its `def` line to the last line of its body; decorators and the blank lines
after it not counted), nested functions and methods included. Scoped to the packages in SCOPE: widen it as others
are brought under the limit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

MAX_LINES = 60
SCOPE = [  # folders (or files) under the repository root
    "assistant/api", "assistant/cli.py", "assistant/ingest", "assistant/retrieval", "assistant/answering",
    "assistant/llm",
]


def functions(path: Path) -> list[tuple[str, int, int]]:
    """(qualified name, def line, length in lines) of every function and method in the file."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                found.append((name, child.lineno, (child.end_lineno or child.lineno) - child.lineno + 1))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), "")
    return found


def sources() -> list[Path]:
    return sorted({p for entry in SCOPE for p in ([ROOT / entry] if entry.endswith(".py")
                                                    else (ROOT / entry).rglob("*.py"))})


def test_the_scope_has_python_files() -> None:
    assert sources(), f"no Python files under {SCOPE}"


def test_no_function_is_longer_than_the_limit() -> None:
    long = [f"{path.relative_to(ROOT)}:{line} {name} is {length} lines"
            for path in sources() for name, line, length in functions(path) if length > MAX_LINES]
    assert not long, f"functions over {MAX_LINES} lines (split them):\n" + "\n".join(long)


def test_the_count_runs_from_def_to_the_end_of_the_body(tmp_path: Path) -> None:
    path = tmp_path / "sample.py"
    path.write_text("@decorator\ndef f():\n    x = 1\n\n    return x\n\n\nclass C:\n    async def g(self):\n"
                    "        def inner():\n            pass\n        return inner\n", encoding="utf-8")
    assert functions(path) == [("f", 2, 4), ("C.g", 9, 4), ("C.g.inner", 10, 2)]
