"""The court desk queue: referred cases, claimed one at a time, each claim a lease.

"Give me the next case" is ``SELECT … FOR UPDATE SKIP LOCKED ORDER BY priority, queued_at
LIMIT 1`` plus the claim transition in the same transaction (docs/architecture.md, "Claims"): two clerks
pressing at the same moment get different cases. On SQLite, where FOR UPDATE does not exist,
the claim's version check decides and the loser simply tries the next case.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.cases import queries, writer
from service.cases.rows import CaseRecord, case_row, list_row
from service.cases.schemas import CasePublic, CaseSummary, TransitionIn
from service.cases.service import case_public, case_summary, decide_transition, write_transition
from service.context import AppContext
from service.db import reading
from service.errors import Forbidden, ServiceError
from workflows.lifecycle import SYSTEM_ACTOR_NAME, Actor, CaseState, Role, Trigger

log = logging.getLogger(__name__)
cases = queries.cases

CLAIM_ATTEMPTS = 5


def require_clerk(actor: Actor) -> None:
    if actor.role != Role.court_clerk:
        raise Forbidden(
            "Only a court clerk (or the court's system with a machine token) works the court queue."
        )


def _queue_order(table: sa.FromClause = cases) -> list[Any]:
    return [table.c.priority, table.c.queued_at, table.c.id]


async def list_queue(
    engine: AsyncEngine, actor: Actor, *, limit: int, offset: int
) -> tuple[list[CaseSummary], int]:
    if actor.role not in (Role.court_clerk, Role.auditor):
        raise Forbidden("The court queue is for the court desk.")
    referred = cases.c.state == CaseState.referred.value
    if actor.role == Role.auditor:
        referred = sa.and_(referred, cases.c.sensitive.is_(False))  # auditors never see sensitive cases
    async with reading(engine) as conn:
        rows = (
            await conn.execute(
                sa.select(*[cases.c[c] for c in queries.SUMMARY_COLUMNS])
                .where(referred)
                .order_by(*_queue_order())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(cases).where(referred))
        ).scalar_one()
    return [case_summary(list_row(r._mapping)) for r in rows], int(total)


@cache
def _next_in_queue(dialect: str, skipping: bool) -> sa.Select[Any]:
    """The next referred case, whole, locked, in one round trip, built once. SKIP LOCKED: a
    second clerk passes over the row the first is claiming. The pick is a subquery that reads
    only the queue's index and locks: with the case's parties and clocks in the same select,
    PostgreSQL built them for every row it skipped (64 clerks skip dozens each)."""
    queue = cases.alias("queue")
    # Written into the SQL, not bound: the queue's indexes are partial (WHERE state = 'referred')
    # and a generic plan can use them only when the statement says so itself.
    where = [queue.c.state == sa.literal_column(f"'{CaseState.referred.value}'")]
    if skipping:
        where.append(queue.c.id.not_in(sa.bindparam("skip", expanding=True)))
    picked = (
        sa.select(queue.c.id)
        .where(*where)
        .order_by(*_queue_order(queue))
        .limit(sa.literal_column("1"))  # written in, as the state: a generic plan reads one row
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return queries.case_select(dialect).where(cases.c.id == picked)


async def _claim_once(
    conn: AsyncConnection, ctx: AppContext, actor: Actor, now: datetime, skip: set[int]
) -> tuple[int | None, CaseRecord | None]:
    """(case id, the case as claimed) — (id, None) when someone else got it first, (None, None)
    when the queue is empty."""
    params = {"skip": sorted(skip)} if skip else {}
    found = (await conn.execute(_next_in_queue(conn.dialect.name, bool(skip)), params)).first()
    if found is None:
        return None, None
    row = case_row(found._mapping)
    plan = decide_transition(ctx, row, TransitionIn(trigger=Trigger.claim), actor, now=now, if_match=None)
    written = await write_transition(conn, plan)
    if written is None:
        return row.id, None
    return row.id, await writer.case_after(conn, row, written, plan)  # before commit, same connection


async def claim_next(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, *, now: datetime
) -> CasePublic | None:
    """Claim the next referred case for ``actor``; None when the queue is empty."""
    require_clerk(actor)
    skip: set[int] = set()
    for _ in range(CLAIM_ATTEMPTS):
        async with engine.begin() as conn:
            case_id, claimed = await _claim_once(conn, ctx, actor, now, skip)
            if claimed is None:
                await conn.rollback()
        if case_id is None:
            return None
        if claimed is not None:
            return case_public(claimed, ctx, now=now)
        skip.add(case_id)  # someone else got it first: try the next one
    return None


async def release_expired_leases(
    engine: AsyncEngine, ctx: AppContext, *, now: datetime, batch_size: int = 200
) -> int:
    """Claimed cases nobody worked on go back to the queue, as an audited `release` by the system."""
    system = Actor(SYSTEM_ACTOR_NAME, Role.system, ctx.org.city_centre().code)
    minutes = ctx.settings.court_lease_minutes
    released = 0
    async with engine.begin() as conn:
        ids = (
            (
                await conn.execute(
                    sa.select(cases.c.id)
                    .where(cases.c.state == CaseState.in_court.value, cases.c.lease_expires_at <= now)
                    .order_by(cases.c.lease_expires_at)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for case_id in ids:
            row = await queries.fetch_case(conn, case_id)
            assert row is not None
            body = TransitionIn.model_validate(
                {
                    "trigger": "release",
                    "reason": f"领取后 {minutes:g} 分钟内未作处理，退回队列 (claimed by {row.claimed_by})",
                }
            )
            try:
                plan = decide_transition(ctx, row, body, system, now=now, if_match=None)
            except ServiceError as exc:
                log.warning("lease of case %s not released: %s", case_id, exc.detail)
                continue
            if await write_transition(conn, plan) is not None:
                released += 1
    return released
