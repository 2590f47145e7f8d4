"""The answer pipeline: one message in, one grounded answer out.

    screen (emergency, out of scope, injection, report intent)
    → condense the follow-up (conversation memory)
    → retrieve (persona decides what it may see: worker-only documents never reach a resident)
    → evidence check (decline and hand off when the articles do not cover the question)
    → generate: the LLM (OpenAI-compatible) or the extractive composer; a failing LLM falls back to extractive
    → verify citations (invented ones are removed and counted)
    → format for the persona (emergency line first, next step, report offer, length).

Every stage's time is recorded in `Answer.timings` (ms).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assistant.answering import scope
from assistant.answering.citations import cited_keys, verify
from assistant.answering.composer import GENERIC, Composer, category_votes, split_sentences
from assistant.answering.conversation import Conversations, ConversationStore, Turn, condense_rules
from assistant.answering.decision import DecisionModel, Verdict, terms_feature
from assistant.answering.emergency import Detection, EmergencyDetector
from assistant.domain import PERSONAS, Answer, Hit, SearchFilters
from assistant.errors import InputError, LLMUnavailable
from assistant.ports import ChatModel
from assistant.prompts import Prompts
from assistant.retrieval.normalize import normalize_query
from assistant.retrieval.questions import QuestionIndex
from assistant.retrieval.search import Retriever, rrf
from assistant.retrieval.sparse import Bm25SparseEncoder
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
class Event:
    """A streaming event: `delta` pieces of text, then one `answer` with the final, verified answer."""

    kind: str  # meta | delta | answer
    data: dict[str, object]


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
    ) -> None:
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
        self.composer = Composer(
            {k: v for k, v in prompts.next_steps.items() if k != "default"},
            prompts.next_steps.get("default", ""),
            settings.resident_max_chars,
        )
        encoder = retriever.encoder
        assert isinstance(encoder, Bm25SparseEncoder), "the composer reads the encoder's lexicon and tokenizer"
        self.encoder: Bm25SparseEncoder = encoder

    @property
    def mode(self) -> str:
        return "llm" if self.chat is not None else "extractive"

    # -- public API ------------------------------------------------------------------------------------------
    def answer(
        self, question: str, persona: str = "resident", conversation_id: str | None = None,
        category: str | None = None, report_offer: bool | None = None,
    ) -> Answer:
        """`report_offer`: the caller has already read whether the message tells a problem to file (None: read
        it here)."""
        events = list(self._run(question, persona, conversation_id, category, stream=False, report_offer=report_offer))
        final = events[-1].data["answer"]
        assert isinstance(final, Answer)
        return final

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
        timings = ans.timings

        t = time.perf_counter()
        alarm = self.detector.detect(question) if persona == "resident" else Detection([], "")
        screening = scope.screen(question)
        ans.emergency, ans.emergency_kinds = alarm.emergency, alarm.kinds
        ans.report_suggested = persona == "resident" and (
            report_offer if report_offer is not None
            else self.intent.read(question).reportable if self.intent is not None else screening.report_intent
        )
        timings["screen"] = _ms(t)
        yield Event("meta", {"conversation_id": conv_id, "emergency": ans.emergency, "mode": ans.mode})

        if screening.injection and len(_content(screening.remainder)) < 4:
            yield self._decline(ans, "injection", self.prompts.message(persona, "injection"), alarm, t0)
            return
        if screening.out_of_scope and not alarm.emergency:
            yield self._decline(ans, "out_of_scope", self.prompts.out_of_scope(persona, screening.out_of_scope),
                                alarm, t0)
            return
        asked = screening.remainder if screening.injection else question

        t = time.perf_counter()
        history = self.conversations.history(conv_id)
        ans.condensed = self._condense(asked, history, ans)
        timings["condense"] = _ms(t)

        evidence = self.gather(ans.condensed, persona, category)
        ans.retrieval_mode = evidence.retrieval_mode
        if evidence.verdict is not None:
            ans.confidence = evidence.verdict.p
            ans.hedged = evidence.verdict.outcome == "hedge"
        timings.update({f"retrieve.{k}": v for k, v in evidence.timings.items()})
        if screening.injection and not self._injection_rest_answerable(evidence):
            # what is left of a manipulation attempt is answered only when the evidence is clearly there
            yield self._decline(ans, "injection", self.prompts.message(persona, "injection"), alarm, t0)
            return
        if not self._answerable(evidence) and not alarm.emergency:
            self._no_evidence(ans, persona, alarm)
            self._remember(conv_id, ans, [])
            timings["total"] = _ms(t0)
            yield Event("answer", {"answer": ans})
            return

        t = time.perf_counter()
        body, next_step = "", ""
        if self.chat is not None:
            try:
                pieces: list[str] = []
                for piece in self._generate(ans, persona, history, evidence.hits, stream):
                    pieces.append(piece)
                    if stream:
                        yield Event("delta", {"text": piece})
                body = "".join(pieces).strip()
                ans.mode = "llm"
                if not body:
                    raise LLMUnavailable("the model returned an empty answer")
            except LLMUnavailable as exc:
                logger.warning("LLM unavailable, falling back to extractive: %s", exc)
                ans.mode = "extractive (fallback: llm unavailable)"
                body = ""
                if stream:
                    yield Event("delta", {"reset": True, "text": ""})
        if not body:
            body, next_step = self._compose(ans.condensed, persona, evidence.hits)
            if alarm.emergency and not self._sure(evidence):  # the first line is the answer; loose articles distract
                body = ""
            if ans.mode.startswith("extractive (fallback"):
                body = f"{self.prompts.message(persona, 'fallback_notice')}\n{body}"
        timings["generate"] = _ms(t)

        t = time.perf_counter()
        checked = verify(self._finish_text(body, persona, alarm, ans, next_step), evidence.hits)
        ans.removed_citations = len(checked.removed)
        if checked.removed:
            logger.warning("removed %d invented citation(s): %s", len(checked.removed), checked.removed)
        ans.citations = checked.citations
        if not ans.citations and not alarm.emergency:  # an answer that cites nothing is not shown
            self._no_evidence(ans, persona, alarm)
        else:
            ans.answer = checked.text
        timings["verify"] = _ms(t)
        self._remember(conv_id, ans, [c.label for c in ans.citations])
        timings["total"] = _ms(t0)
        yield Event("answer", {"answer": ans})

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
        coverage, n_terms, covered = self.coverage(question, hits)
        topic = topic_share(hits)
        features = {"coverage": coverage, "topic": topic, "terms": terms_feature(n_terms),
                    "covered": terms_feature(int(round(covered))), **signals}
        verdict = None
        if self.decision is not None:
            embedder = self.retriever.embedder
            verdict = self.decision.decide(features, embedder.name if embedder is not None else None)
        # the hand-weighted score (answer.decision = "score"): half word coverage, half topical agreement
        score = 0.5 * coverage + 0.5 * topic if n_terms else 0.0
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

    def coverage(self, question: str, hits: list[Hit]) -> tuple[float, int, float]:
        """(word coverage 0..1, number of content words, covered weight): each content word of the question counts
        by its length; it is covered when the top three texts contain it (1), a synonym or dialect rewrite of it from
        the lexicon (0.8), or a statutory word that the learned associations tie it to (the association's strength,
        at most 0.8)."""
        lexicon = self.encoder.lexicon
        terms = [t for t in dict.fromkeys(self.encoder.query_terms(question)) if len(t) >= 2 and t not in GENERIC]
        weights = {t: float(min(len(t), 4)) for t in terms if not any(t != o and t in o for o in terms)}
        if not weights or not hits:
            return 0.0, len(weights), 0.0
        text = normalize_query(" ".join(f"{h.title} {h.breadcrumb} {h.text}" for h in hits[:3]))
        learned = self.retriever.learned
        covered = 0.0
        for term, weight in weights.items():
            if term in text:
                covered += weight
                continue
            best = 0.0
            if any(e in text for e in lexicon.expand(lexicon.rewrite(term)) if e and e != term):
                best = 0.8
            if learned is not None:
                for target, strength in learned.assoc.get(term, ()):
                    if target in text:
                        best = max(best, min(0.8, float(strength)))
            covered += weight * best
        return covered / sum(weights.values()), len(weights), covered

    def _condense(self, question: str, history: list[Turn], ans: Answer) -> str:
        if not history:
            return question
        if self.chat is not None and self.llm_settings.condense:
            lines = "\n".join(f"居民：{t.question}\n助手：{t.answer[:120]}" for t in history[-3:])
            prompt = self.prompts.render("condense", history=lines, question=question)
            try:
                out = self.chat.complete([{"role": "user", "content": prompt}], max_tokens=80).strip()
                out = out.splitlines()[0].strip() if out else ""
                if 2 <= len(out) <= 3 * max(len(question), 40):
                    return out
            except LLMUnavailable as exc:
                logger.warning("condense by LLM failed, using rules: %s", exc)
        return condense_rules(question, history)

    def _generate(
        self, ans: Answer, persona: str, history: list[Turn], hits: list[Hit], stream: bool
    ) -> Iterator[str]:
        assert self.chat is not None
        system = self.prompts.render(f"{persona}.system", max_chars=self.settings.resident_max_chars)
        budget_chars = int(self.llm_settings.context_tokens * 1.5)
        docs: list[str] = []
        used = 0
        for i, h in enumerate(hits, 1):
            kind = "工作指引" if h.article_no is None else "条文"
            text = scope.screen_document(h.text)
            block = f"[{i}] {h.label}（{kind}）\n{text}"
            if used + len(block) > budget_chars:
                if docs:
                    break
                block = block[:budget_chars]
            docs.append(block)
            used += len(block)
        past = "".join(f"（此前居民问：{t.question}）\n" for t in history[-2:])
        user = self.prompts.render("evidence", documents="\n\n".join(docs), history=past, question=ans.condensed)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        if stream:
            yield from self.chat.stream(messages)
        else:
            yield self.chat.complete(messages)

    def _compose(self, question: str, persona: str, hits: list[Hit]) -> tuple[str, str]:
        lexicon = self.encoder.lexicon
        terms = self.encoder.query_terms(question)
        expansions = [t for e in lexicon.expand(lexicon.rewrite(normalize_query(question)))
                      for t in self.encoder.tokenizer.tokens(e)]
        def synonyms(term: str) -> list[str]:
            return [t for e in lexicon.expand(lexicon.rewrite(term)) for t in self.encoder.tokenizer.tokens(e)]

        ranked = self.composer.rank_sentences(question, terms, expansions, hits, synonyms)
        if persona == "resident":
            budget = self.settings.resident_max_chars - 110
            return self.composer.resident(question, ranked, hits, budget), self.composer.next_step(hits)
        return self.composer.worker(question, ranked, hits), ""

    def _finish_text(self, body: str, persona: str, alarm: Detection, ans: Answer, next_step: str) -> str:
        parts = [alarm.first_line] if alarm.emergency else []
        parts.append(body.strip())
        if persona == "resident":
            if next_step and not ans.refused:
                parts.append(f"{self.prompts.message('resident', 'next_step_prefix')}{next_step}")
            if ans.report_suggested and not alarm.emergency:
                parts.append(self.prompts.message("resident", "report_offer"))
        if ans.hedged:
            parts.append(self.prompts.message(persona, "hedge"))
        text = "\n".join(p for p in parts if p)
        if persona == "resident" and self.chat is None:
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

    def _decline(self, ans: Answer, reason: str, text: str, alarm: Detection, t0: float) -> Event:
        ans.refused, ans.refusal_reason = True, reason
        ans.answer = "\n".join(p for p in (alarm.first_line, text, self._urgent_hint(ans.persona, alarm)) if p)
        ans.timings["total"] = _ms(t0)
        self._remember(ans.conversation_id, ans, [])
        return Event("answer", {"answer": ans})

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
