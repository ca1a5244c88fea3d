"""The case lifecycle: every legal state change of a dispute in one declarative table.

One module-level ``transitions.Machine`` (``model=None``) is shared by all cases; the service
fires events on a small plain object holding the current state, never on a database row
(transitions raises on pydantic models, and ``add_model`` on thousands of rows does not scale).
Guards are pure functions of a :class:`TransitionContext`: who acts, from which unit, on which
case, towards which target unit. The machine says which row of the table fires (or none); each
row declares beside it what it does (``Effects``), which ``workflows.transition`` turns into one
plan that the service writes in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
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
    refuse_confirmation = "refuse_confirmation"
    reject_confirmation = "reject_confirmation"
    withdraw_confirmation = "withdraw_confirmation"
    amend = "amend"
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
    Trigger.refuse_confirmation: "不予受理确认申请",
    Trigger.reject_confirmation: "驳回确认申请",
    Trigger.withdraw_confirmation: "撤回确认申请",
    Trigger.amend: "变更调解协议",
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
    # A court-delegated (委托) settlement closed by the court:
    mediation_statement = "mediation_statement"  # 出具调解书
    other_court = "other_court"  # 其他方式结案


OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.performed: "协议履行完毕",
    Outcome.confirmed: "司法确认",
    Outcome.withdrawn: "撤回",
    Outcome.litigated: "转入诉讼",
    Outcome.other_route: "引导其他途径",
    Outcome.rejected: "不予受理",
    Outcome.mediation_statement: "出具调解书",
    Outcome.other_court: "法院以其他方式结案",
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


# Roles above a mediator's: a coordinator reads a whole subtree, an auditor the whole log, an admin
# manages accounts. Granting one needs a second administrator, and tells the auditors.
ELEVATED_ROLES: frozenset[Role] = frozenset({Role.coordinator, Role.auditor, Role.admin})


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
    claimed_by: str | None = None  # the court clerk whose lease the case is under (in_court)
    # An accepted 委托调解 (after filing: ordinary or simplified procedure) is open: its agreement
    # goes back to the court, not into judicial confirmation.
    delegated_after_filing: bool = False
    application: str | None = None  # the open judicial-confirmation application: offered | accepted
    agreement_confirmed: bool = False


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


def holds_the_claim_or_system(ctx: TransitionContext) -> bool:
    """A claim is one clerk's lease: only that clerk hands the case back (the court has no
    supervisor role that could release another clerk's claim); the sweep does when it runs out."""
    return is_system(ctx) or (is_court_clerk(ctx) and ctx.case.claimed_by == ctx.actor.username)


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


def settles_for_the_court(ctx: TransitionContext) -> bool:
    """特邀调解规定 art. 20; 司法确认规定 (2011) art. 13: a settlement in 委托调解 goes back to the
    court that delegated it (调解书, withdrawal or another closure), not into judicial confirmation."""
    return ctx.case.delegated_after_filing


def application_awaits_acceptance(ctx: TransitionContext) -> bool:
    return ctx.case.application == "offered"


def application_accepted(ctx: TransitionContext) -> bool:
    return ctx.case.application == "accepted"


def agreement_not_confirmed(ctx: TransitionContext) -> bool:
    """A confirmed agreement is enforceable as it stands: no second application, no amendment."""
    return not ctx.case.agreement_confirmed


def performance_complete(ctx: TransitionContext) -> bool:
    return ctx.fields.get("performance") == Performance.performed


def performance_incomplete(ctx: TransitionContext) -> bool:
    return ctx.fields.get("performance") in {Performance.partially, Performance.not_performed}


# --- the table ------------------------------------------------------------------------------

S = CaseState
T = Trigger


# --- what a rule does, declared beside it ------------------------------------------------------


class UnitRule(StrEnum):
    """Which unit holds the case after the rule."""

    stay = "stay"
    target = "target"  # the unit named in the trigger's fields (dispatch, hand_off, delegate)
    escalation = "escalation"  # the next tier up (org.escalation_target)
    returns_to = "returns_to"  # where a decline sends it back (the case's returns_to_code)
    court_desk = "court_desk"


class ReturnsTo(StrEnum):
    """Where a later decline sends the case (the case's ``returns_to_code``)."""

    keep = "keep"
    actor_unit = "actor_unit"  # the hub that dispatched it
    previous_unit = "previous_unit"  # the sender of a hand-off or delegation
    hub_of_destination = "hub_of_destination"  # after a decline: that unit's town, else the city


