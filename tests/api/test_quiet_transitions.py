"""Quiet transitions (suspend, resume, …: nobody told, nothing offered, no clock started).

The answer must be exactly what a fresh read shows, the audit chain must hold, and a clock the
sweep breached between the read and the write must stay breached.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service import clock
from service.cases import service
from service.cases.schemas import TransitionIn
from service.deadlines.models import Deadline
from service.integrity.verify import verify_audit
from tests.builders import move, open_case
from tests.conftest import Backend, FrozenClock
from workflows.lifecycle import Actor, Role

deadline = Deadline.__table__  # type: ignore[attr-defined]
MEDIATOR = Actor(username="dashi.mediator", role=Role.mediator, unit_code="320583106005")


async def read(client: httpx.AsyncClient, headers: dict[str, str], case_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def clock_of(case: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in case["deadlines"] if d["kind"] == kind)
    return found


async def test_suspend_and_resume_answer_what_a_read_shows(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station), "accept")
    current = case
    for step, fields in [
        ("suspend", {"reason": "等待伤情鉴定"}),
        ("resume", {}),
        ("suspend", {"reason": "当事人外出务工"}),
        ("resume", {}),
    ]:
        frozen_clock.set(clock.now() + timedelta(days=1))
        answered = await move(client, station, current, step, **fields)
        assert answered == await read(client, station, case["id"]), step
        assert answered["version"] == current["version"] + 1
        current = answered
    assert clock_of(current, "people_mediation")["status"] == "active"
    assert (await verify_audit(db.engine)).intact


async def test_a_clock_the_sweep_breached_after_the_read_stays_breached_when_the_case_pauses(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station), "accept")
    mediation = clock_of(case, "people_mediation")
    stale = await service.visible_row(db.engine, db.ctx, case["id"], MEDIATOR)

    # The sweep breaches the running clock (without moving the case's version) after our read.
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(deadline)
            .where(deadline.c.id == mediation["id"])
            .values(status="breached", breached_at=clock.now(), warn_at=None, warnings=[])
        )

    async def the_stale_read(*_args: Any, **_kwargs: Any) -> Any:
        return stale

    with monkeypatch.context() as patched:
        patched.setattr(service, "visible_row", the_stale_read)
        answered = await service.apply_transition(
            db.engine,
            db.ctx,
            case["id"],
            TransitionIn.model_validate({"trigger": "suspend", "reason": "等待伤情鉴定"}),
            MEDIATOR,
            now=clock.now(),
            if_match=case["version"],
        )

    assert answered.state == "suspended"
    shown = answered.model_dump(mode="json")
    assert clock_of(shown, "people_mediation")["status"] == "breached"
    assert shown == await read(client, station, case["id"])
    assert (await verify_audit(db.engine)).intact


async def test_a_quiet_transition_on_a_stale_version_is_412_and_writes_nothing(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station), "accept")
    stale = await service.visible_row(db.engine, db.ctx, case["id"], MEDIATOR)
    # Someone else suspends it first.
    await move(client, station, case, "suspend", reason="等待伤情鉴定")

    async def the_stale_read(*_args: Any, **_kwargs: Any) -> Any:
        return stale

    with monkeypatch.context() as patched, pytest.raises(service.StaleVersion) as raised:
        patched.setattr(service, "visible_row", the_stale_read)
        await service.apply_transition(
            db.engine,
            db.ctx,
            case["id"],
            TransitionIn.model_validate({"trigger": "suspend", "reason": "第二次"}),
            MEDIATOR,
            now=clock.now(),
            if_match=case["version"],
        )

    shown = await read(client, station, case["id"])
    assert raised.value.extra["current_version"] == shown["version"] == case["version"] + 1
    assert clock_of(shown, "people_mediation")["status"] == "paused"
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=station)).json()
    assert [e["trigger"] for e in events if e["kind"] == "transition"][-1] == "suspend"
    assert len([e for e in events if e.get("reason") == "第二次"]) == 0
    assert (await verify_audit(db.engine)).intact
