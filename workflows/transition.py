"""One pure function from (case, actor, trigger, fields, now) to everything a transition writes.

``plan_transition`` asks the lifecycle machine which row of the table fires (each guard runs
once), then reads that row's declared ``Effects`` and the deadline policies to build one typed
``TransitionPlan``: the case's new column values, its audit event, the clocks it starts, meets,
pauses, resumes or cancels, the referral it opens, answers or completes, and the inbox items it
announces. A refusal is an exception naming the field or the triggers allowed now. No I/O, no
wall clock: the service writes the plan in one transaction (``service.cases.writer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from workflows.agreement import eligibility, labour_problem, touches
from workflows.calendar import SHANGHAI, BusinessCalendar
from workflows.deadlines import CaseClockFacts, OpenDeadline, Plan, PolicySet, plan
from workflows.intake import (
    PartyRef,
    PriorProceedingsBar,
    acceptance_bar,
    consent_records,
    missing_consent,
    unknown_parties,
)
from workflows.lifecycle import (
    CLOSE_OUTCOMES,
    OUTCOME_LABELS,
    STATE_LABELS,
    SYSTEM_ACTOR_NAME,
    TRANSITIONS,
    Actor,
    Agreement,
    Answer,
    CaseFacts,
    CaseState,
    ConsentStep,
    Effects,
    Offer,
    Outcome,
    Queue,
    ReturnsTo,
    Role,
    Rule,
    TerminationReason,
    TransitionContext,
    Trigger,
    UnitRule,
    allowed_triggers,
    destination,
    fire_rule,
)
from workflows.org import Channel, OrgTree, Unit
from workflows.referrals import REFERRAL_LABELS, REQUIRED_PAYLOAD, RETURNS, ReferralStatus, direction_problem
from workflows.vocab import ConsentDecision, CourtProcedure, DisputeType, PriorAuthority, ReferralKind

# --- what the planner reads ----------------------------------------------------------------------


@dataclass(frozen=True)
class OpenReferral:
    """A referral of the case that is still offered or accepted."""

    id: int
    kind: ReferralKind
    status: ReferralStatus
    from_unit_code: str
    to_unit_code: str


@dataclass(frozen=True)
class CaseSnapshot:
    """The case as it was read, with what the planner needs of its children."""

    id: int
    number: str
    version: int
    last_event_hash: str | None
    state: CaseState
    unit_code: str
    channel: Channel
    dispute_type: DisputeType
    returns_to_code: str | None = None
    court_linked: bool = False
    claimed_by: str | None = None
    court_procedure: str | None = None
    agreement: Mapping[str, Any] | None = None
    clocks: tuple[OpenDeadline, ...] = ()  # live clocks; a breached one shows as active
    breached_clocks: frozenset[int] = frozenset()  # which of them the sweep has breached
    referrals: tuple[OpenReferral, ...] = ()
    # The units that sent the case on (``SENDING_TRIGGERS``, or a registration that triage sent
    # elsewhere), read from its audit events: they keep a read-only view and are told the result.
    senders: tuple[str, ...] = ()
    party_names: tuple[str, ...] = ()  # the parties as registered, in id order
    # What the case's events vouch for (``workflows.chain.recorded_facts``): the next event
    # carries a keyed digest of these facts with the change applied.
    recorded: Mapping[str, Any] = field(default_factory=dict)
    # Intake and consent (``workflows.intake``): the declaration of prior proceedings (None on a
    # case registered before intake asked), the consent records so far, and the parties.
    prior_proceedings: Mapping[str, Any] | None = None
    consents: tuple[Mapping[str, Any], ...] = ()
    parties: tuple[PartyRef, ...] = ()

    def facts(self) -> CaseFacts:
        return CaseFacts(
            state=self.state,
            unit_code=self.unit_code,
            channel=self.channel,
            returns_to_code=self.returns_to_code,
            court_linked=self.court_linked,
            claimed_by=self.claimed_by,
            delegated_after_filing=any(
                r.kind == ReferralKind.court_delegation and r.status == ReferralStatus.accepted
                for r in self.referrals
            )
            and self.court_procedure in _AFTER_FILING,
            application=next(
                (r.status.value for r in self.referrals if r.kind == ReferralKind.judicial_confirmation), None
            ),
            agreement_confirmed=bool((self.agreement or {}).get("confirmed_at")),
        )


_AFTER_FILING = frozenset({CourtProcedure.ordinary.value, CourtProcedure.simplified.value})


@dataclass(frozen=True)
class Planning:
    """The configuration the planner consults (all of it data, loaded at start-up)."""

    org: OrgTree
    policies: PolicySet
    calendar: BusinessCalendar
    court_lease_minutes: float


# The rules that send a case on to a unit chosen by the sender's decision or by the network
# (dispatch, hand-off, delegation, escalation, referral to the court). A decline is not among
# them: it gives a case back, and the decliner does not follow it.
SENDING_UNIT_RULES = frozenset({UnitRule.target, UnitRule.escalation, UnitRule.court_desk})
SENDING_TRIGGERS: frozenset[Trigger] = frozenset(
    r.trigger for r in TRANSITIONS if r.effects.unit in SENDING_UNIT_RULES
)


def senders_to_tell(
    senders: tuple[str, ...], *, actor_unit: str | None, holder: str, told: frozenset[str]
) -> tuple[str, ...]:
    """The units that sent a case on and are told its result: each once, not the acting
    person's own unit, not the unit holding the case (it knows), and not a unit already told
    through its referral's return (``referral_result``)."""
    skip = {holder, *told} | ({actor_unit} if actor_unit else set())
    return tuple(dict.fromkeys(u for u in senders if u not in skip))


