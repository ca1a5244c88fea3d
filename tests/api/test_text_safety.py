"""Free text that displays as what it says: invisible bidirectional controls are refused, by name.

"‮" (U+202E RIGHT-TO-LEFT OVERRIDE) and its kin reorder what follows them on screen; no Chinese or
English entry needs them. Every free-text field refuses them with a 422 naming the field, and
nothing is stored.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.safe_text import BIDI_CONTROLS
from tests.builders import case_body, fire, open_case
from tests.conftest import Backend

OVERRIDE = "\u202e"
PROBLEM = "contains an invisible bidirectional control character"


def assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    errors = [e for e in problem["errors"] if PROBLEM in e["message"]]
    assert [e["field"] for e in errors] == [field], problem
    assert field in problem["detail"]


@pytest.mark.parametrize("char", sorted(BIDI_CONTROLS))
async def test_every_bidi_control_is_refused_in_a_case_summary(
    client: httpx.AsyncClient, auth: Any, db: Backend, char: str
) -> None:
    headers = await auth("dashi.mediator")

    response = await client.post(
        "/api/v1/cases", json=case_body(summary=f"合同纠纷 {char}txt.exe"), headers=headers
    )

    assert_refused(response, "body.summary")
    assert f"U+{ord(char):04X}" in response.json()["errors"][0]["message"]
    assert (await client.get("/api/v1/cases", headers=headers)).json()["total"] == 0


async def test_party_names_reasons_and_corrections_refuse_them_too(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    parties = [{"name": f"王{OVERRIDE}秀英", "role": "applicant"}, {"name": "李建国", "role": "respondent"}]

    new_party = await client.post("/api/v1/cases", json=case_body(parties=parties), headers=mediator)
    case = await open_case(client, mediator)
    decline = await fire(client, mediator, case, "decline", reason=f"不属于本站{OVERRIDE}受理")
    correction = await client.patch(
        f"/api/v1/cases/{case['id']}",
        json={"summary": f"更正{OVERRIDE}", "reason": "补充"},
        headers={**mediator, "If-Match": f'"{case["version"]}"'},
    )
    reveal = await client.post(
        f"/api/v1/cases/{case['id']}/parties/{case['parties'][0]['id']}/reveal",
        json={"reason": f"电话通知{OVERRIDE}", "fields": ["phone"]},
        headers=mediator,
    )

    assert_refused(new_party, "body.parties.0.name")
    assert decline.status_code == 422 and PROBLEM in decline.text and "reason" in decline.text
    assert_refused(correction, "body.summary")
    assert_refused(reveal, "body.reason")
    case_now = (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json()
    assert case_now["state"] == case["state"] and case_now["summary"] == case["summary"]


async def test_a_display_name_refuses_them(client: httpx.AsyncClient, auth: Any, db: Backend) -> None:
    body = {
        "username": "bidi.mediator",
        "password": "Ting-feng 2026 调解",
        "role": "mediator",
        "unit": "320583106005",
        "display_name": f"调解员{OVERRIDE}",
    }

    response = await client.post("/api/v1/admin/users", json=body, headers=await auth("admin"))

    assert_refused(response, "body.display_name")


async def test_a_role_grant_reason_refuses_them_through_the_api_and_the_page(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    from service.web.session import SESSION_COOKIE, csrf_token
    from tests.conftest import token_for

    requested = await client.post(
        "/api/v1/admin/users",
        json={
            "username": "bidi.auditor",
            "password": "Grant-Pass 2026 授权",
            "role": "auditor",
            "unit": "320583",
            "reason": f"审计{OVERRIDE}需要",
        },
        headers=await auth("admin2"),
    )
    pending = await client.post(
        "/api/v1/admin/users",
        json={
            "username": "bidi.auditor",
            "password": "Grant-Pass 2026 授权",
            "role": "auditor",
            "unit": "320583",
        },
        headers=await auth("admin2"),
    )
    token = await token_for(client, db, "admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test"
    ) as web:
        web.cookies.set(SESSION_COOKIE, token)
        decided = await web.post(
            f"/admin/role-grants/{pending.json()['id']}/approve",
            data={"csrf_token": csrf_token(token), "reason": f"同意{OVERRIDE}"},
        )

    assert_refused(requested, "body.reason")
    assert pending.status_code == 202, pending.text
    assert decided.status_code == 422 and PROBLEM in decided.text
    grant = await client.get(f"/api/v1/admin/role-grants/{pending.json()['id']}", headers=await auth("admin"))
    assert grant.json()["status"] == "pending"
