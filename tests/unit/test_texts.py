"""Every fixed text the code asks for by key is in prompts/messages.toml (a missing one would fail in the middle of
a resident's conversation, not at start-up), and the texts that fill placeholders take the values they are given."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.prompts import Prompts

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2] / "assistant"
KEY = re.compile(r"""["']((?:desk|report|webhook)\.[a-z_]+)["']""")


def used_keys() -> set[str]:
    """The dotted keys written in the modules that ask for fixed texts (`say(`, a channel's `error(`)."""
    texts = [f.read_text(encoding="utf-8") for f in ROOT.rglob("*.py")]
    return {k for text in texts if re.search(r"[.(]say\(|def say\(", text) for k in KEY.findall(text)}


def test_every_key_the_code_uses_is_in_messages_toml() -> None:
    prompts = Prompts.load()
    keys = used_keys()
    assert {"desk.welcome", "desk.too_fast", "report.submitted", "webhook.bad_signature"} <= keys  # the scan works
    missing = [k for k in sorted(keys) if k.partition(".")[2] not in prompts.messages.get(k.partition(".")[0], {})]
    assert missing == []


def test_placeholders_are_filled() -> None:
    say = Prompts.load().say
    assert say("desk.too_long", limit=300) == "消息太长了，请分几次发送，每次不超过300个字。"
    assert "GW20261127-0001" in say("report.submitted", ticket="GW20261127-0001")
    assert "{" not in say("report.confirm", summary="位置：幸福小区")
    assert say("desk.welcome").startswith("您好，欢迎关注！")


def test_a_prompts_folder_without_the_fixed_texts_fails_at_start_up(tmp_path: Path) -> None:
    import shutil

    from assistant.errors import ConfigError
    from assistant.prompts import DEFAULT_DIR

    folder = tmp_path / "prompts"
    shutil.copytree(DEFAULT_DIR, folder)
    assert Prompts.load(folder).say("desk.welcome") == Prompts.load().say("desk.welcome")
    text = (folder / "messages.toml").read_text(encoding="utf-8")
    (folder / "messages.toml").write_text(text.replace('too_fast = "', 'too_quick = "'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[desk\] too_fast"):
        Prompts.load(folder)
