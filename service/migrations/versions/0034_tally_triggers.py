"""the statistics tally kept by one trigger run per statement on cases, not one per row

0029_city kept ``stats_tally`` current with a row-level trigger on ``cases``: every row an
INSERT or UPDATE wrote added its deltas to the tally with its own upsert. Rows of one statement
mostly fall in the same few cells (one month, one unit, one tier), so one statement of n rows
updated the same tally row n times in one transaction; each update adds a version of that row
that the next upsert's lookup walks past (none can be pruned while the transaction runs), which
makes the statement quadratic: 10,000 cases loaded in 15 s, 40,000 in 128 s, 1,000,000 did not
finish in 18 minutes, and the sweep escalating thousands of cases in one statement paid the same.

Now the triggers on ``cases`` are statement-level with the statement's old and new rows (as the
triggers on ``deadline`` already were): the rows whose counted columns changed are summed per cell
in one query, and each cell is written once per statement, in key order as before. A statement
that changes no counted column (most transitions only touch the case's version, dates, etc.)
returns after one look at its rows. The tally stays equal to a recount
(``jiefen_tally_rebuild()``), which tests/api/test_stats_tally.py checks.

Revision ID: 0034_tally_triggers
Revises: 0029_city
Create Date: 2026-12-07 14:10:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0034_tally_triggers"
down_revision: str | None = "0029_city"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a figure reads (as 0029_city): a row whose columns here did not change moves no cell.
COUNTED = (
    "created_at",
    "closed_at",
    "unit_code",
    "tier",
    "dispute_type",
    "source",
    "state",
    "outcome",
    "termination_reason",
    "court_procedure",
    "agreement",
    "amount_yuan",
    "people_involved",
    "flag_criminal_risk",
    "flag_group_dispute",
)
FIGURES = (
    "registered",
    "settled",
    "terminated",
    "amount_yuan",
    "people",
    "criminal_cases",
    "criminal_people",
    "group_cases",
    "group_people",
    "closed",
    "close_days",
    "breached",
)


def deltas(rows: str) -> str:
    """The tally's deltas of ``rows`` (a query of ``(c cases, sign integer)``), summed per cell in
    SQL before they become the one JSON argument of ``jiefen_tally_apply``."""
    sums = ", ".join(f"sum(r.{f}) AS {f}" for f in FIGURES)
    return f"""(SELECT jsonb_agg(s) FROM (
            SELECT r.month, r.unit_code, r.dimension, r.value, {sums}
            FROM ({rows}) AS x, LATERAL jiefen_tally_rows(x.c, x.sign) AS r
            GROUP BY r.month, r.unit_code, r.dimension, r.value) AS s)"""


OLD_COLUMNS = ", ".join(f"o.{c}" for c in COUNTED)
NEW_COLUMNS = ", ".join(f"n.{c}" for c in COUNTED)
CHANGED = f"old_rows o JOIN new_rows n ON n.id = o.id WHERE ({OLD_COLUMNS}) IS DISTINCT FROM ({NEW_COLUMNS})"

STATEMENT_FUNCTIONS = {
    "insert": f"""
CREATE FUNCTION jiefen_tally_cases_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jiefen_tally_apply({deltas("SELECT n::cases AS c, 1 AS sign FROM new_rows n")});
    RETURN NULL;
END
$$
""",
    "update": f"""
CREATE FUNCTION jiefen_tally_cases_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {CHANGED}) THEN
        RETURN NULL;
    END IF;
    PERFORM jiefen_tally_apply({
        deltas(
            f"SELECT o::cases AS c, -1 AS sign FROM {CHANGED}"
            f" UNION ALL SELECT n::cases AS c, 1 AS sign FROM {CHANGED}"
        )
    });
    RETURN NULL;
END
$$
""",
    "delete": f"""
CREATE FUNCTION jiefen_tally_cases_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jiefen_tally_apply({deltas("SELECT o::cases AS c, -1 AS sign FROM old_rows o")});
    RETURN NULL;
