"""The record of each mediation session on a case (调解笔录 / 调解记录, 人民调解文书格式).

One row per session: when (start, end), where, who attended (the case's parties and the
mediators assigned to it by id; agents and others by name), what each party said, what was
proposed, the result, notes. A correction rewrites the row and bumps its ``version``; the text it
replaced is kept in the case event that records the correction (hash-chained with the case's
trail), so the table holds the record as it stands and the trail holds every earlier wording.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Date, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from service.db import JSONType, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class MediationSession(SQLModel, table=True):
    __tablename__ = "mediation_session"
    __table_args__ = (
        Index("ix_mediation_session_case", "case_id", "started_at"),
        # The n-th session of a case (第 n 次调解), counted per case without gaps: two records
        # racing for the same number race on the case's version first.
        Index("ux_mediation_session_number", "case_id", "number", unique=True),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), nullable=False))
    number: int
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    place: str = Field(max_length=200)
    # [party id, ...] of the case's parties who attended
    party_ids: list[int] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    # [{"name", "party_id"}]: an agent (代理人) attends for one of the case's parties
    agents: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    # [mediator id, ...] of the mediators assigned to the case when the record was written
    mediator_ids: list[int] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    # [{"name", "role"}]: others present (an interpreter, a village cadre, a witness)
    others: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    # [{"party_id", "text"}]: what each side said
    statements: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    proposal: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    result: str = Field(max_length=16)  # service.sessions.schemas.SessionResult
    adjourned_to: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    notes: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    recorded_by: str = Field(max_length=64)
    corrected_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    corrected_by: str | None = Field(default=None, max_length=64)
    version: int = 1
