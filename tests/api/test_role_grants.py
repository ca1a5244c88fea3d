"""Separation of duties: a coordinator, auditor or admin role needs a second administrator."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest
import sqlalchemy as sa

from service import clock
from service.audit.events import security_events as log
from service.users import service as users
from tests.builders import CITY, COURT_DESK, DASHI, ZHANGPU
from tests.conftest import Backend

USERS = "/api/v1/admin/users"
GRANTS = "/api/v1/admin/role-grants"
PASSWORD = "Grant-Pass 2026 授权"


def unique(prefix: str = "grant") -> str:
    return f"{prefix}.{uuid4().hex[:10]}"


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": username, "password": password})


async def request_account(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    username: str,
    role: str = "coordinator",
    unit: str = CITY,
) -> httpx.Response:
    return await client.post(
        USERS,
        json={"username": username, "password": PASSWORD, "role": role, "unit": unit, "reason": "新任"},
        headers=admin,
    )


async def security_events(db: Backend, *kinds: str) -> list[Any]:
    c = log.c
    async with db.engine.connect() as conn:
        return list(
            await conn.execute(sa.select(c.kind, c.actor, c.payload).where(c.kind.in_(kinds)).order_by(c.id))
        )


async def test_an_admin_cannot_make_themselves_a_city_coordinator(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    admin, second = await auth("admin"), await auth("admin2")
    alias = unique("admin.coordinator")

    requested = await request_account(client, admin, alias)
    before_approval = await sign_in(client, alias)
    own_approval = await client.post(f"{GRANTS}/{requested.json()['id']}/approve", headers=admin)
    approved = await client.post(f"{GRANTS}/{requested.json()['id']}/approve", headers=second)
    after = await sign_in(client, alias)

    assert requested.status_code == 202, requested.text
    assert requested.headers["location"] == f"{GRANTS}/{requested.json()['id']}"
    assert requested.json() | {"id": 0, "requested_at": None} == {
        "id": 0,
        "username": alias,
        "change": "create",
        "role": "coordinator",
        "unit_code": CITY,
        "previous_role": None,
        "previous_unit_code": None,
        "display_name": "",
        "status": "pending",
        "reason": "新任",
        "requested_by": "admin",
        "requested_at": None,
        "decided_by": None,
        "decided_at": None,
        "decision_reason": None,
    }
    assert before_approval.status_code == 401  # no account until a second admin approves
    assert own_approval.status_code == 409
    assert own_approval.json()["type"] == "/problems/second-admin-required"
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", "admin2")
    assert after.status_code == 200
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {after.json()['access_token']}"}
    )
    assert (me.json()["role"], me.json()["unit_code"]) == ("coordinator", CITY)
    kinds = [(e.kind, e.actor) for e in await security_events(db, *GRANT_KINDS)]
    assert kinds == [
        ("role_grant_requested", "admin"),
        ("user_created", "admin2"),
        ("role_grant_approved", "admin2"),
    ]
    async with db.engine.connect() as conn:
        kept = (await conn.execute(sa.text("SELECT password_hash FROM role_grant"))).scalar_one()
    assert kept is None  # the hash moved to the account; the grant keeps no copy


GRANT_KINDS = (
    "role_grant_requested",
    "role_grant_approved",
    "role_grant_rejected",
    "user_created",
    "role_changed",
)


@pytest.mark.parametrize("role", ["coordinator", "auditor", "admin"])
async def test_every_elevated_role_waits_and_lower_roles_do_not(
    client: httpx.AsyncClient, auth, db: Backend, role: str
) -> None:
    admin = await auth("admin")

    elevated = await request_account(client, admin, unique(role), role=role)
    clerk = await request_account(client, admin, unique("clerk"), role="court_clerk", unit=COURT_DESK)
    mediator = await request_account(client, admin, unique("mediator"), role="mediator", unit=DASHI)

    assert (elevated.status_code, clerk.status_code, mediator.status_code) == (202, 201, 201)


async def test_a_role_change_to_an_elevated_role_waits_and_a_lower_one_does_not(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    admin, second = await auth("admin"), await auth("admin2")
    username = unique("mediator")
    assert (await request_account(client, admin, username, role="mediator", unit=DASHI)).status_code == 201
    token = (await sign_in(client, username)).json()["access_token"]
    mine = {"Authorization": f"Bearer {token}"}

    moved = await client.post(
        f"{USERS}/{username}/role", json={"role": "mediator", "unit": ZHANGPU}, headers=admin
    )
    promoted = await client.post(
        f"{USERS}/{username}/role", json={"role": "coordinator", "reason": "任镇中心协调员"}, headers=admin
    )
    while_pending = (await client.get("/api/v1/auth/me", headers=mine)).json()
    again = await client.post(f"{USERS}/{username}/role", json={"role": "auditor"}, headers=admin)
    approved = await client.post(f"{GRANTS}/{promoted.json()['id']}/approve", headers=second)
    after = (await client.get("/api/v1/auth/me", headers=mine)).json()

    assert moved.status_code == 200 and moved.json()["unit_code"] == ZHANGPU
    assert promoted.status_code == 202
    assert promoted.json() | {"id": 0, "requested_at": None} == {
        "id": 0,
        "username": username,
        "change": "change",
        "role": "coordinator",
        "unit_code": ZHANGPU,
        "previous_role": "mediator",
        "previous_unit_code": ZHANGPU,
        "display_name": "",
        "status": "pending",
        "reason": "任镇中心协调员",
        "requested_by": "admin",
        "requested_at": None,
        "decided_by": None,
        "decided_at": None,
        "decision_reason": None,
    }
    assert while_pending["role"] == "mediator"
    assert again.status_code == 409  # one pending grant per account
    assert approved.status_code == 200
    assert (after["role"], after["unit_code"]) == ("coordinator", ZHANGPU)  # the same token, the new role
    changes = [(e.kind, e.actor, e.payload.get("role")) for e in await security_events(db, "role_changed")]
    assert changes == [("role_changed", "admin", "mediator"), ("role_changed", "admin2", "coordinator")]


async def test_nobody_changes_their_own_role_or_approves_a_role_for_themselves(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    admin, second = await auth("admin"), await auth("admin2")

    own = await client.post(f"{USERS}/admin/role", json={"role": "mediator", "unit": DASHI}, headers=admin)
    for_admin = await client.post(f"{USERS}/admin/role", json={"role": "auditor"}, headers=second)
    self_approved = await client.post(f"{GRANTS}/{for_admin.json()['id']}/approve", headers=admin)
    withdrawn = await client.post(f"{GRANTS}/{for_admin.json()['id']}/reject", headers=second)

    assert own.status_code == 409
    assert for_admin.status_code == 202
    assert self_approved.status_code == 409
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "rejected"
    assert (await client.get("/api/v1/auth/me", headers=admin)).json()["role"] == "admin"


async def test_a_rejected_request_grants_nothing_and_frees_the_name(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    admin, second = await auth("admin"), await auth("admin2")
    username = unique("auditor")
    requested = await request_account(client, admin, username, role="auditor")

    taken = await request_account(client, second, username, role="mediator", unit=DASHI)
    rejected = await client.post(
        f"{GRANTS}/{requested.json()['id']}/reject", json={"reason": "未经审批"}, headers=second
    )
    approved_after = await client.post(f"{GRANTS}/{requested.json()['id']}/approve", headers=second)
    pending = (await client.get(GRANTS, headers=admin)).json()
    decided = (await client.get(GRANTS, params={"status": "rejected"}, headers=admin)).json()

    assert taken.status_code == 409  # the name is reserved while the request waits
    assert rejected.status_code == 200
    assert (rejected.json()["decided_by"], rejected.json()["decision_reason"]) == ("admin2", "未经审批")
    assert approved_after.status_code == 409  # decided once
    assert (await sign_in(client, username)).status_code == 401
    assert pending == []
    assert [g["username"] for g in decided] == [username]
    assert (await request_account(client, second, username, role="mediator", unit=DASHI)).status_code == 201


async def test_only_administrators_see_and_decide_role_grants(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    requested = await request_account(client, await auth("admin"), unique())
    grant = requested.json()["id"]

    for user in ("auditor", "city.coordinator", "dashi.mediator"):
        headers = await auth(user)
        assert (await client.get(GRANTS, headers=headers)).status_code == 403
        assert (await client.post(f"{GRANTS}/{grant}/approve", headers=headers)).status_code == 403
    assert (await client.get(f"{GRANTS}/{grant}", headers=await auth("admin2"))).json()["status"] == "pending"
    assert (await client.post(f"{GRANTS}/999999/approve", headers=await auth("admin2"))).status_code == 404


async def test_the_console_bootstraps_an_admin_directly_and_tells_the_auditors(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    """`jiefen users create` (no acting admin) is how the first administrators are made."""
    username = unique("first.admin")
    async with db.engine.begin() as conn:
        await users.create_user(
            conn,
            username=username,
            password=PASSWORD,
            role="admin",
            unit_code=CITY,
            org=db.ctx.org,
            now=clock.now(),
        )

    inbox = (await client.get(f"/api/v1/units/{CITY}/inbox", headers=await auth("auditor"))).json()
    assert (await sign_in(client, username)).status_code == 200
    assert [(i["kind"], i["case_id"], i["audience"]) for i in inbox["items"]] == [
        ("role_granted", None, "auditor")
    ]
    assert inbox["items"][0]["payload"] | {"grant_id": None} == {
        "user": username,
        "role": "admin",
        "unit_code": CITY,
        "requested_by": "cli",
        "approved_by": None,
        "grant_id": None,
    }


async def test_an_acting_admin_cannot_skip_the_second_approval_in_the_service(db: Backend) -> None:
    from workflows.lifecycle import Actor, Role

    with pytest.raises(users.SecondAdminRequired):
        async with db.engine.begin() as conn:
            await users.create_user(
                conn,
                username=unique(),
                password=PASSWORD,
                role="coordinator",
                unit_code=CITY,
                org=db.ctx.org,
                now=clock.now(),
                by=Actor("admin", Role.admin, CITY),
            )


async def test_a_reason_that_cannot_be_stored_is_refused_by_name(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    admin = await auth("admin")

    response = await client.post(
        USERS,
        json={
            "username": unique(),
            "password": PASSWORD,
            "role": "auditor",
            "unit": CITY,
            "reason": "新\x00任",
        },
        headers=admin,
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.reason"]
    assert (await client.get(GRANTS, headers=admin)).json() == []
