"""The case lifecycle table: every legal transition, the forbidden ones, destinations and the diagram.

Pure: no database, no FastAPI. The organisation tree is Kunshan's, loaded from config/units.
Row tests are generated from ``TRANSITIONS`` through ``GUARD_SETUPS`` (how to satisfy each guard),
so a new row is covered automatically and a new guard without a setup fails loudly.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from transitions import Machine

from service.config.units import load_units
from workflows import lifecycle
from workflows.lifecycle import (
    CLOSE_OUTCOMES,
    MACHINE,
    OUTCOME_LABELS,
    STATE_LABELS,
    SYSTEM_ACTOR_NAME,
    TRANSITIONS,
    TRIGGER_LABELS,
    Actor,
    CaseFacts,
    CaseState,
    Guard,
    Outcome,
    Performance,
    Role,
    Rule,
    TransitionContext,
    Trigger,
    allowed_triggers,
    destination,
    fire,
    fire_rule,
    mermaid_diagram,
    triggers_from,
)
from workflows.org import OrgTree

S = CaseState
T = Trigger

REPO = Path(__file__).resolve().parents[2]
ORG: OrgTree = load_units(REPO / "config" / "units")
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

CITY = "320583"  # 昆山市矛盾纠纷调处中心
YUSHAN = "320583100"  # 玉山镇
ZHANGPU = "320583106"  # 张浦镇
KAIFAQU = "320583400"  # 昆山开发区
DASHI = "320583106005"  # 大市社区 (张浦镇)
ZHOUXIANG = "320583106009"  # 周巷社区 (张浦镇)
WULIAN = "320583100210"  # 五联村 (玉山镇)
PENGLANG = "320583104010"  # 蓬朗社区: legally 花桥镇, handled by 开发区
PSB = "PSB-320583"  # 公安局
PS_ZHANGPU = "PS-320583106"  # 张浦派出所
HRSS = "HRSS-320583"  # 人社局
SC_MEDICAL = "SC-MEDICAL"
SC_TRAFFIC = "SC-TRAFFIC"
COURT = "COURT-320583"
DESK = "COURT-320583-DESK"


def person(role: Role, unit: str) -> Actor:
    return Actor(f"{role.value}@{unit}", role, unit)


SYSTEM = Actor(SYSTEM_ACTOR_NAME, Role.system, CITY)
DASHI_MEDIATOR = person(Role.mediator, DASHI)
ZHANGPU_COORDINATOR = person(Role.coordinator, ZHANGPU)
YUSHAN_COORDINATOR = person(Role.coordinator, YUSHAN)
CITY_COORDINATOR = person(Role.coordinator, CITY)
DESK_CLERK = person(Role.court_clerk, DESK)


def context(
    state: CaseState,
    actor: Actor,
    *,
    case_unit: str = DASHI,
    target: str | None = None,
    returns_to: str | None = None,
    court_linked: bool = False,
    claimed_by: str | None = None,
    fields: Mapping[str, Any] | None = None,
    delegated_after_filing: bool = False,
    application: str | None = None,
    agreement_confirmed: bool = False,
) -> TransitionContext:
    """A context on Kunshan's tree; the case's channel is its unit's channel, as the service sets it."""
    return TransitionContext(
        actor=actor,
        case=CaseFacts(
            state=state,
            unit_code=case_unit,
            channel=ORG.get(case_unit).channel,
            returns_to_code=returns_to,
            court_linked=court_linked,
            claimed_by=claimed_by,
            delegated_after_filing=delegated_after_filing,
            application=application,
            agreement_confirmed=agreement_confirmed,
        ),
        org=ORG,
        now=NOW,
        target=ORG.get(target) if target is not None else None,
        fields=dict(fields or {}),
    )


def in_state(ctx: TransitionContext, state: CaseState) -> TransitionContext:
    return replace(ctx, case=replace(ctx.case, state=state))


def as_actor(ctx: TransitionContext, actor: Actor) -> TransitionContext:
    return replace(ctx, actor=actor)


# --- how to satisfy each guard -----------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What one guard needs from the context; None means the guard does not care."""

    role: Role | None = None
    actor_unit: str | None = None
    case_unit: str | None = None
    target: str | None = None
    returns_to: str | None = None
    court_linked: bool | None = None
    holds_claim: bool | None = None  # the case is claimed by the actor
    fields: Mapping[str, Any] | None = None
    delegated_after_filing: bool | None = None
    application: str | None = None


_CASE_WORKER = Setup(role=Role.mediator, actor_unit=DASHI, case_unit=DASHI)

GUARD_SETUPS: dict[Guard, Setup] = {
    lifecycle.works_at_case_unit: _CASE_WORKER,
    lifecycle.works_at_case_unit_or_system: _CASE_WORKER,
    lifecycle.handles_case: _CASE_WORKER,
    lifecycle.handles_case_or_system: _CASE_WORKER,
    # a hub's coordinator holding a registered case at the hub
    lifecycle.supervises_case: Setup(role=Role.coordinator, actor_unit=ZHANGPU, case_unit=ZHANGPU),
    lifecycle.dispatch_target_in_scope: Setup(target=DASHI),
    lifecycle.returns_to_hub: Setup(returns_to=ZHANGPU),
    lifecycle.returns_to_court: Setup(returns_to=DESK, court_linked=True),
    lifecycle.returns_to_sender: Setup(returns_to=ZHOUXIANG),
    lifecycle.handles_case_or_system_on_court_case: _CASE_WORKER,
    lifecycle.handles_case_or_court_clerk_of_linked_case: _CASE_WORKER,
    lifecycle.has_escalation_target: Setup(case_unit=DASHI),
    lifecycle.hand_off_target_valid: Setup(target=SC_MEDICAL),
    lifecycle.court_desk_exists: Setup(),
    lifecycle.is_court_clerk: Setup(role=Role.court_clerk, actor_unit=DESK),
    lifecycle.holds_the_claim_or_system: Setup(role=Role.court_clerk, actor_unit=DESK, holds_claim=True),
    lifecycle.delegate_target_valid: Setup(target=DASHI),
    lifecycle.performance_complete: Setup(fields={"performance": Performance.performed}),
    lifecycle.performance_incomplete: Setup(fields={"performance": Performance.partially}),
    lifecycle.settles_for_the_court: Setup(delegated_after_filing=True, court_linked=True),
    lifecycle.application_awaits_acceptance: Setup(application="offered", court_linked=True),
    lifecycle.application_accepted: Setup(application="accepted", court_linked=True),
    lifecycle.agreement_not_confirmed: Setup(),
}

