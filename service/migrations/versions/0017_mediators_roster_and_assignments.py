"""mediators: the roster, the units each serves, who handles each case, choices and withdrawals

``mediator`` (a person on a roster, with or without a sign-in; ID number and phone sealed, with
their blind indexes), ``mediator_unit`` (the units a mediator serves), ``case_mediator`` (every
assignment, current and past: one current lead per case) and ``mediator_decision`` (a party's
choice or refusal of a mediator, a mediator's withdrawal for a conflict).

Revision ID: 0017_mediators
Revises: 0016_intake
Create Date: 2026-12-07 07:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017_mediators"
down_revision: str | None = "0016_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "mediator",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("employment", sa.String(length=16), nullable=False),
        sa.Column("specialties", JSON, nullable=False),
        sa.Column("languages", JSON, nullable=False),
        sa.Column("qualifications", sa.Text(), server_default="", nullable=False),
        sa.Column("grade", sa.String(length=32), nullable=False),
        sa.Column("court_roster_no", sa.String(length=64), nullable=True),
        sa.Column("court_roster_from", sa.Date(), nullable=True),
        sa.Column("court_roster_until", sa.Date(), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("id_number_index", sa.String(length=64), nullable=True),
        sa.Column("phone_index", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mediator", schema=None) as batch_op:
        batch_op.create_index("ix_mediator_active_name", ["active", "name"], unique=False)
        batch_op.create_index("ix_mediator_id_number_index", ["id_number_index"], unique=False)
        batch_op.create_index("ix_mediator_phone_index", ["phone_index"], unique=False)
        batch_op.create_index(
            "ux_mediator_user",
            ["user_id"],
            unique=True,
            postgresql_where=sa.text("user_id IS NOT NULL"),
            sqlite_where=sa.text("user_id IS NOT NULL"),
        )

    op.create_table(
        "mediator_unit",
        sa.Column("mediator_id", BigId, nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["mediator_id"], ["mediator.id"]),
        sa.ForeignKeyConstraint(["unit_code"], ["unit.code"]),
        sa.PrimaryKeyConstraint("mediator_id", "unit_code"),
    )
    with op.batch_alter_table("mediator_unit", schema=None) as batch_op:
        batch_op.create_index("ix_mediator_unit_unit", ["unit_code", "mediator_id"], unique=False)

    op.create_table(
        "case_mediator",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("mediator_id", BigId, nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("end", sa.String(length=16), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["mediator_id"], ["mediator.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_mediator", schema=None) as batch_op:
        batch_op.create_index("ix_case_mediator_case", ["case_id", "assigned_at"], unique=False)
        batch_op.create_index(
            "ix_case_mediator_current",
            ["mediator_id", "case_id"],
            unique=False,
            postgresql_where=sa.text("ended_at IS NULL"),
            sqlite_where=sa.text("ended_at IS NULL"),
        )
        batch_op.create_index(
            "ux_case_mediator_lead",
            ["case_id"],
            unique=True,
            postgresql_where=sa.text("ended_at IS NULL AND role = 'lead'"),
            sqlite_where=sa.text("ended_at IS NULL AND role = 'lead'"),
        )
        batch_op.create_index(
            "ux_case_mediator_once",
            ["case_id", "mediator_id"],
            unique=True,
            postgresql_where=sa.text("ended_at IS NULL"),
            sqlite_where=sa.text("ended_at IS NULL"),
        )

    op.create_table(
        "mediator_decision",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("mediator_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("ground", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["mediator_id"], ["mediator.id"]),
        sa.ForeignKeyConstraint(["party_id"], ["party.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mediator_decision", schema=None) as batch_op:
        batch_op.create_index("ix_mediator_decision_case", ["case_id", "mediator_id"], unique=False)

    with op.batch_alter_table("inbox_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("addressee", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("caused_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox_item", schema=None) as batch_op:
        batch_op.drop_column("caused_by")
        batch_op.drop_column("addressee")
    op.drop_table("mediator_decision")
    op.drop_table("case_mediator")
    op.drop_table("mediator_unit")
    op.drop_table("mediator")
