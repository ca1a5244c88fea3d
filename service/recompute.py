"""``jiefen deadlines recompute``: every open clock counted again with today's policies and calendars.

A due date is computed once, when its clock starts, on the calendar and the policy of that day.
When the State Council publishes next year's holidays (a new ``config/calendars/YYYY.yaml``) or a
policy changes, the open clocks are recomputed from their case's history: the start, the pauses
and resumptions its events record and the extensions on the clock (``workflows.deadlines.replay``).
Each changed case gets one audited ``recomputed`` event (actor ``system``, in the keyed hash chain)
and its clock rows, in one transaction; running it again finds nothing to change.

Only active and paused clocks are recomputed: a breached clock's breach has been acted on (told,
escalated, returned) and stays on record as it happened.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.cases import queries
from service.context import AppContext
from service.deadlines.models import Deadline, DeadlineAction
from service.deadlines.rows import DeadlineRow, deadline_row
from service.deadlines.service import first_warning, warnings_json
from workflows.deadlines import DeadlineStatus, PeriodUnit, Warning, clock_steps, replay
from workflows.lifecycle import SYSTEM_ACTOR_NAME, CaseState, Role

deadline = Deadline.__table__  # type: ignore[attr-defined]
deadline_action = DeadlineAction.__table__  # type: ignore[attr-defined]
case_event = queries.case_event

OPEN = (DeadlineStatus.active.value, DeadlineStatus.paused.value)
REASON = "按现行期限规则和法定节假日安排重新计算期限"


@dataclass(frozen=True)
class ClockChange:
    """One open clock whose due time or pending warnings move."""

    case_id: int
    number: str
    deadline_id: int
    kind: str
    status: DeadlineStatus
    old_due: datetime
    new_due: datetime
    old_warnings: tuple[Warning, ...]
    new_warnings: tuple[Warning, ...]

    @property
    def warnings_moved(self) -> int:
        """Pending warnings added, dropped or moved."""
        old, new = dict(self.old_warnings), dict(self.new_warnings)
        return sum(1 for level in old.keys() | new.keys() if old.get(level) != new.get(level))

    def record(self) -> dict[str, Any]:
        """As the audit event keeps it."""
        return {
            "deadline_id": self.deadline_id,
            "kind": self.kind,
            "old_due_at": self.old_due.isoformat(),
            "new_due_at": self.new_due.isoformat(),
            "old_warnings": warnings_json(self.old_warnings),
            "new_warnings": warnings_json(self.new_warnings),
        }


@dataclass
class RecomputeReport:
    checked: int = 0  # open clocks looked at
    changes: list[ClockChange] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # clocks left alone, and why
    written_cases: int = 0  # cases whose change was written (0 on a dry run)
    stale_cases: list[str] = field(default_factory=list)  # changed meanwhile: run again

    @property
    def cases(self) -> int:
        return len({c.case_id for c in self.changes})


async def _open_clocks(conn: AsyncConnection) -> list[tuple[DeadlineRow, int, str]]:
    rows = await conn.execute(
        sa.select(deadline, queries.cases.c.number)
        .join(queries.cases, queries.cases.c.id == deadline.c.case_id)
        .where(deadline.c.status.in_(OPEN))
        .order_by(deadline.c.case_id, deadline.c.id)
    )
    return [(deadline_row(r._mapping), r.case_id, r.number) for r in rows]


async def _moves(conn: AsyncConnection, case_ids: list[int]) -> dict[int, list[tuple[datetime, CaseState]]]:
    """Each case's events in order, as (when, state afterwards)."""
    found: dict[int, list[tuple[datetime, CaseState]]] = defaultdict(list)
    for start in range(0, len(case_ids), 500):
        chunk = case_ids[start : start + 500]
        rows = await conn.execute(
            sa.select(case_event.c.case_id, case_event.c.at, case_event.c.to_state)
            .where(case_event.c.case_id.in_(chunk))
            .order_by(case_event.c.case_id, case_event.c.seq)
        )
        for r in rows:
            found[r.case_id].append((r.at, CaseState(r.to_state)))
    return found


