"""Filling the hash chains of case events written before tamper evidence existed."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cases.models import CaseEvent
from workflows.chain import CASE_EVENT_FIELDS, GENESIS, link

case_event = CaseEvent.__table__  # type: ignore[attr-defined]

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
