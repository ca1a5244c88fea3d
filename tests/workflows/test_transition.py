"""The transition planner (workflows/transition.py): every row of the lifecycle table from every
source state, and every refusal, without a database.

Each row is planned from a context that meets its guards (``satisfying_context``, shared with the
lifecycle's tests) on a case that has an offer waiting at its unit, an accepted hand-off and a
pending confirmation application, so that answers and completions have something to act on. What
each row must do is written out in ``EXPECTED``, one entry per row: a new row without one fails
``test_every_rule_has_an_expected_plan``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.workflows.test_lifecycle import (
    CITY,
    DASHI,
    DASHI_MEDIATOR,
    DESK,
    DESK_CLERK,
    FORBIDDEN,
    FORBIDDEN_IDS,
    NOW,
    ORG,
    PS_ZHANGPU,
    ROW_IDS,
    ROWS,
    SYSTEM,
    WULIAN,
    ZHANGPU,
    ZHOUXIANG,
    context,
    person,
    satisfying_context,
)
from workflows.calendar import SHANGHAI, BusinessCalendar, seeded_years
from workflows.deadlines import CaseClockFacts, DeadlineStatus, OpenDeadline, parse_policies, plan
from workflows.lifecycle import (
    CLOSE_OUTCOMES,
    TRANSITIONS,
    Actor,
    Agreement,
    CaseState,
    Outcome,
    Role,
    Rule,
    TransitionContext,
    Trigger,
)
from workflows.referrals import ReferralStatus
from workflows.transition import (
    CaseSnapshot,
    ConfirmationWindowClosed,
    FieldRejected,
    NotAllowed,
    NotConfirmable,
    OpenReferral,
    PayloadMissing,
    Planning,
    TransitionPlan,
    plan_transition,
)
from workflows.vocab import DisputeType, ReferralKind

S = CaseState
T = Trigger
REPO = Path(__file__).resolve().parents[2]
DEADLINES_YAML = REPO / "config" / "deadlines.yaml"
POLICIES = parse_policies(yaml.safe_load(DEADLINES_YAML.read_text(encoding="utf-8")), str(DEADLINES_YAML))
PLANNING = Planning(ORG, POLICIES, BusinessCalendar(seeded_years()), court_lease_minutes=30)

# The case's open referrals: an offer waiting at the unit that holds the case, a hand-off it
# accepted earlier, and a confirmation application the court has not accepted yet.
WAITING, ACCEPTED, APPLIED = 11, 12, 13
# A written agreement with everything 人民调解法 art. 29 asks for: a court may confirm it.
AGREEMENT = {
    "form": "written",
    "terms": "赔偿维修费 2000 元",
    "facts": "楼上漏水致楼下墙面受损，双方就维修费争执",
    "performance_manner": "一次性转账",
    "performance_deadline": "2026-03-31",
    "signed_by_parties": True,
    "signed_by_mediator": True,
    "sealed": True,
    "touches": [],
    "effective_on": "2026-03-01",
}
PARTIES = ("王秀英", "李建国")
APPLICATION = {
    "applicants": [
        {"party": "王秀英"},
        {"party": "李建国", "agent": "张律师", "authority_document": "授权委托书"},
    ],
    "applied_on": "2026-03-02",
    "materials": ["调解协议书", "身份证明"],
}


def snapshot(ctx: TransitionContext, **extra: Any) -> CaseSnapshot:
    """The case behind ``ctx``: its referrals say what the context's facts say (a court delegation
    it works on, an application accepted or not)."""
    delegated = ctx.case.delegated_after_filing
    application = ReferralStatus.accepted if ctx.case.application == "accepted" else ReferralStatus.offered
    referrals = (
        OpenReferral(WAITING, ReferralKind.sectoral, ReferralStatus.offered, ZHOUXIANG, ctx.case.unit_code),
        OpenReferral(
            ACCEPTED,
            ReferralKind.court_delegation if delegated else ReferralKind.police,
            ReferralStatus.accepted,
            DESK if delegated else PS_ZHANGPU,
            ctx.case.unit_code,
        ),
        OpenReferral(APPLIED, ReferralKind.judicial_confirmation, application, ctx.case.unit_code, DESK),
    )
    values: dict[str, Any] = {
        "id": 7,
        "number": "KS-2026-000007",
        "version": 3,
        "last_event_hash": "ab" * 32,
        "state": ctx.case.state,
        "unit_code": ctx.case.unit_code,
        "channel": ctx.case.channel,
        "dispute_type": DisputeType.NEIGHBOUR,
        "returns_to_code": ctx.case.returns_to_code,
        "court_linked": ctx.case.court_linked,
        "claimed_by": ctx.case.claimed_by,
        "agreement": AGREEMENT,
        "referrals": referrals,
        "party_names": PARTIES,
        "court_procedure": "ordinary" if delegated else None,
        **extra,
    }
    return CaseSnapshot(**values)


def fields_for(rule: Rule, source: CaseState, ctx: TransitionContext) -> dict[str, Any]:
    """Valid fields for the row (as the service passes them after validation)."""
    given: dict[str, Any] = {"reason": "理由", **ctx.fields}
    if ctx.target is not None:
        given["target_unit"] = ctx.target.code
    if rule.trigger == T.hand_off:
        given.update(referral_kind="sectoral", referral_payload={})
    if rule.trigger == T.delegate:
        given.update(procedure="ordinary", court_case_number="(2026)苏0583民初1号", materials=["起诉状"])
    if rule.trigger == T.settle:
        given["agreement"] = {"form": "written", "terms": "赔偿维修费 2000 元"}
    if rule.trigger == T.terminate:
        given["termination_reason"] = "gap_too_wide"
    if rule.trigger == T.request_confirmation:
        given.update(APPLICATION)
    if rule.trigger == T.close:
        given["outcome"] = CLOSE_OUTCOMES[source][0].value
    return given


def planned(rule: Rule, source: CaseState) -> tuple[TransitionContext, TransitionPlan]:
    ctx = satisfying_context(rule, source)
    result = plan_transition(
        snapshot(ctx), ctx.actor, rule.trigger, fields_for(rule, source, ctx), now=NOW, planning=PLANNING
    )
    return ctx, result


def rule_id(rule: Rule) -> str:
    return f"{rule.trigger.value} {'|'.join(s.value for s in rule.source)} -> {rule.dest.value}"


@dataclass(frozen=True)
class Expected:
    """What a row writes besides its state, the unit's tier and channel and ``updated_at``."""

    unit: str  # the unit holding the case after (a code, or "target" / "case" / "returns_to")
    changes: Mapping[str, Any] = field(default_factory=dict)  # other columns (ANY: set, value checked apart)
    opened: ReferralKind | None = None
    answered: tuple[tuple[int, ...], ReferralStatus] | None = None
    completes: bool = False
    announced: tuple[tuple[str, str], ...] = ()  # (unit, kind), in order


