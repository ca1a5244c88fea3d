"""city scale: the statistics tally kept by PostgreSQL, bigram search indexes, breached clocks by case

Statistics over ten years of a city's cases read a small tally instead of every case:
``stats_tally`` (service/stats/models.py) holds the cohort figures per month, unit and tier /
dispute type / source, and on PostgreSQL triggers on ``cases`` keep it current in the same
transaction as the change, and a trigger on ``deadline`` counts the cases with a breached clock (the rows are written in key order, so concurrent writers lock them in
the same order). ``jiefen_tally_rebuild()`` recounts it from ``cases`` (this migration, and bulk
loads that disable the triggers). SQLite, the embedded default, counts from ``cases`` directly.

Search: PostgreSQL indexes every pair of adjacent characters (bigrams) of a case's summary and a
party's name in GIN indexes, so a Chinese substring of two characters or more is found without
reading every row (pg_trgm's trigrams miss two-character words such as 邻里 or a surname and
given name). The overdue figures and lists read the breached clocks from a partial index.

Revision ID: 0029_city
Revises: 0024_documents
Create Date: 2026-12-07 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_city"
down_revision: str | None = "0030_moj_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The figure definitions of service/stats/queries.py, for one case row ``c``: one row per
# (month, unit, dimension, value) it contributes to, times ``sign`` (+1 added, -1 taken away).
TALLY_ROWS = """
CREATE FUNCTION jiefen_tally_rows(c cases, sign integer)
RETURNS TABLE (month text, unit_code text, dimension text, value text, registered bigint,
               settled bigint, terminated bigint, amount_yuan numeric, people bigint,
               criminal_cases bigint, criminal_people bigint, group_cases bigint, group_people bigint,
               closed bigint, close_days double precision, breached bigint)
LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT to_char(timezone('Asia/Shanghai', c.created_at), 'YYYY-MM') AS m,
               to_char(timezone('Asia/Shanghai', c.closed_at), 'YYYY-MM') AS closed_m,
               coalesce(
                   c.state IN ('settled', 'confirming')
                   OR coalesce(c.outcome, '') IN ('performed', 'confirmed')
                   OR (c.termination_reason IS NULL
                       AND coalesce(c.court_procedure, '') IN ('ordinary', 'simplified')
                       AND c.state IN ('referred', 'in_court', 'closed')
                       AND coalesce(c.outcome, '') IN ('', 'mediation_statement', 'withdrawn', 'other_court')
                       AND coalesce(c.agreement::text, 'null') <> 'null'),
                   false) AS ok
    ), g AS (
        SELECT f.m, f.closed_m, f.ok::int::bigint AS s,
               (c.termination_reason IS NOT NULL AND NOT f.ok)::int::bigint AS t,
               (c.flag_criminal_risk AND f.ok)::int::bigint AS crim,
               (c.flag_group_dispute AND f.ok)::int::bigint AS grp,
               EXISTS (SELECT 1 FROM deadline d WHERE d.case_id = c.id AND d.status = 'breached')::int::bigint AS late
        FROM f
    )
    SELECT v.* FROM g, LATERAL (VALUES
        (g.m, c.unit_code::text, 'tier', c.tier::text, sign::bigint, sign * g.s, sign * g.t,
         sign * coalesce(c.amount_yuan, 0), sign * c.people_involved::bigint, sign * g.crim,
         sign * g.crim * c.people_involved, sign * g.grp, sign * g.grp * c.people_involved,
         0::bigint, 0::double precision, sign * g.late),
        (g.m, c.unit_code::text, 'type', c.dispute_type::text, sign::bigint, sign * g.s, sign * g.t,
         0::numeric, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::double precision,
         sign * g.late),
        (g.m, c.unit_code::text, 'source', c.source::text, sign::bigint, sign * g.s, sign * g.t,
         0::numeric, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::double precision,
         sign * g.late)
    ) AS v
    UNION ALL
    SELECT g.closed_m, c.unit_code::text, 'tier', c.tier::text, 0, 0, 0, 0, 0, 0, 0, 0, 0, sign::bigint,
           sign * extract(epoch FROM c.closed_at - c.created_at)::double precision / 86400.0, 0
    FROM g WHERE c.closed_at IS NOT NULL
