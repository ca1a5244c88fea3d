"""Screening rounds, the cases they registered, the periods a station was flagged for, and the
reports of major disputes with their acknowledgement and escalation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from service.db import JSONType, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class ScreeningRound(SQLModel, table=True):
    """One round of screening (一次排查) by one unit: when, where, who, what scope, what was found.
    ``nothing_found`` is the zero report (零报告), a report in its own right."""

    __tablename__ = "screening_round"
    __table_args__ = (
        # A unit's rounds by time (the list's keyset pages, the period check), and all by time.
        Index("ix_screening_round_unit", "unit_code", "held_at", "id"),
        Index("ix_screening_round_held", "held_at", "id"),
        # A retry from a flaky phone (the same Idempotency-Key) finds its round, never a second one.
        Index("ux_screening_round_key", "recorded_by", "idempotency_key", unique=True),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    unit_code: str = Field(max_length=32)
    held_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    place: str = Field(sa_column=Column(Text, nullable=False))
    scope: str = Field(sa_column=Column(Text, nullable=False))
    # [{"name": ..., "mediator_id": ... | null}]: who took part (roster ids where they are on it).
    participants: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    findings: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    nothing_found: bool = False
    disputes_found: int = 0  # registered as cases with the round (screening_case)
    disputes_prevented: int = 0  # resolved on the spot (预防纠纷), counted, not registered
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    recorded_by: str = Field(max_length=64)
    recorded_by_role: str = Field(max_length=32)
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_hash: str | None = Field(default=None, max_length=64)


class ScreeningCase(SQLModel, table=True):
    """A case registered by a round (source 主动排查), written in the round's transaction."""

    __tablename__ = "screening_case"
    __table_args__ = (Index("ix_screening_case_case", "case_id"),)

    round_id: int = Field(sa_column=Column(BigId, ForeignKey("screening_round.id"), primary_key=True))
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), primary_key=True))


class ScreeningMissing(SQLModel, table=True):
    """A unit recorded no round in a period and its town was told: once per unit and period."""

    __tablename__ = "screening_missing"
    __table_args__ = (UniqueConstraint("unit_code", "period", name="ux_screening_missing_period"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    unit_code: str = Field(max_length=32)
    period: str = Field(max_length=16)  # 2026-03 or 2026-W10
    told_unit_code: str = Field(max_length=32)
    flagged_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class MajorReport(SQLModel, table=True):
    """A major or group dispute reported at once to the town and the city centre (one row, told
    to both); acknowledged once by either, escalated once by the sweep when late. What was said
    can name people: the statement is sealed with the data key like a crime report's."""

    __tablename__ = "major_report"
    __table_args__ = (
        Index("ix_major_report_case", "case_id"),
        Index("ix_major_report_from", "from_unit_code", "reported_at"),
        Index("ix_major_report_reported", "reported_at", "id"),
        # The sweep's question: unacknowledged reports not yet escalated, oldest first.
        Index(
            "ix_major_report_open",
            "reported_at",
            postgresql_where=text("acknowledged_at IS NULL AND escalated_at IS NULL"),
            sqlite_where=text("acknowledged_at IS NULL AND escalated_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), nullable=False))
    round_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("screening_round.id"), nullable=True)
    )
    from_unit_code: str = Field(max_length=32)
    town_code: str | None = Field(default=None, max_length=32)  # None: no town over the unit
    city_code: str = Field(max_length=32)
    risk_major: bool = False
    risk_group: bool = False
    risk_crime: bool = False
    risk_suicide: bool = False
    risk_group_fight: bool = False
    risk_mass_incident: bool = False
    statement: str = Field(sa_column=Column(Text, nullable=False))  # sealed
    reported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reported_by: str = Field(max_length=64)
    reported_by_role: str = Field(max_length=32)
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    acknowledged_by: str | None = Field(default=None, max_length=64)
    acknowledged_unit_code: str | None = Field(default=None, max_length=32)
    # When the sweep escalated the unacknowledged report to the city centre's coordinators (once).
    escalated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # When someone recorded that the feared event happened after all (the report then does not
    # count as prevented).
    occurred_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    occurred_by: str | None = Field(default=None, max_length=64)
