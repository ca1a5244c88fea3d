"""Who sees which case: every demo role against cases placed in and out of its scope.

docs/domain.md ("Least privilege"): a village mediator sees only the station's cases, a town
coordinator the town's subtree, the court desk only what was referred to or delegated by the
court. Outside scope is 404, never 403 or 409: a user learns nothing about cases elsewhere.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.builders import COURT_DESK, DASHI, WULIAN, ZHANGPU, case_body, move, open_case
from tests.conftest import Backend
from workflows.lifecycle import Trigger

MEDICAL_COMMITTEE = "SC-MEDICAL"
ZHANGPU_POLICE = "PS-320583106"

# The six cases every test here places (see `placed_cases`), and where each one ends up.
CASE_PLACES = {
    "dashi": (DASHI, "assigned"),  # neighbour dispute kept at 大市社区
    "wulian": (WULIAN, "assigned"),  # neighbour dispute kept at 五联村
    "zhangpu_town": (ZHANGPU, "assigned"),  # accepted at 大市, escalated to 张浦镇 centre
    "medical": (MEDICAL_COMMITTEE, "assigned"),  # MEDICAL dispute: triage sends it to 医调委
    "court": (COURT_DESK, "referred"),  # accept → terminate → refer_to_court
    "police": (ZHANGPU_POLICE, "assigned"),  # handed off from 大市 to 张浦派出所
}
ALL_CASES = frozenset(CASE_PLACES)

# The scope matrix: which of the six cases each demo user sees whole. Everything else is 404,
# unless the user's unit sent the case on (SENT below).
VISIBLE: dict[str, frozenset[str]] = {
    "dashi.mediator": frozenset({"dashi"}),
    "wulian.mediator": frozenset({"wulian"}),
    "zhangpu.coordinator": frozenset({"dashi", "zhangpu_town"}),
    "yushan.coordinator": frozenset({"wulian"}),
    "city.coordinator": ALL_CASES,  # the city centre's subtree is the whole network
    "zhangpu.police": frozenset({"police"}),
    "medical.mediator": frozenset({"medical"}),
    "court.clerk": frozenset({"court"}),
    "auditor": ALL_CASES,
    "admin": frozenset(),  # admin manages users and units, not cases
}
USERS = list(VISIBLE)
# Sent on by the user's unit (a coordinator: a unit of their subtree), so followed read only: the
# read-only view (state, holder, outcome, dates, moves), no events, nothing allowed — a
# transition there is refused (409), not hidden. 大市 escalated one case to the town, registered
# the medical one that triage sent to 医调委, referred one to the court and handed one to the police.
SENT: dict[str, frozenset[str]] = {
    "dashi.mediator": frozenset({"zhangpu_town", "medical", "court", "police"}),
    "zhangpu.coordinator": frozenset({"medical", "court", "police"}),
}
# The case list holds the cases seen whole and the hand-offs the unit sent (its referrals).
LISTED: dict[str, frozenset[str]] = {
    **VISIBLE,
    "dashi.mediator": frozenset({"dashi", "police"}),
    "zhangpu.coordinator": frozenset({"dashi", "zhangpu_town", "police"}),
}
CASE_WORKERS = [u for u in USERS if u != "admin"]  # the roles allowed to list cases

# A trigger the holder of each case could fire, with its fields: an outsider firing it gets 404.
HOLDER_MOVE: dict[str, dict[str, Any]] = {
    "dashi": {"trigger": "accept"},
    "wulian": {"trigger": "accept"},
    "zhangpu_town": {"trigger": "accept"},
    "medical": {"trigger": "accept"},
    "court": {"trigger": "claim"},
    "police": {"trigger": "accept"},
}


async def placed_cases(client: httpx.AsyncClient, auth) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Open the six cases of the matrix and drive each to its place; returns them by name."""
    dashi = await auth("dashi.mediator")
    cases: dict[str, dict[str, Any]] = {}

    cases["dashi"] = await open_case(client, dashi)
    cases["wulian"] = await open_case(client, await auth("wulian.mediator"), location_code=WULIAN)

    escalating = await move(client, dashi, await open_case(client, dashi), "accept")
    cases["zhangpu_town"] = await move(
        client, dashi, escalating, "escalate", reason="涉及多方主体，需镇中心协调"
    )

    cases["medical"] = await open_case(
        client, dashi, dispute_type="MEDICAL", summary="术后感染，患者家属要求医院赔偿", amount_yuan=80000
    )

    failing = await move(client, dashi, await open_case(client, dashi), "accept")
    failing = await move(client, dashi, failing, "terminate", termination_reason="gap_too_wide")
    cases["court"] = await move(
        client, dashi, failing, "refer_to_court", reason="调解不成，当事人同意移送法院"
    )

    cases["police"] = await move(
        client,
        dashi,
        await open_case(client, dashi),
        "hand_off",
        target_unit=ZHANGPU_POLICE,
        referral_kind="administrative",
        reason="涉嫌治安案件，移交派出所处理",
    )

    for name, (unit_code, state) in CASE_PLACES.items():
        assert (cases[name]["unit_code"], cases[name]["state"]) == (unit_code, state), name
    # Each move that sent a case away answers with the sender's read-only view of it.
    assert {name for name, case in cases.items() if case.get("view") == "sent"} == SENT["dashi.mediator"]
    return cases


