"""The sweep: claim due warnings and breaches, act on each exactly once.

Safe with many replicas (docs/architecture.md, "The sweep"): rows are claimed with ``FOR UPDATE SKIP LOCKED``
in batches, every warning or breach first inserts its (deadline, action, level) row — a unique
key, so a second sweeper or a restart mid-batch cannot act twice — and a breach is applied
through the same transition functions a person uses, with the system as the actor and the
policy as the reason. Each deadline is handled inside its own savepoint, so one failure does
not undo the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.cases import queries
from service.cases.queries import BatchConflict
from service.cases.reports import notify_overdue
from service.cases.rows import CaseRow
from service.cases.schemas import TransitionIn
from service.cases.service import decide_transition, write_transition
from service.cases.writer import write_batch
from service.context import AppContext
from service.court.service import release_expired_leases
from service.deadlines.models import Deadline, DeadlineAction
from service.deadlines.rows import warnings_from_json
from service.deadlines.service import warnings_json
from service.errors import ServiceError
from service.notifications import service as notifications
from service.screening.major import escalate_unacknowledged
from service.screening.service import flag_missing
from workflows.deadlines import BreachAction, DeadlineStatus, Policy, Warning
from workflows.labour import opened_by_breach
from workflows.lifecycle import SYSTEM_ACTOR_NAME, Actor, CaseState, Role, TerminationReason, Trigger
from workflows.transition import Announcement, TransitionPlan

log = logging.getLogger(__name__)

deadline = Deadline.__table__  # type: ignore[attr-defined]
cases = queries.cases
deadline_action = DeadlineAction.__table__  # type: ignore[attr-defined]


@dataclass
class SweepReport:
    warned: int = 0
    breached: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0  # already done by another sweeper: skipped
    released: int = 0  # court claims whose lease ran out, back in the queue
    keys_forgotten: int = 0  # expired Idempotency-Keys
    reports_overdue: int = 0  # crime reports newly past their acknowledgement time, told once
    majors_escalated: int = 0  # major-dispute reports unacknowledged in time, escalated once
    screening_missing: int = 0  # units newly flagged to their town for a period without a round
    batches: int = 0

    def count(self, action: str) -> None:
        self.actions[action] = self.actions.get(action, 0) + 1


def system_actor(ctx: AppContext) -> Actor:
    return Actor(SYSTEM_ACTOR_NAME, Role.system, ctx.org.city_centre().code)


@dataclass(frozen=True, slots=True)
class DueClock:
    """A running clock the sweep claimed: its breach, or a warning of it, is due."""

    id: int
    case_id: int
    kind: str  # the policy's kind
    due_at: datetime
    warnings: tuple[Warning, ...]  # not yet sent
    extensions: int  # how many times it was extended

    @property
    def breach_level(self) -> str:
        """The level its breach is recorded at: once per window, so an extended clock breaches again."""
        return f"due+ext{self.extensions}" if self.extensions else "due"


def _due_clock(m: RowMapping) -> DueClock:
    return DueClock(
        id=m["id"],
        case_id=m["case_id"],
        kind=m["kind"],
        due_at=m["due_at"],
        warnings=warnings_from_json(m["warnings"]),
        extensions=len(m["extensions"] or []),
    )


async def claim_due(
    conn: AsyncConnection, now: datetime, batch_size: int, failed: set[int] | None = None
) -> list[DueClock]:
    """Lock up to ``batch_size`` running clocks whose warning or breach is due, with their cases,
    for the rest of the caller's transaction (``failed``: clocks to pass over)."""
    due = sa.or_(deadline.c.due_at <= now, deadline.c.warn_at <= now)
    skip = [deadline.c.id.not_in(sorted(failed))] if failed else []
    stmt = (
        sa.select(deadline)
        .join(cases, cases.c.id == deadline.c.case_id)
        .where(deadline.c.status == DeadlineStatus.active.value, due, *skip)
        .order_by(deadline.c.id)
        .limit(batch_size)
        # SKIP LOCKED lets a second replica sweep other rows instead of waiting (no-op on SQLite).
        # The case row is locked too, up front: a person's transition locks the case first and
        # then its deadlines, so the sweep must never wait for a case while holding a deadline
        # (that order deadlocked). A case someone is changing right now is simply skipped until
        # the next sweep, and a person changing a case in the batch waits for the batch, then
        # gets an honest 412 if the sweep moved it.
        .with_for_update(skip_locked=True, of=[cases, deadline])
    )
    return [_due_clock(r._mapping) for r in await conn.execute(stmt)]


