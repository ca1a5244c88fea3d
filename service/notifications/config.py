"""Webhook subscriptions as configuration (``config/webhooks.yaml``), secrets from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.configuration import ConfigError, ConfigProblem, read_yaml
from service.notifications.models import WebhookSubscription
from workflows.org import OrgTree

subscriptions = WebhookSubscription.__table__  # type: ignore[attr-defined]

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,80}$")
KEYS = {"unit", "url", "secret_env"}


@dataclass(frozen=True)
class ConfiguredWebhook:
    unit_code: str
    url: str
    secret: str


def load_webhooks(
    path: Path, org: OrgTree, environ: Mapping[str, str] | None = None
) -> list[ConfiguredWebhook]:
    """The configured subscriptions; a missing file means none. Every problem names file and key."""
    if not path.exists():
        return []
    env = os.environ if environ is None else environ
    data = read_yaml(path)
    file = str(path)
    problems: list[ConfigProblem] = []
    entries = data.get("subscriptions") if isinstance(data, dict) else None
    if not isinstance(data, dict) or set(data) - {"subscriptions"} or not isinstance(entries, list):
        raise ConfigError([ConfigProblem(file, "subscriptions", "expected a top-level list 'subscriptions'")])
    found: list[ConfiguredWebhook] = []
    for index, entry in enumerate(entries):
        key = f"subscriptions[{index}]"
        if not isinstance(entry, dict):
            problems.append(ConfigProblem(file, key, "expected a mapping with unit, url, secret_env"))
            continue
        for unknown in sorted(set(map(str, entry)) - KEYS):
            problems.append(
                ConfigProblem(file, f"{key}.{unknown}", "unknown key; allowed: unit, url, secret_env")
            )
        unit, url, secret_env = (str(entry.get(k, "")) for k in ("unit", "url", "secret_env"))
        if unit not in org:
            problems.append(ConfigProblem(file, f"{key}.unit", f"no unit with code {unit!r}"))
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            problems.append(ConfigProblem(file, f"{key}.url", f"not an http(s) URL: {url!r}"))
        if not ENV_NAME.match(secret_env):
            problems.append(
                ConfigProblem(
                    file, f"{key}.secret_env", "name an environment variable, e.g. JIEFEN_WEBHOOK_SECRET_X"
                )
            )
        elif len(env.get(secret_env, "")) < 16:
            problems.append(
                ConfigProblem(
                    file,
                    f"{key}.secret_env",
                    f"environment variable {secret_env} is unset or shorter than 16 characters",
                )
            )
        else:
            found.append(ConfiguredWebhook(unit, url, env[secret_env]))
    if problems:
        raise ConfigError(problems)
    return found


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
