"""Where a filing's figures come from: one function, ``report_for``, returning cells and the cases
behind each cell — the shape of the Ministry of Justice report (``MojReport``: cells of key, row,
column, label, value and definition, and ``case_ids`` per cell key), so the filing machinery
freezes whatever this function returns and never looks inside a cell.

Today the cells are the monthly report's (``service.stats.report.monthly_report``): one cell per
figure of each (town, dispute type) row and of the total row. The case ids behind each figure are
found with the same expressions that count it, grouped by case instead of by (unit, type): a
case is behind a count when it counts 1 there, behind a sum when it adds to it, and behind the
success rate when it is settled or terminated (its denominator). When the Ministry of Justice
report counted from events is merged (``service.moj.service.compute``), the lead replaces the body
of ``report_for`` with a call to it; nothing else here or in the filings changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.context import AppContext
from service.stats import report as monthly
from service.stats.queries import Period, StatsQuery, cases, cohort_where, town_of
from workflows.lifecycle import TerminationReason
from workflows.vocab import SOURCE_LABELS, AgreementForm, Source


class FrozenCell(BaseModel):
    """One figure of a report: where it sits (row, column), what it is (label, definition)."""

    key: str = Field(description="stable within the report; the path of its case list")
    row: str
    column: str
    label: str
    value: int | str = Field(description="a count, or text: an amount in yuan (2 decimals), a rate")
    definition: str


class FrozenReport(BaseModel):
    """A report as a filing freezes it: its cells, and the ids of the cases behind each cell."""

    cells: list[FrozenCell]
    case_ids: dict[str, list[int]] = Field(description="cell key → the cases behind it, ascending")


_TERMINATED = "终止：记录了终止原因且没有成立的协议"
DEFINITIONS: dict[str, str] = {
    "registered": "受理数：本月登记的案件（按登记时间，上海时间）",
    "settled": "调解成功数：本月登记、协议成立且仍有效的案件（调解成功、申请确认中、已履行、已确认，或委托调解协议回到法院）",
    monthly.RATE_KEY: "调解成功率 = 调解成功数 ÷（调解成功数 + 终止数）",
    "terminated": _TERMINATED,
    **{
        f"terminated_{r.value}": f"{_TERMINATED}，终止原因：{monthly.TERMINATION_REASON_LABELS[r]}"
        for r in TerminationReason
    },
    **{
        f"agreement_{f.value}": f"调解成功且协议形式为{monthly.AGREEMENT_FORM_LABELS[f]}的案件"
        for f in AgreementForm
    },
    "people_involved": "涉及人数：本月登记案件的涉及人数之和",
    "criminal_prevented_cases": "防止民转刑(件)：有民转刑风险且调解成功的案件",
    "criminal_prevented_people": "防止民转刑(人)：上述案件的涉及人数之和",
    "group_prevented_cases": "防止群体性上访(件)：群体性纠纷且调解成功的案件",
    "group_prevented_people": "防止群体性上访(人)：上述案件的涉及人数之和",
    "overdue": "逾期数：报送时有期限已超过或仍在计时且已过期的案件",
    **{f"source_{s.value}": f"来源为“{SOURCE_LABELS[s]}”的案件" for s in Source},
    monthly.AMOUNT_KEY: "涉及金额(元)：本月登记案件登记的争议金额之和",
}
TOTAL_ROW = "total"


def _row_id(town_code: str, dispute_type: str) -> str:
    return f"{town_code}.{dispute_type}"


def _value(key: str, value: Any) -> int | str:
    if key == monthly.RATE_KEY:
        return "" if value is None else f"{float(value) * 100:.2f}%"
    if key == monthly.AMOUNT_KEY:
        return f"{float(value or 0):.2f}"
    return int(value or 0)


def _cells(row_id: str, row_label: str, values: dict[str, Any]) -> list[FrozenCell]:
    out = []
    for key, heading in monthly.COLUMNS:
        if key in {k for k, _ in monthly.LABEL_COLUMNS}:
            continue
        out.append(
            FrozenCell(
                key=f"{row_id}.{key}",
                row=row_label,
                column=heading,
                label=f"{row_label} · {heading}",
                value=_value(key, values.get(key)),
                definition=DEFINITIONS.get(key, heading),
            )
        )
    return out


async def _case_ids(conn: AsyncConnection, ctx: AppContext, q: StatsQuery) -> dict[str, list[int]]:
    """The cases behind each figure: the report's own expressions, one group per case."""
    expressions = monthly._count_expressions(q.now)
    stmt = (
        sa.select(cases.c.id, cases.c.unit_code, cases.c.dispute_type, *expressions)
        .where(*cohort_where(q))
        .group_by(cases.c.id, cases.c.unit_code, cases.c.dispute_type)
        .order_by(cases.c.id)
    )
    found: dict[str, list[int]] = {}
    count_keys = [k for k, _ in monthly.COUNT_COLUMNS] + [monthly.AMOUNT_KEY]
    for row in (await conn.execute(stmt)).mappings():
        town = town_of(ctx.org, row["unit_code"])
        keys = [k for k in count_keys if row[k]]
        if row["settled"] or row["terminated"]:
            keys.append(monthly.RATE_KEY)
        for row_id in (_row_id(town.code, row["dispute_type"]), TOTAL_ROW):
            for key in keys:
                found.setdefault(f"{row_id}.{key}", []).append(int(row["id"]))
    return found


async def report_for(
    conn_or_engine: AsyncConnection | AsyncEngine,
    ctx: AppContext,
    units: frozenset[str] | None,
    month: str,
    now: datetime,
) -> FrozenReport:
    """The report of ``month`` over ``units`` (None: the whole network) as it stands at ``now``:
    the monthly report's figures as cells (each row's figures, then the total row's), with the
    cases behind each. The single source of every filing."""
    if isinstance(conn_or_engine, AsyncEngine):
        async with conn_or_engine.connect() as conn:
            return await report_for(conn, ctx, units, month, now)
    conn = conn_or_engine
    q = StatsQuery(Period.month(month, "body.month"), now=now, units=units)
    result = await monthly.monthly_report(conn, ctx.org, q)
    cells: list[FrozenCell] = []
    for row in result.rows:
        label = f"{row['town_name']} {row['dispute_type_label']}"
        cells += _cells(_row_id(str(row["town_code"]), str(row["dispute_type"])), label, row)
    cells += _cells(TOTAL_ROW, "合计", result.total)
    return FrozenReport(cells=cells, case_ids=await _case_ids(conn, ctx, q))
