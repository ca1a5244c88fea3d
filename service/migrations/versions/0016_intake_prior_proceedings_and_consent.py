"""intake: prior proceedings, the parties' consent, the last performance finding

Three nullable columns on ``cases``: ``prior_proceedings`` (the intake's declaration whether a
court, police, petition office or other authority had already accepted the matter), ``consents``
(each party's consent or refusal, as recorded) and ``performance`` (the last follow-up's finding).
Cases registered before stay NULL: they were not asked, which does not bar their acceptance, and
the keyed digest leaves an empty fact out, so their signed trails still verify.

Revision ID: 0016_intake
Revises: 0015_sight
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016_intake"
down_revision: str | None = "0015_sight"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("prior_proceedings", JSON, nullable=True))
        batch.add_column(sa.Column("consents", JSON, nullable=True))
        batch.add_column(sa.Column("performance", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("performance")
        batch.drop_column("consents")
        batch.drop_column("prior_proceedings")
