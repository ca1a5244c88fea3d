"""The statistics tally (migration 0029_city): PostgreSQL keeps it current, by trigger, in the
same transaction as every change to a case or a clock, so that it always equals a recount; the
figures read from it equal the figures counted from the cases; SQLite keeps none."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from service.stats import queries
from service.stats.queries import BY_MONTH, BY_SOURCE, BY_TIER, BY_TYPE, BY_UNIT, Period, StatsQuery
from service.sweep import sweep
from tests.api.test_referrals import delegated_by_court
from tests.api.test_stats import a_month_of_cases, settled, terminated
from tests.builders import CONFIRMABLE_AGREEMENT, consents, move, open_case, read_case
from tests.conftest import FIXED_NOW, Backend, FrozenClock

TALLY = "SELECT * FROM stats_tally WHERE registered <> 0 OR closed <> 0 OR breached <> 0 ORDER BY 1, 2, 3, 4"


async def a_busy_history(client: httpx.AsyncClient, auth: Any, clock: FrozenClock, db: Backend) -> None:
    """Cases settled, terminated, closed, escalated to the town, reopened, delegated by the court and
    settled there, their clocks breached by the sweep, then one case's clock met after all."""
    await a_month_of_cases(client, auth, clock)
    station, town, clerk = (
        await auth("dashi.mediator"),
        await auth("zhangpu.coordinator"),
        await auth("court.clerk"),
    )
    escalated = await move(
        client, station, await open_case(client, station), "escalate", reason="需镇中心协调"
    )
    escalated = await read_case(client, town, escalated)
    await move(client, town, escalated, "accept", consents=consents(escalated))
    reopened = await settled(client, station, amount_yuan=800)
    await move(client, station, reopened, "amend", reason="双方反悔")
    await terminated(client, station, "party_refused", source="self_initiated")
    delegated = await delegated_by_court(client, station, clerk, "(2026)苏0583民初7号", "ordinary")
    delegated = await move(client, station, delegated, "accept")
    await move(client, station, delegated, "settle", agreement=CONFIRMABLE_AGREEMENT)
    # A month on the open cases' clocks have run out: the sweep breaches them.
    clock.set(FIXED_NOW + timedelta(days=40))
    await sweep(db.engine, db.ctx, now=clock.at)
    clock.set(FIXED_NOW + timedelta(days=41))
    late = await open_case(client, station)  # its clock runs past due without a sweep
    clock.set(FIXED_NOW + timedelta(days=80))
    await move(client, station, late, "accept")


