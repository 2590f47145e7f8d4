"""The answer pipeline: one message in, one grounded answer out.

    screen (emergency, out of scope, injection, report intent)
    → condense the follow-up (conversation memory)
    → retrieve (persona decides what it may see: worker-only documents never reach a resident)
    → evidence check (decline and hand off when the articles do not cover the question)
    → generate: the `AnswerGenerator` the settings chose (generators.py): the extractive composer, or the chat
      model with the extractive fallback; the evidence score is the retriever's (`Retriever.coverage`)
    → verify citations (invented ones are removed and counted)
    → format for the persona (emergency line first, next step, report offer, length).

Every stage's time is recorded in `Answer.timings` (ms).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from assistant.answering import scope
from assistant.answering.citations import cited_keys, verify
from assistant.answering.composer import category_votes, split_sentences
from assistant.answering.conversation import Conversations, ConversationStore, Turn, condense_rules
from assistant.answering.decision import DecisionModel, Verdict, terms_feature
from assistant.answering.emergency import Detection, EmergencyDetector
from assistant.answering.generators import AnswerGenerator, Delta, Generated, Parts, Request, build_generator
from assistant.domain import PERSONAS, Answer, Hit, SearchFilters
from assistant.errors import InputError
from assistant.ports import ChatModel
from assistant.prompts import Prompts
from assistant.retrieval.questions import QuestionIndex
from assistant.retrieval.search import Retriever, rrf
from assistant.settings import AnswerSettings, LLMSettings

if TYPE_CHECKING:
    from assistant.reports.intent import IntentReader

logger = logging.getLogger(__name__)

AUDIENCE = {"resident": ("public",), "worker": ("public", "worker")}
INJECTION_MARGIN = 0.1  # the extra evidence the rest of a message with an injection in it must have


@dataclass(slots=True)
class Evidence:
    hits: list[Hit]
    score: float  # 0..1, the hand-weighted evidence score (answer.decision = "score")
    retrieval_mode: str
    timings: dict[str, float] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)  # what the learned decision reads
    verdict: Verdict | None = None  # the learned decision (answer.decision = "learned" and its artefact here)


@dataclass(frozen=True, slots=True)
class MetaEvent:
    """The stream's first event: the conversation, whether the message raised an alarm, the back-end's mode."""

    kind: ClassVar[Literal["meta"]] = "meta"
    conversation_id: str
    emergency: bool
    mode: str

    def json(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "emergency": self.emergency, "mode": self.mode}


@dataclass(frozen=True, slots=True)
class DeltaEvent:
    """A piece of the model's text; `reset`: the model failed, drop the pieces shown (the fallback's answer
    follows in the answer event)."""

    kind: ClassVar[Literal["delta"]] = "delta"
    text: str
    reset: bool = False

    def json(self) -> dict[str, Any]:
        return {"reset": True, "text": self.text} if self.reset else {"text": self.text}


@dataclass(frozen=True, slots=True)
class AnswerEvent:
    """The stream's last event: the final, verified answer."""

    kind: ClassVar[Literal["answer"]] = "answer"
    answer: Answer


# A streaming event: `meta`, `delta` pieces of text, then one `answer` with the final, verified answer.
Event = MetaEvent | DeltaEvent | AnswerEvent