def _expected_statuses(username: str, case_name: str) -> tuple[int, int, int]:
    """(detail, events, allowed transitions): whole, followed read only, or absent."""
    if case_name in VISIBLE[username]:
        return (200, 200, 200)
    if case_name in SENT.get(username, frozenset()):
        return (200, 403, 200)
    return (404, 404, 404)


@pytest.mark.parametrize("username", USERS)
async def test_reading_a_case_is_200_in_scope_and_404_outside(
    client: httpx.AsyncClient, auth, db: Backend, username: str
) -> None:
    cases = await placed_cases(client, auth)
    headers = await auth(username)

    seen: dict[str, tuple[int, int, int]] = {}
    for name, case in cases.items():
        base = f"/api/v1/cases/{case['id']}"
        detail = await client.get(base, headers=headers)
        events = await client.get(f"{base}/events", headers=headers)
        options = await client.get(f"{base}/transitions", headers=headers)
        seen[name] = (detail.status_code, events.status_code, options.status_code)
        if name in SENT.get(username, frozenset()):
            view = detail.json()
            assert (view["id"], view["view"], view["allowed"], options.json()) == (case["id"], "sent", [], [])
            assert "parties" not in view and "summary" not in view  # no personal data
            assert events.json()["type"] == "/problems/forbidden"
        elif detail.status_code == 200:
            assert detail.json()["id"] == case["id"]
            assert events.json()[0]["kind"] == "created"
            assert isinstance(options.json(), list)
        else:
            for response in (detail, events, options):
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["status"] == 404

    expected = {name: _expected_statuses(username, name) for name in cases}
    assert seen == expected


@pytest.mark.parametrize("username", CASE_WORKERS)
async def test_case_list_holds_exactly_the_cases_in_scope(
    client: httpx.AsyncClient, auth, db: Backend, username: str
) -> None:
    cases = await placed_cases(client, auth)
    by_id = {case["id"]: name for name, case in cases.items()}

    response = await client.get("/api/v1/cases", params={"limit": 200}, headers=await auth(username))

    assert response.status_code == 200, response.text
    page = response.json()
    listed = [by_id[item["id"]] for item in page["items"]]
    assert sorted(listed) == sorted(LISTED[username])
    assert page["total"] == len(LISTED[username])


@pytest.mark.parametrize("username", USERS)
async def test_transition_by_an_out_of_scope_user_is_404(
    client: httpx.AsyncClient, auth, db: Backend, username: str
) -> None:
    cases = await placed_cases(client, auth)
    headers = await auth(username)
    follow_only = sorted(SENT.get(username, frozenset()))
    hidden = sorted(ALL_CASES - VISIBLE[username] - set(follow_only))

    statuses = {}
    for name in [*hidden, *follow_only]:
        response = await client.post(
            f"/api/v1/cases/{cases[name]['id']}/transitions", json=HOLDER_MOVE[name], headers=headers
        )
        statuses[name] = response.status_code
        assert response.headers["content-type"] == "application/problem+json"

    assert statuses == {**dict.fromkeys(hidden, 404), **dict.fromkeys(follow_only, 409)}
    unchanged = await client.get("/api/v1/cases", params={"limit": 200}, headers=await auth("auditor"))
    assert {item["id"]: item["version"] for item in unchanged.json()["items"]} == {
        case["id"]: case["version"] for case in cases.values()
    }