ANY = object()
ENQUEUED = {"queued_at": NOW, "claimed_by": None, "lease_expires_at": None}
LEASE_ENDED = {"lease_expires_at": None}
CLOSED = {"closed_at": NOW}


def ends_offers(rule: Rule) -> bool:
    """A rule that ends the case without answering the offer waiting at its unit completes it too."""
    return rule.dest == CaseState.closed and rule.effects.answer is None


def completed_notes(ctx: TransitionContext, rule: Rule) -> tuple[tuple[str, str], ...]:
    """The senders of the accepted hand-off (or court delegation) and of the pending application
    hear the result; so does the sender of an offer the case ended before accepting."""
    sender = DESK if ctx.case.delegated_after_filing else PS_ZHANGPU
    waiting = ((ZHOUXIANG, "referral_result"),) if ends_offers(rule) else ()
    return (*waiting, (sender, "referral_result"), (ctx.case.unit_code, "referral_result"))


EXPECTED: dict[str, Expected] = {
    "dispatch registered -> assigned": Expected(
        "target", {"returns_to_code": ZHANGPU}, announced=(("target", "dispatch"),)
    ),
    "accept assigned -> mediating": Expected("case", answered=((WAITING,), ReferralStatus.accepted)),
    "decline assigned -> referred": Expected(
        "returns_to",
        {"returns_to_code": CITY, **ENQUEUED},  # the desk has no town: a further decline goes to the city
        answered=((WAITING,), ReferralStatus.declined),
        announced=(("returns_to", "returned"),),
    ),
    "decline assigned -> registered": Expected(
        "returns_to",
        {"returns_to_code": ZHANGPU},
        answered=((WAITING,), ReferralStatus.declined),
        announced=(("returns_to", "returned"),),
    ),
    "decline assigned -> assigned": Expected(
        "returns_to",
        {"returns_to_code": ZHANGPU},  # back at 周巷社区, whose hub is 张浦镇
        answered=((WAITING,), ReferralStatus.declined),
        announced=(("returns_to", "returned"),),
    ),
    "escalate assigned|mediating -> assigned": Expected(ZHANGPU, announced=((ZHANGPU, "escalation"),)),
    "hand_off registered|assigned|mediating|terminated -> assigned": Expected(
        "target",
        {"returns_to_code": "case"},
        opened=ReferralKind.sectoral,
        announced=(("case", "referral_sent"), ("target", "hand_off")),
    ),
    "suspend mediating -> suspended": Expected("case"),
    "resume suspended -> mediating": Expected("case"),
    # 委托调解: the agreement answers the court's delegation and the case waits in the court's queue.
    "settle mediating -> referred": Expected(
        DESK,
        {"agreement": ANY, "termination_reason": None, **ENQUEUED},
        completes=True,
        announced=((DESK, "delegation_settled"),),
    ),
    "settle mediating -> settled": Expected("case", {"agreement": ANY}, completes=True),
    "terminate mediating|suspended -> terminated": Expected(
        "case", {"termination_reason": "gap_too_wide"}, completes=True
    ),
    "refer_to_court terminated -> referred": Expected(
        DESK, {"court_linked": True, **ENQUEUED}, announced=((DESK, "referral"),)
    ),
    "claim referred -> in_court": Expected(
        "case",
        {
            "court_linked": True,
            "claimed_by": DESK_CLERK.username,
            "lease_expires_at": NOW + timedelta(minutes=30),
        },
    ),
    "release in_court -> referred": Expected("case", ENQUEUED),
    "docket in_court -> closed": Expected(
        "case", {**LEASE_ENDED, **CLOSED, "outcome": "litigated"}, completes=True
    ),
    "delegate in_court -> assigned": Expected(
        "target",
        {
            "returns_to_code": DESK,
            "court_linked": True,
            **LEASE_ENDED,
            "court_procedure": "ordinary",
            "court_case_number": "(2026)苏0583民初1号",
        },
        opened=ReferralKind.court_delegation,
        announced=((DESK, "referral_sent"), ("target", "delegation")),
    ),
    "request_confirmation settled -> confirming": Expected(
        "case",
        {"court_linked": True},
        opened=ReferralKind.judicial_confirmation,
        announced=(("case", "referral_sent"), (DESK, "confirmation_application")),
    ),
    "accept_confirmation confirming -> confirming": Expected(
        "case", answered=((APPLIED,), ReferralStatus.accepted)
    ),
    "refuse_confirmation confirming -> settled": Expected(
        "case",
        {"agreement": ANY},
        answered=((APPLIED,), ReferralStatus.declined),
        announced=(("case", "confirmation_refused"),),
    ),
    "withdraw_confirmation confirming -> settled": Expected(
        "case",
        {"agreement": ANY},
        answered=((APPLIED,), ReferralStatus.withdrawn),
        announced=((DESK, "confirmation_withdrawn"),),
    ),
    "confirm confirming -> settled": Expected("case", {"agreement": ANY}, completes=True),
    "reject_confirmation confirming -> settled": Expected("case", {"agreement": ANY}, completes=True),
    "amend settled -> mediating": Expected("case"),
    "record_performance settled -> closed": Expected(
        "case", {**CLOSED, "outcome": "performed", "performance": "performed"}, completes=True
    ),
    "record_performance settled -> settled": Expected("case", {"performance": ANY}),
    "withdraw registered|assigned|mediating|suspended|terminated -> closed": Expected(
        "case", {**CLOSED, "outcome": "withdrawn"}, completes=True
    ),
    "withdraw referred|in_court -> closed": Expected(
        "case", {**LEASE_ENDED, **CLOSED, "outcome": "withdrawn"}, completes=True
    ),
    "close registered|terminated -> closed": Expected("case", {**CLOSED, "outcome": ANY}, completes=True),
    # 不予受理 at the unit it was sent to: the offer that brought it is declined.
    "close assigned -> closed": Expected(
        "case",
        {**CLOSED, "outcome": "rejected"},
        answered=((WAITING,), ReferralStatus.declined),
        completes=True,
    ),
    "close in_court -> closed": Expected("case", {**LEASE_ENDED, **CLOSED, "outcome": ANY}, completes=True),
    "close settled -> closed": Expected("case", {**CLOSED, "outcome": ANY}, completes=True),
}


