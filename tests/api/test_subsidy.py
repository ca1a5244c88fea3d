"""以案定补 over HTTP, on SQLite and PostgreSQL: a month computed from the cases closed in it,
approved and frozen by a coordinator, corrected, exported for finance; a mediator reads only their
own lines and approves nothing; a case pays once."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from service import clock
from service.audit.models import SecurityEvent
from service.mediators.models import CaseMediator
from service.subsidy.models import SubsidyCase
from tests.builders import (
    DASHI,
    ZHANGPU,
    add_colleague,
    add_mediator,
    assign_mediator,
    move,
    open_case,
    read_case,
)
from tests.conftest import Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("frozen_clock", "trail_stays_intact")

MARCH = f"/api/v1/subsidy/{ZHANGPU}/2026-03"
APRIL_1 = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)  # 10:00 in Kunshan: March is over


async def closed_with_agreement(client: httpx.AsyncClient, mediator: dict[str, str]) -> dict[str, Any]:
    """A neighbour dispute at 大市社区, accepted by ``mediator`` (who thereby leads it when on the
    station's roster) and mediated to an oral agreement."""
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    case = await move(client, mediator, case, "settle", agreement={"form": "oral", "terms": "道歉并修复墙面"})
    return case


async def perform(
    client: httpx.AsyncClient, mediator: dict[str, str], case: dict[str, Any]
) -> dict[str, Any]:
    """The performance followed up and the case closed with a complete file (the case file check
    wants a session record and, once closed, the 卷宗 number)."""
    case = await record_session(client, mediator, case)
    done = await move(client, mediator, case, "record_performance", performance="performed")
    assert (done["state"], done["outcome"]) == ("closed", "performed")
    return await give_file_number(client, mediator, done)


async def record_session(
    client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]
) -> dict[str, Any]:
    """A session record (调解记录) on the case, an hour long and just over; the case as it is now."""
    now = clock.now()
    body = {
        "started_at": (now - timedelta(hours=2)).isoformat(),
        "ended_at": (now - timedelta(hours=1)).isoformat(),
        "place": "大市社区调解室",
        "party_ids": [p["id"] for p in case["parties"]],
        "result": "agreement",
    }
    written = await client.post(f"/api/v1/cases/{case['id']}/sessions", json=body, headers=headers)
    assert written.status_code == 201, written.text
    return await read_case(client, headers, case)


async def give_file_number(
    client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]
) -> dict[str, Any]:
    given = await client.post(f"/api/v1/cases/{case['id']}/file-number", headers=headers)
    assert given.status_code == 201, given.text
    return await read_case(client, headers, case)


