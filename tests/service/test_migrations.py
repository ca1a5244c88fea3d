"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from tests.conftest import Backend


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
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
