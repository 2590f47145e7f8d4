"""reports keyed by (channel, user reference) instead of WeChat's openid

Revision ID: 0003
Revises: 0002

Every row is kept: `openid` becomes `user_ref` (widened to 128 characters for other channels' ids) and a report that
had an openid gets channel "wechat" (an empty openid, which never reached anyone, becomes none). Batch mode, so
that SQLite (which cannot alter a column in place) copies the table and PostgreSQL alters it.
Downgrade keeps every row too, but only WeChat's references fit the old column: a report from another channel
loses its reporter (its status notices could not reach anyone under an openid anyway).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_reports_openid", table_name="reports")
    with op.batch_alter_table("reports") as batch:
        batch.alter_column("openid", new_column_name="user_ref", existing_type=sa.String(64), type_=sa.String(128),
                           existing_nullable=True)
        batch.add_column(sa.Column("channel", sa.String(32), nullable=True))
    op.create_index("ix_reports_channel_user_ref", "reports", ["channel", "user_ref"])  # after the copy: SQLite
    op.execute("UPDATE reports SET user_ref = NULL WHERE user_ref = ''")  # an empty openid always meant nobody
    op.execute("UPDATE reports SET channel = 'wechat' WHERE user_ref IS NOT NULL")


def downgrade() -> None:
    op.execute("UPDATE reports SET user_ref = NULL WHERE channel IS NULL OR channel <> 'wechat'")
    op.drop_index("ix_reports_channel_user_ref", table_name="reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("channel")
        batch.alter_column("user_ref", new_column_name="openid", existing_type=sa.String(128), type_=sa.String(64),
                           existing_nullable=True)
    op.create_index("ix_reports_openid", "reports", ["openid"])
