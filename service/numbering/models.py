"""The counters numbers are taken from, and the register of every number taken.

``number_counter``: one row per (unit, kind, year) holding the last number given. Taking a number
is one ``INSERT ... ON CONFLICT DO UPDATE SET last_number = last_number + 1 RETURNING`` in the
caller's transaction: on PostgreSQL the row stays locked until that transaction ends, so numbers
come out one after another across connections and replicas, and a transaction that rolls back
gives its number back (no gap); a committed number is never given again (no reuse).

``number_taken``: the register, one row per number taken (unique per unit, kind, year and
number; a case has at most one case-file number).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class NumberCounter(SQLModel, table=True):
    __tablename__ = "number_counter"

    unit_code: str = Field(sa_column=Column(String(32), ForeignKey("unit.code"), primary_key=True))
    kind: str = Field(sa_column=Column(String(32), primary_key=True))
    year: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    last_number: int = Field(sa_column=Column(Integer, nullable=False))


class NumberTaken(SQLModel, table=True):
    __tablename__ = "number_taken"
    __table_args__ = (
        UniqueConstraint("unit_code", "kind", "year", "number", name="uq_number_taken_number"),
        # A case file (卷宗) is numbered once: the second request finds the first one's number.
        Index(
            "uq_number_taken_case_file",
            "case_id",
            unique=True,
            sqlite_where=text("kind = 'file'"),
            postgresql_where=text("kind = 'file'"),
        ),
        Index("ix_number_taken_case", "case_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    unit_code: str = Field(sa_column=Column(String(32), ForeignKey("unit.code"), nullable=False))
    kind: str = Field(max_length=32)
    year: int = Field(sa_column=Column(Integer, nullable=False))
    number: int = Field(sa_column=Column(Integer, nullable=False))
    text: str = Field(max_length=80)  # as printed: (2026)昆张调卷字第 0001 号
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), nullable=False))
    taken_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    taken_by: str = Field(max_length=64)
