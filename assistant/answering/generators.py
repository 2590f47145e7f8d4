"""Answer generators: what writes an answer's text from the evidence, behind one port (`AnswerGenerator`).

    extractive   the composer (composer.py): the retrieved articles' own sentences, no model
    chat         an OpenAI-compatible chat model (assistant/llm/): the evidence framed as data in the prompt
    fallback     a primary generator (the chat model) and a second one (extractive) for when the primary is
                 unavailable — down, timing out, failing after its retries, or replying nothing. The answer says so:
                 `Generated.fell_back`, the mode label `extractive (fallback: llm unavailable)` and a notice in the text

`GENERATORS` maps `answer.backend` to a factory (`auto` is `llm` when a chat model is configured, `extractive`
otherwise; `llm` is the chat model with the extractive fallback). The pipeline calls the port and never asks which
back-end it has.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from assistant.answering import scope
from assistant.answering.composer import Composer
from assistant.answering.conversation import Turn
from assistant.domain import Hit
from assistant.errors import ConfigError, LLMUnavailable
from assistant.ports import ChatModel
from assistant.prompts import Prompts
from assistant.retrieval.evidence import Vocabulary
from assistant.settings import AnswerSettings, LLMSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Request:
    """What a generator writes from."""

    question: str  # the standalone question (a follow-up already condensed)
    persona: str  # resident | worker
    history: list[Turn]
    hits: list[Hit]  # the evidence, best first
    brief: bool = False  # an emergency the evidence is not sure of: the alarm's first line is the answer


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the text as it is generated (streaming only). `reset`: drop the pieces shown so far."""

    text: str
    reset: bool = False


@dataclass(frozen=True, slots=True)
class Generated:
    """A generator's text, before the pipeline adds the alarm line, the next step and the offers."""

    body: str
    mode: str  # the label answers carry: extractive | llm | extractive (fallback: llm unavailable)
    next_step: str = ""  # the resident's next step (the extractive composer's, by the evidence's category)
    fell_back: bool = False  # the primary back-end was unavailable; another wrote this
    fit: bool = False  # the finished resident text may be shortened to one message (a model was told the length)


class AnswerGenerator(Protocol):
    """Writes an answer's text from the evidence. Implementations: `ExtractiveGenerator`, `ChatGenerator` (raises
    LLMUnavailable) and `FallbackGenerator` (never raises LLMUnavailable)."""

    @property
    def mode(self) -> str:
        """The mode label of its answers when nothing fails (extractive | llm)."""
        ...

    def condense(self, question: str, history: list[Turn]) -> str | None:
        """A follow-up rewritten as a standalone question, or None when the pipeline's rules should do it."""
        ...

    def generate(self, request: Request, stream: bool) -> Iterator[Delta | Generated]:
        """With `stream`, the text's pieces as they are generated; last, always, exactly one `Generated`."""
        ...


class ExtractiveGenerator:
    """The composer's answer: the articles' sentences that answer the question, shaped for the persona."""

    mode = "extractive"

    def __init__(self, composer: Composer, vocabulary: Vocabulary, resident_max_chars: int) -> None:
        self.composer = composer
        self.vocabulary = vocabulary
        self.resident_max_chars = resident_max_chars

    def condense(self, question: str, history: list[Turn]) -> str | None:
        return None

    def generate(self, request: Request, stream: bool) -> Iterator[Delta | Generated]:
        yield self.compose(request)

    def compose(self, request: Request) -> Generated:
        """The resident's few plain sentences and next step, or the worker's sections; no text when `brief`."""
        question, hits, words = request.question, request.hits, self.vocabulary
        ranked = self.composer.rank_sentences(question, words.terms(question), words.expansions(question), hits,
                                              words.synonyms)
        if request.persona == "resident":
            body = self.composer.resident(question, ranked, hits, self.resident_max_chars - 110)
            next_step = self.composer.next_step(hits)
        else:
            body, next_step = self.composer.worker(question, ranked, hits), ""
        return Generated("" if request.brief else body, self.mode, next_step, fit=True)