async def _record_once(
    conn: AsyncConnection, deadline_id: int, action: str, level: str, now: datetime
) -> bool:
    """Insert the (deadline, action, level) row; False when it already exists."""
    values = {"deadline_id": deadline_id, "action": action, "level": level, "at": now, "result": ""}
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(deadline_action).values(**values).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(deadline_action).values(**values).on_conflict_do_nothing()
    return bool((await conn.execute(stmt.returning(deadline_action.c.id))).first())


def breach_reason(policy: Policy) -> str:
    return f"{policy.name}已届满（{policy.source}）"


def prompt_reason(policy: Policy) -> str:
    """What the holding unit is asked to do when a period it cannot simply run past has ended."""
    return (
        f"{policy.name}已届满（{policy.source}）。依法可选：经双方当事人同意延长调解期限；"
        "或终止调解（期满未同意延长），并告知当事人可以依法通过仲裁、行政、司法等途径维护权利"
        "（人民调解法 第26条）。办理前本案显示为已逾期。"
    )


def breach_result(action: BreachAction) -> str:
    """The recorded result of a breach whose action moves nothing."""
    return {BreachAction.notify: "notified", BreachAction.prompt: "prompted"}.get(action, "flagged overdue")


async def _transition(
    conn: AsyncConnection,
    ctx: AppContext,
    case_id: int,
    trigger: str,
    now: datetime,
    row: CaseRow | None = None,
    **fields: Any,
) -> bool:
    """Fire a trigger as the system inside the sweep's transaction; False when not possible now."""
    row = row if row is not None else await queries.fetch_case(conn, case_id)
    if row is None:
        return False
    body = TransitionIn.model_validate({"trigger": trigger, **fields})
    try:
        plan = decide_transition(ctx, row, body, system_actor(ctx), now=now, if_match=None)
    except ServiceError as exc:
        log.info("breach action %s on case %s not possible: %s", trigger, case_id, exc.detail)
        return False
    return await write_transition(conn, plan) is not None


async def _apply_breach(
    conn: AsyncConnection, ctx: AppContext, row: DueClock, policy: Policy, now: datetime
) -> str:
    reason = breach_reason(policy)
    case = await queries.fetch_case(conn, row.case_id)
    assert case is not None
    state = case.state
    # Everyone concerned hears of the breach first: the unit that holds the case and its supervisor.
    await notifications.notify_many(conn, _breach_notes(ctx, row, case, policy), now=now)
    if policy.breach == BreachAction.escalate:
        if await _transition(conn, ctx, row.case_id, "escalate", now, case, reason=reason):
            return "escalated"
        return "notified (no parent tier to escalate to)"
    if policy.breach == BreachAction.return_referral:
        if state == CaseState.assigned and await _transition(
            conn, ctx, row.case_id, "decline", now, case, reason=reason
        ):
            return "returned to sender"
        if state in (CaseState.mediating, CaseState.suspended):
            # A court-delegated mediation whose period ran out goes back to the court.
            ended = await _transition(
                conn,
                ctx,
                row.case_id,
                "terminate",
                now,
                termination_reason=TerminationReason.period_expired.value,
                reason=reason,
            )
            if ended and await _transition(conn, ctx, row.case_id, "refer_to_court", now, reason=reason):
                return "terminated and returned to the court"
        return "notified (could not return)"
    return breach_result(policy.breach)


def _breach_notes(ctx: AppContext, row: DueClock, case: CaseRow, policy: Policy) -> list[Announcement]:
    """The unit holding the case hears of a breach, and so does its supervisor (whose coordinator
    sees the inbox of the units below) when the policy notifies, escalates or prompts."""
    reason = prompt_reason(policy) if policy.breach == BreachAction.prompt else breach_reason(policy)
    payload: dict[str, Any] = {
        "number": case.number,
        "deadline": policy.kind,
        "due_at": row.due_at.isoformat(),
        "action": policy.breach.value,
    }
    if policy.breach == BreachAction.prompt:
        payload["options"] = ["extend", "terminate"]
        payload["deadline_id"] = row.id
    opened = opened_by_breach(policy.kind)
    if opened is not None:
        # The moment the law opens another route (labour: arbitration) is told once, with the breach.
        payload["route"] = opened
        reason = f"{reason}；{opened['text']}"
    notes = [Announcement(case.unit_code, row.case_id, "breach", reason, payload)]
    supervisor = ctx.org.parent(case.unit_code)
    told = (BreachAction.notify, BreachAction.escalate, BreachAction.prompt)
    if policy.breach in told and supervisor is not None:
        notes.append(Announcement(supervisor.code, row.case_id, "breach", reason, payload))
    return notes


