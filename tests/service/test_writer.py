"""The executor's two forms write the same rows for the same plans: ``write`` (one plan: one
statement on PostgreSQL, a few in a transaction on SQLite) and ``write_batch`` (many plans
set-based: the sweep's form), on SQLite and on PostgreSQL.

The plans are decided once, from committed cases, the way their callers decide them (a person's
transitions through ``decide_transition``, the sweep's breaches through ``plan_breaches``). Then
they are written twice from that same state: one plan at a time, in a transaction rolled back
after every row of the database was read, and all together with ``write_batch``, committed. The
two sets of rows must be equal field by field (the case columns, the events with their hash
chain, the clocks, the referrals, the inbox items and the outbox messages), except what the
writes cannot repeat: the ids PostgreSQL's sequences draw for new rows (a rollback does not give
them back) and the random prefix of each webhook message's key.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases import queries, writer
from service.cases.schemas import TransitionIn
from service.cases.service import decide_transition
from service.integrity.verify import verify_audit
from service.notifications.service import inbox, outbox
from service.referrals.service import referral
from service.sweep import claim_due, plan_breaches
from tests.builders import (
    CONSENTED_TRIGGERS,
    COURT_DESK,
    DASHI,
    POLICE,
    ZHANGPU,
    consents,
    hand_to_station,
    move,
    open_case,
    police_case,
)
from tests.conftest import Backend, FrozenClock
from tests.rows import subscribe
from workflows.lifecycle import Actor, Role
from workflows.transition import TransitionPlan

# Registered Monday 2 March: the acceptance clocks (3 working days) ran out at midnight starting 6 March.
NOW = datetime(2026, 3, 6, 1, tzinfo=UTC)
STATION = Actor("dashi.mediator", Role.mediator, DASHI)
POLICE_OFFICER = Actor("zhangpu.police", Role.agency_officer, POLICE)
CLERK = Actor("court.clerk", Role.court_clerk, COURT_DESK)
SUBSCRIBED = (DASHI, ZHANGPU, POLICE, COURT_DESK)  # every unit the plans announce something to

TABLES = {
    "cases": queries.cases,
    "party": queries.party,
    "case_event": queries.case_event,
    "deadline": queries.deadline,
    "referral": referral,
    "inbox_item": inbox,
    "outbox": outbox,
}
MESSAGE_KEY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:(\d+)")

Rows = dict[str, list[dict[str, Any]]]


async def every_row(conn: AsyncConnection) -> Rows:
    """Every row of the tables a plan writes to, by table, in id order."""
    return {
        name: [dict(r._mapping) for r in await conn.execute(sa.select(table).order_by(table.c.id))]
        for name, table in TABLES.items()
    }


async def written_by(db: Backend, write: Callable[[AsyncConnection], Awaitable[None]], *, keep: bool) -> Rows:
    """Every row after ``write`` ran in a transaction, then committed (``keep``) or rolled back."""
    async with db.engine.begin() as conn:
        await write(conn)
        rows = await every_row(conn)
        if not keep:
            await conn.rollback()
    return rows


def comparable(rows: Rows, before: Rows) -> dict[str, list[str]]:
    """The rows with the ids of new ones (drawn by the writes) and the random part of each message
    key left out, as sorted lists of their printed fields: equal when the rows are."""
    shown: dict[str, list[str]] = {}
    for name, table_rows in rows.items():
        known = {r["id"] for r in before[name]}
        printed = []
        for row in table_rows:
            row = {**row, "id": row["id"] if row["id"] in known else "new"}
            if name == "outbox":
                key = MESSAGE_KEY.fullmatch(row["idempotency_key"])
                assert key is not None and int(key.group(1)) == row["subscription_id"], row
                row["idempotency_key"] = f"<random>:{row['subscription_id']}"
            printed.append(repr(sorted(row.items())))
        shown[name] = sorted(printed)
    return shown


async def plan(
    db: Backend, case: dict[str, Any], actor: Actor, trigger: str, **fields: Any
) -> TransitionPlan:
    """The plan a person's transition makes, as ``apply_transition`` decides it."""
    row = await queries.read_case(db.engine, case["id"])
    assert row is not None
    if trigger in CONSENTED_TRIGGERS and "consents" not in fields:
        fields["consents"] = consents(case)  # every party consented, as tests/builders.py does
    body = TransitionIn.model_validate({"trigger": trigger, **fields})
    return decide_transition(db.ctx, row, body, actor, now=NOW, if_match=None)


async def breach_plan(db: Backend, case: dict[str, Any]) -> TransitionPlan:
    """The escalation the sweep plans when the case's acceptance clock runs out, committed
    with the breach it follows (as the sweep's batch does, up to writing the plans)."""
    async with db.engine.begin() as conn:
        due = [c for c in await claim_due(conn, NOW, batch_size=100) if c.case_id == case["id"]]
        batch = await plan_breaches(conn, db.ctx, due, NOW)
    [escalation] = batch.plans
    return escalation


