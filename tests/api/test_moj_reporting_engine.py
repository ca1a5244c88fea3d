"""Which engine the MoJ report reads: the reporting engine (a replica when one is named), like the
statistics, for the API, its files, the drill-down and the pages; the export's security event is
written to the primary; and a filing freezes figures read on the primary, never on a replica that
may lag (docs/filings.md). A second engine on the same database stands in for the replica and
counts the statements it runs; tests/faults/test_reporting_replica.py runs a real standby."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from service.db import create_engine
from tests.builders import ZHANGPU, move, open_case
from tests.conftest import Backend, FrozenClock, token_for

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

MARCH = "2026-03"


@dataclass
class Counted:
    """The statements one engine ran, as SQL text."""

    statements: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.statements.clear()

    def writes_to(self, table: str) -> bool:
        return any(s.lstrip().upper().startswith("INSERT") and table in s for s in self.statements)


@pytest.fixture
async def replica(db: Backend) -> AsyncIterator[Counted]:
    """The app's reporting engine swapped for a second engine on the same database."""
    engine = create_engine(
        db.url, pool_size=2, execution_options=db.engine.sync_engine.get_execution_options()
    )
    counted = Counted()

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counted.statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    before = db.app.state.reporting_engine
    db.app.state.reporting_engine = engine
    try:
        yield counted
    finally:
        db.app.state.reporting_engine = before
        await engine.dispose()


async def stats_exported(db: Backend) -> list[Any]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT payload FROM security_event WHERE kind = 'stats_exported' ORDER BY id")
        )
        return [json.loads(p) if isinstance(p, str) else p for (p,) in rows]


async def test_the_moj_report_reads_the_reporting_engine_and_a_filing_the_primary(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock, replica: Counted
) -> None:
    frozen_clock.set(datetime(2026, 3, 3, 2, 0, tzinfo=UTC))
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    coordinator = await auth("city.coordinator")
    frozen_clock.set(datetime(2026, 4, 2, 2, 0, tzinfo=UTC))

    replica.reset()
    answer = await client.get("/api/v1/stats/moj", params={"month": MARCH}, headers=coordinator)
    assert answer.status_code == 200, answer.text
    assert replica.statements, "the MoJ report did not read through the reporting engine"
    accepted = {c["key"]: c["value"] for c in answer.json()["cells"]}["accepted.month"]
    assert accepted == 1

    replica.reset()
    cases = await client.get(
        "/api/v1/stats/moj/cells/accepted.month/cases", params={"month": MARCH}, headers=coordinator
    )
    assert cases.status_code == 200, cases.text
    assert [c["id"] for c in cases.json()["items"]] == [case["id"]]
    assert replica.statements, "the drill-down did not read through the reporting engine"

    # The file's figures from the reporting engine, its security event on the primary.
    replica.reset()
    exported = await client.get(
        "/api/v1/stats/moj", params={"month": MARCH, "format": "csv"}, headers=coordinator
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.headers["content-disposition"] == 'attachment; filename="jiefen-moj-2026-03.csv"'
    assert replica.statements and not replica.writes_to("security_event")
    payloads = await stats_exported(db)
    assert payloads[-1] == {"report": "moj", "month": MARCH, "unit": None, "format": "csv"}

    # The pages read the same way.
    cookies = {"jiefen_session": await token_for(client, db, "city.coordinator")}
    for path in ("/stats/moj", "/stats/moj/cells/accepted.month"):
        replica.reset()
        page = await client.get(path, params={"month": MARCH}, cookies=cookies)
        assert page.status_code == 200, page.text[:500]
        assert replica.statements, f"{path} did not read through the reporting engine"

    # A filing freezes what the primary holds: nothing of it is read on the reporting engine.
    replica.reset()
    town = await auth("zhangpu.coordinator")
    filed = await client.post("/api/v1/filings", json={"unit": ZHANGPU, "month": MARCH}, headers=town)
    assert filed.status_code == 201, filed.text
    assert replica.statements == []
    frozen = {c["key"]: c["value"] for c in filed.json()["cells"]}
    assert frozen["accepted.month"] == 1