# --- what it decides -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Announcement:
    """An inbox item for a unit (and an outbox message per webhook subscription of that unit).
    ``addressee`` names the one person (a username) it is for, when it is for a person: it is
    still the unit's item, shown to that person first."""

    unit_code: str
    case_id: int | None  # None: about a unit, not a case (a station that has not reported)
    kind: str
    reason: str | None
    payload: Mapping[str, Any]
    addressee: str | None = None
    # The person whose act it announces (None: the system, e.g. the sweeper); they are not told.
    caused_by: str | None = None


def caused_by(actor: Actor) -> str | None:
    """Who an act's announcements are from: the person, or None for the sweeper."""
    return None if actor.username == SYSTEM_ACTOR_NAME or actor.role == Role.system else actor.username


@dataclass(frozen=True)
class ReferralOpened:
    kind: ReferralKind
    from_unit_code: str
    to_unit_code: str
    payload: Mapping[str, Any]
    reason: str | None


@dataclass(frozen=True)
class ReferralAnswered:
    referral_ids: tuple[int, ...]
    status: ReferralStatus
    decline_reason: str | None = None


@dataclass(frozen=True)
class ReferralCompleted:
    referral_ids: tuple[int, ...]
    result: Mapping[str, Any]


@dataclass(frozen=True)
class ClockChanges:
    """The deadline plan of one event, for the case's clocks (new ones at ``unit_code``)."""

    case_id: int
    unit_code: str
    plan: Plan
    keep_breached: frozenset[int] = frozenset()  # breached clocks are never paused


@dataclass(frozen=True)
class MediatorChanges:
    """What a transition does to the mediators handling the case: ``end_current`` ends every
    current assignment (end ``closed``: the case closed or left the unit); ``lead_user_id`` makes
    the accepting person's roster record the lead, when the case has none yet."""

    end_current: bool = False
    lead_user_id: int | None = None

    @property
    def any(self) -> bool:
        return self.end_current or self.lead_user_id is not None


# States in which the unit no longer mediates the case: its mediators stop handling it.
MEDIATORS_END_IN: frozenset[CaseState] = frozenset({CaseState.closed, CaseState.referred, CaseState.in_court})


def mediator_changes(
    rule: Rule, from_state: CaseState, from_unit: str, to_unit: str, actor: Actor
) -> MediatorChanges:
    """Assignments end when the case leaves the unit, stops being mediated there, or closes. A move
    between two states that are both past mediation (the court desk claiming a referred case, or
    handing it back to the queue) has none left to end, and is written without that statement."""
    leaves_mediation = rule.dest in MEDIATORS_END_IN and from_state not in MEDIATORS_END_IN
    if to_unit != from_unit or leaves_mediation or rule.dest == CaseState.closed:
        return MediatorChanges(end_current=True)
    if rule.trigger == Trigger.accept and actor.user_id is not None:
        return MediatorChanges(lead_user_id=actor.user_id)
    return MediatorChanges()


@dataclass(frozen=True)
class TransitionPlan:
    case_id: int
    expected_version: int
    prev_hash: str | None
    rule: Rule
    from_state: CaseState
    to_state: CaseState
    from_unit: str
    to_unit: str
    changes: Mapping[str, Any]  # case column → new value (state and unit included)
    event: Mapping[str, Any]  # the audit event, before it is chained
    clocks: ClockChanges
    opened: ReferralOpened | None
    answered: ReferralAnswered | None
    completed: ReferralCompleted | None
    announcements: tuple[Announcement, ...]
    now: datetime
    recorded_after: Mapping[str, Any] = field(default_factory=dict)  # the recorded facts afterwards
    mediators: MediatorChanges = field(default_factory=MediatorChanges)

    @property
    def trigger(self) -> Trigger:
        return self.rule.trigger


# --- refusals --------------------------------------------------------------------------------------


class Refused(Exception):
    """The transition cannot be planned; the service answers with a problem."""


