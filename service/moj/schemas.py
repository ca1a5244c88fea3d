"""The MoJ report as data: cells in the form's order, and the cases behind each."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class MojCell(BaseModel):
    key: str = Field(description="row.column, e.g. settled.month: the drill-down's cell")
    row: str
    column: str = Field(description="month (本月) or ytd (本年累计)")
    section: str = Field(description="people | administrative | judicial | organisation")
    label: str = Field(description="the row's heading (Chinese)")
    label_en: str
    item: str = Field(description="the ministry's item the row is")
    level: int = Field(description="0: a row; 1: 'of which' under the row above")
    value: int | str = Field(
        description="a count; an amount in yuan or a rate (0–1) as a decimal string; '' for a rate with nothing concluded"
    )
    definition: str
    definition_en: str


class MojReport(BaseModel):
    month: str
    year_from: str = Field(description="the first month of the 本年累计 column")
    unit: str | None = None
    generated_at: str
    cells: list[MojCell]
    case_ids: dict[str, list[int]] = Field(
        default_factory=dict, description="cell key → the ids of the cases behind it (event rows only)"
    )


class MojCase(BaseModel):
    id: int
    number: str | None = Field(description="null for a sensitive case the reader may not open (PIPL art. 28)")
    dispute_type: str
    unit_code: str = Field(description="the unit that holds the case now")
    readable: bool = Field(description="whether the reader may open the case")


class MojRound(BaseModel):
    """A screening round behind a round figure (排查次数, 零报告, 预防纠纷)."""

    id: int
    unit_code: str = Field(description="the unit that recorded the round")
    held_at: datetime
    nothing_found: bool = Field(description="a zero report (零报告)")
    disputes_prevented: int = Field(description="disputes the round resolved on the spot (预防纠纷)")


class MojCellCases(BaseModel):
    cell: str
    label: str
    label_en: str
    definition: str
    definition_en: str
    value: int | str
    counts: str = Field(
        "cases",
        description="what the figure counts: cases (listed in items); rounds (screening rounds, not a case "
        "figure: listed in rounds, items empty); none (a rate or a stock: nothing to list)",
    )
    items: list[MojCase]
    rounds: list[MojRound] = Field(default_factory=list, description="the rounds behind a round figure")
    next_after: int | None = Field(
        description="pass as `after` for the next page (a case id, or a round id for a round figure); "
        "null on the last page"
    )