def test_every_rule_has_an_expected_plan() -> None:
    ids = [rule_id(rule) for rule in TRANSITIONS]
    assert len(set(ids)) == len(ids), "two rows with the same trigger, sources and destination"
    assert set(ids) - EXPECTED.keys() == set(), "add an EXPECTED entry for the new row"
    assert EXPECTED.keys() - set(ids) == set(), "remove the EXPECTED entry of a row that is gone"


def _unit(name: str, ctx: TransitionContext) -> str:
    if name == "target":
        assert ctx.target is not None
        return ctx.target.code
    if name == "case":
        return ctx.case.unit_code
    if name == "returns_to":
        assert ctx.case.returns_to_code is not None
        return ctx.case.returns_to_code
    return name


@pytest.mark.parametrize(("rule", "source"), ROWS, ids=ROW_IDS)
def test_each_row_plans_what_its_effects_declare(rule: Rule, source: CaseState) -> None:
    expected = EXPECTED[rule_id(rule)]
    ctx, result = planned(rule, source)
    dest = ORG.get(_unit(expected.unit, ctx))

    assert (result.rule, result.from_state, result.to_state) == (rule, source, rule.dest)
    assert (result.from_unit, result.to_unit) == (ctx.case.unit_code, dest.code)
    assert (result.case_id, result.expected_version, result.prev_hash) == (7, 3, "ab" * 32)
    wanted = {
        "state": rule.dest.value,
        "unit_code": dest.code,
        "tier": dest.tier.value,
        "channel": dest.channel.value,
        "updated_at": NOW,
        **{k: _unit(v, ctx) if k == "returns_to_code" else v for k, v in expected.changes.items()},
    }
    assert result.changes.keys() == wanted.keys()
    assert {k: v for k, v in result.changes.items() if wanted[k] is not ANY} == {
        k: v for k, v in wanted.items() if v is not ANY
    }
    # The audit event says who moved the case from where to where, and carries the fields.
    assert result.event["trigger"] == rule.trigger.value and result.event["actor"] == ctx.actor.username
    assert (result.event["from_state"], result.event["to_state"]) == (source.value, rule.dest.value)
    assert (result.event["from_unit_code"], result.event["to_unit_code"]) == (ctx.case.unit_code, dest.code)
    assert result.event["reason"] == "理由" and "reason" not in result.event["payload"]

    assert (result.opened.kind if result.opened else None) == expected.opened
    if result.opened is not None:
        assert result.opened.from_unit_code == ctx.case.unit_code
        assert result.opened.to_unit_code == (
            DESK if expected.opened == ReferralKind.judicial_confirmation else dest.code
        )
    answered = None if result.answered is None else (result.answered.referral_ids, result.answered.status)
    assert answered == expected.answered
    assert (result.completed is not None) == expected.completes
    if result.completed is not None:
        waiting = (WAITING,) if ends_offers(rule) else ()
        assert result.completed.referral_ids == (*waiting, ACCEPTED, APPLIED)
        assert result.completed.result["state"] == rule.dest.value
    announced = (completed_notes(ctx, rule) if expected.completes else ()) + expected.announced
    assert [(a.unit_code, a.kind) for a in result.announcements] == [
        (_unit(unit, ctx), kind) for unit, kind in announced
    ]
    assert all(a.case_id == 7 for a in result.announcements)

    # The clocks are the deadline policies' plan for this event, at the unit that holds the case.
    assert result.clocks.unit_code == dest.code and result.clocks.case_id == 7
    assert result.clocks.plan == plan(
        POLICIES,
        event=rule.trigger.value,
        from_state=source,
        to_state=rule.dest,
        case=CaseClockFacts(
            dispute_type=DisputeType.NEIGHBOUR,
            channel=dest.channel,
            court_procedure=result.changes.get("court_procedure"),
        ),
        open_deadlines=(),
        now=NOW,
        calendar=PLANNING.calendar,
    )


