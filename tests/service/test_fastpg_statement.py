"""``fastpg.Statement``: a SQLAlchemy construct compiled once for asyncpg."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as pg

from service import fastpg


def test_a_statement_renders_its_lists_and_keeps_its_own_values() -> None:
    """Lists become one placeholder per element (``unit = $n`` for one, so an index is walked in
    order); values written into the statement (a literal, a constant IN list) are sent too."""
    t = sa.table("t", sa.column("unit"), sa.column("status"), sa.column("n"))
    stmt = sa.select(t.c.n + sa.literal(7)).where(
        t.c.unit.in_(sa.bindparam("units", expanding=True)),
        t.c.status.in_(["active", "breached"]),
        t.c.n < sa.bindparam("below"),
    )
    statement = fastpg.Statement(stmt, pg.dialect(), expanded={"units": 2})
    assert "POSTCOMPILE" not in statement.sql
    assert statement.sql.count("$") == 6
    args = statement.args({"units": ["a", "b"], "below": 3})
    assert sorted(map(str, args)) == sorted(["7", "a", "b", "active", "breached", "3"])
    assert fastpg.Statement(stmt, pg.dialect(), expanded={"units": 1}).args({"units": ["z"], "below": 1})