# Where a case sits in a state when no guard says otherwise: court states sit at the court desk.
HOME_UNIT = {S.referred: DESK, S.in_court: DESK}


def _merge(setups: Iterable[Setup]) -> Setup:
    merged: dict[str, Any] = {}
    for setup in setups:
        for f in fields(Setup):
            value = getattr(setup, f.name)
            if value is None:
                continue
            if f.name in merged and merged[f.name] != value:
                raise AssertionError(f"guard setups disagree on {f.name}: {merged[f.name]!r} vs {value!r}")
            merged[f.name] = value
    return Setup(**merged)


def satisfying_context(rule: Rule, state: CaseState) -> TransitionContext:
    """A context in ``state`` that meets every guard of ``rule`` (KeyError: a guard with no setup)."""
    setup = _merge(GUARD_SETUPS[guard] for guard in rule.conditions)
    case_unit = setup.case_unit or HOME_UNIT.get(state, DASHI)
    actor = person(setup.role or Role.mediator, setup.actor_unit or case_unit)
    return context(
        state,
        actor,
        case_unit=case_unit,
        target=setup.target,
        returns_to=setup.returns_to,
        court_linked=bool(setup.court_linked),
        claimed_by=actor.username if setup.holds_claim else None,
        fields=setup.fields,
        delegated_after_filing=bool(setup.delegated_after_filing),
        application=setup.application,
    )


ROWS = [(rule, source) for rule in TRANSITIONS for source in rule.source]
ROW_IDS = [f"{rule.trigger}:{source}->{rule.dest}" for rule, source in ROWS]
TABLE_PAIRS = {(source, rule.trigger) for rule, source in ROWS}
FORBIDDEN = [
    (state, trigger) for state in CaseState for trigger in Trigger if (state, trigger) not in TABLE_PAIRS
]
FORBIDDEN_IDS = [f"{trigger}-from-{state}" for state, trigger in FORBIDDEN]
MOVING_TRIGGERS = {T.dispatch, T.hand_off, T.delegate, T.escalate, T.decline, T.refer_to_court}
TARGETED_TRIGGERS = {T.dispatch, T.hand_off, T.delegate}


def test_every_guard_in_the_table_has_a_setup_and_no_setup_is_stale() -> None:
    used = {guard for rule in TRANSITIONS for guard in rule.conditions}
    assert {g.__name__ for g in used - GUARD_SETUPS.keys()} == set(), "add a GUARD_SETUPS entry"
    assert {g.__name__ for g in GUARD_SETUPS.keys() - used} == set(), "remove the unused GUARD_SETUPS entry"


def test_table_rows_are_well_formed() -> None:
    for rule in TRANSITIONS:
        assert rule.source, rule
        assert len(set(rule.source)) == len(rule.source), rule
        assert rule.conditions, f"{rule.trigger} from {rule.source} has no guard: anyone could fire it"
        assert S.closed not in rule.source, "closed is final"
    assert ROW_IDS and len(set(ROW_IDS)) == len(ROW_IDS)


# --- 1. every row of the table fires ------------------------------------------------------------


@pytest.mark.parametrize(("rule", "source"), ROWS, ids=ROW_IDS)
def test_each_table_row_fires_when_its_guards_are_met(rule: Rule, source: CaseState) -> None:
    ctx = satisfying_context(rule, source)
    assert all(guard(ctx) for guard in rule.conditions)
    assert fire(rule.trigger, ctx) == rule.dest
    assert fire_rule(rule.trigger, ctx) is rule
    assert rule.trigger in allowed_triggers(ctx)
    assert rule.trigger in triggers_from(source)


@pytest.mark.parametrize(("rule", "source"), ROWS, ids=ROW_IDS)
def test_each_table_row_is_refused_for_an_auditor_of_the_same_unit(rule: Rule, source: CaseState) -> None:
    """Same case, target and fields, only the actor changed: no row is open to a read-only role."""
    ctx = satisfying_context(rule, source)
    ctx = as_actor(ctx, person(Role.auditor, ctx.case.unit_code))
    assert fire_rule(rule.trigger, ctx) is None
    assert fire(rule.trigger, ctx) is None


# --- 2. forbidden transitions -------------------------------------------------------------------


@pytest.mark.parametrize(("state", "trigger"), FORBIDDEN, ids=FORBIDDEN_IDS)
def test_triggers_outside_the_table_never_fire(state: CaseState, trigger: Trigger) -> None:
    """Even an actor, target and fields that satisfy the trigger elsewhere cannot fire it from here."""
    for rule in TRANSITIONS:
        if rule.trigger != trigger:
            continue
        ctx = in_state(satisfying_context(rule, rule.source[0]), state)
        for candidate in (ctx, as_actor(ctx, SYSTEM)):
            assert fire(trigger, candidate) is None
            assert fire_rule(trigger, candidate) is None
            assert trigger not in allowed_triggers(candidate)
    assert trigger not in triggers_from(state)


def test_nothing_leaves_closed() -> None:
    assert triggers_from(S.closed) == []
    for actor in (DASHI_MEDIATOR, CITY_COORDINATOR, DESK_CLERK, SYSTEM):
        assert allowed_triggers(context(S.closed, actor, court_linked=True, returns_to=ZHANGPU)) == []


@pytest.mark.parametrize(
    "actor",
    [
        person(Role.mediator, WULIAN),  # another town's village
        person(Role.mediator, ZHOUXIANG),  # a sibling village in the same town
        person(Role.mediator, ZHANGPU),  # the town above, but not a coordinator
        person(Role.agency_officer, PS_ZHANGPU),  # the town's police station
        YUSHAN_COORDINATOR,  # another town's hub
    ],
    ids=["wulian-mediator", "zhouxiang-mediator", "zhangpu-mediator", "zhangpu-police", "yushan-coordinator"],
)
def test_only_the_case_unit_can_accept_an_assigned_case(actor: Actor) -> None:
    ctx = context(S.assigned, actor, case_unit=DASHI, returns_to=ZHANGPU)
    assert fire(T.accept, ctx) is None
    assert allowed_triggers(ctx) == []
    assert fire(T.accept, as_actor(ctx, DASHI_MEDIATOR)) == S.mediating


def test_a_supervising_coordinator_steers_but_cannot_accept_or_decline_for_the_unit() -> None:
    ctx = context(S.assigned, ZHANGPU_COORDINATOR, case_unit=DASHI, returns_to=ZHANGPU)
    assert set(allowed_triggers(ctx)) == {T.escalate, T.hand_off, T.withdraw}
    assert fire(T.accept, ctx) is None
    assert fire(T.decline, ctx) is None


