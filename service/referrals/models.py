"""Hand-offs are first-class records (docs/architecture.md, "Hand-offs"): who sent what to whom, and what came back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from service.db import JSONType, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class Referral(SQLModel, table=True):
    __tablename__ = "referral"
    __table_args__ = (
        Index("ix_referral_case", "case_id"),
        Index("ix_referral_to_status", "to_unit_code", "status"),
        Index("ix_referral_from_unit", "from_unit_code"),  # the hand-offs a unit sent (its lists)
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), nullable=False))
    kind: str = Field(max_length=32)
    from_unit_code: str = Field(max_length=32)
    to_unit_code: str = Field(max_length=32)
    status: str = Field(max_length=16)  # offered | accepted | declined | returned | withdrawn | completed
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    offered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    offered_by: str = Field(max_length=64)
    responded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    responded_by: str | None = Field(default=None, max_length=64)
    decline_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
