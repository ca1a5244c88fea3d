"""role grants and auditor alerts

Granting a role above a mediator's waits for a second administrator (role_grant); alerts to the
auditors are inbox items with no case, seen by auditors only, deduplicated by a key; the security
log is read by person and time.

Revision ID: 0012_auditor
Revises: 0011_webhooks
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_auditor"
down_revision: str | None = "0011_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "role_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("previous_role", sa.String(length=32), nullable=True),
        sa.Column("previous_unit_code", sa.String(length=32), nullable=True),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_role_grant_status_requested", "role_grant", ["status", "requested_at"])
    op.create_index(
        "ux_role_grant_pending_user",
        "role_grant",
        ["username"],
        unique=True,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    with op.batch_alter_table("inbox_item", schema=None) as batch_op:
        batch_op.alter_column("case_id", existing_type=BIG_ID, nullable=True)
        batch_op.add_column(sa.Column("audience", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=200), nullable=True))
        batch_op.create_index("ux_inbox_dedupe_key", ["dedupe_key"], unique=True)
    op.create_index("ix_security_event_actor_at", "security_event", ["actor", "at"])


def downgrade() -> None:
    op.drop_index("ix_security_event_actor_at", table_name="security_event")
    op.execute("DELETE FROM inbox_item WHERE case_id IS NULL")
    with op.batch_alter_table("inbox_item", schema=None) as batch_op:
        batch_op.drop_index("ux_inbox_dedupe_key")
        batch_op.drop_column("dedupe_key")
        batch_op.drop_column("audience")
        batch_op.alter_column("case_id", existing_type=BIG_ID, nullable=False)
    op.drop_index("ux_role_grant_pending_user", table_name="role_grant")
    op.drop_index("ix_role_grant_status_requested", table_name="role_grant")
    op.drop_table("role_grant")