class Queue(StrEnum):
    """The court desk's queue fields (queued_at, claimed_by, lease_expires_at)."""

    keep = "keep"
    enqueue = "enqueue"  # (back) in the queue, unclaimed
    lease = "lease"  # claimed by the actor for ``court_lease_minutes``
    end_lease = "end_lease"  # the clerk recorded something: the lease has done its job


class Agreement(StrEnum):
    """What the rule does to the case's agreement."""

    keep = "keep"
    record = "record"  # the fields' agreement, dated (effective_on defaults to today in Kunshan)
    confirm = "confirm"  # the court's confirmation stamped on the agreement
    # What became of an application that did not end in confirmation, added to the agreement's
    # ``confirmation_results`` (the agreement itself stands: 人民调解法 art. 33 ¶3).
    not_accepted = "not_accepted"  # 不予受理
    rejected = "rejected"  # 驳回
    withdrawn = "withdrawn"  # 撤回申请


class Offer(StrEnum):
    """The referral a rule opens (the receiver is the unit that holds the case afterwards, or the
    court desk for a judicial confirmation)."""

    hand_off = "hand_off"  # the kind and payload given in the fields (三调联动)
    court_delegation = "court_delegation"  # 委托 or 委派, by the court procedure in the fields
    judicial_confirmation = "judicial_confirmation"  # to the court desk; the case stays


class ConsentStep(StrEnum):
    """Where the parties' consent is recorded (人民调解法 arts. 17, 18; 特邀调解规定 art. 11): each
    party's consent is checked by the planner, which also appends the records to the case."""

    accept = "accept"  # acceptance into people's mediation (also where prior proceedings bar it)
    referral = "referral"  # a 警调/访调/检调 hand-off: the parties agreed to be referred
    delegation = "delegation"  # the court delegates (委托/委派): court-invited mediation


class Answer(StrEnum):
    """Which open referral a rule answers, and how."""

    accept_arrival = "accept_arrival"  # the offer made to the unit that holds the case
    accept_confirmation = "accept_confirmation"  # the open judicial-confirmation application
    refuse_confirmation = "refuse_confirmation"  # 不予受理: the application, declined with a reason
    withdraw_confirmation = "withdraw_confirmation"  # the parties take the application back
    # The offer made to the unit it leaves: declined by a person, returned by the sweep.
    decline_arrival = "decline_arrival"


@dataclass(frozen=True)
class Copy:
    """A case column set from one of the trigger's fields (or a default when it is absent)."""

    column: str
    field: str
    default: str | None = None


@dataclass(frozen=True)
class Effects:
    """Everything a rule does besides changing the state. Clocks are not here: which events start,
    meet, pause and end each clock is policy data (``config/deadlines.yaml``, read by
    ``workflows.deadlines.plan``), changed by policy owners without touching code."""

    unit: UnitRule = UnitRule.stay
    returns_to: ReturnsTo = ReturnsTo.keep
    court_linked: bool = False  # the court is involved from now on (its clerks may follow the case)
    queue: Queue = Queue.keep
    agreement: Agreement = Agreement.keep
    copies: tuple[Copy, ...] = ()
    # On entering `closed`: this outcome, or (None) the one the person chose in the fields.
    outcome: Outcome | None = None
    offer: Offer | None = None
    answer: Answer | None = None
    # Entering a result (settled, terminated, closed) from another state completes the referrals the
    # case is working on and sends each sender its result.
    completes_referrals: bool = False
    announce: str | None = None  # the inbox kind announced to the unit that holds the case after
    announce_court: str | None = None  # an inbox kind announced to the court desk (the case stays)
    consent: ConsentStep | None = None  # the parties' consent this step needs (see the planner)


@dataclass(frozen=True)
class Rule:
    trigger: Trigger
    source: tuple[CaseState, ...]
    dest: CaseState
    conditions: tuple[Guard, ...]
    effects: Effects = Effects()


def _rule(
    trigger: Trigger,
    source: CaseState | list[CaseState],
    dest: CaseState,
    *conditions: Guard,
    effects: Effects = Effects(),
) -> Rule:
    sources = tuple(source) if isinstance(source, list) else (source,)
    return Rule(trigger, sources, dest, conditions, effects)


