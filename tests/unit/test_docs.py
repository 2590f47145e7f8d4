"""The docs stay true to the code: the configuration table lists every setting of `assistant.settings.Settings` once
and nothing else, the README stays a front door (≤ 150 lines), every relative link in README.md and docs/*.md
leads to a file (and heading) that exists, and the eval figures in docs/eval.md are the committed baseline's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from assistant.settings import Settings
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
TABLE_HEADER = "| env | default | meaning |"
ENV = re.compile(r"GRIDWORKER_[A-Z0-9_]*")
CELL_SPLIT = re.compile(r"(?<!\\)\|")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def env_names(model: type[BaseModel] = Settings, prefix: str | None = None) -> set[str]:
    """Every leaf setting's environment variable: GRIDWORKER_ + field, nested models joined by `__`."""
    config = Settings.model_config
    head = prefix if prefix is not None else str(config.get("env_prefix", ""))
    delimiter = str(config.get("env_nested_delimiter") or "__")
    names: set[str] = set()
    for name, field in model.model_fields.items():
        env = head + name.upper()
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= env_names(annotation, env + delimiter)
        else:
            names.add(env)
    return names


def settings_table() -> list[list[str]]:
    """The rows of docs/configuration.md's settings table: the lines that follow its header without a break."""
    lines = CONFIGURATION.read_text(encoding="utf-8").splitlines()
    start = lines.index(TABLE_HEADER)
    rows: list[list[str]] = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in CELL_SPLIT.split(line.strip())[1:-1]])
    return rows


def test_the_env_names_are_what_pydantic_settings_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDWORKER_RETRIEVAL__DENSE_WEIGHT", "0.25")
    monkeypatch.setenv("GRIDWORKER_EVAL_DIR", "/tmp/eval-elsewhere")
    settings = Settings()
    assert settings.retrieval.dense_weight == 0.25
    assert settings.eval_dir == Path("/tmp/eval-elsewhere")
    names = env_names()
    assert {"GRIDWORKER_RETRIEVAL__DENSE_WEIGHT", "GRIDWORKER_EVAL_DIR", "GRIDWORKER_WECHAT__TOKEN"} <= names
    assert not any(name.endswith("__") for name in names)


def test_every_setting_has_exactly_one_row() -> None:
    rows = settings_table()
    assert all(len(row) == 3 for row in rows), [row for row in rows if len(row) != 3]
    first = [ENV.findall(row[0]) for row in rows]
    assert all(len(names) == 1 for names in first), "one setting per row, named in the first column"
    listed = [names[0] for names in first]
    settings = env_names()
    missing = sorted(settings - set(listed))
    assert not missing, f"settings without a row in docs/configuration.md: {missing}"
    repeated = sorted({name for name in listed if listed.count(name) > 1})
    assert not repeated, f"settings with more than one row: {repeated}"


def test_every_env_var_in_the_table_exists() -> None:
    settings = env_names()
    named = {name for row in settings_table() for cell in row for name in ENV.findall(cell)}
    unknown = sorted(named - settings)
    assert not unknown, f"docs/configuration.md names settings that do not exist: {unknown}"


def test_no_table_row_is_cut_off_from_the_table() -> None:
    """A blank line inside a markdown table ends it; the rows after it render as raw pipes."""
    text = CONFIGURATION.read_text(encoding="utf-8")
    rows_anywhere = [line for line in text.splitlines() if line.startswith("| `GRIDWORKER_")]
    assert len(rows_anywhere) == len(settings_table())


def docs_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def test_env_vars_named_in_the_docs_exist() -> None:
    settings = env_names()
    bad: list[str] = []
    for path in docs_files():
        text = path.read_text(encoding="utf-8")
        for match in ENV.finditer(text):
            name, after = match.group(0), text[match.end():match.end() + 1]
            if name.endswith("_") or after == "…":  # a family: GRIDWORKER_WECHAT__…
                ok = any(setting.startswith(name) for setting in settings)
            else:
                ok = name in settings
            if not ok:
                bad.append(f"{path.relative_to(ROOT)}: {name}")
    assert not bad, bad


def test_the_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move the detail into docs/"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links
    return LINK.findall(text) + REFERENCE.findall(text)


@pytest.mark.parametrize("path", docs_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_somewhere(path: Path) -> None:
    broken: list[str] = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("//"):
            continue  # http:, https:, mailto: …
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(target)
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{path.relative_to(ROOT)}: {broken}"


def test_eval_figures_are_the_baselines() -> None:
    """docs/eval.md's headline table shows eval/baseline/results.json, rounded to three decimals: refreshing the
    baseline means refreshing the table in the same commit."""
    baseline = json.loads((ROOT / "eval" / "baseline" / "results.json").read_text(encoding="utf-8"))["headline"]
    shown: dict[str, float] = {}
    for line in (DOCS / "eval.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in CELL_SPLIT.split(line.strip())[1:-1]]
        if len(cells) >= 2 and cells[0].strip("`") in baseline:
            shown[cells[0].strip("`")] = float(cells[1])
    assert set(shown) == set(baseline), f"headlines missing from docs/eval.md: {sorted(set(baseline) - set(shown))}"
    stale = {k: (v, round(baseline[k], 3)) for k, v in shown.items() if abs(v - round(baseline[k], 3)) > 1e-9}
    assert not stale, f"docs/eval.md (shown, baseline): {stale}"
