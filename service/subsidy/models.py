"""The subsidy ledger: an approved month per unit, the cases it paid, and each mediator's lines.

A month is computed on demand from the closed cases until a coordinator approves it; approval
writes ``subsidy_month`` (one per unit and month: approving twice is refused by the key), one
``subsidy_case`` per paid case (``case_id`` unique: a case pays once, whichever month or unit
paid it) and one ``subsidy_line`` per mediator's share. Nothing is updated or deleted afterwards:
a correction is another ``subsidy_line`` (kind ``correction``, positive or negative, with its
reason), so the month's figures are always the sum of what was written.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.db import JSONType, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class SubsidyMonth(SQLModel, table=True):
    __tablename__ = "subsidy_month"
    __table_args__ = (UniqueConstraint("unit_code", "month", name="uq_subsidy_month_unit_month"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    unit_code: str = Field(sa_column=Column(String(32), ForeignKey("unit.code"), nullable=False))
    month: str = Field(max_length=7)  # YYYY-MM, Asia/Shanghai
    approved_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    approved_by: str = Field(max_length=64)
    total_yuan: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    # The rules the month was computed with (config/subsidy.yaml as validated), for the record.
    rules: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))


class SubsidyCase(SQLModel, table=True):
    __tablename__ = "subsidy_case"
    __table_args__ = (
        UniqueConstraint("case_id", name="uq_subsidy_case_case"),  # a case pays once
        Index("ix_subsidy_case_month", "month_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    month_id: int = Field(sa_column=Column(BigId, ForeignKey("subsidy_month.id"), nullable=False))
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), nullable=False))
    case_number: str = Field(max_length=32)
    dispute_type: str = Field(max_length=40)
    difficulty: str = Field(max_length=16)  # workflows.subsidy.Difficulty
    closed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    amount_yuan: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))


class SubsidyLine(SQLModel, table=True):
    __tablename__ = "subsidy_line"
    __table_args__ = (
        Index("ix_subsidy_line_month", "month_id", "mediator_id"),
        Index("ix_subsidy_line_mediator", "mediator_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    month_id: int = Field(sa_column=Column(BigId, ForeignKey("subsidy_month.id"), nullable=False))
    mediator_id: int = Field(sa_column=Column(BigId, ForeignKey("mediator.id"), nullable=False))
    case_id: int | None = Field(default=None, sa_column=Column(BigId, ForeignKey("cases.id"), nullable=True))
    kind: str = Field(max_length=16)  # share | correction
    role: str | None = Field(default=None, max_length=8)  # a share's lead | co
    amount_yuan: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    recorded_by: str = Field(max_length=64)