def test_the_sweep_returns_an_offer_instead_of_declining_it() -> None:
    ctx = context(S.assigned, SYSTEM, case_unit=DASHI, returns_to=ZHOUXIANG)
    result = plan_transition(
        snapshot(ctx), SYSTEM, T.decline, {"reason": "逾期未受理"}, now=NOW, planning=PLANNING
    )
    assert result.answered is not None
    assert (result.answered.status, result.answered.decline_reason) == (ReferralStatus.returned, "逾期未受理")


def test_a_performed_agreement_that_the_court_confirmed_closes_as_confirmed() -> None:
    ctx = context(S.settled, DASHI_MEDIATOR)
    confirmed = {**AGREEMENT, "confirmed_at": NOW.isoformat(), "confirmed_by": "court.clerk"}
    fields = {"performance": "performed"}
    result = plan_transition(
        snapshot(ctx, agreement=confirmed),
        DASHI_MEDIATOR,
        T.record_performance,
        fields,
        now=NOW,
        planning=PLANNING,
    )
    assert result.changes["outcome"] == Outcome.confirmed.value


def test_an_agreement_is_dated_today_in_kunshan_unless_it_says_otherwise() -> None:
    ctx = context(S.mediating, DASHI_MEDIATOR)
    late_evening = NOW.replace(hour=17)  # 01:00 the next day in Kunshan
    plain = {"agreement": {"form": "oral", "terms": "道歉"}}
    dated = {"agreement": {"form": "oral", "terms": "道歉", "effective_on": "2026-03-01"}}
    first = plan_transition(
        snapshot(ctx), DASHI_MEDIATOR, T.settle, plain, now=late_evening, planning=PLANNING
    )
    second = plan_transition(snapshot(ctx), DASHI_MEDIATOR, T.settle, dated, now=NOW, planning=PLANNING)
    assert first.changes["agreement"]["effective_on"] == late_evening.astimezone(SHANGHAI).date().isoformat()
    assert first.changes["agreement"]["recorded_at"] == late_evening.isoformat()
    assert second.changes["agreement"]["effective_on"] == "2026-03-01"


