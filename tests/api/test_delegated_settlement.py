"""A settlement reached in court-delegated mediation (委托调解, after filing) goes back to the court:
特邀调解规定 art. 20; 司法确认规定 (2011) art. 13. The court closes the case by a mediation statement
(调解书), by withdrawal (撤诉) or otherwise; there is no confirmation window and no follow-up clock.
A 委派 (pre-filing) settlement stays on the ordinary path: its agreement may be confirmed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_referrals import delegated_by_court, inbox_kinds, referrals
from tests.builders import CONFIRMABLE_AGREEMENT, COURT_DESK, DASHI, fire, move, read_case
from tests.conftest import Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("trail_stays_intact")


async def settled_under_delegation(
    client: httpx.AsyncClient, station: dict[str, str], clerk: dict[str, str], procedure: str
) -> dict[str, Any]:
    delegated = await delegated_by_court(client, station, clerk, "(2026)苏0583民初88号", procedure)
    accepted = await move(client, station, delegated, "accept")
    answer = await move(client, station, accepted, "settle", agreement=CONFIRMABLE_AGREEMENT)
    if answer.get("view") == "sent":  # it went back to the court: the station follows it from afar
        assert answer["unit_code"] == COURT_DESK and "agreement" not in answer
        return await read_case(client, clerk, answer)
    return answer


@pytest.mark.parametrize("outcome", ["mediation_statement", "withdrawn", "other_court"])
async def test_a_court_delegated_settlement_goes_back_to_the_court_which_closes_it(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, outcome: str
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    settled = await settled_under_delegation(client, station, clerk, "ordinary")

    assert (settled["state"], settled["unit_code"], settled["termination_reason"]) == (
        "referred",
        COURT_DESK,
        None,  # the agreement supersedes the failure that first brought the case to the court
    )
    clocks = {d["kind"]: d["status"] for d in settled["deadlines"]}
    assert clocks["court_delegation_ordinary"] == "met"
    assert not {"confirmation_window", "performance_followup"} & {
        d["kind"] for d in settled["deadlines"] if d["status"] == "active"
    }
    [delegation] = await referrals(client, clerk, settled)
    assert delegation["status"] == "completed"
    assert delegation["result"]["agreement"]["terms"] == CONFIRMABLE_AGREEMENT["terms"]
    assert {"referral_result", "delegation_settled"} <= set(await inbox_kinds(client, clerk, COURT_DESK))
    queue = (await client.get("/api/v1/court/queue", headers=clerk)).json()
    assert settled["id"] in [c["id"] for c in queue["items"]]

    claimed = await move(client, clerk, settled, "claim")
    options = (await client.get(f"/api/v1/cases/{claimed['id']}/transitions", headers=clerk)).json()
    assert "request_confirmation" not in {o["trigger"] for o in options}
    closed = await move(client, clerk, claimed, "close", outcome=outcome, reason="委托调解达成协议")

    assert (closed["state"], closed["outcome"]) == ("closed", outcome)
    # The station that mediated it sees how the court closed it.
    followed = await read_case(client, station, closed)
    assert (followed["view"], followed["state"], followed["outcome"]) == ("sent", "closed", outcome)


async def test_a_court_delegated_settlement_cannot_be_sent_for_judicial_confirmation(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    settled = await settled_under_delegation(client, station, clerk, "simplified")

    as_clerk = (await client.get(f"/api/v1/cases/{settled['id']}", headers=clerk)).json()
    response = await fire(client, clerk, as_clerk, "request_confirmation", applicants=[], materials=[])

    assert settled["state"] == "referred"
    assert response.status_code == 409  # the state allows no application, whatever the fields


async def test_a_pre_filing_assignment_settles_on_the_ordinary_path(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    settled = await settled_under_delegation(client, station, clerk, "assignment")

    assert (settled["state"], settled["unit_code"]) == ("settled", DASHI)
    active = {d["kind"] for d in settled["deadlines"] if d["status"] == "active"}
    assert {"confirmation_window", "performance_followup"} <= active
    assert settled["agreement"]["confirmation_eligibility"]["confirmable"] is True