E = Effects
TERMINATION_REASON = Copy("termination_reason", "termination_reason", default=TerminationReason.other.value)
# settle takes no termination_reason field: the column is cleared.
CLEARS_TERMINATION = Copy("termination_reason", "termination_reason", default=None)
PERFORMANCE = Copy("performance", "performance")
# Rules into a result state: the referrals the case works on are completed (see Effects).
_RESULT = E(completes_referrals=True)

TRANSITIONS: list[Rule] = [
    _rule(
        T.dispatch,
        S.registered,
        S.assigned,
        supervises_case,
        dispatch_target_in_scope,
        effects=E(unit=UnitRule.target, returns_to=ReturnsTo.actor_unit, announce="dispatch"),
    ),
    _rule(
        T.accept,
        S.assigned,
        S.mediating,
        works_at_case_unit,
        effects=E(answer=Answer.accept_arrival, consent=ConsentStep.accept),
    ),
    *(
        _rule(
            T.decline,
            S.assigned,
            dest,
            works_at_case_unit_or_system,
            guard,
            effects=E(
                unit=UnitRule.returns_to,
                returns_to=ReturnsTo.hub_of_destination,
                queue=queue,
                answer=Answer.decline_arrival,
                announce="returned",
            ),
        )
        for dest, guard, queue in (
            (S.referred, returns_to_court, Queue.enqueue),  # back in the court's queue
            (S.registered, returns_to_hub, Queue.keep),  # waits at the hub to be dispatched again
            (S.assigned, returns_to_sender, Queue.keep),  # the sender holds it again, to accept anew
        )
    ),
    _rule(
        T.escalate,
        [S.assigned, S.mediating],
        S.assigned,
        handles_case_or_system,
        has_escalation_target,
        effects=E(unit=UnitRule.escalation, announce="escalation"),
    ),
    _rule(
        T.hand_off,
        [S.registered, S.assigned, S.mediating, S.terminated],
        S.assigned,
        handles_case,
        hand_off_target_valid,
        effects=E(
            unit=UnitRule.target,
            returns_to=ReturnsTo.previous_unit,  # a declined referral goes back to its sender
            offer=Offer.hand_off,
            announce="hand_off",
            consent=ConsentStep.referral,
        ),
    ),
    _rule(T.suspend, S.mediating, S.suspended, handles_case),
    _rule(T.resume, S.suspended, S.mediating, handles_case),
    # 委托调解 after filing: the agreement answers the court's referral and the case waits in the
    # court's queue for the clerk to close it; no confirmation window, no follow-up clock.
    _rule(
        T.settle,
        S.mediating,
        S.referred,
        handles_case,
        settles_for_the_court,
        effects=E(
            unit=UnitRule.court_desk,
            queue=Queue.enqueue,
            agreement=Agreement.record,
            # The settlement supersedes the failure that first brought the case to the court.
            copies=(CLEARS_TERMINATION,),
            completes_referrals=True,
            announce="delegation_settled",
        ),
    ),
    _rule(
        T.settle,
        S.mediating,
        S.settled,
        handles_case,
        effects=E(agreement=Agreement.record, completes_referrals=True),
    ),
    _rule(
        T.terminate,
        [S.mediating, S.suspended],
        S.terminated,
        handles_case_or_system,
        effects=E(copies=(TERMINATION_REASON,), completes_referrals=True),
    ),
    _rule(
        T.refer_to_court,
        S.terminated,
        S.referred,
        handles_case_or_system_on_court_case,
        court_desk_exists,
        effects=E(unit=UnitRule.court_desk, court_linked=True, queue=Queue.enqueue, announce="referral"),
    ),
    _rule(T.claim, S.referred, S.in_court, is_court_clerk, effects=E(court_linked=True, queue=Queue.lease)),
    # A claim is a lease: the clerk hands the case back, or the sweep does when the lease runs out.
    _rule(T.release, S.in_court, S.referred, holds_the_claim_or_system, effects=E(queue=Queue.enqueue)),
    # The court keeps the case for trial: it leaves non-litigation resolution.
    _rule(
        T.docket,
        S.in_court,
        S.closed,
        is_court_clerk,
        effects=E(queue=Queue.end_lease, outcome=Outcome.litigated, completes_referrals=True),
    ),
    _rule(
        T.delegate,
        S.in_court,
        S.assigned,
        is_court_clerk,
        delegate_target_valid,
        effects=E(
            unit=UnitRule.target,
            returns_to=ReturnsTo.previous_unit,
            court_linked=True,
            queue=Queue.end_lease,
            copies=(Copy("court_procedure", "procedure"), Copy("court_case_number", "court_case_number")),
            offer=Offer.court_delegation,
            announce="delegation",
            consent=ConsentStep.delegation,
        ),
    ),
    # The parties' joint application (人民调解法 art. 33; 民事诉讼法 art. 205), recorded by the
    # mediation unit: the case stays with it, the court desk sees the application.
    _rule(
        T.request_confirmation,
        S.settled,
        S.confirming,
        handles_case,
        agreement_not_confirmed,
        effects=E(
            court_linked=True,
            offer=Offer.judicial_confirmation,
            announce_court="confirmation_application",
        ),
    ),
    # The court accepts the application once (3 days), which starts its decision clock (15 + 10 days)...
    _rule(
        T.accept_confirmation,
        S.confirming,
        S.confirming,
        is_court_clerk,
        application_awaits_acceptance,
        effects=E(answer=Answer.accept_confirmation),
    ),
    # ...or refuses to accept it (不予受理). The agreement stands; the parties choose again.
    _rule(
        T.refuse_confirmation,
        S.confirming,
        S.settled,
        is_court_clerk,
        application_awaits_acceptance,
        effects=E(
            agreement=Agreement.not_accepted,
            answer=Answer.refuse_confirmation,
            announce="confirmation_refused",
        ),
    ),
    # The parties withdraw the application before a ruling (recorded by the mediation unit).
    _rule(
        T.withdraw_confirmation,
        S.confirming,
        S.settled,
        handles_case,
        effects=E(
            agreement=Agreement.withdrawn,
            answer=Answer.withdraw_confirmation,
            announce_court="confirmation_withdrawn",
        ),
    ),
    # The ruling makes the agreement enforceable; performance is still followed up (回访), and the
    # case closes as `confirmed` when the follow-up finds it performed (see the planner).
    _rule(
        T.confirm,
        S.confirming,
        S.settled,
        is_court_clerk,
        application_accepted,
        effects=E(agreement=Agreement.confirm, completes_referrals=True),
    ),
    # 驳回 after acceptance (民事诉讼法 art. 206): not a failed mediation. The parties may change the
    # agreement through mediation or reach a new one, or sue (人民调解法 art. 33 ¶3).
    _rule(
        T.reject_confirmation,
        S.confirming,
        S.settled,
        is_court_clerk,
        application_accepted,
        effects=E(agreement=Agreement.rejected, completes_referrals=True),
    ),
    # The parties change the agreement through mediation (人民调解法 art. 33 ¶3).
    _rule(T.amend, S.settled, S.mediating, handles_case, agreement_not_confirmed),
    _rule(
        T.record_performance,
        S.settled,
        S.closed,
        handles_case,
        performance_complete,
        effects=E(outcome=Outcome.performed, copies=(PERFORMANCE,), completes_referrals=True),
    ),
    # Not (fully) performed: followed up again; on a labour agreement the worker may now apply for a
    # 支付令 (workflows.labour), which is why the finding is kept on the case.
    _rule(
        T.record_performance,
        S.settled,
        S.settled,
        handles_case,
        performance_incomplete,
        effects=E(copies=(PERFORMANCE,)),
    ),
    _rule(
        T.withdraw,
        [S.registered, S.assigned, S.mediating, S.suspended, S.terminated],
        S.closed,
        handles_case,
        effects=E(outcome=Outcome.withdrawn, completes_referrals=True),
    ),
    _rule(
        T.withdraw,
        [S.referred, S.in_court],
        S.closed,
        is_court_clerk,
        effects=E(queue=Queue.end_lease, outcome=Outcome.withdrawn, completes_referrals=True),
    ),
    _rule(T.close, [S.registered, S.terminated], S.closed, handles_case, effects=_RESULT),
    # 不予受理 by the unit a case was sent to (e.g. another authority already accepted it: 2002
    # 规定 art. 22); the offer that brought it there is answered as declined.
    _rule(
        T.close,
        S.assigned,
        S.closed,
        works_at_case_unit,
        effects=E(answer=Answer.decline_arrival, completes_referrals=True),
    ),
    _rule(
        T.close,
        S.in_court,
        S.closed,
        is_court_clerk,
        effects=E(queue=Queue.end_lease, completes_referrals=True),
    ),
    _rule(T.close, S.settled, S.closed, handles_case_or_court_clerk_of_linked_case, effects=_RESULT),
]