class NotAllowed(Refused):
    def __init__(self, trigger: Trigger, state: CaseState, actor: Actor, allowed: list[Trigger]) -> None:
        names = ", ".join(t.value for t in allowed) or "none"
        super().__init__(
            f"'{trigger.value}' is not allowed on a case that is {state.value} "
            f"for {actor.username} ({actor.role.value}); allowed now: {names}."
        )
        self.state = state
        self.allowed = allowed


class FieldRejected(Refused):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PayloadMissing(Refused):
    def __init__(self, kind: ReferralKind, missing: list[str]) -> None:
        super().__init__(f"{kind.value} needs {', '.join(missing)} in referral_payload")
        self.fields = [f"body.referral_payload.{name}" for name in missing]


class ConfirmationWindowClosed(Refused):
    """人民调解法 art. 33: judicial confirmation is applied for within 30 days."""

    def __init__(self, effective_on: str, last_day: date) -> None:
        super().__init__(
            f"The agreement took effect on {effective_on}; judicial confirmation had to be requested by "
            f"{last_day.isoformat()} (30 days, 人民调解法 第33条). The parties may still sue on the agreement."
        )
        self.effective_on = effective_on
        self.last_day = last_day


class NotConfirmable(Refused):
    """The agreement is outside judicial confirmation (民诉解释 art. 355; 人民调解法 arts. 29, 33)."""

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__("This agreement cannot be confirmed by a court: " + "；".join(reasons))
        self.reasons = reasons


class AcceptanceBarred(Refused):
    """人民调解工作若干规定 (2002) art. 22: another authority already accepted the matter (or the
    declaration is still unanswered); the message names the options."""

    def __init__(self, bar: PriorProceedingsBar) -> None:
        super().__init__(str(bar))
        self.authority = bar.authority


class ConsentMissing(Refused):
    """A step that needs the parties' consent without it: one problem per party."""

    def __init__(self, trigger: Trigger, parties: list[PartyRef]) -> None:
        names = ", ".join(f"{p.name} ({p.role.value}, party {p.id})" for p in parties)
        super().__init__(f"{trigger.value} needs the consent of each party; none on record for {names}")
        self.fields = [
            (f"body.consents.{p.id}", f"no consent of {p.name} ({p.role.value}) recorded for this step")
            for p in parties
        ]


# The referral kinds by which the authority a declaration names sends a matter it accepted to
# mediation itself (警调, 访调, 委托/委派): then the authority chose mediation, and the bar is lifted.
_REFERRED_BY: dict[PriorAuthority, frozenset[ReferralKind]] = {
    PriorAuthority.police: frozenset({ReferralKind.police}),
    PriorAuthority.petition: frozenset({ReferralKind.petition}),
    PriorAuthority.court: frozenset({ReferralKind.court_delegation, ReferralKind.court_assignment}),
    PriorAuthority.other: frozenset({ReferralKind.administrative, ReferralKind.procuratorate}),
}
# Hand-offs that carry the parties' agreement to be referred (三调联动 from an authority).
CONSENTED_HAND_OFFS = frozenset({ReferralKind.police, ReferralKind.petition, ReferralKind.procuratorate})


_TARGET_MESSAGES = {
    Trigger.dispatch: "must be a unit under your hub other than the one holding the case",
    Trigger.hand_off: "must be a unit of another channel or a sectoral committee",
    Trigger.delegate: "must be a mediation unit (station, centre or sectoral committee)",
}


# --- the planner -----------------------------------------------------------------------------------


def context_of(case: CaseSnapshot, actor: Actor, now: datetime, planning: Planning) -> TransitionContext:
    """What the guards see, before a target or fields are chosen."""
    return TransitionContext(actor=actor, case=case.facts(), org=planning.org, now=now)


def refusal(trigger: Trigger, base: TransitionContext) -> NotAllowed | None:
    """The 409 for a trigger this actor may not fire here at all (whatever the fields), or None."""
    allowed = allowed_triggers(base)
    if trigger in allowed:
        return None
    return NotAllowed(trigger, base.case.state, base.actor, allowed)


def plan_transition(
    case: CaseSnapshot,
    actor: Actor,
    trigger: Trigger,
    fields: Mapping[str, Any],
    *,
    now: datetime,
    planning: Planning,
) -> TransitionPlan:
    """Everything ``trigger`` writes, or a ``Refused``. ``fields`` are the trigger's validated
    fields (``reason`` among them when given)."""
    base = context_of(case, actor, now, planning)
    target = _target(trigger, base, fields, planning.org)
    ctx = replace(base, target=target, fields=fields)
    rule = fire_rule(trigger, ctx)
    if rule is None:
        refused = refusal(trigger, base)
        if refused is not None:
            raise refused
        raise FieldRejected(*_field_problem(trigger))
    _check(rule, case, fields, target, now, planning)
    return _plan(rule, case, actor, fields, planning.org.get(destination(rule, ctx)), now, planning)


