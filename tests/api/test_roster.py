"""The mediators' roster over HTTP: who reads and keeps which rosters, edits against a version,
deactivation, personal data sealed and masked, and every change in the security log."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.builders import DASHI, WULIAN, ZHANGPU, ZHOUXIANG
from tests.conftest import Backend

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

ID_NUMBER = "320583198001011238"
PHONE = "13812345678"


def person(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "赵敏",
        "units": [DASHI],
        "employment": "part_time",
        "specialties": ["NEIGHBOUR", "MARRIAGE_FAMILY"],
        "languages": ["普通话", "昆山话"],
        "qualifications": "法律职业资格",
        "grade": "二级",
        "court_roster_no": "TY-2026-017",
        "court_roster_from": "2026-01-01",
        "court_roster_until": "2027-12-31",
        "id_number": ID_NUMBER,
        "phone": PHONE,
    }
    body.update(changes)
    return body


async def security_events(db: Backend, kind: str) -> list[Any]:
    from service.audit.events import security_events as table

    async with db.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(table.c.actor, table.c.reason, table.c.payload)
                    .where(table.c.kind == kind)
                    .order_by(table.c.id)
                )
            ).all()
        )


async def test_a_coordinator_adds_a_mediator_whose_personal_data_is_sealed_and_shown_masked(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")

    response = await client.post("/api/v1/mediators", json=person(), headers=coordinator)

    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["ETag"] == '"1"'
    assert (created["name"], created["units"], created["employment"]) == ("赵敏", [DASHI], "part_time")
    assert created["id_number"] == "320583********1238"
    assert created["phone"] == "138****5678"
    async with db.engine.connect() as conn:
        stored = (
            await conn.execute(
                sa.text("SELECT id_number, phone, id_number_index FROM mediator WHERE id = :id"),
                {"id": created["id"]},
            )
        ).one()
    assert ID_NUMBER not in stored.id_number and PHONE not in stored.phone
    assert stored.id_number_index
    (event,) = await security_events(db, "mediator_created")
    assert event.actor == "zhangpu.coordinator"
    assert event.payload["mediator_id"] == created["id"]
    assert ID_NUMBER not in str(event.payload) and PHONE not in str(event.payload)


async def test_the_roster_is_filtered_by_unit_activity_specialty_and_name(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    for body in (
        person(name="甲调解员", id_number=None, phone=None),
        person(name="乙调解员", units=[ZHOUXIANG], specialties=["CONTRACT"], id_number=None, phone=None),
    ):
        assert (await client.post("/api/v1/mediators", json=body, headers=coordinator)).status_code == 201

    async def names(**params: Any) -> list[str]:
        response = await client.get("/api/v1/mediators", params=params, headers=coordinator)
        assert response.status_code == 200, response.text
        return [m["name"] for m in response.json()["items"]]

    assert {"甲调解员", "乙调解员"} <= set(await names(unit=ZHANGPU))
    assert "乙调解员" not in await names(unit=DASHI)
    assert await names(q="调解员", specialty="CONTRACT") == ["乙调解员"]
    assert await names(q="乙调解", unit=ZHOUXIANG, active=True) == ["乙调解员"]
    assert await names(q="乙调解", active=False) == []


async def test_a_mediator_reads_only_the_roster_of_their_own_unit(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    at_dashi = (await client.post("/api/v1/mediators", json=person(), headers=coordinator)).json()
    yushan = await auth("yushan.coordinator")
    at_wulian = (
        await client.post(
            "/api/v1/mediators", json=person(name="钱多", units=[WULIAN], id_number=None), headers=yushan
        )
    ).json()
    mediator = await auth("dashi.mediator")

    listed = (await client.get("/api/v1/mediators", headers=mediator)).json()["items"]
    own = await client.get(f"/api/v1/mediators/{at_dashi['id']}", headers=mediator)
    other = await client.get(f"/api/v1/mediators/{at_wulian['id']}", headers=mediator)
    other_unit = await client.get("/api/v1/mediators", params={"unit": WULIAN}, headers=mediator)

    assert {m["units"][0] for m in listed} == {DASHI}
    assert own.status_code == 200
    assert own.json()["phone"] == "138****5678"
    assert (other.status_code, other.headers["content-type"]) == (404, "application/problem+json")
    assert other_unit.status_code == 404


async def test_a_mediator_of_another_town_cannot_see_or_change_a_record(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    created = (await client.post("/api/v1/mediators", json=person(), headers=coordinator)).json()
    wulian = await auth("wulian.mediator")
    yushan = await auth("yushan.coordinator")

    seen = await client.get(f"/api/v1/mediators/{created['id']}", headers=wulian)
    edited = await client.patch(f"/api/v1/mediators/{created['id']}", json={"grade": "一级"}, headers=wulian)
    by_other_town = await client.patch(
        f"/api/v1/mediators/{created['id']}", json={"grade": "一级"}, headers=yushan
    )
    added_elsewhere = await client.post("/api/v1/mediators", json=person(id_number=None), headers=yushan)

    assert seen.status_code == 404
    assert edited.status_code == 403
    assert by_other_town.status_code == 404
    assert added_elsewhere.status_code == 404


async def test_a_mediator_cannot_add_edit_or_deactivate(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    created = (await client.post("/api/v1/mediators", json=person(), headers=coordinator)).json()
    mediator = await auth("dashi.mediator")

    added = await client.post("/api/v1/mediators", json=person(id_number=None, name="新人"), headers=mediator)
    edited = await client.patch(
        f"/api/v1/mediators/{created['id']}", json={"grade": "一级"}, headers=mediator
    )
    deactivated = await client.post(f"/api/v1/mediators/{created['id']}/deactivate", headers=mediator)

    assert [added.status_code, edited.status_code, deactivated.status_code] == [403, 403, 403]
    again = (await client.get(f"/api/v1/mediators/{created['id']}", headers=mediator)).json()
    assert (again["grade"], again["active"], again["version"]) == ("二级", True, 1)


async def test_an_edit_with_a_stale_version_is_412_and_changes_nothing(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    created = (await client.post("/api/v1/mediators", json=person(), headers=coordinator)).json()
    first = await client.patch(
        f"/api/v1/mediators/{created['id']}",
        json={"grade": "一级", "phone": "13900001111", "reason": "晋级"},
        headers={**coordinator, "If-Match": '"1"'},
    )
    assert first.status_code == 200, first.text
    assert (first.json()["grade"], first.json()["phone"], first.json()["version"]) == (
        "一级",
        "139****1111",
        2,
    )

    stale = await client.patch(
        f"/api/v1/mediators/{created['id']}",
        json={"grade": "三级"},
        headers={**coordinator, "If-Match": '"1"'},
    )

    assert stale.status_code == 412
    assert stale.headers["ETag"] == '"2"'
    assert stale.json()["current_version"] == 2
    current = (await client.get(f"/api/v1/mediators/{created['id']}", headers=coordinator)).json()
    assert current["grade"] == "一级"
    (event,) = await security_events(db, "mediator_changed")
    assert event.reason == "晋级"
    assert event.payload["fields"] == ["grade", "phone"]
    assert "13900001111" not in str(event.payload)


async def test_invalid_fields_are_named(client: httpx.AsyncClient, auth: Any, db: Backend) -> None:
    coordinator = await auth("zhangpu.coordinator")

    dates = await client.post(
        "/api/v1/mediators",
        json=person(court_roster_from="2027-01-01", court_roster_until="2026-01-01"),
        headers=coordinator,
    )
    check_digit = await client.post(
        "/api/v1/mediators", json=person(id_number="320583198001011239"), headers=coordinator
    )
    specialty = await client.post(
        "/api/v1/mediators", json=person(specialties=["GOSSIP"]), headers=coordinator
    )
    employment = await client.post(
        "/api/v1/mediators", json=person(employment="volunteer"), headers=coordinator
    )
    unit = await client.post("/api/v1/mediators", json=person(units=["NOWHERE"]), headers=coordinator)
    user = await client.post("/api/v1/mediators", json=person(username="nobody.here"), headers=coordinator)

    def fields(response: httpx.Response) -> list[str]:
        assert response.status_code == 422, response.text
        return [e["field"] for e in response.json()["errors"]]

    assert fields(dates) == ["body.court_roster_until"]
    assert fields(check_digit) == ["body.id_number"]
    assert fields(specialty) == ["body.specialties.0"]
    assert fields(employment) == ["body.employment"]
    assert fields(unit) == ["body.units[0]"]
    assert fields(user) == ["body.username"]


async def test_a_sign_in_links_to_one_roster_record_only(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")

    # dashi.mediator's sign-in is already on the demo roster.
    twice = await client.post(
        "/api/v1/mediators", json=person(username="dashi.mediator", id_number=None), headers=coordinator
    )

    assert twice.status_code == 409
    assert twice.headers["content-type"] == "application/problem+json"


async def test_deactivating_keeps_the_record_and_records_who_and_why(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    created = (await client.post("/api/v1/mediators", json=person(), headers=coordinator)).json()

    response = await client.post(
        f"/api/v1/mediators/{created['id']}/deactivate", json={"reason": "调离本镇"}, headers=coordinator
    )

    assert response.status_code == 200, response.text
    gone = response.json()
    assert (gone["active"], gone["version"]) == (False, 2)
    assert gone["deactivated_at"] is not None
    inactive = (
        await client.get("/api/v1/mediators", params={"active": "false", "unit": DASHI}, headers=coordinator)
    ).json()
    assert created["id"] in [m["id"] for m in inactive["items"]]
    again = await client.post(f"/api/v1/mediators/{created['id']}/deactivate", headers=coordinator)
    assert again.json()["version"] == 2  # asking twice changes nothing
    back = await client.post(f"/api/v1/mediators/{created['id']}/reactivate", headers=coordinator)
    assert (back.json()["active"], back.json()["deactivated_at"]) == (True, None)
    (event,) = await security_events(db, "mediator_deactivated")
    assert (event.actor, event.reason, event.payload["mediator_id"]) == (
        "zhangpu.coordinator",
        "调离本镇",
        created["id"],
    )
    assert len(await security_events(db, "mediator_reactivated")) == 1


async def test_a_town_coordinator_keeps_units_outside_their_scope_on_a_shared_record(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    admin = await auth("admin")
    shared = (
        await client.post("/api/v1/mediators", json=person(units=[DASHI, WULIAN]), headers=admin)
    ).json()
    coordinator = await auth("zhangpu.coordinator")

    moved = await client.patch(
        f"/api/v1/mediators/{shared['id']}", json={"units": [ZHOUXIANG]}, headers=coordinator
    )

    assert moved.status_code == 200, moved.text
    assert moved.json()["units"] == sorted([ZHOUXIANG, WULIAN])


# --- the pages, as a browser without JavaScript uses them --------------------------------------


@pytest.fixture
async def pages(db: Backend, client: httpx.AsyncClient) -> Any:
    """``await pages("zhangpu.coordinator")``: a cookie-carrying client signed in as that user."""
    from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE, csrf_token
    from tests.conftest import token_for

    opened: list[httpx.AsyncClient] = []

    async def make(username: str, lang: str | None = None) -> httpx.AsyncClient:
        web = httpx.AsyncClient(transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test")
        token = await token_for(client, db, username)
        web.cookies.set(SESSION_COOKIE, token)
        web.headers["X-Test-Csrf"] = csrf_token(token)
        if lang:
            web.cookies.set(LANGUAGE_COOKIE, lang)
        opened.append(web)
        return web

    yield make
    for web in opened:
        await web.aclose()


def form(web: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    return {"csrf_token": web.headers["X-Test-Csrf"], **fields}


async def test_a_coordinator_adds_edits_and_deactivates_on_the_pages(pages: Any, db: Backend) -> None:
    web = await pages("zhangpu.coordinator")

    blank = await web.get("/roster/new")
    assert blank.status_code == 200
    wrong = await web.post(
        "/roster/new",
        data=form(
            web,
            name="郑和",
            units=[DASHI],
            employment="full_time",
            court_roster_from="2027-01-01",
            court_roster_until="2026-01-01",
            id_number="320583198001011239",
            languages="普通话；昆山话",
        ),
    )
    assert wrong.status_code == 422
    assert "身份证号不正确" in wrong.text and 'value="郑和"' in wrong.text

    added = await web.post(
        "/roster/new",
        data=form(
            web,
            name="郑和",
            units=[DASHI, ZHOUXIANG],
            employment="full_time",
            specialties=["NEIGHBOUR"],
            court_roster_no="TY-9",
            court_roster_from="2026-01-01",
            court_roster_until="2027-06-30",
            id_number=ID_NUMBER,
            phone=PHONE,
            languages="普通话；昆山话",
        ),
    )
    assert added.status_code == 303, added.text
    shown = await web.get(added.headers["location"])
    assert shown.status_code == 200
    assert "已添加" in shown.text and "2027年6月30日" in shown.text and "138****5678" in shown.text
    assert PHONE not in shown.text and ID_NUMBER not in shown.text
    mediator_id = int(added.headers["location"].split("/")[2].split("?")[0])

    edit_form = await web.get(f"/roster/{mediator_id}/edit")
    assert edit_form.status_code == 200 and 'name="version" value="1"' in edit_form.text
    stale = await web.post(
        f"/roster/{mediator_id}/edit",
        data=form(web, name="郑和", units=[DASHI], employment="part_time", version="0", languages=""),
    )
    assert stale.status_code == 412 and "已被他人修改" in stale.text
    saved = await web.post(
        f"/roster/{mediator_id}/edit",
        data=form(web, name="郑和", units=[DASHI], employment="part_time", version="1", languages="普通话"),
    )
    assert saved.status_code == 303, saved.text
    after = (await web.get(f"/roster/{mediator_id}")).text
    assert "兼职" in after and "138****5678" in after  # a blank phone kept the one on file

    gone = await web.post(f"/roster/{mediator_id}/deactivate", data=form(web, reason="退休"))
    assert gone.status_code == 303
    page = (await web.get(gone.headers["location"])).text
    assert "已停用，记录仍保留" in page and "恢复在册" in page
    listed = await web.get("/roster", params={"active": "no", "unit": DASHI})
    assert "郑和" in listed.text


async def test_a_mediator_reads_the_roster_page_without_buttons_to_change_it(pages: Any, db: Backend) -> None:
    web = await pages("dashi.mediator")

    listed = await web.get("/roster")
    add = await web.get("/roster/new")
    imports = await web.get("/roster/import")

    assert listed.status_code == 200
    assert "调解员名册" in listed.text and "王芳" in listed.text
    assert "/roster/new" not in listed.text
    assert add.status_code == 403 and imports.status_code == 403


async def test_the_roster_pages_read_in_english(pages: Any, db: Backend) -> None:
    web = await pages("zhangpu.coordinator", lang="en")

    listed = await web.get("/roster")
    imports = await web.get("/roster/import")

    assert listed.status_code == 200 and "Mediator roster" in listed.text
    assert "Full-time" in listed.text or "Part-time" in listed.text
    assert imports.status_code == 200 and "Preview only" in imports.text


async def test_the_import_page_lists_every_bad_row_and_imports_a_good_file(pages: Any, db: Backend) -> None:
    web = await pages("zhangpu.coordinator")
    header = "姓名,单位,专兼职,擅长\n"
    bad = header + f"甲,{DASHI},专职,邻里\n乙,NOWHERE,临时,算命\n丙,{WULIAN},兼职,\n"

    rejected = await web.post(
        "/roster/import", data=form(web), files={"file": ("名册.csv", bad.encode(), "text/csv")}
    )

    assert rejected.status_code == 422
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", rejected.text)
    assert rows == [
        ("3", "单位", "没有这个单位代码"),
        ("3", "专兼职", "请填写“专职”或“兼职”"),
        ("3", "擅长", "不是纠纷类型（如 邻里、婚姻家庭）"),
        ("4", "单位", "该单位不在您的管理范围内"),
    ]
    good = header + f"甲,{DASHI},专职,邻里\n乙,{ZHOUXIANG},兼职,合同\n"
    preview = await web.post(
        "/roster/import", data=form(web, dry_run="1"), files={"file": ("名册.csv", good.encode(), "text/csv")}
    )
    assert preview.status_code == 200 and "预览：将新增 2 人" in preview.text
    done = await web.post(
        "/roster/import", data=form(web), files={"file": ("名册.csv", good.encode(), "text/csv")}
    )
    assert done.status_code == 200 and "已导入：新增 2 人" in done.text
    pdf = await web.post(
        "/roster/import", data=form(web), files={"file": ("a.pdf", b"%PDF", "application/pdf")}
    )
    assert pdf.status_code == 415 and "只能导入 CSV 或 XLSX" in pdf.text


async def test_a_key_rotation_reseals_mediators_and_their_blind_index_follows(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    from service.mediators.service import reseal_mediators
    from service.personal.crypto import DataCipher, new_key_line
    from tests.conftest import TEST_DATA_KEY

    coordinator = await auth("zhangpu.coordinator")
    created = (await client.post("/api/v1/mediators", json=person(), headers=coordinator)).json()
    k2 = new_key_line("k2")
    rotated = DataCipher.from_text(f"{k2},{TEST_DATA_KEY}")

    assert await reseal_mediators(db.engine, rotated) >= 1

    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text("SELECT id_number, phone, id_number_index FROM mediator WHERE id = :id"),
                {"id": created["id"]},
            )
        ).one()
    assert row.id_number.split(":")[1] == "k2"
    assert rotated.decrypt(row.id_number, "id_number") == ID_NUMBER
    assert rotated.decrypt(row.phone, "phone") == PHONE
    assert row.id_number_index == rotated.blind_index(ID_NUMBER, "id_number")
    # Back under the test key, so the rest of the run reads what it wrote.
    await reseal_mediators(db.engine, DataCipher.from_text(f"{TEST_DATA_KEY},{k2}"))


async def test_a_coordinator_links_only_the_sign_ins_of_their_own_units(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    coordinator = await auth("zhangpu.coordinator")

    other_town = await client.post(
        "/api/v1/mediators", json=person(username="wulian.mediator", id_number=None), headers=coordinator
    )
    own = await client.post(
        "/api/v1/mediators", json=person(username="zhangpu.coordinator", id_number=None), headers=coordinator
    )

    assert other_town.status_code == 422
    assert [e["field"] for e in other_town.json()["errors"]] == ["body.username"]
    assert own.status_code == 201, own.text
    assert own.json()["username"] == "zhangpu.coordinator"


async def test_a_sign_in_outside_the_editors_scope_stays_linked_through_an_edit(
    client: httpx.AsyncClient, auth: Any, db: Backend, pages: Any
) -> None:
    admin = await auth("admin")
    linked = (
        await client.post("/api/v1/mediators", json=person(username="city.coordinator"), headers=admin)
    ).json()
    coordinator = await auth("zhangpu.coordinator")
    web = await pages("zhangpu.coordinator")
    page_form = await web.get(f"/roster/{linked['id']}/edit")
    assert 'value="city.coordinator"' in page_form.text

    api_edit = await client.patch(
        f"/api/v1/mediators/{linked['id']}",
        json={"grade": "一级", "username": "city.coordinator"},
        headers=coordinator,
    )
    page_edit = await web.post(
        f"/roster/{linked['id']}/edit",
        data=form(
            web,
            name="赵敏",
            units=[DASHI],
            employment="part_time",
            version="2",
            grade="特级",
            username="city.coordinator",
            languages="",
        ),
    )

    assert api_edit.status_code == 200, api_edit.text
    assert page_edit.status_code == 303, page_edit.text
    after = (await client.get(f"/api/v1/mediators/{linked['id']}", headers=coordinator)).json()
    assert (after["grade"], after["username"]) == ("特级", "city.coordinator")