@pytest.mark.parametrize("role", [Role.auditor, Role.admin], ids=str)
@pytest.mark.parametrize("state", list(CaseState), ids=str)
def test_auditors_and_admins_can_fire_nothing(role: Role, state: CaseState) -> None:
    for rule in TRANSITIONS:
        base = satisfying_context(rule, rule.source[0])
        for unit in sorted({base.case.unit_code, CITY, DESK}):
            ctx = as_actor(in_state(base, state), person(role, unit))
            assert fire(rule.trigger, ctx) is None, (rule.trigger, unit)
            assert allowed_triggers(ctx) == [], unit


@pytest.mark.parametrize(
    ("trigger", "state", "case_unit", "target"),
    [
        (T.claim, S.referred, DESK, None),
        (T.delegate, S.in_court, DESK, DASHI),
        (T.confirm, S.confirming, DASHI, None),
        (T.reject_confirmation, S.confirming, DASHI, None),
        (T.withdraw, S.in_court, DESK, None),
    ],
    ids=["claim", "delegate", "confirm", "reject_confirmation", "withdraw-in-court"],
)
def test_a_village_mediator_cannot_do_court_work(
    trigger: Trigger, state: CaseState, case_unit: str, target: str | None
) -> None:
    ctx = context(
        state, DASHI_MEDIATOR, case_unit=case_unit, target=target, court_linked=True, application="accepted"
    )
    assert fire(trigger, ctx) is None
    assert trigger not in allowed_triggers(ctx)
    assert fire(trigger, as_actor(ctx, DESK_CLERK)) is not None  # the court clerk can


@pytest.mark.parametrize(
    ("trigger", "state", "case_unit", "target"),
    [
        (T.accept, S.assigned, DASHI, None),
        (T.accept, S.assigned, DESK, None),  # not even a case sitting at the clerk's own desk
        (T.settle, S.mediating, DASHI, None),
        (T.suspend, S.mediating, DASHI, None),
        (T.terminate, S.mediating, DASHI, None),
        (T.escalate, S.mediating, DASHI, None),
        (T.refer_to_court, S.terminated, DASHI, None),
        (T.request_confirmation, S.settled, DASHI, None),
        (T.record_performance, S.settled, DASHI, None),
        (T.dispatch, S.registered, DASHI, ZHOUXIANG),
    ],
    ids=lambda value: str(value) if value is not None else "-",
)
def test_a_court_clerk_cannot_do_mediation_work(
    trigger: Trigger, state: CaseState, case_unit: str, target: str | None
) -> None:
    fields = {"performance": Performance.performed}
    for clerk in (DESK_CLERK, person(Role.court_clerk, COURT)):
        ctx = context(
            state,
            clerk,
            case_unit=case_unit,
            target=target,
            court_linked=True,
            returns_to=ZHANGPU,
            fields=fields,
        )
        assert fire(trigger, ctx) is None
        assert trigger not in allowed_triggers(ctx)


def test_only_the_clerk_who_claimed_a_case_or_the_sweep_releases_it() -> None:
    other_clerk = Actor("court.clerk2", Role.court_clerk, DESK)
    claimed = context(
        S.in_court, DESK_CLERK, case_unit=DESK, court_linked=True, claimed_by=DESK_CLERK.username
    )

    assert fire(T.release, claimed) == S.referred
    assert fire(T.release, as_actor(claimed, other_clerk)) is None
    assert T.release not in allowed_triggers(as_actor(claimed, other_clerk))
    assert T.docket in allowed_triggers(as_actor(claimed, other_clerk))  # the court's other work stays open
    assert fire(T.release, as_actor(claimed, SYSTEM)) == S.referred  # the lease ran out


def test_court_clerk_role_needs_a_court_unit() -> None:
    """A 'court_clerk' account misconfigured onto a mediation unit gets no court powers."""
    ctx = context(S.referred, person(Role.court_clerk, ZHANGPU), case_unit=DESK, court_linked=True)
    assert fire(T.claim, ctx) is None
    assert allowed_triggers(ctx) == []


def test_system_actor_may_escalate_terminate_return_and_refer_but_nothing_else() -> None:
    # The deadline sweeper's breach actions: escalate, return an unaccepted referral (decline),
    # and send a court-delegated case whose period expired back to the court (terminate, refer).
    expected = {
        S.assigned: {T.escalate, T.decline},
        S.mediating: {T.escalate, T.terminate},
        S.suspended: {T.terminate},
        S.terminated: {T.refer_to_court},
        S.in_court: {T.release},
    }
    for state in CaseState:
        ctx = context(state, SYSTEM, case_unit=DASHI, returns_to=ZHANGPU, court_linked=True)
        assert set(allowed_triggers(ctx)) == expected.get(state, set()), state
    assert fire(T.escalate, context(S.assigned, SYSTEM)) == S.assigned
    assert fire(T.escalate, context(S.mediating, SYSTEM)) == S.assigned
    assert fire(T.terminate, context(S.mediating, SYSTEM)) == S.terminated
    assert fire(T.terminate, context(S.suspended, SYSTEM)) == S.terminated
    assert fire(T.accept, context(S.assigned, SYSTEM)) is None
    assert fire(T.accept, context(S.assigned, SYSTEM, case_unit=CITY)) is None  # not even at its own unit


