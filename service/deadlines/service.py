"""Deadline rows follow the case: created, met, paused, resumed and cancelled in the same
transaction as the transition that causes them (never by the scheduler's memory)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.deadlines.models import Deadline
from workflows.deadlines import DeadlineStatus, Plan, Policy, Schedule
from workflows.transition import ClockChanges

deadline = Deadline.__table__  # type: ignore[attr-defined]

LIVE = (DeadlineStatus.active.value, DeadlineStatus.paused.value, DeadlineStatus.breached.value)


def warnings_json(warnings: Sequence[tuple[str, datetime]]) -> list[list[str]]:
    return [[level, at.isoformat()] for level, at in warnings]


def first_warning(warnings: Sequence[tuple[str, datetime]]) -> datetime | None:
    return min((at for _, at in warnings), default=None)


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


async def write_clocks(conn: AsyncConnection, changes: Sequence[ClockChanges], *, now: datetime) -> None:
    """Write the clock changes of one or many case events: one statement per kind of change.

    Each update names the status it expects: the sweep may breach a running clock after the case
    was read (without moving the case's version), and a breached clock stays breached."""
    for status, ids in (
        (DeadlineStatus.met, [i for c in changes for i in c.plan.met]),
        (DeadlineStatus.cancelled, [i for c in changes for i in c.plan.cancelled]),
    ):
        if ids:
            await conn.execute(
                sa.update(deadline)
                .where(deadline.c.id.in_(ids), deadline.c.status.in_(LIVE))
                .values(status=status.value, ended_at=now, warn_at=None)
            )
    paused = [i for c in changes for i in c.plan.paused if i not in c.keep_breached]
    if paused:
        await conn.execute(
            sa.update(deadline)
            .where(deadline.c.id.in_(paused), deadline.c.status == DeadlineStatus.active.value)
            .values(status=DeadlineStatus.paused.value, paused_at=now, warn_at=None)
        )
    for c in changes:
        for deadline_id, schedule in c.plan.resumed:
            await conn.execute(
                sa.update(deadline)
                .where(deadline.c.id == deadline_id, deadline.c.status == DeadlineStatus.paused.value)
                .values(
                    status=DeadlineStatus.active.value,
                    paused_at=None,
                    due_at=schedule.due_at,
                    warnings=warnings_json(schedule.warnings),
                    warn_at=first_warning(schedule.warnings),
                )
            )
    started = [row for c in changes for row in started_rows(c, now)]
    if started:
        await conn.execute(sa.insert(deadline), started)


def started_rows(changes: ClockChanges, now: datetime) -> list[dict[str, Any]]:
    """The rows of the clocks one case event starts."""
    return [new_deadline_row(changes.case_id, changes.unit_code, p, s, now) for p, s in changes.plan.start]


async def start_clocks(
    conn: AsyncConnection, case_id: int, unit_code: str, plan: Plan, *, now: datetime
) -> None:
    """The clocks a new case starts."""
    await write_clocks(conn, [ClockChanges(case_id, unit_code, plan)], now=now)