def test_confirmation_stamps_the_agreement_it_confirms() -> None:
    ctx = context(S.confirming, DESK_CLERK, court_linked=True, application="accepted")
    result = plan_transition(snapshot(ctx), DESK_CLERK, T.confirm, {}, now=NOW, planning=PLANNING)
    assert result.changes["agreement"] == {
        **AGREEMENT,
        "confirmed_at": NOW.isoformat(),
        "confirmed_by": DESK_CLERK.username,
    }
    assert (
        result.completed is not None and result.completed.result["agreement"] == result.changes["agreement"]
    )


def test_clocks_follow_the_case_read_and_a_breached_one_is_never_paused() -> None:
    ctx = context(S.mediating, DASHI_MEDIATOR)
    running = OpenDeadline(
        id=5,
        kind="people_mediation",
        status=DeadlineStatus.active,
        started_at=NOW - timedelta(days=40),
        due_at=NOW - timedelta(days=10),
        paused_at=None,
        warnings=(),
    )
    case = snapshot(ctx, clocks=(running,), breached_clocks=frozenset({5}))
    result = plan_transition(
        case, DASHI_MEDIATOR, T.suspend, {"reason": "等待鉴定"}, now=NOW, planning=PLANNING
    )
    assert result.clocks.plan.paused == [5]  # the policy pauses it ...
    assert result.clocks.keep_breached == frozenset({5})  # ... and the executor keeps it breached


# --- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "trigger"), FORBIDDEN, ids=FORBIDDEN_IDS)
def test_a_trigger_outside_the_table_is_refused_with_the_allowed_ones(
    state: CaseState, trigger: Trigger
) -> None:
    ctx = context(state, DASHI_MEDIATOR)
    with pytest.raises(NotAllowed) as refused:
        plan_transition(snapshot(ctx), DASHI_MEDIATOR, trigger, {"reason": "x"}, now=NOW, planning=PLANNING)
    assert refused.value.state == state
    assert trigger not in refused.value.allowed


@pytest.mark.parametrize(("rule", "source"), ROWS, ids=ROW_IDS)
def test_each_row_refuses_a_stranger(rule: Rule, source: CaseState) -> None:
    ctx = satisfying_context(rule, source)
    stranger = person(Role.mediator, WULIAN)  # another town's village
    with pytest.raises(NotAllowed) as refused:
        plan_transition(
            snapshot(ctx), stranger, rule.trigger, fields_for(rule, source, ctx), now=NOW, planning=PLANNING
        )
    assert rule.trigger not in refused.value.allowed
    assert str(rule.trigger.value) in str(refused.value)


