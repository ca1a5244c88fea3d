"""sessions: the record of each mediation session on a case (调解笔录 / 调解记录)

Revision ID: 0021_sessions
Revises: 0020_subsidy
Create Date: 2026-12-07 10:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021_sessions"
down_revision: str | None = "0020_subsidy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "mediation_session",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("party_ids", JSON, nullable=False),
        sa.Column("agents", JSON, nullable=False),
        sa.Column("mediator_ids", JSON, nullable=False),
        sa.Column("others", JSON, nullable=False),
        sa.Column("statements", JSON, nullable=False),
        sa.Column("proposal", sa.Text(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("adjourned_to", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("corrected_by", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mediation_session_case", "mediation_session", ["case_id", "started_at"])
    op.create_index("ux_mediation_session_number", "mediation_session", ["case_id", "number"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_mediation_session_number", table_name="mediation_session")
    op.drop_index("ix_mediation_session_case", table_name="mediation_session")
    op.drop_table("mediation_session")
