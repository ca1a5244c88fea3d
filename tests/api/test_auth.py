"""Sign-in, bearer tokens, the health probes, the org tree and the workflow over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from service import clock
from service.errors import InvalidInput
from service.users.security import token_digest
from service.users.service import MachineTokenPolicy, issue_machine_token, sign_in, token_cache, tokens, users
from tests.builders import DASHI, ZHANGPU
from tests.conftest import FIXED_NOW, TEST_PASSWORD, Backend, FrozenClock

ME = "/api/v1/auth/me"
TOKEN = "/api/v1/auth/token"
SPARE_USER = "court.clerk2"  # no other test uses it, so disabling it disturbs nothing


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def fresh_token(client: httpx.AsyncClient, username: str) -> str:
    """A token of our own (never the cached one of tests.conftest, which other tests reuse)."""
    response = await client.post(TOKEN, data={"username": username, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def assert_unauthorized(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    problem: dict[str, object] = response.json()
    assert problem["status"] == 401
    assert problem["type"] == "/problems/unauthorized"
    return problem


# --- sign-in ----------------------------------------------------------------------------------


async def test_sign_in_with_the_oauth2_form_returns_a_bearer_token(
    client: httpx.AsyncClient, db: Backend
) -> None:
    response = await client.post(TOKEN, data={"username": "dashi.mediator", "password": TEST_PASSWORD})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == int(db.ctx.settings.token_ttl_hours * 3600)
    assert body["access_token"].startswith("jf_")
    me = await client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "dashi.mediator"


async def test_each_sign_in_issues_a_different_token(client: httpx.AsyncClient, db: Backend) -> None:
    first = await fresh_token(client, "dashi.mediator")
    second = await fresh_token(client, "dashi.mediator")

    assert first != second


@pytest.mark.parametrize(
    ("username", "password"),
    [("dashi.mediator", "wrong-password-1"), ("nobody.here", TEST_PASSWORD)],
    ids=["wrong-password", "unknown-user"],
)
async def test_sign_in_with_bad_credentials_is_401_problem(
    client: httpx.AsyncClient, db: Backend, username: str, password: str
) -> None:
    response = await client.post(TOKEN, data={"username": username, "password": password})

    problem = assert_unauthorized(response)
    assert "access_token" not in problem


async def test_unknown_user_and_wrong_password_get_the_same_answer(
    client: httpx.AsyncClient, db: Backend
) -> None:
    wrong_password = await client.post(TOKEN, data={"username": "dashi.mediator", "password": "nope-nope-1"})
    unknown_user = await client.post(TOKEN, data={"username": "nobody.here", "password": "nope-nope-1"})

    assert assert_unauthorized(wrong_password)["detail"] == assert_unauthorized(unknown_user)["detail"]


async def _set_disabled(db: Backend, username: str, disabled: bool) -> None:
    async with db.engine.begin() as conn:
        result = await conn.execute(
            sa.update(users).where(users.c.username == username).values(disabled=disabled)
        )
        assert result.rowcount == 1


async def test_disabled_user_cannot_sign_in_and_their_token_stops_working(
    client: httpx.AsyncClient, db: Backend
) -> None:
    token = await fresh_token(client, SPARE_USER)
    await _set_disabled(db, SPARE_USER, True)
    try:
        sign_in_response = await client.post(TOKEN, data={"username": SPARE_USER, "password": TEST_PASSWORD})
        me = await client.get(ME, headers=bearer(token))
    finally:
        await _set_disabled(db, SPARE_USER, False)

    assert_unauthorized(sign_in_response)
    assert "disabled" in str(assert_unauthorized(me)["detail"])
    assert (await client.get(ME, headers=bearer(token))).status_code == 200  # re-enabled


# --- presenting a token -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer jf_not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic ZGFzaGk6eA=="},
    ],
    ids=["no-header", "garbage-token", "empty-token", "basic-scheme"],
)
async def test_request_without_a_valid_bearer_token_is_401(
    client: httpx.AsyncClient, db: Backend, headers: dict[str, str]
) -> None:
    for path in (ME, "/api/v1/cases", "/api/v1/units"):
        assert_unauthorized(await client.get(path, headers=headers))


async def test_revoked_token_no_longer_works_and_other_tokens_are_untouched(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    token = await fresh_token(client, "dashi.mediator")
    assert (await client.get(ME, headers=bearer(token))).status_code == 200

    revoked = await client.post("/api/v1/auth/revoke", headers=bearer(token))

    assert revoked.status_code == 204
    assert "revoked" in str(assert_unauthorized(await client.get(ME, headers=bearer(token)))["detail"])
    assert_unauthorized(await client.post("/api/v1/auth/revoke", headers=bearer(token)))
    assert (await client.get(ME, headers=await auth("dashi.mediator"))).status_code == 200


async def test_a_token_revoked_by_another_replica_stops_working_within_the_cache_seconds(
    client: httpx.AsyncClient, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = [1000.0]
    monkeypatch.setattr(token_cache, "clock", lambda: ticks[0])
    token = await fresh_token(client, "dashi.mediator")
    assert (await client.get(ME, headers=bearer(token))).status_code == 200
    # Another replica signs the user out: this process is not told, only the database.
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(tokens).where(tokens.c.token_hash == token_digest(token)).values(revoked_at=clock.now())
        )

    ticks[0] += token_cache.seconds - 0.5
    assert (await client.get(ME, headers=bearer(token))).status_code == 200  # trusted a little longer
    ticks[0] += 0.5
    assert "revoked" in str(assert_unauthorized(await client.get(ME, headers=bearer(token)))["detail"])


async def test_with_the_token_cache_off_every_request_asks_the_database(
    client: httpx.AsyncClient, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(token_cache, "seconds", 0)
    token = await fresh_token(client, "dashi.mediator")
    assert (await client.get(ME, headers=bearer(token))).status_code == 200
    async with db.engine.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.username == "dashi.mediator").values(disabled=True))
    try:
        assert_unauthorized(await client.get(ME, headers=bearer(token)))
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.update(users).where(users.c.username == "dashi.mediator").values(disabled=False)
            )


async def test_expired_token_is_401_saying_it_expired(client: httpx.AsyncClient, db: Backend) -> None:
    token, expires_at = await sign_in(
        db.engine,
        "dashi.mediator",
        TEST_PASSWORD,
        now=clock.now() - timedelta(hours=2),
        ttl=timedelta(minutes=5),
    )
    assert expires_at < clock.now()

    problem = assert_unauthorized(await client.get(ME, headers=bearer(token)))

    assert "expired" in str(problem["detail"])


async def test_token_stops_working_once_its_expiry_is_moved_into_the_past(
    client: httpx.AsyncClient, db: Backend
) -> None:
    token = await fresh_token(client, "dashi.mediator")
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(tokens)
            .where(tokens.c.token_hash == token_digest(token))
            .values(expires_at=clock.now() - timedelta(seconds=1))
        )

    assert "expired" in str(assert_unauthorized(await client.get(ME, headers=bearer(token)))["detail"])


@pytest.mark.parametrize(
    ("username", "role", "unit_code", "unit_name"),
    [
        ("dashi.mediator", "mediator", DASHI, "大市社区"),
        ("zhangpu.coordinator", "coordinator", ZHANGPU, "张浦镇"),
        ("zhangpu.police", "agency_officer", "PS-320583106", "张浦派出所"),
        ("court.clerk", "court_clerk", "COURT-320583-DESK", "昆山市人民法院诉讼服务中心"),
        ("auditor", "auditor", "320583", "昆山市矛盾纠纷调处中心"),
    ],
)
async def test_me_returns_the_role_and_unit_of_the_signed_in_user(
    client: httpx.AsyncClient, auth, db: Backend, username: str, role: str, unit_code: str, unit_name: str
) -> None:
    response = await client.get(ME, headers=await auth(username))

    assert response.status_code == 200
    assert response.json() == {
        "username": username,
        "role": role,
        "unit_code": unit_code,
        "unit_name": unit_name,
    }


async def test_machine_token_works_as_a_bearer_token(client: httpx.AsyncClient, db: Backend) -> None:
    async with db.engine.begin() as conn:
        token = await issue_machine_token(
            conn, "zhangpu.coordinator", "nightly-export", now=clock.now(), expires_at=None
        )

    me = await client.get(ME, headers=bearer(token))
    cases = await client.get("/api/v1/cases", headers=bearer(token))

    assert me.status_code == 200
    assert me.json()["username"] == "zhangpu.coordinator"
    assert cases.status_code == 200


async def test_machine_token_past_its_expiry_is_401(client: httpx.AsyncClient, db: Backend) -> None:
    async with db.engine.begin() as conn:
        token = await issue_machine_token(
            conn,
            "zhangpu.coordinator",
            "old-export",
            now=clock.now(),
            expires_at=clock.now() - timedelta(minutes=1),
        )

    assert "expired" in str(assert_unauthorized(await client.get(ME, headers=bearer(token)))["detail"])


async def test_a_machine_token_expires_after_the_default_lifetime(
    client: httpx.AsyncClient, db: Backend, frozen_clock: FrozenClock
) -> None:
    policy = MachineTokenPolicy.from_settings(db.ctx.settings)
    async with db.engine.begin() as conn:
        token = await issue_machine_token(conn, "zhangpu.coordinator", "sync", now=clock.now(), policy=policy)

    frozen_clock.set(FIXED_NOW + policy.lifetime - timedelta(seconds=1))
    still = await client.get(ME, headers=bearer(token))
    frozen_clock.set(FIXED_NOW + policy.lifetime)
    expired = await client.get(ME, headers=bearer(token))

    assert policy.lifetime == timedelta(days=90)
    assert still.status_code == 200
    assert "expired" in str(assert_unauthorized(expired)["detail"])


async def test_a_machine_token_cannot_outlive_the_longest_lifetime(db: Backend) -> None:
    policy = MachineTokenPolicy.from_settings(db.ctx.settings)
    now = clock.now()
    async with db.engine.begin() as conn:
        longest = await issue_machine_token(
            conn, "zhangpu.coordinator", "yearly", now=now, expires_at=now + policy.longest, policy=policy
        )
        with pytest.raises(InvalidInput) as refused:
            await issue_machine_token(
                conn,
                "zhangpu.coordinator",
                "forever",
                now=now,
                expires_at=now + policy.longest + timedelta(seconds=1),
                policy=policy,
            )

    assert longest.startswith("jf_")
    assert refused.value.extra["errors"] == [
        {"field": "expires_at", "message": "at most 365 days from now (JIEFEN_MACHINE_TOKEN_MAX_DAYS)"}
    ]
    async with db.engine.connect() as conn:
        names = (await conn.execute(sa.select(tokens.c.name).where(tokens.c.kind == "machine"))).scalars()
        assert "forever" not in list(names)


# --- health probes ----------------------------------------------------------------------------


async def test_healthz_answers_without_signing_in(client: httpx.AsyncClient, db: Backend) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_database_ok(client: httpx.AsyncClient, db: Backend) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["checks"]["database"] == "ok"


async def test_readyz_says_when_next_years_holiday_calendar_is_missing(
    client: httpx.AsyncClient, db: Backend, frozen_clock: FrozenClock
) -> None:
    frozen_clock.set(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))  # after 1 December, no 2027 calendar

    body = (await client.get("/readyz")).json()

    assert body["status"] == "ok"
    assert "2027" in body["checks"]["calendar"]
    assert body["warnings"]


# --- units ------------------------------------------------------------------------------------


async def test_units_lists_the_whole_org_tree_sorted_by_code(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    response = await client.get("/api/v1/units", headers=await auth("dashi.mediator"))

    assert response.status_code == 200
    codes = [u["code"] for u in response.json()]
    assert codes == sorted(codes)
    assert set(codes) == {u.code for u in db.ctx.org}
    assert {DASHI, ZHANGPU, "320583", "SC-MEDICAL", "PS-320583106", "COURT-320583-DESK"} <= set(codes)


async def test_units_filter_by_kind_and_handling_parent(client: httpx.AsyncClient, auth, db: Backend) -> None:
    headers = await auth("dashi.mediator")

    desks = await client.get("/api/v1/units", params={"kind": "court_desk"}, headers=headers)
    under_zhangpu = await client.get("/api/v1/units", params={"parent": ZHANGPU}, headers=headers)

    assert [u["code"] for u in desks.json()] == ["COURT-320583-DESK"]
    zhangpu_units = under_zhangpu.json()
    assert DASHI in {u["code"] for u in zhangpu_units}
    assert all(u["parent_code"] == ZHANGPU and u["kind"] == "village_station" for u in zhangpu_units)


async def test_unit_detail_gives_ancestors_and_escalation_target(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    response = await client.get(f"/api/v1/units/{DASHI}", headers=await auth("dashi.mediator"))

    assert response.status_code == 200
    unit = response.json()
    assert (unit["code"], unit["name"], unit["kind"], unit["tier"]) == (
        DASHI,
        "大市社区",
        "village_station",
        "village",
    )
    assert unit["ancestors"] == [ZHANGPU, "320583"]
    assert unit["escalates_to"] == ZHANGPU
    assert unit["children"] == []


async def test_unit_with_a_handling_parent_escalates_to_it(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    response = await client.get("/api/v1/units/320583104010", headers=await auth("dashi.mediator"))

    unit = response.json()
    assert (unit["name"], unit["parent_code"], unit["handling_parent_code"]) == (
        "蓬朗社区",
        "320583104",
        "320583400",
    )
    assert unit["ancestors"] == ["320583400", "320583"]
    assert unit["escalates_to"] == "320583400"


async def test_police_station_escalates_within_its_channel(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    response = await client.get("/api/v1/units/PS-320583106", headers=await auth("zhangpu.police"))

    unit = response.json()
    assert unit["channel"] == "administrative"
    assert unit["escalates_to"] == "PSB-320583"


async def test_unknown_unit_is_404_problem(client: httpx.AsyncClient, auth, db: Backend) -> None:
    response = await client.get("/api/v1/units/320583999999", headers=await auth("dashi.mediator"))

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/not-found"


# --- the workflow -----------------------------------------------------------------------------


async def test_workflow_lists_all_states_triggers_and_a_mermaid_diagram(
    client: httpx.AsyncClient, db: Backend
) -> None:
    response = await client.get("/api/v1/workflow")

    assert response.status_code == 200
    workflow = response.json()
    states = [s["state"] for s in workflow["states"]]
    assert states == [
        "registered",
        "assigned",
        "mediating",
        "suspended",
        "settled",
        "confirming",
        "terminated",
        "referred",
        "in_court",
        "closed",
    ]
    assert {"state": "referred", "label": "已移送法院"} in workflow["states"]
    triggers = {t["trigger"] for t in workflow["triggers"]}
    # The 18 triggers of docs/domain.md, plus the court desk's lease release, its acceptance of a
    # confirmation application, and docketing a case for trial (issue 4).
    assert len(workflow["triggers"]) == 24
    assert triggers == {
        "dispatch",
        "accept",
        "decline",
        "escalate",
        "hand_off",
        "suspend",
        "resume",
        "settle",
        "terminate",
        "refer_to_court",
        "claim",
        "delegate",
        "request_confirmation",
        "confirm",
        "refuse_confirmation",
        "reject_confirmation",
        "withdraw_confirmation",
        "amend",
        "record_performance",
        "withdraw",
        "close",
        "release",
        "accept_confirmation",
        "docket",
    }
    assert triggers == {t["trigger"] for t in workflow["transitions"]}
    mermaid = workflow["mermaid"]
    assert mermaid.startswith("stateDiagram-v2")
    assert "referred --> in_court: claim" in mermaid
    assert all(f" as {state}" in mermaid for state in states)


async def test_api_docs_are_served_without_any_external_asset(client: httpx.AsyncClient, db: Backend) -> None:
    page = await client.get("/docs")
    script = await client.get("/static/swagger-ui/swagger-ui-bundle.js")
    schema = await client.get("/openapi.json")

    assert page.status_code == script.status_code == schema.status_code == 200
    assert "/static/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    operation_ids = [op["operationId"] for path in schema.json()["paths"].values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))
    assert all("__" not in op for op in operation_ids), "every route names a stable operation_id"
