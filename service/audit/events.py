"""Security events (sign-ins, tokens, reveals, permission changes), chained for tamper evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.audit.keys import key_of
from service.audit.models import AuditChain, SecurityEvent
from workflows.chain import SECURITY_EVENT_FIELDS

security_events = SecurityEvent.__table__  # type: ignore[attr-defined]
audit_chain = AuditChain.__table__  # type: ignore[attr-defined]
CHAIN = "security"


async def record_security_event(
    conn: AsyncConnection,
    *,
    kind: str,
    actor: str,
    actor_role: str | None = None,
    actor_unit_code: str | None = None,
    case_id: int | None = None,
    party_id: int | None = None,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
    client_ip: str | None = None,
    now: datetime,
) -> int:
    """Append one security event to the chain, in the caller's transaction; returns its id."""
    # Moving the head first takes its row lock (PostgreSQL) or the write lock (SQLite): concurrent
    # writers queue here, so each links to the one before it and the chain never forks.
    head = (
        await conn.execute(
            sa.update(audit_chain)
            .where(audit_chain.c.name == CHAIN)
            .values(seq=audit_chain.c.seq + 1)
            .returning(audit_chain.c.last_hash)
        )
    ).one()
    values: dict[str, Any] = {
        "at": now,
        "kind": kind,
        "actor": actor,
        "actor_role": actor_role,
        "actor_unit_code": actor_unit_code,
        "case_id": case_id,
        "party_id": party_id,
        "reason": reason,
        "payload": payload or {},
        "client_ip": client_ip,
    }
    event_id: int = (
        await conn.execute(sa.insert(security_events).values(**values).returning(security_events.c.id))
    ).scalar_one()
    digest = key_of(conn).link(head.last_hash, {**values, "id": event_id}, SECURITY_EVENT_FIELDS)
    await conn.execute(
        sa.update(security_events)
        .where(security_events.c.id == event_id)
        .values(prev_hash=head.last_hash, hash=digest)
    )
    await conn.execute(sa.update(audit_chain).where(audit_chain.c.name == CHAIN).values(last_hash=digest))
    return event_id
