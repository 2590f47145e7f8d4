"""The console's notebook (conversation turns, feedback) on both databases the dispatch store runs on: its tables
arrive with the dispatch migrations, and every read is scoped to the owner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.dispatch.notebook import Notebook
from assistant.dispatch.store import DispatchStore

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def notebook(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Notebook]:
    sqlite = f"sqlite:///{tmp_path / 'dispatch.sqlite3'}"
    url = sqlite if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = DispatchStore(url)
    try:
        yield Notebook(store.engine)
    finally:
        store.close()


def answer(question: str, text: str = "【依据】《条例》第一条……") -> dict[str, object]:
    return {"question": question, "condensed": question, "answer": text, "mode": "extractive", "refused": False,
            "citations": [{"label": "《条例》第一条", "text": "第一条 ……"}], "persona": "worker"}


def test_turns_and_feedback_belong_to_their_owner(notebook: Notebook) -> None:
    t1 = notebook.record_turn("alice", "c1", answer("低保怎么申请"))
    t2 = notebook.record_turn("alice", "c1", answer("那要带什么材料", "很" * 300))
    notebook.record_turn("bob", "c1", answer("bob 的问题"))  # the same conversation id under another owner
    turns = notebook.conversation("alice", "c1")
    assert [t["question"] for t in turns] == ["低保怎么申请", "那要带什么材料"] and turns[0]["mode"] == "extractive"
    assert turns[0]["citations"][0]["label"] == "《条例》第一条"
    assert turns[0]["at"].endswith("+00:00")  # SQLite drops the offset; the store puts it back
    assert notebook.conversations("alice") == [
        {"conversation_id": "c1", "title": "低保怎么申请", "turns": 2, "updated_at": turns[1]["at"]}]
    assert notebook.conversation("carol", "c1") == []

    assert notebook.add_feedback("bob", t1, "useful", None) is None  # not bob's answer
    entry = notebook.add_feedback("alice", t2, "not_useful", "太长")
    assert entry is not None and entry["answer_excerpt"] == "很" * 200 + "…" and entry["note"] == "太长"
    notebook.add_feedback("alice", t2, "useful", None)  # replaces the first verdict
    review = notebook.feedback("alice")
    assert [(f["turn_id"], f["verdict"], f["note"]) for f in review] == [(t2, "useful", None)]
    assert notebook.feedback("alice", "not_useful") == [] and notebook.feedback("bob") == []
