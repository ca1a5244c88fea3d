"""screening: the screening register (排查 rounds and the cases they registered), the periods a
station was flagged for, and major-dispute reports with acknowledgement and escalation

Revision ID: 0027_screening
Revises: 0024_documents
Create Date: 2026-12-07 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0027_screening"
down_revision: str | None = "0028_filings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "screening_round",
        sa.Column("id", BigId, nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("held_at", When, nullable=False),
        sa.Column("place", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("participants", JSON, nullable=False),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("nothing_found", sa.Boolean(), nullable=False),
        sa.Column("disputes_found", sa.Integer(), nullable=False),
        sa.Column("disputes_prevented", sa.Integer(), nullable=False),
        sa.Column("recorded_at", When, nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_by_role", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("screening_round", schema=None) as batch_op:
        batch_op.create_index("ix_screening_round_unit", ["unit_code", "held_at", "id"], unique=False)
        batch_op.create_index("ix_screening_round_held", ["held_at", "id"], unique=False)
        batch_op.create_index("ux_screening_round_key", ["recorded_by", "idempotency_key"], unique=True)
    op.create_table(
        "screening_case",
        sa.Column("round_id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["screening_round.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("round_id", "case_id"),
    )
    with op.batch_alter_table("screening_case", schema=None) as batch_op:
        batch_op.create_index("ix_screening_case_case", ["case_id"], unique=False)
    op.create_table(
        "screening_missing",
        sa.Column("id", BigId, nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("told_unit_code", sa.String(length=32), nullable=False),
        sa.Column("flagged_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_code", "period", name="ux_screening_missing_period"),
    )
    op.create_table(
        "major_report",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("round_id", BigId, nullable=True),
        sa.Column("from_unit_code", sa.String(length=32), nullable=False),
        sa.Column("town_code", sa.String(length=32), nullable=True),
        sa.Column("city_code", sa.String(length=32), nullable=False),
        *(
            sa.Column(f"risk_{risk}", sa.Boolean(), nullable=False)
            for risk in ("major", "group", "crime", "suicide", "group_fight", "mass_incident")
        ),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("reported_at", When, nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("reported_by_role", sa.String(length=32), nullable=False),
        sa.Column("acknowledged_at", When, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_unit_code", sa.String(length=32), nullable=True),
        sa.Column("escalated_at", When, nullable=True),
        sa.Column("occurred_at", When, nullable=True),
        sa.Column("occurred_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["round_id"], ["screening_round.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("major_report", schema=None) as batch_op:
        batch_op.create_index("ix_major_report_case", ["case_id"], unique=False)
        batch_op.create_index("ix_major_report_from", ["from_unit_code", "reported_at"], unique=False)
        batch_op.create_index("ix_major_report_reported", ["reported_at", "id"], unique=False)
        batch_op.create_index(
            "ix_major_report_open",
            ["reported_at"],
            unique=False,
            postgresql_where=sa.text("acknowledged_at IS NULL AND escalated_at IS NULL"),
            sqlite_where=sa.text("acknowledged_at IS NULL AND escalated_at IS NULL"),
        )


def downgrade() -> None:
    op.drop_table("major_report")
    op.drop_table("screening_missing")
    op.drop_table("screening_case")
    op.drop_table("screening_round")