$$
"""

# Add the summed deltas, in key order (so two transactions lock shared rows in the same order),
# leaving out keys whose deltas cancel (a move within the same cell writes nothing).
APPLY = """
CREATE FUNCTION jiefen_tally_apply(deltas jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO stats_tally AS t (month, unit_code, dimension, value, registered, settled, terminated,
        amount_yuan, people, criminal_cases, criminal_people, group_cases, group_people, closed, close_days,
        breached)
    SELECT d.month, d.unit_code, d.dimension, d.value, sum(d.registered), sum(d.settled), sum(d.terminated),
        sum(d.amount_yuan), sum(d.people), sum(d.criminal_cases), sum(d.criminal_people), sum(d.group_cases),
        sum(d.group_people), sum(d.closed), sum(d.close_days), sum(d.breached)
    FROM jsonb_populate_recordset(NULL::stats_tally, deltas) AS d
    GROUP BY d.month, d.unit_code, d.dimension, d.value
    HAVING sum(d.registered) <> 0 OR sum(d.settled) <> 0 OR sum(d.terminated) <> 0
        OR sum(d.amount_yuan) <> 0 OR sum(d.people) <> 0 OR sum(d.criminal_cases) <> 0
        OR sum(d.group_cases) <> 0 OR sum(d.closed) <> 0 OR sum(d.close_days) <> 0 OR sum(d.breached) <> 0
    ORDER BY d.dimension, d.month, d.unit_code, d.value
    ON CONFLICT (dimension, month, unit_code, value) DO UPDATE SET
        registered = t.registered + excluded.registered,
        settled = t.settled + excluded.settled,
        terminated = t.terminated + excluded.terminated,
        amount_yuan = t.amount_yuan + excluded.amount_yuan,
        people = t.people + excluded.people,
        criminal_cases = t.criminal_cases + excluded.criminal_cases,
        criminal_people = t.criminal_people + excluded.criminal_people,
        group_cases = t.group_cases + excluded.group_cases,
        group_people = t.group_people + excluded.group_people,
        closed = t.closed + excluded.closed,
        close_days = t.close_days + excluded.close_days,
        breached = t.breached + excluded.breached
$$
"""

TRIGGER_FUNCTION = """
CREATE FUNCTION jiefen_tally_case() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM jiefen_tally_apply((SELECT jsonb_agg(r) FROM jiefen_tally_rows(NEW, 1) r));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM jiefen_tally_apply((SELECT jsonb_agg(r) FROM jiefen_tally_rows(OLD, -1) r));
    ELSE
        PERFORM jiefen_tally_apply((SELECT jsonb_agg(r) FROM (
            SELECT * FROM jiefen_tally_rows(OLD, -1) UNION ALL SELECT * FROM jiefen_tally_rows(NEW, 1)) r));
    END IF;
    RETURN NULL;
END
$$
"""


# A clock's breach moves its case in or out of the overdue count (a case counts once, however many
# of its clocks breached): its cells get +1 / -1 ``breached`` when that changes. Statement-level,
# with the statement's old and new rows (set-based, so the sweep breaching thousands of clocks in
# one statement costs one pass): two clocks of one case breached by one statement would each see
# the other already breached from a row-level trigger, and count nothing.
def breach_trigger_function(event: str) -> str:
    """The trigger function for ``event``: which cases had a breached clock before the statement
    and which have one now, and the difference applied to their cells."""
    touched = {
        "INSERT": "SELECT case_id FROM new_rows WHERE status = 'breached'",
        "DELETE": "SELECT case_id FROM old_rows WHERE status = 'breached'",
        "UPDATE": (
            "SELECT o.case_id FROM old_rows o JOIN new_rows n ON n.id = o.id"
            " WHERE (o.status = 'breached') <> (n.status = 'breached') OR o.case_id <> n.case_id"
            " UNION SELECT n.case_id FROM old_rows o JOIN new_rows n ON n.id = o.id"
            " WHERE (o.status = 'breached') <> (n.status = 'breached') OR o.case_id <> n.case_id"
        ),
    }[event]
    untouched = "" if event == "DELETE" else "AND d.id NOT IN (SELECT id FROM new_rows)"
    before = "" if event == "INSERT" else "UNION SELECT case_id FROM old_rows WHERE status = 'breached'"
    # Most updates of a clock (a warning, a pause, met) breach nothing: done after one look.
    nothing = f"IF NOT EXISTS ({touched}) THEN RETURN NULL; END IF;"
    return f"""
CREATE FUNCTION jiefen_tally_deadline_{event.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {nothing}
    PERFORM jiefen_tally_apply((
        WITH touched AS ({touched}),
        has AS (SELECT d.case_id FROM deadline d WHERE d.status = 'breached'
                AND d.case_id IN (SELECT case_id FROM touched)),
        had AS (SELECT d.case_id FROM deadline d WHERE d.status = 'breached'
                AND d.case_id IN (SELECT case_id FROM touched) {untouched} {before}),
        moved AS (SELECT t.case_id, (t.case_id IN (SELECT case_id FROM has))::int
                      - (t.case_id IN (SELECT case_id FROM had))::int AS delta
                  FROM (SELECT DISTINCT case_id FROM touched) t)
        SELECT jsonb_agg(jsonb_build_object('month', r.month, 'unit_code', r.unit_code,
            'dimension', r.dimension, 'value', r.value, 'breached', m.delta,
            'registered', 0, 'settled', 0, 'terminated', 0, 'amount_yuan', 0, 'people', 0,
            'criminal_cases', 0, 'criminal_people', 0, 'group_cases', 0, 'group_people', 0,
            'closed', 0, 'close_days', 0))
        FROM moved m JOIN cases ON cases.id = m.case_id, LATERAL jiefen_tally_rows(cases, 1) AS r
        WHERE m.delta <> 0 AND r.registered <> 0));
    RETURN NULL;
END
$$
"""


DEADLINE_FUNCTIONS = {event: breach_trigger_function(event) for event in ("INSERT", "UPDATE", "DELETE")}

# What a figure reads: a case's update that changes none of these leaves the tally alone.
COUNTED = (
    "created_at, closed_at, unit_code, tier, dispute_type, source, state, outcome, termination_reason, "
    "court_procedure, agreement, amount_yuan, people_involved, flag_criminal_risk, flag_group_dispute"
)
OLD_ROW = ", ".join(f"OLD.{c.strip()}" for c in COUNTED.split(","))
NEW_ROW = ", ".join(f"NEW.{c.strip()}" for c in COUNTED.split(","))

REBUILD = """
CREATE FUNCTION jiefen_tally_rebuild() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    LOCK TABLE stats_tally IN EXCLUSIVE MODE;
    DELETE FROM stats_tally;
    INSERT INTO stats_tally (month, unit_code, dimension, value, registered, settled, terminated,
        amount_yuan, people, criminal_cases, criminal_people, group_cases, group_people, closed, close_days,
        breached)
    SELECT r.month, r.unit_code, r.dimension, r.value, sum(r.registered), sum(r.settled), sum(r.terminated),
        sum(r.amount_yuan), sum(r.people), sum(r.criminal_cases), sum(r.criminal_people), sum(r.group_cases),
        sum(r.group_people), sum(r.closed), sum(r.close_days), sum(r.breached)
    FROM cases, LATERAL jiefen_tally_rows(cases, 1) AS r
    GROUP BY r.month, r.unit_code, r.dimension, r.value;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$
"""

BIGRAMS = """
CREATE FUNCTION jiefen_bigrams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(lower(t), i, 2)), '{}')
    FROM generate_series(1, length(t) - 1) AS i