# Outcomes a person may choose on `close`, by the state it closes from.
CLOSE_OUTCOMES: dict[CaseState, tuple[Outcome, ...]] = {
    S.registered: (Outcome.rejected, Outcome.other_route),
    S.assigned: (Outcome.rejected,),
    S.terminated: (Outcome.other_route, Outcome.litigated, Outcome.rejected),
    S.in_court: (Outcome.litigated, Outcome.withdrawn, Outcome.mediation_statement, Outcome.other_court),
    S.settled: (Outcome.withdrawn, Outcome.litigated, Outcome.other_route),
}


def _adapt(guard: Guard) -> Callable[[EventData], bool]:
    def condition(event: EventData) -> bool:
        return guard(event.kwargs["ctx"])

    condition.__name__ = guard.__name__
    return condition


def _record(rule: Rule) -> Callable[[EventData], None]:
    def chosen(event: EventData) -> None:
        event.kwargs["chosen"].append(rule)

    return chosen


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
            "after": _record(r),  # which row fired: its effects make the plan
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


def fire_rule(trigger: Trigger, ctx: TransitionContext) -> Rule | None:
    """Ask the machine to move the case: the table row that fired (the first whose guards all
    pass; each guard runs once), or None when none may."""
    token = _Token(ctx.case.state)
    chosen: list[Rule] = []
    if not MACHINE.events[trigger.value].trigger(token, ctx=ctx, chosen=chosen):
        return None
    return chosen[0]


