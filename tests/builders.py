"""Builder functions for test data: plain functions, no factory magic."""

from __future__ import annotations

from typing import Any

import httpx

DASHI = "320583106005"  # 张浦镇 大市社区
ZHOUXIANG = "320583106009"  # 张浦镇 周巷社区
WULIAN = "320583100210"  # 玉山镇 五联村
ZHANGPU = "320583106"
YUSHAN = "320583100"
CITY = "320583"
COURT_DESK = "COURT-320583-DESK"
POLICE = "PS-320583106"  # 张浦派出所: an agency that hands cases to the stations


def case_body(**overrides: Any) -> dict[str, Any]:
    """A simple neighbour dispute at 大市社区 that triage keeps at the station."""
    body: dict[str, Any] = {
        "dispute_type": "NEIGHBOUR",
        "summary": "楼上卫生间漏水致楼下墙面霉变，双方就维修费用争执",
        "location_code": DASHI,
        "amount_yuan": 3000,
        "people_involved": 2,
        "flags": [],
        "source": "application",
        "parties": [
            {
                "name": "王秀英",
                "role": "applicant",
                "phone": "13800001234",
                "id_number": "320583198001011234",
            },
            {"name": "李建国", "role": "respondent"},
        ],
        "prior_proceedings": {"authority": "none"},
    }
    body.update(overrides)
    return body


CONSENT_DAY = "2026-03-02"
# The steps that record each party's consent (people's mediation, 警调/访调/检调, court delegation).
CONSENTED_TRIGGERS = frozenset({"accept", "hand_off", "delegate"})


def consents(case: dict[str, Any], manner: str = "in_person", on: str = CONSENT_DAY) -> list[dict[str, Any]]:
    """Every party's consent, given in person: what a test that is not about consent records."""
    return [{"party_id": p["id"], "manner": manner, "on": on} for p in case.get("parties", [])]


async def open_case(client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/cases", json=case_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    case: dict[str, Any] = response.json()
    return case


async def fire(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    case: dict[str, Any],
    trigger: str,
    **fields: Any,
) -> httpx.Response:
    """Fire ``trigger``; a step that records consent gets every party's unless the test gives its own
    (``consents=[]`` to give none)."""
    if trigger in CONSENTED_TRIGGERS and "consents" not in fields and case.get("parties"):
        fields["consents"] = consents(case)
    return await client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"trigger": trigger, **fields},
        headers={**headers, "If-Match": f'"{case["version"]}"'},
    )


async def move(
    client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any], trigger: str, **fields: Any
) -> dict[str, Any]:
    response = await fire(client, headers, case, trigger, **fields)
    assert response.status_code == 200, response.text
    moved: dict[str, Any] = response.json()
    return moved


