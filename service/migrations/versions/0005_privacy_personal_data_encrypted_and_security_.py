"""personal data encrypted and security events

Revision ID: 0005_privacy
Revises: 0004_referrals
Create Date: 2026-11-26 11:23:01.199070
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_privacy"
down_revision: str | None = "0004_referrals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "security_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("actor_unit_code", sa.String(length=32), nullable=True),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.create_index("ix_security_event_at", ["at"], unique=False)
        batch_op.create_index("ix_security_event_case", ["case_id"], unique=False)

    with op.batch_alter_table("party", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_number_index", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("phone_index", sa.String(length=64), nullable=True))
        batch_op.alter_column(
            "id_number", existing_type=sa.VARCHAR(length=64), type_=sa.Text(), existing_nullable=True
        )
        batch_op.alter_column(
            "phone", existing_type=sa.VARCHAR(length=32), type_=sa.Text(), existing_nullable=True
        )
        batch_op.alter_column(
            "address", existing_type=sa.VARCHAR(length=300), type_=sa.Text(), existing_nullable=True
        )
        batch_op.create_index(batch_op.f("ix_party_id_number_index"), ["id_number_index"], unique=False)
        batch_op.create_index(batch_op.f("ix_party_phone_index"), ["phone_index"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("party", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_phone_index"))
        batch_op.drop_index(batch_op.f("ix_party_id_number_index"))
        batch_op.alter_column(
            "address", existing_type=sa.Text(), type_=sa.VARCHAR(length=300), existing_nullable=True
        )
        batch_op.alter_column(
            "phone", existing_type=sa.Text(), type_=sa.VARCHAR(length=32), existing_nullable=True
        )
        batch_op.alter_column(
            "id_number", existing_type=sa.Text(), type_=sa.VARCHAR(length=64), existing_nullable=True
        )
        batch_op.drop_column("phone_index")
        batch_op.drop_column("id_number_index")

    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.drop_index("ix_security_event_case")
        batch_op.drop_index("ix_security_event_at")

    op.drop_table("security_event")
