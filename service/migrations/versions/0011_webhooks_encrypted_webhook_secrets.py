"""webhook secrets encrypted at rest: room for the ciphertext

Revision ID: 0011_webhooks
Revises: 0010_audit_key
Create Date: 2026-12-02 10:00:00.000000

The secret column becomes TEXT: a sealed secret (``v1:<kid>:<base64 nonce+ciphertext+tag>``) is
longer than the 200 characters a clear one had. The encryption of the rows already there needs
the data key, which a migration does not have: ``jiefen migrate`` (and ``jiefen serve`` before
it starts) runs ``service.notifications.secrets.seal_secrets`` right after the schema is at head,
and until then the clear secrets are read as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_webhooks"
down_revision: str | None = "0010_audit_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.VARCHAR(length=200), type_=sa.Text(), existing_nullable=False
        )


def downgrade() -> None:
    # Sealed secrets do not fit the old column: a downgrade needs them back in clear first.
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.Text(), type_=sa.VARCHAR(length=200), existing_nullable=False
        )
