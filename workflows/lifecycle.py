"""The case lifecycle: every legal state change of a dispute in one declarative table.

One module-level ``transitions.Machine`` (``model=None``) is shared by all cases; the service
fires events on a small plain object holding the current state, never on a database row
(transitions raises on pydantic models, and ``add_model`` on thousands of rows does not scale).
Guards are pure functions of a :class:`TransitionContext`: who acts, from which unit, on which
case, towards which target unit. The machine only says yes or no and names the new state;
the service writes the row, the audit event and everything else in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from transitions import EventData, Machine

from workflows.org import Channel, OrgTree, Unit, UnitKind


class CaseState(StrEnum):
    registered = "registered"
    assigned = "assigned"
    mediating = "mediating"
    suspended = "suspended"
    settled = "settled"
    confirming = "confirming"
    terminated = "terminated"
    referred = "referred"
    in_court = "in_court"
    closed = "closed"


STATE_LABELS: dict[CaseState, str] = {
    CaseState.registered: "已登记",
    CaseState.assigned: "待受理",
    CaseState.mediating: "调解中",
    CaseState.suspended: "中止",
    CaseState.settled: "达成协议",
    CaseState.confirming: "司法确认中",
    CaseState.terminated: "调解终止",
    CaseState.referred: "已移送法院",
    CaseState.in_court: "法院处理中",
    CaseState.closed: "已结案",
}


class Trigger(StrEnum):
    dispatch = "dispatch"
    accept = "accept"
    decline = "decline"
    escalate = "escalate"
    hand_off = "hand_off"
    suspend = "suspend"
    resume = "resume"
    settle = "settle"
    terminate = "terminate"
    refer_to_court = "refer_to_court"
    claim = "claim"
    release = "release"
    docket = "docket"
    delegate = "delegate"
    request_confirmation = "request_confirmation"
    accept_confirmation = "accept_confirmation"
    confirm = "confirm"
    reject_confirmation = "reject_confirmation"
    record_performance = "record_performance"
    withdraw = "withdraw"
    close = "close"


TRIGGER_LABELS: dict[Trigger, str] = {
    Trigger.dispatch: "分派",
    Trigger.accept: "受理",
    Trigger.decline: "退回",
    Trigger.escalate: "上报",
    Trigger.hand_off: "移交",
    Trigger.suspend: "中止",
    Trigger.resume: "恢复",
    Trigger.settle: "达成协议",
    Trigger.terminate: "终止调解",
    Trigger.refer_to_court: "移送法院",
    Trigger.claim: "领取",
    Trigger.release: "退回队列",
    Trigger.docket: "立案审理",
    Trigger.delegate: "委托调解",
    Trigger.request_confirmation: "申请司法确认",
    Trigger.accept_confirmation: "受理确认申请",
    Trigger.confirm: "确认有效",
    Trigger.reject_confirmation: "不予确认",
    Trigger.record_performance: "履行回访",
    Trigger.withdraw: "撤回",
    Trigger.close: "结案",
}


class Outcome(StrEnum):
    performed = "performed"  # 协议履行完毕
    confirmed = "confirmed"  # 司法确认
    withdrawn = "withdrawn"  # 撤回
    litigated = "litigated"  # 转入诉讼/审理
    other_route = "other_route"  # 引导仲裁/行政/信访途径
    rejected = "rejected"  # 不予受理


OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.performed: "协议履行完毕",
    Outcome.confirmed: "司法确认",
    Outcome.withdrawn: "撤回",
    Outcome.litigated: "转入诉讼",
    Outcome.other_route: "引导其他途径",
    Outcome.rejected: "不予受理",
}


class TerminationReason(StrEnum):
    """人民调解法 art. 26; 特邀调解规定 art. 26; 在线调解规则 art. 25."""

    party_refused = "party_refused"  # 当事人拒绝或撤回
    gap_too_wide = "gap_too_wide"  # 分歧过大
    party_unreachable = "party_unreachable"  # 期限内无法联系
    period_expired = "period_expired"  # 期满未同意延长
    refused_to_sign = "refused_to_sign"  # 拒绝签字
    sham_mediation = "sham_mediation"  # 涉嫌虚假调解
    other = "other"


class Performance(StrEnum):
    performed = "performed"
    partially = "partially"
    not_performed = "not_performed"


class Role(StrEnum):
    mediator = "mediator"
    coordinator = "coordinator"
    agency_officer = "agency_officer"
    court_clerk = "court_clerk"
    admin = "admin"
    auditor = "auditor"
    system = "system"  # the deadline sweeper and other automatic actors


@dataclass(frozen=True)
class Actor:
    username: str
    role: Role
    unit_code: str
    user_id: int | None = None


SYSTEM_ACTOR_NAME = "system"


@dataclass(frozen=True)
class CaseFacts:
    """What the guards may know about a case."""

    state: CaseState
    unit_code: str
    channel: Channel
    returns_to_code: str | None = None
    court_linked: bool = False


@dataclass(frozen=True)
class TransitionContext:
    actor: Actor
    case: CaseFacts
    org: OrgTree
    now: datetime
    target: Unit | None = None  # resolved target unit for dispatch / hand_off / delegate
    fields: Mapping[str, Any] = field(default_factory=dict)


Guard = Callable[[TransitionContext], bool]

# --- guards: pure functions of the context -------------------------------------------------

_CASE_WORKERS = {Role.mediator, Role.coordinator, Role.agency_officer}


def is_system(ctx: TransitionContext) -> bool:
    return ctx.actor.role == Role.system


def works_at_case_unit(ctx: TransitionContext) -> bool:
    """The actor belongs to the unit that holds the case."""
    return ctx.actor.role in _CASE_WORKERS and ctx.actor.unit_code == ctx.case.unit_code


def works_at_case_unit_or_system(ctx: TransitionContext) -> bool:
    """The deadline sweeper returns an unaccepted referral on the receiving unit's behalf."""
    return is_system(ctx) or works_at_case_unit(ctx)


