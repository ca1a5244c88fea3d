"""Deliver outbox rows as signed webhooks; a receiver that is down loses nothing.

A row is leased (its next attempt pushed out) in a short transaction, posted outside any
transaction, then marked delivered or rescheduled with exponential backoff; after
``max_attempts`` it is dead-lettered and ``jiefen outbox retry`` sends it again. A process that
dies mid-post leaves the lease to expire, so the row is retried: delivery is at least once, and
the receiver deduplicates by the ``Idempotency-Key`` header, which never changes for a row.

Each attempt is signed anew: ``X-Jiefen-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">`` under the subscription's secret. The receiver recomputes the HMAC and refuses a
timestamp more than ``SIGNATURE_TOLERANCE`` away from its clock, so a captured request cannot be
replayed later; within the tolerance the Idempotency-Key makes a replay a duplicate. Requests go
out through ``service.notifications.transport.PinnedTransport``: public addresses only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.notifications.models import OutboxMessage, WebhookSubscription
from service.notifications.secrets import open_secret
from service.personal.crypto import DataCipher, DataKeyError

log = logging.getLogger(__name__)

outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
subscriptions = WebhookSubscription.__table__  # type: ignore[attr-defined]

SIGNATURE_HEADER = "X-Jiefen-Signature"
# How far a receiver should let the signature's timestamp be from its own clock (docs: webhooks).
SIGNATURE_TOLERANCE = timedelta(minutes=5)
LEASE = timedelta(minutes=2)


def sign(secret: str, body: bytes, *, at: datetime) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``: the timestamp is signed with the
    body, so it cannot be changed to make an old request look new."""
    timestamp = int(at.timestamp())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backoff(attempts: int, base_seconds: float = 10.0, cap_seconds: float = 1800.0) -> timedelta:
    """10 s, 20 s, 40 s … capped at 30 min: a receiver down for an hour gets everything soon after."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempts - 1)))


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    dead: int = 0


async def _lease(engine: AsyncEngine, now: datetime, batch_size: int) -> list[Any]:
    async with engine.begin() as conn:
        due = (
            sa.select(outbox.c.id)
            .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        ids = list((await conn.execute(due)).scalars())
        if not ids:
            return []
        await conn.execute(sa.update(outbox).where(outbox.c.id.in_(ids)).values(next_attempt_at=now + LEASE))
        rows = await conn.execute(
            sa.select(outbox, subscriptions.c.url, subscriptions.c.secret, subscriptions.c.active)
            .join(subscriptions, subscriptions.c.id == outbox.c.subscription_id)
            .where(outbox.c.id.in_(ids))
            .order_by(outbox.c.id)
        )
        return list(rows.all())


async def _post(client: httpx.AsyncClient, row: Any, cipher: DataCipher, now: datetime) -> str | None:
    """None on success, else what went wrong."""
    body = json.dumps(row.payload, ensure_ascii=False, sort_keys=True, default=str).encode()
    try:
        secret = open_secret(cipher, row.secret)
    except DataKeyError as exc:  # the key it was sealed under left the ring: retried, then dead
        return f"secret cannot be opened: {exc}"[:500]
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": row.idempotency_key,
        "X-Jiefen-Event": row.event_type,
        SIGNATURE_HEADER: sign(secret, body, at=now),
    }
    try:
        response = await client.post(row.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


async def deliver_due(
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    *,
    cipher: DataCipher,
    now: datetime,
    batch_size: int = 50,
    max_attempts: int = 12,
) -> DeliveryReport:
    report = DeliveryReport()
    leased = await _lease(engine, now, batch_size)
    started = monotonic()
    for row in leased:
        # Signed as of the moment it is sent, not the batch's start: a batch of slow receivers
        # must not push the last signatures out of the receivers' tolerance.
        sent_at = now + timedelta(seconds=monotonic() - started)
        error = "subscription disabled" if not row.active else await _post(client, row, cipher, sent_at)
        attempts = row.attempts + 1
        if error is None:
            values: dict[str, Any] = {
                "status": "delivered",
                "attempts": attempts,
                "delivered_at": now,
                "last_error": None,
            }
            report.delivered += 1
        elif attempts >= max_attempts:
            values = {"status": "dead", "attempts": attempts, "last_error": error}
            report.dead += 1
            log.warning(
                "webhook %s dead-lettered after %s attempts: %s", row.idempotency_key, attempts, error
            )
        else:
            values = {"attempts": attempts, "last_error": error, "next_attempt_at": now + backoff(attempts)}
            report.failed += 1
        async with engine.begin() as conn:
            await conn.execute(sa.update(outbox).where(outbox.c.id == row.id).values(**values))
    return report


async def retry_dead(engine: AsyncEngine, *, now: datetime) -> int:
    """Give dead-lettered messages a fresh start (``jiefen outbox retry``)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.update(outbox)
            .where(outbox.c.status == "dead")
            .values(status="pending", attempts=0, next_attempt_at=now, last_error=None)
        )
    return int(result.rowcount)
