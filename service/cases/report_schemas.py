"""What the API accepts and returns for reports of a risk of crime (人民调解法 art. 25)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from service.cases.schemas import PartyPublic, Reason, Strict, Text
from workflows.lifecycle import CaseState
from workflows.reporting import Addressee, RaisedBy
from workflows.vocab import DisputeType, Flag, RiskColour


class CrimeReportIn(Strict):
    """A report filed by a mediator or coordinator working the case."""

    statement: Text = Field(description="what is reported: the facts that point to a risk of crime")
    preventive_steps: Text = Field(
        description="the preventive steps taken so far (人民调解法 art. 25 asks for them with the report)"
    )
    mass_incident: bool | None = Field(
        default=None,
        description="a possible mass incident (群体性事件): the local government is told as well; "
        "when not given, the case's group-dispute flag decides",
    )


class AcknowledgementIn(Strict):
    note: Reason | None = Field(default=None, description="what the receiving unit says it did or will do")


class CrimeReportPublic(BaseModel):
    id: int
    case_id: int
    raised_by: RaisedBy
    raised_by_label: str
    from_unit_code: str
    from_unit_name: str | None
    to_unit_code: str
    to_unit_name: str | None
    addressee: Addressee
    addressee_label: str
    reported_at: datetime
    reported_by: str
    statement: str
    preventive_steps: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    ack_due_at: datetime = Field(
        description="when an acknowledgement is overdue (JIEFEN_CRIME_REPORT_ACK_HOURS)"
    )
    overdue: bool


class CaseBrief(BaseModel):
    """What a receiving unit needs of the case: no clocks, no agreement, parties masked."""

    id: int
    number: str
    dispute_type: DisputeType
    summary: str
    location_code: str
    location_name: str | None
    state: CaseState
    state_label: str
    unit_code: str
    unit_name: str | None
    risk: RiskColour
    people_involved: int
    flags: list[Flag]
    parties: list[PartyPublic]


class CrimeReportView(BaseModel):
    report: CrimeReportPublic
    case: CaseBrief


class CrimeReportList(BaseModel):
    items: list[CrimeReportPublic]
    ack_hours: int = Field(
        description="JIEFEN_CRIME_REPORT_ACK_HOURS, the local policy the overdue mark follows"
    )
