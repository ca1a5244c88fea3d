"""indexes for the MoJ report counted in SQL

The MoJ report (service.moj.queries) selects, per case, the first transition of a trigger in a
window at the units in scope: ``ix_case_event_moj`` holds the transitions by trigger, unit and
time with their case, so a month or a year of one trigger is one range of the index per unit in
scope (a town reads its own units' entries, not the city's), not a scan of the trail. Whether a case was delegated by the court before a window's end (its 委托
source) is a lookup in ``ix_case_event_delegated``, which holds only the delegations.

Revision ID: 0030_moj_indexes
Revises: 0028_filings
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_moj_indexes"
down_revision: str | None = "0025_dossier"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRANSITIONS = "kind = 'transition'"
DELEGATIONS = "trigger = 'delegate'"


def upgrade() -> None:
    op.create_index(
        "ix_case_event_moj",
        "case_event",
        ["trigger", "from_unit_code", "at", "case_id"],
        postgresql_where=sa.text(TRANSITIONS),
        sqlite_where=sa.text(TRANSITIONS),
    )
    op.create_index(
        "ix_case_event_delegated",
        "case_event",
        ["case_id", "at"],
        postgresql_where=sa.text(DELEGATIONS),
        sqlite_where=sa.text(DELEGATIONS),
    )


def downgrade() -> None:
    op.drop_index("ix_case_event_delegated", table_name="case_event")
    op.drop_index("ix_case_event_moj", table_name="case_event")
