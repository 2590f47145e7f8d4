"""Multi-turn memory and follow-up condensing.

A conversation keeps its last few turns (question, standalone question, cited labels) for a while; the store is
bounded in conversations, turns and age, so a flood of new conversation ids cannot grow memory without limit.
A follow-up (「那要带什么材料」「需要多久呢」) is rewritten into a standalone question before retrieval: by the LLM
when one is configured, by rules otherwise (the previous standalone question's topic + the follow-up).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from assistant.retrieval.normalize import normalize_query


@dataclass(frozen=True, slots=True)
class Turn:
    question: str
    standalone: str
    answer: str
    labels: tuple[str, ...]
    at: float


@dataclass(slots=True)
class Conversation:
    id: str
    turns: list[Turn] = field(default_factory=list)
    touched: float = 0.0


class Conversations(Protocol):
    """Where the answer service keeps conversations (in process, or the channel store for WeChat)."""

    def new_id(self) -> str: ...

    def history(self, conversation_id: str) -> list[Turn]: ...

    def append(self, conversation_id: str, turn: Turn) -> None: ...


class ConversationStore:
    """In-process, thread-safe, bounded: least recently used conversations go first, idle ones expire."""

    def __init__(self, max_conversations: int = 10_000, max_turns: int = 6, ttl_s: float = 1800.0) -> None:
        self.max_conversations = max_conversations
        self.max_turns = max_turns
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def history(self, conversation_id: str) -> list[Turn]:
        now = time.monotonic()
        with self._lock:
            conv = self._items.get(conversation_id)
            if conv is None:
                return []
            if now - conv.touched > self.ttl_s:
                del self._items[conversation_id]
                return []
            return list(conv.turns)

    def append(self, conversation_id: str, turn: Turn) -> None:
        with self._lock:
            conv = self._items.pop(conversation_id, None) or Conversation(conversation_id)
            conv.turns = (conv.turns + [turn])[-self.max_turns :]
            conv.touched = time.monotonic()
            self._items[conversation_id] = conv
            while len(self._items) > self.max_conversations:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


_FOLLOW_START = re.compile(r"^(那|那么|那如果|还有|另外|还要|然后|再|如果是|要是|它|这个|那个|这种|那种|他们|她们|他|她|这样|这些|那些|同样)")
_FOLLOW_END = re.compile(r"(呢|咧|喃)[?？]?$")
_FOLLOW_ASK = re.compile(r"^(要|需要|得|去|在)?(什么|啥|啥子|哪些)?(材料|条件|手续|多久|多长时间|几天|哪里|哪儿|找谁|谁管|多少钱|怎么办理|流程|时限|罚多少)")
_QUESTION_WORDS = re.compile(r"(请问|我想问|问一下|怎么|如何|咋个?|啥子|什么|吗|呢|么|哦|嘛|啊|呀|[?？。！!，,])")


def is_follow_up(question: str) -> bool:
    q = normalize_query(question)
    core = _QUESTION_WORDS.sub("", q)
    return bool(_FOLLOW_START.search(q) or _FOLLOW_END.search(q) or _FOLLOW_ASK.search(q) or len(core) <= 4)


def condense_rules(question: str, history: list[Turn]) -> str:
    """The standalone question, without a model: a follow-up inherits the topic of the previous standalone question."""
    if not history or not is_follow_up(question):
        return question
    topic = _QUESTION_WORDS.sub(" ", normalize_query(history[-1].standalone)).strip()
    return f"{topic} {question}".strip()