def _target(
    trigger: Trigger, base: TransitionContext, fields: Mapping[str, Any], org: OrgTree
) -> Unit | None:
    code = fields.get("target_unit")
    if code is None:
        return None
    unit = org.find(code)
    if unit is None:
        raise refusal(trigger, base) or FieldRejected("body.target_unit", f"no unit with code {code!r}")
    return unit


def _field_problem(trigger: Trigger) -> tuple[str, str]:
    if trigger in _TARGET_MESSAGES:
        return "body.target_unit", _TARGET_MESSAGES[trigger]
    return "body", "the given fields do not fit this case"


def _check(
    rule: Rule,
    case: CaseSnapshot,
    fields: Mapping[str, Any],
    target: Unit | None,
    now: datetime,
    planning: Planning,
) -> None:
    """The rules a row's guards do not express: each needs the fields, the agreement or a date."""
    if rule.effects.agreement == Agreement.record:
        problem = labour_problem(fields["agreement"], case.dispute_type)
        if problem is not None:
            raise FieldRejected("body.agreement", problem)
    if rule.effects.offer == Offer.judicial_confirmation:
        _check_application(case, fields, now, planning)
    if rule.effects.offer == Offer.hand_off and target is not None:
        _check_hand_off(case, target, fields, planning.org)
    if rule.effects.consent is not None:
        _check_consent(rule.trigger, rule.effects.consent, case, fields)
    if "refused_by" in fields:
        _check_refusal(case, fields)
    if rule.dest == CaseState.closed and rule.effects.outcome is None:
        allowed = CLOSE_OUTCOMES[case.state]
        if Outcome(fields["outcome"]) not in allowed:
            names = ", ".join(o.value for o in allowed)
            raise FieldRejected("body.outcome", f"a {case.state.value} case closes as one of: {names}")


def _effective_on(case: CaseSnapshot) -> str:
    agreement = case.agreement or {}
    return str(agreement.get("effective_on") or (agreement.get("effective_at") or "")[:10])


def _check_confirmation_window(case: CaseSnapshot, applied_at: datetime, calendar: BusinessCalendar) -> None:
    """人民调解法 art. 33: apply within 30 days of the agreement taking effect (art. 85 rules)."""
    effective = _effective_on(case)
    if not effective:
        return
    start = datetime.combine(date.fromisoformat(effective), time(12), tzinfo=SHANGHAI)
    closes_at = calendar.add(start, 30, "days")
    if applied_at >= closes_at:
        last_day = (closes_at.astimezone(SHANGHAI) - timedelta(microseconds=1)).date()
        raise ConfirmationWindowClosed(effective, last_day)


def _check_application(
    case: CaseSnapshot, fields: Mapping[str, Any], now: datetime, planning: Planning
) -> None:
    """The parties' joint application (人民调解法 art. 33; 民事诉讼法 art. 205; 司法确认规定 (2011) art. 3):
    filed on a day not in the future and inside the window, by every party in person or by an agent
    with a written authority, to a court, for an agreement a court may confirm."""
    today = now.astimezone(SHANGHAI).date()
    applied_on = date.fromisoformat(str(fields["applied_on"]))
    if applied_on > today:
        raise FieldRejected("body.applied_on", f"the application date {applied_on} is in the future")
    effective = _effective_on(case)
    if effective and applied_on < date.fromisoformat(effective):
        raise FieldRejected(
            "body.applied_on", f"the agreement took effect on {effective}, after {applied_on}"
        )
    # The day the parties applied counts, not the day it is recorded (end of that day).
    applied_at = datetime.combine(applied_on, time(23, 59), tzinfo=SHANGHAI)
    _check_confirmation_window(case, min(applied_at, now), planning.calendar)
    court = fields.get("court")
    if court is not None and court not in planning.org.court_units():
        raise FieldRejected("body.court", f"{court!r} is not a court of this deployment")
    _check_applicants(case, fields["applicants"])
    verdict = eligibility(case.agreement or {}, case.dispute_type, len(case.party_names))
    if not verdict.confirmable:
        raise NotConfirmable(verdict.reasons)


def _check_applicants(case: CaseSnapshot, applicants: list[Mapping[str, Any]]) -> None:
    """Both sides apply jointly: every party of the case, each once, in person or by an agent who
    holds a written authority signed or sealed by the party (司法确认规定 (2011) art. 3)."""
    seen: set[str] = set()
    for index, applicant in enumerate(applicants):
        name = applicant["party"]
        if name not in case.party_names:
            raise FieldRejected(f"body.applicants[{index}].party", f"{name!r} is not a party of this case")
        if name in seen:
            raise FieldRejected(f"body.applicants[{index}].party", f"{name!r} is listed twice")
        seen.add(name)
        if applicant.get("agent") and not applicant.get("authority_document"):
            raise FieldRejected(
                f"body.applicants[{index}].authority_document",
                "an agent applies with a written authority (授权委托书): name the document",
            )
    missing = [name for name in case.party_names if name not in seen]
    if missing:
        raise FieldRejected(
            "body.applicants",
            "both sides apply jointly (人民调解法 第33条; 民事诉讼法 第205条): missing " + "、".join(missing),
        )


