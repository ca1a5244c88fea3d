"""Intake and consent (workflows/intake.py) and how the planner applies them: the prior-proceedings
bar on acceptance into people's mediation, each party's consent on accept, 警调/访调/检调 hand-offs and
court delegation, and a party's refusal recorded with the termination it causes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.workflows.test_lifecycle import (
    DASHI,
    DASHI_MEDIATOR,
    DESK,
    DESK_CLERK,
    NOW,
    PS_ZHANGPU,
    context,
    person,
)
from tests.workflows.test_transition import PLANNING, snapshot
from workflows.intake import (
    PartyRef,
    acceptance_bar,
    declaration_problem,
    missing_consent,
    refused_by,
)
from workflows.lifecycle import CaseState, Role, Trigger
from workflows.org import Channel
from workflows.referrals import ReferralStatus
from workflows.transition import (
    AcceptanceBarred,
    ConsentMissing,
    FieldRejected,
    OpenReferral,
    plan_transition,
)
from workflows.vocab import PartyRole, PriorAuthority, ReferralKind

S = CaseState
T = Trigger
WANG = PartyRef(1, "王秀英", PartyRole.applicant)
LI = PartyRef(2, "李建国", PartyRole.respondent)
ZHAO = PartyRef(3, "赵第三", PartyRole.third_party)
PARTIES = (WANG, LI, ZHAO)
POLICE_ACCEPTED = {"authority": "police", "authority_name": "张浦派出所", "accepted_on": "2026-03-01"}


def consent(party: PartyRef, manner: str = "in_person", on: str = "2026-03-02") -> dict[str, Any]:
    return {"party_id": party.id, "manner": manner, "on": on}


def record(party: PartyRef, decision: str = "given") -> dict[str, Any]:
    return {
        "party_id": party.id,
        "party_name": party.name,
        "decision": decision,
        "manner": "oral",
        "on": "2026-03-01",
    }


def accept(fields: dict[str, Any], channel: Channel = Channel.people, **extra: Any) -> Any:
    ctx = context(S.assigned, DASHI_MEDIATOR, case_unit=DASHI)
    case = snapshot(ctx, channel=channel, parties=PARTIES, **extra)
    return plan_transition(case, DASHI_MEDIATOR, T.accept, fields, now=NOW, planning=PLANNING)


# --- the declaration --------------------------------------------------------------------------


def test_a_declared_acceptance_by_an_authority_names_it_and_the_day() -> None:
    assert declaration_problem({"authority": "police"}) == (
        "authority_name",
        "name the authority that accepted the matter (e.g. 张浦派出所)",
    )
    assert declaration_problem({"authority": "court", "authority_name": "昆山法院"})[0] == "accepted_on"  # type: ignore[index]
    assert declaration_problem(POLICE_ACCEPTED) is None
    assert declaration_problem({"authority": "none"}) is None
    assert declaration_problem({"authority": "none", "authority_name": "x"})[0] == "authority_name"  # type: ignore[index]


@pytest.mark.parametrize("authority", ["court", "police", "petition", "other"])
def test_a_matter_another_authority_accepted_bars_acceptance_citing_art_22(authority: str) -> None:
    bar = acceptance_bar({**POLICE_ACCEPTED, "authority": authority})

    assert bar is not None and bar.authority == PriorAuthority(authority)
    assert "第22条" in str(bar) and "张浦派出所" in str(bar) and "不予受理" in str(bar)


def test_none_does_not_bar_and_unknown_holds_acceptance_until_answered() -> None:
    assert acceptance_bar({"authority": "none"}) is None
    assert acceptance_bar(None) is None  # registered before intake asked: not stopped by an upgrade
    unknown = acceptance_bar({"authority": "unknown"})
    assert unknown is not None and "prior_proceedings" in str(unknown)


# --- the bar in the planner -------------------------------------------------------------------


def test_people_mediation_refuses_to_accept_a_case_the_police_accepted() -> None:
    with pytest.raises(AcceptanceBarred, match="第22条") as refused:
        accept({"consents": [consent(WANG), consent(LI)]}, prior_proceedings=POLICE_ACCEPTED)

    assert refused.value.authority == PriorAuthority.police


def test_an_administrative_unit_is_not_bound_by_the_people_mediation_bar() -> None:
    plan = accept({}, channel=Channel.administrative, prior_proceedings=POLICE_ACCEPTED)

    assert plan.to_state == S.mediating


def test_a_matter_the_police_itself_referred_by_hand_off_may_be_accepted() -> None:
    ctx = context(S.assigned, DASHI_MEDIATOR, case_unit=DASHI)
    referred = (OpenReferral(21, ReferralKind.police, ReferralStatus.offered, PS_ZHANGPU, DASHI),)
    case = snapshot(ctx, parties=PARTIES, prior_proceedings=POLICE_ACCEPTED, referrals=referred)

    plan = plan_transition(
        case, DASHI_MEDIATOR, T.accept, {"consents": [consent(WANG), consent(LI)]}, now=NOW, planning=PLANNING
    )

    assert plan.to_state == S.mediating


def test_a_case_the_police_accepted_may_be_closed_as_not_accepted() -> None:
    ctx = context(S.assigned, DASHI_MEDIATOR, case_unit=DASHI)
    case = snapshot(ctx, parties=PARTIES, prior_proceedings=POLICE_ACCEPTED)

    plan = plan_transition(case, DASHI_MEDIATOR, T.close, {"outcome": "rejected"}, now=NOW, planning=PLANNING)

    assert (plan.to_state, plan.changes["outcome"]) == (S.closed, "rejected")
    with pytest.raises(FieldRejected, match="assigned case closes as one of: rejected"):
        plan_transition(case, DASHI_MEDIATOR, T.close, {"outcome": "other_route"}, now=NOW, planning=PLANNING)


# --- consent ------------------------------------------------------------------------------------


def test_accept_names_each_party_whose_consent_is_missing() -> None:
    with pytest.raises(ConsentMissing) as missing:
        accept({"consents": [consent(WANG)]})

    assert missing.value.fields == [
        ("body.consents.2", "no consent of 李建国 (respondent) recorded for this step")
    ]


def test_accept_records_each_partys_consent_how_and_when_and_who_recorded_it() -> None:
    plan = accept({"consents": [consent(WANG, "written"), consent(LI, "phone", "2026-03-03")]})

    assert plan.changes["consents"] == [
        {
            "party_id": 1,
            "party_name": "王秀英",
            "party_role": "applicant",
            "decision": "given",
            "manner": "written",
            "on": "2026-03-02",
            "step": "accept",
            "recorded_by": DASHI_MEDIATOR.username,
            "recorded_at": NOW.isoformat(),
        },
        {
            "party_id": 2,
            "party_name": "李建国",
            "party_role": "respondent",
            "decision": "given",
            "manner": "phone",
            "on": "2026-03-03",
            "step": "accept",
            "recorded_by": DASHI_MEDIATOR.username,
            "recorded_at": NOW.isoformat(),
        },
    ]
    # The consents travel in the audit event too: the trail shows them with the acceptance.
    assert plan.event["payload"]["consents"][1]["manner"] == "phone"


def test_consent_given_to_the_referral_stands_at_acceptance_unless_refused_since() -> None:
    standing = (record(WANG), record(LI))
    assert accept({}, consents=standing).to_state == S.mediating

    with pytest.raises(ConsentMissing, match="李建国"):
        accept({}, consents=(*standing, record(LI, "refused")))


def test_a_third_partys_consent_is_recorded_but_not_awaited() -> None:
    assert missing_consent(PARTIES, [], [consent(WANG) | {"decision": "given"}]) == [LI]
    assert refused_by([record(WANG), record(WANG, "refused"), record(LI)]) == [1]


def test_a_consent_of_someone_who_is_not_a_party_is_refused() -> None:
    with pytest.raises(FieldRejected, match="not parties of this case: 9"):
        accept(
            {"consents": [consent(WANG), consent(LI), {"party_id": 9, "manner": "oral", "on": "2026-03-02"}]}
        )


def _hand_off(kind: str, payload: dict[str, str], consents: list[dict[str, Any]]) -> Any:
    officer = person(Role.agency_officer, PS_ZHANGPU)
    ctx = context(S.mediating, officer, case_unit=PS_ZHANGPU)
    case = snapshot(ctx, channel=Channel.administrative, parties=PARTIES)
    fields = {
        "target_unit": DASHI,
        "referral_kind": kind,
        "referral_payload": payload,
        "reason": "适宜人民调解",
        "consents": consents,
    }
    return plan_transition(case, officer, T.hand_off, fields, now=NOW, planning=PLANNING)


def test_a_police_hand_off_needs_the_parties_agreement_to_be_referred() -> None:
    payload = {"police_report_number": "JQ1"}
    with pytest.raises(ConsentMissing, match="hand_off needs the consent of each party"):
        _hand_off("police", payload, [consent(WANG)])

    plan = _hand_off("police", payload, [consent(WANG), consent(LI)])
    assert [r["step"] for r in plan.changes["consents"]] == ["hand_off", "hand_off"]


def test_an_administrative_hand_off_does_not_ask_for_consent() -> None:
    assert _hand_off("administrative", {}, []).to_state == S.assigned


def test_a_court_delegation_needs_each_partys_consent() -> None:
    ctx = context(S.in_court, DESK_CLERK, case_unit=DESK, court_linked=True, claimed_by=DESK_CLERK.username)
    case = snapshot(ctx, parties=PARTIES)
    fields: dict[str, Any] = {
        "target_unit": DASHI,
        "court_case_number": "(2026)苏0583民初1号",
        "procedure": "ordinary",
        "consents": [consent(LI)],
    }
    with pytest.raises(ConsentMissing, match="王秀英"):
        plan_transition(case, DESK_CLERK, T.delegate, fields, now=NOW, planning=PLANNING)

    fields["consents"] = [consent(WANG), consent(LI)]
    plan = plan_transition(case, DESK_CLERK, T.delegate, fields, now=NOW, planning=PLANNING)
    assert {r["step"] for r in plan.changes["consents"]} == {"delegate"}


def test_consent_to_an_earlier_mediation_does_not_stand_for_a_delegation() -> None:
    ctx = context(S.in_court, DESK_CLERK, case_unit=DESK, court_linked=True, claimed_by=DESK_CLERK.username)
    case = snapshot(ctx, parties=PARTIES, consents=(record(WANG), record(LI)))
    fields = {"target_unit": DASHI, "court_case_number": "(2026)苏0583民初1号", "procedure": "ordinary"}

    with pytest.raises(ConsentMissing, match=r"王秀英.*李建国"):
        plan_transition(case, DESK_CLERK, T.delegate, fields, now=NOW, planning=PLANNING)


# --- refusal --------------------------------------------------------------------------------------


def _terminate(fields: dict[str, Any]) -> Any:
    ctx = context(S.mediating, DASHI_MEDIATOR, case_unit=DASHI)
    case = snapshot(ctx, parties=PARTIES, consents=(record(WANG), record(LI)))
    return plan_transition(case, DASHI_MEDIATOR, T.terminate, fields, now=NOW, planning=PLANNING)


def test_a_partys_refusal_is_recorded_with_the_termination_it_causes() -> None:
    plan = _terminate({"termination_reason": "party_refused", "refused_by": consent(LI, "phone")})

    assert plan.changes["termination_reason"] == "party_refused"
    assert plan.changes["consents"][-1] | {"recorded_at": "-"} == {
        "party_id": 2,
        "party_name": "李建国",
        "party_role": "respondent",
        "decision": "refused",
        "manner": "phone",
        "on": "2026-03-02",
        "step": "terminate",
        "recorded_by": DASHI_MEDIATOR.username,
        "recorded_at": "-",
    }
    assert len(plan.changes["consents"]) == 3  # the earlier consents stay on record


def test_a_refusal_goes_only_with_the_reason_party_refused_and_names_a_party() -> None:
    with pytest.raises(FieldRejected, match="party_refused") as wrong_reason:
        _terminate({"termination_reason": "gap_too_wide", "refused_by": consent(LI)})
    assert wrong_reason.value.field == "body.refused_by"
    with pytest.raises(FieldRejected, match="not a party of this case: 9"):
        _terminate(
            {
                "termination_reason": "party_refused",
                "refused_by": {"party_id": 9, "manner": "oral", "on": "2026-03-02"},
            }
        )
    assert "consents" not in _terminate({"termination_reason": "gap_too_wide"}).changes
