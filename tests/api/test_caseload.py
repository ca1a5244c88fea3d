"""A unit's caseload and the statistics by mediator over HTTP (issue 18, parts 3 and 6): exact
figures against the data built, the month's report with its by-mediator section, and who may ask."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from openpyxl import load_workbook

from service.mediators.models import CaseMediator
from tests.builders import (
    DASHI,
    WULIAN,
    ZHANGPU,
    add_colleague,
    add_mediator,
    assign_mediator,
    move,
    open_case,
)
from tests.conftest import FIXED_NOW, Backend, FrozenClock

Headers = dict[str, str]
assignments = CaseMediator.__table__  # type: ignore[attr-defined]
NO_OUTCOMES = dict.fromkeys(
    [
        "performed",
        "confirmed",
        "withdrawn",
        "litigated",
        "other_route",
        "rejected",
        "mediation_statement",
        "other_court",
    ],
    0,
)
NOW = FIXED_NOW + timedelta(days=18)  # Friday 20 March 2026, 10:00 in Kunshan


async def set_assignment(engine: Any, assignment_id: int, **values: Any) -> None:
    """Move an assignment in time, or end it (what the assignment service writes)."""
    async with engine.begin() as conn:
        await conn.execute(sa.update(assignments).where(assignments.c.id == assignment_id).values(**values))


async def close(
    client: httpx.AsyncClient, h: Headers, db: Backend, case: dict[str, Any], outcome: str = "other_route"
) -> None:
    """Close a terminated case now; the closing itself ends its current assignments (end ``closed``
    at the case's closing time)."""
    current = assignments.c.case_id == case["id"], assignments.c.ended_at.is_(None)
    async with db.engine.connect() as conn:
        ids = set((await conn.execute(sa.select(assignments.c.id).where(*current))).scalars())
    closed = await move(client, h, case, "close", outcome=outcome)
    async with db.engine.connect() as conn:
        ends = (
            await conn.execute(
                sa.select(assignments.c.end, assignments.c.ended_at).where(assignments.c.id.in_(ids))
            )
        ).all()
    closed_at = datetime.fromisoformat(closed["closed_at"])
    assert ids and [tuple(e) for e in ends] == [("closed", closed_at)] * len(ids), (ends, closed_at)


async def current_assignments(db: Backend) -> set[tuple[int, int, str]]:
    """(case, mediator, role) of every current assignment."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(assignments.c.case_id, assignments.c.mediator_id, assignments.c.role).where(
                assignments.c.ended_at.is_(None)
            )
        )
        return {(int(c), int(m), str(r)) for c, m, r in rows}


async def march_of_two_mediators(
    client: httpx.AsyncClient, auth: Any, db: Backend, clock: FrozenClock
) -> dict[str, Any]:
    """March 2026 at 大市社区. 王芳 leads S1 (settled, open), S2 (with 陈军 as co; terminated and
    closed two days after registration), S3 (closed after five days) and S4 (never accepted), and
    co-mediates S5 (closed after eleven days). 陈军 is put on S4 only in April.

    Accepting makes the acceptor's roster record the lead: 王芳 (dashi.mediator) leads S1, S2 and
    S3 by accepting them. S5 is accepted by a colleague at the station whose sign-in has no roster
    record, so it has no lead and 王芳 joins it as co-mediator."""
    station = await auth("dashi.mediator")
    colleague = await auth(await add_colleague(db.engine, "dashi.mediator", "dashi.colleague"))
    wang = await add_mediator(db.engine, "王芳", [DASHI], username="dashi.mediator")
    chen = await add_mediator(db.engine, "陈军", [DASHI], username="zhouxiang.mediator")
    s1 = await move(client, station, await open_case(client, station), "accept")
    s1 = await move(client, station, s1, "settle", agreement={"form": "written", "terms": "赔偿维修费"})
    ended = {}
    for name, accepting in (("s2", station), ("s3", station), ("s5", colleague)):
        case = await move(client, accepting, await open_case(client, station), "accept")
        ended[name] = await move(client, station, case, "terminate", termination_reason="gap_too_wide")
    s4 = await open_case(client, station)
    await assign_mediator(db.engine, ended["s2"]["id"], chen, role="co")
    await assign_mediator(db.engine, s4["id"], wang)
    await assign_mediator(db.engine, ended["s5"]["id"], wang, role="co")
    s4chen = await assign_mediator(db.engine, s4["id"], chen, role="co")
    await set_assignment(db.engine, s4chen, assigned_at=datetime(2026, 4, 5, 2, 0, tzinfo=UTC))
    assert await current_assignments(db) == {
        (s1["id"], wang, "lead"),
        (ended["s2"]["id"], wang, "lead"),
        (ended["s2"]["id"], chen, "co"),
        (ended["s3"]["id"], wang, "lead"),
        (s4["id"], wang, "lead"),
        (s4["id"], chen, "co"),
        (ended["s5"]["id"], wang, "co"),
    }
    for name, days, outcome in (("s2", 2, "other_route"), ("s3", 5, "litigated"), ("s5", 11, "other_route")):
        clock.set(FIXED_NOW + timedelta(days=days))
        await close(client, station, db, ended[name], outcome)
    clock.set(NOW)
    return {"wang": wang, "chen": chen, "s1": s1, "s4": s4, **ended}


async def get(client: httpx.AsyncClient, h: Headers, path: str, **params: str) -> Any:
    response = await client.get(path, params=params, headers=h)
    assert response.status_code == 200, response.text
    return response.json()


def row_of(rows: list[dict[str, Any]], mediator_id: int) -> dict[str, Any]:
    return next(r for r in rows if r["mediator_id"] == mediator_id)


async def test_caseload_counts_each_mediators_open_cases_overdue_deadlines_and_closings(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    m = await march_of_two_mediators(client, auth, db, frozen_clock)

    body = await get(client, await auth("zhangpu.coordinator"), "/api/v1/mediators/caseload", unit=ZHANGPU)

    assert (body["unit_code"], body["unit_name"], body["month"]) == (ZHANGPU, "张浦镇", "2026-03")
    figures = ("open_lead", "open_co", "overdue_deadlines", "closed_this_month")
    wang, chen = row_of(body["rows"], m["wang"]), row_of(body["rows"], m["chen"])
    # 王芳 leads S1 and S4 now; S4's acceptance clock ran out on 5 March; S2, S3, S5 closed in March.
    assert {k: wang[k] for k in figures} == {
        "open_lead": 2,
        "open_co": 0,
        "overdue_deadlines": 1,
        "closed_this_month": 3,
    }
    # 陈军 is on S4 (its April assignment is current now) and was on S2 when it closed.
    assert {k: chen[k] for k in figures} == {
        "open_lead": 0,
        "open_co": 1,
        "overdue_deadlines": 1,
        "closed_this_month": 1,
    }
    assert (wang["name"], wang["unit_codes"], wang["employment"], wang["has_sign_in"]) == (
        "王芳",
        [DASHI],
        "full_time",
        True,
    )
    # The busiest first; the demo roster's other mediators of the town, with nothing, after them.
    assert body["rows"][0]["mediator_id"] == m["wang"]
    assert all(r["open_lead"] + r["open_co"] == 0 for r in body["rows"] if r["mediator_id"] not in m.values())
    # The month's statistics by mediator come with it.
    assert {r["mediator_id"] for r in body["stats"]} == {m["wang"], m["chen"]}


async def test_a_case_that_left_the_station_counts_as_closed_only_for_the_mediator_who_closed_it(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    """王芳 leads a case by accepting it at 大市社区; escalated to 张浦镇, her assignment ends
    (end ``closed``: the case left the unit) and the town's 李明 takes it to its close. Both rows
    ended ``closed``; only 李明 was assigned when it closed."""
    station, town = await auth("dashi.mediator"), await auth("zhangpu.coordinator")
    wang = await add_mediator(db.engine, "王芳", [DASHI], username="dashi.mediator")
    li = await add_mediator(db.engine, "李明", [ZHANGPU])
    case = await move(client, station, await open_case(client, station), "accept")
    frozen_clock.set(FIXED_NOW + timedelta(days=1))
    case = await move(client, station, case, "escalate", reason="涉及多户村民，需要镇里协调")
    await assign_mediator(db.engine, case["id"], li, unit_code=ZHANGPU)
    case = await move(client, town, case, "accept")
    case = await move(client, town, case, "terminate", termination_reason="gap_too_wide")
    frozen_clock.set(FIXED_NOW + timedelta(days=2))
    await close(client, town, db, case)
    frozen_clock.set(NOW)

    body = await get(client, town, "/api/v1/mediators/caseload", unit=ZHANGPU)
    assert (
        row_of(body["rows"], wang)["closed_this_month"],
        row_of(body["rows"], li)["closed_this_month"],
    ) == (
        0,
        1,
    )


async def test_statistics_by_mediator_are_exact(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    m = await march_of_two_mediators(client, auth, db, frozen_clock)
    city = await auth("city.coordinator")

    march = await get(client, city, "/api/v1/stats/by-mediator", **{"from": "2026-03", "to": "2026-03"})

    assert march["period"]["months"] == ["2026-03"]
    assert [r["name"] for r in march["rows"]] == ["王芳", "陈军"]  # by name; 陈军's April case not yet
    assert row_of(march["rows"], m["wang"]) == {
        "mediator_id": m["wang"],
        "name": "王芳",
        "unit_codes": [DASHI],
        "handled": 5,
        "lead": 4,
        "settled": 1,
        "terminated": 3,
        "other": 1,
        "success_rate": 0.25,
        "closed": 3,
        "closed_by_outcome": {**NO_OUTCOMES, "other_route": 2, "litigated": 1},
        "median_days_to_close": 5.0,  # 2, 5 and 11 days
        "mean_days_to_close": 6.0,
        "overdue": 1,
    }
    assert row_of(march["rows"], m["chen"]) == {
        "mediator_id": m["chen"],
        "name": "陈军",
        "unit_codes": [DASHI],
        "handled": 1,
        "lead": 0,
        "settled": 0,
        "terminated": 1,
        "other": 0,
        "success_rate": 0.0,
        "closed": 1,
        "closed_by_outcome": {**NO_OUTCOMES, "other_route": 1},
        "median_days_to_close": 2.0,
        "mean_days_to_close": 2.0,
        "overdue": 0,
    }

    # April: the closed cases' assignments ended in March; S1 and S4 are still 王芳's, S4 also 陈军's.
    april = await get(client, city, "/api/v1/stats/by-mediator", **{"from": "2026-04", "to": "2026-04"})
    assert [
        (r["name"], r["handled"], r["lead"], r["closed"], r["median_days_to_close"]) for r in april["rows"]
    ] == [
        ("王芳", 2, 2, 0, None),
        ("陈军", 1, 0, 0, None),
    ]

    # The other town's coordinator sees none of 张浦's mediators.
    yushan = await get(client, await auth("yushan.coordinator"), "/api/v1/stats/by-mediator", month="2026-03")
    assert yushan["rows"] == []


async def test_the_monthly_report_has_a_section_by_mediator(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    m = await march_of_two_mediators(client, auth, db, frozen_clock)
    coordinator = await auth("zhangpu.coordinator")

    report = await get(client, coordinator, "/api/v1/stats/report", month="2026-03")
    assert [(r["mediator_id"], r["name"], r["handled"], r["closed"]) for r in report["mediators"]] == [
        (m["wang"], "王芳", 5, 3),
        (m["chen"], "陈军", 1, 1),
    ]
    # A mediator reads the unit's report, not colleagues' figures one by one.
    station = await get(client, await auth("dashi.mediator"), "/api/v1/stats/report", month="2026-03")
    assert station["mediators"] == []
    assert station["total"]["registered"] == report["total"]["registered"] == 5

    response = await client.get(
        "/api/v1/stats/report", params={"month": "2026-03", "format": "csv"}, headers=coordinator
    )
    assert response.status_code == 200
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    at = lines.index(["按调解员统计"])
    assert lines[at - 1] == []
    assert lines[at + 1][:3] == ["调解员", "所属单位代码", "承办案件数"]
    headings = lines[at + 1]
    wang = dict(zip(headings, lines[at + 2], strict=True))
    assert wang == {
        **{h: "0" for h in headings if h.startswith("结案:")},
        "调解员": "王芳",
        "所属单位代码": DASHI,
        "承办案件数": "5",
        "其中主办": "4",
        "调解成功数": "1",
        "终止数": "3",
        "其他(办理中或另行处理)": "1",
        "调解成功率": "25.00%",
        "结案数": "3",
        "结案:引导其他途径": "2",
        "结案:转入诉讼": "1",
        "结案天数中位数": "5.0",
        "平均结案天数": "6.0",
        "逾期数": "1",
    }
    assert lines[at + 3][:3] == ["陈军", DASHI, "1"]

    response = await client.get(
        "/api/v1/stats/report", params={"month": "2026-03", "format": "xlsx"}, headers=coordinator
    )
    sheet = load_workbook(io.BytesIO(response.content))["按调解员统计"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "调解员"
    assert rows[1][:4] == ("王芳", DASHI, 5, 4)
    cells = dict(zip(rows[0], rows[1], strict=True))
    assert (cells["调解成功率"], cells["结案天数中位数"], cells["结案:转入诉讼"]) == (0.25, 5.0, 1)
    assert len(rows) == 3


async def test_who_may_read_the_caseload_and_the_figures_by_mediator(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await march_of_two_mediators(client, auth, db, frozen_clock)
    mediator = await auth("dashi.mediator")

    for path in ("/api/v1/mediators/caseload", "/api/v1/stats/by-mediator"):
        refused = await client.get(path, params={"unit": DASHI}, headers=mediator)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        # Another town's unit: still "not for your role", never a hint about scope.
        assert (await client.get(path, params={"unit": WULIAN}, headers=mediator)).status_code == 403
        police = await client.get(path, headers=await auth("zhangpu.police"))
        assert police.status_code == 403

    yushan = await auth("yushan.coordinator")
    outside = await client.get("/api/v1/mediators/caseload", params={"unit": DASHI}, headers=yushan)
    assert outside.status_code == 404
    unknown = await client.get("/api/v1/mediators/caseload", params={"unit": "nowhere"}, headers=yushan)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "query.unit"
    bad_month = await client.get("/api/v1/stats/by-mediator", params={"from": "2026-13"}, headers=yushan)
    assert bad_month.status_code == 422
    assert bad_month.json()["errors"][0]["field"] == "query.from"
    # A coordinator's own unit by default; the city's coordinator and the auditor see any unit.
    own = await get(client, yushan, "/api/v1/mediators/caseload")
    assert own["unit_code"] == "320583100"
    for who in ("city.coordinator", "auditor", "admin"):
        body = await get(client, await auth(who), "/api/v1/mediators/caseload", unit=DASHI)
        assert body["unit_code"] == DASHI
        assert any(r["name"] == "王芳" for r in body["rows"])


async def test_the_caseload_page_shows_each_mediator_and_refuses_a_mediator(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    from tests.api.test_my_work import page

    m = await march_of_two_mediators(client, auth, db, frozen_clock)

    zh = await page(db, client, "zhangpu.coordinator", f"/mediators/caseload?unit={DASHI}")
    en = await page(db, client, "zhangpu.coordinator", "/mediators/caseload", lang="en")
    refused = await page(db, client, "dashi.mediator", "/mediators/caseload")

    assert zh.status_code == en.status_code == 200
    carried = zh.text.split('<table class="caseload">', 1)[1].split("</table>", 1)[0]
    wang = carried.split(f'data-mediator="{m["wang"]}"', 1)[1].split("</tr>", 1)[0]
    assert [c for c in (cell.split(">", 1)[1].split("<", 1)[0] for cell in wang.split("<td")[2:])] == [
        "2",
        "0",
        "",  # the overdue count is a red badge: <span class="due overdue">1</span>
        "3",
    ]
    assert '<span class="due overdue">1</span>' in wang
    stats = zh.text.split('<table class="by-mediator">', 1)[1].split("</table>", 1)[0]
    assert "<td>王芳</td><td>5</td><td>4</td><td>1</td><td>3</td><td>3</td>" in stats
    assert "2026年3月按调解员统计" in zh.text and "2026年3月结案" in zh.text
    assert "By mediator, Mar 2026" in en.text and "Median days to close" in en.text
    assert "大市社区 · 专职" in wang
    assert refused.status_code == 403


async def test_the_dashboard_leads_a_coordinator_to_the_caseload(
    client: httpx.AsyncClient, db: Backend
) -> None:
    from tests.api.test_my_work import page

    coordinator = await page(db, client, "zhangpu.coordinator", "/dashboard")
    auditor = await page(db, client, "auditor", f"/dashboard?unit={ZHANGPU}")

    assert 'href="/mediators/caseload"' in coordinator.text
    assert "月报文件含按调解员统计" in coordinator.text
    assert f'href="/mediators/caseload?unit={ZHANGPU}"' in auditor.text
