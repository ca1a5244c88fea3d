"""inbox: read state per person, and a unit's inbox read a page at a time by id

``inbox_read`` (item, username, when): who has read which item, so one mediator reading an item
leaves it unread for the colleagues. The first reader each item had (``inbox_item.read_at`` /
``read_by``) moves into it; those two columns stay, no longer written. ``inbox_read_through``
(person, unit, item id): "mark all read" as one row, everything up to that item read. The inbox's index becomes
(unit, id) with the columns every reader's filter needs included (PostgreSQL), so a page and the
counts of a town's 100,000 items are read from the index; and ``ix_cases_sensitive`` lists the
few sensitive cases whose items the inbox hides from readers outside their units.

Revision ID: 0018_inbox
Revises: 0017_mediators
Create Date: 2026-12-07 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_inbox"
down_revision: str | None = "0017_mediators"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inbox_read",
        sa.Column("item_id", BigId, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["inbox_item.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", "username"),
    )
    with op.batch_alter_table("inbox_read", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_read_username", ["username", "item_id"], unique=False)
    op.create_table(
        "inbox_read_through",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("item_id", BigId, nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", "unit_code"),
    )
    op.execute(
        "INSERT INTO inbox_read (item_id, username, read_at) SELECT id, read_by, read_at FROM inbox_item"
        " WHERE read_at IS NOT NULL AND read_by IS NOT NULL"
    )
    with op.batch_alter_table("inbox_item", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_unit_created")
        batch_op.create_index(
            "ix_inbox_unit_id",
            ["unit_code", "id"],
            unique=False,
            postgresql_include=["case_id", "kind", "audience", "addressee", "caused_by"],
        )
    # The inbox hides items about sensitive cases from readers outside their units: the few
    # sensitive cases, read from this index instead of a scan of every case.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_sensitive",
            ["unit_code", "id"],
            unique=False,
            postgresql_where=sa.text("sensitive"),
            sqlite_where=sa.text("sensitive"),
        )


def downgrade() -> None:
    # The first reader of each item goes back to the item.
    op.execute(
        "UPDATE inbox_item SET read_at = r.read_at, read_by = r.username FROM"
        " (SELECT item_id, min(read_at) AS read_at, min(username) AS username FROM inbox_read"
        " GROUP BY item_id) AS r WHERE r.item_id = inbox_item.id AND inbox_item.read_at IS NULL"
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_sensitive")
    with op.batch_alter_table("inbox_item", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_unit_id")
        batch_op.create_index("ix_inbox_unit_created", ["unit_code", "created_at"], unique=False)
    with op.batch_alter_table("inbox_read", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_read_username")
    op.drop_table("inbox_read")
    op.drop_table("inbox_read_through")
