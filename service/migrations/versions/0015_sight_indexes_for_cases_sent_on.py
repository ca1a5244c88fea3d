"""indexes for the cases a unit sent on

A unit that sent a case on (registered it where triage sent it elsewhere, dispatched, escalated,
handed off, delegated or referred it to the court) keeps a read-only view of it. Who sent a case is
read from its audit events; these partial indexes hold only the events that sent a case away, so a
unit's "sent by us" list reads its own entries instead of scanning the trail.

Revision ID: 0015_sight
Revises: 0014_crime_reports
Create Date: 2026-12-07 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_sight"
down_revision: str | None = "0014_crime_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SENT_FROM = "kind = 'transition' AND from_unit_code <> to_unit_code"
REGISTERED_ELSEWHERE = "kind = 'created' AND actor_unit_code <> to_unit_code"


def upgrade() -> None:
    op.create_index(
        "ix_case_event_sent_from",
        "case_event",
        ["from_unit_code", "trigger", "case_id"],
        postgresql_where=sa.text(SENT_FROM),
        sqlite_where=sa.text(SENT_FROM),
    )
    op.create_index(
        "ix_case_event_registered_elsewhere",
        "case_event",
        ["actor_unit_code", "case_id"],
        postgresql_where=sa.text(REGISTERED_ELSEWHERE),
        sqlite_where=sa.text(REGISTERED_ELSEWHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_case_event_registered_elsewhere", table_name="case_event")
    op.drop_index("ix_case_event_sent_from", table_name="case_event")
