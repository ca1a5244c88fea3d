"""Tell a unit something happened: an inbox item, plus one outbox row per webhook subscription,
written in the caller's transaction so the change and its announcement commit together."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.notifications.models import InboxItem, OutboxMessage, WebhookSubscription

inbox = InboxItem.__table__  # type: ignore[attr-defined]
outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
subscriptions = WebhookSubscription.__table__  # type: ignore[attr-defined]


async def notify(
    conn: AsyncConnection,
    *,
    unit_code: str,
    case_id: int,
    kind: str,
    reason: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    await conn.execute(
        sa.insert(inbox).values(
            unit_code=unit_code, case_id=case_id, kind=kind, reason=reason, payload=payload, created_at=now
        )
    )
    targets = (
        (
            await conn.execute(
                sa.select(subscriptions.c.id).where(
                    subscriptions.c.unit_code == unit_code, subscriptions.c.active.is_(True)
                )
            )
        )
        .scalars()
        .all()
    )
    if not targets:
        return
    body = {
        "event": kind,
        "unit_code": unit_code,
        "case_id": case_id,
        "reason": reason,
        "occurred_at": now.isoformat(),
        **payload,
    }
    await conn.execute(
        sa.insert(outbox),
        [
            {
                "subscription_id": subscription_id,
                # The receiver deduplicates by this key: a redelivery carries the same one.
                "idempotency_key": str(uuid.uuid4()),
                "event_type": kind,
                "payload": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for subscription_id in targets
        ],
    )
