"""sign-in pairs and machine-token expiry

The sign-in throttle counts (username, address) pairs as well: ``account`` names the username of a
``user`` or ``pair`` row, so an administrator's unlock finds every counter of an account.

Machine tokens now always expire. Those issued without an expiry get one GRACE after the upgrade
(the default lifetime of a new machine token): the systems using them keep working meanwhile, and
an operator issues their replacements with `jiefen tokens create` before then. The downgrade keeps
those expiries: it cannot tell them from ones given on purpose.

Revision ID: 0013_signin
Revises: 0012_auditor
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0013_signin"
down_revision: str | None = "0012_auditor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRACE = timedelta(days=90)

throttle = sa.table(
    "sign_in_throttle",
    sa.column("scope", sa.String),
    sa.column("subject", sa.String),
    sa.column("account", sa.String),
)
tokens = sa.table(
    "api_token",
    sa.column("kind", sa.String),
    sa.column("expires_at", sa.DateTime(timezone=True)),
    sa.column("revoked_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("sign_in_throttle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account", sa.String(length=128), nullable=True))
        batch_op.create_index("ix_sign_in_throttle_account", ["account"], unique=False)
    op.execute(throttle.update().where(throttle.c.scope == "user").values(account=throttle.c.subject))

    expires_at = datetime.now(UTC) + GRACE
    if op.get_bind().dialect.name == "sqlite":
        expires_at = expires_at.replace(tzinfo=None)  # the service keeps UTC without a zone there
    op.execute(
        tokens.update()
        .where(tokens.c.kind == "machine", tokens.c.expires_at.is_(None), tokens.c.revoked_at.is_(None))
        .values(expires_at=expires_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("sign_in_throttle", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_in_throttle_account")
        batch_op.drop_column("account")
