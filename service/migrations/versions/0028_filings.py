"""filings: frozen monthly filings (报表报送), one row per version, never updated

``filing`` holds a unit's filed month — cells, the cases behind each cell, the town versions a
city filing consolidated — with their SHA-256. A trigger refuses UPDATE on both databases: a
correction is a new version, so nothing has reason to change a filed row.

Revision ID: 0028_filings
Revises: 0024_documents
Create Date: 2026-12-07 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0028_filings"
down_revision: str | None = "0025b_documents_more"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

FROZEN = "a filed month never changes: file a correction (a new version) instead"


def upgrade() -> None:
    op.create_table(
        "filing",
        sa.Column("id", BigId, nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filed_by", sa.String(length=64), nullable=False),
        sa.Column("cells", JSON, nullable=False),
        sa.Column("case_ids", JSON, nullable=False),
        sa.Column("sources", JSON, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("security_event_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["unit_code"], ["unit.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_code", "month", "version", name="uq_filing_unit_month_version"),
    )
    with op.batch_alter_table("filing", schema=None) as batch_op:
        batch_op.create_index("ix_filing_month", ["month"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION filing_frozen() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN RAISE EXCEPTION '{FROZEN}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER filing_frozen BEFORE UPDATE ON filing"
            " FOR EACH ROW EXECUTE FUNCTION filing_frozen()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER filing_frozen BEFORE UPDATE ON filing BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS filing_frozen ON filing")
        op.execute("DROP FUNCTION IF EXISTS filing_frozen()")
    op.drop_table("filing")
