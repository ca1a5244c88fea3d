"""What the personal work pages and the caseload return: plain pydantic models."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from service.stats.schemas import MediatorStatsRow, PeriodPublic


class MyDeadline(BaseModel):
    """One open clock of a case the mediator handles."""

    id: int
    case_id: int
    number: str = Field(examples=["昆张调〔2026〕0001号"])
    kind: str
    name: str = Field(examples=["调解期限"], description="the period's name (Chinese)")
    status: str = Field(description="active | paused | breached")
    due_at: datetime
    due_date: date = Field(description="the last day of the period (Asia/Shanghai)")
    due_text: str = Field(
        examples=["3月7日 00:00 前"],
        description="when it falls due in local time, in words (Asia/Shanghai); for one overdue: "
        "when it fell due; for a paused one: when it would have, had it not been paused (it moves "
        "when the clock runs again)",
    )
    overdue: bool = Field(description="breached, or running past its due time now")
    working_days_left: int | None = Field(description="null while paused")
    role: str = Field(description="the mediator's role on the case: lead | co")


class MyCase(BaseModel):
    case_id: int
    number: str
    dispute_type: str
    dispute_type_label: str = Field(examples=["邻里纠纷"])
    state: str
    state_label: str = Field(examples=["调解中"])
    unit_code: str
    unit_name: str
    role: str = Field(description="lead (主办) or co (协办)")
    role_label: str = Field(examples=["主办调解员"])
    assigned_at: datetime
    next_deadline: MyDeadline | None = Field(
        description="the running deadline due soonest (a paused one only when none runs)"
    )
    overdue: bool = Field(description="a deadline of the case is breached or running past due now")


class MyWork(BaseModel):
    """The signed-in person's roster record and what it is assigned; empty, with ``message``, for
    someone without a roster record."""

    mediator_id: int | None
    mediator_name: str | None
    message: str | None = Field(default=None, description="why the list is empty when it must be")


class MyCases(MyWork):
    cases: list[MyCase] = Field(description="sorted by what is due next; cases with no running deadline last")


class MyDeadlines(MyWork):
    deadlines: list[MyDeadline] = Field(description="overdue first, then soonest first; paused ones last")


class CaseloadRow(BaseModel):
    """One mediator of the unit's roster: what they carry now."""

    mediator_id: int
    name: str
    unit_codes: list[str]
    employment: str = Field(description="full_time (专职) | part_time (兼职)")
    active: bool
    has_sign_in: bool
    open_lead: int = Field(description="open cases the mediator leads now (主办)")
    open_co: int = Field(description="open cases the mediator co-mediates now (协办)")
    overdue_deadlines: int = Field(
        description="deadlines of those cases breached or running past their due time now"
    )
    closed_this_month: int = Field(
        description="cases closed this month (Asia/Shanghai) while the mediator was assigned"
    )


class Caseload(BaseModel):
    unit_code: str
    unit_name: str
    month: str = Field(examples=["2026-03"], description="the month of closed_this_month")
    rows: list[CaseloadRow]
    period: PeriodPublic
    stats: list[MediatorStatsRow] = Field(
        description="statistics by mediator for the month (see /stats/by-mediator)"
    )