def _batchable(ctx: AppContext, row: DueClock, now: datetime) -> bool:
    """Breaches whose action is only notes and an escalation: the bulk of a sweep after downtime
    or a busy week, and written a batch at a time (see ``_escalate_batch``)."""
    return row.due_at <= now and ctx.policies.by_kind(row.kind).breach in (
        BreachAction.escalate,
        BreachAction.notify,
        BreachAction.flag_overdue,
        BreachAction.prompt,
    )


async def mark_breached(conn: AsyncConnection, clock_ids: Sequence[int], now: datetime) -> None:
    """The clocks are breached: they warn no more, and stay breached until their case moves on."""
    await conn.execute(
        sa.update(deadline)
        .where(deadline.c.id.in_(list(clock_ids)))
        .values(status=DeadlineStatus.breached.value, breached_at=now, warn_at=None, warnings=[])
    )


@dataclass(frozen=True, slots=True)
class BreachBatch:
    """What a batch of breaches does, decided: the escalations' plans (each led by its case's
    breach notes), the breach notes of the cases that do not move, and each clock's result."""

    plans: list[TransitionPlan]
    notes: list[Announcement]
    results: list[tuple[DueClock, str]]


async def plan_breaches(
    conn: AsyncConnection, ctx: AppContext, clocks: Sequence[DueClock], now: datetime
) -> BreachBatch:
    """Breach the clocks and decide what follows, as ``_handle`` would one by one (the same
    ``decide_transition`` plans); nothing but the breach itself is written yet."""
    await mark_breached(conn, [c.id for c in clocks], now)
    # Read after the breach: the plans see these clocks breached, and never pause them.
    found = await queries.fetch_cases(conn, sorted({c.case_id for c in clocks}))
    notes: list[Announcement] = []
    plans: list[TransitionPlan] = []
    results: list[tuple[DueClock, str]] = []
    moved: set[int] = set()
    for clock in clocks:
        policy = ctx.policies.by_kind(clock.kind)
        case = found[clock.case_id]
        notes += _breach_notes(ctx, clock, case, policy)
        result = breach_result(policy.breach)
        if policy.breach == BreachAction.escalate:
            result = "notified (no parent tier to escalate to)"
            if clock.case_id not in moved:  # two clocks of one case breached at once: escalate once
                body = TransitionIn(trigger=Trigger.escalate, reason=breach_reason(policy))
                try:
                    plans.append(
                        decide_transition(ctx, case, body, system_actor(ctx), now=now, if_match=None)
                    )
                    moved.add(clock.case_id)
                except ServiceError as exc:
                    log.info("breach action escalate on case %s not possible: %s", clock.case_id, exc.detail)
            if clock.case_id in moved:
                result = "escalated"
        results.append((clock, result))
    # As one by one, a case's breach notes come before the escalation they cause: they lead the
    # announcements of its plan. The notes of cases that do not move go on their own.
    escalated = {p.case_id for p in plans}
    return BreachBatch(
        plans=[
            replace(p, announcements=(*(n for n in notes if n.case_id == p.case_id), *p.announcements))
            for p in plans
        ],
        notes=[n for n in notes if n.case_id not in escalated],
        results=results,
    )


async def _escalate_batch(
    conn: AsyncConnection, ctx: AppContext, rows: list[DueClock], now: datetime, report: SweepReport
) -> None:
    """Breach many deadlines in a dozen statements instead of a dozen per deadline.

    The same decisions as ``_handle`` one by one (``plan_breaches``), written by the executor's
    set-based form. The caller holds every case and deadline locked, so nothing can move under
    the batch; if anything is off (a duplicate action, a version that moved) the batch raises
    and the caller redoes these deadlines one at a time.
    """
    batch = await plan_breaches(conn, ctx, rows, now)
    # The notes of cases that do not move go first, as one by one.
    await notifications.notify_many(conn, batch.notes, now=now)
    await write_batch(conn, batch.plans, now=now)
    # Last, as one by one: a (deadline, action, level) already recorded fails the whole batch.
    await conn.execute(
        sa.insert(deadline_action),
        [
            {"deadline_id": c.id, "action": "breach", "level": c.breach_level, "at": now, "result": result}
            for c, result in batch.results
        ],
    )
    for _, result in batch.results:
        report.count(result)
    report.breached += len(rows)


