"""Mirror the webhook subscriptions configured in ``config/webhooks.yaml`` into the subscription
table (idempotent; read and validated by ``service.config.webhooks``). Each change it makes is a
security event by the actor ``config``, like a change an administrator makes through the API."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config.webhooks import ConfiguredWebhook
from service.notifications.models import WebhookSubscription
from service.notifications.secrets import open_secret, seal_secret
from service.notifications.service import record_webhook_event
from service.personal.crypto import DataCipher, DataKeyError

subscriptions = WebhookSubscription.__table__  # type: ignore[attr-defined]

ACTOR = "config"


async def sync_webhooks(
    engine: AsyncEngine, configured: list[ConfiguredWebhook], now: datetime, cipher: DataCipher
) -> None:
    """Make the configuration-sourced subscriptions match the file (API-made ones are left alone)."""
    async with engine.begin() as conn:
        existing = {
            (r.unit_code, r.url): r
            for r in (
                await conn.execute(sa.select(subscriptions).where(subscriptions.c.source == "config"))
            ).all()
        }
        wanted = {(w.unit_code, w.url): w for w in configured}
        for key, hook in wanted.items():
            row = existing.get(key)
            if row is None:
                new_id = (
                    await conn.execute(
                        sa.insert(subscriptions)
                        .values(
                            unit_code=hook.unit_code,
                            url=hook.url,
                            secret=seal_secret(cipher, hook.secret),
                            active=True,
                            source="config",
                            created_at=now,
                        )
                        .returning(subscriptions.c.id)
                    )
                ).scalar_one()
                await record_webhook_event(
                    conn, "webhook_created", new_id, hook.unit_code, hook.url, actor=ACTOR, now=now
                )
                continue
            try:
                same_secret = open_secret(cipher, row.secret) == hook.secret
            except DataKeyError:
                same_secret = False  # sealed under a key no longer in the ring: the file's replaces it
            changes: dict[str, object] = {}
            if not same_secret:
                changes["secret"] = seal_secret(cipher, hook.secret)
                await record_webhook_event(
                    conn, "webhook_secret_rotated", row.id, row.unit_code, row.url, actor=ACTOR, now=now
                )
            if not row.active:
                changes["active"] = True
                await record_webhook_event(
                    conn,
                    "webhook_changed",
                    row.id,
                    row.unit_code,
                    row.url,
                    actor=ACTOR,
                    now=now,
                    changes={"active": True},
                )
            if changes:
                await conn.execute(
                    sa.update(subscriptions).where(subscriptions.c.id == row.id).values(**changes)
                )
        gone = [row for key, row in existing.items() if key not in wanted and row.active]
        for row in gone:
            await conn.execute(
                sa.update(subscriptions).where(subscriptions.c.id == row.id).values(active=False)
            )
            await record_webhook_event(
                conn, "webhook_disabled", row.id, row.unit_code, row.url, actor=ACTOR, now=now
            )