def test_a_role_named_system_needs_the_system_role_not_the_name() -> None:
    impostor = Actor(SYSTEM_ACTOR_NAME, Role.auditor, CITY)
    assert fire(T.escalate, context(S.assigned, impostor)) is None


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (
            DASHI_MEDIATOR,
            {
                S.registered: {T.hand_off, T.withdraw, T.close},
                S.assigned: {T.accept, T.decline, T.escalate, T.hand_off, T.withdraw, T.close},
                S.mediating: {T.escalate, T.hand_off, T.suspend, T.settle, T.terminate, T.withdraw},
                S.suspended: {T.resume, T.terminate, T.withdraw},
                S.settled: {T.request_confirmation, T.record_performance, T.close, T.amend},
                S.confirming: {T.withdraw_confirmation},
                S.terminated: {T.hand_off, T.refer_to_court, T.withdraw, T.close},
            },
        ),
        (
            ZHANGPU_COORDINATOR,
            {
                S.registered: {T.dispatch, T.hand_off, T.withdraw, T.close},
                S.assigned: {T.escalate, T.hand_off, T.withdraw},
                S.mediating: {T.escalate, T.hand_off, T.suspend, T.settle, T.terminate, T.withdraw},
                S.suspended: {T.resume, T.terminate, T.withdraw},
                S.settled: {T.request_confirmation, T.record_performance, T.close, T.amend},
                S.confirming: {T.withdraw_confirmation},
                S.terminated: {T.hand_off, T.refer_to_court, T.withdraw, T.close},
            },
        ),
        (
            DESK_CLERK,
            {
                S.settled: {T.close},
                # An application the court has not accepted yet: accept it once, or refuse it.
                S.confirming: {T.accept_confirmation, T.refuse_confirmation},
                S.referred: {T.claim, T.withdraw},
                S.in_court: {T.delegate, T.withdraw, T.close, T.release, T.docket},
            },
        ),
        (person(Role.mediator, WULIAN), {}),
    ],
    ids=["dashi-mediator", "zhangpu-coordinator", "desk-clerk", "wulian-mediator"],
)
def test_allowed_triggers_per_state_for_a_dashi_case(
    actor: Actor, expected: Mapping[CaseState, set[Trigger]]
) -> None:
    """A 大市社区 case (court states at the desk), court-linked, with 张浦镇 as its return hub."""
    for state in CaseState:
        ctx = context(
            state,
            actor,
            case_unit=HOME_UNIT.get(state, DASHI),
            returns_to=ZHANGPU,
            court_linked=True,
            claimed_by=DESK_CLERK.username if state == S.in_court else None,  # the desk clerk's claim
            application="offered" if state == S.confirming else None,
        )
        assert set(allowed_triggers(ctx)) == expected.get(state, set()), state


def test_the_court_rules_only_on_an_accepted_application_and_accepts_it_once() -> None:
    offered = context(S.confirming, DESK_CLERK, court_linked=True, application="offered")
    accepted = context(S.confirming, DESK_CLERK, court_linked=True, application="accepted")

    assert set(allowed_triggers(offered)) == {T.accept_confirmation, T.refuse_confirmation}
    assert set(allowed_triggers(accepted)) == {T.confirm, T.reject_confirmation}
    assert fire(T.accept_confirmation, accepted) is None  # a second acceptance is refused
    assert fire(T.refuse_confirmation, accepted) is None  # 不予受理 only before acceptance
    assert fire(T.confirm, offered) is None
    assert fire(T.reject_confirmation, accepted) == S.settled  # 驳回 is not a failed mediation


def test_a_confirmed_agreement_is_neither_applied_for_again_nor_amended() -> None:
    confirmed = context(S.settled, DASHI_MEDIATOR, agreement_confirmed=True)
    assert set(allowed_triggers(confirmed)) == {T.record_performance, T.close}
    assert fire(T.request_confirmation, confirmed) is None
    assert fire(T.amend, confirmed) is None


def test_a_settlement_under_a_court_delegation_goes_back_to_the_court_desk() -> None:
    delegated = context(S.mediating, DASHI_MEDIATOR, court_linked=True, delegated_after_filing=True)
    assigned = context(S.mediating, DASHI_MEDIATOR, court_linked=True)  # 委派 or no delegation

    rule = fire_rule(T.settle, delegated)
    assert rule is not None and (rule.dest, destination(rule, delegated)) == (S.referred, DESK)
    assert fire(T.settle, assigned) == S.settled


# dispatch


def test_a_hub_dispatches_a_registered_case_inside_its_subtree() -> None:
    for target in (DASHI, ZHOUXIANG):
        ctx = context(S.registered, ZHANGPU_COORDINATOR, case_unit=ZHANGPU, target=target)
        assert fire(T.dispatch, ctx) == S.assigned
        assert destination(fire_rule(T.dispatch, ctx), ctx) == target
    yushan = context(S.registered, YUSHAN_COORDINATOR, case_unit=YUSHAN, target=WULIAN)
    assert fire(T.dispatch, yushan) == S.assigned


def test_a_coordinator_cannot_dispatch_another_towns_case() -> None:
    ctx = context(S.registered, YUSHAN_COORDINATOR, case_unit=ZHANGPU, target=DASHI)
    assert fire(T.dispatch, ctx) is None
    assert T.dispatch not in allowed_triggers(ctx)
    # ... nor into its own subtree: the case is still not theirs
    assert fire(T.dispatch, replace(ctx, target=ORG.get(WULIAN))) is None


def test_a_coordinator_cannot_dispatch_outside_their_subtree() -> None:
    ctx = context(S.registered, YUSHAN_COORDINATOR, case_unit=YUSHAN, target=DASHI)
    assert fire(T.dispatch, ctx) is None
    assert fire_rule(T.dispatch, ctx) is None
    # allowed_triggers does not look at the target: the option is offered, the target is refused
    assert T.dispatch in allowed_triggers(ctx)
    for outside in (CITY, ZHANGPU, SC_MEDICAL, PS_ZHANGPU):
        assert fire(T.dispatch, replace(ctx, target=ORG.get(outside))) is None, outside


def test_dispatch_to_the_unit_already_holding_the_case_is_refused() -> None:
    ctx = context(S.registered, ZHANGPU_COORDINATOR, case_unit=ZHANGPU, target=ZHANGPU)
    assert fire(T.dispatch, ctx) is None
    city = context(S.registered, CITY_COORDINATOR, case_unit=CITY, target=CITY)
    assert fire(T.dispatch, city) is None


@pytest.mark.parametrize("court_unit", [COURT, DESK])
def test_dispatch_never_goes_to_the_court_even_inside_the_city_subtree(court_unit: str) -> None:
    assert court_unit in ORG.subtree(CITY)
    ctx = context(S.registered, CITY_COORDINATOR, case_unit=CITY, target=court_unit)
    assert fire(T.dispatch, ctx) is None
    assert fire(T.dispatch, replace(ctx, target=ORG.get(SC_MEDICAL))) == S.assigned


def test_dispatch_needs_a_coordinator_and_a_target() -> None:
    mediator = context(S.registered, person(Role.mediator, ZHANGPU), case_unit=ZHANGPU, target=DASHI)
    assert fire(T.dispatch, mediator) is None
    no_target = context(S.registered, ZHANGPU_COORDINATOR, case_unit=ZHANGPU)
    assert fire(T.dispatch, no_target) is None
    assert T.dispatch in allowed_triggers(no_target)


# hand_off