def supervises_case(ctx: TransitionContext) -> bool:
    """A coordinator whose unit's subtree holds the case, in the coordinator's own channel.

    The city centre may read a 派出所's case, but administrative mediation is the agency's to
    conduct: a people's-mediation coordinator supervises people's mediation only.
    """
    if ctx.actor.role != Role.coordinator or ctx.case.unit_code not in ctx.org.subtree(ctx.actor.unit_code):
        return False
    actor_unit = ctx.org.find(ctx.actor.unit_code)
    return actor_unit is not None and actor_unit.channel == ctx.case.channel


def handles_case(ctx: TransitionContext) -> bool:
    return works_at_case_unit(ctx) or supervises_case(ctx)


def handles_case_or_system(ctx: TransitionContext) -> bool:
    return is_system(ctx) or handles_case(ctx)


def is_court_clerk(ctx: TransitionContext) -> bool:
    return ctx.actor.role == Role.court_clerk and ctx.actor.unit_code in ctx.org.court_units()


def court_clerk_or_system(ctx: TransitionContext) -> bool:
    return is_system(ctx) or is_court_clerk(ctx)


def court_clerk_of_linked_case(ctx: TransitionContext) -> bool:
    return is_court_clerk(ctx) and ctx.case.court_linked


def handles_case_or_court_clerk_of_linked_case(ctx: TransitionContext) -> bool:
    """Closing a settled case: the court closes what it delegated (撤诉/调解书); the mediation
    unit closes an agreement that was not performed (the parties sue or take another route)."""
    return handles_case(ctx) or court_clerk_of_linked_case(ctx)


def has_escalation_target(ctx: TransitionContext) -> bool:
    return ctx.org.escalation_target(ctx.case.unit_code) is not None


def has_return_unit(ctx: TransitionContext) -> bool:
    return ctx.case.returns_to_code is not None and ctx.case.returns_to_code != ctx.case.unit_code


