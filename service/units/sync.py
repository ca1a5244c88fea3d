"""Mirror the configured org tree into the unit table (idempotent, safe from several replicas)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.units.models import UnitRow
from workflows.org import OrgTree, Unit

unit_table = UnitRow.__table__  # type: ignore[attr-defined]


def _row(unit: Unit) -> dict[str, Any]:
    # Unit's enums are StrEnums: the dataclass fields are the table's columns as they are, except
    # org_type, which only the MoJ report reads, from the configuration (service.moj).
    fields = asdict(unit)
    fields.pop("org_type", None)
    return {**fields, "active": True}


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