async def read_case(
    client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]
) -> dict[str, Any]:
    """The case as ``headers``' user reads it now (whole, or a sender's read-only view)."""
    response = await client.get(f"/api/v1/cases/{case['id']}", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def police_case(client: httpx.AsyncClient, police: dict[str, str]) -> dict[str, Any]:
    case = await open_case(client, police, source="police")
    assert (case["unit_code"], case["channel"], case["triage"]["rule"]) == (
        POLICE,
        "administrative",
        "agency-intake",
    )
    return case


async def hand_to_station(
    client: httpx.AsyncClient, police: dict[str, str], case: dict[str, Any]
) -> dict[str, Any]:
    return await move(
        client,
        police,
        case,
        "hand_off",
        target_unit=DASHI,
        referral_kind="police",
        reason="邻里纠纷，适宜人民调解",
        referral_payload={"police_report_number": "JQ2026030200123"},
    )


# A written agreement with every content 人民调解法 art. 29 names, signed and sealed, touching
# nothing 民诉解释 art. 355 excludes: a court may confirm it.
CONFIRMABLE_AGREEMENT: dict[str, Any] = {
    "form": "written",
    "terms": "被申请人于十五日内支付申请人维修费 2000 元",
    "amount_yuan": 2000,
    "facts": "楼上卫生间漏水致楼下墙面霉变，双方就维修费用争执",
    "performance_manner": "一次性转账",
    "performance_deadline": "2026-12-31",
    "signatories": ["王秀英", "李建国", "调解员 王芳"],
    "signed_by_parties": True,
    "signed_by_mediator": True,
    "sealed": True,
    "touches": [],
}


def application(applied_on: str, **overrides: Any) -> dict[str, Any]:
    """The joint application of both parties of ``case_body`` (李建国 through an agent)."""
    fields: dict[str, Any] = {
        "applicants": [
            {"party": "王秀英"},
            {"party": "李建国", "agent": "张明律师", "authority_document": "授权委托书(2026)第12号"},
        ],
        "applied_on": applied_on,
        "materials": ["人民调解协议书", "双方身份证明", "授权委托书"],
    }
    fields.update(overrides)
    return fields


# --- The roster, written straight to the tables (for tests about who handles a case) ------------


async def add_mediator(
    engine: Any,
    name: str,
    units: list[str],
    *,
    username: str | None = None,
    employment: str = "full_time",
    specialties: list[str] | None = None,
    languages: list[str] | None = None,
    active: bool = True,
) -> int:
    """A mediator on the roster of ``units``, signed in as ``username`` when given (that demo
    user's own roster record, from the demo seed, is unlinked first: one record per login)."""
    import sqlalchemy as sa

    from service.clock import now as clock_now
    from service.mediators.models import Mediator, MediatorUnit
    from service.users.models import User

    mediators = Mediator.__table__  # type: ignore[attr-defined]
    at = clock_now()
    async with engine.begin() as conn:
        user_id = None
        if username is not None:
            users = User.__table__  # type: ignore[attr-defined]
            user_id = (
                await conn.execute(sa.select(users.c.id).where(users.c.username == username))
            ).scalar_one()
            await conn.execute(
                sa.update(mediators).where(mediators.c.user_id == user_id).values(user_id=None)
            )
        mediator_id: int = (
            await conn.execute(
                sa.insert(mediators)
                .values(
                    name=name,
                    user_id=user_id,
                    employment=employment,
                    specialties=specialties or [],
                    languages=languages or [],
                    qualifications="",
                    grade="",
                    active=active,
                    deactivated_at=None if active else at,
                    created_at=at,
                    updated_at=at,
                    version=1,
                )
                .returning(mediators.c.id)
            )
        ).scalar_one()
        await conn.execute(
            sa.insert(MediatorUnit.__table__),  # type: ignore[attr-defined]
            [{"mediator_id": mediator_id, "unit_code": code} for code in units],
        )
    return mediator_id


async def assign_mediator(
    engine: Any,
    case_id: int,
    mediator_id: int,
    *,
    role: str = "lead",
    unit_code: str = DASHI,
    by: str = "test",
) -> int:
    """A current assignment row, as the assignment service writes it (no event, no version bump)."""
    import sqlalchemy as sa

    from service.clock import now as clock_now
    from service.mediators.models import CaseMediator

    table = CaseMediator.__table__  # type: ignore[attr-defined]
    async with engine.begin() as conn:
        assignment_id: int = (
            await conn.execute(
                sa.insert(table)
                .values(
                    case_id=case_id,
                    mediator_id=mediator_id,
                    role=role,
                    unit_code=unit_code,
                    assigned_at=clock_now(),
                    assigned_by=by,
                )
                .returning(table.c.id)
            )
        ).scalar_one()
    return assignment_id


# --- A second person at a unit (for tests about whose inbox shows what) --------------------------


async def add_colleague(engine: Any, of: str, username: str) -> str:
    """A login like ``of``'s (same role, unit and demo password) named ``username``; kept across
    tests like the demo users, so made once."""
    import sqlalchemy as sa

    from service.users.models import User

    users = User.__table__  # type: ignore[attr-defined]
    async with engine.begin() as conn:
        if (await conn.execute(sa.select(users.c.id).where(users.c.username == username))).first():
            return username
        model = (await conn.execute(sa.select(users).where(users.c.username == of))).one()._mapping
        values = {k: v for k, v in model.items() if k != "id"}
        await conn.execute(
            sa.insert(users).values({**values, "username": username, "display_name": username})
        )
    return username
