"""The screening register (排查) and major-dispute reports over HTTP, on both databases: rounds
with a zero report, found disputes registered as cases in the round's transaction, scope, the
stations that did not report (listed, and flagged once by the sweep), a major report reaching the
town and the city centre (inbox and outbox), escalation once when nobody acknowledged it in time,
and the MoJ figures with the ids behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.audit.models import SecurityEvent
from service.cases.queries import case_event
from service.notifications.service import inbox, outbox, subscriptions
from service.screening import figures
from service.screening.queries import rounds
from service.screening.service import flag_missing, policy_of
from service.sweep import sweep
from tests.builders import CITY, DASHI, WULIAN, YUSHAN, ZHANGPU, ZHOUXIANG, case_body, move
from tests.conftest import FIXED_NOW, Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

security_event = SecurityEvent.__table__  # type: ignore[attr-defined]
HELD = "2026-03-01T09:00:00+08:00"
Headers = dict[str, str]


def round_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "held_at": HELD,
        "place": "大市社区一至六组、沿街商铺",
        "scope": "邻里、婚姻家庭、物业",
        "participants": [{"name": "张调解"}, {"name": "网格员李四"}],
        "nothing_found": True,
    }
    body.update(overrides)
    return body


def found(**overrides: Any) -> dict[str, Any]:
    """A dispute a round found (the case body without its source: the round sets 主动排查)."""
    body = case_body(**overrides)
    body.pop("source")
    return body


async def record(client: httpx.AsyncClient, h: Headers, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/screening", json=round_body(**overrides), headers=h)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def inbox_of(db: Backend, unit: str, kind: str) -> list[Any]:
    async with db.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(inbox)
                    .where(inbox.c.unit_code == unit, inbox.c.kind == kind)
                    .order_by(inbox.c.id)
                )
            ).all()
        )


async def test_a_zero_report_and_a_round_that_registers_what_it_found(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    h = await auth("dashi.mediator")
    zero = await record(client, h)
    assert (zero["unit_code"], zero["nothing_found"], zero["disputes_found"], zero["cases"]) == (
        DASHI,
        True,
        0,
        [],
    )
    assert zero["participants"] == [
        {"name": "张调解", "mediator_id": None},
        {"name": "网格员李四", "mediator_id": None},
    ]

    busy = await record(
        client,
        h,
        nothing_found=False,
        findings="两户因漏水争执；一户宅基地边界",
        disputes=[found(), found(summary="夜间噪音扰民")],
        disputes_prevented=3,
    )
    assert (busy["disputes_found"], busy["disputes_prevented"], len(busy["cases"])) == (2, 3, 2)
    for listed in busy["cases"]:
        case = (await client.get(f"/api/v1/cases/{listed['id']}", headers=h)).json()
        assert (case["source"], case["number"], case["registered_by"]) == (
            "self_initiated",
            listed["number"],
            "dashi.mediator",
        )
    # Linked both ways: the round lists its cases, each case's `created` event names the round.
    again = (await client.get(f"/api/v1/screening/{busy['id']}", headers=h)).json()
    assert [c["id"] for c in again["cases"]] == [c["id"] for c in busy["cases"]]
    async with db.engine.connect() as conn:
        created = (
            await conn.execute(
                sa.select(case_event.c.payload)
                .where(case_event.c.kind == "created")
                .order_by(case_event.c.case_id)
            )
        ).scalars()
        assert [p["screening_round"] for p in created] == [busy["id"], busy["id"]]
        audited = (
            await conn.execute(
                sa.select(security_event.c.payload)
                .where(security_event.c.kind == "screening_round")
                .order_by(security_event.c.id)
            )
        ).scalars()
        assert [(p["round_id"], p["nothing_found"], len(p["cases"])) for p in audited] == [
            (zero["id"], True, 0),
            (busy["id"], False, 2),
        ]
    listed = (await client.get("/api/v1/screening", headers=h)).json()
    assert [r["id"] for r in listed["items"]] == [busy["id"], zero["id"]]


async def test_a_round_says_what_it_found_or_that_it_found_nothing(
    client: httpx.AsyncClient, auth: Any, frozen_clock: FrozenClock
) -> None:
    h = await auth("dashi.mediator")
    both = await client.post("/api/v1/screening", json=round_body(disputes_prevented=1), headers=h)
    assert both.status_code == 422, both.text
    assert both.json()["errors"][0]["field"] == "body.nothing_found"
    neither = await client.post("/api/v1/screening", json=round_body(nothing_found=False), headers=h)
    assert neither.status_code == 422
    assert "零报告" in neither.json()["errors"][0]["message"]
    future = await client.post(
        "/api/v1/screening", json=round_body(held_at=(FIXED_NOW + timedelta(days=1)).isoformat()), headers=h
    )
    assert future.status_code == 422
    assert future.json()["errors"][0]["field"] == "body.held_at"


async def test_a_refused_dispute_leaves_no_round_and_no_case(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    h = await auth("dashi.mediator")
    bad = found(prior_proceedings={"authority": "police"})  # accepted by the police, but by whom?
    response = await client.post(
        "/api/v1/screening", json=round_body(nothing_found=False, disputes=[found(), bad]), headers=h
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body.disputes.1.prior_proceedings.authority_name"
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(rounds))).scalar_one() == 0
        assert (await conn.execute(sa.text("SELECT count(*) FROM cases"))).scalar_one() == 0


async def test_a_station_writes_its_own_and_a_town_reads_its_stations(
    client: httpx.AsyncClient, auth: Any, frozen_clock: FrozenClock
) -> None:
    dashi = await auth("dashi.mediator")
    made = [await record(client, dashi, held_at=f"2026-02-{d:02d}T09:00:00+08:00") for d in (3, 10, 17)]
    other = await record(client, await auth("wulian.mediator"))

    assert (
        await client.get(f"/api/v1/screening/{made[0]['id']}", headers=await auth("zhangpu.coordinator"))
    ).status_code == 200
    for outsider in ("zhouxiang.mediator", "yushan.coordinator"):
        missing = await client.get(f"/api/v1/screening/{made[0]['id']}", headers=await auth(outsider))
        assert missing.status_code == 404, outsider
    police = await client.post("/api/v1/screening", json=round_body(), headers=await auth("zhangpu.police"))
    assert police.status_code == 403
    assert (await client.get("/api/v1/screening", headers=await auth("court.clerk"))).status_code == 403

    town = await auth("zhangpu.coordinator")
    first = (await client.get("/api/v1/screening", params={"limit": 2}, headers=town)).json()
    assert [r["id"] for r in first["items"]] == [made[2]["id"], made[1]["id"]]
    rest = (
        await client.get("/api/v1/screening", params={"limit": 2, "after": first["next_after"]}, headers=town)
    ).json()
    assert ([r["id"] for r in rest["items"]], rest["next_after"]) == ([made[0]["id"]], None)
    yushan = (await client.get("/api/v1/screening", headers=await auth("yushan.coordinator"))).json()
    assert [r["id"] for r in yushan["items"]] == [other["id"]]
    city = (
        await client.get("/api/v1/screening", params={"unit": YUSHAN}, headers=await auth("city.coordinator"))
    ).json()
    assert [r["id"] for r in city["items"]] == [other["id"]]
    outside = await client.get("/api/v1/screening", params={"unit": YUSHAN}, headers=town)
    assert outside.status_code == 404
    assert (
        await client.get("/api/v1/screening", params={"after": "nonsense"}, headers=town)
    ).status_code == 422


async def test_a_station_that_did_not_report_is_listed_and_flagged_to_its_town_once(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    # 大市 reported in February (a zero report counts); 周巷 did not.
    await record(client, await auth("dashi.mediator"), held_at="2026-02-20T09:00:00+08:00")
    town = await auth("zhangpu.coordinator")
    listed = (
        await client.get("/api/v1/screening/missing", params={"period": "2026-02"}, headers=town)
    ).json()
    codes = {i["unit_code"] for i in listed["items"]}
    assert ZHOUXIANG in codes and DASHI not in codes
    assert all(c.startswith(ZHANGPU) for c in codes)
    assert {i["period"] for i in listed["items"]} == {"2026-02"}
    assert "零报告" in listed["basis"]
    assert (
        await client.get("/api/v1/screening/missing", params={"period": "Feb"}, headers=town)
    ).status_code == 422

    # The sweep judges the last complete month, once; the configured start keeps older periods quiet.
    assert (await sweep(db.engine, db.ctx, now=FIXED_NOW)).screening_missing == 0  # before starts_on
    policy = policy_of(db.ctx).model_copy(update={"starts_on": datetime(2026, 1, 1).date()})
    first = await flag_missing(db.engine, db.ctx, now=FIXED_NOW, policy=policy)
    again = await flag_missing(db.engine, db.ctx, now=FIXED_NOW + timedelta(hours=1), policy=policy)
    assert first > 1 and again == 0
    items = await inbox_of(db, ZHANGPU, "screening_missing")
    flagged = [i.payload["unit_code"] for i in items]
    assert ZHOUXIANG in flagged and DASHI not in flagged
    assert len(flagged) == len(set(flagged)) == len(codes)
    assert {i.payload["period"] for i in items} == {"2026-02"}
    assert all(i.case_id is None for i in items)
    # The town reads them in its inbox, in words.
    shown = (
        await client.get(f"/api/v1/units/{ZHANGPU}/inbox", params={"kind": "screening_missing"}, headers=town)
    ).json()["items"]
    assert len(shown) == len(flagged)
    # 五联村 is 玉山镇's: told to 玉山镇, not to 张浦镇.
    assert WULIAN in {i.payload["unit_code"] for i in await inbox_of(db, YUSHAN, "screening_missing")}


async def subscribe(db: Backend, unit: str) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.insert(subscriptions).values(
                unit_code=unit, url="https://example.org/hook", secret="s", active=True, created_at=FIXED_NOW
            )
        )


async def major_round(client: httpx.AsyncClient, h: Headers, risks: list[str]) -> dict[str, Any]:
    made = await record(
        client,
        h,
        nothing_found=False,
        disputes=[
            found(
                summary="三十余户村民与养殖场就污染补偿对峙，有人扬言以死相逼",
                major={"risks": risks, "statement": "村民聚集，情绪激动；已劝离并约定次日协商"},
            )
        ],
    )
    assert made["cases"][0]["major_report_id"] is not None
    return made


async def test_a_major_dispute_reaches_the_town_and_the_city_at_once(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await subscribe(db, CITY)
    h = await auth("dashi.mediator")
    made = await major_round(client, h, ["group", "suicide"])
    case_id, report_id = made["cases"][0]["id"], made["cases"][0]["major_report_id"]
    for unit in (ZHANGPU, CITY):
        [item] = await inbox_of(db, unit, "major_report")
        assert (item.case_id, item.payload["major_report_id"], item.payload["risks"]) == (
            case_id,
            report_id,
            ["group", "suicide"],
        )
    async with db.engine.connect() as conn:
        [message] = (await conn.execute(sa.select(outbox.c.event_type, outbox.c.payload))).all()
    assert (message.event_type, message.payload["major_report_id"], message.payload["unit_code"]) == (
        "major_report",
        report_id,
        CITY,
    )
    report = (
        await client.get(f"/api/v1/major-reports/{report_id}", headers=await auth("zhangpu.coordinator"))
    ).json()
    assert (report["to_unit_codes"], report["risk_labels"], report["round_id"]) == (
        [ZHANGPU, CITY],
        ["群体性纠纷", "自杀风险"],
        made["id"],
    )
    assert report["statement"].startswith("村民聚集")
    # Filed on a case directly too; outside the case's scope it is a 404, for the wrong role a 403.
    case = (await client.get(f"/api/v1/cases/{case_id}", headers=h)).json()
    direct = await client.post(
        f"/api/v1/cases/{case_id}/major-reports",
        json={"risks": ["crime"], "statement": "扬言报复"},
        headers=h,
    )
    assert direct.status_code == 201, direct.text
    assert case["state"]
    assert (
        await client.get(f"/api/v1/major-reports/{report_id}", headers=await auth("yushan.coordinator"))
    ).status_code == 404
    # A station cannot acknowledge; a town coordinator can, once.
    assert (
        await client.post(f"/api/v1/major-reports/{report_id}/acknowledge", json={}, headers=h)
    ).status_code == 403
    ack = await client.post(
        f"/api/v1/major-reports/{report_id}/acknowledge",
        json={"note": "已派员到场"},
        headers=await auth("zhangpu.coordinator"),
    )
    assert ack.status_code == 200, ack.text
    assert (ack.json()["acknowledged_unit_code"], ack.json()["late"]) == (ZHANGPU, False)
    twice = await client.post(
        f"/api/v1/major-reports/{report_id}/acknowledge", json={}, headers=await auth("city.coordinator")
    )
    assert twice.status_code == 409
    [told] = await inbox_of(db, DASHI, "major_report_acknowledged")
    assert told.payload["major_report_id"] == report_id
    events = (await client.get(f"/api/v1/cases/{case_id}/events", headers=h)).json()
    assert [e["kind"] for e in events][-3:] == ["major_report", "major_report", "major_ack"]
    # Acknowledged in time: the sweep escalates only the direct report, still open.
    swept = await sweep(db.engine, db.ctx, now=FIXED_NOW + timedelta(hours=3))
    assert swept.majors_escalated == 1


async def test_a_report_acknowledged_late_is_escalated_once(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await subscribe(db, CITY)
    made = await major_round(client, await auth("dashi.mediator"), ["group_fight"])
    case_id, report_id = made["cases"][0]["id"], made["cases"][0]["major_report_id"]
    hours = policy_of(db.ctx).ack_hours
    early = await sweep(db.engine, db.ctx, now=FIXED_NOW + timedelta(hours=hours) - timedelta(minutes=1))
    assert early.majors_escalated == 0
    late = FIXED_NOW + timedelta(hours=hours, minutes=5)
    first = await sweep(db.engine, db.ctx, now=late)
    second = await sweep(db.engine, db.ctx, now=late + timedelta(hours=5))
    assert (first.majors_escalated, second.majors_escalated) == (1, 0)
    [escalated] = await inbox_of(db, CITY, "major_report_escalated")
    assert (escalated.case_id, escalated.payload["major_report_id"]) == (case_id, report_id)
    async with db.engine.connect() as conn:
        kinds = (await conn.execute(sa.select(outbox.c.event_type).order_by(outbox.c.id))).scalars().all()
    assert kinds == ["major_report", "major_report_escalated"]

    frozen_clock.set(late + timedelta(hours=1))
    ack = await client.post(
        f"/api/v1/major-reports/{report_id}/acknowledge", json={}, headers=await auth("city.coordinator")
    )
    assert ack.status_code == 200, ack.text
    assert (ack.json()["late"], ack.json()["escalated_at"] is not None) == (True, True)
    assert (await sweep(db.engine, db.ctx, now=late + timedelta(days=1))).majors_escalated == 0
    events = (
        await client.get(f"/api/v1/cases/{case_id}/events", headers=await auth("dashi.mediator"))
    ).json()
    assert [e["kind"] for e in events][-3:] == ["major_report", "major_escalated", "major_ack"]
    assert "逾期" in events[-1]["reason"]
    listed = (await client.get("/api/v1/major-reports", headers=await auth("zhangpu.coordinator"))).json()
    assert [r["id"] for r in listed["items"]] == [report_id] and listed["ack_hours"] == hours


async def test_the_figures_and_the_ids_behind_them(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    dashi, wulian = await auth("dashi.mediator"), await auth("wulian.mediator")
    zero = await record(client, dashi, held_at="2026-02-27T09:00:00+08:00")
    busy = await record(
        client,
        dashi,
        nothing_found=False,
        disputes=[found(), found(summary="噪音扰民")],
        disputes_prevented=2,
    )
    crime = await major_round(client, dashi, ["crime", "suicide"])
    happened = await major_round(client, dashi, ["suicide"])
    unacknowledged = await major_round(client, dashi, ["mass_incident"])
    elsewhere = await record(
        client, wulian, held_at="2026-02-28T09:00:00+08:00", nothing_found=False, disputes_prevented=4
    )
    before = await record(client, wulian, held_at="2026-01-31T09:00:00+08:00")  # outside February, in Kunshan

    town = await auth("zhangpu.coordinator")
    for made in (crime, happened):
        rid = made["cases"][0]["major_report_id"]
        assert (
            await client.post(f"/api/v1/major-reports/{rid}/acknowledge", json={}, headers=town)
        ).status_code == 200
    occurred = await client.post(
        f"/api/v1/major-reports/{happened['cases'][0]['major_report_id']}/occurred", headers=town
    )
    assert occurred.status_code == 200 and occurred.json()["occurred_at"]
    # Close the three reported cases (不予受理) on 2 March.
    for made in (crime, happened, unacknowledged):
        case = (await client.get(f"/api/v1/cases/{made['cases'][0]['id']}", headers=dashi)).json()
        await move(client, dashi, case, "close", outcome="rejected", reason="已由信访部门受理")

    feb = (
        datetime(2026, 1, 31, 16, 0, tzinfo=UTC),
        datetime(2026, 2, 28, 16, 0, tzinfo=UTC),
    )  # Kunshan's February
    mar = feb[1], datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    zhangpu = db.ctx.org.subtree(ZHANGPU)
    async with db.engine.connect() as conn:
        assert await figures.screening_figures(conn, zhangpu, *feb) == {
            "rounds": 1,
            "disputes_found": 0,
            "disputes_prevented": 0,
            "zero_reports": 1,
        }
        assert await figures.screening_figures(conn, None, *feb) == {
            "rounds": 2,
            "disputes_found": 0,
            "disputes_prevented": 4,
            "zero_reports": 1,
        }
        assert await figures.screening_figures(conn, zhangpu, *mar) == {
            "rounds": 4,
            "disputes_found": 5,
            "disputes_prevented": 2,
            "zero_reports": 0,
        }
        ids = await figures.screening_figure_ids(conn, zhangpu, *mar)
        march_rounds = [busy["id"], crime["id"], happened["id"], unacknowledged["id"]]
        assert ids == {
            "rounds": sorted(march_rounds),
            "disputes_found": sorted(
                c["id"] for r in (busy, crime, happened, unacknowledged) for c in r["cases"]
            ),
            "disputes_prevented": [busy["id"]],
            "zero_reports": [],
        }
        feb_ids = await figures.screening_figure_ids(conn, None, *feb)
        assert (feb_ids["zero_reports"], feb_ids["disputes_prevented"]) == ([zero["id"]], [elsewhere["id"]])
        assert before["id"] not in feb_ids["rounds"]  # 31 January 09:00 in Kunshan
        # Prevention: acknowledged, not recorded as having happened, closed in the period.
        assert await figures.prevention_figures(conn, zhangpu, *mar) == {
            "suicide_prevented": 1,
            "group_fight_prevented": 0,
            "crime_prevented": 1,
            "mass_incident_prevented": 0,
        }
        assert await figures.prevention_figure_ids(conn, None, *mar) == {
            "suicide_prevented": [crime["cases"][0]["id"]],
            "group_fight_prevented": [],
            "crime_prevented": [crime["cases"][0]["id"]],
            "mass_incident_prevented": [],
        }
        assert set((await figures.prevention_figures(conn, db.ctx.org.subtree(YUSHAN), *mar)).values()) == {0}
        assert set((await figures.prevention_figures(conn, zhangpu, *feb)).values()) == {0}
    over_http = await client.get(
        "/api/v1/screening/figures",
        params={"start": mar[0].isoformat(), "end": mar[1].isoformat()},
        headers=town,
    )
    assert over_http.status_code == 200, over_http.text
    assert over_http.json()["screening"]["rounds"] == 4
    assert over_http.json()["prevention"]["crime_prevented"] == 1


async def test_a_retry_with_the_same_key_records_one_round(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    h = {**await auth("dashi.mediator"), "Idempotency-Key": "phone-retry-1"}
    body = round_body(nothing_found=False, disputes=[found()])
    first = await client.post("/api/v1/screening", json=body, headers=h)
    again = await client.post("/api/v1/screening", json=body, headers=h)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["cases"] == first.json()["cases"]
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(rounds))).scalar_one() == 1
        assert (await conn.execute(sa.text("SELECT count(*) FROM cases"))).scalar_one() == 1
    other = await client.post("/api/v1/screening", json=round_body(), headers=h)
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    # The key is the person's: a colleague's same key records their own round.
    colleague = {**await auth("zhouxiang.mediator"), "Idempotency-Key": "phone-retry-1"}
    assert (await client.post("/api/v1/screening", json=round_body(), headers=colleague)).status_code == 201


async def test_retention_keeps_who_reported_what_risk_and_drops_what_was_said(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    from service.privacy.pipl import ANONYMISED, anonymise_closed_cases
    from service.screening.major import reseal_reports
    from service.screening.queries import major

    dashi = await auth("dashi.mediator")
    made = await major_round(client, dashi, ["crime"])
    case = (await client.get(f"/api/v1/cases/{made['cases'][0]['id']}", headers=dashi)).json()
    async with db.engine.connect() as conn:
        stored = (await conn.execute(sa.select(major.c.statement))).scalar_one()
    assert "村民聚集" not in stored  # sealed with the data key
    assert await reseal_reports(db.engine, db.ctx.cipher) == 1
    await move(client, dashi, case, "close", outcome="rejected", reason="已由信访部门受理")
    later = FIXED_NOW + timedelta(days=1900)
    assert (
        await anonymise_closed_cases(db.engine, db.ctx, closed_before_days=1825, actor="test", now=later) == 1
    )
    report = (
        await client.get(
            f"/api/v1/major-reports/{made['cases'][0]['major_report_id']}",
            headers=await auth("city.coordinator"),
        )
    ).json()
    assert (report["statement"], report["risks"], report["to_unit_codes"]) == (
        ANONYMISED,
        ["crime"],
        [ZHANGPU, CITY],
    )


async def test_a_participant_named_by_roster_id_is_on_the_units_roster(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    from tests.builders import add_mediator

    ours = await add_mediator(db.engine, "排查调解员", [DASHI])
    theirs = await add_mediator(db.engine, "五联调解员", [WULIAN])
    h = await auth("dashi.mediator")
    made = await record(
        client, h, participants=[{"name": "排查调解员", "mediator_id": ours}, {"name": "网格员"}]
    )
    assert made["participants"][0] == {"name": "排查调解员", "mediator_id": ours}
    wrong = await client.post(
        "/api/v1/screening",
        json=round_body(participants=[{"name": "五联调解员", "mediator_id": theirs}]),
        headers=h,
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "body.participants.0.mediator_id"


async def test_a_case_registered_as_a_group_dispute_is_reported_at_once(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    from tests.builders import open_case

    city = await auth("city.coordinator")
    plain = await open_case(client, await auth("dashi.mediator"))
    group = await open_case(client, city, flags=["group_dispute"], people_involved=40)
    both = await open_case(client, city, flags=["group_dispute", "criminal_risk"], people_involved=40)
    reported = {
        c["id"]: [
            r["risks"]
            for r in (await client.get(f"/api/v1/cases/{c['id']}/major-reports", headers=city)).json()
        ]
        for c in (plain, group, both)
    }
    assert reported == {plain["id"]: [], group["id"]: [["group"]], both["id"]: [["group", "crime"]]}
    events = (await client.get(f"/api/v1/cases/{group['id']}/events", headers=city)).json()
    assert [e["kind"] for e in events] == ["created", "major_report"]
    # A round's group dispute with its own report is reported once, with both risks.
    made = await record(
        client,
        await auth("dashi.mediator"),
        nothing_found=False,
        disputes=[found(flags=["group_dispute"], major={"risks": ["suicide"], "statement": "有人扬言轻生"})],
    )
    [report] = (
        await client.get(f"/api/v1/cases/{made['cases'][0]['id']}/major-reports", headers=city)
    ).json()
    assert report["risks"] == ["group", "suicide"]


async def test_crime_prevented_also_counts_acknowledged_crime_risk_reports(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    from tests.builders import open_case

    city, police = await auth("city.coordinator"), await auth("zhangpu.police")
    risky = await open_case(client, city, flags=["criminal_risk"], summary="宅基地争执，一方扬言动刀")
    unheard = await open_case(client, city, flags=["criminal_risk"], summary="邻里争执，一方扬言报复")
    reports = (await client.get(f"/api/v1/cases/{risky['id']}/crime-reports", headers=city)).json()
    to_police = next(r for r in reports if r["to_unit_code"] == "PS-320583106")
    ack = await client.post(
        f"/api/v1/cases/{risky['id']}/crime-reports/{to_police['id']}/acknowledge", json={}, headers=police
    )
    assert ack.status_code == 200, ack.text
    for case in (risky, unheard):
        fresh = (await client.get(f"/api/v1/cases/{case['id']}", headers=city)).json()
        await move(client, city, fresh, "close", outcome="rejected", reason="已由派出所处理")
    march = datetime(2026, 2, 28, 16, 0, tzinfo=UTC), datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    async with db.engine.connect() as conn:
        ids = await figures.prevention_figure_ids(conn, None, *march)
        counted = await figures.prevention_figures(conn, None, *march)
        town = await figures.prevention_figures(conn, db.ctx.org.subtree(YUSHAN), *march)
    assert ids["crime_prevented"] == [risky["id"]]  # the unacknowledged one does not count
    assert counted["crime_prevented"] == 1 and town["crime_prevented"] == 0


async def test_the_towns_inbox_leads_to_the_register_and_to_the_reported_case(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE
    from tests.conftest import token_for

    made = await major_round(client, await auth("dashi.mediator"), ["group_fight"])
    policy = policy_of(db.ctx).model_copy(update={"starts_on": datetime(2026, 1, 1).date()})
    assert await flag_missing(db.engine, db.ctx, now=FIXED_NOW, policy=policy) > 0
    for lang, missing_word, major_word in (
        ("zh", "未报送排查情况", "群体性械斗风险"),
        ("en", "Screening not reported", "Risk of a group fight"),
    ):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test"
        ) as web:
            web.cookies.set(SESSION_COOKIE, await token_for(client, db, "zhangpu.coordinator"))
            web.cookies.set(LANGUAGE_COOKIE, lang)
            page = await web.get("/inbox")
            assert page.status_code == 200, page.text
            html = page.text
        assert f'href="/cases/{made["cases"][0]["id"]}"' in html  # the major report: to its case
        assert "/crime-reports/" not in html  # not mistaken for a crime report
        assert 'href="/screening"' in html and "/audit?actor=" not in html
        assert missing_word in html and major_word in html
        assert "2026-02" in html
