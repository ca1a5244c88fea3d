"""The audit trail is tamper-evident: altering or deleting any record is found by `verify`."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from service.audit.retention import purge_security_events
from service.integrity import backfill
from service.integrity.backfill import fill_missing_case_chains
from service.integrity.verify import verify_audit
from tests.builders import move, open_case
from tests.conftest import FIXED_NOW, Backend


async def journey(client: httpx.AsyncClient, auth) -> dict:  # type: ignore[no-untyped-def]
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    case = await move(
        client, mediator, case, "settle", agreement={"form": "written", "terms": "赔偿 2000 元"}
    )
    party = case["parties"][0]["id"]
    reveal = await client.post(
        f"/api/v1/cases/{case['id']}/parties/{party}/reveal", json={"reason": "通知到场"}, headers=mediator
    )
    assert reveal.status_code == 200
    return case


async def test_an_untouched_trail_is_intact(client: httpx.AsyncClient, auth, db: Backend) -> None:
    await journey(client, auth)

    report = await verify_audit(db.engine)

    assert report.intact, report.broken
    async with db.engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT count(*) FROM security_event"))).scalar_one()
    assert (report.cases, report.case_events) == (1, 3)
    assert report.security_events == stored >= 1  # the reveal, and any sign-ins


@pytest.mark.parametrize(
    ("tamper", "finding"),
    [
        ("UPDATE case_event SET reason = '改过' WHERE seq = 2", "seq 2: content does not match"),
        ("UPDATE case_event SET payload = '{}' WHERE seq = 3", "seq 3: content does not match"),
        ("DELETE FROM case_event WHERE seq = 2", "seq 2 is missing"),
        ("DELETE FROM case_event WHERE seq = 3", "version 3 but 2 events"),
        ("UPDATE security_event SET reason = '随便看看'", "content does not match"),
        ("DELETE FROM security_event WHERE kind = 'reveal'", "security event"),
    ],
    ids=["edit-reason", "edit-payload", "delete-middle", "delete-last", "edit-reveal", "delete-reveal"],
)
async def test_any_alteration_or_deletion_is_found(
    client: httpx.AsyncClient, auth, db: Backend, tamper: str, finding: str
) -> None:
    await journey(client, auth)
    async with db.engine.begin() as conn:
        await conn.execute(sa.text(tamper))

    report = await verify_audit(db.engine)

    assert not report.intact
    assert finding in (report.broken or "")


async def test_events_written_before_chaining_are_chained_once(
    client: httpx.AsyncClient, auth, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        await journey(client, auth)
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE case_event SET hash = NULL, prev_hash = NULL"))
    monkeypatch.setattr(backfill, "FILL_BATCH", 2)  # two rounds: a batch boundary between cases

    assert await fill_missing_case_chains(db.engine) == 3
    assert await fill_missing_case_chains(db.engine) == 0
    report = await verify_audit(db.engine)
    assert report.intact and (report.cases, report.case_events) == (3, 9)


async def test_retention_purge_keeps_six_months_and_keeps_the_chain_verifiable(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    await journey(client, auth)  # one reveal at FIXED_NOW (the frozen clock is not used: real time)

    with pytest.raises(ValueError, match="183"):
        await purge_security_events(db.engine, older_than_days=30, actor="test", now=FIXED_NOW)
    purged = await purge_security_events(
        db.engine, older_than_days=200, actor="test", now=FIXED_NOW + timedelta(days=10_000)
    )

    assert purged == 1
    report = await verify_audit(db.engine)
    assert report.intact, report.broken
    async with db.engine.connect() as conn:
        kinds = (await conn.execute(sa.text("SELECT kind FROM security_event"))).scalars().all()
    assert kinds[-1] == "security_events_purged"
    assert "reveal" not in kinds
