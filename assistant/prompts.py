"""The one loader of prompt templates and fixed user-facing texts (the files in prompts/).

Templates use `$name` placeholders (string.Template): braces and percent signs in Chinese legal text stay literal.
A missing file or key fails at start-up with ConfigError, not in the middle of a resident's conversation.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from assistant.errors import ConfigError

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "prompts"
FIXED = ("desk", "report", "webhook")  # the sections of fixed texts read by `Prompts.say`
_TEMPLATES = ("resident.system", "worker.system", "evidence", "condense", "report_extract", "judge_faithfulness")


@dataclass(frozen=True, slots=True)
class Prompts:
    templates: dict[str, Template]
    messages: dict[str, Any]
    next_steps: dict[str, str]
    folder: Path

    @classmethod
    def load(cls, folder: Path | None = None) -> Prompts:
        folder = folder or DEFAULT_DIR
        try:
            templates = {name: Template((folder / f"{name}.md").read_text(encoding="utf-8")) for name in _TEMPLATES}
            messages = tomllib.loads((folder / "messages.toml").read_text(encoding="utf-8"))
            steps = tomllib.loads((folder / "next_steps.toml").read_text(encoding="utf-8"))["next_steps"]
        except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
            raise ConfigError(f"prompts folder {folder} is incomplete or invalid: {exc}") from exc
        for persona in ("resident", "worker"):
            for key in ("no_evidence", "injection", "fallback_notice", "out_of_scope"):
                if key not in messages.get(persona, {}):
                    raise ConfigError(f"{folder}/messages.toml lacks [{persona}] {key}")
        _check_fixed(folder, messages)
        return cls(templates, messages, dict(steps), folder)

    def render(self, name: str, **values: object) -> str:
        return self.templates[name].safe_substitute(**{k: str(v) for k, v in values.items()})

    def message(self, persona: str, key: str) -> str:
        return str(self.messages[persona][key])

    def out_of_scope(self, persona: str, reason: str) -> str:
        table = self.messages[persona]["out_of_scope"]
        return str(table.get(reason) or table["chitchat"])

    def error(self, key: str, **values: object) -> str:
        return str(self.messages["errors"][key]).format(**values)

    def say(self, key: str, **values: object) -> str:
        """A fixed text by its dotted key in messages.toml ("desk.welcome", "report.submitted"), its `{name}`
        placeholders filled from `values`. The keys the code uses are checked by tests/unit/test_texts.py."""
        section, _, name = key.partition(".")
        text = str(self.messages[section][name])
        return text.format(**values) if values else text


def _check_fixed(folder: Path, messages: dict[str, Any]) -> None:
    """Another prompts folder must say every fixed text the project's own says ([desk], [report], [webhook]: what
    `say` reads), so that a missing one fails here and not in a resident's conversation."""
    if folder.resolve() == DEFAULT_DIR:
        return
    ours = tomllib.loads((DEFAULT_DIR / "messages.toml").read_text(encoding="utf-8"))
    for section in FIXED:
        missing = sorted(set(ours.get(section, {})) - set(messages.get(section, {})))
        if missing:
            raise ConfigError(f"{folder}/messages.toml lacks [{section}] {', '.join(missing)}")


@functools.lru_cache(maxsize=1)
def default() -> Prompts:
    """The prompts of the project's own folder, loaded once (for what is built without settings: tests, tools)."""
    return Prompts.load()
