"""sensitive case flags

Revision ID: 0008_sensitive
Revises: 0007_signin
Create Date: 2026-11-26 11:34:27.796254
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_sensitive"
down_revision: str | None = "0007_signin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flag_minor", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("flag_health", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(
            sa.Column("flag_financial", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("sensitive", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("sensitive")
        batch_op.drop_column("flag_financial")
        batch_op.drop_column("flag_health")
        batch_op.drop_column("flag_minor")
