"""Tell a unit something happened: an inbox item, plus one outbox row per webhook subscription,
written in the caller's transaction so the change and its announcement commit together."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.notifications.models import InboxItem, OutboxMessage, WebhookSubscription
from workflows.transition import Announcement

inbox = InboxItem.__table__  # type: ignore[attr-defined]
outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
subscriptions = WebhookSubscription.__table__  # type: ignore[attr-defined]


def announcement_values(note: Announcement, *, now: datetime) -> dict[str, Any]:
    """An announcement's inbox columns, its webhook body and the prefix of its messages' keys
    (the key is the prefix and the subscription's id)."""
    body = {
        "event": note.kind,
        "unit_code": note.unit_code,
        "case_id": note.case_id,
        "reason": note.reason,
        "occurred_at": now.isoformat(),
        **note.payload,
    }
    return {
        "unit_code": note.unit_code,
        "kind": note.kind,
        "reason": note.reason,
        "payload": dict(note.payload),
        "body": body,
        "key": f"{uuid.uuid4()}:",
    }


async def notify_many(conn: AsyncConnection, notes: Sequence[Announcement], *, now: datetime) -> None:
    """Announcements in at most three statements, however many: the inbox items, the units'
    active subscriptions, and one outbox message per subscription. The receiver deduplicates by
    the message's key, which a redelivery repeats."""
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
                "payload": dict(n.payload),
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
        values = announcement_values(n, now=now)
        messages += [
            {
                "subscription_id": sub_id,
                "idempotency_key": f"{values['key']}{sub_id}",
                "event_type": n.kind,
                "payload": values["body"],
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for sub_id in by_unit.get(n.unit_code, [])
        ]
    if messages:
        await conn.execute(sa.insert(outbox), messages)