@pytest.mark.parametrize(
    ("trigger", "state", "actor", "case_unit", "target", "field_name"),
    [
        (T.dispatch, S.registered, person(Role.coordinator, ZHANGPU), ZHANGPU, WULIAN, "body.target_unit"),
        (T.hand_off, S.mediating, DASHI_MEDIATOR, DASHI, ZHOUXIANG, "body.target_unit"),
        (T.delegate, S.in_court, DESK_CLERK, DESK, PS_ZHANGPU, "body.target_unit"),
    ],
    ids=["dispatch-outside-the-hub", "hand-off-within-the-channel", "delegate-to-an-agency"],
)
def test_a_target_the_guards_reject_is_a_field_problem(
    trigger: Trigger, state: CaseState, actor: Actor, case_unit: str, target: str, field_name: str
) -> None:
    ctx = context(state, actor, case_unit=case_unit)
    fields = {
        "target_unit": target,
        "reason": "x",
        "referral_kind": "sectoral",
        "procedure": "ordinary",
        "court_case_number": "(2026)苏0583民初1号",
    }
    with pytest.raises(FieldRejected) as refused:
        plan_transition(snapshot(ctx), actor, trigger, fields, now=NOW, planning=PLANNING)
    assert refused.value.field == field_name


def test_an_unknown_target_unit_is_named() -> None:
    coordinator = person(Role.coordinator, ZHANGPU)
    ctx = context(S.registered, coordinator, case_unit=ZHANGPU)
    with pytest.raises(FieldRejected, match="no unit with code 'NOPE'"):
        plan_transition(
            snapshot(ctx), coordinator, T.dispatch, {"target_unit": "NOPE"}, now=NOW, planning=PLANNING
        )


def test_an_unknown_target_from_someone_who_may_not_dispatch_is_not_allowed_at_all() -> None:
    ctx = context(S.registered, DASHI_MEDIATOR, case_unit=ZHANGPU)
    with pytest.raises(NotAllowed):
        plan_transition(
            snapshot(ctx), DASHI_MEDIATOR, T.dispatch, {"target_unit": "NOPE"}, now=NOW, planning=PLANNING
        )


def test_a_hand_off_in_the_wrong_direction_names_the_kind() -> None:
    ctx = context(S.mediating, DASHI_MEDIATOR)
    fields = {"target_unit": PS_ZHANGPU, "referral_kind": "police", "referral_payload": {}, "reason": "x"}
    with pytest.raises(FieldRejected) as refused:
        plan_transition(snapshot(ctx), DASHI_MEDIATOR, T.hand_off, fields, now=NOW, planning=PLANNING)
    assert refused.value.field == "body.referral_kind"


def test_a_hand_off_without_its_payload_names_each_missing_field() -> None:
    officer = person(Role.agency_officer, PS_ZHANGPU)
    ctx = context(S.mediating, officer, case_unit=PS_ZHANGPU)
    fields = {"target_unit": DASHI, "referral_kind": "police", "referral_payload": {}, "reason": "x"}
    with pytest.raises(PayloadMissing) as refused:
        plan_transition(snapshot(ctx), officer, T.hand_off, fields, now=NOW, planning=PLANNING)
    assert refused.value.fields == ["body.referral_payload.police_report_number"]


@pytest.mark.parametrize("state", sorted(CLOSE_OUTCOMES), ids=str)
def test_close_refuses_an_outcome_its_state_does_not_allow(state: CaseState) -> None:
    actor = DESK_CLERK if state == S.in_court else DASHI_MEDIATOR
    ctx = context(
        state, actor, case_unit=DESK if state == S.in_court else DASHI, court_linked=state == S.in_court
    )
    wrong = next(o for o in Outcome if o not in CLOSE_OUTCOMES[state])
    with pytest.raises(FieldRejected) as refused:
        plan_transition(snapshot(ctx), actor, T.close, {"outcome": wrong.value}, now=NOW, planning=PLANNING)
    assert refused.value.field == "body.outcome"


def test_confirmation_is_refused_after_its_thirty_day_window() -> None:
    ctx = context(S.settled, DASHI_MEDIATOR)
    old = {**AGREEMENT, "effective_on": "2026-01-01"}
    with pytest.raises(ConfirmationWindowClosed) as refused:
        plan_transition(
            snapshot(ctx, agreement=old),
            DASHI_MEDIATOR,
            T.request_confirmation,
            APPLICATION,
            now=NOW,
            planning=PLANNING,
        )
    assert refused.value.effective_on == "2026-01-01"
    assert refused.value.last_day.isoformat() == "2026-02-02"  # 31 Jan is a Saturday, 1 Feb a Sunday