def fire(trigger: Trigger, ctx: TransitionContext) -> CaseState | None:
    """The state the case would move to, or None when not allowed."""
    rule = fire_rule(trigger, ctx)
    return None if rule is None else rule.dest


def destination(rule: Rule, ctx: TransitionContext) -> str:
    """The unit that holds the case after ``rule`` fired in ``ctx`` (its guards checked that
    there is one)."""
    match rule.effects.unit:
        case UnitRule.stay:
            return ctx.case.unit_code
        case UnitRule.target:
            assert ctx.target is not None
            return ctx.target.code
        case UnitRule.escalation:
            parent = ctx.org.escalation_target(ctx.case.unit_code)
            assert parent is not None
            return parent.code
        case UnitRule.returns_to:
            assert ctx.case.returns_to_code is not None
            return ctx.case.returns_to_code
        case UnitRule.court_desk:
            desk = ctx.org.court_desk()
            assert desk is not None
            return desk.code


def triggers_from(state: CaseState) -> list[Trigger]:
    """Triggers that exist from a state, whoever asks."""
    seen: dict[Trigger, None] = {}
    for rule in TRANSITIONS:
        if state in rule.source:
            seen[rule.trigger] = None
    return list(seen)


_TARGET_GUARDS: frozenset[Guard] = frozenset(
    {dispatch_target_in_scope, hand_off_target_valid, delegate_target_valid}
)
_FIELD_GUARDS: frozenset[Guard] = _TARGET_GUARDS | {performance_complete, performance_incomplete}


def target_choices(trigger: Trigger, ctx: TransitionContext) -> list[Unit]:
    """The units this trigger may send the case to, as its guards judge them (for the forms)."""
    guards = {g for r in TRANSITIONS if r.trigger == trigger for g in r.conditions if g in _TARGET_GUARDS}
    if not guards:
        return []
    return [unit for unit in ctx.org if all(guard(replace(ctx, target=unit)) for guard in guards)]


def _guards_without_target_and_fields(rule: Rule) -> tuple[Guard, ...]:
    # Whether a caller *may* fire a trigger does not depend on the fields they have yet to fill in.
    return tuple(g for g in rule.conditions if g not in _FIELD_GUARDS)


def allowed_triggers(ctx: TransitionContext) -> list[Trigger]:
    """Triggers this actor may fire on this case now (before choosing targets or fields)."""
    allowed: dict[Trigger, None] = {}
    for rule in TRANSITIONS:
        if ctx.case.state in rule.source and rule.trigger not in allowed:
            if all(guard(ctx) for guard in _guards_without_target_and_fields(rule)):
                allowed[rule.trigger] = None
    return list(allowed)


# Triggers that put the case in front of another unit.
HANDOVER_TRIGGERS: frozenset[Trigger] = frozenset(
    r.trigger for r in TRANSITIONS if r.effects.unit != UnitRule.stay
)


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