class AnswerService:
    def __init__(
        self,
        retriever: Retriever,
        prompts: Prompts,
        settings: AnswerSettings,
        llm_settings: LLMSettings,
        chat: ChatModel | None = None,
        conversations: Conversations | None = None,
        detector: EmergencyDetector | None = None,
        decision: DecisionModel | None = None,
        questions: QuestionIndex | None = None,
        question_weight: float = 0.0,
        intent: IntentReader | None = None,
        generator: AnswerGenerator | None = None,
    ) -> None:
        """`generator`: what writes the text (default: the one `settings.backend` names in the registry, over
        `chat`). `chat` is also what the report flow, /readyz and the eval's judge use."""
        self.retriever = retriever
        self.intent = intent  # reads whether a resident's message tells a problem to file (rules when unset)
        self.prompts = prompts
        self.settings = settings
        self.llm_settings = llm_settings
        self.chat = chat
        self.conversations: Conversations = conversations or ConversationStore(
            settings.max_conversations, settings.conversation_turns, settings.conversation_ttl_s
        )
        self.detector = detector or EmergencyDetector(settings.gas_hotline)
        self.decision = decision if settings.decision == "learned" else None
        embedder = retriever.embedder
        self.questions = questions if (questions is not None and embedder is not None
                                       and embedder.name == questions.model) else None
        self.question_weight = question_weight
        self.generator = generator or build_generator(
            settings.backend, Parts(prompts, settings, llm_settings, retriever.vocabulary, chat)
        )

    @property
    def mode(self) -> str:
        return self.generator.mode

    # -- public API ------------------------------------------------------------------------------------------
    def answer(
        self, question: str, persona: str = "resident", conversation_id: str | None = None,
        category: str | None = None, report_offer: bool | None = None,
    ) -> Answer:
        """`report_offer`: the caller has already read whether the message tells a problem to file (None: read
        it here)."""
        events = list(self._run(question, persona, conversation_id, category, stream=False, report_offer=report_offer))
        final = events[-1]
        assert isinstance(final, AnswerEvent)
        return final.answer

    def stream(
        self, question: str, persona: str = "resident", conversation_id: str | None = None,
        category: str | None = None,
    ) -> Iterator[Event]:
        """Events as they happen: the LLM's text arrives in pieces; the last event carries the verified answer
        (a client shows that one: a citation the model invented mid-stream is gone from it)."""
        return self._run(question, persona, conversation_id, category, stream=True)

    def check_input(self, question: str, persona: str) -> str:
        if persona not in PERSONAS:
            raise InputError(f"未知的身份类型：{persona}（可选 resident、worker）", f"bad persona {persona!r}")
        text = (question or "").strip()
        if not text:
            raise InputError(self.prompts.error("empty"), "empty question")
        limit = self.settings.max_question_chars
        if len(text) > limit:
            raise InputError(self.prompts.error("too_long", limit=limit), f"question of {len(text)} chars")
        return text

    # -- the pipeline ----------------------------------------------------------------------------------------
    def _run(
        self, question: str, persona: str, conversation_id: str | None, category: str | None, stream: bool,
        report_offer: bool | None = None,
    ) -> Iterator[Event]:
        t0 = time.perf_counter()
        question = self.check_input(question, persona)
        conv_id = conversation_id or self.conversations.new_id()
        ans = Answer(question=question, answer="", persona=persona, mode=self.mode, conversation_id=conv_id)
        alarm, screening = self._screen(ans, report_offer)
        yield MetaEvent(conv_id, ans.emergency, ans.mode)
        refusal = self._refusal(screening, persona, alarm)
        if refusal is not None:
            yield self._decline(ans, *refusal, alarm, t0)
            return
        asked = screening.remainder if screening.injection else question

        t = time.perf_counter()
        history = self.conversations.history(conv_id)
        ans.condensed = self._condense(asked, history)
        ans.timings["condense"] = _ms(t)

        evidence = self._retrieve(ans, category)
        if screening.injection and not self._injection_rest_answerable(evidence):
            # what is left of a manipulation attempt is answered only when the evidence is clearly there
            yield self._decline(ans, "injection", self.prompts.message(persona, "injection"), alarm, t0)
            return
        if not self._answerable(evidence) and not alarm.emergency:
            self._no_evidence(ans, persona, alarm)
            yield self._done(ans, [], t0)
            return

        t = time.perf_counter()
        generated = yield from self._write(ans, history, evidence, alarm, stream)
        ans.timings["generate"] = _ms(t)
        self._check(ans, generated, evidence, alarm)
        yield self._done(ans, [c.label for c in ans.citations], t0)

    def _screen(self, ans: Answer, report_offer: bool | None) -> tuple[Detection, scope.Screening]:
        """The alarm (residents), the scope and injection screen, and whether to offer a report."""
        t = time.perf_counter()
        resident = ans.persona == "resident"
        alarm = self.detector.detect(ans.question) if resident else Detection([], "")
        screening = scope.screen(ans.question)
        ans.emergency, ans.emergency_kinds = alarm.emergency, alarm.kinds
        ans.report_suggested = resident and (
            report_offer if report_offer is not None
            else self.intent.read(ans.question).reportable if self.intent is not None else screening.report_intent
        )
        ans.timings["screen"] = _ms(t)
        return alarm, screening

    def _refusal(self, screening: scope.Screening, persona: str, alarm: Detection) -> tuple[str, str] | None:
        """(reason, text) of a message declined before retrieval: an injection with nothing else in it, or a
        request out of scope that raised no alarm."""
        if screening.injection and len(_content(screening.remainder)) < 4:
            return "injection", self.prompts.message(persona, "injection")
        if screening.out_of_scope and not alarm.emergency:
            return "out_of_scope", self.prompts.out_of_scope(persona, screening.out_of_scope)
        return None

    def _retrieve(self, ans: Answer, category: str | None) -> Evidence:
        """The evidence for the standalone question; its mode, decision and timings go on the answer."""
        evidence = self.gather(ans.condensed, ans.persona, category)
        ans.retrieval_mode = evidence.retrieval_mode
        if evidence.verdict is not None:
            ans.confidence = evidence.verdict.p
            ans.hedged = evidence.verdict.outcome == "hedge"
        ans.timings.update({f"retrieve.{k}": v for k, v in evidence.timings.items()})
        return evidence

    def _write(
        self, ans: Answer, history: list[Turn], evidence: Evidence, alarm: Detection, stream: bool
    ) -> Generator[Event, None, Generated]:
        """The generator's text (its pieces as delta events while streaming); the answer takes its mode."""
        # in an emergency the evidence is not sure of, the alarm's first line is the answer: loose articles distract
        request = Request(ans.condensed, ans.persona, history, evidence.hits,
                          brief=alarm.emergency and not self._sure(evidence))
        generated: Generated | None = None
        for item in self.generator.generate(request, stream):
            if isinstance(item, Delta):
                yield DeltaEvent(item.text, item.reset)
            else:
                generated = item
        assert generated is not None, "a generator ends with its Generated"
        ans.mode = generated.mode
        return generated

    def _check(self, ans: Answer, generated: Generated, evidence: Evidence, alarm: Detection) -> None:
        """Finish the text for the persona and verify its citations; an answer that cites nothing is not shown."""
        t = time.perf_counter()
        checked = verify(self._finish_text(generated, ans, alarm), evidence.hits)
        ans.removed_citations = len(checked.removed)
        if checked.removed:
            logger.warning("removed %d invented citation(s): %s", len(checked.removed), checked.removed)
        ans.citations = checked.citations
        if not ans.citations and not alarm.emergency:
            self._no_evidence(ans, ans.persona, alarm)
        else:
            ans.answer = checked.text
        ans.timings["verify"] = _ms(t)

    def _done(self, ans: Answer, labels: list[str], t0: float) -> AnswerEvent:
        self._remember(ans.conversation_id, ans, labels)
        ans.timings["total"] = _ms(t0)
        return AnswerEvent(ans)

    # -- stages ----------------------------------------------------------------------------------------------
    def gather(self, question: str, persona: str, category: str | None = None) -> Evidence:
        """Retrieval for a persona, the articles that retrieved guides cite, and the evidence score."""
        filters = SearchFilters(
            audiences=AUDIENCE[persona], categories=(category,) if category else (),
        )
        k = self.settings.resident_k if persona == "resident" else self.settings.worker_k
        result = self.retriever.search(question, k=k, filters=filters)
        hits = result.hits
        t = time.perf_counter()
        cited = [f"{key}#{no}" + (f"-{sub}" if sub else "") for h in hits if h.article_no is None
                 for key, no, sub in cited_keys(h.text)]
        if cited:
            have = {h.point_id for h in hits}
            extra = [h for h in self.retriever.articles(cited, filters) if h.point_id not in have]
            hits = hits + extra
        timings = dict(result.timings_ms)
        timings["cited_articles"] = _ms(t)
        signals = dict(result.signals)
        if self.questions is not None and self.retriever.embedder is not None:
            t = time.perf_counter()
            near = self.questions.nearest(self.retriever.embedder.embed_query(question), k=30)
            if near:
                signals["qnear_top"] = near[0][2]
                signals["qnear_top5"] = sum(c for _, _, c in near[:5]) / len(near[:5])
            if self.question_weight > 0 and near:
                hits = self._fuse_questions(hits, near, filters, k)
            timings["question_field"] = _ms(t)
        coverage = self.retriever.coverage(question, hits)
        topic = topic_share(hits)
        features = {"coverage": coverage.share, "topic": topic, "terms": terms_feature(coverage.terms),
                    "covered": terms_feature(int(round(coverage.covered))), **signals}
        verdict = None
        if self.decision is not None:
            embedder = self.retriever.embedder
            verdict = self.decision.decide(features, embedder.name if embedder is not None else None)
        # the hand-weighted score (answer.decision = "score"): half word coverage, half topical agreement
        score = 0.5 * coverage.share + 0.5 * topic if coverage.terms else 0.0
        return Evidence(hits, score, result.mode, timings, features, verdict)

    def _fuse_questions(
        self, hits: list[Hit], near: list[tuple[str, int, float]], filters: SearchFilters, k: int
    ) -> list[Hit]:
        """Weighted reciprocal-rank fusion of the retrieved articles and the articles of the nearest lay questions
        (the question field's dense side); guides and cited articles keep their places in the first list."""
        extra = self.retriever.articles_at([(f, n) for f, n, _ in near], filters)
        by_id = {h.point_id: h for h in reversed(hits + extra)}  # the first copy of a point wins
        fused = rrf([(1.0, [h.point_id for h in hits]), (self.question_weight, [h.point_id for h in extra])],
                    self.retriever.stages.dense_rrf_k)
        return [by_id[pid] for pid, _ in fused[: max(k, len(hits))]]

    def _answerable(self, evidence: Evidence) -> bool:
        if evidence.verdict is not None:
            return evidence.verdict.outcome != "decline"
        return evidence.score >= self.settings.min_evidence

    def _sure(self, evidence: Evidence) -> bool:
        if evidence.verdict is not None:
            return evidence.verdict.outcome == "answer"
        return evidence.score >= 0.8

    def _injection_rest_answerable(self, evidence: Evidence) -> bool:
        """What is left of a manipulation attempt is answered only when the evidence is clearly there."""
        if evidence.verdict is not None:
            return evidence.verdict.outcome == "answer"
        return evidence.score >= self.settings.min_evidence + INJECTION_MARGIN

    def _condense(self, question: str, history: list[Turn]) -> str:
        """A follow-up as a standalone question: the generator's (the model's), else the rules'."""
        if not history:
            return question
        return self.generator.condense(question, history) or condense_rules(question, history)

    def _finish_text(self, generated: Generated, ans: Answer, alarm: Detection) -> str:
        """The alarm's line, the generator's text, then (residents) the next step and the report offer, and the
        hedge; an extractive resident text is kept to one message."""
        persona = ans.persona
        parts = [alarm.first_line] if alarm.emergency else []
        parts.append(generated.body.strip())
        if persona == "resident":
            if generated.next_step and not ans.refused:
                parts.append(f"{self.prompts.message('resident', 'next_step_prefix')}{generated.next_step}")
            if ans.report_suggested and not alarm.emergency:
                parts.append(self.prompts.message("resident", "report_offer"))
        if ans.hedged:
            parts.append(self.prompts.message(persona, "hedge"))
        text = "\n".join(p for p in parts if p)
        if persona == "resident" and generated.fit:
            text = _fit(text, self.settings.resident_max_chars)
        return text

    def _no_evidence(self, ans: Answer, persona: str, alarm: Detection) -> None:
        """Not enough evidence: say so and offer a person; a resident describing a problem is offered a report."""
        ans.citations = []
        if persona == "resident" and ans.report_suggested:
            ans.answer = "\n".join(p for p in (alarm.first_line, self.prompts.message(persona, "report_only"),
                                               self._urgent_hint(persona, alarm)) if p)
            return
        ans.refused, ans.refusal_reason = True, "no_evidence"
        ans.answer = "\n".join(p for p in (alarm.first_line, self.prompts.message(persona, "no_evidence"),
                                           self._urgent_hint(persona, alarm)) if p)

    def _decline(self, ans: Answer, reason: str, text: str, alarm: Detection, t0: float) -> AnswerEvent:
        ans.refused, ans.refusal_reason = True, reason
        ans.answer = "\n".join(p for p in (alarm.first_line, text, self._urgent_hint(ans.persona, alarm)) if p)
        ans.timings["total"] = _ms(t0)
        self._remember(ans.conversation_id, ans, [])
        return AnswerEvent(ans)

    def _urgent_hint(self, persona: str, alarm: Detection) -> str:
        """Every resident decline and hand-off says where to turn in an emergency (unless the alarm already did)."""
        return self.prompts.message(persona, "urgent_hint") if persona == "resident" and not alarm.emergency else ""

    def _remember(self, conv_id: str, ans: Answer, labels: list[str]) -> None:
        standalone = ans.condensed or ans.question
        self.conversations.append(
            conv_id, Turn(ans.question, standalone, ans.answer, tuple(labels), time.time())
        )


def topic_share(hits: list[Hit], depth: int = 5) -> float:
    votes = category_votes(hits, depth)
    return max(votes.values()) / sum(votes.values()) if votes else 0.0


def _ms(t: float) -> float:
    return (time.perf_counter() - t) * 1000


def _content(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def _fit(text: str, limit: int) -> str:
    """Keep a resident's answer to one message: drop the last sentences of the longest cited line, keeping its
    citation, until it fits; cut only as a last resort."""
    lines = text.split("\n")
    for _ in range(20):
        if len("\n".join(lines)) <= limit:
            break
        cited = [j for j, line in enumerate(lines) if line.endswith("）") and "（《" in line]
        if not cited:
            break
        i = max(cited, key=lambda j: len(lines[j]))
        cut = lines[i].rfind("（《")
        sentences = split_sentences(lines[i][:cut])
        if len(sentences) <= 1:
            if len(cited) == 1:
                break
            del lines[i]
            continue
        lines[i] = "".join(sentences[:-1]) + lines[i][cut:]
    out = "\n".join(lines)
    return out if len(out) <= math.ceil(limit * 1.15) else out[: limit - 1] + "…"
