"""The retention purge of security events (kept at least six months, 网络安全法 art. 21)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.audit.events import CHAIN, audit_chain, record_security_event, security_events

MIN_RETENTION_DAYS = 183  # at least six months


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
