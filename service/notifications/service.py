"""Tell a unit something happened: an inbox item, plus one outbox row per webhook subscription,
written in the caller's transaction so the change and its announcement commit together."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    item = sa.insert(inbox).values(
        unit_code=unit_code, case_id=case_id, kind=kind, reason=reason, payload=payload, created_at=now
    )
    body = {
        "event": kind,
        "unit_code": unit_code,
        "case_id": case_id,
        "reason": reason,
        "occurred_at": now.isoformat(),
        **payload,
    }
    # One outbox row per active subscription of the unit, chosen by the database at commit
    # time; the receiver deduplicates by the key, which a redelivery repeats.
    key = sa.literal(f"{uuid.uuid4()}:") + sa.cast(subscriptions.c.id, sa.String)
    messages = sa.insert(outbox).from_select(
        [
            "subscription_id",
            "idempotency_key",
            "event_type",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
        ],
        sa.select(
            subscriptions.c.id,
            key,
            sa.literal(kind),
            sa.literal(body, outbox.c.payload.type),
            sa.literal("pending"),
            sa.literal(0),
            sa.literal(now, outbox.c.next_attempt_at.type),
            sa.literal(now, outbox.c.created_at.type),
        ).where(subscriptions.c.unit_code == unit_code, subscriptions.c.active.is_(True)),
    )
    if conn.dialect.name == "postgresql":
        # Inbox item and webhook messages in one round trip.
        await conn.execute(
            sa.select(sa.literal(1)).add_cte(item.cte("item")).add_cte(messages.cte("messages"))
        )
        return
    await conn.execute(item)
    await conn.execute(messages)


@dataclass(frozen=True)
class Note:
    """One announcement to a unit, for ``notify_many``."""

    unit_code: str
    case_id: int
    kind: str
    reason: str | None
    payload: dict[str, Any] = field(default_factory=dict)


async def notify_many(conn: AsyncConnection, notes: Sequence[Note], *, now: datetime) -> None:
    """Many announcements in three statements (the sweep's batches): the inbox items, the units'
    active subscriptions, and their outbox messages. Same rows as ``notify`` one by one."""
    if not notes:
        return
    await conn.execute(
        sa.insert(inbox),
        [
            {
                "unit_code": n.unit_code,
                "case_id": n.case_id,
                "kind": n.kind,
                "reason": n.reason,
                "payload": n.payload,
                "created_at": now,
            }
            for n in notes
        ],
    )
    active = (
        await conn.execute(
            sa.select(subscriptions.c.id, subscriptions.c.unit_code).where(
                subscriptions.c.unit_code.in_(sorted({n.unit_code for n in notes})),
                subscriptions.c.active.is_(True),
            )
        )
    ).all()
    if not active:
        return
    by_unit: dict[str, list[int]] = {}
    for sub in active:
        by_unit.setdefault(sub.unit_code, []).append(sub.id)
    messages = []
    for n in notes:
        body = {
            "event": n.kind,
            "unit_code": n.unit_code,
            "case_id": n.case_id,
            "reason": n.reason,
            "occurred_at": now.isoformat(),
            **n.payload,
        }
        key = uuid.uuid4()
        messages += [
            {
                "subscription_id": sub_id,
                "idempotency_key": f"{key}:{sub_id}",
                "event_type": n.kind,
                "payload": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for sub_id in by_unit.get(n.unit_code, [])
        ]
    if messages:
        await conn.execute(sa.insert(outbox), messages)
