"""The statistics tally: the cohort figures per month, unit and one dimension, kept current by
PostgreSQL itself (triggers on ``cases``, in the same transaction as the change).

A row (month, unit_code, dimension, value) holds, for the cases registered in ``month``
(Asia/Shanghai) and held now at ``unit_code`` with that tier / dispute type / source:
registered, settled, terminated, the amount, the people, the 防止民转刑 / 防止群体性上访
cases and people, and the cases with a breached clock, each as ``service.stats.queries``
defines them. The ``tier`` rows also hold
the cases *closed* in ``month`` (and the sum of their days from registration to closing).

Migration 0029_city creates the table on both databases, but only PostgreSQL keeps it (the
trigger functions ``jiefen_tally_rows`` / ``jiefen_tally_case`` and ``jiefen_tally_rebuild()``):
on SQLite, the embedded default, the figures are counted from ``cases`` directly, which is fast
enough at its size (docs/benchmarks.md, "city scale").
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Column, Float, Index, Numeric, String
from sqlmodel import Field, SQLModel


class StatsTally(SQLModel, table=True):
    __tablename__ = "stats_tally"

    # A figure family reads one dimension over a range of months: the whole city by
    # ix_stats_tally_months, a town's or a station's units by ix_stats_tally_units; on PostgreSQL
    # both cover the sums it reads, so they are read from the index alone.
    __table_args__ = (
        Index(
            "ix_stats_tally_units",
            "dimension",
            "unit_code",
            "month",
            postgresql_include=["value", "registered", "settled", "terminated", "breached"],
        ),
        Index(
            "ix_stats_tally_months",
            "dimension",
            "month",
            postgresql_include=["value", "unit_code", "registered", "settled", "terminated", "breached"],
        ),
    )

    dimension: str = Field(sa_column=Column(String(8), primary_key=True))  # tier | type | source
    month: str = Field(sa_column=Column(String(7), primary_key=True))  # 'YYYY-MM', Shanghai
    unit_code: str = Field(sa_column=Column(String(32), primary_key=True))
    value: str = Field(sa_column=Column(String(40), primary_key=True))
    registered: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    settled: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    terminated: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    amount_yuan: Decimal = Field(
        default=Decimal(0), sa_column=Column(Numeric(18, 2), nullable=False, server_default="0")
    )
    people: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    criminal_cases: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    criminal_people: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    group_cases: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    group_people: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    closed: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    close_days: float = Field(default=0.0, sa_column=Column(Float, nullable=False, server_default="0"))
    # Cases of the cohort with a breached clock (a trigger on ``deadline``): the overdue figure
    # adds the few whose clock ran past due since the sweep last looked, counted live.
    breached: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
