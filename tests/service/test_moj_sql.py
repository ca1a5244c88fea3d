"""The MoJ report counted in SQL agrees, cell by cell and case by case, with the rules evaluated
in Python over the same history (``workflows.moj_report.Evaluation``): every row, both columns,
the whole network and a town, grouped (the report) and case by case (the filings), and every
drill-down page — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases.queries import cases as case_table
from service.moj import queries
from service.moj import service as moj
from service.reporting.queries import crime_report
from service.screening.queries import major, round_cases, rounds
from tests.api.test_moj_report import a_march, a_screening_march, agreement
from tests.api.test_referrals import kunshan
from tests.builders import CITY, ZHANGPU, move, open_case
from tests.conftest import Backend, FrozenClock
from workflows.lifecycle import Actor, Role, Trigger
from workflows.moj_report import (
    PREVENTED,
    ROWS,
    SCREENING_FOUND,
    Column,
    Evaluation,
    EventFact,
    Window,
    cell_key,
)
from workflows.screening import MajorRisk, prevented_at


def _detail(trigger: str, payload: dict[str, Any]) -> str | None:
    key = {
        Trigger.record_performance.value: "performance",
        Trigger.close.value: "outcome",
        Trigger.delegate.value: "procedure",
    }.get(trigger)
    return None if key is None else payload.get(key)


def _amount(trigger: str, payload: dict[str, Any]) -> Decimal | None:
    if trigger != Trigger.settle.value:
        return None
    found = (payload.get("agreement") or {}).get("amount_yuan")
    return None if found is None else Decimal(str(found))


async def _register_facts(conn: AsyncConnection) -> list[EventFact]:
    """The screening and prevention rows' facts, read plainly and judged in Python: each case a
    round registered, when the round was held; each acknowledged report (major reports of a risk,
    crime-risk reports for 民转刑) at ``workflows.screening.prevented_at``."""
    facts = [
        EventFact(r.case_id, r.held_at, SCREENING_FOUND, r.unit_code)
        for r in await conn.execute(
            sa.select(round_cases.c.case_id, rounds.c.held_at, rounds.c.unit_code).join(
                rounds, rounds.c.id == round_cases.c.round_id
            )
        )
    ]
    closed = {
        r.id: r.closed_at for r in await conn.execute(sa.select(case_table.c.id, case_table.c.closed_at))
    }
    reports = (await conn.execute(sa.select(major))).mappings().all()
    crime = (await conn.execute(sa.select(crime_report))).mappings().all()
    for risk, trigger in PREVENTED.items():
        flagged = [r for r in reports if r[f"risk_{risk.value}"]]
        occurred: dict[int, list[datetime]] = {}
        for r in flagged:
            if r["occurred_at"] is not None:
                occurred.setdefault(r["case_id"], []).append(r["occurred_at"])
        for r in [*flagged, *(crime if risk == MajorRisk.crime else [])]:
            at = prevented_at(closed.get(r["case_id"]), r["acknowledged_at"], occurred.get(r["case_id"], []))
            if at is not None:
                facts.append(EventFact(r["case_id"], at, trigger, r["from_unit_code"]))
    return facts


async def _reference(
    db: Backend, units: frozenset[str] | None, window: Window
) -> tuple[Evaluation, list[EventFact]]:
    """The Python evaluation over every transition, round and report, read plainly."""
    events = queries.events
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                events.c.case_id, events.c.at, events.c.trigger, events.c.from_unit_code, events.c.payload
            ).where(events.c.kind == "transition")
        )
        facts = [
            EventFact(
                r.case_id,
                r.at,
                r.trigger,
                r.from_unit_code,
                _amount(r.trigger, r.payload),
                _detail(r.trigger, r.payload),
            )
            for r in rows
        ]
        facts += await _register_facts(conn)
        ids = {f.case_id for f in facts}
        cases = await queries.case_facts(conn, ids)
        delegated = await queries.delegations(conn, ids, window.end)
    return Evaluation(facts, cases, delegated, db.ctx.org, units, window), facts


async def test_the_sql_counts_agree_with_the_rules_evaluated_in_python(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    cases = await a_march(client, auth, frozen_clock)
    await a_screening_march(client, auth, db, frozen_clock)
    # April: a success abandoned, a case accepted a month late, one accepted and settled twice over.
    frozen_clock.set(kunshan(2026, 4, 2))
    town, station = await auth("zhangpu.coordinator"), await auth("dashi.mediator")
    await move(client, town, cases["B"], "close", outcome="withdrawn")
    late = await move(client, station, cases["E"], "accept")
    await move(client, station, late, "settle", agreement=agreement(1234))
    fresh = await move(client, station, await open_case(client, station), "accept")
    await move(client, station, fresh, "settle", agreement=agreement(99))
    now = kunshan(2026, 5, 2)
    auditor = Actor("auditor", Role.auditor, CITY)
    compared = 0

    for month in ("2026-03", "2026-04"):
        for scope in (None, db.ctx.org.subtree(ZHANGPU)):
            report = await moj.compute(db.engine, db.ctx, units=scope, month=month, now=now)
            figures = await moj.compute(db.engine, db.ctx, units=scope, month=month, now=now, case_ids=False)
            cells = {c.key: c.value for c in report.cells}
            assert figures.cells == report.cells  # grouped or case by case: the same figures
            for column, window in moj.windows(month).items():
                evaluation, _ = await _reference(db, scope, window)
                for row in ROWS:
                    if row.basis is None:
                        continue
                    key = cell_key(row.key, column)
                    expected = evaluation.row(row)
                    shown = expected.value if isinstance(expected.value, int) else str(expected.value)
                    assert (cells[key], report.case_ids[key]) == (shown, expected.case_ids), key
                    page = await moj.cell_cases(
                        db.engine,
                        db.ctx,
                        auditor,
                        cell=key,
                        units=scope,
                        month=month,
                        now=now,
                        after=None,
                        limit=2,
                    )
                    listed = [c.id for c in page.items]
                    while page.next_after is not None:
                        page = await moj.cell_cases(
                            db.engine,
                            db.ctx,
                            auditor,
                            cell=key,
                            units=scope,
                            month=month,
                            now=now,
                            after=page.next_after,
                            limit=2,
                        )
                        listed += [c.id for c in page.items]
                    assert listed == expected.case_ids, key
                    compared += 1
    assert compared == 4 * 2 * sum(1 for r in ROWS if r.basis is not None)
    # The scenario is not empty where it matters: the rows it was built for have figures.
    march = await moj.compute(db.engine, db.ctx, units=None, month="2026-03", now=now, case_ids=False)
    values = {c.key: c.value for c in march.cells}
    assert values[cell_key("accepted", Column.month)] == 4
    assert values[cell_key("agreed_amount", Column.month)] == "3300.00"
    april = await moj.compute(db.engine, db.ctx, units=None, month="2026-04", now=now, case_ids=False)
    values = {c.key: c.value for c in april.cells}
    assert values[cell_key("settled", Column.month)] == 2
    assert values[cell_key("agreed_amount", Column.month)] == "1333.00"
    assert values[cell_key("accepted", Column.ytd)] == 6