class ChatGenerator:
    """The chat model's answer from the evidence (screened for instruction-like lines, framed as data)."""

    mode = "llm"

    def __init__(self, chat: ChatModel, prompts: Prompts, llm: LLMSettings, resident_max_chars: int) -> None:
        self.chat = chat
        self.prompts = prompts
        self.llm = llm
        self.resident_max_chars = resident_max_chars

    def condense(self, question: str, history: list[Turn]) -> str | None:
        """The model's standalone question (`llm.condense`); None when it is off or the reply is no question."""
        if not self.llm.condense:
            return None
        lines = "\n".join(f"居民：{t.question}\n助手：{t.answer[:120]}" for t in history[-3:])
        prompt = self.prompts.render("condense", history=lines, question=question)
        out = self.chat.complete([{"role": "user", "content": prompt}], max_tokens=80).strip()
        out = out.splitlines()[0].strip() if out else ""
        return out if 2 <= len(out) <= 3 * max(len(question), 40) else None

    def generate(self, request: Request, stream: bool) -> Iterator[Delta | Generated]:
        messages = self.messages(request)
        pieces: list[str] = []
        if stream:
            for piece in self.chat.stream(messages):
                pieces.append(piece)
                yield Delta(piece)
        else:
            pieces.append(self.chat.complete(messages))
        body = "".join(pieces).strip()
        if not body:
            raise LLMUnavailable("the model returned an empty answer")
        yield Generated(body, self.mode)

    def messages(self, request: Request) -> list[dict[str, str]]:
        """The system prompt of the persona and the evidence, numbered, within `llm.context_tokens`."""
        system = self.prompts.render(f"{request.persona}.system", max_chars=self.resident_max_chars)
        budget_chars = int(self.llm.context_tokens * 1.5)
        docs: list[str] = []
        used = 0
        for i, h in enumerate(request.hits, 1):
            kind = "工作指引" if h.article_no is None else "条文"
            block = f"[{i}] {h.label}（{kind}）\n{scope.screen_document(h.text)}"
            if used + len(block) > budget_chars:
                if docs:
                    break
                block = block[:budget_chars]
            docs.append(block)
            used += len(block)
        past = "".join(f"（此前居民问：{t.question}）\n" for t in request.history[-2:])
        user = self.prompts.render("evidence", documents="\n\n".join(docs), history=past, question=request.question)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]


class FallbackGenerator:
    """The primary's answer; when the primary is unavailable, the fallback's, with a notice to the reader."""

    def __init__(self, primary: AnswerGenerator, fallback: AnswerGenerator, prompts: Prompts) -> None:
        self.primary = primary
        self.fallback = fallback
        self.prompts = prompts
        self.fallback_mode = f"{fallback.mode} (fallback: {primary.mode} unavailable)"

    @property
    def mode(self) -> str:
        return self.primary.mode

    def condense(self, question: str, history: list[Turn]) -> str | None:
        try:
            return self.primary.condense(question, history)
        except LLMUnavailable as exc:
            logger.warning("condense by LLM failed, using rules: %s", exc)
            return self.fallback.condense(question, history)

    def generate(self, request: Request, stream: bool) -> Iterator[Delta | Generated]:
        try:
            yield from self.primary.generate(request, stream)
            return
        except LLMUnavailable as exc:
            logger.warning("LLM unavailable, falling back to extractive: %s", exc)
        if stream:
            yield Delta("", reset=True)
        notice = self.prompts.message(request.persona, "fallback_notice")
        for item in self.fallback.generate(request, stream):
            if isinstance(item, Generated):
                # not fitted to one message, as before the generators were ports: the notice leads the text
                item = replace(item, body=f"{notice}\n{item.body}", mode=self.fallback_mode, fell_back=True, fit=False)
            yield item


@dataclass(frozen=True, slots=True)
class Parts:
    """What the registry's factories build a generator from."""

    prompts: Prompts
    settings: AnswerSettings
    llm_settings: LLMSettings
    vocabulary: Vocabulary  # the retriever's (`Retriever.vocabulary`)
    chat: ChatModel | None = None


def extractive(parts: Parts) -> ExtractiveGenerator:
    steps = parts.prompts.next_steps
    composer = Composer({k: v for k, v in steps.items() if k != "default"}, steps.get("default", ""),
                        parts.settings.resident_max_chars)
    return ExtractiveGenerator(composer, parts.vocabulary, parts.settings.resident_max_chars)


def chat_with_fallback(parts: Parts) -> FallbackGenerator:
    if parts.chat is None:
        raise ConfigError("answer.backend is 'llm' but no chat model is configured (GRIDWORKER_LLM__BASE_URL)")
    chat = ChatGenerator(parts.chat, parts.prompts, parts.llm_settings, parts.settings.resident_max_chars)
    return FallbackGenerator(chat, extractive(parts), parts.prompts)


GENERATORS: dict[str, Callable[[Parts], AnswerGenerator]] = {"extractive": extractive, "llm": chat_with_fallback}


def backend_name(backend: str, chat: ChatModel | None) -> str:
    """The registry's name for `answer.backend`: `auto` is `llm` when a chat model is configured."""
    if backend == "auto":
        return "llm" if chat is not None else "extractive"
    return backend


def build_generator(backend: str, parts: Parts) -> AnswerGenerator:
    """The generator `answer.backend` names, from the registry."""
    factory = GENERATORS.get(backend_name(backend, parts.chat))
    if factory is None:
        raise ConfigError(f"unknown answer.backend {backend!r} (auto, {', '.join(GENERATORS)})")
    return factory(parts)
