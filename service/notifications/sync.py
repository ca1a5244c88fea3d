"""Mirror the webhook subscriptions configured in ``config/webhooks.yaml`` into the subscription
table (idempotent; read and validated by ``service.config.webhooks``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config.webhooks import ConfiguredWebhook
from service.notifications.models import WebhookSubscription

subscriptions = WebhookSubscription.__table__  # type: ignore[attr-defined]


async def sync_webhooks(engine: AsyncEngine, configured: list[ConfiguredWebhook], now: datetime) -> None:
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
                await conn.execute(
                    sa.insert(subscriptions).values(
                        unit_code=hook.unit_code,
                        url=hook.url,
                        secret=hook.secret,
                        active=True,
                        source="config",
                        created_at=now,
                    )
                )
            elif row.secret != hook.secret or not row.active:
                await conn.execute(
                    sa.update(subscriptions)
                    .where(subscriptions.c.id == row.id)
                    .values(secret=hook.secret, active=True)
                )
        gone = [row.id for key, row in existing.items() if key not in wanted and row.active]
        if gone:
            await conn.execute(
                sa.update(subscriptions).where(subscriptions.c.id.in_(gone)).values(active=False)
            )
