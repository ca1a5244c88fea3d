"""dossier: a case file's bytes erased under retention (the row, its hash and its events stay)

Revision ID: 0025_dossier
Revises: 0028_filings
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_dossier"
down_revision: str | None = "0027_screening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_attachment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_attachment", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