async def _handle(
    conn: AsyncConnection, ctx: AppContext, row: DueClock, now: datetime, report: SweepReport
) -> None:
    policy = ctx.policies.by_kind(row.kind)
    if row.due_at <= now:
        # A second breach of the same window is impossible: the unique (deadline, breach, level)
        # row is written last, so a duplicate rolls back this deadline's savepoint, action and all.
        await mark_breached(conn, [row.id], now)
        result = await _apply_breach(conn, ctx, row, policy, now)
        await conn.execute(
            sa.insert(deadline_action).values(
                deadline_id=row.id, action="breach", level=row.breach_level, at=now, result=result[:200]
            )
        )
        report.breached += 1
        report.count(result)
        return

    pending = row.warnings
    due_now = [(level, at) for level, at in pending if at <= now]
    remaining = [(level, at) for level, at in pending if at > now]
    await conn.execute(
        sa.update(deadline)
        .where(deadline.c.id == row.id)
        .values(warnings=warnings_json(remaining), warn_at=min((at for _, at in remaining), default=None))
    )
    # Several levels due at once (the service was down): send only the latest, record them all.
    for index, (level, _) in enumerate(due_now):
        if not await _record_once(conn, row.id, "warn", level, now):
            report.duplicates += 1
            continue
        if index == len(due_now) - 1:
            case = await queries.fetch_case(conn, row.case_id)
            assert case is not None
            warning = Announcement(
                case.unit_code,
                row.case_id,
                "warning",
                f"{policy.name}将于 {row.due_at.isoformat()} 届满（{policy.source}）",
                {
                    "number": case.number,
                    "deadline": policy.kind,
                    "level": level,
                    "due_at": row.due_at.isoformat(),
                },
            )
            await notifications.notify_many(conn, [warning], now=now)
            report.warned += 1


async def sweep(engine: AsyncEngine, ctx: AppContext, *, now: datetime, batch_size: int = 200) -> SweepReport:
    """One sweep as of ``now``; commits per batch. Returns what it did."""
    report = SweepReport()
    report.released = await release_expired_leases(engine, ctx, now=now)
    async with engine.begin() as conn:
        forget_before = now - timedelta(hours=ctx.settings.idempotency_key_hours)
        report.keys_forgotten = await queries.forget_idempotency_keys(conn, before=forget_before)
    report.reports_overdue = await notify_overdue(engine, ctx, now=now)
    report.majors_escalated = await escalate_unacknowledged(engine, ctx, now=now)
    report.screening_missing = await flag_missing(engine, ctx, now=now)
    failed: set[int] = set()
    while True:
        async with engine.begin() as conn:
            rows = await claim_due(conn, now, batch_size, failed)
            one_by_one = rows
            bulk = [r for r in rows if _batchable(ctx, r, now)]
            if len(bulk) > 1:
                before = (dict(report.actions), report.breached)
                try:
                    async with conn.begin_nested():
                        await _escalate_batch(conn, ctx, bulk, now, report)
                    one_by_one = [r for r in rows if not _batchable(ctx, r, now)]
                except (BatchConflict, IntegrityError) as exc:
                    # Expected now and then (a case that moved under the batch, an action already
                    # recorded by another sweeper): rolled back to the savepoint, done one by one below.
                    log.info("batch of %s breaches redone one by one: %s", len(bulk), exc)
                    report.actions, report.breached = before
                except Exception:
                    # A bug or a bad row: say so loudly with the cases, then do them one by one,
                    # each in its own savepoint, so one bad case cannot hold back the others.
                    log.exception(
                        "batch of %s breaches failed unexpectedly (cases %s); redone one by one",
                        len(bulk),
                        sorted({r.case_id for r in bulk}),
                    )
                    report.actions, report.breached = before
            for row in one_by_one:
                try:
                    async with conn.begin_nested():
                        await _handle(conn, ctx, row, now, report)
                except IntegrityError as exc:
                    # Expected only as the (deadline, action, level) key: someone acted already.
                    log.info("deadline %s: action already recorded, rolled back (%s)", row.id, exc.orig)
                    report.duplicates += 1
                    failed.add(row.id)
                except Exception:
                    # Leave this one for the next sweep; the rest of the batch still commits.
                    log.exception("deadline %s could not be handled", row.id)
                    failed.add(row.id)
        if not rows:
            break
        report.batches += 1
        if len(rows) < batch_size:
            break
    return report
