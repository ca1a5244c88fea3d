"""indexes for case lists

A unit's cases (and the whole city's) newest activity first, the court-linked cases the court desk follows, and the
hand-offs a unit sent: each list branch reads its own index instead of scanning every case.

Revision ID: 0009_lists
Revises: 0008_sensitive
Create Date: 2026-11-26 14:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_lists"
down_revision: str | None = "0008_sensitive"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_unit_updated", "cases", ["unit_code", "updated_at", "id"])
    op.create_index("ix_cases_updated", "cases", ["updated_at", "id"])
    op.create_index(
        "ix_cases_court_linked_updated",
        "cases",
        ["updated_at", "id"],
        postgresql_where=sa.text("court_linked"),
        sqlite_where=sa.text("court_linked"),
    )
    op.create_index("ix_referral_from_unit", "referral", ["from_unit_code"])


def downgrade() -> None:
    op.drop_index("ix_referral_from_unit", table_name="referral")
    op.drop_index("ix_cases_court_linked_updated", table_name="cases")
    op.drop_index("ix_cases_updated", table_name="cases")
    op.drop_index("ix_cases_unit_updated", table_name="cases")
