"""hash chains for the audit trail

Revision ID: 0006_audit_chain
Revises: 0005_privacy
Create Date: 2026-11-26 11:28:05.666540
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_audit_chain"
down_revision: str | None = "0005_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_chain",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # The security-event chain starts empty; writers move its head forward.
    op.bulk_insert(
        sa.table(
            "audit_chain",
            sa.column("name", sa.String),
            sa.column("seq", sa.Integer),
            sa.column("last_hash", sa.String),
            sa.column("anchor_hash", sa.String),
        ),
        [{"name": "security", "seq": 0, "last_hash": "", "anchor_hash": ""}],
    )
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))

    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")

    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")

    op.drop_table("audit_chain")
