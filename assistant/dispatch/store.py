"""The dispatch store: reports with their event log, idempotent intake, status transitions, and the outbox.

SQLAlchemy over SQLite (embedded default, a file beside the index) or PostgreSQL (`GRIDWORKER_DISPATCH__DB_URL`);
the schema is created and upgraded by Alembic (`migrate`). Every change to a report appends to its event log in the
same transaction. Submissions carry an idempotency key: the same key returns the same report, however often it is
sent (a double tap, a WeChat retry, a client retry after a timeout).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from assistant.dispatch.models import Outbox, Report, ReportEvent, TicketCounter
from assistant.domain import STATUS_ZH, ReportDraft, UserRef
from assistant.errors import GridworkerError

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CHONGQING = ZoneInfo("Asia/Shanghai")
STATUSES = ("submitted", "assigned", "in_progress", "resolved", "closed", "reopened")
TRANSITIONS: dict[str, frozenset[str]] = {
    "submitted": frozenset({"assigned", "closed"}),
    "assigned": frozenset({"in_progress", "resolved", "closed"}),
    "in_progress": frozenset({"resolved", "closed"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset({"reopened"}),
    "reopened": frozenset({"assigned", "in_progress", "resolved", "closed"}),
}


class DispatchError(GridworkerError):
    user_message = "工单操作失败，请稍后再试。"

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Submitted:
    report: dict[str, Any]
    created: bool  # False when the idempotency key had been seen: the earlier report is returned


def migrate(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to an Alembic revision (the latest by default; every start does this)."""
    _alembic(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to an earlier revision (docs/operations.md: before running an older release)."""
    _alembic(engine, command.downgrade, revision)


def _alembic(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    """Run an Alembic step on one connection. SQLite alters a table by copying it (batch mode), and dropping the
    old copy of a table that others reference fails while foreign keys are enforced: they are off for the step
    (a pragma that only takes effect outside a transaction) and every reference is checked before it commits."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                step(cfg, revision)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise DispatchError(f"migrating to {revision} would break a reference between tables", 503)
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def _now() -> datetime:
    return datetime.now(UTC)


class KeyReused(DispatchError):
    user_message = "这个幂等键已用于另一份内容不同的工单，请为新工单使用新的 Idempotency-Key。"


def _same_or_refuse(report: dict[str, Any], draft: ReportDraft, user: UserRef | None) -> dict[str, Any]:
    """The report a key already stored, when this request is the same report (a retry); a different report under a
    used key is refused, never silently answered with the first one."""
    loc = draft.location
    mine = {"category": draft.category, "urgency": draft.urgency, "description": draft.description,
            "photos": list(draft.photos), "occurred_at": draft.occurred_at, "contact": draft.contact,
            "channel": user.channel if user else None, "user_ref": user.ref if user else None,
            "location": (loc.text, loc.latitude, loc.longitude, loc.label)}
    theirs = {k: report[k] for k in mine if k != "location"} | {
        "location": tuple(report["location"][k] for k in ("text", "latitude", "longitude", "label"))}
    if mine != theirs:
        raise KeyReused(f"idempotency key reused with a different report (ticket {report['ticket']})", 409)
    return report


def to_json(r: Report, events: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id, "ticket": r.ticket, "status": r.status, "status_zh": STATUS_ZH.get(r.status, r.status),
        "category": r.category, "urgency": r.urgency, "description": r.description,
        "location": {"text": r.location_text, "latitude": r.latitude, "longitude": r.longitude,
                     "label": r.location_label, "grid": r.grid},
        "photos": list(r.photos or []), "occurred_at": r.occurred_at, "contact": r.contact, "rating": r.rating,
        "channel": r.channel, "user_ref": r.user_ref,
        "openid": r.user_ref if r.channel == "wechat" else None,  # deprecated: read channel and user_ref
        "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat(),
    }
    if events:
        out["events"] = [{"at": e.at.isoformat(), "kind": e.kind, "from": e.from_status, "to": e.to_status,
                          "note": e.note, "actor": e.actor} for e in r.events]
    return out


class DispatchStore:
    def __init__(self, url: str, outbox_enabled: bool = False) -> None:
        self.engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.outbox_enabled = outbox_enabled
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # told of every status change
        migrate(self.engine)

    # -- intake ----------------------------------------------------------------------------------------------
    def submit(self, draft: ReportDraft, idempotency_key: str, user: UserRef | None = None,
               actor: str = "wechat") -> Submitted:
        """File a report from `user` (None: the center's own report), or return the one this key already filed."""
        if not idempotency_key or len(idempotency_key) > 128:
            raise DispatchError("an Idempotency-Key of 1..128 characters is required", 400)
        if draft.missing():
            raise DispatchError(f"report lacks {', '.join(draft.missing())}", 422)
        for _ in range(5):
            with self.sessions() as s:
                existing = s.scalar(select(Report).where(Report.idempotency_key == idempotency_key))
                if existing is not None:
                    return Submitted(_same_or_refuse(to_json(existing), draft, user), False)
                try:
                    report = self._insert(s, draft, idempotency_key, user, actor)
                    s.commit()
                    return Submitted(to_json(report), True)
                except IntegrityError:  # the same key (or ticket) committed by a concurrent request: read it back
                    s.rollback()
        raise DispatchError("could not store the report after several conflicts", 503)

    def _insert(self, s: Session, draft: ReportDraft, key: str, user: UserRef | None, actor: str) -> Report:
        now = _now()
        day = now.astimezone(CHONGQING).strftime("%Y%m%d")
        counter = s.get(TicketCounter, day, with_for_update=True)
        if counter is None:
            counter = TicketCounter(day=day, last=0)
            s.add(counter)
        counter.last += 1
        loc = draft.location
        report = Report(
            ticket=f"GW{day}-{counter.last:04d}", idempotency_key=key, category=draft.category,
            location_text=loc.text, latitude=loc.latitude, longitude=loc.longitude, location_label=loc.label,
            grid=loc.grid, description=draft.description, photos=list(draft.photos), occurred_at=draft.occurred_at,
            urgency=draft.urgency, contact=draft.contact, status="submitted", created_at=now, updated_at=now,
            channel=user.channel if user else None, user_ref=user.ref if user else None,
        )
        s.add(report)
        s.flush()
        s.add(ReportEvent(report_id=report.id, at=now, kind="created", to_status="submitted", actor=actor))
        if self.outbox_enabled:
            s.add(Outbox(report_id=report.id, kind="dispatch", payload={"idempotency_key": key}, attempts=0,
                         next_at=now))
        return report

    # -- reads -----------------------------------------------------------------------------------------------
    def get(self, ref: int | str, events: bool = True) -> dict[str, Any] | None:
        with self.sessions() as s:
            r = self._find(s, ref)
            return None if r is None else to_json(r, events)

    def _find(self, s: Session, ref: int | str) -> Report | None:
        if isinstance(ref, int) or str(ref).isdigit():
            return s.get(Report, int(ref))
        return s.scalar(select(Report).where(Report.ticket == str(ref).upper()))

    def listing(self, status: str | None = None, grid: str | None = None, category: str | None = None,
                user: UserRef | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Reports, newest first, filtered by status, grid, category and who reported them (a resident's own)."""
        q = select(Report).order_by(Report.id.desc()).limit(limit).offset(offset)
        for column, value in ((Report.status, status), (Report.grid, grid), (Report.category, category)):
            if value:
                q = q.where(column == value)
        if user is not None:
            q = q.where(Report.channel == user.channel, Report.user_ref == user.ref)
        with self.sessions() as s:
            return [to_json(r) for r in s.scalars(q)]

    # -- changes ---------------------------------------------------------------------------------------------
    def update(self, ref: int | str, actor: str, status: str | None = None, note: str | None = None,
               rating: int | None = None) -> dict[str, Any]:
        with self.sessions() as s:
            r = self._find(s, ref)
            if r is None:
                raise DispatchError(f"no report {ref}", 404)
            s.refresh(r, with_for_update=True)
            now = _now()
            changed = None
            if status is not None and status != r.status:
                if status not in TRANSITIONS.get(r.status, frozenset()):
                    raise DispatchError(f"cannot go from {r.status} to {status}", 409)
                s.add(ReportEvent(report_id=r.id, at=now, kind="status", from_status=r.status, to_status=status,
                                  note=note, actor=actor))
                r.status, changed = status, status
            elif note:
                s.add(ReportEvent(report_id=r.id, at=now, kind="note", note=note, actor=actor))
            if rating is not None:
                resolved = r.status == "resolved" or (r.status == "closed" and any(
                    e.kind == "status" and e.to_status == "resolved" for e in r.events))
                if not 1 <= rating <= 5 or not resolved:  # a report closed without being resolved is not rated
                    raise DispatchError("a rating is 1..5 and only for a resolved report", 409)
                r.rating = rating
                s.add(ReportEvent(report_id=r.id, at=now, kind="rating", note=str(rating), actor=actor))
            r.updated_at = now
            if changed and r.user_ref:
                s.add(Outbox(report_id=r.id, kind="notify", payload={"status": changed, "note": note or ""},
                             attempts=0, next_at=now))
            s.commit()
            out = to_json(r, events=True)
        return out

    # -- outbox ----------------------------------------------------------------------------------------------
    def due(self, kind: str, limit: int = 20, channels: Collection[str] | None = None,
            ) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
        """(outbox id, payload, report) of undelivered rows whose time has come; with `channels`, only rows of
        reports that came through one of them (the notices someone can send)."""
        q = (select(Outbox).where(Outbox.kind == kind, Outbox.delivered_at.is_(None), Outbox.next_at <= _now())
             .order_by(Outbox.id).limit(limit))
        if channels is not None:
            q = q.join(Report, Report.id == Outbox.report_id).where(Report.channel.in_(list(channels)))
        with self.sessions() as s:
            return [(o.id, dict(o.payload), to_json(s.get(Report, o.report_id))) for o in s.scalars(q).all()]  # type: ignore[arg-type]

    def stranded(self, kind: str, channels: Collection[str], limit: int = 20) -> list[tuple[int, dict[str, Any]]]:
        """(outbox id, report) of undelivered rows of reports whose channel is none of `channels`: notices nobody
        here can send; they wait for that channel to be configured."""
        q = (select(Outbox, Report).join(Report, Report.id == Outbox.report_id)
             .where(Outbox.kind == kind, Outbox.delivered_at.is_(None),
                    or_(Report.channel.is_(None), Report.channel.not_in(list(channels))))
             .order_by(Outbox.id).limit(limit))
        with self.sessions() as s:
            return [(o.id, to_json(r)) for o, r in s.execute(q).all()]

    def lease(self, outbox_id: int, seconds: float) -> bool:
        """Take an outbox row for `seconds` (one sender at a time across processes); False when another has it."""
        now = _now()
        with self.sessions() as s:
            result = s.execute(
                update(Outbox).where(Outbox.id == outbox_id, Outbox.delivered_at.is_(None), Outbox.next_at <= now)
                .values(next_at=now + timedelta(seconds=seconds))
            )
            s.commit()
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def delivered(self, outbox_id: int, actor: str) -> None:
        with self.sessions() as s:
            o = s.get(Outbox, outbox_id)
            if o is None or o.delivered_at is not None:
                return
            o.delivered_at = _now()
            s.add(ReportEvent(report_id=o.report_id, at=o.delivered_at, kind="delivered", note=o.kind, actor=actor))
            s.commit()

    def failed(self, outbox_id: int, error: str, base_s: float = 1.0, cap_s: float = 300.0) -> None:
        with self.sessions() as s:
            o = s.get(Outbox, outbox_id)
            if o is None:
                return
            o.attempts += 1
            o.last_error = error[:500]
            o.next_at = _now() + timedelta(seconds=min(cap_s, base_s * 2 ** min(o.attempts, 16)))
            s.commit()

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
