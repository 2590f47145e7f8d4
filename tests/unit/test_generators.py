"""The answer generators behind their port: the registry picks one by `answer.backend`, and the fallback wrapper
records in typed fields, not in a string, that the chat model failed (mid-stream included)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assistant.answering.conversation import Turn
from assistant.answering.generators import (
    ChatGenerator,
    Delta,
    ExtractiveGenerator,
    FallbackGenerator,
    Generated,
    Parts,
    Request,
    build_generator,
)
from assistant.domain import SparseVector
from assistant.errors import ConfigError, LLMUnavailable
from assistant.prompts import Prompts
from assistant.retrieval.evidence import Vocabulary
from assistant.settings import AnswerSettings, LLMSettings

pytestmark = pytest.mark.unit

PROMPTS = Prompts.load()
REQUEST = Request("低保怎么申请", "resident", [], [])


class FakeChat:
    """A `ChatModel` that says `reply` (piece by piece when streaming), then fails after `pieces_before_failure`
    pieces when that is set."""

    name = "fake"

    def __init__(self, reply: str = "", pieces_before_failure: int | None = None) -> None:
        self.reply = reply
        self.pieces_before_failure = pieces_before_failure

    def complete(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> str:
        if self.pieces_before_failure is not None:
            raise LLMUnavailable("down")
        return self.reply

    def stream(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> Iterator[str]:
        for i, ch in enumerate(self.reply):
            if i == self.pieces_before_failure:
                raise LLMUnavailable("the stream broke")
            yield ch

    def ping(self) -> bool:
        return True


class Extract:
    """A stand-in for the extractive generator (no index needed)."""

    mode = "extractive"

    def condense(self, question: str, history: list[Turn]) -> str | None:
        return None

    def generate(self, request: Request, stream: bool) -> Iterator[Delta | Generated]:
        yield Generated("按户申请（《条例》第七条）。", self.mode, "找社区", fit=True)


class NoEncoder:
    """The registry builds generators without reading the encoder."""

    signature = "none"

    def encode_document(self, text: str, extra: object = (), extra_weight: float = 0.5) -> SparseVector:
        raise AssertionError

    def query_terms(self, text: str) -> list[str]:
        raise AssertionError

    def encode_query(self, text: str, extra: dict[str, float] | None = None) -> SparseVector:
        raise AssertionError

    def query_text(self, text: str, expand: bool = True) -> str:
        raise AssertionError

    def variants(self, text: str) -> list[str]:
        raise AssertionError

    def tokens(self, text: str) -> list[str]:
        raise AssertionError


def parts(chat: FakeChat | None) -> Parts:
    return Parts(PROMPTS, AnswerSettings(), LLMSettings(), Vocabulary(NoEncoder()), chat)


def fallback(chat: FakeChat) -> FallbackGenerator:
    return FallbackGenerator(ChatGenerator(chat, PROMPTS, LLMSettings(), 300), Extract(), PROMPTS)


def test_the_registry_picks_the_back_end_the_settings_name() -> None:
    assert isinstance(build_generator("auto", parts(None)), ExtractiveGenerator)
    assert isinstance(build_generator("extractive", parts(FakeChat())), ExtractiveGenerator)
    chosen = build_generator("auto", parts(FakeChat()))
    assert isinstance(chosen, FallbackGenerator) and chosen.mode == "llm"
    assert isinstance(chosen.primary, ChatGenerator) and isinstance(chosen.fallback, ExtractiveGenerator)
    with pytest.raises(ConfigError):
        build_generator("llm", parts(None))
    with pytest.raises(ConfigError, match="unknown"):
        build_generator("gpt", parts(FakeChat()))


def test_the_model_answers_when_it_can() -> None:
    items = list(fallback(FakeChat("可以申请。")).generate(REQUEST, stream=True))
    assert [i.text for i in items if isinstance(i, Delta)] == list("可以申请。")
    final = items[-1]
    assert isinstance(final, Generated)
    assert final.body == "可以申请。" and final.mode == "llm" and not final.fell_back and not final.fit


def test_a_stream_that_breaks_is_reset_and_the_fallback_answers_with_a_notice() -> None:
    items = list(fallback(FakeChat("可以申请。", pieces_before_failure=2)).generate(REQUEST, stream=True))
    deltas = [i for i in items if isinstance(i, Delta)]
    assert deltas == [Delta("可"), Delta("以"), Delta("", reset=True)]  # the pieces shown, then the reset
    final = items[-1]
    assert isinstance(final, Generated) and final.fell_back
    assert final.mode == "extractive (fallback: llm unavailable)"
    assert final.body.startswith(PROMPTS.message("resident", "fallback_notice") + "\n")
    assert final.body.endswith("按户申请（《条例》第七条）。") and final.next_step == "找社区"


def test_an_empty_reply_falls_back_without_a_reset_when_not_streaming() -> None:
    items = list(fallback(FakeChat("  ")).generate(REQUEST, stream=False))
    assert len(items) == 1 and isinstance(items[0], Generated) and items[0].fell_back


def test_a_failed_condense_leaves_it_to_the_rules() -> None:
    history = [Turn("低保怎么申请", "低保怎么申请", "按户申请。", (), 0.0)]
    assert fallback(FakeChat("x", pieces_before_failure=0)).condense("那要带啥子", history) is None
    assert fallback(FakeChat("申请低保要带什么材料")).condense("那要带啥子", history) == "申请低保要带什么材料"
