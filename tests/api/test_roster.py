"""The mediators' roster over HTTP: who reads and keeps which rosters, edits against a version,
deactivation, personal data sealed and masked, and every change in the security log."""

from __future__ import annotations

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