async def _sent(conn: AsyncConnection, clock_ids: list[int]) -> dict[int, set[str]]:
    """The warning levels already sent, per clock: never sent again, whatever the new times."""
    found: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(clock_ids), 500):
        chunk = clock_ids[start : start + 500]
        rows = await conn.execute(
            sa.select(deadline_action.c.deadline_id, deadline_action.c.level).where(
                deadline_action.c.deadline_id.in_(chunk), deadline_action.c.action == "warn"
            )
        )
        for r in rows:
            found[r.deadline_id].add(r.level)
    return found


def _extensions(clock: DeadlineRow) -> list[tuple[datetime, int, PeriodUnit]]:
    return [
        (datetime.fromisoformat(e["at"]), int(e["by_length"]), PeriodUnit(e["by_unit"]))
        for e in clock.extensions
    ]


async def plan_recompute(engine: AsyncEngine, ctx: AppContext) -> RecomputeReport:
    """What recomputing would change; nothing is written."""
    report = RecomputeReport()
    async with engine.connect() as conn:
        clocks = await _open_clocks(conn)
        moves = await _moves(conn, sorted({case_id for _, case_id, _ in clocks}))
        sent = await _sent(conn, [clock.id for clock, _, _ in clocks])
    for clock, case_id, number in clocks:
        report.checked += 1
        policy = ctx.policies.get(clock.kind)
        if policy is None:
            report.skipped.append(f"{number} {clock.kind}: no such policy any more; left as it is")
            continue
        steps = clock_steps(policy, clock.started_at, moves[case_id], _extensions(clock))
        again = replay(policy, clock.started_at, steps, ctx.calendar)
        if (again.paused_at is not None) != (clock.status == DeadlineStatus.paused):
            report.skipped.append(
                f"{number} {clock.kind}: its history does not explain its status ({clock.status}); left as it is"
            )
            continue
        pending = tuple((level, at) for level, at in again.warnings if level not in sent[clock.id])
        if again.due_at != clock.due_at or pending != clock.warnings:
            report.changes.append(
                ClockChange(
                    case_id=case_id,
                    number=number,
                    deadline_id=clock.id,
                    kind=clock.kind,
                    status=clock.status,
                    old_due=clock.due_at,
                    new_due=again.due_at,
                    old_warnings=clock.warnings,
                    new_warnings=pending,
                )
            )
    return report


class _Moved(Exception):
    """The case or one of its clocks changed after it was read: nothing of it is written."""


async def _write_case(
    engine: AsyncEngine, ctx: AppContext, changes: list[ClockChange], now: datetime
) -> None:
    case_id = changes[0].case_id
    async with engine.begin() as conn:
        row = await queries.fetch_case(conn, case_id)
        if row is None:
            raise _Moved
        event = queries.record_event(
            row,
            kind="recomputed",
            at=now,
            actor=SYSTEM_ACTOR_NAME,
            actor_role=Role.system.value,
            actor_unit_code=ctx.org.city_centre().code,
            reason=REASON,
            payload={"recomputed": [c.record() for c in changes]},
        )
        if await queries.add_event(conn, row, event, now=now) is None:
            raise _Moved
        for change in changes:
            paused = change.status == DeadlineStatus.paused
            done = await conn.execute(
                sa.update(deadline)
                .where(
                    deadline.c.id == change.deadline_id,
                    deadline.c.status == change.status.value,
                    deadline.c.due_at == change.old_due,
                )
                .values(
                    due_at=change.new_due,
                    warnings=warnings_json(change.new_warnings),
                    warn_at=None if paused else first_warning(change.new_warnings),
                )
            )
            if done.rowcount != 1:
                raise _Moved


async def recompute_deadlines(
    engine: AsyncEngine, ctx: AppContext, *, now: datetime, dry_run: bool
) -> RecomputeReport:
    """Recompute every open clock; unless ``dry_run``, write each changed case in its own transaction."""
    report = await plan_recompute(engine, ctx)
    if dry_run:
        return report
    by_case: dict[int, list[ClockChange]] = defaultdict(list)
    for change in report.changes:
        by_case[change.case_id].append(change)
    for changes in by_case.values():
        try:
            await _write_case(engine, ctx, changes, now)
        except _Moved:
            report.stale_cases.append(changes[0].number)
            continue
        report.written_cases += 1
    return report
