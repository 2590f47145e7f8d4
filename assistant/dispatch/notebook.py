"""The worker console's notebook: each worker's conversations (whole turns) and their feedback on answers.

It lives in the dispatch store's database (the same engine: SQLite beside the index, or PostgreSQL in production);
its tables come with the dispatch migrations (0002). Every row belongs to an owner, an opaque digest of the API key
that asked: a worker reads back only what was asked with their own key.

    /v1/ask (with a key) ── record_turn ──> console_turns ──> conversations / conversation (resume a thread)
    POST /v1/feedback ──── add_feedback ──> console_feedback ──> feedback (the review list)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, ForeignKey, Integer, String, Text, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from assistant.dispatch.models import Base
from assistant.errors import GridworkerError

EXCERPT_CHARS = 200  # what the review list shows of an answer


class NotebookError(GridworkerError):
    user_message = "对话记录暂时无法读写，请稍后再试。"


class ConsoleTurn(Base):
    __tablename__ = "console_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    conversation_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    question: Mapped[str] = mapped_column(Text)
    condensed: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)  # mode, refused, refusal_reason, emergency …


class ConsoleFeedback(Base):
    __tablename__ = "console_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("console_turns.id"), unique=True)
    verdict: Mapped[str] = mapped_column(String(16))  # useful | not_useful
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


META_FIELDS = ("persona", "mode", "refused", "refusal_reason", "emergency", "emergency_kinds", "hedged",
               "report_suggested", "removed_citations")


def _iso(at: datetime) -> str:
    """SQLite returns the stored UTC time without its offset."""
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).isoformat()


def _turn_json(t: ConsoleTurn) -> dict[str, Any]:
    return {"turn_id": t.id, "conversation_id": t.conversation_id, "at": _iso(t.at), "question": t.question,
            "condensed": t.condensed, "answer": t.answer, "citations": list(t.citations)} | dict(t.meta)


class Notebook:
    """Conversations and feedback per owner, over an existing SQLAlchemy engine (whose schema is migrated)."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def sessions(self) -> Iterator[Session]:
        """A session whose database errors come out as NotebookError (the cause goes to the operator's log)."""
        try:
            with self._sessions() as s:
                yield s
        except SQLAlchemyError as exc:
            raise NotebookError(f"notebook database: {exc}") from exc

    def record_turn(self, owner: str, conversation_id: str, answer: dict[str, Any]) -> int:
        """Keep one question and its answer (the API's answer JSON); returns the turn id."""
        turn = ConsoleTurn(
            owner=owner, conversation_id=conversation_id, at=datetime.now(UTC), question=answer["question"],
            condensed=answer.get("condensed") or answer["question"], answer=answer["answer"],
            citations=list(answer.get("citations", [])), meta={k: answer.get(k) for k in META_FIELDS},
        )
        with self.sessions() as s:
            s.add(turn)
            s.commit()
            return turn.id

    def conversations(self, owner: str, limit: int = 50) -> list[dict[str, Any]]:
        """The owner's conversations, most recent first: id, first question, number of turns, last activity."""
        q = (
            select(ConsoleTurn.conversation_id, func.min(ConsoleTurn.id), func.count(), func.max(ConsoleTurn.at))
            .where(ConsoleTurn.owner == owner).group_by(ConsoleTurn.conversation_id)
            .order_by(func.max(ConsoleTurn.id).desc()).limit(limit)
        )
        with self.sessions() as s:
            rows = s.execute(q).all()
            firsts = {t.id: t.question for t in s.scalars(select(ConsoleTurn).where(
                ConsoleTurn.id.in_([r[1] for r in rows])))}
        return [{"conversation_id": cid, "title": firsts.get(first, ""), "turns": n,
                 "updated_at": _iso(last)} for cid, first, n, last in rows]

    def conversation(self, owner: str, conversation_id: str) -> list[dict[str, Any]]:
        """The owner's turns of one conversation, oldest first (empty: none, or someone else's)."""
        q = (select(ConsoleTurn).where(ConsoleTurn.owner == owner, ConsoleTurn.conversation_id == conversation_id)
             .order_by(ConsoleTurn.id))
        with self.sessions() as s:
            return [_turn_json(t) for t in s.scalars(q)]

    def add_feedback(self, owner: str, turn_id: int, verdict: str, note: str | None) -> dict[str, Any] | None:
        """A verdict on one of the owner's answers (a second one replaces the first); None: no such turn of theirs."""
        with self.sessions() as s:
            turn = s.get(ConsoleTurn, turn_id)
            if turn is None or turn.owner != owner:
                return None
            fb = s.scalar(select(ConsoleFeedback).where(ConsoleFeedback.turn_id == turn_id))
            if fb is None:
                fb = ConsoleFeedback(owner=owner, turn_id=turn_id)
                s.add(fb)
            fb.verdict, fb.note, fb.at = verdict, note, datetime.now(UTC)
            s.commit()
            return _feedback_json(fb, turn)

    def feedback(self, owner: str, verdict: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The owner's review list, most recent first."""
        q = (select(ConsoleFeedback, ConsoleTurn).join(ConsoleTurn, ConsoleTurn.id == ConsoleFeedback.turn_id)
             .where(ConsoleFeedback.owner == owner).order_by(ConsoleFeedback.at.desc(), ConsoleFeedback.id.desc())
             .limit(limit))
        if verdict:
            q = q.where(ConsoleFeedback.verdict == verdict)
        with self.sessions() as s:
            return [_feedback_json(fb, turn) for fb, turn in s.execute(q).all()]


def _feedback_json(fb: ConsoleFeedback, turn: ConsoleTurn) -> dict[str, Any]:
    excerpt = turn.answer if len(turn.answer) <= EXCERPT_CHARS else turn.answer[:EXCERPT_CHARS] + "…"
    return {"id": fb.id, "turn_id": turn.id, "conversation_id": turn.conversation_id, "question": turn.question,
            "answer_excerpt": excerpt, "verdict": fb.verdict, "note": fb.note, "at": _iso(fb.at)}