END
$$
""",
}
TRANSITION_TABLES = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}


# A clock's breach moves its case in or out of the overdue count (a case counts once, however many
# of its clocks breached). As 0029_city, set-based over the statement's old and new rows, but each
# touched case looks up its own clocks and its own row by index (0029_city's ``IN (SELECT … FROM
# touched)`` and joins became nested loops over all touched cases for each breached clock when the
# partial index's statistics said "none breached": quadratic in the statement's rows, 19 s for
# 10,000 clocks breached by one statement), and the moved cells are summed before they are applied.
def breach_function(event: str) -> str:
    """``jiefen_tally_deadline_<event>()``: the cases whose breach may have changed (touched), which
    of them have a breached clock now and which had one before the statement, the difference added
    to their cells' ``breached``."""
    touched = {
        "INSERT": "SELECT DISTINCT case_id FROM new_rows WHERE status = 'breached'",
        "DELETE": "SELECT DISTINCT case_id FROM old_rows WHERE status = 'breached'",
        "UPDATE": (
            "SELECT DISTINCT x.case_id FROM old_rows o JOIN new_rows n ON n.id = o.id,"
            " LATERAL (VALUES (o.case_id), (n.case_id)) AS x (case_id)"
            " WHERE (o.status = 'breached') <> (n.status = 'breached') OR o.case_id <> n.case_id"
        ),
    }[event]
    # Before the statement: a breached clock it did not write, or a breached row it replaced.
    unwritten = "" if event == "DELETE" else "AND d.id NOT IN (SELECT id FROM new_rows)"
    replaced = (
        ""
        if event == "INSERT"
        else "OR t.case_id IN (SELECT case_id FROM old_rows WHERE status = 'breached')"
    )
    return f"""
CREATE OR REPLACE FUNCTION jiefen_tally_deadline_{event.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS ({touched}) THEN
        RETURN NULL;  -- most statements on clocks (a warning, a pause, met) breach nothing
    END IF;
    PERFORM jiefen_tally_apply((
        WITH touched AS MATERIALIZED ({touched}),
        moved AS (
            SELECT t.case_id,
                EXISTS (SELECT 1 FROM deadline d WHERE d.case_id = t.case_id AND d.status = 'breached')::int
                - (EXISTS (SELECT 1 FROM deadline d WHERE d.case_id = t.case_id AND d.status = 'breached'
                           {unwritten}) {replaced})::int AS delta
            FROM touched t)
        SELECT jsonb_agg(s) FROM (
            SELECT r.month, r.unit_code, r.dimension, r.value, sum(m.delta) AS breached,
                0 AS registered, 0 AS settled, 0 AS terminated, 0 AS amount_yuan, 0 AS people,
                0 AS criminal_cases, 0 AS criminal_people, 0 AS group_cases, 0 AS group_people,
                0 AS closed, 0 AS close_days
            FROM moved m,
                LATERAL (SELECT c FROM cases c WHERE c.id = m.case_id LIMIT 1) AS x,
                LATERAL jiefen_tally_rows(x.c, 1) AS r
            WHERE m.delta <> 0 AND r.registered <> 0
            GROUP BY r.month, r.unit_code, r.dimension, r.value) AS s));
    RETURN NULL;
END
$$
"""


BREACH_FUNCTIONS = [breach_function(event) for event in ("INSERT", "UPDATE", "DELETE")]


def city() -> ModuleType:
    """0029_city, whose functions the downgrade puts back."""
    path = Path(__file__).with_name("0029_city.py")
    spec = importlib.util.spec_from_file_location("jiefen_migration_0029_city", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER jiefen_tally_{event} ON cases")
    op.execute("DROP FUNCTION jiefen_tally_case()")
    for event, function in STATEMENT_FUNCTIONS.items():
        op.execute(function)
        op.execute(
            f"CREATE TRIGGER jiefen_tally_{event} AFTER {event.upper()} ON cases"
            f" REFERENCING {TRANSITION_TABLES[event]}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION jiefen_tally_cases_{event}()"
        )
    for function in BREACH_FUNCTIONS:
        op.execute(function)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER jiefen_tally_{event} ON cases")
        op.execute(f"DROP FUNCTION jiefen_tally_cases_{event}()")
    old = city()
    for function in old.DEADLINE_FUNCTIONS.values():
        op.execute(function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(old.TRIGGER_FUNCTION)
    old_row = ", ".join(f"OLD.{c}" for c in COUNTED)
    new_row = ", ".join(f"NEW.{c}" for c in COUNTED)
    for event in ("insert", "update", "delete"):
        when = f" WHEN (({old_row}) IS DISTINCT FROM ({new_row}))" if event == "update" else ""
        op.execute(
            f"CREATE TRIGGER jiefen_tally_{event} AFTER {event.upper()} ON cases FOR EACH ROW{when}"
            " EXECUTE FUNCTION jiefen_tally_case()"
        )
