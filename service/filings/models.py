"""A filed month: one row per version, written once and never updated.

``filing`` holds what was filed for a unit and month — the report's cells, the cases behind each
cell, and (for the city's consolidated filing) which town versions it was built from — with the
SHA-256 of their canonical JSON, which is also in the security event that recorded the filing. A
correction is another row (version + 1, with its reason); the latest version is the current one.
On PostgreSQL and SQLite a trigger refuses any UPDATE of the table (migration 0028_filings).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.db import JSONType, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class Filing(SQLModel, table=True):
    __tablename__ = "filing"
    __table_args__ = (
        UniqueConstraint("unit_code", "month", "version", name="uq_filing_unit_month_version"),
        Index("ix_filing_month", "month"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    unit_code: str = Field(sa_column=Column(String(32), ForeignKey("unit.code"), nullable=False))
    month: str = Field(max_length=7)  # YYYY-MM, Asia/Shanghai
    version: int = Field(sa_column=Column(Integer, nullable=False))
    kind: str = Field(max_length=16)  # town | city (consolidated from the towns' filings)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # a correction's
    filed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    filed_by: str = Field(max_length=64)
    cells: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    case_ids: dict[str, list[int]] = Field(sa_column=Column(JSONType, nullable=False))
    # The city's filing: the town versions it consolidated ({unit, filing_id, version, sha256}).
    sources: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    sha256: str = Field(max_length=64)
    security_event_id: int = Field(sa_column=Column(BigId, nullable=False))