def returns_to_court(ctx: TransitionContext) -> bool:
    """The case came from the court (委托调解): a decline puts it back in the court's queue."""
    back = ctx.org.find(ctx.case.returns_to_code)
    return back is not None and back.kind in {UnitKind.court, UnitKind.court_desk}


_HUBS = {UnitKind.town_centre, UnitKind.city_centre}


def returns_to_hub(ctx: TransitionContext) -> bool:
    """Declined back to a hub: it waits there, registered, for the hub to dispatch again."""
    back = ctx.org.find(ctx.case.returns_to_code)
    return has_return_unit(ctx) and back is not None and back.kind in _HUBS


def returns_to_sender(ctx: TransitionContext) -> bool:
    """A hand-off declined back to a station or agency: the sender holds it again, to accept anew."""
    back = ctx.org.find(ctx.case.returns_to_code)
    return (
        has_return_unit(ctx)
        and back is not None
        and back.kind not in _HUBS
        and back.kind not in {UnitKind.court, UnitKind.court_desk}
    )


def system_on_court_case(ctx: TransitionContext) -> bool:
    """The sweeper returns a court-delegated case whose period ran out; nothing else goes to court unasked."""
    return is_system(ctx) and ctx.case.court_linked


def handles_case_or_system_on_court_case(ctx: TransitionContext) -> bool:
    return handles_case(ctx) or system_on_court_case(ctx)


def court_desk_exists(ctx: TransitionContext) -> bool:
    return ctx.org.court_desk() is not None


_MEDIATION_KINDS = {
    UnitKind.village_station,
    UnitKind.town_centre,
    UnitKind.city_centre,
    UnitKind.sectoral_committee,
}


def dispatch_target_in_scope(ctx: TransitionContext) -> bool:
    """A hub dispatches inside its own subtree and its own channel, never to where the case is.

    Sending a case to another channel (a 派出所, 人社局) is a hand-off, with its referral record.
    """
    target = ctx.target
    hub = ctx.org.find(ctx.actor.unit_code)
    return (
        target is not None
        and hub is not None
        and target.code != ctx.case.unit_code
        and target.code in ctx.org.subtree(hub.code)
        and target.channel == hub.channel
        and target.kind not in {UnitKind.court, UnitKind.court_desk}
    )


def hand_off_target_valid(ctx: TransitionContext) -> bool:
    """三调联动: another channel, or a sectoral committee; never the court (refer_to_court is for that)."""
    target = ctx.target
    if target is None or target.code == ctx.case.unit_code:
        return False
    if target.kind in {UnitKind.court, UnitKind.court_desk}:
        return False
    return target.channel != ctx.case.channel or target.kind == UnitKind.sectoral_committee


def delegate_target_valid(ctx: TransitionContext) -> bool:
    return ctx.target is not None and ctx.target.kind in _MEDIATION_KINDS


def performance_complete(ctx: TransitionContext) -> bool:
    return ctx.fields.get("performance") == Performance.performed


def performance_incomplete(ctx: TransitionContext) -> bool:
    return ctx.fields.get("performance") in {Performance.partially, Performance.not_performed}


# --- the table ------------------------------------------------------------------------------

S = CaseState
T = Trigger


@dataclass(frozen=True)
class Rule:
    trigger: Trigger
    source: tuple[CaseState, ...]
    dest: CaseState
    conditions: tuple[Guard, ...]
    outcome: Outcome | None = None  # set on entering closed, unless the trigger's fields carry one


def _rule(
    trigger: Trigger,
    source: CaseState | list[CaseState],
    dest: CaseState,
    *conditions: Guard,
    outcome: Outcome | None = None,
) -> Rule:
    sources = tuple(source) if isinstance(source, list) else (source,)
    return Rule(trigger, sources, dest, conditions, outcome)