@pytest.mark.parametrize(
    ("case_unit", "target"),
    [
        (DASHI, SC_MEDICAL),  # a sectoral committee of the same channel
        (DASHI, PS_ZHANGPU),  # people → administrative (警调对接)
        (DASHI, HRSS),
        (PS_ZHANGPU, DASHI),  # administrative → people
        (SC_MEDICAL, SC_TRAFFIC),  # committee to committee
    ],
)
def test_hand_off_goes_to_another_channel_or_a_sectoral_committee(case_unit: str, target: str) -> None:
    worker = person(Role.agency_officer if case_unit == PS_ZHANGPU else Role.mediator, case_unit)
    for state in (S.registered, S.assigned, S.mediating, S.terminated):
        ctx = context(state, worker, case_unit=case_unit, target=target)
        assert fire(T.hand_off, ctx) == S.assigned, state
        assert destination(fire_rule(T.hand_off, ctx), ctx) == target


@pytest.mark.parametrize(
    ("case_unit", "target"),
    [
        (DASHI, ZHANGPU),  # same channel, the town centre
        (DASHI, ZHOUXIANG),  # same channel, a sibling village
        (DASHI, CITY),
        (DASHI, WULIAN),
        (PS_ZHANGPU, PSB),  # administrative → administrative (that is escalate)
        (DASHI, COURT),  # the court is refer_to_court's business
        (DASHI, DESK),
        (SC_MEDICAL, SC_MEDICAL),  # to itself
    ],
)
def test_hand_off_within_the_channel_or_to_the_court_is_refused(case_unit: str, target: str) -> None:
    worker = person(Role.agency_officer if case_unit == PS_ZHANGPU else Role.mediator, case_unit)
    ctx = context(S.mediating, worker, case_unit=case_unit, target=target)
    assert fire(T.hand_off, ctx) is None
    assert fire_rule(T.hand_off, ctx) is None


def test_hand_off_without_a_target_is_refused() -> None:
    assert fire(T.hand_off, context(S.mediating, DASHI_MEDIATOR)) is None


# escalate


@pytest.mark.parametrize(
    ("case_unit", "parent"),
    [
        (DASHI, ZHANGPU),
        (ZHANGPU, CITY),
        (WULIAN, YUSHAN),
        (PS_ZHANGPU, PSB),  # stays in the administrative channel, not the town centre
        (PENGLANG, KAIFAQU),  # follows the handling parent, not the legal one (花桥镇)
    ],
)
@pytest.mark.parametrize("state", [S.assigned, S.mediating], ids=str)
def test_escalate_moves_the_case_to_the_parent_of_the_same_channel(
    state: CaseState, case_unit: str, parent: str
) -> None:
    worker = person(Role.agency_officer if case_unit.startswith("PS-") else Role.mediator, case_unit)
    for actor in (worker, SYSTEM):
        ctx = context(state, actor, case_unit=case_unit)
        assert fire(T.escalate, ctx) == S.assigned
        assert destination(fire_rule(T.escalate, ctx), ctx) == parent


def test_escalation_chains_village_to_town_to_city() -> None:
    unit = DASHI
    chain = [unit]
    for _ in range(len(ORG)):  # bounded: a broken destination must fail, not hang
        ctx = context(S.mediating, SYSTEM, case_unit=unit)
        if fire(T.escalate, ctx) is None:
            break
        unit = destination(fire_rule(T.escalate, ctx), ctx)
        chain.append(unit)
    assert chain == [DASHI, ZHANGPU, CITY]


@pytest.mark.parametrize(
    "case_unit",
    [CITY, SC_MEDICAL, PSB],  # the root; a city-tier committee; the bureau (no administrative parent)
)
def test_escalate_without_a_higher_unit_of_the_same_channel_is_refused(case_unit: str) -> None:
    for actor in (person(Role.coordinator, case_unit), SYSTEM):
        ctx = context(S.mediating, actor, case_unit=case_unit)
        assert fire(T.escalate, ctx) is None
        assert T.escalate not in allowed_triggers(ctx)


# decline


def test_decline_returns_the_case_to_its_hub_as_registered() -> None:
    ctx = context(S.assigned, DASHI_MEDIATOR, returns_to=ZHANGPU)
    assert fire(T.decline, ctx) == S.registered
    assert destination(fire_rule(T.decline, ctx), ctx) == ZHANGPU


@pytest.mark.parametrize("returns_to", [None, DASHI], ids=["no-return-unit", "returns-to-itself"])
def test_decline_without_somewhere_else_to_return_to_is_refused(returns_to: str | None) -> None:
    ctx = context(S.assigned, DASHI_MEDIATOR, returns_to=returns_to)
    assert fire(T.decline, ctx) is None
    assert T.decline not in allowed_triggers(ctx)
    assert T.accept in allowed_triggers(ctx)
    assert fire(T.decline, as_actor(ctx, SYSTEM)) is None


@pytest.mark.parametrize(
    ("returns_to", "dest"),
    [(ZHANGPU, S.registered), (DESK, S.referred), (COURT, S.referred)],
    ids=["to-hub", "to-court-desk", "to-court"],
)
def test_the_deadline_sweeper_returns_an_unaccepted_referral_like_the_unit_would(
    returns_to: str, dest: CaseState
) -> None:
    ctx = context(S.assigned, SYSTEM, returns_to=returns_to, court_linked=returns_to != ZHANGPU)
    assert fire(T.decline, ctx) == dest
    assert destination(fire_rule(T.decline, ctx), ctx) == returns_to
    assert fire(T.decline, as_actor(ctx, DASHI_MEDIATOR)) == dest
    assert fire(T.decline, as_actor(ctx, person(Role.mediator, ZHOUXIANG))) is None


def test_only_the_case_unit_or_the_sweeper_declines_not_the_supervising_hub() -> None:
    ctx = context(S.assigned, ZHANGPU_COORDINATOR, returns_to=ZHANGPU)
    assert fire(T.decline, ctx) is None
    assert fire(T.decline, as_actor(ctx, CITY_COORDINATOR)) is None


# supervision follows the coordinator's channel


@pytest.mark.parametrize(
    ("coordinator_unit", "case_unit"),
    [(CITY, PS_ZHANGPU), (CITY, PSB), (ZHANGPU, PS_ZHANGPU), (CITY, DESK)],
    ids=["city-police-station", "city-bureau", "town-police-station", "city-court-desk"],
)
@pytest.mark.parametrize("state", [S.registered, S.assigned, S.mediating, S.suspended, S.terminated], ids=str)
def test_a_peoples_mediation_coordinator_does_not_conduct_another_channels_case(
    coordinator_unit: str, case_unit: str, state: CaseState
) -> None:
    coordinator = person(Role.coordinator, coordinator_unit)
    ctx = context(state, coordinator, case_unit=case_unit, target=SC_MEDICAL, returns_to=coordinator_unit)
    assert allowed_triggers(ctx) == []
    for trigger in triggers_from(state):
        assert fire(trigger, ctx) is None, trigger