async def test_auditor_reads_everything_but_every_transition_is_refused_with_409(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    cases = await placed_cases(client, auth)
    auditor = await auth("auditor")

    for name, case in cases.items():
        base = f"/api/v1/cases/{case['id']}"
        assert (await client.get(f"{base}/transitions", headers=auditor)).json() == [], name
        for trigger in Trigger:
            response = await client.post(
                f"{base}/transitions", json={"trigger": trigger.value}, headers=auditor
            )
            assert response.status_code == 409, (name, trigger, response.text)
            problem = response.json()
            assert problem["type"] == "/problems/transition-not-allowed"
            assert problem["allowed"] == []
            assert problem["state"] == case["state"]

    events = await client.get(f"/api/v1/cases/{cases['court']['id']}/events", headers=auditor)
    assert [e["trigger"] for e in events.json()] == [None, "accept", "terminate", "refer_to_court"]


@pytest.mark.parametrize("username", ["auditor", "admin"])
async def test_auditor_and_admin_cannot_register_a_case(
    client: httpx.AsyncClient, auth, db: Backend, username: str
) -> None:
    response = await client.post("/api/v1/cases", json=case_body(), headers=await auth(username))

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/forbidden"


async def test_admin_gets_403_on_the_case_list(client: httpx.AsyncClient, auth, db: Backend) -> None:
    await placed_cases(client, auth)

    response = await client.get("/api/v1/cases", headers=await auth("admin"))

    assert response.status_code == 403
    assert response.json()["type"] == "/problems/forbidden"


# --- the ?unit= filter narrows within scope, never widens it ---------------------------------

UNIT_FILTER_CASES = [
    # (user, ?unit=, the cases listed)
    ("wulian.mediator", ZHANGPU, frozenset()),
    ("wulian.mediator", "320583", frozenset({"wulian"})),
    ("dashi.mediator", "320583", frozenset({"dashi", "police"})),
    ("dashi.mediator", WULIAN, frozenset()),
    ("yushan.coordinator", ZHANGPU, frozenset()),
    ("zhangpu.coordinator", DASHI, frozenset({"dashi"})),
    ("zhangpu.coordinator", ZHANGPU, frozenset({"dashi", "zhangpu_town"})),
    ("zhangpu.coordinator", "320583", frozenset({"dashi", "zhangpu_town", "police"})),
    ("city.coordinator", ZHANGPU, frozenset({"dashi", "zhangpu_town"})),
    ("city.coordinator", "320583100", frozenset({"wulian"})),
    ("city.coordinator", MEDICAL_COMMITTEE, frozenset({"medical"})),
    ("zhangpu.police", ZHANGPU, frozenset()),
    ("medical.mediator", "320583", frozenset({"medical"})),
    ("court.clerk", ZHANGPU, frozenset()),
    ("court.clerk", COURT_DESK, frozenset({"court"})),
    ("auditor", ZHANGPU, frozenset({"dashi", "zhangpu_town"})),
    ("auditor", ZHANGPU_POLICE, frozenset({"police"})),
]


@pytest.mark.parametrize(("username", "unit", "expected"), UNIT_FILTER_CASES)
async def test_unit_filter_narrows_within_scope_and_never_widens_it(
    client: httpx.AsyncClient, auth, db: Backend, username: str, unit: str, expected: frozenset[str]
) -> None:
    cases = await placed_cases(client, auth)
    by_id = {case["id"]: name for name, case in cases.items()}

    response = await client.get("/api/v1/cases", params={"unit": unit}, headers=await auth(username))

    assert response.status_code == 200, response.text
    assert sorted(by_id[item["id"]] for item in response.json()["items"]) == sorted(expected)
    assert expected <= LISTED[username]


async def test_unit_filter_with_an_unknown_unit_is_422_naming_the_field(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    response = await client.get(
        "/api/v1/cases", params={"unit": "999999"}, headers=await auth("city.coordinator")
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "query.unit", "message": "no unit with code '999999'"}]


async def test_court_clerk_filtering_by_town_still_lists_a_case_the_court_delegated_there(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    cases = await placed_cases(client, auth)
    clerk = await auth("court.clerk")
    claimed = await move(client, clerk, cases["court"], "claim")
    delegated = await move(
        client,
        clerk,
        claimed,
        "delegate",
        target_unit=DASHI,
        court_case_number="(2026)苏0583民初1234号",
        procedure="ordinary",
        reason="委托调解",
    )
    assert (delegated["unit_code"], delegated["court_linked"]) == (DASHI, True)
    assert (await client.get(f"/api/v1/cases/{delegated['id']}", headers=clerk)).status_code == 200
    unfiltered = await client.get("/api/v1/cases", headers=clerk)
    assert [item["id"] for item in unfiltered.json()["items"]] == [delegated["id"]]

    filtered = await client.get("/api/v1/cases", params={"unit": ZHANGPU}, headers=clerk)

    assert [item["id"] for item in filtered.json()["items"]] == [delegated["id"]]
