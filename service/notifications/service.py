"""Tell a unit something happened: an inbox item, plus one outbox row per webhook subscription,
written in the caller's transaction so the change and its announcement commit together."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
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
    params = announcement_params(
        Note(unit_code=unit_code, case_id=case_id, kind=kind, reason=reason, payload=payload), now=now
    )
    item, messages, both = _notify_statements()
    if conn.dialect.name == "postgresql":
        await conn.execute(both, params)  # inbox item and webhook messages in one round trip
        return
    await conn.execute(item, params)
    await conn.execute(messages, params)


def announcement_params(note: Note, *, now: datetime) -> dict[str, Any]:
    """The bound values of one announcement's statements (``notify``). Every name carries the
    ``n_`` prefix, so none can be taken for a column's value."""
    body = {
        "event": note.kind,
        "unit_code": note.unit_code,
        "case_id": note.case_id,
        "reason": note.reason,
        "occurred_at": now.isoformat(),
        **note.payload,
    }
    return {
        "n_unit_code": note.unit_code,
        "n_case_id": note.case_id,
        "n_kind": note.kind,
        "n_reason": note.reason,
        "n_payload": note.payload,
        "n_body": body,
        "n_key_prefix": f"{uuid.uuid4()}:",
        "n_now": now,
    }


@cache
def _notify_statements() -> tuple[sa.Insert, sa.Insert, sa.Select[Any]]:
    """The inbox item and the outbox messages of one announcement, values bound: built once."""
    now = sa.bindparam("n_now", type_=inbox.c.created_at.type)
    unit_code = sa.bindparam("n_unit_code", type_=sa.String)
    kind = sa.bindparam("n_kind", type_=sa.String)
    item = sa.insert(inbox).values(
        unit_code=unit_code,
        case_id=sa.bindparam("n_case_id", type_=sa.BigInteger),
        kind=kind,
        reason=sa.bindparam("n_reason", type_=sa.String),
        payload=sa.bindparam("n_payload", type_=inbox.c.payload.type),
        created_at=now,
    )
    # One outbox row per active subscription of the unit, chosen by the database at commit
    # time; the receiver deduplicates by the key, which a redelivery repeats.
    key = sa.bindparam("n_key_prefix", type_=sa.String) + sa.cast(subscriptions.c.id, sa.String)
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
            kind,
            sa.bindparam("n_body", type_=outbox.c.payload.type),
            sa.literal("pending"),
            sa.literal(0),
            now,
            now,
        ).where(subscriptions.c.unit_code == unit_code, subscriptions.c.active.is_(True)),
    )
    both = sa.select(sa.literal(1)).add_cte(item.cte("item")).add_cte(messages.cte("messages"))
    return item, messages, both


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
