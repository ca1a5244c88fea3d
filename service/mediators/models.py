"""The roster of mediators, their units, and who handles each case.

A mediator is a person on a committee's roster, with or without a sign-in (``user_id``). A case
is held by a unit and handled by the mediators assigned to it: ``case_mediator`` keeps every
assignment, current (``ended_at`` NULL) and past, so the history of who handled a case, and for
how long, is the table itself. ``mediator_decision`` records the parties' choice or refusal of a
mediator and a mediator's withdrawal for a conflict (回避); the last two bar the mediator from
that case for good.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Date, ForeignKey, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from service.db import JSONType, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class Mediator(SQLModel, table=True):
    __tablename__ = "mediator"
    __table_args__ = (
        Index("ix_mediator_active_name", "active", "name"),
        # One roster record per sign-in.
        Index(
            "ux_mediator_user",
            "user_id",
            unique=True,
            postgresql_where=text("user_id IS NOT NULL"),
            sqlite_where=text("user_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    name: str = Field(max_length=64)
    user_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=True)
    )
    employment: str = Field(max_length=16)  # workflows.mediators.Employment
    specialties: list[str] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )  # DisputeType
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    qualifications: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    grade: str = Field(default="", max_length=32)
    # 特邀调解员: on the court's roster (特邀调解规定 arts. 8, 10), with the entry's validity.
    court_roster_no: str | None = Field(default=None, max_length=64)
    court_roster_from: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    court_roster_until: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    # Personal data, sealed like a party's (service.personal.crypto); the keyed blind indexes let a
    # suggestion see that a mediator is a party to the case without reading either number.
    id_number: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    phone: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    id_number_index: str | None = Field(default=None, max_length=64, index=True)
    phone_index: str | None = Field(default=None, max_length=64, index=True)
    active: bool = True
    deactivated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    version: int = 1


class MediatorUnit(SQLModel, table=True):
    """A mediator serves one or more units (a village station and its town centre, say)."""

    __tablename__ = "mediator_unit"
    __table_args__ = (Index("ix_mediator_unit_unit", "unit_code", "mediator_id"),)

    mediator_id: int = Field(sa_column=Column(BigId, ForeignKey("mediator.id"), primary_key=True))
    unit_code: str = Field(sa_column=Column(String(32), ForeignKey("unit.code"), primary_key=True))


class CaseMediator(SQLModel, table=True):
    """One assignment of one mediator to one case, from ``assigned_at`` until ``ended_at``."""

    __tablename__ = "case_mediator"
    __table_args__ = (
        Index("ix_case_mediator_case", "case_id", "assigned_at"),
        # "My cases": a mediator's current assignments.
        Index(
            "ix_case_mediator_current",
            "mediator_id",
            "case_id",
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        # At most one current lead per case, and a mediator at most once on a case at a time.
        Index(
            "ux_case_mediator_lead",
            "case_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL AND role = 'lead'"),
            sqlite_where=text("ended_at IS NULL AND role = 'lead'"),
        ),
        Index(
            "ux_case_mediator_once",
            "case_id",
            "mediator_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), nullable=False))
    mediator_id: int = Field(sa_column=Column(BigId, ForeignKey("mediator.id"), nullable=False))
    role: str = Field(max_length=8)  # workflows.mediators.AssignmentRole
    unit_code: str = Field(max_length=32)  # the unit that held the case when it was assigned
    assigned_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    assigned_by: str = Field(max_length=64)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    ended_by: str | None = Field(default=None, max_length=64)
    end: str | None = Field(default=None, max_length=16)  # workflows.mediators.AssignmentEnd
    end_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class MediatorDecision(SQLModel, table=True):
    """A party's choice or refusal of a mediator, or a mediator's withdrawal (回避), on one case."""

    __tablename__ = "mediator_decision"
    __table_args__ = (Index("ix_mediator_decision_case", "case_id", "mediator_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), nullable=False))
    mediator_id: int = Field(sa_column=Column(BigId, ForeignKey("mediator.id"), nullable=False))
    kind: str = Field(max_length=16)  # workflows.mediators.MediatorDecisionKind
    party_id: int | None = Field(  # for a party's decision
        default=None, sa_column=Column(Integer, ForeignKey("party.id"), nullable=True)
    )
    ground: str | None = Field(default=None, max_length=16)  # withdrawal: workflows.mediators.ConflictGround
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    recorded_by: str = Field(max_length=64)
