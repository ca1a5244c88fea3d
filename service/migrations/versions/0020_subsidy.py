"""subsidy: the 以案定补 ledger (approved months, the cases they paid, each mediator's lines)

``subsidy_month`` (one approved month per unit), ``subsidy_case`` (a paid case, unique: a case
pays once) and ``subsidy_line`` (a mediator's share of a case, or a correction with its reason).

Revision ID: 0020_subsidy
Revises: 0019_case_senders
Create Date: 2026-12-07 09:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020_subsidy"
down_revision: str | None = "0019_case_senders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "subsidy_month",
        sa.Column("id", BigId, nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=False),
        sa.Column("total_yuan", sa.Numeric(14, 2), nullable=False),
        sa.Column("rules", JSON, nullable=False),
        sa.ForeignKeyConstraint(["unit_code"], ["unit.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_code", "month", name="uq_subsidy_month_unit_month"),
    )
    op.create_table(
        "subsidy_case",
        sa.Column("id", BigId, nullable=False),
        sa.Column("month_id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("case_number", sa.String(length=32), nullable=False),
        sa.Column("dispute_type", sa.String(length=40), nullable=False),
        sa.Column("difficulty", sa.String(length=16), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_yuan", sa.Numeric(12, 2), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["month_id"], ["subsidy_month.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", name="uq_subsidy_case_case"),
    )
    with op.batch_alter_table("subsidy_case", schema=None) as batch_op:
        batch_op.create_index("ix_subsidy_case_month", ["month_id"], unique=False)
    op.create_table(
        "subsidy_line",
        sa.Column("id", BigId, nullable=False),
        sa.Column("month_id", BigId, nullable=False),
        sa.Column("mediator_id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=True),
        sa.Column("amount_yuan", sa.Numeric(12, 2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["mediator_id"], ["mediator.id"]),
        sa.ForeignKeyConstraint(["month_id"], ["subsidy_month.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subsidy_line", schema=None) as batch_op:
        batch_op.create_index("ix_subsidy_line_month", ["month_id", "mediator_id"], unique=False)
        batch_op.create_index("ix_subsidy_line_mediator", ["mediator_id"], unique=False)


def downgrade() -> None:
    op.drop_table("subsidy_line")
    op.drop_table("subsidy_case")
    op.drop_table("subsidy_month")