async def test_the_tally_always_equals_a_recount(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await a_busy_history(client, auth, frozen_clock, db)
    async with db.engine.begin() as conn:
        kept = [tuple(r) for r in await conn.execute(sa.text(TALLY))]
        if db.name != "postgresql":
            assert kept == []  # the embedded default counts from the cases directly
            return
        await conn.execute(sa.text("SELECT jiefen_tally_rebuild()"))
        recounted = [tuple(r) for r in await conn.execute(sa.text(TALLY))]

    assert kept == recounted, (set(kept) - set(recounted), set(recounted) - set(kept))
    assert sum(r[4] for r in kept if r[2] == "tier") == 11  # every case registered, in one place
    assert any(r[-1] for r in kept)  # and some with a breached clock


async def test_figures_from_the_tally_equal_figures_counted_from_the_cases(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await a_busy_history(client, auth, frozen_clock, db)
    now = frozen_clock.at
    for units in (None, frozenset({"320583106005"}), db.ctx.org.subtree("320583106")):
        q = StatsQuery(Period.of("2025-12", "2026-05", now=now), now=now, units=units)
        async with db.engine.connect() as conn:
            assert await queries.overview(conn, q) == await queries.overview_from_cases(conn, q)
            for by in (BY_MONTH, BY_TYPE, BY_TIER, BY_SOURCE, BY_UNIT):
                tallied = await queries._grouped_by(conn, q, by)
                counted = await queries._grouped_by(conn, q, by, from_cases=True)
                assert {k: v for k, v in tallied.items() if v.registered} == counted, by
            if units is None:
                city = await queries.overview(conn, q)
                assert (city.registered, city.overdue) == (11, 7)


async def test_list_totals_from_the_tally_equal_the_cases_counted(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    """A list's total (the city's, a town's with the cases it sent on, a station's; overdue or
    not; narrowed to a unit) read from the tally on PostgreSQL is the number of cases counted."""
    from service.cases import queries as case_queries
    from service.cases.queries import CaseFilter, list_cases

    await a_busy_history(client, auth, frozen_clock, db)
    now = frozen_clock.at
    town = db.ctx.org.subtree("320583106")
    filters = [
        CaseFilter(),
        CaseFilter(overdue_as_of=now),
        CaseFilter(unit_codes=town, referred_from=town),
        CaseFilter(unit_codes=town, referred_from=town, overdue_as_of=now),
        CaseFilter(unit_codes=frozenset({"320583106005"}), referred_from=frozenset({"320583106005"})),
        CaseFilter(within_units=town, overdue_as_of=now),
    ]
    totals = []
    for f in filters:
        params = case_queries._list_params(f)
        _page, counted = case_queries._list_statements(frozenset(params), False, False)
        async with db.engine.connect() as conn:
            expected = (await conn.execute(counted, params)).scalar_one()
        _, total, _at_least = await list_cases(db.engine, f, limit=5, offset=0)
        assert total == expected, f
        totals.append(total)
    assert totals[0] == 11 and totals[1] == 7 and all(totals)


async def test_statements_of_many_rows_move_the_tally_as_a_recount(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    """One statement inserting, changing or deleting many cases at once (an import, the sweep
    escalating thousands in one statement) moves the tally by the sum of its rows: the triggers
    (migration 0034_tally_triggers) run once per statement over its old and new rows."""
    await a_busy_history(client, auth, frozen_clock, db)
    statements = [
        # Every case again under another id and number: one INSERT of eleven rows.
        "CREATE TEMP TABLE copies AS SELECT * FROM cases",
        "UPDATE copies SET id = id + 100000, number = number || '-copy'",
        "INSERT INTO cases SELECT * FROM copies",
        # Counted columns of half of them changed in one UPDATE; a column no figure reads in another.
        "UPDATE cases SET amount_yuan = coalesce(amount_yuan, 0) + 100, people_involved = people_involved + 1,"
        " flag_group_dispute = NOT flag_group_dispute WHERE id % 2 = 0",
        "UPDATE cases SET summary = summary || ' (edited)'",
        # Every running clock breached by one statement, then the copies deleted by one.
        "UPDATE deadline SET status = 'breached' WHERE status = 'active'",
        # Breached clocks added to every third case, and taken away again, one statement each.
        "INSERT INTO deadline (case_id, kind, unit_code, status, started_at, due_at, warnings, extensions)"
        " SELECT id, 'acceptance', unit_code, 'breached', created_at, created_at, '[]', '[]' FROM cases"
        " WHERE id % 3 = 0",
        "DELETE FROM deadline WHERE kind = 'acceptance' AND status = 'breached' AND case_id % 3 = 0"
        " AND NOT EXISTS (SELECT 1 FROM deadline_action a WHERE a.deadline_id = deadline.id)",
        "DELETE FROM cases WHERE id > 100000",
    ]
    registered = []
    async with db.engine.begin() as conn:
        for statement in statements:
            await conn.execute(sa.text(statement))
            kept = [tuple(r) for r in await conn.execute(sa.text(TALLY))]
            if db.name != "postgresql":
                assert kept == []  # the embedded default counts from the cases directly
                continue
            await conn.execute(sa.text("SELECT jiefen_tally_rebuild()"))
            recounted = [tuple(r) for r in await conn.execute(sa.text(TALLY))]
            assert kept == recounted, (statement, set(kept) - set(recounted), set(recounted) - set(kept))
            registered.append(sum(r[4] for r in kept if r[2] == "tier"))
    if db.name == "postgresql":
        assert registered == [11, 11, 22, 22, 22, 22, 22, 22, 11]
