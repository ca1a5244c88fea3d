"""Verifying the audit chains: every case's events and the security events, link by link."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.audit.events import CHAIN, audit_chain, security_events
from service.cases.models import Case, CaseEvent
from workflows.chain import CASE_EVENT_FIELDS, GENESIS, SECURITY_EVENT_FIELDS, link

case_event = CaseEvent.__table__  # type: ignore[attr-defined]
cases = Case.__table__  # type: ignore[attr-defined]

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