async def march_with_two_closed_cases(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> dict[str, Any]:
    """Case one: 王芳 (dashi.mediator's roster record) leads, 张伟 co-mediates; case two: nobody
    recorded as mediating it; case three still open. Then the clock moves to 1 April.

    Accepting a case makes the acceptor's roster record its lead, and closing it ends every
    assignment (end ``closed``): 王芳 leads case one by accepting it, and case two is accepted by a
    colleague at the station whose sign-in has no roster record, so nobody is assigned to it."""
    mediator = await auth("dashi.mediator")
    colleague = await auth(await add_colleague(db.engine, "dashi.mediator", "dashi.colleague"))
    lead = await add_mediator(db.engine, "王芳", [DASHI], username="dashi.mediator")
    co = await add_mediator(db.engine, "张伟", [DASHI], employment="part_time")
    one = await closed_with_agreement(client, mediator)
    await assign_mediator(db.engine, one["id"], co, role="co")
    one = await perform(client, mediator, one)
    two = await perform(client, colleague, await closed_with_agreement(client, colleague))
    await open_case(client, mediator)
    frozen_clock.set(APRIL_1)
    return {"one": one, "two": two, "lead": lead, "co": co}


async def security_kinds(db: Backend) -> list[str]:
    table = SecurityEvent.__table__  # type: ignore[attr-defined]
    async with db.engine.connect() as conn:
        kinds = (await conn.execute(sa.select(table.c.kind).order_by(table.c.id))).scalars()
        return [k for k in kinds if k.startswith("subsidy_")]


async def test_a_month_is_computed_approved_frozen_and_corrected(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    world = await march_with_two_closed_cases(client, auth, db, frozen_clock)
    coordinator = await auth("zhangpu.coordinator")

    computed = (await client.get(MARCH, headers=coordinator)).json()
    assert (computed["status"], computed["eligible_cases"], computed["total_yuan"]) == (
        "computed",
        1,
        "100.00",
    )
    one, two = computed["cases"]
    assert (one["number"], one["eligible"], one["amount_yuan"], one["difficulty_label"]) == (
        world["one"]["number"],
        True,
        "100.00",
        "简易",
    )
    assert [(s["name"], s["role"], s["amount_yuan"]) for s in one["shares"]] == [
        ("王芳", "lead", "60.00"),
        ("张伟", "co", "40.00"),
    ]
    assert (two["eligible"], two["amount_yuan"], [r["label"] for r in two["reasons"]]) == (
        False,
        "0.00",
        ["未登记调解员"],
    )
    assert [(m["name"], m["cases"], m["total_yuan"]) for m in computed["mediators"]] == [
        ("张伟", 1, "40.00"),
        ("王芳", 1, "60.00"),
    ]

    stale = await client.post(f"{MARCH}/approval", json={"reviewed_total_yuan": "90.00"}, headers=coordinator)
    assert stale.status_code == 409 and "100.00" in stale.json()["detail"]
    approved = await client.post(
        f"{MARCH}/approval", json={"reviewed_total_yuan": "100.00"}, headers=coordinator
    )
    assert approved.status_code == 201, approved.text
    frozen = approved.json()
    assert (frozen["status"], frozen["approved_by"], frozen["total_yuan"]) == (
        "approved",
        "zhangpu.coordinator",
        "100.00",
    )

    again = await client.post(f"{MARCH}/approval", json={}, headers=coordinator)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"

    # The second case gets its mediator late: the frozen month does not move.
    await assign_mediator(db.engine, world["two"]["id"], world["co"], role="lead")
    later = (await client.get(MARCH, headers=coordinator)).json()
    assert (later["status"], later["total_yuan"], [c["number"] for c in later["cases"]]) == (
        "approved",
        "100.00",
        [world["one"]["number"]],
    )

    correction = await client.post(
        f"{MARCH}/corrections",
        json={
            "mediator_id": world["co"],
            "case_id": world["one"]["id"],
            "amount_yuan": "20.00",
            "reason": "补记回访工作量",
        },
        headers=coordinator,
    )
    assert correction.status_code == 201, correction.text
    minus = await client.post(
        f"{MARCH}/corrections",
        json={"mediator_id": world["lead"], "amount_yuan": "-5.50", "reason": "重复计发扣回"},
        headers=coordinator,
    )
    assert minus.status_code == 201, minus.text
    corrected = (await client.get(MARCH, headers=coordinator)).json()
    assert corrected["total_yuan"] == "114.50"
    assert [
        (m["name"], m["shares_yuan"], m["corrections_yuan"], m["total_yuan"]) for m in corrected["mediators"]
    ] == [
        ("张伟", "40.00", "20.00", "60.00"),
        ("王芳", "60.00", "-5.50", "54.50"),
    ]
    assert [c["reason"] for c in corrected["corrections"]] == ["补记回访工作量", "重复计发扣回"]
    assert await security_kinds(db) == ["subsidy_approved", "subsidy_corrected", "subsidy_corrected"]
    log = await client.get(
        "/api/v1/security-events", params={"kind": "subsidy_corrected"}, headers=await auth("auditor")
    )
    assert [(e["actor"], e["reason"]) for e in log.json()["items"]] == [
        ("zhangpu.coordinator", "重复计发扣回"),
        ("zhangpu.coordinator", "补记回访工作量"),
    ]


async def test_corrections_and_approvals_that_cannot_be_made_are_refused_with_the_reason(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    world = await march_with_two_closed_cases(client, auth, db, frozen_clock)
    coordinator = await auth("zhangpu.coordinator")
    body = {"mediator_id": world["lead"], "amount_yuan": "10.00", "reason": "补发"}

    not_yet = await client.post(f"{MARCH}/corrections", json=body, headers=coordinator)
    assert not_yet.status_code == 409 and "not approved" in not_yet.json()["detail"]
    running = await client.post(f"/api/v1/subsidy/{ZHANGPU}/2026-04/approval", json={}, headers=coordinator)
    assert running.status_code == 409 and "not ended" in running.json()["detail"]

    assert (await client.post(f"{MARCH}/approval", json={}, headers=coordinator)).status_code == 201
    zero = await client.post(f"{MARCH}/corrections", json={**body, "amount_yuan": "0"}, headers=coordinator)
    assert zero.status_code == 422 and zero.json()["errors"][0]["field"] == "body.amount_yuan"
    stranger = await client.post(
        f"{MARCH}/corrections", json={**body, "mediator_id": 999999}, headers=coordinator
    )
    assert stranger.status_code == 422 and stranger.json()["errors"][0]["field"] == "body.mediator_id"
    unpaid = await client.post(
        f"{MARCH}/corrections", json={**body, "case_id": world["two"]["id"]}, headers=coordinator
    )
    assert unpaid.status_code == 422 and unpaid.json()["errors"][0]["field"] == "body.case_id"
    bad_month = await client.get(f"/api/v1/subsidy/{ZHANGPU}/2026-13", headers=coordinator)
    assert bad_month.status_code == 422 and bad_month.json()["errors"][0]["field"] == "path.month"
    bad_unit = await client.get("/api/v1/subsidy/NOWHERE/2026-03", headers=coordinator)
    assert bad_unit.status_code == 422 and bad_unit.json()["errors"][0]["field"] == "path.unit_code"
    other_town = await client.get("/api/v1/subsidy/320583100/2026-03", headers=coordinator)
    assert other_town.status_code == 404


async def test_a_mediator_reads_only_their_own_lines_and_cannot_approve_or_correct(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    world = await march_with_two_closed_cases(client, auth, db, frozen_clock)
    mediator = await auth("dashi.mediator")
    station = f"/api/v1/subsidy/{DASHI}/2026-03"

    own = (await client.get(station, headers=mediator)).json()
    assert own["own_lines_only"] is True
    assert [(c["number"], c["amount_yuan"], [s["name"] for s in c["shares"]]) for c in own["cases"]] == [
        (world["one"]["number"], "60.00", ["王芳"])
    ]
    assert [m["name"] for m in own["mediators"]] == ["王芳"] and own["total_yuan"] == "60.00"

    refused = await client.post(f"{station}/approval", json={}, headers=mediator)
    assert refused.status_code == 403
    correction = {"mediator_id": world["lead"], "amount_yuan": "10.00", "reason": "给自己加钱"}
    assert (await client.post(f"{station}/corrections", json=correction, headers=mediator)).status_code == 403
    assert (
        await client.get(MARCH, headers=mediator)
    ).status_code == 404  # the town's ledger is not the station's
    assert (await client.get(MARCH, headers=await auth("zhangpu.police"))).status_code == 403
    assert (await client.get(MARCH, headers=await auth("auditor"))).status_code == 200


async def test_a_case_pays_once_whichever_ledger_approves_it_first(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    world = await march_with_two_closed_cases(client, auth, db, frozen_clock)
    coordinator = await auth("zhangpu.coordinator")
    station = f"/api/v1/subsidy/{DASHI}/2026-03"

    assert (await client.post(f"{station}/approval", json={}, headers=coordinator)).status_code == 201
    town = (await client.get(MARCH, headers=coordinator)).json()
    paid = next(c for c in town["cases"] if c["case_id"] == world["one"]["id"])
    assert (
        paid["eligible"],
        paid["paid_in_unit"],
        paid["paid_in_month"],
        [r["code"] for r in paid["reasons"]],
    ) == (
        False,
        DASHI,
        "2026-03",
        ["already_paid"],
    )
    assert town["total_yuan"] == "0.00"
    # The lead reads their station's month: their case, paid, with their share only.
    own = (await client.get(station, headers=await auth("dashi.mediator"))).json()
    assert [(c["number"], c["amount_yuan"], [s["name"] for s in c["shares"]]) for c in own["cases"]] == [
        (world["one"]["number"], "60.00", ["王芳"])
    ]
    approved = (await client.post(f"{MARCH}/approval", json={}, headers=coordinator)).json()
    assert (approved["status"], approved["cases"], approved["total_yuan"]) == ("approved", [], "0.00")

    # The ledger itself refuses a second payment of a case, whatever writes it.
    table = SubsidyCase.__table__  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError):
        async with db.engine.begin() as conn:
            row = (await conn.execute(sa.select(table).where(table.c.case_id == world["one"]["id"]))).one()
            values = {**row._asdict(), "id": None}
            del values["id"]
            await conn.execute(sa.insert(table).values(**values))


async def test_the_export_gives_finance_totals_and_case_lines_in_csv_and_xlsx(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    from openpyxl import load_workbook

    world = await march_with_two_closed_cases(client, auth, db, frozen_clock)
    coordinator = await auth("zhangpu.coordinator")
    assert (await client.post(f"{MARCH}/approval", json={}, headers=coordinator)).status_code == 201

    response = await client.get(f"{MARCH}/export", params={"format": "csv"}, headers=coordinator)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["张浦镇 2026-03 以案定补（已审核） 调解员汇总"]
    assert rows[1][:3] == ["调解员", "调解员编号", "案件数"]
    assert ["张伟", str(world["co"]), "1", "40.00", "0.00", "40.00"] in rows
    assert ["王芳", str(world["lead"]), "1", "60.00", "0.00", "60.00"] in rows
    assert ["合计", "", "1", "", "", "100.00"] in rows
    assert [world["one"]["number"], "邻里", "简易", "2026年3月2日", "100.00", "王芳", "主办", "60.00"] in rows
    assert all(world["two"]["number"] not in row for row in rows)

    xlsx = await client.get(f"{MARCH}/export", params={"format": "xlsx"}, headers=coordinator)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["调解员汇总", "案件明细", "更正记录"]
    lines = [[c.value for c in row] for row in book["案件明细"].iter_rows(min_row=3)]
    assert [world["one"]["number"], "邻里", "简易", "2026年3月2日", 100.0, "张伟", "协办", 40.0] in lines
    assert await security_kinds(db) == ["subsidy_approved", "subsidy_exported", "subsidy_exported"]
    assert Decimal("100.00") == sum(Decimal(str(row[7])) for row in lines)


async def test_only_the_mediators_on_the_case_when_it_closed_share_its_subsidy(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    """王芳 leads a case at 大市社区 by accepting it; the station escalates it to 张浦镇, which ends
    her assignment (end ``closed``: the case left the unit), and the town's 李明 mediates it to its
    close. Both assignments ended ``closed``, but only 李明's ended with the closing."""
    station = await auth("dashi.mediator")
    town = await auth("zhangpu.coordinator")
    wang = await add_mediator(db.engine, "王芳", [DASHI], username="dashi.mediator")
    li = await add_mediator(db.engine, "李明", [ZHANGPU])
    case = await move(client, station, await open_case(client, station), "accept")
    frozen_clock.set(datetime(2026, 3, 3, 2, 0, tzinfo=UTC))
    case = await move(client, station, case, "escalate", reason="涉及多户村民，需要镇里协调")
    await assign_mediator(db.engine, case["id"], li, unit_code=ZHANGPU)
    case = await move(client, town, case, "accept")
    case = await move(client, town, case, "settle", agreement={"form": "oral", "terms": "道歉并修复墙面"})
    frozen_clock.set(datetime(2026, 3, 5, 2, 0, tzinfo=UTC))
    case = await perform(client, town, case)
    assert (case["state"], case["unit_code"]) == ("closed", ZHANGPU)
    table = CaseMediator.__table__  # type: ignore[attr-defined]
    async with db.engine.connect() as conn:
        ends = (
            await conn.execute(
                sa.select(table.c.mediator_id, table.c.end)
                .where(table.c.case_id == case["id"])
                .order_by(table.c.id)
            )
        ).all()
    assert [tuple(e) for e in ends] == [(wang, "closed"), (li, "closed")]
    frozen_clock.set(APRIL_1)

    month = (await client.get(MARCH, headers=town)).json()
    [line] = month["cases"]
    assert (line["case_id"], line["eligible"], line["amount_yuan"]) == (case["id"], True, "200.00")
    assert [(s["name"], s["role"], s["amount_yuan"]) for s in line["shares"]] == [("李明", "lead", "200.00")]
    assert [(m["name"], m["total_yuan"]) for m in month["mediators"]] == [("李明", "200.00")]


# --- the pages, as a browser without JavaScript uses them -----------------------------------------


async def page_client(
    client: httpx.AsyncClient, db: Backend, username: str, lang: str | None = None
) -> httpx.AsyncClient:
    from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE, csrf_token
    from tests.conftest import token_for

    web = httpx.AsyncClient(transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test")
    token = await token_for(client, db, username)
    web.cookies.set(SESSION_COOKIE, token)
    web.headers["X-Csrf"] = csrf_token(token)
    if lang:
        web.cookies.set(LANGUAGE_COOKIE, lang)
    return web


def main_text(html: str) -> str:
    import re

    main = html.split('<main id="main">', 1)[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


async def test_the_month_page_approves_only_when_confirmed_and_shows_a_mediator_their_own_line(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    world = await march_with_two_closed_cases(client, auth, db, frozen_clock)
    coordinator = await page_client(client, db, "zhangpu.coordinator")
    page = await coordinator.get("/subsidy", params={"unit": ZHANGPU, "month": "2026-03"})
    assert page.status_code == 200
    text = main_text(page.text)
    assert "试算" in text and world["one"]["number"] in text and "未登记调解员" in text
    assert "王芳（主办）60.00" in text and "2026年3月2日" in text
    form = {"csrf_token": coordinator.headers["X-Csrf"], "unit": ZHANGPU, "month": "2026-03"}

    mediator = await page_client(client, db, "dashi.mediator")
    own = main_text((await mediator.get("/subsidy", params={"month": "2026-03"})).text)
    assert "仅显示您本人的补贴记录" in own and "王芳（主办）60.00" in own and "张伟" not in own
    assert "审核并冻结" not in own
    refused = await mediator.post(
        "/subsidy/approve", data={**form, "csrf_token": mediator.headers["X-Csrf"], "confirm": "1"}
    )
    assert refused.status_code == 404  # the town's ledger is outside a station mediator's scope

    unconfirmed = await coordinator.post("/subsidy/approve", data={**form, "reviewed_total_yuan": "100.00"})
    assert unconfirmed.status_code == 422 and "请先勾选确认已核对" in unconfirmed.text
    stale = await coordinator.post(
        "/subsidy/approve", data={**form, "confirm": "1", "reviewed_total_yuan": "80.00"}
    )
    assert stale.status_code == 409 and "金额已更新" in stale.text
    done = await coordinator.post(
        "/subsidy/approve", data={**form, "confirm": "1", "reviewed_total_yuan": "100.00"}
    )
    assert done.status_code == 303
    frozen = await coordinator.get(done.headers["location"])
    # The station's month now tells its mediator why the case is not paid there.
    after = main_text((await mediator.get("/subsidy", params={"month": "2026-03"})).text)
    assert "已由其他台账发放（张浦镇 2026-03）" in after and "0.00" in after
    assert "已审核并冻结（zhangpu.coordinator，2026年4月1日 10:00）" in main_text(frozen.text)

    zero = await coordinator.post(
        "/subsidy/corrections",
        data={**form, "mediator_id": str(world["co"]), "amount_yuan": "0", "reason": "补发"},
    )
    assert zero.status_code == 422 and "金额不能为零" in zero.text
    added = await coordinator.post(
        "/subsidy/corrections",
        data={**form, "mediator_id": str(world["co"]), "amount_yuan": "8.8", "reason": "补发"},
    )
    assert added.status_code == 303

    police = await page_client(client, db, "zhangpu.police")
    assert (await police.get("/subsidy")).status_code == 403

    english = await page_client(client, db, "zhangpu.coordinator", lang="en")
    shown = main_text((await english.get("/subsidy", params={"unit": ZHANGPU, "month": "2026-03"})).text)
    assert "Approved and frozen by zhangpu.coordinator on 1 Apr 2026 10:00" in shown
    # Chinese only in proper names: the mediators' names (and the rules' document number).
    import re

    # (Unit names are proper names too: the unit picker lists villages that have no English name yet.)
    # What people typed (a correction's reason) is theirs; the correction form lists the roster.
    labels = shown.split(" Month ", 1)[1].split(" Record a correction ", 1)[0]
    leftover = re.sub(r"王芳|张伟|财行〔2007〕179号|补发", "", labels)
    assert re.findall(r"[\u4e00-\u9fff]+", leftover) == []
    for web in (coordinator, mediator, police, english):
        await web.aclose()


def test_the_service_does_not_start_with_an_invalid_subsidy_configuration(tmp_path: Any) -> None:
    import shutil

    from service.config.settings import Settings
    from service.main import create_app
    from tests.conftest import CONFIG_DIR, TEST_AUDIT_KEY, TEST_DATA_KEY

    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    text = (config / "subsidy.yaml").read_text(encoding="utf-8")
    (config / "subsidy.yaml").write_text(
        text.replace("lead_share: 0.60", "lead_share: 1.5"), encoding="utf-8"
    )
    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        config_dir=config,
        run_scheduler=False,
        data_key=TEST_DATA_KEY,
        audit_key=TEST_AUDIT_KEY,
    )
    with pytest.raises(SystemExit) as stopped:
        create_app(settings)
    assert "subsidy.yaml: split.lead_share: Input should be less than or equal to 1" in str(stopped.value)
