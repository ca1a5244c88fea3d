"""What the statistics return: plain pydantic models, shared by the API and the web pages."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

# Exact in Python, a plain JSON number on the wire (as amounts are on cases).
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
Rate = Annotated[float | None, Field(ge=0, le=1, description="a ratio 0–1, 4 decimals; null when 0/0")]


class PeriodPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_month: str = Field(alias="from", examples=["2025-04"])
    to_month: str = Field(alias="to", examples=["2026-03"])
    months: list[str]


class Figures(BaseModel):
    """The core figures of a group of cases registered in the period (a cohort)."""

    registered: int = Field(description="登记数: cases registered in the period (accepted or not)")
    settled: int = Field(description="调解成功数: an agreement was reached and stands")
    terminated: int = Field(description="终止数: mediation ended without an agreement that stands")
    concluded: int = Field(description="settled + terminated")
    success_rate: Rate = None
    overdue: int = Field(description="逾期数: a deadline breached or running past due now")
    overdue_rate: Rate = None


class Prevention(BaseModel):
    cases: int
    people: int


class Overview(Figures):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period": {"from": "2025-04", "to": "2026-03", "months": ["2025-04", "…", "2026-03"]},
                    "registered": 1200,
                    "settled": 980,
                    "terminated": 120,
                    "concluded": 1100,
                    "success_rate": 0.8909,
                    "overdue": 36,
                    "overdue_rate": 0.03,
                    "closed": 1010,
                    "avg_days_to_close": 11.4,
                    "amount_yuan": 5234000.0,
                    "people_involved": 3100,
                    "criminal_prevented": {"cases": 14, "people": 40},
                    "group_petition_prevented": {"cases": 6, "people": 95},
                }
            ]
        }
    )

    period: PeriodPublic
    closed: int = Field(description="结案数: cases closed in the period (by closing date, any cohort)")
    avg_days_to_close: float | None = Field(description="over the cases closed in the period")
    amount_yuan: Money = Field(description="涉及金额: sum over the cases registered in the period")
    people_involved: int
    criminal_prevented: Prevention = Field(
        description="有民转刑风险且调解成功: criminal-risk cases settled (not the MoJ row 防止民转刑)"
    )
    group_petition_prevented: Prevention = Field(description="群体性纠纷且调解成功: group disputes settled")


class MonthRow(Figures):
    month: str = Field(examples=["2026-03"])
    closed: int = Field(description="cases closed in this month (by closing date, any cohort)")


class MonthlyStats(BaseModel):
    period: PeriodPublic
    months: list[MonthRow]


class TypeRow(Figures):
    code: str = Field(examples=["NEIGHBOUR"])
    label: str = Field(examples=["邻里"])


class TierRow(Figures):
    tier: str = Field(examples=["village"])
    label: str = Field(examples=["村(社区)级"])


class TownRow(Figures):
    code: str = Field(examples=["320583106"], description="town code; the city's code for city-level units")
    name: str = Field(examples=["张浦镇"])


class SourceRow(Figures):
    source: str = Field(examples=["application"])
    label: str = Field(examples=["依申请"])


class TypeStats(BaseModel):
    period: PeriodPublic
    rows: list[TypeRow]


class TierStats(BaseModel):
    period: PeriodPublic
    rows: list[TierRow]


class TownStats(BaseModel):
    period: PeriodPublic
    rows: list[TownRow]


class SourceStats(BaseModel):
    period: PeriodPublic
    rows: list[SourceRow]


class MediatorStatsRow(BaseModel):
    """What one mediator handled in the period (``service.stats.by_mediator`` defines each figure)."""

    mediator_id: int
    name: str = Field(examples=["王芳"])
    unit_codes: list[str] = Field(description="the units whose roster the mediator is on")
    handled: int = Field(description="承办案件数: cases assigned to the mediator at any time in the period")
    lead: int = Field(description="of those, the cases the mediator led (主办)")
    settled: int = Field(description="调解成功: an agreement was reached and stands")
    terminated: int = Field(description="终止: ended without an agreement that stands")
    other: int = Field(description="neither yet: still in mediation, or ended another way")
    success_rate: Rate = None
    closed: int = Field(description="结案数: handled cases closed in the period")
    closed_by_outcome: dict[str, int] = Field(
        description="those closed, by the outcome recorded at closing (every outcome, zeros included)",
        examples=[{"performed": 3, "confirmed": 1, "withdrawn": 0, "other_route": 2}],
    )
    median_days_to_close: float | None = Field(description="over the handled cases closed in the period")
    mean_days_to_close: float | None = Field(description="over the handled cases closed in the period")
    overdue: int = Field(description="逾期: handled cases with a deadline breached or running past due now")


class MediatorStats(BaseModel):
    period: PeriodPublic
    rows: list[MediatorStatsRow]


REPORT_TITLE = "案件登记月报（按登记月份统计，反映案件当前状态）"


class ReportColumn(BaseModel):
    key: str
    heading: str
    definition: str = Field(description="what the column counts (also below the table in the files)")


class MonthlyReport(BaseModel):
    """案件登记月报: one row per (town, dispute type) with the cases registered in the month as they
    stand now, and a total row last. Not the report filed with the 司法局 (that is `/stats/moj`)."""

    title: str = Field(default=REPORT_TITLE)
    month: str
    columns: list[ReportColumn]
    rows: list[dict[str, str | int | float | None]]
    total: dict[str, str | int | float | None]
    mediators: list[MediatorStatsRow] = Field(
        default_factory=list,
        description="按调解员: each mediator's figures for the month (coordinators, auditors, administrators)",
    )
