"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from tests.conftest import Backend


def _not_the_suites_own(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """The suite's copy of the demo roster (tests/conftest.py, ``test_seed_*``) is not the schema."""
    return not (type_ == "table" and reflected and (name or "").startswith("test_seed_"))


def _diff(connection: Connection) -> list[Any]:
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        # An index the models create on one database only (``ddl_if``) is compared there only.
        only_on = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        if type_ == "index" and only_on and only_on != connection.dialect.name:
            return False
        return _not_the_suites_own(obj, name, type_, reflected, compare_to)

    context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": include})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_migrated_schema_matches_the_models(backend: Backend) -> None:
    async with backend.engine.connect() as conn:
        diff = await conn.run_sync(_diff)

    assert diff == [], f"models and migrations disagree on {backend.name}: {diff}"


async def test_migrations_are_at_head(backend: Backend) -> None:
    from alembic.script import ScriptDirectory

    from service.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with backend.engine.connect() as conn:
        current = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())

    assert current == head


async def test_upgrading_gives_never_expiring_machine_tokens_an_expiry(tmp_path: Path) -> None:
    """0013_signin: machine tokens issued without an expiry get one 90 days after the upgrade;
    tokens that expire or were revoked already keep what they have. Throttle rows name their account."""
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa
    from alembic import command

    from service.db import create_engine
    from service.migrate import alembic_config

    def upgrade_to(revision: str) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

        return run

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    later = "2030-01-01 00:00:00.000000"
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_to("0012_auditor"))
            for statement in (
                "INSERT INTO unit (code, name, kind, tier, channel, active) VALUES ('U', 'u', 'k', 't', 'c', 1)",
                "INSERT INTO app_user (id, username, display_name, password_hash, role, unit_code, disabled,"
                " created_at) VALUES (1, 'court.system', '', 'x', 'court_clerk', 'U', 0, '2026-01-01 00:00:00')",
                "INSERT INTO api_token (token_hash, user_id, kind, name, created_at, expires_at, revoked_at) VALUES"
                " ('a', 1, 'machine', 'forever', '2026-01-01 00:00:00', NULL, NULL),"
                f" ('b', 1, 'machine', 'dated', '2026-01-01 00:00:00', '{later}', NULL),"
                " ('c', 1, 'machine', 'revoked', '2026-01-01 00:00:00', NULL, '2026-02-01 00:00:00')",
                "INSERT INTO sign_in_throttle (scope, subject, failures, first_failure_at, last_failure_at)"
                " VALUES ('user', 'court.system', 2, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            ):
                await conn.execute(sa.text(statement))
        before = datetime.now(UTC)

        async with engine.begin() as conn:
            await conn.run_sync(upgrade_to("head"))

        after = datetime.now(UTC)
        async with engine.connect() as conn:
            expiry = dict((await conn.execute(sa.text("SELECT name, expires_at FROM api_token"))).all())
            account = (await conn.execute(sa.text("SELECT account FROM sign_in_throttle"))).scalar_one()
    finally:
        await engine.dispose()
    forever = datetime.fromisoformat(expiry["forever"]).replace(tzinfo=UTC)
    assert before + timedelta(days=90) - timedelta(seconds=1) <= forever <= after + timedelta(days=90)
    assert expiry["dated"] == later
    assert expiry["revoked"] is None
    assert account == "court.system"


async def test_upgrading_moves_who_read_an_inbox_item_into_the_read_state_per_person(tmp_path: Path) -> None:
    """0018_inbox: an item's first reader (inbox_item.read_at / read_by) becomes that person's row in
    inbox_read; downgrading puts the first reader back on the item."""
    import sqlalchemy as sa
    from alembic import command

    from service.db import create_engine
    from service.migrate import alembic_config

    def to(revision: str, down: bool = False) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)

        return run

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(to("0017_mediators"))
            await conn.execute(
                sa.text(
                    "INSERT INTO inbox_item (id, unit_code, kind, payload, created_at, read_at, read_by) VALUES"
                    " (1, 'U', 'breach', '{}', '2026-01-01 00:00:00', '2026-01-02 00:00:00', 'dashi.mediator'),"
                    " (2, 'U', 'breach', '{}', '2026-01-01 00:00:00', NULL, NULL)"
                )
            )
        async with engine.begin() as conn:
            await conn.run_sync(to("0018_inbox"))
        async with engine.connect() as conn:
            moved = (await conn.execute(sa.text("SELECT item_id, username FROM inbox_read"))).all()
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE inbox_item SET read_at = NULL, read_by = NULL"))
            await conn.run_sync(to("0017_mediators", down=True))
        async with engine.connect() as conn:
            back = (await conn.execute(sa.text("SELECT id, read_by FROM inbox_item ORDER BY id"))).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in moved] == [(1, "dashi.mediator")]
    assert [tuple(r) for r in back] == [(1, "dashi.mediator"), (2, None)]
