"""A mediator's own cases and deadlines, and a unit's caseload by mediator.

"My cases" are the open cases the signed-in person's roster record (``mediator.user_id``) is
assigned to now, lead or co; a person without a roster record (an administrator, a new login not
yet on the roster) gets an empty answer that says why, not an error. The caseload is the
coordinators': each mediator on the roster of the unit and the units under it, with what they
carry now, and the month's statistics by mediator (``service.stats.by_mediator``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from service.caseload import queries
from service.caseload.queries import AssignedCase, OpenDeadline
from service.caseload.schemas import Caseload, CaseloadRow, MyCase, MyCases, MyDeadline, MyDeadlines
from service.clock import SHANGHAI
from service.context import AppContext
from service.db import reading
from service.errors import Forbidden
from service.stats import by_mediator
from service.stats.queries import Period, StatsQuery, resolve_units
from workflows.deadlines import DeadlineStatus
from workflows.lifecycle import STATE_LABELS, Actor, CaseState, Role
from workflows.mediators import ASSIGNMENT_ROLE_LABELS, AssignmentRole
from workflows.vocab import DISPUTE_TYPE_LABELS, DisputeType

NOT_ON_ROSTER = (
    "You are not on the mediators' roster: no roster record is linked to your sign-in, so no case "
    "is assigned to you. A coordinator adds you to the roster."
)
# Not strftime's %b: that follows the process's locale.
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FAR = datetime.max.replace(tzinfo=UTC)
CASELOAD_READERS = frozenset({Role.coordinator, Role.admin, Role.auditor, Role.system})


def due_words(due_at: datetime, now: datetime, lang: str = "zh") -> str:
    """When a clock falls due, as a person reads it: local time, month and day, the year only when
    it is not this year — 3月7日 00:00 前, or 已于 3月7日 00:00 届满 once past."""
    local, today = due_at.astimezone(SHANGHAI), now.astimezone(SHANGHAI)
    if lang == "en":
        day = f"{local.day} {MONTHS_EN[local.month - 1]}" + (
            f" {local.year}" if local.year != today.year else ""
        )
        at = f"{day} {local:%H:%M}"
        return f"fell due {at}" if due_at <= now else f"before {at}"
    day = (f"{local.year}年" if local.year != today.year else "") + f"{local.month}月{local.day}日"
    at = f"{day} {local:%H:%M}"
    return f"已于 {at} 届满" if due_at <= now else f"{at} 前"


def _overdue(d: OpenDeadline, now: datetime) -> bool:
    return d.status == DeadlineStatus.breached.value or (
        d.status == DeadlineStatus.active.value and d.due_at <= now
    )


def _deadline(ctx: AppContext, d: OpenDeadline, case: AssignedCase, now: datetime) -> MyDeadline:
    running = d.status != DeadlineStatus.paused.value
    return MyDeadline(
        id=d.id,
        case_id=d.case_id,
        number=case.number,
        kind=d.kind,
        name=ctx.policies.by_kind(d.kind).name,
        status=d.status,
        due_at=d.due_at,
        # The instant is 00:00 after the last day; people read the last day itself.
        due_date=(d.due_at.astimezone(SHANGHAI) - timedelta(microseconds=1)).date(),
        due_text=due_words(d.due_at, now),
        overdue=_overdue(d, now),
        working_days_left=ctx.calendar.working_days_left(now, d.due_at) if running else None,
        role=case.role,
    )


def deadline_order(d: MyDeadline) -> tuple[bool, bool, datetime, int]:
    """Overdue first, then the soonest; a paused clock (its due time moves) last."""
    return (d.status == DeadlineStatus.paused.value, not d.overdue, d.due_at, d.id)


async def _my_work(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, now: datetime
) -> tuple[queries.RosterRecord | None, list[AssignedCase], list[MyDeadline]]:
    if actor.user_id is None:
        return None, [], []
    async with reading(engine) as conn:
        record = await queries.roster_record_of(conn, actor.user_id)
        if record is None:
            return None, [], []
        assigned = await queries.assigned_cases(conn, record.id)
        clocks = await queries.open_deadlines(conn, [c.case_id for c in assigned])
    by_case = {c.case_id: c for c in assigned}
    deadlines = sorted((_deadline(ctx, d, by_case[d.case_id], now) for d in clocks), key=deadline_order)
    return record, assigned, deadlines


async def my_cases(engine: AsyncEngine, ctx: AppContext, actor: Actor, *, now: datetime) -> MyCases:
    record, assigned, deadlines = await _my_work(engine, ctx, actor, now)
    if record is None:
        return MyCases(mediator_id=None, mediator_name=None, message=NOT_ON_ROSTER, cases=[])
    # The deadlines are in order already: the first of a case is its next (a running one before
    # a paused one).
    nexts: dict[int, MyDeadline] = {}
    late: set[int] = set()
    for d in deadlines:
        nexts.setdefault(d.case_id, d)
        if d.overdue:
            late.add(d.case_id)
    items = [
        MyCase(
            case_id=c.case_id,
            number=c.number,
            dispute_type=c.dispute_type,
            dispute_type_label=_type_label(c.dispute_type),
            state=c.state,
            state_label=STATE_LABELS[CaseState(c.state)],
            unit_code=c.unit_code,
            unit_name=ctx.org.name_of(c.unit_code) or c.unit_code,
            role=c.role,
            role_label=ASSIGNMENT_ROLE_LABELS[AssignmentRole(c.role)],
            assigned_at=c.assigned_at,
            next_deadline=nexts.get(c.case_id),
            overdue=c.case_id in late,
        )
        for c in assigned
    ]

    def order(case: MyCase) -> tuple[bool, bool, bool, datetime, datetime, int]:
        due = case.next_deadline
        if due is None:  # nothing running: after every case with a clock
            return (True, True, True, FAR, case.assigned_at, case.case_id)
        paused, on_time, due_at, _ = deadline_order(due)
        return (False, paused, on_time, due_at, case.assigned_at, case.case_id)

    return MyCases(mediator_id=record.id, mediator_name=record.name, cases=sorted(items, key=order))


async def my_deadlines(engine: AsyncEngine, ctx: AppContext, actor: Actor, *, now: datetime) -> MyDeadlines:
    record, _, deadlines = await _my_work(engine, ctx, actor, now)
    if record is None:
        return MyDeadlines(mediator_id=None, mediator_name=None, message=NOT_ON_ROSTER, deadlines=[])
    return MyDeadlines(mediator_id=record.id, mediator_name=record.name, deadlines=deadlines)


def _type_label(code: str) -> str:
    try:
        return DISPUTE_TYPE_LABELS[DisputeType(code)]
    except ValueError:
        return code


def require_caseload_reader(actor: Actor) -> None:
    if actor.role not in CASELOAD_READERS:
        raise Forbidden(
            "The caseload by mediator is for the coordinators of the unit (and auditors and "
            "administrators); a mediator's own cases are at /api/v1/me/cases."
        )


async def caseload(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, unit: str | None, *, now: datetime
) -> Caseload:
    """Each mediator on the roster of ``unit`` and the units under it (default: the actor's own),
    with their open cases (lead / co), overdue deadlines and cases closed this month, and the
    month's statistics by mediator. 403 for other roles; 422 for an unknown unit; 404 outside scope."""
    require_caseload_reader(actor)
    code = unit or actor.unit_code
    units = resolve_units(actor, ctx.org, code)
    local = now.astimezone(SHANGHAI)
    month = Period.month(f"{local.year:04d}-{local.month:02d}")
    async with reading(engine) as conn:
        figures, served = await queries.caseload(
            conn, units, month_start=month.start_at, month_end=month.end_at, now=now
        )
        stats = await by_mediator.by_mediator(conn, StatsQuery(month, now=now, units=units))
    rows = [
        CaseloadRow(
            mediator_id=f.mediator_id,
            name=f.name,
            unit_codes=served.get(f.mediator_id, []),
            employment=f.employment,
            active=f.active,
            has_sign_in=f.has_sign_in,
            open_lead=f.open_lead,
            open_co=f.open_co,
            overdue_deadlines=f.overdue_deadlines,
            closed_this_month=f.closed_this_month,
        )
        for f in figures
    ]
    # Who carries most first; the inactive (whose open cases need reassigning) with the rest.
    rows.sort(key=lambda r: (-(r.open_lead + r.open_co), -r.overdue_deadlines, r.name, r.mediator_id))
    return Caseload(
        unit_code=code,
        unit_name=ctx.org.name_of(code) or code,
        month=month.months()[0],
        rows=rows,
        period=month.public(),
        stats=stats,
    )