def _check_hand_off(case: CaseSnapshot, target: Unit, fields: Mapping[str, Any], org: OrgTree) -> None:
    """Each hand-off kind has a direction and a payload it must carry (docs/domain.md, Hand-offs)."""
    kind = ReferralKind(fields["referral_kind"])
    problem = direction_problem(kind, org.get(case.unit_code), target)
    if problem is not None:
        raise FieldRejected("body.referral_kind", problem)
    payload = fields.get("referral_payload") or {}
    missing = [k for k in REQUIRED_PAYLOAD[kind] if not payload.get(k)]
    if missing:
        raise PayloadMissing(kind, missing)


def consent_needed(step: ConsentStep, case: CaseSnapshot, fields: Mapping[str, Any]) -> bool:
    """Whether this step needs each party's consent on record: acceptance into people's mediation
    (人民调解法 art. 17), a 警调/访调/检调 hand-off, a court delegation (特邀调解规定 art. 11)."""
    match step:
        case ConsentStep.accept:
            return case.channel == Channel.people
        case ConsentStep.referral:
            return ReferralKind(fields["referral_kind"]) in CONSENTED_HAND_OFFS
        case ConsentStep.delegation:
            return True


def _check_consent(
    trigger: Trigger, step: ConsentStep, case: CaseSnapshot, fields: Mapping[str, Any]
) -> None:
    given = fields.get("consents") or []
    strangers = unknown_parties(given, case.parties)
    if strangers:
        raise FieldRejected("body.consents", f"not parties of this case: {', '.join(map(str, strangers))}")
    if step == ConsentStep.accept and case.channel == Channel.people:
        bar = acceptance_bar(case.prior_proceedings)
        if bar is not None and not _referred_by_that_authority(case, bar.authority):
            raise AcceptanceBarred(bar)
    if not consent_needed(step, case, fields):
        return
    # At acceptance, consent recorded at an earlier step (the parties agreed to the referral or the
    # court's delegation that brought the case here) still stands unless the party refused since. A
    # referral or delegation is a new step the parties agree to, each of them, there and then.
    on_record = case.consents if step == ConsentStep.accept else ()
    now_given = [{**item, "decision": ConsentDecision.given.value} for item in given]
    missing = missing_consent(case.parties, on_record, now_given)
    if missing:
        raise ConsentMissing(trigger, missing)


def _referred_by_that_authority(case: CaseSnapshot, authority: PriorAuthority) -> bool:
    kinds = _REFERRED_BY.get(authority, frozenset())
    return any(
        r.kind in kinds and r.to_unit_code == case.unit_code and r.status == ReferralStatus.offered
        for r in case.referrals
    )


def _check_refusal(case: CaseSnapshot, fields: Mapping[str, Any]) -> None:
    """A refusal recorded with the termination it causes names a party, and the reason is theirs."""
    if fields.get("termination_reason") != TerminationReason.party_refused.value:
        raise FieldRejected("body.refused_by", "a party's refusal ends mediation with reason party_refused")
    strangers = unknown_parties([fields["refused_by"]], case.parties)
    if strangers:
        raise FieldRejected("body.refused_by.party_id", f"not a party of this case: {strangers[0]}")