TRANSITIONS: list[Rule] = [
    _rule(T.dispatch, S.registered, S.assigned, supervises_case, dispatch_target_in_scope),
    _rule(T.accept, S.assigned, S.mediating, works_at_case_unit),
    _rule(T.decline, S.assigned, S.referred, works_at_case_unit_or_system, returns_to_court),
    _rule(T.decline, S.assigned, S.registered, works_at_case_unit_or_system, returns_to_hub),
    _rule(T.decline, S.assigned, S.assigned, works_at_case_unit_or_system, returns_to_sender),
    _rule(T.escalate, [S.assigned, S.mediating], S.assigned, handles_case_or_system, has_escalation_target),
    _rule(
        T.hand_off,
        [S.registered, S.assigned, S.mediating, S.terminated],
        S.assigned,
        handles_case,
        hand_off_target_valid,
    ),
    _rule(T.suspend, S.mediating, S.suspended, handles_case),
    _rule(T.resume, S.suspended, S.mediating, handles_case),
    _rule(T.settle, S.mediating, S.settled, handles_case),
    _rule(T.terminate, [S.mediating, S.suspended], S.terminated, handles_case_or_system),
    _rule(
        T.refer_to_court, S.terminated, S.referred, handles_case_or_system_on_court_case, court_desk_exists
    ),
    _rule(T.claim, S.referred, S.in_court, is_court_clerk),
    # A claim is a lease: the clerk hands the case back, or the sweep does when the lease runs out.
    _rule(T.release, S.in_court, S.referred, court_clerk_or_system),
    # The court keeps the case for trial: it leaves non-litigation resolution.
    _rule(T.docket, S.in_court, S.closed, is_court_clerk, outcome=Outcome.litigated),
    _rule(T.delegate, S.in_court, S.assigned, is_court_clerk, delegate_target_valid),
    _rule(T.request_confirmation, S.settled, S.confirming, handles_case),
    # The court accepts the application (3 days), which starts its decision clock (15 + 10 days).
    _rule(T.accept_confirmation, S.confirming, S.confirming, is_court_clerk),
    # The ruling makes the agreement enforceable; performance is still followed up (回访), and the
    # case closes as `confirmed` when the follow-up finds it performed (see the service).
    _rule(T.confirm, S.confirming, S.settled, is_court_clerk),
    _rule(T.reject_confirmation, S.confirming, S.terminated, is_court_clerk),
    _rule(
        T.record_performance,
        S.settled,
        S.closed,
        handles_case,
        performance_complete,
        outcome=Outcome.performed,
    ),
    _rule(T.record_performance, S.settled, S.settled, handles_case, performance_incomplete),
    _rule(
        T.withdraw,
        [S.registered, S.assigned, S.mediating, S.suspended, S.terminated],
        S.closed,
        handles_case,
        outcome=Outcome.withdrawn,
    ),
    _rule(T.withdraw, [S.referred, S.in_court], S.closed, is_court_clerk, outcome=Outcome.withdrawn),
    _rule(T.close, [S.registered, S.terminated], S.closed, handles_case),
    _rule(T.close, S.in_court, S.closed, is_court_clerk),
    _rule(T.close, S.settled, S.closed, handles_case_or_court_clerk_of_linked_case),
]

# Outcomes a person may choose on `close`, by the state it closes from.
CLOSE_OUTCOMES: dict[CaseState, tuple[Outcome, ...]] = {
    S.registered: (Outcome.rejected, Outcome.other_route),
    S.terminated: (Outcome.other_route, Outcome.litigated, Outcome.rejected),
    S.in_court: (Outcome.litigated, Outcome.withdrawn),
    S.settled: (Outcome.withdrawn, Outcome.litigated, Outcome.other_route),
}


def _adapt(guard: Guard) -> Callable[[EventData], bool]:
    def condition(event: EventData) -> bool:
        return guard(event.kwargs["ctx"])

    condition.__name__ = guard.__name__
    return condition


MACHINE = Machine(
    model=None,
    states=[s.value for s in CaseState],
    initial=None,
    transitions=[
        {
            "trigger": r.trigger.value,
            "source": [s.value for s in r.source],
            "dest": r.dest.value,
            "conditions": [_adapt(g) for g in r.conditions],
        }
        for r in TRANSITIONS
    ],
    auto_transitions=False,
    send_event=True,
    model_attribute="state",
    ignore_invalid_triggers=True,
)