def test_an_administrative_coordinator_supervises_the_police_stations_under_it() -> None:
    bureau = person(Role.coordinator, PSB)
    ctx = context(S.mediating, bureau, case_unit=PS_ZHANGPU)
    assert {T.escalate, T.suspend, T.settle, T.terminate, T.withdraw} <= set(allowed_triggers(ctx))
    assert fire(T.settle, ctx) == S.settled
    assert fire(T.hand_off, replace(ctx, target=ORG.get(DASHI))) == S.assigned  # 警调对接 to the village


def test_the_city_hub_still_supervises_its_own_channel_everywhere_below_it() -> None:
    for case_unit in (DASHI, WULIAN, ZHANGPU, SC_MEDICAL, PENGLANG):
        ctx = context(S.mediating, CITY_COORDINATOR, case_unit=case_unit)
        assert fire(T.settle, ctx) == S.settled, case_unit


def test_a_hand_off_declined_back_to_a_village_is_assigned_there_again() -> None:
    at_police = context(
        S.assigned, person(Role.agency_officer, PS_ZHANGPU), case_unit=PS_ZHANGPU, returns_to=DASHI
    )

    assert fire(T.decline, at_police) == S.assigned
    assert destination(fire_rule(T.decline, at_police), at_police) == DASHI
    back_home = context(S.assigned, DASHI_MEDIATOR, case_unit=DASHI, returns_to=ZHANGPU)
    assert fire(T.accept, back_home) == S.mediating


def test_a_case_declined_back_to_a_hub_waits_there_registered() -> None:
    at_station = context(S.assigned, DASHI_MEDIATOR, case_unit=DASHI, returns_to=ZHANGPU)

    assert fire(T.decline, at_station) == S.registered
    assert destination(fire_rule(T.decline, at_station), at_station) == ZHANGPU


def test_the_system_refers_only_court_linked_cases_to_court() -> None:
    assert fire(T.refer_to_court, context(S.terminated, SYSTEM, court_linked=True)) == S.referred
    assert fire(T.refer_to_court, context(S.terminated, SYSTEM, court_linked=False)) is None


def test_dispatch_stays_in_the_hubs_channel() -> None:
    hub = context(S.registered, ZHANGPU_COORDINATOR, case_unit=ZHANGPU)

    assert fire(T.dispatch, replace(hub, target=ORG.get(DASHI))) == S.assigned
    city = context(S.registered, person(Role.coordinator, CITY), case_unit=CITY)
    assert fire(T.dispatch, replace(city, target=ORG.get(PS_ZHANGPU))) is None  # that is a hand-off


# performance and closing


@pytest.mark.parametrize(
    ("performance", "dest"),
    [
        (Performance.performed, S.closed),
        ("performed", S.closed),  # the service passes JSON-mode strings
        (Performance.partially, S.settled),
        ("partially", S.settled),
        (Performance.not_performed, S.settled),
        ("not_performed", S.settled),
    ],
    ids=["performed", "performed-str", "partially", "partially-str", "not_performed", "not_performed-str"],
)
def test_record_performance_closes_only_when_fully_performed(performance: str, dest: CaseState) -> None:
    ctx = context(S.settled, DASHI_MEDIATOR, fields={"performance": performance})
    assert fire(T.record_performance, ctx) == dest
    rule = fire_rule(T.record_performance, ctx)
    assert rule is not None and rule.dest == dest
    assert rule.effects.outcome == (Outcome.performed if dest == S.closed else None)


@pytest.mark.parametrize(
    "fields", [{}, {"performance": "done"}, {"performance": None}], ids=["none", "bad", "null"]
)
def test_record_performance_without_a_known_performance_is_refused(fields: Mapping[str, Any]) -> None:
    ctx = context(S.settled, DASHI_MEDIATOR, fields=fields)
    assert fire(T.record_performance, ctx) is None
    assert T.record_performance in allowed_triggers(ctx)  # offered; the field decides


def test_close_from_settled_by_the_court_on_its_own_cases_or_by_the_mediation_unit() -> None:
    linked = context(S.settled, DESK_CLERK, court_linked=True)
    assert fire(T.close, linked) == S.closed
    assert fire(T.close, as_actor(linked, person(Role.court_clerk, COURT))) == S.closed
    assert fire(T.close, replace(linked, case=replace(linked.case, court_linked=False))) is None
    # An agreement that was not performed: the station (or its hub) closes it as litigated / other route.
    for actor in (DASHI_MEDIATOR, ZHANGPU_COORDINATOR, CITY_COORDINATOR):
        assert fire(T.close, as_actor(linked, actor)) == S.closed, actor.username
    for actor in (SYSTEM, person(Role.mediator, WULIAN)):
        assert fire(T.close, as_actor(linked, actor)) is None, actor.username


def test_the_case_unit_closes_registered_and_terminated_cases_but_not_court_ones() -> None:
    for state in (S.registered, S.terminated):
        assert fire(T.close, context(state, DASHI_MEDIATOR)) == S.closed
        assert fire(T.close, context(state, DESK_CLERK, court_linked=True)) is None
    assert fire(T.close, context(S.in_court, DESK_CLERK, case_unit=DESK, court_linked=True)) == S.closed


def test_withdraw_is_for_the_case_unit_before_court_and_for_the_clerk_in_court() -> None:
    for state in (S.registered, S.assigned, S.mediating, S.suspended, S.terminated):
        ctx = context(state, DASHI_MEDIATOR)
        assert fire(T.withdraw, ctx) == S.closed
        assert fire(T.withdraw, as_actor(ctx, DESK_CLERK)) is None
    for state in (S.referred, S.in_court):
        ctx = context(state, DESK_CLERK, case_unit=DESK, court_linked=True)
        assert fire(T.withdraw, ctx) == S.closed
        assert fire(T.withdraw, as_actor(ctx, DASHI_MEDIATOR)) is None
        assert fire(T.withdraw, as_actor(ctx, CITY_COORDINATOR)) is None
    for state in (S.settled, S.confirming):
        assert fire(T.withdraw, context(state, DASHI_MEDIATOR)) is None


def test_refer_to_court_sends_a_terminated_case_to_the_court_desk() -> None:
    for actor, linked in ((DASHI_MEDIATOR, False), (ZHANGPU_COORDINATOR, False), (SYSTEM, True)):
        ctx = context(S.terminated, actor, court_linked=linked)
        assert fire(T.refer_to_court, ctx) == S.referred, actor.username
        assert destination(fire_rule(T.refer_to_court, ctx), ctx) == DESK
    for actor in (DESK_CLERK, person(Role.mediator, WULIAN), YUSHAN_COORDINATOR):
        assert fire(T.refer_to_court, context(S.terminated, actor)) is None, actor.username


