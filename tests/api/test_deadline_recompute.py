"""Recomputing open deadlines after a new holiday or a policy change, on both databases.

The clock is frozen (FIXED_NOW is Monday 2026-03-02 10:00 in Kunshan) and moved by the test.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.recompute import recompute_deadlines
from tests.api.test_deadlines_api import deadline_of, kunshan
from tests.builders import move, open_case
from tests.conftest import Backend, FrozenClock
from workflows.calendar import BusinessCalendar, seeded_years
from workflows.deadlines import PolicySet

pytestmark = pytest.mark.usefixtures("trail_stays_intact")


def with_holiday(day: datetime) -> BusinessCalendar:
    """The official calendar with one more day off (as a corrected notice would add)."""
    years = seeded_years()
    year = years[day.year]
    return BusinessCalendar(
        {**years, day.year: dataclasses.replace(year, holidays=year.holidays | {day.date()})}
    )


def longer(policies: PolicySet, kind: str, length: int) -> PolicySet:
    return PolicySet(
        tuple(dataclasses.replace(p, length=length) if p.kind == kind else p for p in policies.policies)
    )


async def clock_rows(db: Backend) -> dict[int, tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT id, status, due_at, warn_at, warnings FROM deadline ORDER BY id")
        )
        return {r.id: tuple(r) for r in rows}


async def events_of(db: Backend, kind: str) -> list[Any]:
    async with db.engine.connect() as conn:
        return list(
            await conn.execute(
                sa.text(
                    "SELECT case_id, actor, actor_role, payload FROM case_event WHERE kind = :kind ORDER BY id"
                ),
                {"kind": kind},
            )
        )


async def test_recompute_follows_a_new_holiday_and_a_longer_period_once_and_in_the_audit_trail(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    station = await auth("dashi.mediator")
    # A mediation paused for five days and extended by a month with both parties' consent.
    mediating = await move(client, station, await open_case(client, station), "accept")
    frozen_clock.set(kunshan(2026, 3, 10, 9))
    mediating = await move(client, station, mediating, "suspend", reason="等待鉴定")
    frozen_clock.set(kunshan(2026, 3, 15, 9))
    mediating = await move(client, station, mediating, "resume")
    frozen_clock.set(kunshan(2026, 3, 16, 9))
    clock = deadline_of(mediating, "people_mediation")
    extend = await client.post(
        f"/api/v1/cases/{mediating['id']}/deadlines/{clock['id']}/extend",
        json={"by_length": 1, "both_parties_consent": True, "reason": "继续调解"},
        headers=station,
    )
    assert extend.status_code == 200, extend.text
    # And a case waiting to be accepted: Friday 20 March, due at the end of Wednesday 25 March.
    frozen_clock.set(kunshan(2026, 3, 20, 10))
    waiting = await open_case(client, station)
    assert deadline_of(waiting, "acceptance")["due_date"] == "2026-03-25"
    now = kunshan(2026, 3, 20, 11)

    # Nothing changed: the history explains every clock exactly as it is.
    unchanged = await recompute_deadlines(db.engine, db.ctx, now=now, dry_run=False)
    assert (unchanged.checked, unchanged.changes, unchanged.skipped) == (2, [], [])

    monkeypatch.setattr(db.ctx, "calendar", with_holiday(kunshan(2026, 3, 24, 12)))
    monkeypatch.setattr(db.ctx, "policies", longer(db.ctx.policies, "people_mediation", 2))
    before = await clock_rows(db)

    dry = await recompute_deadlines(db.engine, db.ctx, now=now, dry_run=True)

    assert {(c.number, c.kind) for c in dry.changes} == {
        (waiting["number"], "acceptance"),
        (mediating["number"], "people_mediation"),
    }
    assert (dry.cases, dry.written_cases) == (2, 0)
    assert await clock_rows(db) == before  # a dry run writes nothing
    assert await events_of(db, "recomputed") == []

    done = await recompute_deadlines(db.engine, db.ctx, now=now, dry_run=False)

    assert (len(done.changes), done.written_cases, done.stale_cases) == (2, 2, [])
    frozen_clock.set(now)
    after = (await client.get(f"/api/v1/cases/{waiting['id']}", headers=station)).json()
    assert deadline_of(after, "acceptance")["due_date"] == "2026-03-26"  # Tuesday 24 March is off now
    mediation = deadline_of(
        (await client.get(f"/api/v1/cases/{mediating['id']}", headers=station)).json(), "people_mediation"
    )
    change = next(c for c in done.changes if c.kind == "people_mediation")
    assert datetime.fromisoformat(mediation["due_at"]) == change.new_due > change.old_due
    assert mediation["status"] == "active" and len(mediation["extensions"]) == 1
    events = await events_of(db, "recomputed")
    assert sorted(e.case_id for e in events) == sorted([waiting["id"], mediating["id"]])
    assert {(e.actor, e.actor_role) for e in events} == {("system", "system")}
    timeline = (await client.get(f"/api/v1/cases/{waiting['id']}/events", headers=station)).json()
    record = timeline[-1]["payload"]["recomputed"][0]
    assert (timeline[-1]["kind"], record["kind"]) == ("recomputed", "acceptance")
    assert datetime.fromisoformat(record["new_due_at"]) == kunshan(2026, 3, 27)

    # Safe to run again: nothing left to change, nothing written.
    again = await recompute_deadlines(db.engine, db.ctx, now=now, dry_run=False)
    assert (again.changes, again.written_cases) == ([], 0)
    assert len(await events_of(db, "recomputed")) == 2


async def test_a_warning_already_sent_is_not_scheduled_again(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.sweep import sweep

    station = await auth("dashi.mediator")
    case = await open_case(client, station)  # due at the end of Thursday 5 March; warned that morning
    warned = await sweep(db.engine, db.ctx, now=kunshan(2026, 3, 5, 9))
    assert warned.warned == 1
    monkeypatch.setattr(db.ctx, "policies", longer(db.ctx.policies, "acceptance", 5))

    done = await recompute_deadlines(db.engine, db.ctx, now=kunshan(2026, 3, 5, 10), dry_run=False)

    [change] = done.changes
    assert change.number == case["number"]
    assert change.new_warnings == ()  # its one level, last_day, was sent
    assert change.new_due == kunshan(2026, 3, 10)  # five working days: Tuesday 3 to Monday 9 March
