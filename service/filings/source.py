"""Where a filing's figures come from: one function, ``report_for``, returning cells and the cases
behind each cell, so the filing machinery freezes whatever this function returns and never looks
inside a cell.

The cells are the Ministry of Justice report's (``service.moj.service.compute``): each row of the
form (this month and the year to date), counted from the case history, with the cases behind each
figure. A rate is frozen as percentage text (``53.85%``) so that a consolidation, which adds up
numbers, never adds rates.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.context import AppContext
from service.moj.schemas import MojCell
from service.moj.service import compute
from workflows.moj_report import COLUMN_LABELS, ROWS, Measure


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


_RATES = frozenset(row.key for row in ROWS if row.measure is Measure.rate)
_COLUMNS = {column.value: labels[0] for column, labels in COLUMN_LABELS.items()}


def _frozen_cell(cell: MojCell) -> FrozenCell:
    """The MoJ cell as filed: its row's heading ("其中：" under the row above), its column's
    heading, and a rate as percentage text."""
    row = f"其中：{cell.label}" if cell.level else cell.label
    column = _COLUMNS[cell.column]
    value = cell.value
    if cell.row in _RATES and value != "":
        value = f"{Decimal(str(value)) * 100:.2f}%"
    return FrozenCell(
        key=cell.key,
        row=row,
        column=column,
        label=f"{row} · {column}",
        value=value,
        definition=cell.definition,
    )


async def report_for(
    conn_or_engine: AsyncConnection | AsyncEngine,
    ctx: AppContext,
    units: frozenset[str] | None,
    month: str,
    now: datetime,
) -> FrozenReport:
    """The MoJ report of ``month`` over ``units`` (None: the whole network) as it stands at
    ``now``, with the cases behind each figure. The single source of every filing."""
    report = await compute(conn_or_engine, ctx, units=units, month=month, now=now)
    return FrozenReport(
        cells=[_frozen_cell(cell) for cell in report.cells],
        case_ids={key: ids for key, ids in report.case_ids.items() if ids},
    )
