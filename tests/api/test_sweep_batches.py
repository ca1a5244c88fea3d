"""The sweep writes breaches a batch at a time: the same outcome as one by one, and a safe fallback.

Each test runs twice: with batches (the default) and with every deadline handled alone in its
own savepoint, and asserts the same concrete outcome both times.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service import sweep as sweeper
from service.integrity.verify import verify_audit
from service.notifications.service import inbox
from service.sweep import sweep
from tests.builders import DASHI, WULIAN, ZHANGPU, ZHOUXIANG, open_case
from tests.conftest import Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

deadline_action = sweeper.deadline_action
deadline = sweeper.deadline

# Registered Monday 2 March: acceptance (3 working days) is due at midnight starting Friday 6 March.
AFTER_DUE = datetime(2026, 3, 6, 1, tzinfo=UTC)


@pytest.fixture(params=["batched", "one_by_one"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "one_by_one":
        monkeypatch.setattr(sweeper, "_batchable", lambda *args: False)
    return str(request.param)


async def snapshot(db: Backend, case_ids: list[int]) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        cases = (
            await conn.execute(
                sa.select(
                    sweeper.cases.c.id,
                    sweeper.cases.c.state,
                    sweeper.cases.c.unit_code,
                    sweeper.cases.c.version,
                )
                .where(sweeper.cases.c.id.in_(case_ids))
                .order_by(sweeper.cases.c.id)
            )
        ).all()
        clocks = (
            await conn.execute(
                sa.select(deadline.c.case_id, deadline.c.kind, deadline.c.status, deadline.c.unit_code)
                .where(deadline.c.case_id.in_(case_ids))
                .order_by(deadline.c.id)
            )
        ).all()
        notes = (
            await conn.execute(
                sa.select(inbox.c.unit_code, inbox.c.kind).where(inbox.c.kind.in_(["breach", "escalation"]))
            )
        ).all()
        actions = (await conn.execute(sa.select(deadline_action.c.action, deadline_action.c.result))).all()
    return {
        "cases": [tuple(r) for r in cases],
        "clocks": [tuple(r) for r in clocks],
        "notes": Counter(tuple(r) for r in notes),
        "actions": Counter(tuple(r) for r in actions),
    }


async def test_breaches_escalate_notify_and_record_once_either_way(
    client: httpx.AsyncClient,
    auth: Any,
    db: Backend,
    frozen_clock: FrozenClock,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    opened = [
        await open_case(client, await auth("dashi.mediator")),
        await open_case(client, await auth("dashi.mediator")),
        await open_case(client, await auth("zhouxiang.mediator"), location_code=ZHOUXIANG),
        await open_case(client, await auth("wulian.mediator"), location_code=WULIAN),
        # Triage sends a criminal risk straight to the city centre: no tier above to escalate to.
        await open_case(client, await auth("dashi.mediator"), flags=["criminal_risk"]),
    ]
    ids = [c["id"] for c in opened]

    with caplog.at_level(logging.INFO, logger="service.sweep"):
        report = await sweep(db.engine, db.ctx, now=AFTER_DUE)
    again = await sweep(db.engine, db.ctx, now=AFTER_DUE + timedelta(minutes=5))

    assert "redone one by one" not in caplog.text  # the batch itself did the work
    assert report.breached == 5 and report.duplicates == 0
    assert report.actions == {"escalated": 4, "notified (no parent tier to escalate to)": 1}
    assert (again.breached, again.warned) == (0, 0)
    state = await snapshot(db, ids)
    assert state["cases"] == [
        (ids[0], "assigned", ZHANGPU, 2),
        (ids[1], "assigned", ZHANGPU, 2),
        (ids[2], "assigned", ZHANGPU, 2),
        (ids[3], "assigned", "320583100", 2),
        (ids[4], "assigned", "320583", 3),  # its two reports of the crime risk are events of their own
    ]
    # Each escalated case: the station's clock ended by the escalation, the town's own running.
    stations = [DASHI, DASHI, ZHOUXIANG, WULIAN]
    towns = [ZHANGPU, ZHANGPU, ZHANGPU, "320583100"]
    for case_id, station, town in zip(ids[:4], stations, towns, strict=True):
        clocks = [c[1:] for c in state["clocks"] if c[0] == case_id]
        assert clocks == [("acceptance", "cancelled", station), ("acceptance", "active", town)]
    city_clock = [c[1:] for c in state["clocks"] if c[0] == ids[4]]
    assert city_clock == [("acceptance", "breached", "320583")]  # flagged, nowhere to escalate
    assert state["notes"][(ZHANGPU, "escalation")] == 3
    assert state["notes"][("320583100", "escalation")] == 1
    assert state["notes"][(ZHANGPU, "breach")] == 3  # the supervisor hears of each breach
    assert state["notes"][(DASHI, "breach")] == 2
    assert sum(state["actions"].values()) == 5
    assert (await verify_audit(db.engine)).intact


async def test_a_batch_that_meets_a_recorded_action_is_redone_one_by_one(
    client: httpx.AsyncClient,
    auth: Any,
    db: Backend,
    frozen_clock: FrozenClock,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = await auth("dashi.mediator")
    opened = [await open_case(client, headers) for _ in range(3)]
    # Another sweeper already recorded the first one's breach (its commit raced this claim).
    async with db.engine.begin() as conn:
        first = (
            await conn.execute(sa.select(deadline.c.id).where(deadline.c.case_id == opened[0]["id"]))
        ).scalar_one()
        await conn.execute(
            sa.insert(deadline_action).values(
                deadline_id=first, action="breach", level="due", at=AFTER_DUE, result="escalated"
            )
        )

    with caplog.at_level(logging.INFO, logger="service.sweep"):
        report = await sweep(db.engine, db.ctx, now=AFTER_DUE)

    assert ("redone one by one" in caplog.text) == (mode == "batched")
    assert report.duplicates == 1 and report.breached == 2
    assert report.actions == {"escalated": 2}
    state = await snapshot(db, [c["id"] for c in opened])
    assert [c[1:3] for c in state["cases"]] == [
        ("assigned", DASHI),
        ("assigned", ZHANGPU),
        ("assigned", ZHANGPU),
    ]
    assert state["notes"][(ZHANGPU, "escalation")] == 2
    assert (await verify_audit(db.engine)).intact


async def test_an_unexpected_error_in_a_batch_is_logged_as_an_error_with_its_cases_and_nothing_is_lost(
    client: httpx.AsyncClient,
    auth: Any,
    db: Backend,
    frozen_clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = await auth("dashi.mediator")
    opened = [await open_case(client, headers) for _ in range(3)]
    ids = [c["id"] for c in opened]

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug in the batch writer")

    monkeypatch.setattr(sweeper.queries, "apply_changes", broken)
    with caplog.at_level(logging.INFO, logger="service.sweep"):
        report = await sweep(db.engine, db.ctx, now=AFTER_DUE)

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert str(ids) in errors[0].getMessage()
    # The careful path did the work: every case escalated once, nothing half-written.
    assert report.breached == 3 and report.actions == {"escalated": 3}
    state = await snapshot(db, ids)
    assert [c[1:] for c in state["cases"]] == [("assigned", ZHANGPU, 2)] * 3
    assert (await verify_audit(db.engine)).intact
