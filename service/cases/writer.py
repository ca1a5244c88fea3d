"""The one executor of transition plans: people, pages, the court desk and the sweep all write
through it, on PostgreSQL and SQLite alike, inside the caller's transaction.

A plan (``workflows.transition.TransitionPlan``) is written as: the case guarded by its version
with its hash-chained event, then its clocks, its referral records and its announcements (inbox
items and outbox messages). ``write`` takes one plan; ``write_batch`` many, set-based, for cases
the caller holds locked (the sweep).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases import queries
from service.deadlines import service as deadlines
from service.notifications import service as notifications
from service.referrals import service as referrals
from workflows.transition import OpeningPlan, TransitionPlan


async def write(conn: AsyncConnection, plan: TransitionPlan) -> int | None:
    """The new version, or None (nothing written) when the case moved since it was read."""
    version = await queries.apply_change(
        conn,
        plan.case_id,
        plan.expected_version,
        dict(plan.changes),
        dict(plan.event),
        prev_hash=plan.prev_hash,
    )
    if version is None:
        return None
    await _consequences(conn, [plan], now=plan.now)
    return version


async def write_batch(conn: AsyncConnection, plans: Sequence[TransitionPlan], *, now: datetime) -> None:
    """Many plans in a few statements, for cases the caller holds locked (``FOR UPDATE``).
    Raises ``queries.BatchConflict`` (the caller rolls back) if any case was not at its version."""
    if not plans:
        return
    await queries.apply_changes(
        conn,
        [
            queries.CaseWrite(p.case_id, p.expected_version, dict(p.changes), dict(p.event), p.prev_hash)
            for p in plans
        ],
    )
    await _consequences(conn, plans, now=now)


async def _consequences(conn: AsyncConnection, plans: Sequence[TransitionPlan], *, now: datetime) -> None:
    await deadlines.write_clocks(conn, [p.clocks for p in plans], now=now)
    await referrals.write(conn, plans, now=now)
    await notifications.notify_many(conn, [a for p in plans for a in p.announcements], now=now)


async def write_opening(
    conn: AsyncConnection, case_id: int, unit_code: str, opening: OpeningPlan, *, now: datetime
) -> None:
    """What a new case starts besides its row (written by ``queries.insert_case``)."""
    await deadlines.start_clocks(conn, case_id, unit_code, opening.clocks, now=now)
    await notifications.notify_many(conn, [opening.announcement], now=now)