$$
"""


def upgrade() -> None:
    op.create_table(
        "stats_tally",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("dimension", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=False),
        *[
            sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)
            for name in ("registered", "settled", "terminated")
        ],
        sa.Column("amount_yuan", sa.Numeric(precision=18, scale=2), server_default="0", nullable=False),
        *[
            sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)
            for name in (
                "people",
                "criminal_cases",
                "criminal_people",
                "group_cases",
                "group_people",
                "closed",
            )
        ],
        sa.Column("close_days", sa.Float(), server_default="0", nullable=False),
        sa.Column("breached", sa.BigInteger(), server_default="0", nullable=False),
        # A figure reads one dimension over a range of months: the whole city by this key, a
        # town's or a station's units by the index below.
        sa.PrimaryKeyConstraint("dimension", "month", "unit_code", "value"),
    )
    # Covering on PostgreSQL: a figure family's sums read from the index alone.
    counted = ["value", "registered", "settled", "terminated", "breached"]
    op.create_index(
        "ix_stats_tally_units", "stats_tally", ["dimension", "unit_code", "month"], postgresql_include=counted
    )
    op.create_index(
        "ix_stats_tally_months",
        "stats_tally",
        ["dimension", "month"],
        postgresql_include=["unit_code", *counted],
    )
    op.create_index(
        "ix_deadline_breached_case",
        "deadline",
        ["case_id"],
        postgresql_where=sa.text("status = 'breached'"),
        sqlite_where=sa.text("status = 'breached'"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in (
        TALLY_ROWS,
        APPLY,
        TRIGGER_FUNCTION,
        *DEADLINE_FUNCTIONS.values(),
        REBUILD,
        BIGRAMS,
    ):
        op.execute(statement)
    op.execute(
        "CREATE TRIGGER jiefen_tally_insert AFTER INSERT ON cases FOR EACH ROW EXECUTE FUNCTION jiefen_tally_case()"
    )
    op.execute(
        "CREATE TRIGGER jiefen_tally_update AFTER UPDATE ON cases FOR EACH ROW"
        f" WHEN (({OLD_ROW}) IS DISTINCT FROM ({NEW_ROW})) EXECUTE FUNCTION jiefen_tally_case()"
    )
    op.execute(
        "CREATE TRIGGER jiefen_tally_delete AFTER DELETE ON cases FOR EACH ROW EXECUTE FUNCTION jiefen_tally_case()"
    )
    transition_tables = {
        "INSERT": "NEW TABLE AS new_rows",
        "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "DELETE": "OLD TABLE AS old_rows",
    }
    for event, tables in transition_tables.items():
        op.execute(
            f"CREATE TRIGGER jiefen_tally_deadline_{event.lower()} AFTER {event} ON deadline REFERENCING {tables}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION jiefen_tally_deadline_{event.lower()}()"
        )
    op.execute("SELECT jiefen_tally_rebuild()")
    op.execute("CREATE INDEX ix_cases_summary_bigrams ON cases USING gin (jiefen_bigrams(summary))")
    op.execute("CREATE INDEX ix_party_name_bigrams ON party USING gin (jiefen_bigrams(name))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_party_name_bigrams")
        op.execute("DROP INDEX ix_cases_summary_bigrams")
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER jiefen_tally_deadline_{trigger} ON deadline")
            op.execute(f"DROP TRIGGER jiefen_tally_{trigger} ON cases")
            op.execute(f"DROP FUNCTION jiefen_tally_deadline_{trigger}()")
        op.execute("DROP FUNCTION jiefen_bigrams(text)")
        op.execute("DROP FUNCTION jiefen_tally_rebuild()")
        op.execute("DROP FUNCTION jiefen_tally_case()")
        op.execute("DROP FUNCTION jiefen_tally_apply(jsonb)")
        op.execute("DROP FUNCTION jiefen_tally_rows(cases, integer)")
    op.drop_index("ix_deadline_breached_case", table_name="deadline")
    op.drop_index("ix_stats_tally_months", table_name="stats_tally")
    op.drop_index("ix_stats_tally_units", table_name="stats_tally")
    op.drop_table("stats_tally")
