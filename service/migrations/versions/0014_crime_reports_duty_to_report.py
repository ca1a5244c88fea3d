"""crime reports: the duty to report a risk of crime (人民调解法 art. 25)

One row per report to one receiving unit, with its acknowledgement; the texts are sealed with
the data key.

Revision ID: 0014_crime_reports
Revises: 0013_signin
Create Date: 2026-12-07 04:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_crime_reports"
down_revision: str | None = "0013_signin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "crime_report",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("raised_by", sa.String(length=16), nullable=False),
        sa.Column("from_unit_code", sa.String(length=32), nullable=False),
        sa.Column("to_unit_code", sa.String(length=32), nullable=False),
        sa.Column("addressee", sa.String(length=16), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("reported_by_role", sa.String(length=32), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("preventive_steps", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("overdue_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("crime_report", schema=None) as batch_op:
        batch_op.create_index("ix_crime_report_case", ["case_id"], unique=False)
        batch_op.create_index("ix_crime_report_to_unit", ["to_unit_code", "reported_at"], unique=False)
        batch_op.create_index("ix_crime_report_from_unit", ["from_unit_code", "reported_at"], unique=False)
        batch_op.create_index(
            "ix_crime_report_open",
            ["reported_at"],
            unique=False,
            postgresql_where=sa.text("acknowledged_at IS NULL"),
            sqlite_where=sa.text("acknowledged_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("crime_report", schema=None) as batch_op:
        batch_op.drop_index("ix_crime_report_open")
        batch_op.drop_index("ix_crime_report_from_unit")
        batch_op.drop_index("ix_crime_report_to_unit")
        batch_op.drop_index("ix_crime_report_case")
    op.drop_table("crime_report")
