"""Deadlines are rows, not scheduler jobs (docs/architecture.md, "Deadlines are rows"): the sweep reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from service.db import JSONType, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class Deadline(SQLModel, table=True):
    __tablename__ = "deadline"
    __table_args__ = (
        Index("ix_deadline_case", "case_id"),
        # The sweep's two questions, answered from small partial indexes over live clocks only.
        Index(
            "ix_deadline_due_active",
            "due_at",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        # Breached clocks by case: the overdue figures and lists (migration 0029_city).
        Index(
            "ix_deadline_breached_case",
            "case_id",
            postgresql_where=text("status = 'breached'"),
            sqlite_where=text("status = 'breached'"),
        ),
        Index(
            "ix_deadline_warn_active",
            "warn_at",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), nullable=False))
    kind: str = Field(max_length=40)  # the policy kind
    unit_code: str = Field(max_length=32)  # the unit the clock runs against
    status: str = Field(max_length=16)  # active | paused | breached | met | cancelled
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    warn_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    warnings: list[Any] = Field(sa_column=Column(JSONType, nullable=False))  # pending [level, iso time]
    paused_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    extensions: list[Any] = Field(sa_column=Column(JSONType, nullable=False))  # recorded extensions
    breached_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class DeadlineAction(SQLModel, table=True):
    """One row per warning or breach actually taken: the unique key makes a repeat impossible."""

    __tablename__ = "deadline_action"
    __table_args__ = (UniqueConstraint("deadline_id", "action", "level", name="uq_deadline_action_once"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    deadline_id: int = Field(sa_column=Column(BigId, ForeignKey("deadline.id"), nullable=False))
    action: str = Field(max_length=16)  # warn | breach
    level: str = Field(max_length=32)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    result: str = Field(default="", sa_column=Column(String(200), nullable=False, server_default=""))