def test_refer_to_court_is_refused_when_the_organisation_has_no_court_desk() -> None:
    without_desk = OrgTree.of(u for u in ORG if u.code != DESK)
    ctx = replace(context(S.terminated, DASHI_MEDIATOR), org=without_desk)
    assert fire(T.refer_to_court, ctx) is None
    assert T.refer_to_court not in allowed_triggers(ctx)
    assert fire(T.refer_to_court, context(S.terminated, DASHI_MEDIATOR)) == S.referred


@pytest.mark.parametrize(
    ("target", "ok"),
    [(DASHI, True), (ZHANGPU, True), (CITY, True), (SC_MEDICAL, True), (PS_ZHANGPU, False), (COURT, False)],
)
def test_delegate_goes_only_to_mediation_units(target: str, ok: bool) -> None:
    ctx = context(S.in_court, DESK_CLERK, case_unit=DESK, target=target, court_linked=True)
    assert fire(T.delegate, ctx) == (S.assigned if ok else None)
    if ok:
        assert destination(fire_rule(T.delegate, ctx), ctx) == target


def test_delegated_case_declined_by_the_mediation_unit_goes_back_to_the_court_queue() -> None:
    in_court = context(S.in_court, DESK_CLERK, case_unit=DESK, target=DASHI, court_linked=True)
    assert fire(T.delegate, in_court) == S.assigned
    at_village = context(
        S.assigned,
        DASHI_MEDIATOR,
        case_unit=destination(fire_rule(T.delegate, in_court), in_court),
        returns_to=DESK,
        court_linked=True,
    )

    assert fire(T.decline, at_village) == S.referred
    assert destination(fire_rule(T.decline, at_village), at_village) == DESK
    back_in_queue = context(S.referred, DESK_CLERK, case_unit=DESK, returns_to=DESK, court_linked=True)
    assert T.claim in allowed_triggers(back_in_queue)


# --- 3. destination ------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "source"), ROWS, ids=ROW_IDS)
def test_destination_of_each_row(rule: Rule, source: CaseState) -> None:
    ctx = satisfying_context(rule, source)
    expected = {
        T.dispatch: ctx.target.code if ctx.target else None,
        T.hand_off: ctx.target.code if ctx.target else None,
        T.delegate: ctx.target.code if ctx.target else None,
        T.escalate: ZHANGPU,  # parent of 大市社区
        T.decline: ctx.case.returns_to_code,
        T.refer_to_court: DESK,
    }.get(rule.trigger, ctx.case.unit_code)
    if rule.dest == S.referred and rule.trigger == T.settle:
        expected = DESK  # a court-delegated settlement goes back to the court
    assert expected is not None
    assert destination(rule, ctx) == expected
    if rule.trigger not in MOVING_TRIGGERS and rule.dest != S.referred:
        assert destination(rule, ctx) == ctx.case.unit_code


def test_targets_are_used_only_by_dispatch_hand_off_and_delegate() -> None:
    for rule, source in ROWS:
        if rule.trigger in TARGETED_TRIGGERS:
            continue
        ctx = satisfying_context(rule, source)
        assert destination(rule, replace(ctx, target=ORG.get(SC_TRAFFIC))) == destination(rule, ctx)


def test_claim_keeps_the_case_at_the_court_desk() -> None:
    ctx = context(S.referred, DESK_CLERK, case_unit=DESK, court_linked=True)
    assert fire(T.claim, ctx) == S.in_court
    assert destination(fire_rule(T.claim, ctx), ctx) == DESK


# --- 4. triggers_from, outcomes, labels and the diagram --------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (S.registered, {T.dispatch, T.hand_off, T.withdraw, T.close}),
        (S.assigned, {T.accept, T.decline, T.escalate, T.hand_off, T.withdraw, T.close}),
        (S.mediating, {T.escalate, T.hand_off, T.suspend, T.settle, T.terminate, T.withdraw}),
        (S.suspended, {T.resume, T.terminate, T.withdraw}),
        (S.settled, {T.request_confirmation, T.record_performance, T.close, T.amend}),
        (
            S.confirming,
            {
                T.accept_confirmation,
                T.refuse_confirmation,
                T.confirm,
                T.reject_confirmation,
                T.withdraw_confirmation,
            },
        ),
        (S.terminated, {T.hand_off, T.refer_to_court, T.withdraw, T.close}),
        (S.referred, {T.claim, T.withdraw}),
        (S.in_court, {T.delegate, T.withdraw, T.close, T.release, T.docket}),
        (S.closed, set()),
    ],
    # Sorted: a set's order changes with the hash seed, and pytest-xdist's workers (each its own
    # seed) must collect the same test ids.
    ids=lambda value: "+".join(sorted(value)) if isinstance(value, set) else str(value),
)
def test_triggers_from_each_state(state: CaseState, expected: set[Trigger]) -> None:
    found = triggers_from(state)
    assert len(found) == len(set(found)), "no duplicates"
    assert set(found) == expected


def test_every_trigger_is_used_every_state_is_entered_and_only_closed_is_final() -> None:
    assert {rule.trigger for rule in TRANSITIONS} == set(Trigger)
    assert {rule.dest for rule in TRANSITIONS} == set(CaseState)
    assert [state for state in CaseState if not triggers_from(state)] == [S.closed]


def test_close_outcomes_cover_exactly_the_states_close_leaves_from() -> None:
    close_sources = {source for rule in TRANSITIONS if rule.trigger == T.close for source in rule.source}
    assert set(CLOSE_OUTCOMES) == close_sources
    for state, outcomes in CLOSE_OUTCOMES.items():
        assert outcomes, state
        assert len(set(outcomes)) == len(outcomes)
        # performed and confirmed are earned by record_performance / confirm, never picked on close
        assert not {Outcome.performed, Outcome.confirmed} & set(outcomes), state


def test_every_way_into_closed_names_an_outcome() -> None:
    for rule in TRANSITIONS:
        if rule.dest != S.closed:
            assert rule.effects.outcome is None, rule
        elif rule.trigger == T.close:
            assert rule.effects.outcome is None  # chosen from CLOSE_OUTCOMES
        else:
            assert rule.effects.outcome is not None, rule
    by_trigger = {
        rule.trigger: rule.effects.outcome for rule in TRANSITIONS if rule.effects.outcome is not None
    }
    assert by_trigger == {
        T.record_performance: Outcome.performed,
        T.withdraw: Outcome.withdrawn,
        T.docket: Outcome.litigated,
    }