def _consents_after(
    rule: Rule, case: CaseSnapshot, actor: Actor, fields: Mapping[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """The consent records this step adds: the consents given, or the refusal that ends mediation."""
    at = now.isoformat()
    added: list[dict[str, Any]] = []
    if rule.effects.consent is not None and fields.get("consents"):
        added += consent_records(
            fields["consents"], case.parties, step=rule.trigger.value, actor=actor.username, recorded_at=at
        )
    if "refused_by" in fields:
        added += consent_records(
            [fields["refused_by"]],
            case.parties,
            step=rule.trigger.value,
            actor=actor.username,
            recorded_at=at,
            decision=ConsentDecision.refused,
        )
    return added


def _returns_to(effects: Effects, case: CaseSnapshot, actor: Actor, dest: Unit, org: OrgTree) -> str | None:
    match effects.returns_to:
        case ReturnsTo.keep:
            return None
        case ReturnsTo.actor_unit:
            return actor.unit_code
        case ReturnsTo.previous_unit:
            return case.unit_code
        case ReturnsTo.hub_of_destination:
            # Back where it came from; a further decline goes to that unit's hub.
            return (org.town_of(dest.code) or org.city_centre()).code


def _changes(
    rule: Rule,
    case: CaseSnapshot,
    actor: Actor,
    fields: Mapping[str, Any],
    dest: Unit,
    now: datetime,
    planning: Planning,
) -> dict[str, Any]:
    effects = rule.effects
    changes: dict[str, Any] = {
        "state": rule.dest.value,
        "unit_code": dest.code,
        "tier": dest.tier.value,
        "channel": dest.channel.value,
        "updated_at": now,
    }
    returns_to = _returns_to(effects, case, actor, dest, planning.org)
    if returns_to is not None:
        changes["returns_to_code"] = returns_to
    for copy in effects.copies:
        value = fields.get(copy.field)
        changes[copy.column] = copy.default if value is None else value
    if effects.court_linked:
        changes["court_linked"] = True
    match effects.queue:
        case Queue.enqueue:
            changes.update(queued_at=now, claimed_by=None, lease_expires_at=None)
        case Queue.lease:
            lease = timedelta(minutes=planning.court_lease_minutes)
            changes.update(claimed_by=actor.username, lease_expires_at=now + lease)
        case Queue.end_lease:
            changes["lease_expires_at"] = None
        case Queue.keep:
            pass
    match effects.agreement:
        case Agreement.record:
            agreement = dict(fields["agreement"])
            agreement.setdefault("effective_on", now.astimezone(SHANGHAI).date().isoformat())
            agreement["touches"] = [m.value for m in touches(agreement, case.dispute_type)]
            verdict = eligibility(agreement, case.dispute_type, len(case.party_names))
            changes["agreement"] = {
                **agreement,
                "confirmation_eligibility": verdict.recorded(),
                "recorded_at": now.isoformat(),
            }
        case Agreement.confirm:
            changes["agreement"] = {
                **(case.agreement or {}),
                "confirmed_at": now.isoformat(),
                "confirmed_by": actor.username,
            }
        case Agreement.not_accepted | Agreement.rejected | Agreement.withdrawn:
            agreement = dict(case.agreement or {})
            result = {
                "result": effects.agreement.value,
                "reason": fields.get("reason"),
                "at": now.isoformat(),
                "by": actor.username,
            }
            changes["agreement"] = {
                **agreement,
                "confirmation_results": [*agreement.get("confirmation_results", []), result],
            }
        case Agreement.keep:
            pass
    added = _consents_after(rule, case, actor, fields, now)
    if added:
        changes["consents"] = [*case.consents, *added]
    if rule.dest == CaseState.closed:
        closing = effects.outcome or Outcome(fields["outcome"])
        if closing == Outcome.performed and (case.agreement or {}).get("confirmed_at"):
            closing = Outcome.confirmed  # ended through a judicially confirmed agreement
        changes["outcome"] = closing.value
        changes["closed_at"] = now
    return changes


def _opened(
    effects: Effects,
    case: CaseSnapshot,
    fields: Mapping[str, Any],
    changes: Mapping[str, Any],
    dest: Unit,
    org: OrgTree,
) -> ReferralOpened | None:
    reason = fields.get("reason")
    match effects.offer:
        case Offer.hand_off:
            kind = ReferralKind(fields["referral_kind"])
            payload = dict(fields.get("referral_payload") or {})
            return ReferralOpened(kind, case.unit_code, dest.code, payload, reason)
        case Offer.court_delegation:
            details = {
                "court_case_number": fields["court_case_number"],
                "procedure": fields["procedure"],
                "materials": fields.get("materials", []),
            }
            assigned = fields["procedure"] == "assignment"
            kind = ReferralKind.court_assignment if assigned else ReferralKind.court_delegation
            return ReferralOpened(kind, case.unit_code, dest.code, details, reason)
        case Offer.judicial_confirmation:
            # The parties and the mediation unit apply; the case stays with the unit meanwhile.
            desk = org.court_desk()
            if desk is None:
                return None
            agreement = changes.get("agreement", case.agreement)
            payload = {
                "agreement": None if agreement is None else dict(agreement),
                "applicants": [dict(a) for a in fields["applicants"]],
                "court": fields.get("court") or desk.parent_code or desk.code,  # the desk's own court
                "applied_on": str(fields["applied_on"]),
                "materials": list(fields["materials"]),
            }
            return ReferralOpened(
                ReferralKind.judicial_confirmation, case.unit_code, desk.code, payload, reason
            )
        case None:
            return None


def _answered(
    effects: Effects, case: CaseSnapshot, actor: Actor, fields: Mapping[str, Any], dest: Unit
) -> ReferralAnswered | None:
    offered = [r for r in case.referrals if r.status == ReferralStatus.offered]
    match effects.answer:
        case Answer.accept_arrival:
            ids = tuple(r.id for r in offered if r.to_unit_code == dest.code)
            return ReferralAnswered(ids, ReferralStatus.accepted)
        case Answer.accept_confirmation:
            ids = tuple(r.id for r in offered if r.kind == ReferralKind.judicial_confirmation)
            return ReferralAnswered(ids, ReferralStatus.accepted)
        case Answer.refuse_confirmation:
            ids = tuple(r.id for r in offered if r.kind == ReferralKind.judicial_confirmation)
            return ReferralAnswered(ids, ReferralStatus.declined, fields.get("reason"))
        case Answer.withdraw_confirmation:
            # Before a ruling, accepted or not.
            ids = tuple(r.id for r in case.referrals if r.kind == ReferralKind.judicial_confirmation)
            return ReferralAnswered(ids, ReferralStatus.withdrawn, fields.get("reason"))
        case Answer.decline_arrival:
            # The sweep returns a referral nobody accepted in time; a person declines it.
            by_sweep = actor.username == SYSTEM_ACTOR_NAME
            status = ReferralStatus.returned if by_sweep else ReferralStatus.declined
            ids = tuple(r.id for r in offered if r.to_unit_code == case.unit_code)
            return ReferralAnswered(ids, status, fields.get("reason"))
        case None:
            return None


def _working_on(case: CaseSnapshot, rule: Rule) -> tuple[OpenReferral, ...]:
    """The referrals a result completes: those accepted, and a confirmation application the
    court may rule on without a separate acceptance. A case that ends (``closed``) before an offer
    was accepted — withdrawn at the unit it was handed to — completes that offer too, so its sender
    is told how it ended instead of waiting for a result forever; unless the rule answers the offer
    itself (不予受理 declines it)."""
    ends_offers = rule.dest == CaseState.closed and rule.effects.answer is None
    return tuple(
        r
        for r in case.referrals
        if r.status == ReferralStatus.accepted
        or (
            r.status == ReferralStatus.offered
            and (ends_offers or r.kind == ReferralKind.judicial_confirmation)
        )
    )


def referral_result(to_state: CaseState, trigger: Trigger, after: Mapping[str, Any]) -> dict[str, Any]:
    """What a completed referral's sender is told (``after``: the case's new column values)."""
    result: dict[str, Any] = {"event": trigger.value, "state": to_state.value}
    if to_state in (CaseState.settled, CaseState.referred) and after.get("agreement") is not None:
        result["agreement"] = after.get("agreement")
    if after.get("termination_reason") and to_state == CaseState.terminated:
        result["termination_reason"] = after["termination_reason"]
    if after.get("outcome"):
        result["outcome"] = after["outcome"]
    return result


def _person_unit(actor: Actor) -> str | None:
    """The acting person's unit; the sweep (``system``) acts for no unit."""
    return None if actor.username == SYSTEM_ACTOR_NAME else actor.unit_code


def _result_note(state: CaseState, after: Mapping[str, Any], of: str = "案件") -> str:
    """The line a sender reads in its inbox, in words, never codes: 案件结果：已结案（协议履行完毕）,
    警调对接结果：达成协议."""
    outcome = after.get("outcome")
    note = f"{of}结果：{STATE_LABELS[state]}"
    return f"{note}（{OUTCOME_LABELS[Outcome(outcome)]}）" if outcome else note


def _plan(
    rule: Rule,
    case: CaseSnapshot,
    actor: Actor,
    fields: Mapping[str, Any],
    dest: Unit,
    now: datetime,
    planning: Planning,
) -> TransitionPlan:
    effects = rule.effects
    changes = _changes(rule, case, actor, fields, dest, now, planning)
    reason = fields.get("reason")
    event = {
        "at": now,
        "kind": "transition",
        "trigger": rule.trigger.value,
        "actor": actor.username,
        "actor_role": actor.role.value,
        "actor_unit_code": actor.unit_code,
        "from_state": case.state.value,
        "to_state": rule.dest.value,
        "from_unit_code": case.unit_code,
        "to_unit_code": dest.code,
        "reason": reason,
        "payload": {k: v for k, v in fields.items() if k != "reason"},
    }
    after = {"agreement": case.agreement, "court_procedure": case.court_procedure, **changes}
    clocks = plan(
        planning.policies,
        event=rule.trigger.value,
        from_state=case.state,
        to_state=rule.dest,
        case=CaseClockFacts(
            dispute_type=case.dispute_type,
            channel=dest.channel,
            court_procedure=after.get("court_procedure"),
        ),
        open_deadlines=case.clocks,
        now=now,
        calendar=planning.calendar,
    )
    opened = _opened(effects, case, fields, changes, dest, planning.org)
    answered = _answered(effects, case, actor, fields, dest)
    completed = None
    announcements: list[Announcement] = []
    if opened is not None:
        # Both units see the referral: the receiver as an arrival, the sender as sent.
        announcements.append(
            Announcement(
                opened.from_unit_code,
                case.id,
                "referral_sent",
                reason,
                {
                    "number": case.number,
                    "referral_kind": opened.kind.value,
                    "label": REFERRAL_LABELS[opened.kind],
                    "to_unit_code": opened.to_unit_code,
                    "expects_back": RETURNS[opened.kind],
                },
            )
        )
    elif effects.completes_referrals and _working_on(case, rule):
        working = _working_on(case, rule)
        result = referral_result(rule.dest, rule.trigger, after)
        completed = ReferralCompleted(tuple(r.id for r in working), result)
        # The return message each sender is owed: agreement copy, failure report, ruling.
        announcements += [
            Announcement(
                r.from_unit_code,
                case.id,
                "referral_result",
                _result_note(rule.dest, after, REFERRAL_LABELS[r.kind]),
                {"number": case.number, "referral_id": r.id, "referral_kind": r.kind.value, "result": result},
            )
            for r in working
        ]
    if effects.completes_referrals:
        # A result (settled, terminated, closed): the units that sent the case on are told.
        told = frozenset(a.unit_code for a in announcements if a.kind == "referral_result")
        # Where the case is and how it ended; the agreement's terms stay with those handling it.
        result = {
            k: v for k, v in referral_result(rule.dest, rule.trigger, after).items() if k != "agreement"
        }
        announcements += [
            Announcement(
                unit,
                case.id,
                "sent_case_result",
                _result_note(rule.dest, after),
                {"number": case.number, "unit_code": dest.code, "result": result},
            )
            for unit in senders_to_tell(
                case.senders, actor_unit=_person_unit(actor), holder=dest.code, told=told
            )
        ]
    desk = planning.org.court_desk()
    if effects.announce_court is not None and desk is not None:
        announcements.append(
            arrival(
                case.id,
                case.number,
                case.dispute_type,
                desk.code,
                effects.announce_court,
                rule.dest,
                case.unit_code,
                reason,
                actor,
            )
        )
    if effects.announce is not None:
        announcements.append(
            arrival(
                case.id,
                case.number,
                case.dispute_type,
                dest.code,
                effects.announce,
                rule.dest,
                case.unit_code,
                reason,
                actor,
            )
        )
    return TransitionPlan(
        case_id=case.id,
        expected_version=case.version,
        prev_hash=case.last_event_hash,
        rule=rule,
        from_state=case.state,
        to_state=rule.dest,
        from_unit=case.unit_code,
        to_unit=dest.code,
        changes=changes,
        event=event,
        clocks=ClockChanges(case.id, dest.code, clocks, case.breached_clocks),
        opened=opened,
        answered=answered,
        completed=completed,
        announcements=tuple(replace(a, caused_by=caused_by(actor)) for a in announcements),
        now=now,
        recorded_after={**case.recorded, **changes, "version": case.version + 1},
        mediators=mediator_changes(rule, case.state, case.unit_code, dest.code, actor),
    )


def arrival(
    case_id: int,
    number: str,
    dispute_type: DisputeType,
    unit_code: str,
    kind: str,
    to_state: CaseState,
    from_unit: str | None,
    reason: str | None,
    actor: Actor,
) -> Announcement:
    """The inbox item of the unit a case arrives at (a new case, or a rule that announces)."""
    return Announcement(
        unit_code,
        case_id,
        kind,
        reason,
        {
            "number": number,
            "from_unit_code": from_unit,
            "state": to_state.value,
            "actor": actor.username,
            "dispute_type": dispute_type.value,
        },
        caused_by=caused_by(actor),
    )


@dataclass(frozen=True)
class OpeningPlan:
    """What a new case starts besides its row: its clocks and the announcement to its unit."""

    clocks: Plan
    announcement: Announcement


def plan_opening(
    case_id: int,
    number: str,
    dispute_type: DisputeType,
    unit: Unit,
    state: CaseState,
    reason: str | None,
    actor: Actor,
    *,
    now: datetime,
    planning: Planning,
) -> OpeningPlan:
    clocks = plan(
        planning.policies,
        event="open",
        from_state=None,
        to_state=state,
        case=CaseClockFacts(dispute_type=dispute_type, channel=unit.channel, court_procedure=None),
        open_deadlines=[],
        now=now,
        calendar=planning.calendar,
    )
    note = arrival(case_id, number, dispute_type, unit.code, "new_case", state, None, reason, actor)
    return OpeningPlan(clocks, note)


# The inbox kinds announced to the unit a case arrives at: a new case's, and each rule's.
ARRIVAL_KINDS: frozenset[str] = frozenset(
    {
        "new_case",
        *(r.effects.announce for r in TRANSITIONS if r.effects.announce is not None),
        *(r.effects.announce_court for r in TRANSITIONS if r.effects.announce_court is not None),
    }
)
