"""Verifying the audit chains, filling chains for records written before they existed, and the
retention purge of security events (kept at least six months, 网络安全法 art. 21)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cases.models import Case, CaseEvent
from service.privacy.chain import CASE_EVENT_FIELDS, GENESIS, SECURITY_EVENT_FIELDS, link
from service.privacy.events import CHAIN, audit_chain, record_security_event, security_events

case_event = CaseEvent.__table__  # type: ignore[attr-defined]
cases = Case.__table__  # type: ignore[attr-defined]

MIN_RETENTION_DAYS = 183  # at least six months
BATCH = 5000


@dataclass
class VerifyReport:
    cases: int = 0
    case_events: int = 0
    security_events: int = 0
    broken: str | None = None  # the first broken link, in words

    @property
    def intact(self) -> bool:
        return self.broken is None


def _check_case(case_id: int, version: int, events: Sequence[Any]) -> str | None:
    prev = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        where = f"case {case_id} event seq {event.seq}"
        if event.seq != expected_seq:
            return f"case {case_id}: event seq {expected_seq} is missing (deleted)"
        if (event.prev_hash or GENESIS) != prev:
            return f"{where}: does not point to its predecessor (an earlier event was altered or removed)"
        if event.hash != link(prev, dict(event._mapping), CASE_EVENT_FIELDS):
            return f"{where}: content does not match its hash (altered)"
        prev = event.hash
    if len(events) != version:
        return f"case {case_id}: version {version} but {len(events)} events (events deleted at the end)"
    return None


async def verify_audit(engine: AsyncEngine) -> VerifyReport:
    report = VerifyReport()
    async with engine.connect() as conn:
        last_case = 0
        while report.intact:
            batch = (
                await conn.execute(
                    sa.select(cases.c.id, cases.c.version)
                    .where(cases.c.id > last_case)
                    .order_by(cases.c.id)
                    .limit(500)
                )
            ).all()
            if not batch:
                break
            ids = [c.id for c in batch]
            rows = (
                await conn.execute(
                    sa.select(case_event)
                    .where(case_event.c.case_id.in_(ids))
                    .order_by(case_event.c.case_id, case_event.c.seq)
                )
            ).all()
            by_case: dict[int, list[Any]] = {i: [] for i in ids}
            for row in rows:
                by_case[row.case_id].append(row)
            for case in batch:
                report.cases += 1
                report.case_events += len(by_case[case.id])
                report.broken = report.broken or _check_case(case.id, case.version, by_case[case.id])
            last_case = ids[-1]
        if report.intact:
            head = (await conn.execute(sa.select(audit_chain).where(audit_chain.c.name == CHAIN))).one()
            prev, last_id = head.anchor_hash, 0
            while report.intact:
                rows = (
                    await conn.execute(
                        sa.select(security_events)
                        .where(security_events.c.id > last_id)
                        .order_by(security_events.c.id)
                        .limit(BATCH)
                    )
                ).all()
                for row in rows:
                    where = f"security event {row.id} ({row.kind} by {row.actor})"
                    if (row.prev_hash or GENESIS) != prev:
                        report.broken = (
                            f"{where}: does not point to its predecessor (a record was removed or altered)"
                        )
                        break
                    if row.hash != link(prev, dict(row._mapping), SECURITY_EVENT_FIELDS):
                        report.broken = f"{where}: content does not match its hash (altered)"
                        break
                    prev = row.hash
                    report.security_events += 1
                if len(rows) < BATCH:
                    break
                last_id = rows[-1].id
            if report.intact and prev != head.last_hash:
                report.broken = "the last security events were removed (the chain head points further)"
    return report


FILL_BATCH = 2000  # cases per round of ``fill_missing_case_chains``


async def fill_missing_case_chains(engine: AsyncEngine) -> int:
    """Chain events written before tamper evidence existed (start-up; a no-op once done). The
    cases are chained a batch at a time: one read of their events, one executemany of the
    hashes (an upgrade may find hundreds of thousands of cases to chain)."""
    async with engine.begin() as conn:
        ids = (
            (
                await conn.execute(
                    sa.select(case_event.c.case_id)
                    .where(case_event.c.hash.is_(None))
                    .distinct()
                    .order_by(case_event.c.case_id)
                )
            )
            .scalars()
            .all()
        )
        set_hash = (
            sa.update(case_event)
            .where(case_event.c.id == sa.bindparam("event_id"))
            .values(prev_hash=sa.bindparam("prev"), hash=sa.bindparam("digest"))
        )
        for start in range(0, len(ids), FILL_BATCH):
            events = (
                await conn.execute(
                    sa.select(case_event)
                    .where(case_event.c.case_id.in_(ids[start : start + FILL_BATCH]))
                    .order_by(case_event.c.case_id, case_event.c.seq)
                )
            ).all()
            hashes = []
            case_id, prev = None, GENESIS
            for event in events:
                if event.case_id != case_id:
                    case_id, prev = event.case_id, GENESIS
                digest = link(prev, dict(event._mapping), CASE_EVENT_FIELDS)
                hashes.append({"event_id": event.id, "prev": prev, "digest": digest})
                prev = digest
            await conn.execute(set_hash, hashes)
    return len(ids)


async def purge_security_events(
    engine: AsyncEngine, *, older_than_days: int, actor: str, now: datetime
) -> int:
    """Delete security events past retention; the purge itself is recorded, and the chain re-anchored."""
    if older_than_days < MIN_RETENTION_DAYS:
        raise ValueError(f"security events are kept at least {MIN_RETENTION_DAYS} days (网络安全法 第21条)")
    cutoff = now - timedelta(days=older_than_days)
    async with engine.begin() as conn:
        doomed = (
            await conn.execute(
                sa.select(sa.func.count(), sa.func.max(security_events.c.id)).where(
                    security_events.c.at < cutoff
                )
            )
        ).one()
        count, last_id = int(doomed[0]), doomed[1]
        if not count:
            return 0
        anchor = (
            await conn.execute(sa.select(security_events.c.hash).where(security_events.c.id == last_id))
        ).scalar_one()
        await conn.execute(sa.delete(security_events).where(security_events.c.id <= last_id))
        await conn.execute(
            sa.update(audit_chain).where(audit_chain.c.name == CHAIN).values(anchor_hash=anchor or "")
        )
        await record_security_event(
            conn,
            kind="security_events_purged",
            actor=actor,
            reason=f"retention: older than {older_than_days} days",
            payload={"count": count, "through_id": last_id, "before": cutoff.isoformat(), "anchor": anchor},
            now=now,
        )
    return count
