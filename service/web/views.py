"""Read models the pages need beyond the API's: the most urgent deadline of each listed case."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.context import AppContext
from service.deadlines.models import Deadline
from workflows.deadlines import DeadlineStatus, provisional_years

deadline = Deadline.__table__  # type: ignore[attr-defined]

RUNNING = (DeadlineStatus.active.value, DeadlineStatus.breached.value, DeadlineStatus.paused.value)


@dataclass(frozen=True)
class DueBadge:
    status: str  # ok | soon | today | overdue | paused
    days_left: int | None
    due_at: datetime
    name: str
    provisional_years: tuple[int, ...] = ()  # counted on a year without an official calendar: 暂定

    @property
    def provisional(self) -> bool:
        return bool(self.provisional_years)


def badge(
    status: str, due_at: datetime, name: str, ctx: AppContext, now: datetime, started_at: datetime
) -> DueBadge:
    years = provisional_years(ctx.calendar, started_at, due_at)
    if status == DeadlineStatus.paused.value:
        return DueBadge("paused", None, due_at, name, years)
    left = ctx.calendar.working_days_left(now, due_at)
    if due_at <= now or status == DeadlineStatus.breached.value:
        return DueBadge("overdue", left, due_at, name, years)
    if left <= 1:
        return DueBadge("today", left, due_at, name, years)
    return DueBadge("soon" if left <= 3 else "ok", left, due_at, name, years)


async def urgent_deadlines(
    engine: AsyncEngine, ctx: AppContext, case_ids: Sequence[int], *, now: datetime
) -> dict[int, DueBadge]:
    """Case id → its running deadline due soonest (a paused one only when nothing runs)."""
    if not case_ids:
        return {}
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    deadline.c.case_id,
                    deadline.c.kind,
                    deadline.c.status,
                    deadline.c.due_at,
                    deadline.c.started_at,
                ).where(deadline.c.case_id.in_(list(case_ids)), deadline.c.status.in_(RUNNING))
            )
        ).all()
    best: dict[int, DueBadge] = {}
    for row in rows:
        name = ctx.policies.by_kind(row.kind).name
        candidate = badge(row.status, row.due_at, name, ctx, now, row.started_at)
        current = best.get(row.case_id)
        paused = candidate.status == "paused"
        if (
            current is None
            or (current.status == "paused" and not paused)
            or (not paused and current.status != "paused" and candidate.due_at < current.due_at)
        ):
            best[row.case_id] = candidate
    return best
