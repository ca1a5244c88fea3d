"""Personal data: masked everywhere by default, encrypted at rest, revealed only with a reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.clock import SHANGHAI
from service.personal.crypto import DataCipher, new_key_line
from service.privacy.parties import reseal_all
from tests.builders import DASHI, move, open_case
from tests.conftest import FIXED_NOW, TEST_DATA_KEY, Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

ID_NUMBER = "320583198001011234"
PHONE = "13800001234"


async def test_personal_data_is_masked_in_every_response(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    created = await open_case(
        client,
        mediator,
        parties=[
            {
                "name": "王秀英",
                "role": "applicant",
                "id_number": ID_NUMBER,
                "phone": PHONE,
                "address": "昆山市张浦镇大市社区幸福路88号",
            }
        ],
    )
    read = (await client.get(f"/api/v1/cases/{created['id']}", headers=mediator)).json()

    for case in (created, read):
        party = case["parties"][0]
        assert party["id_number"] == "320583********1234"
        assert party["phone"] == "138****1234"
        assert party["address"] == "昆山市张浦镇****"
    events = (await client.get(f"/api/v1/cases/{created['id']}/events", headers=mediator)).text
    assert ID_NUMBER not in events and PHONE not in events


async def test_personal_data_is_encrypted_at_rest(client: httpx.AsyncClient, auth, db: Backend) -> None:
    await open_case(client, await auth("dashi.mediator"))

    async with db.engine.connect() as conn:
        row = (
            await conn.execute(sa.text("SELECT id_number, phone, id_number_index FROM party LIMIT 1"))
        ).one()
        dump = " ".join(str(v) for r in (await conn.execute(sa.text("SELECT * FROM party"))).all() for v in r)

    assert row.id_number.startswith("v1:k1:") and row.phone.startswith("v1:k1:")
    assert ID_NUMBER not in dump and PHONE not in dump
    assert len(row.id_number_index) == 64


async def test_reveal_needs_a_reason_the_right_role_and_is_audited(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    party = case["parties"][0]["id"]
    url = f"/api/v1/cases/{case['id']}/parties/{party}/reveal"

    shown = await client.post(
        url, json={"reason": "电话通知当事人到场调解", "fields": ["phone"]}, headers=mediator
    )
    no_reason = await client.post(url, json={}, headers=mediator)
    by_auditor = await client.post(url, json={"reason": "抽查"}, headers=await auth("auditor"))
    other_village = await client.post(url, json={"reason": "看看"}, headers=await auth("wulian.mediator"))

    assert shown.status_code == 200
    assert shown.json() == {"party_id": party, "name": "王秀英", "phone": PHONE}
    assert (no_reason.status_code, by_auditor.status_code, other_village.status_code) == (422, 403, 404)
    async with db.engine.connect() as conn:
        events = (
            await conn.execute(
                sa.text("SELECT kind, actor, reason, party_id FROM security_event WHERE kind = 'reveal'")
            )
        ).all()
    assert [tuple(e) for e in events] == [("reveal", "dashi.mediator", "电话通知当事人到场调解", party)]


async def test_a_case_is_found_by_a_partys_id_number(client: httpx.AsyncClient, auth, db: Backend) -> None:
    coordinator = await auth("zhangpu.coordinator")
    case = await open_case(
        client,
        await auth("dashi.mediator"),
        parties=[{"name": "张三", "role": "applicant", "id_number": "32058319900101123x"}],
    )

    found = (
        await client.get("/api/v1/cases", params={"id_number": "32058319900101123X"}, headers=coordinator)
    ).json()
    none = (
        await client.get("/api/v1/cases", params={"id_number": "320583199001011230"}, headers=coordinator)
    ).json()

    assert [c["id"] for c in found["items"]] == [case["id"]]
    assert none["total"] == 0


async def test_plaintext_rows_are_sealed_and_a_key_rotation_keeps_everything_readable(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    async with db.engine.begin() as conn:  # a row written before encryption existed
        await conn.execute(
            sa.text("UPDATE party SET phone = :p WHERE case_id = :c AND role = 'applicant'"),
            {"p": PHONE, "c": case["id"]},
        )
    assert await reseal_all(db.engine, db.ctx.cipher, only_plaintext=True) == 1

    rotated = DataCipher.from_text(new_key_line("k2") + "," + TEST_DATA_KEY)
    assert await reseal_all(db.engine, rotated, only_plaintext=False) >= 2
    async with db.engine.connect() as conn:
        stored = (
            await conn.execute(
                sa.text("SELECT phone, id_number FROM party WHERE case_id = :c AND role = 'applicant'"),
                {"c": case["id"]},
            )
        ).one()
    assert stored.phone.startswith("v1:k2:")
    assert rotated.decrypt(stored.phone, "phone") == PHONE
    assert rotated.decrypt(stored.id_number, "id_number") == ID_NUMBER


async def test_a_sensitive_case_is_seen_only_by_its_unit_and_coordinators(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator, flags=["minor"])
    assert case["flags"] == ["minor"]
    # 大市 hands it to the police station: 大市 would normally follow its referral, but not this one.
    handed = await move(
        client,
        mediator,
        case,
        "hand_off",
        target_unit="PS-320583106",
        referral_kind="administrative",
        reason="治安",
    )

    async def status(user: str) -> int:
        return (await client.get(f"/api/v1/cases/{handed['id']}", headers=await auth(user))).status_code

    assert await status("zhangpu.police") == 200  # the unit that holds it
    assert await status("city.coordinator") == 200  # the coordinators above it
    assert await status("dashi.mediator") == 404  # the sender does not follow a sensitive case
    assert await status("auditor") == 404
    listed = (await client.get("/api/v1/cases", headers=await auth("auditor"))).json()
    assert handed["id"] not in [c["id"] for c in listed["items"]]


async def test_a_person_can_get_everything_held_about_them(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    from service.privacy.pipl import export_person

    mediator = await auth("dashi.mediator")
    first = await open_case(client, mediator)
    await open_case(client, mediator)  # the same applicant again

    export = await export_person(db.engine, db.ctx, ID_NUMBER, actor="test", now=FIXED_NOW)

    assert len(export["records"]) == 2
    assert {r["party"]["id_number"] for r in export["records"]} == {ID_NUMBER}
    assert export["records"][0]["case"]["id"] == first["id"]
    assert export["records"][0]["events"][0]["kind"] == "created"
    async with db.engine.connect() as conn:
        kinds = (await conn.execute(sa.text("SELECT kind FROM security_event"))).scalars().all()
    assert "privacy_export" in kinds


async def test_closed_cases_past_retention_lose_their_personal_data_but_not_their_statistics(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    from service.integrity.verify import verify_audit
    from service.privacy.pipl import anonymise_closed_cases

    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "withdraw", reason="撤回")
    later = FIXED_NOW + timedelta(days=10_000)

    with pytest.raises(ValueError):
        await anonymise_closed_cases(db.engine, db.ctx, closed_before_days=30, actor="test", now=later)
    assert (
        await anonymise_closed_cases(db.engine, db.ctx, closed_before_days=1825, actor="test", now=later) == 1
    )
    assert (
        await anonymise_closed_cases(db.engine, db.ctx, closed_before_days=1825, actor="test", now=later) == 0
    )

    after = (
        await client.get(f"/api/v1/cases/{case['id']}", headers=await auth("zhangpu.coordinator"))
    ).json()
    assert after["summary"] == "（已匿名化）"
    assert all(p["name"] == "（已匿名化）" and p["id_number"] is None for p in after["parties"])
    assert (after["dispute_type"], after["outcome"], after["amount_yuan"]) == ("NEIGHBOUR", "withdrawn", 3000)
    assert (await verify_audit(db.engine)).intact


# --- the court desk reveals only while the court has the case ----------------------------------

PARTY_IDS: dict[int, int] = {}  # case id → its first party
AGREEMENT = {
    "form": "written",
    "terms": "被申请人支付维修费 2000 元",
    "amount_yuan": 2000,
    "facts": "楼上漏水致楼下墙面受损",
    "performance_manner": "一次性转账",
    "performance_deadline": "2026-12-31",
    "signed_by_parties": True,
    "signed_by_mediator": True,
    "sealed": True,
    "touches": [],
}
APPLICATION = {
    "applicants": [{"party": "王秀英"}, {"party": "李建国"}],
    "materials": ["调解协议书"],
}


async def _clerk_reveal(client: httpx.AsyncClient, clerk: dict[str, str], case: dict[str, Any]) -> int:
    # A move that sent the case away answers with the mover's read-only view (no parties): the
    # case's first party is the one registered with it.
    party = case["parties"][0]["id"] if "parties" in case else PARTY_IDS[case["id"]]
    response = await client.post(
        f"/api/v1/cases/{case['id']}/parties/{party}/reveal",
        json={"reason": "法院核对当事人身份", "fields": ["id_number"]},
        headers=clerk,
    )
    if response.status_code == 200:
        assert response.json()["id_number"] == ID_NUMBER
    return response.status_code


async def test_a_court_clerk_reveals_at_each_step_the_court_holds(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    seen: dict[str, int] = {}
    case = await move(client, station, await open_case(client, station), "accept")
    PARTY_IDS[case["id"]] = case["parties"][0]["id"]
    seen["mediating at the station"] = await _clerk_reveal(client, clerk, case)
    case = await move(client, station, case, "terminate", termination_reason="gap_too_wide")
    case = await move(client, station, case, "refer_to_court", reason="调解不成，移送法院")
    seen["in the court's queue"] = await _clerk_reveal(client, clerk, case)
    case = await move(client, clerk, case, "claim")
    seen["claimed"] = await _clerk_reveal(client, clerk, case)
    case = await move(
        client,
        clerk,
        case,
        "delegate",
        target_unit=DASHI,
        court_case_number="(2026)苏0583民初1234号",
        procedure="ordinary",
    )
    seen["delegated, offered"] = await _clerk_reveal(client, clerk, case)
    case = await move(client, station, case, "accept")
    seen["delegated, mediating"] = await _clerk_reveal(client, clerk, case)
    case = await move(client, station, case, "settle", agreement=AGREEMENT)
    seen["delegation settled, back at the court"] = await _clerk_reveal(client, clerk, case)
    case = await move(client, clerk, case, "claim")
    case = await move(client, clerk, case, "close", outcome="mediation_statement")
    seen["closed by a mediation statement"] = await _clerk_reveal(client, clerk, case)

    assert seen == {
        "mediating at the station": 404,  # never the court's: not even seen
        "in the court's queue": 200,
        "claimed": 200,
        "delegated, offered": 200,
        "delegated, mediating": 200,
        "delegation settled, back at the court": 200,
        "closed by a mediation statement": 403,  # the court still reads it, masked, but no longer in full
    }


async def test_a_court_clerk_reveals_while_a_confirmation_application_is_before_the_court(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    seen: dict[str, int] = {}
    case = await move(client, station, await open_case(client, station), "accept")
    case = await move(client, station, case, "settle", agreement=AGREEMENT)
    seen["settled"] = await _clerk_reveal(client, clerk, case)
    today = frozen_clock.at.astimezone(SHANGHAI).date().isoformat()
    case = await move(client, station, case, "request_confirmation", applied_on=today, **APPLICATION)
    seen["confirmation applied for"] = await _clerk_reveal(client, clerk, case)
    case = await move(client, clerk, case, "accept_confirmation")
    seen["confirmation accepted"] = await _clerk_reveal(client, clerk, case)
    case = await move(client, clerk, case, "confirm")
    seen["confirmed"] = await _clerk_reveal(client, clerk, case)

    assert seen == {
        "settled": 404,  # never the court's until the parties apply
        "confirmation applied for": 200,
        "confirmation accepted": 200,
        "confirmed": 403,
    }


async def test_a_court_clerk_cannot_reveal_a_case_the_court_closed(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    case = await move(client, station, await open_case(client, station), "accept")
    case = await move(client, station, case, "terminate", termination_reason="gap_too_wide")
    case = await move(client, station, case, "refer_to_court", reason="调解不成，移送法院")
    case = await move(client, clerk, case, "claim")
    docketed = await move(client, clerk, case, "docket", reason="立案审理")

    assert docketed["state"] == "closed"
    assert await _clerk_reveal(client, clerk, docketed) == 403