class _Token:
    """The only thing the machine ever mutates: a state name on a throwaway object."""

    def __init__(self, state: CaseState) -> None:
        self.state: str = state.value


def fire(trigger: Trigger, ctx: TransitionContext) -> CaseState | None:
    """Ask the machine to move the case; the new state, or None when not allowed."""
    token = _Token(ctx.case.state)
    if not MACHINE.events[trigger.value].trigger(token, ctx=ctx):
        return None
    return CaseState(token.state)


def matching_rule(trigger: Trigger, ctx: TransitionContext) -> Rule | None:
    """The table row that would fire (the machine picks the first whose guards all pass)."""
    for rule in TRANSITIONS:
        if rule.trigger == trigger and ctx.case.state in rule.source:
            if all(guard(ctx) for guard in rule.conditions):
                return rule
    return None


def triggers_from(state: CaseState) -> list[Trigger]:
    """Triggers that exist from a state, whoever asks."""
    seen: dict[Trigger, None] = {}
    for rule in TRANSITIONS:
        if state in rule.source:
            seen[rule.trigger] = None
    return list(seen)


def _guards_without_target_and_fields(rule: Rule) -> tuple[Guard, ...]:
    # Whether a caller *may* fire a trigger does not depend on the fields they have yet to fill in.
    field_guards = {
        dispatch_target_in_scope,
        hand_off_target_valid,
        delegate_target_valid,
        performance_complete,
        performance_incomplete,
    }
    return tuple(g for g in rule.conditions if g not in field_guards)


def allowed_triggers(ctx: TransitionContext) -> list[Trigger]:
    """Triggers this actor may fire on this case now (before choosing targets or fields)."""
    allowed: dict[Trigger, None] = {}
    for rule in TRANSITIONS:
        if ctx.case.state in rule.source and rule.trigger not in allowed:
            if all(guard(ctx) for guard in _guards_without_target_and_fields(rule)):
                allowed[rule.trigger] = None
    return list(allowed)


def destination_unit(trigger: Trigger, ctx: TransitionContext) -> str:
    """Which unit holds the case after the trigger."""
    if trigger in {Trigger.dispatch, Trigger.hand_off, Trigger.delegate}:
        assert ctx.target is not None
        return ctx.target.code
    if trigger == Trigger.escalate:
        target = ctx.org.escalation_target(ctx.case.unit_code)
        assert target is not None
        return target.code
    if trigger == Trigger.decline:
        assert ctx.case.returns_to_code is not None
        return ctx.case.returns_to_code
    if trigger == Trigger.refer_to_court:
        desk = ctx.org.court_desk()
        assert desk is not None
        return desk.code
    return ctx.case.unit_code


def mermaid_diagram() -> str:
    """The lifecycle as a mermaid state diagram, generated from the table (never drawn by hand)."""
    from transitions.extensions import GraphMachine

    graph_machine = GraphMachine(
        # A throwaway model: the machine itself has a `dispatch` method that would clash with our trigger.
        model=_Token(CaseState.registered),
        states=[s.value for s in CaseState],
        initial=CaseState.registered.value,
        transitions=[
            {"trigger": r.trigger.value, "source": [s.value for s in r.source], "dest": r.dest.value}
            for r in TRANSITIONS
        ],
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=False,
    )
    raw: str = graph_machine.get_graph().draw(None)
    lines = ["stateDiagram-v2", "  direction LR"]
    for line in raw.splitlines():
        stripped = line.strip()
        if stripped.startswith('state "'):
            name = stripped.split(" as ")[-1]
            lines.append(f'  state "{STATE_LABELS[CaseState(name)]} {name}" as {name}')
        elif "-->" in stripped and not stripped.startswith("[*]"):
            lines.append(f"  {stripped}")
    # Triage decides where a new case starts: manual dispatch (registered) or a unit (assigned).
    lines += ["  [*] --> registered: open (triage: manual)", "  [*] --> assigned: open (triage)"]
    lines.append("  closed --> [*]")
    return "\n".join(lines) + "\n"
