"""What the API accepts and returns for screening rounds (排查) and major-dispute reports."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from service.cases.schemas import CaseCreate, Reason, ShortText, Strict, Text
from workflows.screening import MajorRisk


class Participant(Strict):
    name: ShortText = Field(description="who took part (a mediator, a grid worker, a village cadre)")
    mediator_id: int | None = Field(default=None, ge=1, description="their roster id, when on the roster")


class MajorFlag(Strict):
    """Report this dispute at once to the town and the city centre as a major or group dispute."""

    risks: list[MajorRisk] = Field(min_length=1, max_length=len(MajorRisk))
    statement: Text = Field(description="what makes it major: the facts and the steps taken so far")


class FoundDispute(CaseCreate):
    """A dispute the round found: registered as a case with source 主动排查 (self_initiated)
    whatever ``source`` says; ``major`` reports it at once as a major or group dispute."""

    major: MajorFlag | None = None


class RoundIn(Strict):
    held_at: datetime = Field(description="when the round took place (not in the future)")
    place: Text = Field(description="where: the village groups, streets, enterprises visited")
    scope: Text = Field(description="what was screened (e.g. 邻里、婚姻家庭、土地、劳资)")
    participants: list[Participant] = Field(min_length=1, max_length=100)
    findings: Text | None = Field(default=None, description="what was found, in words")
    nothing_found: bool = Field(
        default=False,
        description="a zero report (零报告): nothing found; then no disputes and none prevented",
    )
    disputes: list[FoundDispute] = Field(
        default_factory=list, max_length=50, description="disputes found: each registered as a case"
    )
    disputes_prevented: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="disputes resolved on the spot (预防纠纷), counted, not registered",
    )


class FoundCase(BaseModel):
    id: int
    number: str
    unit_code: str
    major_report_id: int | None = None


class RoundPublic(BaseModel):
    id: int
    unit_code: str
    unit_name: str | None
    held_at: datetime
    place: str
    scope: str
    participants: list[Participant]
    findings: str | None
    nothing_found: bool
    disputes_found: int
    disputes_prevented: int
    cases: list[FoundCase]
    recorded_at: datetime
    recorded_by: str


class RoundList(BaseModel):
    items: list[RoundPublic]
    next_after: str | None = Field(description="pass as `after` for the next (older) page; None at the end")


class MissingUnit(BaseModel):
    unit_code: str
    unit_name: str | None
    town_code: str | None
    period: str
    period_start: datetime
    period_end: datetime


class MissingList(BaseModel):
    items: list[MissingUnit]
    basis: str = Field(description="the local practice the periods follow (config/screening.yaml)")


class MajorReportIn(Strict):
    risks: list[MajorRisk] = Field(min_length=1, max_length=len(MajorRisk))
    statement: Text


class MajorAckIn(Strict):
    note: Reason | None = None


class MajorReportPublic(BaseModel):
    id: int
    case_id: int
    round_id: int | None
    from_unit_code: str
    to_unit_codes: list[str]
    risks: list[MajorRisk]
    risk_labels: list[str]
    statement: str
    reported_at: datetime
    reported_by: str
    ack_due_at: datetime = Field(description="reported_at + ack_hours (config/screening.yaml)")
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_unit_code: str | None
    late: bool = Field(description="not acknowledged by ack_due_at (now, or when it was)")
    escalated_at: datetime | None
    occurred_at: datetime | None


class MajorReportList(BaseModel):
    items: list[MajorReportPublic]
    ack_hours: int
