"""Webhook HMAC secrets at rest: encrypted with the personal-data key ring (``DataCipher``).

A secret is needed in clear to sign each delivery, so it is encrypted, not hashed. Rows written
before encryption hold the secret in clear; ``open_secret`` reads both, and ``seal_secrets``
(run by ``jiefen migrate`` and before ``jiefen serve``, like the parties' backfill) encrypts them.
``jiefen privacy rotate-key`` re-encrypts them under the new key with the parties.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.notifications.models import WebhookSubscription
from service.personal.crypto import PREFIX, DataCipher

subscriptions = WebhookSubscription.__table__  # type: ignore[attr-defined]

FIELD = "webhook_secret"  # bound as associated data: a sealed party field cannot pass for a secret


def seal_secret(cipher: DataCipher, secret: str) -> str:
    sealed = cipher.encrypt(secret, FIELD)
    assert sealed is not None
    return sealed


def open_secret(cipher: DataCipher, stored: str) -> str:
    """The secret in clear; raises DataKeyError when no key of the ring opens it."""
    opened = cipher.decrypt(stored, FIELD)
    assert opened is not None
    return opened


def is_sealed(stored: str) -> bool:
    return stored.startswith(f"{PREFIX}:")


async def seal_secrets(engine: AsyncEngine, cipher: DataCipher, *, only_plaintext: bool) -> int:
    """Encrypt the secrets still in clear (start-up), or re-encrypt every one under the ring's
    current key (rotation); returns how many rows changed."""
    changed = 0
    async with engine.begin() as conn:
        rows = (await conn.execute(sa.select(subscriptions.c.id, subscriptions.c.secret))).all()
        for row in rows:
            if is_sealed(row.secret) and (only_plaintext or cipher.is_current(row.secret)):
                continue
            await conn.execute(
                sa.update(subscriptions)
                .where(subscriptions.c.id == row.id)
                .values(secret=seal_secret(cipher, open_secret(cipher, row.secret)))
            )
            changed += 1
    return changed
