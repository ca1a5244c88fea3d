"""Several sweepers, and a sweeper that dies mid-way, against one PostgreSQL (docs/architecture.md, "The sweep").

Due deadlines are made in bulk with SQL (10,000 through the HTTP API would take minutes); the
rows carry the same columns ``open_case`` writes, a `created` audit event and an active
acceptance clock whose due time has passed. Then the real sweep runs, as of FIXED_NOW.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service import sweep as sweeper
from service.cases.models import Case
from service.cases.schemas import CaseCreate
from service.cases.service import decide
from service.sweep import SweepReport, sweep
from tests.api.test_deadlines_api import kunshan
from tests.builders import case_body, fire, open_case
from tests.conftest import FIXED_NOW, Backend, FrozenClock
from workflows.org import UnitKind
from workflows.vocab import Flag

# Only on PostgreSQL: SKIP LOCKED and concurrent writers are what is under test.
pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

cases = Case.__table__  # type: ignore[attr-defined]

STARTED = FIXED_NOW - timedelta(days=7)
DUE = FIXED_NOW - timedelta(hours=1)


def village_routes(db: Backend) -> dict[str, tuple[dict[str, Any], str]]:
    """Village stations where triage keeps a neighbour dispute (in `assigned`), with the town above."""
    routes = {}
    for unit in db.ctx.org.of_kind(UnitKind.village_station):
        decision = decide(db.ctx, CaseCreate.model_validate(case_body(location_code=unit.code)))
        town = db.ctx.org.escalation_target(unit.code)
        if decision.unit_code == unit.code and decision.state == "assigned" and town is not None:
            assert town.kind == UnitKind.town_centre
            routes[unit.code] = (decision.as_dict(), town.code)
    assert len(routes) >= 3, routes
    return routes


def case_values(db: Backend, village: str, triage: dict[str, Any]) -> dict[str, Any]:
    """The columns ``open_case`` writes for a neighbour dispute triaged to ``village``."""
    unit = db.ctx.org.get(village)
    body = CaseCreate.model_validate(case_body(location_code=village))
    return {
        "dispute_type": body.dispute_type.value,
        "summary": body.summary,
        "location_code": village,
        "amount_yuan": body.amount_yuan,
        "people_involved": body.people_involved,
        **{f"flag_{flag.value}": False for flag in Flag},
        "source": body.source.value,
        "risk": triage["risk"],
        "unit_code": unit.code,
        "tier": unit.tier.value,
        "channel": unit.channel.value,
        "state": "assigned",
        "returns_to_code": triage["hub_code"],
        "court_linked": False,
        "triage": triage,
        "registered_by": "bulk.seed",
        "registered_unit_code": village,
        "version": 1,
        "created_at": STARTED,
        "updated_at": STARTED,
    }


async def seed_due_cases(db: Backend, count: int) -> dict[str, str]:
    """``count`` cases spread over village stations, each with one overdue acceptance clock.

    Returns village → the town centre it escalates to.
    """
    routes = village_routes(db)
    villages = sorted(routes)
    async with db.engine.begin() as conn:
        first = 1
        for index, village in enumerate(villages):
            share = count // len(villages) + (1 if index < count % len(villages) else 0)
            if not share:
                continue
            values = case_values(db, village, routes[village][0])
            columns = list(values)
            g = (
                sa.func.generate_series(first, first + share - 1)
                .table_valued("value")
                .render_derived(name="g")
            )
            number = sa.literal("KS-2026-B") + sa.func.lpad(sa.cast(g.c.value, sa.Text), 6, "0")
            select = sa.select(number, *[sa.literal(values[c], cases.c[c].type) for c in columns])
            await conn.execute(sa.insert(cases).from_select(["number", *columns], select))
            first += share
        await conn.execute(
            sa.text(
                "INSERT INTO case_event (case_id, seq, at, kind, trigger, actor, actor_role,"
                " actor_unit_code, from_state, to_state, from_unit_code, to_unit_code, reason, payload)"
                " SELECT id, 1, created_at, 'created', NULL, registered_by, 'mediator',"
                " registered_unit_code, NULL, state, NULL, unit_code, NULL,"
                " jsonb_build_object('triage', triage) FROM cases"
            )
        )
        await conn.execute(
            sa.text(
                "INSERT INTO deadline (case_id, kind, unit_code, status, started_at, due_at, warn_at,"
                " warnings, paused_at, extensions, breached_at, ended_at)"
                " SELECT id, 'acceptance', unit_code, 'active', :started, :due, NULL,"
                " '[]'::jsonb, NULL, '[]'::jsonb, NULL, NULL FROM cases"
            ),
            {"started": STARTED, "due": DUE},
        )
        made = (await conn.execute(sa.text("SELECT count(*) FROM deadline"))).scalar_one()
    assert made == count
    return {village: town for village, (_, town) in routes.items()}


async def rows(db: Backend, sql: str, **params: Any) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(sa.text(sql), params)).all())


async def breach_actions(db: Backend) -> dict[int, list[tuple[str, str]]]:
    """Every seeded (overdue) deadline → the actions recorded for it."""
    found = await rows(
        db,
        "SELECT d.id, a.action, a.level FROM deadline d LEFT JOIN deadline_action a ON a.deadline_id = d.id"
        " WHERE d.started_at = :started ORDER BY d.id, a.id",
        started=STARTED,
    )
    actions: dict[int, list[tuple[str, str]]] = {}
    for deadline_id, action, level in found:
        actions.setdefault(deadline_id, [])
        if action is not None:
            actions[deadline_id].append((action, level))
    return actions


async def case_states(db: Backend) -> list[Any]:
    """Per case: where it is, its version, its audit trail and the status of each of its clocks."""
    return await rows(
        db,
        "WITH ev AS (SELECT case_id, array_agg(trigger ORDER BY seq) AS triggers, max(seq) AS last_seq"
        "   FROM case_event GROUP BY case_id),"
        " dl AS (SELECT case_id, array_agg(kind || ':' || unit_code || ':' || status ORDER BY id) AS clocks"
        "   FROM deadline GROUP BY case_id),"
        " ib AS (SELECT case_id, count(*) AS escalations FROM inbox_item WHERE kind = 'escalation'"
        "   GROUP BY case_id)"
        " SELECT c.id, c.location_code AS village, c.unit_code, c.tier, c.state, c.version,"
        " ev.triggers, ev.last_seq, dl.clocks, coalesce(ib.escalations, 0) AS escalations"
        " FROM cases c LEFT JOIN ev ON ev.case_id = c.id LEFT JOIN dl ON dl.case_id = c.id"
        " LEFT JOIN ib ON ib.case_id = c.id ORDER BY c.id",
    )


def assert_escalated_once(case: Any, towns: dict[str, str]) -> None:
    town = towns[case.village]
    assert (case.state, case.unit_code, case.tier) == ("assigned", town, "town"), case
    assert (case.version, case.last_seq) == (2, 2), case
    assert case.triggers == [None, "escalate"], case
    # The breached clock ran until the case moved on; the escalation ended it (breached_at stays).
    assert case.clocks == [f"acceptance:{case.village}:cancelled", f"acceptance:{town}:active"], case
    assert case.escalations == 1, case


def assert_untouched(case: Any) -> None:
    assert (case.state, case.unit_code, case.tier) == ("assigned", case.village, "village"), case
    assert (case.version, case.last_seq, case.triggers) == (1, 1, [None]), case
    assert case.clocks == [f"acceptance:{case.village}:active"], case
    assert case.escalations == 0, case


async def test_three_sweepers_over_ten_thousand_due_deadlines_escalate_each_case_once(
    postgres: Backend,
) -> None:
    count = 10_000
    seed_started = time.perf_counter()
    towns = await seed_due_cases(postgres, count)
    seeded = time.perf_counter()

    reports: list[SweepReport] = await asyncio.gather(
        *(sweep(postgres.engine, postgres.ctx, now=FIXED_NOW) for _ in range(3))
    )

    elapsed = time.perf_counter() - seeded
    print(
        f"\n{count} due deadlines: seeded in {seeded - seed_started:.1f} s, three sweepers took {elapsed:.1f} s "
        f"({count / elapsed:.0f} breaches/s); breached per sweeper {[r.breached for r in reports]}, "
        f"batches {[r.batches for r in reports]}, duplicates {[r.duplicates for r in reports]}"
    )
    assert sum(r.breached for r in reports) == count
    # SKIP LOCKED hands each sweeper rows no other holds, and a row another sweeper has already
    # committed is no longer active: no sweeper ever meets a deadline already acted on.
    assert [r.duplicates for r in reports] == [0, 0, 0]
    assert all(r.breached > 0 for r in reports), "the three sweepers shared the work"
    assert sum((Counter(r.actions) for r in reports), Counter()) == {"escalated": count}
    assert sum(r.warned for r in reports) == 0

    actions = await breach_actions(postgres)
    assert len(actions) == count
    assert {tuple(a) for a in actions.values()} == {(("breach", "due"),)}
    total = await rows(postgres, "SELECT count(*), count(DISTINCT deadline_id) FROM deadline_action")
    assert tuple(total[0]) == (count, count)
    seeded_clocks = await rows(
        postgres,
        "SELECT status, breached_at, ended_at, count(*) FROM deadline WHERE started_at = :started"
        " GROUP BY status, breached_at, ended_at",
        started=STARTED,
    )
    assert [tuple(r) for r in seeded_clocks] == [("cancelled", FIXED_NOW, FIXED_NOW, count)]

    states = await case_states(postgres)
    assert len(states) == count
    for case in states:
        assert_escalated_once(case, towns)
    new_clocks = await rows(
        postgres,
        "SELECT count(*), count(DISTINCT case_id) FROM deadline"
        " WHERE kind = 'acceptance' AND status = 'active' AND started_at = :now AND due_at > :now",
        now=FIXED_NOW,
    )
    assert tuple(new_clocks[0]) == (count, count)
    escalate_events = await rows(
        postgres,
        "SELECT actor, actor_role, count(*) FROM case_event WHERE trigger = 'escalate' GROUP BY 1, 2",
    )
    assert [tuple(r) for r in escalate_events] == [("system", "system", count)]

    # A fourth sweep, later, finds nothing left to do.
    again = await sweep(postgres.engine, postgres.ctx, now=FIXED_NOW + timedelta(minutes=1))
    assert (again.breached, again.warned, again.duplicates) == (0, 0, 0)


@pytest.mark.parametrize("mode", ["batched", "one_by_one"])
async def test_a_sweep_killed_mid_way_loses_and_duplicates_nothing(
    postgres: Backend, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    count, batch_size = 300, 50
    towns = await seed_due_cases(postgres, count)
    calls = 0
    if mode == "batched":
        # Killed in the third batch, after it wrote everything but before it committed.
        dies_on, committed = 3, 100
        real_batch = sweeper._escalate_batch

        async def dying_batch(*args: Any, **kwargs: Any) -> None:
            nonlocal calls
            calls += 1
            await real_batch(*args, **kwargs)
            if calls == dies_on:
                raise asyncio.CancelledError("restart")

        monkeypatch.setattr(sweeper, "_escalate_batch", dying_batch)
    else:
        dies_on = 120
        committed = (dies_on - 1) // batch_size * batch_size  # the batches before the one in flight
        monkeypatch.setattr(sweeper, "_batchable", lambda *args: False)
        real_handle = sweeper._handle

        async def dying_handle(*args: Any, **kwargs: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == dies_on:
                # The process is stopped here: a BaseException, so the sweep's `except Exception`
                # does not treat it as one failed deadline.
                raise asyncio.CancelledError("restart")
            await real_handle(*args, **kwargs)

        monkeypatch.setattr(sweeper, "_handle", dying_handle)

    with pytest.raises(asyncio.CancelledError):
        await sweep(postgres.engine, postgres.ctx, now=FIXED_NOW, batch_size=batch_size)

    assert calls == dies_on
    states = await case_states(postgres)
    escalated = [c for c in states if c.version == 2]
    untouched = [c for c in states if c.version == 1]
    assert (len(escalated), len(untouched)) == (committed, count - committed)
    for case in escalated:
        assert_escalated_once(case, towns)
    for case in untouched:  # including those handled in the batch that was rolled back
        assert_untouched(case)
    actions = await breach_actions(postgres)
    assert sorted(len(a) for a in actions.values()) == [0] * (count - committed) + [1] * committed
    breach_items = await rows(postgres, "SELECT count(*) FROM inbox_item WHERE kind = 'breach'")
    assert breach_items[0][0] == committed * 2  # the station and the town hear of each breach

    monkeypatch.undo()  # the restarted process sweeps normally
    report = await sweep(postgres.engine, postgres.ctx, now=FIXED_NOW, batch_size=batch_size)

    assert (report.breached, report.duplicates) == (count - committed, 0)
    assert report.actions == {"escalated": count - committed}
    actions = await breach_actions(postgres)
    assert len(actions) == count
    assert {tuple(a) for a in actions.values()} == {(("breach", "due"),)}
    for case in await case_states(postgres):
        assert_escalated_once(case, towns)


async def test_a_person_acting_on_a_case_the_sweep_holds_gets_a_clean_answer(
    client: httpx.AsyncClient,
    auth,
    postgres: Backend,
    frozen_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    station = await auth("dashi.mediator")
    case = await open_case(client, station)
    overdue = kunshan(2026, 3, 6, 9)  # the acceptance clock ran out at midnight
    frozen_clock.set(overdue)
    claimed, release = asyncio.Event(), asyncio.Event()
    real_handle = sweeper._handle

    async def held_handle(*args: Any, **kwargs: Any) -> None:
        claimed.set()  # the batch is claimed: the deadline row is locked until it commits
        await release.wait()
        await real_handle(*args, **kwargs)

    monkeypatch.setattr(sweeper, "_handle", held_handle)
    sweeping = asyncio.create_task(sweep(postgres.engine, postgres.ctx, now=overdue))
    await claimed.wait()
    # The mediator accepts the overdue case at that very moment.
    accepting = asyncio.create_task(fire(client, station, case, "accept"))
    # Bounded polling (round trips, no sleep) until the request waits for a lock or is answered.
    async with postgres.engine.connect() as conn:
        for _ in range(2000):
            waiting = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
            ).scalar_one()
            if waiting or accepting.done():
                break
    release.set()
    response = await accepting
    report = await sweeping

    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=await auth("auditor"))).json()
    triggers = [e["trigger"] for e in events]
    assert response.status_code != 500, response.text
    if response.status_code == 200:  # the person won: the clock was met, nothing to escalate
        assert triggers == [None, "accept"] and report.breached == 0
    else:  # the sweep won: the person is told to reload (or retry)
        assert response.status_code in (409, 412, 503), response.text
        assert triggers == [None, "escalate"] and report.actions == {"escalated": 1}
