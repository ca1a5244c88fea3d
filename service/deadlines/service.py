"""Deadline rows follow the case: created, met, paused, resumed and cancelled in the same
transaction as the transition that causes them (never by the scheduler's memory)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.context import AppContext
from service.deadlines.models import Deadline
from workflows.deadlines import (
    CaseClockFacts,
    DeadlineStatus,
    OpenDeadline,
    Plan,
    Policy,
    Schedule,
    plan,
)
from workflows.lifecycle import CaseState
from workflows.org import Channel
from workflows.vocab import DisputeType

deadline = Deadline.__table__  # type: ignore[attr-defined]

LIVE = (DeadlineStatus.active.value, DeadlineStatus.paused.value, DeadlineStatus.breached.value)


def warnings_json(warnings: Sequence[tuple[str, datetime]]) -> list[list[str]]:
    return [[level, at.isoformat()] for level, at in warnings]


def warnings_from_json(data: Sequence[Sequence[str]] | None) -> tuple[tuple[str, datetime], ...]:
    return tuple((level, datetime.fromisoformat(at)) for level, at in data or [])


def first_warning(warnings: Sequence[tuple[str, datetime]]) -> datetime | None:
    return min((at for _, at in warnings), default=None)


def clock_facts(case: Mapping[str, Any]) -> CaseClockFacts:
    return CaseClockFacts(
        dispute_type=DisputeType(case["dispute_type"]),
        channel=Channel(case["channel"]),
        court_procedure=case.get("court_procedure"),
    )


async def open_deadlines(conn: AsyncConnection, case_id: int) -> list[Any]:
    return list(
        (
            await conn.execute(
                sa.select(deadline).where(deadline.c.case_id == case_id, deadline.c.status.in_(LIVE))
            )
        ).all()
    )


def _as_open(row: Any) -> OpenDeadline:
    # A breached clock still runs until the case moves on; to the planner it is simply active.
    status = DeadlineStatus.paused if row.status == DeadlineStatus.paused else DeadlineStatus.active
    return OpenDeadline(
        id=row.id,
        kind=row.kind,
        status=status,
        started_at=row.started_at,
        due_at=row.due_at,
        paused_at=row.paused_at,
        warnings=warnings_from_json(row.warnings),
    )


def new_deadline_row(
    case_id: int, unit_code: str, policy: Policy, schedule: Schedule, now: datetime
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "kind": policy.kind,
        "unit_code": unit_code,
        "status": DeadlineStatus.active.value,
        "started_at": now,
        "due_at": schedule.due_at,
        "warn_at": first_warning(schedule.warnings),
        "warnings": warnings_json(schedule.warnings),
        "paused_at": None,
        "extensions": [],
        "breached_at": None,
        "ended_at": None,
    }


@dataclass(frozen=True)
class ClockWrites:
    """One case event's effect on the case's clocks, ready to be written (alone or batched)."""

    case_id: int
    unit_code: str
    plan: Plan
    breached: frozenset[int]  # clocks already breached stay breached when the case pauses


def plan_clocks(
    ctx: AppContext,
    *,
    case: Mapping[str, Any],
    event: str,
    from_state: CaseState | None,
    to_state: CaseState,
    open_rows: Sequence[Any],
    now: datetime,
) -> ClockWrites:
    result = plan(
        ctx.policies,
        event=event,
        from_state=from_state,
        to_state=to_state,
        case=clock_facts(case),
        open_deadlines=[_as_open(r) for r in open_rows],
        now=now,
        calendar=ctx.calendar,
    )
    breached = frozenset(r.id for r in open_rows if r.status == DeadlineStatus.breached)
    return ClockWrites(case["id"], case["unit_code"], result, breached)


async def write_clocks(conn: AsyncConnection, writes: Sequence[ClockWrites], *, now: datetime) -> None:
    """Write the clock changes of one or many case events: one statement per kind of change."""
    for status, ids in (
        (DeadlineStatus.met, [i for w in writes for i in w.plan.met]),
        (DeadlineStatus.cancelled, [i for w in writes for i in w.plan.cancelled]),
    ):
        if ids:
            await conn.execute(
                sa.update(deadline)
                .where(deadline.c.id.in_(ids))
                .values(status=status.value, ended_at=now, warn_at=None)
            )
    paused = [i for w in writes for i in w.plan.paused if i not in w.breached]
    if paused:
        await conn.execute(
            sa.update(deadline)
            .where(deadline.c.id.in_(paused))
            .values(status=DeadlineStatus.paused.value, paused_at=now, warn_at=None)
        )
    for w in writes:
        for deadline_id, schedule in w.plan.resumed:
            await conn.execute(
                sa.update(deadline)
                .where(deadline.c.id == deadline_id)
                .values(
                    status=DeadlineStatus.active.value,
                    paused_at=None,
                    due_at=schedule.due_at,
                    warnings=warnings_json(schedule.warnings),
                    warn_at=first_warning(schedule.warnings),
                )
            )
    started = [row for w in writes for row in started_rows(w, now)]
    if started:
        await conn.execute(sa.insert(deadline), started)


def started_rows(writes: ClockWrites, now: datetime) -> list[dict[str, Any]]:
    """The rows of the clocks one case event starts."""
    return [
        new_deadline_row(writes.case_id, writes.unit_code, policy, schedule, now)
        for policy, schedule in writes.plan.start
    ]


async def open_deadlines_of(conn: AsyncConnection, case_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The live clocks of many cases in one query."""
    rows = (
        await conn.execute(
            sa.select(deadline)
            .where(deadline.c.case_id.in_(list(case_ids)), deadline.c.status.in_(LIVE))
            .order_by(deadline.c.id)
        )
    ).all()
    grouped: dict[int, list[Any]] = {case_id: [] for case_id in case_ids}
    for row in rows:
        grouped[row.case_id].append(row)
    return grouped


async def on_case_event(
    conn: AsyncConnection,
    ctx: AppContext,
    *,
    case: Mapping[str, Any],
    event: str,
    from_state: CaseState | None,
    to_state: CaseState,
    now: datetime,
) -> None:
    rows = await open_deadlines(conn, case["id"]) if from_state is not None else []
    writes = plan_clocks(
        ctx, case=case, event=event, from_state=from_state, to_state=to_state, open_rows=rows, now=now
    )
    await write_clocks(conn, [writes], now=now)
