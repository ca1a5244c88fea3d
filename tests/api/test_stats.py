"""Statistics over HTTP: exact counts, Shanghai month buckets, scope, the monthly report files."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from openpyxl import load_workbook

from service.clock import SHANGHAI
from tests.api.test_referrals import delegated_by_court
from tests.builders import (
    CITY,
    CONFIRMABLE_AGREEMENT,
    DASHI,
    WULIAN,
    YUSHAN,
    ZHANGPU,
    ZHOUXIANG,
    application,
    move,
    open_case,
)
from tests.conftest import FIXED_NOW, Backend, FrozenClock
from workflows.vocab import DisputeType

Headers = dict[str, str]


async def settled(
    client: httpx.AsyncClient, h: Headers, form: str = "written", **body: Any
) -> dict[str, Any]:
    case = await move(client, h, await open_case(client, h, **body), "accept")
    return await move(client, h, case, "settle", agreement={"form": form, "terms": "赔偿维修费"})


async def terminated(client: httpx.AsyncClient, h: Headers, reason: str, **body: Any) -> dict[str, Any]:
    case = await move(client, h, await open_case(client, h, **body), "accept")
    return await move(client, h, case, "terminate", termination_reason=reason)


async def stats(client: httpx.AsyncClient, h: Headers, path: str, **params: str) -> Any:
    response = await client.get(f"/api/v1/stats/{path}", params=params, headers=h)
    assert response.status_code == 200, response.text
    return response.json()


async def a_month_of_cases(client: httpx.AsyncClient, auth: Any, clock: FrozenClock) -> dict[str, Any]:
    """March 2026 at 大市 (张浦) and the city centre; one case two days later closed."""
    station, city = await auth("dashi.mediator"), await auth("city.coordinator")
    cases = {
        "written": await settled(client, station, amount_yuan=3000, people_involved=2),
        "oral": await settled(client, station, "oral", amount_yuan=1000.5, people_involved=4),
        "terminated": await terminated(
            client, station, "gap_too_wide", dispute_type="CONTRACT", amount_yuan=500, source="self_initiated"
        ),
        "pending": await open_case(client, station, amount_yuan=None, people_involved=1),
        "criminal": await settled(
            client, city, flags=["criminal_risk"], amount_yuan=2000, people_involved=3, source="police"
        ),
        "group": await settled(
            client, city, "oral", flags=["group_dispute"], amount_yuan=10000, people_involved=40
        ),
    }
    clock.set(FIXED_NOW + timedelta(days=2))
    cases["terminated"] = await move(client, station, cases["terminated"], "close", outcome="other_route")
    return cases


async def test_overview_counts_each_figure_as_defined(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await a_month_of_cases(client, auth, frozen_clock)
    # Ten days on, the pending case's acceptance clock (due 6 March) has run out.
    frozen_clock.set(FIXED_NOW + timedelta(days=10))

    body = await stats(
        client, await auth("city.coordinator"), "overview", **{"from": "2026-03", "to": "2026-03"}
    )

    assert body["period"] == {"from": "2026-03", "to": "2026-03", "months": ["2026-03"]}
    assert {
        k: body[k] for k in ("registered", "settled", "terminated", "concluded", "overdue", "closed")
    } == {
        "registered": 6,
        "settled": 4,
        "terminated": 1,
        "concluded": 5,
        "overdue": 1,
        "closed": 1,
    }
    assert (body["success_rate"], body["overdue_rate"]) == (0.8, 0.1667)
    assert body["avg_days_to_close"] == 2.0
    assert (body["amount_yuan"], body["people_involved"]) == (16500.5, 52)
    assert body["criminal_prevented"] == {"cases": 1, "people": 3}
    assert body["group_petition_prevented"] == {"cases": 1, "people": 40}


async def test_an_abandoned_agreement_is_not_a_success(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    case = await settled(client, station)
    await move(client, station, case, "close", outcome="litigated")

    body = await stats(client, station, "overview")

    assert (body["registered"], body["settled"], body["terminated"], body["closed"]) == (1, 0, 0, 1)
    assert body["success_rate"] is None  # nothing concluded by mediation: no 0/0


async def test_months_are_bucketed_in_shanghai_time(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    for at in (
        datetime(2026, 1, 15, 4, 0, tzinfo=UTC),
        datetime(2026, 2, 28, 15, 59, tzinfo=UTC),  # 23:59 on 28 February in Kunshan
        datetime(2026, 2, 28, 16, 0, tzinfo=UTC),  # midnight: 1 March
        datetime(2026, 2, 28, 17, 0, tzinfo=UTC),
    ):
        frozen_clock.set(at)
        last = await open_case(client, station)
    frozen_clock.set(datetime(2026, 3, 31, 16, 30, tzinfo=UTC))  # already 1 April in Kunshan
    await move(client, station, last, "withdraw", reason="当事人自行和解")
    frozen_clock.set(FIXED_NOW)

    body = await stats(client, station, "monthly", **{"from": "2026-01", "to": "2026-04"})
    default = await stats(client, station, "monthly")

    months = {m["month"]: (m["registered"], m["closed"]) for m in body["months"]}
    assert months == {"2026-01": (1, 0), "2026-02": (1, 0), "2026-03": (2, 0), "2026-04": (0, 1)}
    assert default["period"]["from"] == "2025-04" and default["period"]["to"] == "2026-03"
    assert len(default["months"]) == 12 and default["months"][-1]["registered"] == 2


async def test_by_type_lists_all_twenty_types_in_order_with_zeros(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await a_month_of_cases(client, auth, frozen_clock)

    rows = (await stats(client, await auth("auditor"), "by-type"))["rows"]

    assert [r["code"] for r in rows] == [t.value for t in DisputeType]
    by_code = {r["code"]: r for r in rows}
    assert (by_code["NEIGHBOUR"]["label"], by_code["NEIGHBOUR"]["registered"]) == ("邻里", 5)
    assert (by_code["CONTRACT"]["terminated"], by_code["CONTRACT"]["success_rate"]) == (1, 0.0)
    assert by_code["MEDICAL"] == {
        "code": "MEDICAL",
        "label": "医疗",
        "registered": 0,
        "settled": 0,
        "terminated": 0,
        "concluded": 0,
        "success_rate": None,
        "overdue": 0,
        "overdue_rate": None,
    }


async def test_by_tier_and_by_source(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await a_month_of_cases(client, auth, frozen_clock)
    admin = await auth("admin")

    tiers = {
        r["tier"]: (r["label"], r["registered"]) for r in (await stats(client, admin, "by-tier"))["rows"]
    }
    sources = {
        r["source"]: (r["label"], r["registered"]) for r in (await stats(client, admin, "by-source"))["rows"]
    }

    assert tiers == {"village": ("村(社区)级", 4), "town": ("镇级", 0), "city": ("市级", 2)}
    assert sources["application"] == ("依申请", 4)
    assert sources["self_initiated"] == ("主动排查", 1)
    assert sources["police"] == ("公安移送", 1)
    assert list(sources) == [
        "self_initiated",
        "application",
        "court",
        "procuratorate",
        "police",
        "petition_office",
        "other_department",
    ]


async def test_towns_fold_their_villages_and_scope_narrows_the_rows(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await settled(client, await auth("dashi.mediator"))
    await open_case(client, await auth("zhouxiang.mediator"), location_code=ZHOUXIANG)
    await open_case(client, await auth("wulian.mediator"), location_code=WULIAN)
    await open_case(client, await auth("city.coordinator"), flags=["criminal_risk"])
    city, town = await auth("city.coordinator"), await auth("zhangpu.coordinator")

    everything = (await stats(client, city, "by-town"))["rows"]
    own_town = (await stats(client, town, "by-town"))["rows"]
    one_town = (await stats(client, city, "by-town", unit=YUSHAN))["rows"]

    assert len(everything) == 10  # nine towns, then the city's own row
    rows = {r["code"]: (r["name"], r["registered"], r["settled"]) for r in everything}
    assert rows[ZHANGPU] == ("张浦镇", 2, 1)
    assert rows[YUSHAN] == ("玉山镇", 1, 0)
    assert rows[CITY] == ("市级及部门", 1, 0)
    assert sum(r["registered"] for r in everything) == 4
    assert [(r["code"], r["registered"], r["success_rate"]) for r in own_town] == [(ZHANGPU, 2, 1.0)]
    assert [(r["code"], r["registered"]) for r in one_town] == [(YUSHAN, 1)]


async def test_each_role_counts_only_its_scope(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await a_month_of_cases(client, auth, frozen_clock)
    await open_case(client, await auth("wulian.mediator"), location_code=WULIAN)

    async def registered(user: str, **params: str) -> int:
        return int((await stats(client, await auth(user), "overview", **params))["registered"])

    assert await registered("city.coordinator") == 7
    assert await registered("auditor") == 7
    assert await registered("zhangpu.coordinator") == 4
    assert await registered("dashi.mediator") == 4
    assert await registered("zhouxiang.mediator") == 0
    assert await registered("yushan.coordinator") == 1
    assert await registered("city.coordinator", unit=ZHANGPU) == 4
    assert await registered("zhangpu.coordinator", unit=DASHI) == 4
    assert await registered("zhangpu.coordinator", unit=ZHOUXIANG) == 0


async def test_the_court_desk_and_out_of_scope_units_are_refused(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    clerk = await client.get("/api/v1/stats/overview", headers=await auth("court.clerk"))
    other_town = await client.get(
        "/api/v1/stats/by-town", params={"unit": YUSHAN}, headers=await auth("zhangpu.coordinator")
    )
    own_town = await client.get(
        "/api/v1/stats/overview", params={"unit": ZHANGPU}, headers=await auth("dashi.mediator")
    )
    report = await client.get(
        "/api/v1/stats/report", params={"month": "2026-03"}, headers=await auth("court.clerk")
    )
    anonymous = await client.get("/api/v1/stats/overview")

    assert clerk.status_code == 403
    assert clerk.headers["content-type"] == "application/problem+json"
    assert "court" in clerk.json()["detail"]
    assert (other_town.status_code, own_town.status_code, report.status_code) == (404, 404, 403)
    assert anonymous.status_code == 401


async def test_invalid_months_and_periods_name_the_field(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    h = await auth("city.coordinator")
    cases = {
        ("overview", "from", "2026-13"): "query.from",
        ("monthly", "to", "March"): "query.to",
        ("by-type", "unit", "NO-SUCH-UNIT"): "query.unit",
        ("report", "month", "2026-3"): "query.month",
    }
    for (path, name, value), field in cases.items():
        params = {name: value, **({"month": "2026-03"} if path == "report" and name != "month" else {})}
        response = await client.get(f"/api/v1/stats/{path}", params=params, headers=h)
        assert response.status_code == 422, (path, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field]

    backwards = await client.get(
        "/api/v1/stats/monthly", params={"from": "2026-03", "to": "2026-01"}, headers=h
    )
    too_long = await client.get(
        "/api/v1/stats/monthly", params={"from": "2023-01", "to": "2026-01"}, headers=h
    )
    three_years = await client.get(
        "/api/v1/stats/monthly", params={"from": "2023-02", "to": "2026-01"}, headers=h
    )
    bad_format = await client.get(
        "/api/v1/stats/report", params={"month": "2026-03", "format": "pdf"}, headers=h
    )

    assert (backwards.status_code, too_long.status_code, three_years.status_code) == (422, 422, 200)
    assert backwards.json()["errors"][0]["field"] == "query.from"
    assert bad_format.status_code == 422


async def report_cases(client: httpx.AsyncClient, auth: Any, clock: FrozenClock) -> None:
    station = await auth("dashi.mediator")
    await settled(client, station, amount_yuan=3000, people_involved=2)
    await settled(client, station, "oral", amount_yuan=1000.5, people_involved=4, source="self_initiated")
    await terminated(client, station, "gap_too_wide", dispute_type="CONTRACT", amount_yuan=500)
    await open_case(client, await auth("wulian.mediator"), location_code=WULIAN, source="petition_office")
    clock.set(datetime(2026, 4, 1, 1, 0, tzinfo=UTC))  # April: not in March's report
    await open_case(client, station)


async def test_the_monthly_report_has_a_row_per_town_and_type_and_a_total(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await report_cases(client, auth, frozen_clock)

    report = await stats(client, await auth("city.coordinator"), "report", month="2026-03")

    keys = [(r["town_code"], r["dispute_type"]) for r in report["rows"]]
    assert keys == [(YUSHAN, "NEIGHBOUR"), (ZHANGPU, "NEIGHBOUR"), (ZHANGPU, "CONTRACT")]
    zhangpu = report["rows"][1]
    assert (zhangpu["town_name"], zhangpu["dispute_type_label"]) == ("张浦镇", "邻里")
    assert (zhangpu["registered"], zhangpu["settled"], zhangpu["success_rate"]) == (2, 2, 1.0)
    assert (zhangpu["agreement_written"], zhangpu["agreement_oral"]) == (1, 1)
    assert (zhangpu["source_application"], zhangpu["source_self_initiated"]) == (1, 1)
    assert (zhangpu["amount_yuan"], zhangpu["people_involved"]) == (4000.5, 6)
    contract = report["rows"][2]
    assert (contract["terminated"], contract["terminated_gap_too_wide"], contract["success_rate"]) == (
        1,
        1,
        0.0,
    )
    total = report["total"]
    assert (total["town_name"], total["registered"], total["settled"], total["terminated"]) == (
        "合计",
        4,
        2,
        1,
    )
    assert (total["success_rate"], total["amount_yuan"], total["source_petition_office"]) == (
        0.6667,
        7500.5,
        1,
    )
    headings = [c["heading"] for c in report["columns"]]
    assert {
        "登记数",
        "调解成功数",
        "调解成功率",
        "终止:分歧过大",
        "口头协议",
        "书面协议",
        "涉及金额(元)",
    } <= set(headings)
    assert {
        "有民转刑风险且调解成功(件)",
        "有民转刑风险且调解成功(人)",
        "群体性纠纷且调解成功(件)",
        "逾期数",
        "来源:法院移送",
    } <= set(headings)
    # The old names are gone: this report is not the MoJ report, and says so.
    assert not {"受理数", "防止民转刑(件)", "防止群体性上访(件)"} & set(headings)
    assert report["title"] == "案件登记月报（按登记月份统计，反映案件当前状态）"
    definitions = {c["heading"]: c["definition"] for c in report["columns"]}
    assert all(definitions.values())
    assert "含未受理" in definitions["登记数"] and "不是协议金额" in definitions["涉及金额(元)"]


async def test_the_report_downloads_as_csv_excel_reads(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await report_cases(client, auth, frozen_clock)

    response = await client.get(
        "/api/v1/stats/report",
        params={"month": "2026-03", "format": "csv"},
        headers=await auth("zhangpu.coordinator"),
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="jiefen-report-2026-03.csv"'
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    # The report's table, then (for a coordinator, once cases have mediators) a blank line and
    # the 按调解员 section (tests/api/test_caseload.py reads that).
    rows = lines[: lines.index([])] if [] in lines else lines
    header = rows[0]
    assert header[:7] == [
        "单位代码",
        "单位",
        "纠纷类型代码",
        "纠纷类型",
        "登记数",
        "调解成功数",
        "调解成功率",
    ]
    assert [r[:4] for r in rows[1:-1]] == [
        [ZHANGPU, "张浦镇", "NEIGHBOUR", "邻里"],
        [ZHANGPU, "张浦镇", "CONTRACT", "合同"],
    ]
    total = dict(zip(header, rows[-1], strict=True))
    assert (total["单位"], total["登记数"], total["调解成功数"], total["调解成功率"]) == (
        "合计",
        "3",
        "2",
        "66.67%",
    )
    assert (total["涉及金额(元)"], total["终止:分歧过大"]) == ("4500.5", "1")
    # Below the table: the title, the line naming the MoJ report, then every column's definition.
    notes = lines[len(rows) + 1 :]
    assert notes[0] == ["案件登记月报（按登记月份统计，反映案件当前状态）"]
    assert "/stats/moj" in notes[1][0] and notes[2] == ["注：各列定义"]
    defined = dict((r[0], r[1]) for r in notes[3 : 3 + len(header)])
    assert list(defined) == header
    assert defined["登记数"].startswith("本月登记的全部案件")


async def test_the_report_downloads_as_a_workbook(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await report_cases(client, auth, frozen_clock)

    response = await client.get(
        "/api/v1/stats/report",
        params={"month": "2026-03", "format": "xlsx", "unit": ZHANGPU},
        headers=await auth("city.coordinator"),
    )

    assert response.status_code == 200
    assert response.headers["content-disposition"].endswith('filename="jiefen-report-2026-03-320583106.xlsx"')
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [c.value for c in sheet[1]]
    assert header[4:7] == ["登记数", "调解成功数", "调解成功率"]
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[5]] == [None] * len(header)  # header, two rows, total, a blank
    assert sheet["A6"].value.startswith("案件登记月报") and "/stats/moj" in sheet["A7"].value
    assert sheet["A8"].value == "注：各列定义"
    assert [(sheet.cell(8 + i, 1).value, bool(sheet.cell(8 + i, 2).value)) for i in range(1, 3)] == [
        ("单位代码", True),
        ("单位", True),
    ]
    assert sheet.max_row == 8 + len(header)
    first = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    assert (first["单位"], first["纠纷类型"], first["登记数"], first["调解成功率"]) == (
        "张浦镇",
        "邻里",
        2,
        1.0,
    )
    total = {h: c for h, c in zip(header, sheet[4], strict=True)}
    assert (total["单位"].value, total["登记数"].value, total["涉及金额(元)"].value) == ("合计", 3, 4500.5)
    assert total["调解成功率"].number_format == "0.00%"
    assert total["单位"].font.bold
    assert sheet.column_dimensions["B"].width >= 8


async def test_an_empty_month_reports_a_zero_total(client: httpx.AsyncClient, auth: Any, db: Backend) -> None:
    report = await stats(client, await auth("dashi.mediator"), "report", month="2025-07")

    assert report["rows"] == []
    assert (report["total"]["registered"], report["total"]["success_rate"]) == (0, None)


async def test_a_refused_or_rejected_confirmation_is_not_a_failure(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    today = FIXED_NOW.astimezone(SHANGHAI).date().isoformat()
    endings = [("refuse_confirmation", False), ("reject_confirmation", True), ("withdraw_confirmation", True)]
    for ending, accept_first in endings:
        case = await move(client, station, await open_case(client, station), "accept")
        case = await move(client, station, case, "settle", agreement=CONFIRMABLE_AGREEMENT)
        case = await move(client, station, case, "request_confirmation", **application(today))
        case = (await client.get(f"/api/v1/cases/{case['id']}", headers=clerk)).json()
        if accept_first:
            case = await move(client, clerk, case, "accept_confirmation")
        await move(
            client, station if ending == "withdraw_confirmation" else clerk, case, ending, reason="理由"
        )

    body = await stats(client, station, "overview")

    assert (body["registered"], body["settled"], body["terminated"], body["success_rate"]) == (3, 3, 0, 1.0)


async def test_a_court_delegated_settlement_counts_at_the_court_until_and_after_it_closes(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk, city = (
        await auth("dashi.mediator"),
        await auth("court.clerk"),
        await auth("city.coordinator"),
    )
    # Failed at the station, referred, delegated back after filing, settled: back at the court.
    closing = {"mediation_statement": True, "withdrawn": True, "other_court": True, "litigated": False}
    for outcome in [*closing, None]:
        case = await delegated_by_court(client, station, clerk, "(2026)苏0583民初9号", "ordinary")
        case = await move(client, station, case, "accept")
        case = await move(client, station, case, "settle", agreement=CONFIRMABLE_AGREEMENT)
        if outcome is not None:
            case = await move(client, clerk, case, "claim")
            await move(client, clerk, case, "close", outcome=outcome)

    body = await stats(client, city, "overview")

    # Waiting at the court, or closed by 调解书 / 撤诉 / otherwise: the agreement stands (4). Tried
    # by the court after all (litigated): neither a success nor a termination.
    assert (body["registered"], body["settled"], body["terminated"], body["closed"]) == (5, 4, 0, 4)
