"""A case read is one typed row (``service.cases.rows``), the same on SQLite and PostgreSQL:
enums for the columns that hold one, aware instants, its children parsed and in id order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from service.cases import queries
from service.cases.rows import CASE_COLUMNS, CaseRow
from service.personal.sealing import unseal
from tests.builders import DASHI, POLICE, hand_to_station, move, police_case
from tests.conftest import FIXED_NOW, Backend, FrozenClock
from workflows.deadlines import DeadlineStatus
from workflows.lifecycle import CaseState, Trigger
from workflows.org import Channel, Tier
from workflows.referrals import ReferralStatus
from workflows.transition import OpenReferral
from workflows.vocab import DisputeType, PartyKind, PartyRole, ReferralKind, RiskColour, Source


def test_a_case_row_has_every_column_of_the_table_in_its_order() -> None:
    assert tuple(queries.cases.c.keys()) == CASE_COLUMNS


async def test_a_case_reads_as_the_same_typed_row_on_either_database(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    police, station = await auth("zhangpu.police"), await auth("dashi.mediator")
    case = await move(
        client, station, await hand_to_station(client, police, await police_case(client, police)), "accept"
    )

    row = await queries.read_case(db.engine, case["id"])

    assert isinstance(row, CaseRow)
    assert (row.state, row.tier, row.channel) == (CaseState.mediating, Tier.village, Channel.people)
    assert type(row.state) is CaseState and type(row.tier) is Tier and type(row.channel) is Channel
    assert (type(row.dispute_type), type(row.source), type(row.risk)) == (DisputeType, Source, RiskColour)
    assert (row.amount_yuan, row.unit_code, row.version) == (Decimal("3000.00"), DASHI, case["version"])
    assert row.created_at == FIXED_NOW and row.created_at.tzinfo is not None
    assert [(p.role, p.kind) for p in row.parties] == [
        (PartyRole.applicant, PartyKind.person),
        (PartyRole.respondent, PartyKind.person),
    ]
    # Parties as stored: sealed, opened only on purpose.
    assert row.parties[0].id_number != "320583198001011234"
    assert unseal(row.parties[0].stored(), db.ctx.cipher)["id_number"] == "320583198001011234"
    clocks = [(d.kind, d.unit_code, d.status) for d in row.deadlines]
    assert clocks == [
        ("acceptance", POLICE, DeadlineStatus.cancelled),
        ("referral_acceptance", DASHI, DeadlineStatus.met),
        ("people_mediation", DASHI, DeadlineStatus.active),
    ]
    assert [d.id for d in row.deadlines] == sorted(d.id for d in row.deadlines)
    mediation = row.deadlines[-1]
    assert mediation.started_at.astimezone(UTC) == FIXED_NOW and mediation.due_at > FIXED_NOW
    assert mediation.extensions == () and all(isinstance(at, datetime) for _, at in mediation.warnings)
    [referral] = row.open_referrals
    assert referral == OpenReferral(referral.id, ReferralKind.police, ReferralStatus.accepted, POLICE, DASHI)
    async with db.engine.connect() as conn:
        events = await queries.list_events(conn, case["id"])
    assert [(e.seq, e.trigger) for e in events] == [(1, None), (2, Trigger.hand_off), (3, Trigger.accept)]
    assert row.last_event_hash == events[-1].hash
