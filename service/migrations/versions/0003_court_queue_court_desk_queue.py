"""court desk queue

Revision ID: 0003_court_queue
Revises: 0002_deadlines
Create Date: 2026-11-26 10:59:52.166836
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_court_queue"
down_revision: str | None = "0002_deadlines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="3", nullable=False))
        batch_op.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_cases_court_lease",
            ["lease_expires_at"],
            unique=False,
            postgresql_where=sa.text("state = 'in_court'"),
            sqlite_where=sa.text("state = 'in_court'"),
        )
        batch_op.create_index(
            "ix_cases_court_queue",
            ["priority", "queued_at", "id"],
            unique=False,
            postgresql_where=sa.text("state = 'referred'"),
            sqlite_where=sa.text("state = 'referred'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_cases_court_queue",
            postgresql_where=sa.text("state = 'referred'"),
            sqlite_where=sa.text("state = 'referred'"),
        )
        batch_op.drop_index(
            "ix_cases_court_lease",
            postgresql_where=sa.text("state = 'in_court'"),
            sqlite_where=sa.text("state = 'in_court'"),
        )
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("queued_at")
        batch_op.drop_column("priority")
