"""keyed audit trail, expiring idempotency keys

Each case event carries the keyed digest of the case as it left it. The keyed hashes themselves
are written by `jiefen migrate` after the schema (service.integrity.backfill.sign_trail), since
the audit key is not in the database.

Revision ID: 0010_audit_key
Revises: 0009_lists
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_audit_key"
down_revision: str | None = "0009_lists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_event") as batch:
        batch.add_column(sa.Column("case_digest", sa.String(length=64), nullable=True))
    # The sweep forgets expired Idempotency-Keys by age.
    op.create_index("ix_idempotency_key_created_at", "idempotency_key", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_key_created_at", table_name="idempotency_key")
    with op.batch_alter_table("case_event") as batch:
        batch.drop_column("case_digest")
