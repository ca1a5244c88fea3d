"""Webhook subscriptions as configuration: validated (targets too), secrets from the environment,
synced, sealed at rest, and every change a security event."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from service.audit.events import security_events
from service.config.loading import ConfigError
from service.config.units import load_units
from service.config.webhooks import TargetPolicy, load_webhooks
from service.notifications.secrets import open_secret, seal_secrets
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
        "subscriptions:\n  - unit: '320583106'\n    url: https://hooks.example.org/hook\n    secret_env: JIEFEN_WEBHOOK_SECRET_ZHANGPU\n",
    )

    [hook] = load_webhooks(path, ORG, {"JIEFEN_WEBHOOK_SECRET_ZHANGPU": SECRET})

    assert (hook.unit_code, hook.url, hook.secret) == ("320583106", "https://hooks.example.org/hook", SECRET)


def test_every_problem_names_the_file_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subscriptions:\n"
        "  - unit: 'nowhere'\n    url: ftp://x\n    secret_env: lower\n    extra: 1\n"
        "  - unit: '320583106'\n    url: https://x/hook\n    secret_env: JIEFEN_UNSET_SECRET\n",
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
        "subscriptions:\n  - unit: '320583106'\n    url: https://hooks.example.org/hook\n    secret_env: JIEFEN_WEBHOOK_SECRET_ZHANGPU\n",
    )
    first = load_webhooks(path, ORG, {"JIEFEN_WEBHOOK_SECRET_ZHANGPU": SECRET})
    rotated = load_webhooks(path, ORG, {"JIEFEN_WEBHOOK_SECRET_ZHANGPU": "t" * 32})
    cipher = db.ctx.cipher

    await sync_webhooks(db.engine, first, FIXED_NOW, cipher)
    await sync_webhooks(db.engine, first, FIXED_NOW, cipher)  # idempotent
    await sync_webhooks(db.engine, rotated, FIXED_NOW, cipher)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT secret, active, source FROM webhook_subscription"))).all()
    [(stored, active, source)] = [tuple(r) for r in rows]
    assert (active, source) == (True, "config")
    assert stored.startswith("v1:k1:") and "t" * 32 not in stored  # sealed at rest
    assert open_secret(cipher, stored) == "t" * 32

    await sync_webhooks(db.engine, [], FIXED_NOW, cipher)
    async with db.engine.connect() as conn:
        active = (await conn.execute(sa.text("SELECT active FROM webhook_subscription"))).scalar_one()
        recorded = (
            await conn.execute(
                sa.select(
                    security_events.c.kind, security_events.c.actor, security_events.c.payload
                ).order_by(security_events.c.id)
            )
        ).all()
    assert not active
    assert [(r.kind, r.actor) for r in recorded] == [
        ("webhook_created", "config"),
        ("webhook_secret_rotated", "config"),
        ("webhook_disabled", "config"),
    ]
    assert {r.payload["url"] for r in recorded} == {"https://hooks.example.org/hook"}
    assert all(SECRET not in str(r) and "t" * 32 not in str(r) for r in recorded)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://hooks.example.org/hook", "use https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://2130706433/hook", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://10.0.0.1/hook", "private"),
        ("https://localhost:22/", "loopback name"),
        ("https://[::1]/hook", "loopback"),
        ("https://user:pw@hooks.example.org/hook", "user name or password"),
    ],
)
def test_a_configured_target_must_be_https_and_public(tmp_path: Path, url: str, rule: str) -> None:
    path = write(
        tmp_path,
        f"subscriptions:\n  - unit: '320583106'\n    url: '{url}'\n    secret_env: JIEFEN_WEBHOOK_SECRET_X\n",
    )

    with pytest.raises(ConfigError) as raised:
        load_webhooks(path, ORG, {"JIEFEN_WEBHOOK_SECRET_X": SECRET})

    [problem] = raised.value.problems
    assert problem.key == "subscriptions[0].url" and rule in problem.message


def test_an_intranet_receiver_is_allowed_when_the_deployment_lists_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subscriptions:\n  - unit: '320583106'\n    url: http://10.20.0.5:8080/hook\n    secret_env: JIEFEN_WEBHOOK_SECRET_X\n",
    )
    policy = TargetPolicy(http_hosts=frozenset({"10.20.0.5"}), internal_hosts=frozenset({"10.20.0.5"}))

    [hook] = load_webhooks(path, ORG, {"JIEFEN_WEBHOOK_SECRET_X": SECRET}, policy)

    assert hook.url == "http://10.20.0.5:8080/hook"


async def test_secrets_stored_in_clear_before_are_read_then_sealed_and_resealed_on_rotation(
    db: Backend,
) -> None:
    from service.personal.crypto import DataCipher, new_key_line

    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO webhook_subscription (unit_code, url, secret, active, source, created_at) "
                "VALUES ('320583106', 'https://hooks.example.org/old', :secret, :active, 'api', :at)"
            ),
            {"secret": SECRET, "active": True, "at": FIXED_NOW},
        )
    cipher = db.ctx.cipher
    assert open_secret(cipher, SECRET) == SECRET  # a clear secret keeps working until sealed

    assert await seal_secrets(db.engine, cipher, only_plaintext=True) == 1
    assert await seal_secrets(db.engine, cipher, only_plaintext=True) == 0
    rotated = DataCipher.from_text(f"{new_key_line('k2')},{db.ctx.settings.data_key}")
    assert await seal_secrets(db.engine, rotated, only_plaintext=False) == 1
    async with db.engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT secret FROM webhook_subscription"))).scalar_one()

    assert stored.startswith("v1:k2:")
    assert open_secret(rotated, stored) == SECRET
