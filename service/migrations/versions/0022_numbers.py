"""numbers: document and case-file numbers per unit, kind and year (counter and register)

``number_counter`` (the last number given per unit, kind and Asia/Shanghai year) and
``number_taken`` (every number given: unique per unit, kind, year and number; one case-file
number per case).

Revision ID: 0022_numbers
Revises: 0021_sessions
Create Date: 2026-12-07 10:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_numbers"
down_revision: str | None = "0021_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "number_counter",
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["unit_code"], ["unit.code"]),
        sa.PrimaryKeyConstraint("unit_code", "kind", "year"),
    )
    op.create_table(
        "number_taken",
        sa.Column("id", BigId, nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=80), nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["unit_code"], ["unit.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_code", "kind", "year", "number", name="uq_number_taken_number"),
    )
    with op.batch_alter_table("number_taken", schema=None) as batch_op:
        batch_op.create_index("ix_number_taken_case", ["case_id"], unique=False)
        batch_op.create_index(
            "uq_number_taken_case_file",
            ["case_id"],
            unique=True,
            sqlite_where=sa.text("kind = 'file'"),
            postgresql_where=sa.text("kind = 'file'"),
        )


def downgrade() -> None:
    op.drop_table("number_taken")
    op.drop_table("number_counter")
