"""Corrections to a case and its parties are version-checked and audited."""

from __future__ import annotations

import httpx
import pytest

from tests.builders import open_case
from tests.conftest import Backend

pytestmark = pytest.mark.usefixtures("trail_stays_intact")


async def test_editing_a_case_records_old_and_new_values(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    response = await client.patch(
        f"/api/v1/cases/{case['id']}",
        json={"amount_yuan": 4500, "flags": ["cross_area"], "reason": "补充维修发票"},
        headers={**mediator, "If-Match": '"1"'},
    )

    assert response.status_code == 200, response.text
    edited = response.json()
    assert (edited["amount_yuan"], edited["flags"], edited["version"]) == (4500, ["cross_area"], 2)
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    assert events[-1]["kind"] == "edit"
    assert events[-1]["reason"] == "补充维修发票"
    assert events[-1]["payload"]["changes"]["amount_yuan"] == ["3000.00", "4500.00"]
    assert events[-1]["payload"]["changes"]["flag_cross_area"] == [False, True]


async def test_edit_with_stale_version_is_412_and_changes_nothing(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    await client.patch(f"/api/v1/cases/{case['id']}", json={"people_involved": 3}, headers=mediator)

    stale = await client.patch(
        f"/api/v1/cases/{case['id']}", json={"people_involved": 9}, headers={**mediator, "If-Match": '"1"'}
    )

    assert stale.status_code == 412
    assert (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json()["people_involved"] == 3


async def test_empty_or_unknown_edits_are_422(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    empty = await client.patch(f"/api/v1/cases/{case['id']}", json={}, headers=mediator)
    unknown = await client.patch(f"/api/v1/cases/{case['id']}", json={"state": "closed"}, headers=mediator)
    cleared = await client.patch(f"/api/v1/cases/{case['id']}", json={"summary": None}, headers=mediator)

    assert empty.status_code == unknown.status_code == cleared.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "body.state"


async def test_auditor_cannot_edit_and_other_village_gets_404(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    case = await open_case(client, await auth("dashi.mediator"))

    as_auditor = await client.patch(
        f"/api/v1/cases/{case['id']}", json={"people_involved": 4}, headers=await auth("auditor")
    )
    as_wulian = await client.patch(
        f"/api/v1/cases/{case['id']}", json={"people_involved": 4}, headers=await auth("wulian.mediator")
    )

    assert as_auditor.status_code == 409
    assert as_wulian.status_code == 404


async def test_party_is_added_and_corrected_with_audit(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    added = await client.post(
        f"/api/v1/cases/{case['id']}/parties",
        json={"name": "物业公司", "role": "third_party", "kind": "organisation"},
        headers=mediator,
    )
    assert added.status_code == 201
    assert [p["name"] for p in added.json()["parties"]][-1] == "物业公司"

    party_id = case["parties"][0]["id"]
    fixed = await client.patch(
        f"/api/v1/cases/{case['id']}/parties/{party_id}",
        json={"phone": "13900005678", "reason": "当事人更换号码"},
        headers={**mediator, "If-Match": f'"{added.json()["version"]}"'},
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["parties"][0]["phone"] == "139****5678"  # masked by default
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    assert events[-1]["payload"] == {
        "party_id": party_id,
        "changes": {"phone": ["138****1234", "139****5678"]},
    }

    missing = await client.patch(
        f"/api/v1/cases/{case['id']}/parties/999999", json={"phone": "13900005678"}, headers=mediator
    )
    assert missing.status_code == 404


async def test_closed_case_cannot_be_edited(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    closed = await client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "withdraw", "reason": "撤回"},
        headers=mediator,
    )
    assert closed.json()["state"] == "closed"

    response = await client.patch(
        f"/api/v1/cases/{case['id']}", json={"people_involved": 4}, headers=mediator
    )

    assert response.status_code == 409


async def test_nul_characters_and_huge_ids_are_4xx_not_500(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    nul_summary = await client.patch(
        f"/api/v1/cases/{case['id']}", json={"summary": "a\x00b"}, headers=mediator
    )
    nul_reason = await client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "decline", "reason": "\x00"},
        headers=mediator,
    )
    nul_query = await client.get("/api/v1/cases", params={"q": "x\x00"}, headers=mediator)
    huge = await client.get(f"/api/v1/cases/{2**70}", headers=mediator)
    nul_login = await client.post("/api/v1/auth/token", data={"username": "a\x00", "password": "x"})

    assert (
        nul_summary.status_code == nul_reason.status_code == nul_query.status_code == huge.status_code == 422
    )
    assert nul_login.status_code in (401, 422)