def test_exactly_the_rules_that_reach_a_result_complete_referrals() -> None:
    results = {S.settled, S.terminated, S.closed}  # an agreement, a failure, an ending
    for rule in TRANSITIONS:
        # An agreement that goes back to the court answers its delegation; an application refused
        # or withdrawn is answered, not completed. Closing a case that was only offered (不予受理 under
        # the prior-proceedings rule) declines the offer and completes what the case worked on before.
        result = rule.dest in results or rule.effects.agreement == Agreement.record
        answered = rule.effects.answer is not None and rule.dest != S.closed
        reaches = result and any(source != rule.dest for source in rule.source) and not answered
        assert rule.effects.completes_referrals == reaches, rule_id(rule)


# --- judicial confirmation as the parties' application, and 委托 settlements -----------------------


def _apply(agreement: Mapping[str, Any] | None = None, **changes: Any) -> TransitionPlan:
    ctx = context(S.settled, DASHI_MEDIATOR)
    case = snapshot(ctx, agreement=AGREEMENT if agreement is None else agreement)
    return plan_transition(
        case, DASHI_MEDIATOR, T.request_confirmation, {**APPLICATION, **changes}, now=NOW, planning=PLANNING
    )


def test_the_application_carries_the_parties_court_date_and_materials() -> None:
    result = _apply(court="COURT-320583")
    assert result.opened is not None
    assert result.opened.payload["applicants"] == APPLICATION["applicants"]
    assert (result.opened.payload["court"], result.opened.payload["applied_on"]) == (
        "COURT-320583",
        "2026-03-02",
    )
    assert result.opened.payload["materials"] == ["调解协议书", "身份证明"]
    assert _apply().opened.payload["court"] == "COURT-320583"  # type: ignore[union-attr]  # the desk's court


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"applicants": [{"party": "王秀英"}]}, "body.applicants"),  # one side alone
        ({"applicants": [{"party": "王秀英"}, {"party": "张三"}]}, "body.applicants[1].party"),
        ({"applicants": [{"party": "王秀英"}, {"party": "王秀英"}]}, "body.applicants[1].party"),
        (
            {"applicants": [{"party": "王秀英"}, {"party": "李建国", "agent": "张律师"}]},
            "body.applicants[1].authority_document",
        ),
        ({"applied_on": "2026-03-03"}, "body.applied_on"),  # tomorrow in Kunshan
        ({"applied_on": "2026-02-27"}, "body.applied_on"),  # before the agreement took effect
        ({"court": "320583"}, "body.court"),  # the city centre is no court
    ],
    ids=[
        "one-side",
        "stranger",
        "twice",
        "agent-without-authority",
        "future",
        "before-agreement",
        "not-a-court",
    ],
)
def test_an_application_the_law_does_not_allow_names_its_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldRejected) as refused:
        _apply(**changes)
    assert refused.value.field == field


def test_an_application_on_time_counts_even_when_recorded_after_the_window() -> None:
    ctx = context(S.settled, DASHI_MEDIATOR)
    later = NOW + timedelta(days=40)
    fields = {**APPLICATION, "applied_on": "2026-03-20"}
    result = plan_transition(
        snapshot(ctx), DASHI_MEDIATOR, T.request_confirmation, fields, now=later, planning=PLANNING
    )
    assert result.to_state == S.confirming
    with pytest.raises(ConfirmationWindowClosed):
        late = {**APPLICATION, "applied_on": "2026-04-08"}
        plan_transition(
            snapshot(ctx), DASHI_MEDIATOR, T.request_confirmation, late, now=later, planning=PLANNING
        )


@pytest.mark.parametrize(
    ("agreement", "article"),
    [
        ({**AGREEMENT, "touches": ["marriage"]}, "第355条"),
        ({**AGREEMENT, "touches": ["property_ownership"]}, "第355条"),
        ({**AGREEMENT, "sealed": False}, "第29条"),
        ({**AGREEMENT, "form": "oral"}, "第28、29条"),
    ],
    ids=["marriage", "property-ownership", "unsealed", "oral"],
)
def test_an_agreement_a_court_does_not_confirm_is_refused_with_the_article(
    agreement: dict[str, Any], article: str
) -> None:
    with pytest.raises(NotConfirmable) as refused:
        _apply(agreement)
    assert article in str(refused.value)


