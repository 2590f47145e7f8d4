"""reports, report events, outbox, ticket counters

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket", sa.String(32), nullable=False, unique=True, index=True),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("openid", sa.String(64), index=True),
        sa.Column("category", sa.String(32), nullable=False, index=True),
        sa.Column("location_text", sa.String(200), nullable=False),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("location_label", sa.String(200)),
        sa.Column("grid", sa.String(64), index=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("photos", sa.JSON, nullable=False),
        sa.Column("occurred_at", sa.String(64)),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("contact", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("rating", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("idempotency_key", name="uq_reports_idempotency_key"),
    )
    op.create_table(
        "report_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False, index=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16)),
        sa.Column("note", sa.Text),
        sa.Column("actor", sa.String(64), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), index=True),
        sa.Column("last_error", sa.Text),
    )
    op.create_table(
        "ticket_counters",
        sa.Column("day", sa.String(8), primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("ticket_counters", "outbox", "report_events", "reports"):
        op.drop_table(table)