def test_labels_cover_every_state_trigger_and_outcome() -> None:
    assert set(STATE_LABELS) == set(CaseState)
    assert set(TRIGGER_LABELS) == set(Trigger)
    assert set(OUTCOME_LABELS) == set(Outcome)
    assert all(label.strip() for label in [*STATE_LABELS.values(), *TRIGGER_LABELS.values()])


def test_mermaid_diagram_draws_every_state_and_every_edge_of_the_table() -> None:
    diagram = mermaid_diagram()
    lines = diagram.splitlines()
    assert lines[0] == "stateDiagram-v2"
    for state in CaseState:
        assert f'state "{STATE_LABELS[state]} {state}" as {state}' in diagram
    edges: set[tuple[str, str, str]] = set()
    for line in lines:
        match = re.fullmatch(r"\s*(\w+) --> (\w+): (.+)", line)
        if match:
            src, dst, labels = match.groups()
            edges |= {(src, dst, label) for label in labels.split(" | ")}
    drawn = {edge for edge in edges if edge[0] in set(CaseState)}
    expected = {(str(source), str(rule.dest), str(rule.trigger)) for rule, source in ROWS}
    assert drawn == expected
    assert {label for _, _, label in drawn} == {str(t) for t in Trigger}
    assert "[*] --> registered: open (triage: manual)" in diagram
    assert "closed --> [*]" in diagram


# --- 5. one shared, stateless machine -----------------------------------------------------------


def test_the_machine_is_one_module_level_object_with_no_models() -> None:
    assert isinstance(MACHINE, Machine)
    assert lifecycle.MACHINE is MACHINE
    assert MACHINE.models == []
    assert not any(name.startswith("to_") for name in MACHINE.events), "auto transitions are off"
    assert set(MACHINE.states) == {str(s) for s in CaseState}
    assert set(MACHINE.events) == {str(t) for t in Trigger}


def test_the_machine_is_built_from_the_table_in_order() -> None:
    for trigger in Trigger:
        event = MACHINE.events[str(trigger)]
        for state in CaseState:
            rows = [rule for rule in TRANSITIONS if rule.trigger == trigger and state in rule.source]
            built = event.transitions.get(str(state), [])
            assert [t.dest for t in built] == [str(rule.dest) for rule in rows], (trigger, state)
            assert [[getattr(c.func, "__name__", c.func) for c in t.conditions] for t in built] == [
                [g.__name__ for g in rule.conditions] for rule in rows
            ]


def test_fire_goes_through_the_shared_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    event = MACHINE.events[str(T.accept)]
    original = event.trigger
    calls: list[object] = []

    def spy(model: object, *args: Any, **kwargs: Any) -> bool:
        calls.append(model)
        result: bool = original(model, *args, **kwargs)
        return result

    monkeypatch.setattr(event, "trigger", spy)
    assert fire(T.accept, context(S.assigned, DASHI_MEDIATOR)) == S.mediating
    assert len(calls) == 1
    assert calls[0] not in MACHINE.models


def _machine_snapshot() -> tuple[object, ...]:
    return (
        list(MACHINE.models),
        len(MACHINE._transition_queue),
        sorted(MACHINE.states),
        {name: {src: len(ts) for src, ts in ev.transitions.items()} for name, ev in MACHINE.events.items()},
        list(TRANSITIONS),
    )


@pytest.mark.parametrize(("rule", "source"), ROWS, ids=ROW_IDS)
def test_firing_is_repeatable_and_leaves_nothing_behind(rule: Rule, source: CaseState) -> None:
    ctx = satisfying_context(rule, source)
    refused = as_actor(ctx, person(Role.auditor, CITY))
    before = _machine_snapshot()
    answers = [fire(rule.trigger, ctx) for _ in range(3)]
    refusals = [fire(rule.trigger, refused) for _ in range(2)]
    assert answers == [rule.dest] * 3
    assert refusals == [None, None]
    assert ctx.case.state == source
    assert _machine_snapshot() == before


def test_fire_rule_and_allowed_triggers_agree_across_many_contexts() -> None:
    actors = [
        DASHI_MEDIATOR,
        person(Role.mediator, WULIAN),
        person(Role.mediator, ZHANGPU),
        ZHANGPU_COORDINATOR,
        YUSHAN_COORDINATOR,
        CITY_COORDINATOR,
        person(Role.agency_officer, PS_ZHANGPU),
        DESK_CLERK,
        person(Role.court_clerk, COURT),
        person(Role.admin, CITY),
        person(Role.auditor, CITY),
        SYSTEM,
    ]
    targets = [None, DASHI, ZHANGPU, SC_MEDICAL, PS_ZHANGPU, DESK]
    performances: list[Mapping[str, Any]] = [{}, {"performance": "performed"}, {"performance": "partially"}]
    fired = 0
    for state in CaseState:
        for actor in actors:
            for case_unit in (DASHI, ZHANGPU, CITY, PS_ZHANGPU, DESK):
                for returns_to, linked in ((None, False), (ZHANGPU, True)):
                    base = context(
                        state, actor, case_unit=case_unit, returns_to=returns_to, court_linked=linked
                    )
                    allowed = allowed_triggers(base)
                    assert set(allowed) <= set(triggers_from(state))
                    for trigger in Trigger:
                        variants = [base]
                        if trigger in TARGETED_TRIGGERS:
                            variants = [replace(base, target=ORG.find(t)) for t in targets]
                        elif trigger == T.record_performance:
                            variants = [replace(base, fields=f) for f in performances]
                        for ctx in variants:
                            assert allowed_triggers(ctx) == allowed  # targets and fields never matter
                            rule = fire_rule(trigger, ctx)
                            dest = fire(trigger, ctx)
                            assert dest == (rule.dest if rule else None), (state, actor, trigger, ctx.target)
                            if dest is not None:
                                fired += 1
                                assert trigger in allowed
    assert fired > 100  # the grid is not vacuous


def test_concurrent_firing_on_the_shared_machine_gives_each_case_its_own_answer() -> None:
    cases = [(rule, satisfying_context(rule, source)) for rule, source in ROWS]
    errors: list[str] = []

    def work() -> None:
        for _ in range(20):
            for rule, ctx in cases:
                got = fire(rule.trigger, ctx)
                if got != rule.dest:
                    errors.append(f"{rule.trigger}: {got} != {rule.dest}")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert MACHINE.models == []
