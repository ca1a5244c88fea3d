"""indexes for one case's senders, keyed by the case

Every read of a case (and so every transition) gathers the units that sent it on from its own
events. The partial indexes of 0015 lead with the sending unit, for a unit's "sent by us" list;
read by case they were scanned whole, or the case's whole trail was read instead (thousands of
events for a long-lived case). These hold the same few events keyed by the case, so one case's
senders are an index lookup whatever the size of the trail.

Revision ID: 0019_case_senders
Revises: 0018_inbox
Create Date: 2026-12-07 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_case_senders"
down_revision: str | None = "0018_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SENT_FROM = "kind = 'transition' AND from_unit_code <> to_unit_code"
REGISTERED_ELSEWHERE = "kind = 'created' AND actor_unit_code <> to_unit_code"


def upgrade() -> None:
    op.create_index(
        "ix_case_event_case_sent",
        "case_event",
        ["case_id", "from_unit_code"],
        postgresql_where=sa.text(SENT_FROM),
        sqlite_where=sa.text(SENT_FROM),
    )
    op.create_index(
        "ix_case_event_case_registered_elsewhere",
        "case_event",
        ["case_id", "actor_unit_code"],
        postgresql_where=sa.text(REGISTERED_ELSEWHERE),
        sqlite_where=sa.text(REGISTERED_ELSEWHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_case_event_case_registered_elsewhere", table_name="case_event")
    op.drop_index("ix_case_event_case_sent", table_name="case_event")
