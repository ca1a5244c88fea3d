"""Verifying the audit trail: every case's events and the security events, link by link, with
the audit key, and every case row against the digest its last event carries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.audit.events import CHAIN, audit_chain, security_events
from service.audit.keys import AuditKey, key_of
from service.cases.models import Case, CaseEvent, Party
from service.integrity.backfill import case_facts, stored_fingerprint
from workflows.chain import CASE_EVENT_FIELDS, GENESIS, SECURITY_EVENT_FIELDS

case_event = CaseEvent.__table__  # type: ignore[attr-defined]
cases = Case.__table__  # type: ignore[attr-defined]
party = Party.__table__  # type: ignore[attr-defined]

BATCH = 5000
CASE_BATCH = 500


@dataclass
class VerifyReport:
    cases: int = 0
    case_events: int = 0
    security_events: int = 0
    broken: str | None = None  # the first broken link, in words

    @property
    def intact(self) -> bool:
        return self.broken is None


def check_case(
    key: AuditKey, case_id: int, version: int, events: Sequence[Any], facts: Mapping[str, Any]
) -> str | None:
    """The first thing wrong with one case's chain, or None. ``facts``: the case's recorded facts
    as they stand (``recorded_facts`` of its row and parties)."""
    prev = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        where = f"case {case_id} event seq {event.seq}"
        if event.seq != expected_seq:
            return f"case {case_id}: event seq {expected_seq} is missing (deleted)"
        if (event.prev_hash or GENESIS) != prev:
            return f"{where}: does not point to its predecessor (an earlier event was altered or removed)"
        if event.hash != key.link(prev, dict(event._mapping), CASE_EVENT_FIELDS):
            return f"{where}: content does not match its keyed hash (altered, or rewritten without the key)"
        prev = event.hash
    if len(events) != version:
        return f"case {case_id}: version {version} but {len(events)} events (events deleted at the end)"
    if events and events[-1].case_digest != key.case_digest(facts):
        return (
            f"case {case_id}: the case as stored (state, unit, outcome, agreement, summary, parties …) "
            f"is not what its last event (seq {events[-1].seq}) recorded: changed without an event"
        )
    return None


async def _verify_cases(conn: AsyncConnection, key: AuditKey, report: VerifyReport) -> None:
    last_case = 0
    while report.intact:
        batch = (
            await conn.execute(
                sa.select(cases).where(cases.c.id > last_case).order_by(cases.c.id).limit(CASE_BATCH)
            )
        ).all()
        if not batch:
            return
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
        facts = await case_facts(conn, batch)
        for case in batch:
            report.cases += 1
            report.case_events += len(by_case[case.id])
            report.broken = report.broken or check_case(
                key, case.id, case.version, by_case[case.id], facts[case.id]
            )
        last_case = ids[-1]


async def _verify_security(conn: AsyncConnection, key: AuditKey, report: VerifyReport) -> None:
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
            if (row.prev_hash or GENESIS) != (prev or GENESIS):
                report.broken = (
                    f"{where}: does not point to its predecessor (a record was removed or altered)"
                )
                return
            if row.hash != key.link(prev, dict(row._mapping), SECURITY_EVENT_FIELDS):
                report.broken = (
                    f"{where}: content does not match its keyed hash (altered, or rewritten without the key)"
                )
                return
            prev = row.hash
            report.security_events += 1
        if len(rows) < BATCH:
            break
        last_id = rows[-1].id
    if report.intact and (prev or GENESIS) != (head.last_hash or GENESIS):
        report.broken = "the last security events were removed (the chain head points further)"


async def verify_audit(engine: AsyncEngine) -> VerifyReport:
    report = VerifyReport()
    async with engine.connect() as conn:
        key = key_of(conn)
        stored = await stored_fingerprint(conn)
        if stored is None:
            report.broken = "the audit trail is not signed with an audit key (run `jiefen migrate`)"
            return report
        if stored != key.fingerprint:
            report.broken = "the audit key given is not the key this database's audit trail is signed with"
            return report
        await _verify_cases(conn, key, report)
        if report.intact:
            await _verify_security(conn, key, report)
    return report