async def plans_of_every_kind(client: httpx.AsyncClient, auth: Any, db: Backend) -> dict[str, TransitionPlan]:
    """One plan per case, covering every kind of write a plan makes."""
    station, police = await auth("dashi.mediator"), await auth("zhangpu.police")
    clerk = await auth("court.clerk")

    async def accepted() -> dict[str, Any]:
        return await move(client, station, await open_case(client, station), "accept")

    async def terminated() -> dict[str, Any]:
        return await move(client, station, await accepted(), "terminate", termination_reason="gap_too_wide")

    async def offered() -> dict[str, Any]:
        return await hand_to_station(client, police, await police_case(client, police))

    escalated, breached, handed = (
        await open_case(client, station),
        await open_case(client, station),
        await police_case(client, police),
    )
    taken, declined, settled = (
        await offered(),
        await offered(),
        await move(client, station, await offered(), "accept"),
    )
    suspended = await accepted()
    resumed = await move(client, station, await accepted(), "suspend", reason="等待伤情鉴定")
    referred = await terminated()
    await move(client, station, await terminated(), "refer_to_court", reason="调解不成，当事人同意移送")
    queued = (await client.get("/api/v1/court/queue", headers=clerk)).json()["items"]
    [claimed] = queued
    return {
        "escalate": await plan(db, escalated, STATION, "escalate", reason="涉及跨村土地边界，需镇中心协调"),
        "breach": await breach_plan(db, breached),
        "hand_off": await plan(
            db,
            handed,
            POLICE_OFFICER,
            "hand_off",
            target_unit=DASHI,
            referral_kind="police",
            reason="邻里纠纷，适宜人民调解",
            referral_payload={"police_report_number": "JQ2026030600007"},
        ),
        "accept": await plan(db, taken, STATION, "accept"),
        "decline": await plan(db, declined, STATION, "decline", reason="不属本社区辖区"),
        "settle": await plan(
            db, settled, STATION, "settle", agreement={"form": "written", "terms": "赔礼道歉并赔偿 800 元"}
        ),
        "suspend": await plan(db, suspended, STATION, "suspend", reason="当事人外出务工"),
        "resume": await plan(db, resumed, STATION, "resume"),
        "refer_to_court": await plan(db, referred, STATION, "refer_to_court", reason="调解不成，诉前移送"),
        "claim": await plan(db, claimed, CLERK, "claim"),
    }


async def test_one_plan_at_a_time_and_the_batch_write_the_same_rows(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    for unit in SUBSCRIBED:
        await subscribe(db, unit)  # so that every announcement writes outbox messages too
    plans = await plans_of_every_kind(client, auth, db)
    # The plans between them make every kind of write.
    clocks = [p.clocks.plan for p in plans.values()]
    assert plans["breach"].clocks.keep_breached and len(plans["breach"].announcements) == 3
    assert all(
        any(getattr(c, kind) for c in clocks) for kind in ("start", "met", "cancelled", "paused", "resumed")
    )
    assert {a.unit_code for p in plans.values() for a in p.announcements} == set(SUBSCRIBED)
    assert [name for name, p in plans.items() if p.opened] == ["hand_off"]
    assert [(name, p.answered.status.value) for name, p in plans.items() if p.answered] == [
        ("accept", "accepted"),
        ("decline", "declined"),
    ]
    assert [name for name, p in plans.items() if p.completed] == ["settle"]
    assert "queued_at" in plans["refer_to_court"].changes
    assert {"claimed_by", "lease_expires_at"} <= set(plans["claim"].changes)
    async with db.engine.connect() as conn:
        before = await every_row(conn)

    async def one_at_a_time(conn: AsyncConnection) -> None:
        for p in plans.values():
            assert await writer.write(conn, p) is not None

    async def batched(conn: AsyncConnection) -> None:
        await writer.write_batch(conn, list(plans.values()), now=NOW)

    singly = await written_by(db, one_at_a_time, keep=False)
    together = await written_by(db, batched, keep=True)

    assert comparable(singly, before) == comparable(together, before)
    # And what both wrote is the plans: each case one version on, its event chained to the last.
    for name, p in plans.items():
        [case] = [c for c in together["cases"] if c["id"] == p.case_id]
        events = [e for e in together["case_event"] if e["case_id"] == p.case_id]
        assert (case["version"], case["state"], case["unit_code"]) == (
            p.expected_version + 1,
            p.to_state,
            p.to_unit,
        )
        assert (events[-1]["seq"], events[-1]["trigger"]) == (case["version"], p.trigger.value), name
        assert events[-1]["prev_hash"] == events[-2]["hash"], name
    new = {name: len(rows) - len(before[name]) for name, rows in together.items()}
    assert new == {
        "cases": 0,
        "party": 0,
        "case_event": len(plans),
        "deadline": sum(len(c.start) for c in clocks),
        "referral": 1,
        "inbox_item": sum(len(p.announcements) for p in plans.values()),
        "outbox": sum(len(p.announcements) for p in plans.values()),  # one subscription per unit
    }
    assert (await verify_audit(db.engine)).intact
