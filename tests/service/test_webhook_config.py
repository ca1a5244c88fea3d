"""Webhook subscriptions as configuration: validated, secrets from the environment, synced."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from service.config.loading import ConfigError
from service.config.units import load_units
from service.config.webhooks import load_webhooks
from service.notifications.sync import sync_webhooks
from tests.conftest import FIXED_NOW, Backend

ORG = load_units(Path(__file__).resolve().parents[2] / "config" / "units")
SECRET = "s" * 32


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "webhooks.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_configured_subscription_takes_its_secret_from_the_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subscriptions:\n  - unit: '320583106'\n    url: http://127.0.0.1:9/hook\n    secret_env: JIEFEN_WEBHOOK_SECRET_ZHANGPU\n",
    )

    [hook] = load_webhooks(path, ORG, {"JIEFEN_WEBHOOK_SECRET_ZHANGPU": SECRET})

    assert (hook.unit_code, hook.url, hook.secret) == ("320583106", "http://127.0.0.1:9/hook", SECRET)


def test_every_problem_names_the_file_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subscriptions:\n"
        "  - unit: 'nowhere'\n    url: ftp://x\n    secret_env: lower\n    extra: 1\n"
        "  - unit: '320583106'\n    url: http://x/hook\n    secret_env: JIEFEN_UNSET_SECRET\n",
    )

    with pytest.raises(ConfigError) as raised:
        load_webhooks(path, ORG, {})

    keys = {(p.key, p.file) for p in raised.value.problems}
    assert {k for k, _ in keys} == {
        "subscriptions[0].unit",
        "subscriptions[0].url",
        "subscriptions[0].secret_env",
        "subscriptions[0].extra",
        "subscriptions[1].secret_env",
    }
    assert all(f == str(path) for _, f in keys)
    assert "JIEFEN_UNSET_SECRET" in str(raised.value)


def test_the_shipped_file_and_a_missing_file_configure_nothing(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "config" / "webhooks.yaml"

    assert load_webhooks(shipped, ORG, {}) == []
    assert load_webhooks(tmp_path / "absent.yaml", ORG, {}) == []


async def test_sync_adds_updates_and_retires_configured_subscriptions(db: Backend, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subscriptions:\n  - unit: '320583106'\n    url: http://127.0.0.1:9/hook\n    secret_env: JIEFEN_WEBHOOK_SECRET_ZHANGPU\n",
    )
    first = load_webhooks(path, ORG, {"JIEFEN_WEBHOOK_SECRET_ZHANGPU": SECRET})
    rotated = load_webhooks(path, ORG, {"JIEFEN_WEBHOOK_SECRET_ZHANGPU": "t" * 32})

    await sync_webhooks(db.engine, first, FIXED_NOW)
    await sync_webhooks(db.engine, first, FIXED_NOW)  # idempotent
    await sync_webhooks(db.engine, rotated, FIXED_NOW)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT secret, active, source FROM webhook_subscription"))).all()
    assert [tuple(r) for r in rows] == [("t" * 32, True, "config")]

    await sync_webhooks(db.engine, [], FIXED_NOW)
    async with db.engine.connect() as conn:
        active = (await conn.execute(sa.text("SELECT active FROM webhook_subscription"))).scalar_one()
    assert not active
