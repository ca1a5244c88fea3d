"""``fastpg.Statement``: a SQLAlchemy construct compiled once for asyncpg."""

from __future__ import annotations

import re

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
    for units in (["a", "b"], ["z"]):
        statement = fastpg.Statement(stmt, pg.dialect(), expanded={"units": len(units)})
        assert "POSTCOMPILE" not in statement.sql
        args = statement.args({"units": units, "below": 3})

        assert len(args) == statement.sql.count("$")
        assert sent(statement, args, "t.n + ") == [7]
        assert sent(statement, args, "t.unit IN (") == units
        assert sent(statement, args, "t.status IN (") == ["active", "breached"]
        assert sent(statement, args, "t.n < ") == [3]


def sent(statement: fastpg.Statement, args: list[object], after: str) -> list[object]:
    """The values sent for the run of placeholders right after ``after`` in the SQL."""
    tail = statement.sql.split(after, 1)[1]
    run = re.match(r"(?:\$\d+(?:::\w+)?(?:, )?)+", tail)
    assert run is not None, tail
    return [args[int(n) - 1] for n in re.findall(r"\$(\d+)", run.group(0))]
