"""documents, more kinds: a session record (调解记录) names its session

Revision ID: 0025b_documents_more
Revises: 0024_documents
Create Date: 2026-12-07 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025b_documents_more"
down_revision: str | None = "0024_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("case_document", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", BigId, nullable=True))
        batch_op.create_foreign_key("fk_case_document_session", "mediation_session", ["session_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("case_document", schema=None) as batch_op:
        batch_op.drop_constraint("fk_case_document_session", type_="foreignkey")
        batch_op.drop_column("session_id")