def test_settle_records_whether_the_agreement_may_be_confirmed() -> None:
    ctx = context(S.mediating, DASHI_MEDIATOR)
    complete = {k: v for k, v in AGREEMENT.items() if k != "effective_on"}
    ok = plan_transition(
        snapshot(ctx), DASHI_MEDIATOR, T.settle, {"agreement": complete}, now=NOW, planning=PLANNING
    )
    family = plan_transition(
        snapshot(ctx, dispute_type=DisputeType.MARRIAGE_FAMILY),
        DASHI_MEDIATOR,
        T.settle,
        {"agreement": {k: v for k, v in complete.items() if k != "touches"}},
        now=NOW,
        planning=PLANNING,
    )
    assert ok.changes["agreement"]["confirmation_eligibility"] == {"confirmable": True, "reasons": []}
    assert family.changes["agreement"]["touches"] == ["marriage"]  # pre-ticked for a family dispute
    eligibility = family.changes["agreement"]["confirmation_eligibility"]
    assert eligibility["confirmable"] is False and "婚姻关系" in eligibility["reasons"][0]


@pytest.mark.parametrize("missing", ["form", "signed_by_parties", "signed_by_mediator", "sealed"], ids=str)
def test_a_labour_agreement_must_be_written_signed_and_sealed(missing: str) -> None:
    ctx = context(S.mediating, DASHI_MEDIATOR)
    agreement = {**AGREEMENT, missing: "oral" if missing == "form" else False}
    with pytest.raises(FieldRejected) as refused:
        plan_transition(
            snapshot(ctx, dispute_type=DisputeType.LABOUR_WAGE_ARREARS),
            DASHI_MEDIATOR,
            T.settle,
            {"agreement": agreement},
            now=NOW,
            planning=PLANNING,
        )
    assert refused.value.field == "body.agreement" and "第14条" in refused.value.message


@pytest.mark.parametrize(
    ("trigger", "actor", "application", "result"),
    [
        (T.refuse_confirmation, DESK_CLERK, "offered", "not_accepted"),
        (T.reject_confirmation, DESK_CLERK, "accepted", "rejected"),
        (T.withdraw_confirmation, DASHI_MEDIATOR, "accepted", "withdrawn"),
    ],
    ids=["not-accepted", "rejected", "withdrawn"],
)
def test_an_application_that_ends_without_confirmation_is_recorded_on_the_agreement(
    trigger: Trigger, actor: Actor, application: str, result: str
) -> None:
    ctx = context(S.confirming, actor, court_linked=True, application=application)
    planned_ = plan_transition(snapshot(ctx), actor, trigger, {"reason": "理由"}, now=NOW, planning=PLANNING)
    assert planned_.to_state == S.settled and "termination_reason" not in planned_.changes
    assert planned_.changes["agreement"]["confirmation_results"] == [
        {"result": result, "reason": "理由", "at": NOW.isoformat(), "by": actor.username}
    ]
    assert planned_.changes["agreement"]["terms"] == AGREEMENT["terms"]  # the agreement stands


def test_a_court_delegated_settlement_starts_no_confirmation_or_follow_up_clock() -> None:
    ctx = context(S.mediating, DASHI_MEDIATOR, court_linked=True, delegated_after_filing=True)
    delegated = snapshot(ctx)
    result = plan_transition(
        delegated, DASHI_MEDIATOR, T.settle, {"agreement": AGREEMENT}, now=NOW, planning=PLANNING
    )
    ordinary = plan_transition(
        snapshot(context(S.mediating, DASHI_MEDIATOR)),
        DASHI_MEDIATOR,
        T.settle,
        {"agreement": AGREEMENT},
        now=NOW,
        planning=PLANNING,
    )
    assert (result.to_state, result.to_unit) == (S.referred, DESK)
    assert [p.kind for p, _ in result.clocks.plan.start] == []
    assert {p.kind for p, _ in ordinary.clocks.plan.start} == {"confirmation_window", "performance_followup"}
    assert (
        result.completed is not None and result.completed.result["agreement"] == result.changes["agreement"]
    )


@pytest.mark.parametrize(("rule", "source"), ROWS, ids=ROW_IDS)
def test_assignments_end_only_when_the_unit_stops_mediating_the_case(rule: Rule, source: CaseState) -> None:
    """A case's mediators stop handling it when it leaves the unit, goes to the court or closes;
    the court desk claiming a referred case, or giving it back to the queue, ends nothing (the
    referral already did), so it stays one statement on PostgreSQL."""
    _, result = planned(rule, source)
    past_mediation = {CaseState.referred, CaseState.in_court}
    between_court_states = source in past_mediation and rule.dest in past_mediation
    ends = (
        result.from_unit != result.to_unit
        or rule.dest == CaseState.closed
        or (rule.dest in past_mediation and not between_court_states)
    )
    assert result.mediators.end_current is ends
    if rule.trigger in (Trigger.claim, Trigger.release) and source in past_mediation:
        assert not result.mediators.any
