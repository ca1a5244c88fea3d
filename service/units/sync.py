"""Mirror the configured org tree into the unit table (idempotent, safe from several replicas)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.units.models import UnitRow
from workflows.org import OrgTree

unit_table = UnitRow.__table__  # type: ignore[attr-defined]


def _row(unit: Any) -> dict[str, Any]:
    return {
        "code": unit.code,
        "name": unit.name,
        "name_en": unit.name_en,
        "kind": unit.kind.value,
        "tier": unit.tier.value,
        "channel": unit.channel.value,
        "parent_code": unit.parent_code,
        "handling_parent_code": unit.handling_parent_code,
        "sector": unit.sector,
        "active": True,
    }


async def sync_units(engine: AsyncEngine, org: OrgTree) -> None:
    # Sorted so two replicas starting together lock rows in the same order (no deadlock).
    rows = [_row(u) for u in sorted(org, key=lambda u: u.code)]
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(unit_table)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(unit_table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["code"], set_={c: stmt.excluded[c] for c in rows[0] if c != "code"}
        )
        await conn.execute(stmt, rows)
        # Units removed from configuration stay (cases refer to them) but are marked inactive.
        await conn.execute(
            sa.update(unit_table)
            .where(unit_table.c.code.not_in([r["code"] for r in rows]))
            .values(active=False)
        )
