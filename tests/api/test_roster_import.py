"""Importing a roster spreadsheet: all or nothing, every bad row named by line, column and rule,
a dry run that writes nothing, re-imports that update instead of duplicating, and clear refusals of
files that are not a roster."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from tests.builders import DASHI, WULIAN, ZHOUXIANG
from tests.conftest import Backend

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

HEADER = "姓名,单位,专兼职,擅长,语言,资格,等级,特邀编号,特邀起,特邀止,身份证号,电话,登录名"
GOOD_ROWS = [
    f"孙丽,{DASHI},专职,邻里;婚姻家庭,普通话;昆山话,法律职业资格,一级,TY-001,2026-01-01,2027-12-31,320583198001011238,13812345678,",
    f"周强,{DASHI};{ZHOUXIANG},兼职,合同,普通话,,,,,,,,",
]


def csv_file(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    content: bytes,
    *,
    name: str = "roster.csv",
    kind: str = "text/csv",
    dry_run: bool = False,
) -> httpx.Response:
    return await client.post(
        "/api/v1/mediators/import",
        params={"dry_run": "true"} if dry_run else None,
        files={"file": (name, content, kind)},
        headers=headers,
    )


async def roster_count(db: Backend) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM mediator"))).scalar_one())


async def test_a_file_with_bad_rows_writes_nothing_and_names_every_bad_line(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    before = await roster_count(db)
    content = csv_file(
        GOOD_ROWS[0],
        f"李四,{DASHI},临时工,邻里,,,,,,,,,",  # line 3: employment
        "王五,NOWHERE,专职,算命,,,,,,,,,",  # line 4: unit and specialty
        f"赵六,{WULIAN},专职,,,,,,2027-01-01,2026-01-01,320583198001011239,12,nobody.here",  # line 5
        GOOD_ROWS[1],
    )

    response = await upload(client, coordinator, content)

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/roster-rejected"
    found = {(e["line"], e["column"], e["rule"]) for e in problem["errors"]}
    assert found == {
        ("3", "专兼职", "bad_employment"),
        ("4", "单位", "unknown_unit"),
        ("4", "擅长", "bad_specialty"),
        ("5", "单位", "outside_scope"),
        ("5", "特邀止", "dates_order"),
        ("5", "身份证号", "bad_id_number"),
        ("5", "电话", "bad_phone"),
    }
    assert await roster_count(db) == before


async def test_database_rules_are_reported_with_the_others(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    content = csv_file(
        f"甲,{DASHI},专职,,,,,,,,,,nobody.here",  # line 2: no such sign-in
        f"乙,{DASHI},专职,,,,,,,,,,dashi.mediator",  # line 3: linked to the demo roster record
        f"丙,{DASHI},专职,,,,,,,,320583198001011238,,",
        f"丁,{DASHI},专职,,,,,,,,320583198001011238,,",  # line 5: the same person as line 4
    )

    response = await upload(client, coordinator, content)

    assert response.status_code == 422, response.text
    found = {(e["line"], e["rule"]) for e in response.json()["errors"]}
    assert found == {("2", "unknown_user"), ("3", "user_linked"), ("5", "duplicate")}


async def test_a_good_file_is_previewed_then_imported_then_reimported_as_updates(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    before = await roster_count(db)

    preview = await upload(client, coordinator, csv_file(*GOOD_ROWS), dry_run=True)
    assert preview.status_code == 200, preview.text
    assert preview.json()["dry_run"] is True
    assert [(r["line"], r["action"]) for r in preview.json()["rows"]] == [(2, "create"), (3, "create")]
    assert await roster_count(db) == before

    imported = await upload(client, coordinator, csv_file(*GOOD_ROWS))
    assert imported.status_code == 200, imported.text
    assert (imported.json()["created"], imported.json()["updated"]) == (2, 0)
    assert await roster_count(db) == before + 2
    listed = (await client.get("/api/v1/mediators", params={"q": "孙丽"}, headers=coordinator)).json()[
        "items"
    ]
    (sun,) = listed
    assert sun["specialties"] == ["NEIGHBOUR", "MARRIAGE_FAMILY"]
    assert (sun["court_roster_from"], sun["court_roster_until"]) == ("2026-01-01", "2027-12-31")
    assert sun["id_number"] == "320583********1238"

    # The same people again, one with a new grade: matched by id number, or by name and unit.
    again = await upload(
        client, coordinator, csv_file(GOOD_ROWS[0].replace(",一级,", ",特级,"), GOOD_ROWS[1])
    )
    assert again.status_code == 200, again.text
    assert (again.json()["created"], again.json()["updated"]) == (0, 2)
    assert await roster_count(db) == before + 2
    updated = (await client.get(f"/api/v1/mediators/{sun['id']}", headers=coordinator)).json()
    assert (updated["grade"], updated["version"]) == ("特级", 2)

    from service.audit.events import security_events as table

    async with db.engine.connect() as conn:
        payloads = (
            (
                await conn.execute(
                    sa.select(table.c.payload).where(table.c.kind == "roster_imported").order_by(table.c.id)
                )
            )
            .scalars()
            .all()
        )
    assert [(p["created"], p["updated"]) for p in payloads] == [(2, 0), (0, 2)]
    assert "孙丽" not in str(payloads) and "13812345678" not in str(payloads)


async def test_an_xlsx_roster_with_english_headers_is_imported(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["name", "unit", "employment", "specialties", "phone", "court_roster_from"])
    sheet.append(["钱七", DASHI, "专职", "物业", 13900002222, "2026/03/01"])
    sheet.append(["吴八", ZHOUXIANG, "part_time", "CONSUMER", None, None])
    buffer = io.BytesIO()
    book.save(buffer)

    response = await upload(
        client,
        coordinator,
        buffer.getvalue(),
        name="名册.xlsx",
        kind="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    (qian,) = (await client.get("/api/v1/mediators", params={"q": "钱七"}, headers=coordinator)).json()[
        "items"
    ]
    assert (qian["phone"], qian["specialties"], qian["court_roster_from"]) == (
        "139****2222",
        ["PROPERTY_MGMT"],
        "2026-03-01",
    )


async def test_files_that_are_not_a_roster_are_refused_clearly(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")

    pdf = await upload(client, coordinator, b"%PDF-1.7 ...", name="roster.pdf", kind="application/pdf")
    fake_xlsx = await upload(client, coordinator, b"name,unit\n", name="roster.xlsx")
    big = await upload(client, coordinator, csv_file(*(GOOD_ROWS[1] for _ in range(5001))))
    no_header = await upload(client, coordinator, csv_file(header="名字,部门"))

    assert (pdf.status_code, pdf.headers["content-type"]) == (415, "application/problem+json")
    assert fake_xlsx.status_code == 415
    assert big.status_code == 413
    assert no_header.status_code == 422
    assert {(e["column"], e["rule"]) for e in no_header.json()["errors"]} == {
        ("名字", "unknown_column"),
        ("部门", "unknown_column"),
        ("姓名", "missing_column"),
        ("单位", "missing_column"),
        ("专兼职", "missing_column"),
    }


async def test_a_mediator_cannot_import(client: httpx.AsyncClient, auth: Any, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    before = await roster_count(db)

    response = await upload(client, mediator, csv_file(*GOOD_ROWS))

    assert response.status_code == 403
    assert await roster_count(db) == before


async def test_a_reimport_matches_by_name_and_unit_when_either_side_lacks_the_id_number(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    with_id = await upload(client, coordinator, csv_file(GOOD_ROWS[0]))
    assert with_id.json()["created"] == 1
    mediator_id = with_id.json()["rows"][0]["mediator_id"]
    before = await roster_count(db)

    # The same person from a sheet that has no id numbers: updated, not added again.
    short = await upload(client, coordinator, csv_file(f"孙丽,{DASHI},兼职", header="姓名,单位,专兼职"))
    # A person first entered without a number, then listed with one: the number is recorded.
    await upload(client, coordinator, csv_file(f"吴九,{ZHOUXIANG},兼职", header="姓名,单位,专兼职"))
    numbered = await upload(
        client,
        coordinator,
        csv_file(f"吴九,{ZHOUXIANG},兼职,320583197505122340", header="姓名,单位,专兼职,身份证号"),
    )

    assert [(r["action"], r["mediator_id"]) for r in short.json()["rows"]] == [("update", mediator_id)]
    assert numbered.json()["rows"][0]["action"] == "update"
    assert await roster_count(db) == before + 1
    wu = (
        await client.get(
            f"/api/v1/mediators/{numbered.json()['rows'][0]['mediator_id']}", headers=coordinator
        )
    ).json()
    assert wu["id_number"] == "320583********2340"
    sun = (await client.get(f"/api/v1/mediators/{mediator_id}", headers=coordinator)).json()
    assert (sun["employment"], sun["grade"], sun["id_number"]) == ("part_time", "一级", "320583********1238")


async def test_a_csv_saved_by_a_chinese_excel_and_an_id_number_excel_turned_into_a_number(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    gbk = csv_file(f"冯十,{DASHI},专职,邻里", header="姓名,单位,专兼职,擅长").decode().encode("gb18030")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "单位", "专兼职", "身份证号"])
    sheet.append(["陈十一", DASHI, "专职", 320583198001011238])  # Excel keeps 15 significant digits
    sheet["D2"].data_type = "n"
    sheet["D2"].value = 3.20583198001011e17
    buffer = io.BytesIO()
    book.save(buffer)

    from_excel = await upload(client, coordinator, gbk, name="名册.csv")
    number = await upload(
        client, coordinator, buffer.getvalue(), name="名册.xlsx", kind="application/octet-stream"
    )

    assert from_excel.status_code == 200, from_excel.text
    assert from_excel.json()["rows"][0]["name"] == "冯十"
    assert number.status_code == 422
    assert [(e["line"], e["column"], e["rule"]) for e in number.json()["errors"]] == [
        ("2", "身份证号", "id_number_as_number")
    ]
