"""Tell a unit something happened: an inbox item, plus one outbox row per webhook subscription,
written in the caller's transaction so the change and its announcement commit together."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.audit.events import record_security_event
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
        "addressee": note.addressee,
        "caused_by": note.caused_by,
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
                "addressee": n.addressee,
                "caused_by": n.caused_by,
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


def url_for_the_record(url: str) -> str:
    """A target as the security log keeps it: scheme, host, port and path; a query string may
    carry a receiver's access token, and the log outlives the subscription."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


async def record_webhook_event(
    conn: AsyncConnection,
    kind: str,
    subscription_id: int,
    unit_code: str,
    url: str,
    *,
    actor: str,
    actor_role: str | None = None,
    actor_unit_code: str | None = None,
    client_ip: str | None = None,
    now: datetime,
    changes: dict[str, Any] | None = None,
) -> None:
    """A webhook subscription was created, changed, disabled or given a new secret: a security
    event (a webhook sends case data out of the service), in the caller's transaction. The
    secret itself is never recorded."""
    payload: dict[str, Any] = {
        "subscription_id": subscription_id,
        "unit_code": unit_code,
        "url": url_for_the_record(url),
    }
    if changes:
        payload["changes"] = changes
    await record_security_event(
        conn,
        kind=kind,
        actor=actor,
        actor_role=actor_role,
        actor_unit_code=actor_unit_code,
        payload=payload,
        client_ip=client_ip,
        now=now,
    )
