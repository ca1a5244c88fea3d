"""Deadline policies: which clocks a case event starts, ends, pauses and resumes, and when they fall due.

Each clock of the time-limit table (docs/domain.md, Time limits) is a ``Policy`` kept as data
(``config/deadlines.yaml``), with its legal source, so a policy owner changes a limit without
touching code. Deadlines are rows that the service writes in the transition's own transaction and
a sweep reads (docs/architecture.md, "Deadlines are rows" and "The sweep"); this module only does the arithmetic and the bookkeeping decisions:

* ``schedule`` — when a new clock falls due and when its warnings go out;
* ``resumed`` — pause is arithmetic on resume (decision 5): everything moves later by the pause;
* ``extended`` — a new due time, if the policy, the role and the parties' consent allow it;
* ``plan`` — given one case event, which open clocks are met, cancelled, paused or resumed, and
  which new ones start.

Pure: ``parse_policies`` takes already-loaded data (``service.config.deadlines`` reads the YAML and
turns ``PolicyError`` into the service's ``ConfigError``), and time is always a parameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal

from workflows.calendar import OFFICE_OPENS, SHANGHAI, BusinessCalendar, shanghai
from workflows.calendar import PeriodUnit as CalendarUnit
from workflows.lifecycle import HANDOVER_TRIGGERS, TRANSITIONS, CaseState, Role, Trigger
from workflows.org import Channel
from workflows.parsing import (
    Problems,
    ProblemsError,
    check_unique,
    enum_set,
    enum_value,
    flag,
    text,
    unknown_keys,
)
from workflows.vocab import CourtProcedure, DisputeType


class PeriodUnit(StrEnum):
    working_days = "working_days"  # 工作日: only where the rule says so
    days = "days"  # 日: calendar days, 民事诉讼法 art. 85
    months = "months"  # 月: the corresponding day, clamped to the month's end


class BreachAction(StrEnum):
    notify = "notify"  # tell the supervising unit
    escalate = "escalate"  # escalate the case to the parent tier
    return_referral = "return_referral"  # send a referred / delegated case back to its sender
    flag_overdue = "flag_overdue"  # mark overdue (e.g. for the court desk)
    # Tell the holding unit and its supervisor the lawful options (an extension with both parties'
    # consent, or ending mediation with a 终止调解 notice) without moving the case; it shows
    # overdue until someone takes one of them.
    prompt = "prompt"


class Basis(StrEnum):
    """Where a rule comes from: the law, or a choice the local administration made (and may change)."""

    law = "law"  # a statute or a Supreme People's Court rule: ``source`` names it
    local_policy = "local_policy"  # decided locally: ``decided_by`` names who; ``source`` what it rests on


class DeadlineStatus(StrEnum):
    active = "active"
    paused = "paused"
    met = "met"
    breached = "breached"
    cancelled = "cancelled"


# Events a policy may name besides the lifecycle triggers.
OPEN = "open"  # a case created by triage directly in `assigned` (or `registered`)
ACCEPT_CONFIRMATION = "accept_confirmation"  # the court accepts a confirmation application
EVENTS: frozenset[str] = frozenset({OPEN, ACCEPT_CONFIRMATION, *(t.value for t in Trigger)})

# Events that put the case in front of another unit (the lifecycle's rules that change the unit).
# A clock that ran in the state they lead to belonged to the previous unit, so the event ends it
# even when the state does not change (escalate from `assigned` lands in `assigned` at the parent).
HANDOVER_EVENTS: frozenset[str] = frozenset(t.value for t in HANDOVER_TRIGGERS)

# The court procedure a case may carry; `assignment` is the legacy pre-filing 委派, which is a
# kind of referral rather than a trial procedure, so it is not a ``CourtProcedure``.
COURT_PROCEDURES: frozenset[str] = frozenset({*(p.value for p in CourtProcedure), "assignment"})

Consent = Literal["both_parties"]
Warning = tuple[str, datetime]  # (level, when)

_CALENDAR_UNITS: dict[PeriodUnit, CalendarUnit] = {
    PeriodUnit.working_days: "working_days",
    PeriodUnit.days: "days",
    PeriodUnit.months: "months",
}


def _event_states() -> tuple[dict[str, frozenset[CaseState]], dict[str, frozenset[CaseState]]]:
    """For each event: the states it can leave from and the states it can lead to."""
    sources: dict[str, set[CaseState]] = {}
    destinations: dict[str, set[CaseState]] = {}
    for rule in TRANSITIONS:
        sources.setdefault(rule.trigger.value, set()).update(rule.source)
        destinations.setdefault(rule.trigger.value, set()).add(rule.dest)
    destinations[OPEN] = {CaseState.registered, CaseState.assigned}  # triage decides
    # accept_confirmation arrives in a later issue; until the table has it, it stays in `confirming`.
    sources.setdefault(ACCEPT_CONFIRMATION, {CaseState.confirming})
    destinations.setdefault(ACCEPT_CONFIRMATION, {CaseState.confirming})
    return (
        {event: frozenset(states) for event, states in sources.items()},
        {event: frozenset(states) for event, states in destinations.items()},
    )


EVENT_SOURCES, EVENT_DESTINATIONS = _event_states()


class PolicyError(ProblemsError):
    """Invalid deadline policies: every problem found, each as (key path, message); see ``ProblemsError``."""


class ExtensionNotAllowed(ValueError):
    """A request to extend a deadline that the policy, the role or the consent on record does not allow."""


# ----------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class WarnPoint:
    """One warning before the deadline: at a fraction of the window, or on its last working day."""

    level: str  # e.g. "75pct", "last_day"; unique per policy (one warning per deadline and level)
    fraction: float | None = None
    last_working_day: bool = False

    def __post_init__(self) -> None:
        if (self.fraction is None) == (not self.last_working_day):
            raise ValueError(f"warning {self.level!r}: give exactly one of fraction or last_working_day")
        if self.fraction is not None and not 0 < self.fraction < 1:
            raise ValueError(f"warning {self.level!r}: fraction must be between 0 and 1, got {self.fraction}")


@dataclass(frozen=True)
class Authority:
    """Why a rule holds: ``law`` with its ``source``, or ``local_policy`` with who ``decided_by``
    it (and, optionally, the law it rests on as ``source``)."""

    basis: Basis
    source: str | None = None
    decided_by: str | None = None

    def __post_init__(self) -> None:
        # parse_policies reports these with key paths; this guards hand-built policies.
        if self.basis == Basis.law and not self.source:
            raise ValueError("a rule of law names its source")
        if self.basis == Basis.local_policy and not self.decided_by:
            raise ValueError("a local policy names who decided it")

    @property
    def citation(self) -> str:
        """One line for people: the source of a law; who decided a local policy, and on what."""
        if self.basis == Basis.law:
            assert self.source is not None  # __post_init__
            return self.source
        assert self.decided_by is not None  # __post_init__
        return f"{self.decided_by}; {self.source}" if self.source else self.decided_by


@dataclass(frozen=True)
class Extension:
    roles: frozenset[Role]  # who may extend
    consent: Consent | None  # what must be on record first
    max_length: int  # the most the period may be extended by, in total ...
    max_unit: PeriodUnit  # ... counted in this unit
    authority: Authority | None = None  # None: as the period's own


@dataclass(frozen=True)
class CaseClockFacts:
    """What the policies may know about a case when deciding which clocks apply."""

    dispute_type: DisputeType
    channel: Channel
    court_procedure: str | None  # "ordinary" | "simplified" | "assignment"; None: not from the court

    @property
    def court_delegated(self) -> bool:
        return self.court_procedure is not None


@dataclass(frozen=True)
class Applies:
    """Which cases a policy covers: every filter that is set must hold; an unset one always holds."""

    dispute_types: frozenset[DisputeType] | None = None
    not_dispute_types: frozenset[DisputeType] | None = None
    channels: frozenset[Channel] | None = None
    court_procedures: frozenset[str] | None = None
    court_delegated: bool | None = None

    def matches(self, case: CaseClockFacts) -> bool:
        return (
            (self.dispute_types is None or case.dispute_type in self.dispute_types)
            and (self.not_dispute_types is None or case.dispute_type not in self.not_dispute_types)
            and (self.channels is None or case.channel in self.channels)
            and (self.court_procedures is None or case.court_procedure in self.court_procedures)
            and (self.court_delegated is None or case.court_delegated == self.court_delegated)
        )


@dataclass(frozen=True)
class Policy:
    kind: str  # stable id, stored on every deadline row
    name: str  # Chinese label shown to users
    length: int
    unit: PeriodUnit
    starts_on: frozenset[str]  # events (see EVENTS)
    applies: Applies
    runs_while: frozenset[CaseState]  # leaving these states ends the clock
    met_on: frozenset[str]  # events that end it as met; any other way out cancels it
    pauses_while: frozenset[CaseState]  # a subset of runs_while
    warn: tuple[WarnPoint, ...]
    extension: Extension | None
    breach: BreachAction
    urgent: bool  # warnings may go out of working hours
    authority: Authority  # law or local policy, and its source: shown next to the deadline
    breach_authority: Authority  # the breach action's own (often local policy on a period of law)

    @property
    def source(self) -> str:
        """The period's basis as one line for people (the statute, or who decided it)."""
        return self.authority.citation

    @property
    def extension_authority(self) -> Authority | None:
        if self.extension is None:
            return None
        return self.extension.authority or self.authority

    def __post_init__(self) -> None:
        # parse_policies reports these with key paths; this guards hand-built policies.
        if self.length < 1:
            raise ValueError(f"policy {self.kind!r}: length must be at least 1, got {self.length}")
        if not self.pauses_while <= self.runs_while:
            raise ValueError(f"policy {self.kind!r}: pauses_while must be a subset of runs_while")


@dataclass(frozen=True)
class PolicySet:
    policies: tuple[Policy, ...]

    def __post_init__(self) -> None:
        kinds = [p.kind for p in self.policies]
        duplicates = sorted({k for k in kinds if kinds.count(k) > 1})
        if duplicates:
            raise ValueError(f"duplicate policy kinds: {duplicates}")

    def by_kind(self, kind: str) -> Policy:
        policy = self.get(kind)
        if policy is None:
            raise KeyError(f"no deadline policy {kind!r}")
        return policy

    def get(self, kind: str) -> Policy | None:
        return next((p for p in self.policies if p.kind == kind), None)


# ----------------------------------------------------------------------------- scheduling


@dataclass(frozen=True)
class Schedule:
    due_at: datetime
    warnings: tuple[Warning, ...]  # (level, at), sorted by time, all strictly before due_at


def schedule(policy: Policy, started_at: datetime, calendar: BusinessCalendar) -> Schedule:
    """When a clock started at ``started_at`` falls due, and when its warnings go out."""
    start = shanghai(started_at)
    due = calendar.add(start, policy.length, _CALENDAR_UNITS[policy.unit])
    candidates = [(w.level, _warning_time(w, start, due, calendar)) for w in policy.warn]
    return Schedule(due_at=due, warnings=_arrange(candidates, due, None if policy.urgent else calendar))


def warnings_for(
    policy: Policy, started_at: datetime, due_at: datetime, calendar: BusinessCalendar, *, after: datetime
) -> tuple[Warning, ...]:
    """The warnings of a window whose due time was changed (an extension), still to come after ``after``."""
    start = shanghai(started_at)
    due = shanghai(due_at)
    candidates = [(w.level, _warning_time(w, start, due, calendar)) for w in policy.warn]
    arranged = _arrange(candidates, due, None if policy.urgent else calendar)
    return tuple((level, at) for level, at in arranged if at > after)


def _warning_time(point: WarnPoint, start: datetime, due: datetime, calendar: BusinessCalendar) -> datetime:
    if point.fraction is not None:
        return start + (due - start) * point.fraction
    last_day = calendar.last_working_day_before(due)
    return datetime.combine(last_day, OFFICE_OPENS, tzinfo=SHANGHAI)


def _arrange(
    candidates: Iterable[Warning], due: datetime, office: BusinessCalendar | None
) -> tuple[Warning, ...]:
    """Into working hours (unless ``office`` is None: urgent), before ``due``, sorted, one per time.

    A warning moved past the deadline is dropped: the breach itself tells people then. Two
    warnings landing on the same instant (a short window pushed over a weekend) are one message;
    the first level in policy order names it. ``sorted`` is stable, so ties keep policy order.
    """
    placed = [(level, shanghai(office.next_working_time(at) if office else at)) for level, at in candidates]
    kept: list[Warning] = []
    for level, at in sorted((w for w in placed if w[1] < due), key=lambda w: w[1]):
        if not kept or kept[-1][1] != at:
            kept.append((level, at))
    return tuple(kept)


def resumed(
    schedule_due: datetime,
    warnings: Sequence[Warning],
    paused_at: datetime,
    resumed_at: datetime,
    *,
    calendar: BusinessCalendar | None = None,
) -> Schedule:
    """The schedule after a pause: the due time and every pending warning move later by the pause.

    Given ``calendar``, a moved warning is put back into working hours (pass it unless the
    policy is urgent); without it the result is the bare arithmetic.
    """
    if resumed_at < paused_at:
        raise ValueError(
            f"resumed at {resumed_at.isoformat()} before it was paused at {paused_at.isoformat()}"
        )
    pause = resumed_at - paused_at
    due = shanghai(schedule_due + pause)
    return Schedule(due_at=due, warnings=_arrange(((lvl, at + pause) for lvl, at in warnings), due, calendar))


def extended(
    policy: Policy,
    started_at: datetime,
    due_at: datetime,
    already_extended: tuple[int, PeriodUnit] | None,
    by_length: int,
    by_unit: PeriodUnit,
    role: Role,
    consent: bool,
    calendar: BusinessCalendar,
) -> datetime:
    """The new due time after extending by ``by_length`` ``by_unit``s, or ``ExtensionNotAllowed``.

    The extension counts from the current last day, as if that day were the start of a new
    period: "+30 days" on a period ending 31 January runs to 2 March, then rolls to a working
    day like any period (民事诉讼法 art. 85). A due time that a pause moved off midnight keeps
    the hours it gained. Extensions are counted in the policy's ``max_unit``, because months
    and days cannot be added up honestly ("1 month" is 28 to 31 days).
    """
    if due_at <= started_at:
        raise ValueError(f"due_at {due_at.isoformat()} is not after started_at {started_at.isoformat()}")
    rules = _extension_rules(policy)
    _check_extension_request(policy, rules, by_length, by_unit, role, consent)
    so_far = _extended_so_far(policy, rules, already_extended)
    if so_far + by_length > rules.max_length:
        raise ExtensionNotAllowed(
            f"{policy.name} ({policy.kind}) may be extended by at most {rules.max_length} "
            f"{rules.max_unit.value} in total; already extended by {so_far}, asked for {by_length} more"
        )
    return extended_due(due_at, by_length, by_unit, calendar)


def extended_due(
    due_at: datetime, by_length: int, by_unit: PeriodUnit, calendar: BusinessCalendar
) -> datetime:
    """The arithmetic of ``extended`` alone, for an extension already allowed and on record."""
    local_due = shanghai(due_at)
    midnight = datetime.combine(local_due.date(), time(0), tzinfo=SHANGHAI)
    carried = local_due - midnight  # zero unless a pause moved the deadline off midnight
    last_day: date = (midnight - timedelta(microseconds=1)).date()
    # Noon of the last day: unambiguously "that day" to the calendar, whatever it rounds.
    anchor = datetime.combine(last_day, time(12), tzinfo=SHANGHAI)
    return calendar.add(anchor, by_length, _CALENDAR_UNITS[by_unit]) + carried


def _extension_rules(policy: Policy) -> Extension:
    if policy.extension is None:
        raise ExtensionNotAllowed(f"{policy.name} ({policy.kind}) cannot be extended ({policy.source})")
    return policy.extension


def _check_extension_request(
    policy: Policy, rules: Extension, by_length: int, by_unit: PeriodUnit, role: Role, consent: bool
) -> None:
    if by_length < 1:
        raise ExtensionNotAllowed(f"an extension must be at least 1 {by_unit.value}, got {by_length}")
    if role not in rules.roles:
        allowed = ", ".join(sorted(r.value for r in rules.roles))
        raise ExtensionNotAllowed(
            f"{policy.name} ({policy.kind}) may be extended only by {allowed}, not by {role.value}"
        )
    if rules.consent == "both_parties" and not consent:
        raise ExtensionNotAllowed(
            f"{policy.name} ({policy.kind}) may be extended only with both parties' consent on record"
        )
    if by_unit != rules.max_unit:
        raise ExtensionNotAllowed(
            f"{policy.name} ({policy.kind}) is extended in {rules.max_unit.value}, not {by_unit.value}"
        )


def _extended_so_far(policy: Policy, rules: Extension, already: tuple[int, PeriodUnit] | None) -> int:
    if already is None:
        return 0
    length, unit = already
    if unit != rules.max_unit:
        raise ExtensionNotAllowed(
            f"{policy.name} ({policy.kind}) has extensions recorded in {unit.value}, "
            f"but is extended in {rules.max_unit.value}"
        )
    return length


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class OpenDeadline:
    """A clock that has not ended yet, as the planner needs to see it."""

    id: int
    kind: str
    status: DeadlineStatus  # active | paused
    started_at: datetime
    due_at: datetime
    paused_at: datetime | None
    warnings: tuple[Warning, ...]  # not yet sent

    def __post_init__(self) -> None:
        if self.status not in (DeadlineStatus.active, DeadlineStatus.paused):
            raise ValueError(f"deadline {self.id}: an open deadline is active or paused, not {self.status}")
        if self.status == DeadlineStatus.paused and self.paused_at is None:
            raise ValueError(f"deadline {self.id} is paused but has no paused_at")


@dataclass
class Plan:
    """What one case event does to the case's clocks; the service writes it in the same transaction."""

    start: list[tuple[Policy, Schedule]] = field(default_factory=list)
    met: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    paused: list[int] = field(default_factory=list)
    resumed: list[tuple[int, Schedule]] = field(default_factory=list)


def plan(
    policies: PolicySet,
    *,
    event: str,
    from_state: CaseState | None,
    to_state: CaseState,
    case: CaseClockFacts,
    open_deadlines: Sequence[OpenDeadline],
    now: datetime,
    calendar: BusinessCalendar,
) -> Plan:
    """Decide the fate of every open clock of the case and which clocks start, for one event.

    ``from_state`` is None only for ``open`` (a new case has no previous state).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    if (event == OPEN) != (from_state is None):
        raise ValueError(f"from_state must be None exactly for the {OPEN!r} event, got {from_state!r}")
    starting = [
        p
        for p in policies.policies
        if event in p.starts_on and to_state in p.runs_while and p.applies.matches(case)
    ]
    restarting = {p.kind for p in starting}
    result = Plan()
    for deadline in open_deadlines:
        policy = policies.get(deadline.kind)
        if policy is None:
            # Its policy was removed from the configuration: nothing here can judge it, so
            # leave it as it is rather than refuse the case's transition.
            continue
        _follow(result, deadline, policy, event, to_state, deadline.kind in restarting, now, calendar)
    result.start = [(p, schedule(p, now, calendar)) for p in starting]
    return result


def _follow(
    result: Plan,
    deadline: OpenDeadline,
    policy: Policy,
    event: str,
    to_state: CaseState,
    restarting: bool,
    now: datetime,
    calendar: BusinessCalendar,
) -> None:
    """Record what ``event`` does to one open clock (nothing, if it keeps running as it is)."""
    if event in policy.met_on:
        result.met.append(deadline.id)
    elif to_state not in policy.runs_while or event in HANDOVER_EVENTS or restarting:
        # Left its states, moved to another unit, or about to be replaced by a fresh clock of
        # the same kind: a case never has two clocks of one kind.
        result.cancelled.append(deadline.id)
    elif to_state in policy.pauses_while:
        if deadline.status == DeadlineStatus.active:
            result.paused.append(deadline.id)
    elif deadline.status == DeadlineStatus.paused:
        assert deadline.paused_at is not None  # OpenDeadline guarantees it
        office = None if policy.urgent else calendar
        moved = resumed(deadline.due_at, deadline.warnings, deadline.paused_at, now, calendar=office)
        result.resumed.append((deadline.id, moved))


# ----------------------------------------------------------------------------- recomputing


def provisional_years(
    calendar: BusinessCalendar, started_at: datetime, due_at: datetime, warnings: Sequence[Warning] = ()
) -> tuple[int, ...]:
    """The years a clock counts through (start to last day) or warns in whose official calendar
    is missing: its dates assume Monday–Friday there and may move once the State Council publishes
    the year's holidays (``jiefen deadlines recompute``). Empty: the dates are final."""
    first = shanghai(started_at).year
    last = (shanghai(due_at) - timedelta(microseconds=1)).year
    years = set(range(first, last + 1)) | {shanghai(at).year for _, at in warnings}
    return tuple(sorted(year for year in years if not calendar.knows(year)))


@dataclass(frozen=True)
class Paused:
    at: datetime


@dataclass(frozen=True)
class Resumed:
    at: datetime


@dataclass(frozen=True)
class Extended:
    at: datetime
    by_length: int
    by_unit: PeriodUnit


ClockStep = Paused | Resumed | Extended


def clock_steps(
    policy: Policy,
    started_at: datetime,
    moves: Iterable[tuple[datetime, CaseState]],
    extensions: Iterable[tuple[datetime, int, PeriodUnit]],
) -> list[ClockStep]:
    """What happened to a running clock since ``started_at``, from its case's history: ``moves``
    are the case's events in order as (when, state afterwards), ``extensions`` those recorded on
    the clock. A move into a state of ``pauses_while`` pauses it, a move out resumes it."""
    steps: list[ClockStep] = []
    paused = False
    for at, state in moves:
        if at < started_at:
            continue
        if not paused and state in policy.pauses_while:
            steps.append(Paused(at))
            paused = True
        elif paused and state not in policy.pauses_while:
            steps.append(Resumed(at))
            paused = False
    steps += [Extended(at, length, unit) for at, length, unit in extensions]
    return sorted(steps, key=lambda step: step.at)  # stable: a move before an extension at one instant


@dataclass(frozen=True)
class Replay:
    due_at: datetime
    warnings: tuple[Warning, ...]  # every warning of the window as it stands, sent or not
    paused_at: datetime | None  # still paused since then


def replay(
    policy: Policy, started_at: datetime, steps: Sequence[ClockStep], calendar: BusinessCalendar
) -> Replay:
    """A clock computed again from its start and its history, with today's policy and calendar:
    what ``schedule``, ``resumed`` and ``extended`` did when each step happened, in the same order
    (an extension counts from the last day it had then, pauses included). Extended windows' levels
    carry the same ``+extN`` suffix the extension gave them."""
    current = schedule(policy, started_at, calendar)
    due, warnings = current.due_at, current.warnings
    office = None if policy.urgent else calendar
    paused_at: datetime | None = None
    extensions = 0
    for step in steps:
        if isinstance(step, Paused):
            paused_at = paused_at or step.at
        elif isinstance(step, Resumed):
            if paused_at is not None:
                moved = resumed(due, warnings, paused_at, step.at, calendar=office)
                due, warnings, paused_at = moved.due_at, moved.warnings, None
        else:
            extensions += 1
            due = extended_due(due, step.by_length, step.by_unit, calendar)
            warnings = tuple(
                (f"{level}+ext{extensions}", at)
                for level, at in warnings_for(policy, started_at, due, calendar, after=step.at)
            )
    return Replay(due_at=shanghai(due), warnings=warnings, paused_at=paused_at)


# ----------------------------------------------------------------------------- parsing

_KIND = re.compile(r"^[a-z][a-z0-9_]*$")
_LEVEL = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_KIND_MAX = 40  # deadline.kind column
_LEVEL_MAX = 32  # deadline_action.level column
_TOP_KEYS = ("policies",)
# The file says what a Policy holds, its two authorities spelt out as basis, source, decided_by.
_AUTHORITY_KEYS = ("basis", "source", "decided_by")
_POLICY_KEYS = (
    *(f.name for f in fields(Policy) if f.name not in ("authority", "breach_authority")),
    *_AUTHORITY_KEYS,
    *(f"breach_{k}" for k in _AUTHORITY_KEYS),
)
_WARN_KEYS = ("level", "fraction", "last_working_day")
_EXTENSION_KEYS = ("roles", "consent", "max_length", "max_unit", *_AUTHORITY_KEYS)
_APPLIES_KEYS = ("dispute_types", "not_dispute_types", "channels", "court_procedures", "court_delegated")
_CONSENTS = ("both_parties",)


def parse_policies(data: object, file: str) -> PolicySet:
    """Validate loaded YAML/JSON data into a PolicySet, or raise PolicyError listing every problem.

    ``file`` names the source in the error; key paths look like ``policies[2].warn[0].fraction``.
    """
    problems = Problems()
    if not isinstance(data, Mapping):
        problems.add("", "expected a mapping with 'policies'")
        raise PolicyError(problems.items, file)
    unknown_keys(data, _TOP_KEYS, "", problems)
    raw = data.get("policies")
    if not isinstance(raw, list) or not raw:
        problems.add("policies", "expected a non-empty list of policies")
        raise PolicyError(problems.items, file)
    parsed = [_parse_policy(item, f"policies[{i}]", problems) for i, item in enumerate(raw)]
    check_unique(raw, "policies", "kind", "policy kind", problems)
    if problems.items:
        raise PolicyError(problems.items, file)
    return PolicySet(tuple(p for p in parsed if p is not None))


def _parse_policy(raw: object, key: str, problems: Problems) -> Policy | None:
    if not isinstance(raw, Mapping):
        problems.add(key, "expected a mapping with kind, name, length, unit, starts_on, runs_while, ...")
        return None
    before = problems.count()
    unknown_keys(raw, _POLICY_KEYS, key, problems)
    kind = _identifier(raw.get("kind"), f"{key}.kind", _KIND, _KIND_MAX, "policy kind", problems)
    name = text(
        raw.get("name"), f"{key}.name", "a name is required: people read it next to the deadline", problems
    )
    authority = _parse_authority(raw, key, "", problems, required=True)
    breach_authority = _parse_authority(raw, key, "breach_", problems, required=False)
    length = _positive_int(raw.get("length"), f"{key}.length", problems)
    unit = enum_value(PeriodUnit, raw.get("unit"), f"{key}.unit", "period unit", problems)
    breach = enum_value(BreachAction, raw.get("breach"), f"{key}.breach", "breach action", problems)
    runs_before = problems.count()
    runs_while = _state_set(raw, "runs_while", key, problems, required=True)
    # Judge events against runs_while only when it is fully valid, to avoid follow-on noise.
    runs_valid = runs_while if problems.count() == runs_before else None
    pauses_while = _state_set(raw, "pauses_while", key, problems, required=False)
    starts_on = _event_set(raw, "starts_on", key, problems)
    met_on = _event_set(raw, "met_on", key, problems)
    applies = _parse_applies(raw.get("applies"), f"{key}.applies", problems)
    warn = _parse_warn_list(raw.get("warn"), f"{key}.warn", problems)
    extension = _parse_extension(raw.get("extension"), f"{key}.extension", problems)
    urgent = flag(raw.get("urgent", False), f"{key}.urgent", problems)
    _check_states_and_events(raw, key, runs_valid, pauses_while, problems)
    if problems.count() > before:
        return None
    assert kind and name and authority and length and unit and breach and runs_while is not None
    return Policy(
        kind=kind,
        name=name,
        length=length,
        unit=unit,
        starts_on=starts_on,
        applies=applies,
        runs_while=runs_while,
        met_on=met_on,
        pauses_while=pauses_while or frozenset(),
        warn=warn,
        extension=extension,
        breach=breach,
        urgent=bool(urgent),
        authority=authority,
        breach_authority=breach_authority or authority,
    )


def _parse_authority(
    raw: Mapping[str, Any], key: str, prefix: str, problems: Problems, *, required: bool
) -> Authority | None:
    """``{prefix}basis`` with its ``source`` or ``decided_by``; absent and not required: None (the
    rule shares the period's basis)."""
    basis_key, source_key, decided_key = (f"{prefix}{k}" for k in _AUTHORITY_KEYS)
    if basis_key not in raw and not required:
        for other in (source_key, decided_key):
            if other in raw:
                problems.add(f"{key}.{other}", f"give {basis_key} (law or local_policy) with it")
        return None
    basis = enum_value(
        Basis, raw.get(basis_key), f"{key}.{basis_key}", "basis (law or local_policy)", problems
    )
    source = _optional_text(raw, source_key, key, problems)
    decided_by = _optional_text(raw, decided_key, key, problems)
    if basis == Basis.law:
        if source is None and source_key not in raw:
            problems.add(
                f"{key}.{source_key}",
                "a rule of law names its source (statute or SPC rule, with the article)",
            )
        if decided_key in raw:
            problems.add(
                f"{key}.{decided_key}",
                f"decided_by is for local policy; a rule of law has a source (or make {basis_key}: local_policy)",
            )
        return Authority(basis, source) if source else None
    if basis == Basis.local_policy:
        if decided_by is None and decided_key not in raw:
            problems.add(
                f"{key}.{decided_key}",
                "a local policy names who decided it, e.g. 昆山市司法局 (本地规定; 可配置)",
            )
        return Authority(basis, source, decided_by) if decided_by else None
    return None


def _optional_text(raw: Mapping[str, Any], name: str, prefix: str, problems: Problems) -> str | None:
    if name not in raw:
        return None
    return text(raw[name], f"{prefix}.{name}", f"{name} must be non-blank text when given", problems)


def _check_states_and_events(
    raw: Mapping[str, Any],
    key: str,
    runs_while: frozenset[CaseState] | None,
    pauses_while: frozenset[CaseState] | None,
    problems: Problems,
) -> None:
    """Catch clocks that could never start, never be met, or pause in a state they do not run in."""
    if runs_while is None:
        return
    if pauses_while is not None and not pauses_while <= runs_while:
        outside = ", ".join(sorted(s.value for s in pauses_while - runs_while))
        problems.add(f"{key}.pauses_while", f"{outside} not in runs_while: a clock pauses only while it runs")
    for index, event in _listed(raw.get("starts_on")):
        if event in EVENTS and not EVENT_DESTINATIONS.get(event, frozenset()) & runs_while:
            leads_to = ", ".join(sorted(s.value for s in EVENT_DESTINATIONS.get(event, frozenset())))
            problems.add(
                f"{key}.starts_on[{index}]",
                f"{event!r} leads to {leads_to or 'no state'}, none of which is in runs_while: "
                "the clock could never start",
            )
    for index, event in _listed(raw.get("met_on")):
        if event in EVENTS and not EVENT_SOURCES.get(event, frozenset()) & runs_while:
            problems.add(
                f"{key}.met_on[{index}]",
                f"{event!r} never happens in a state of runs_while: the clock could never be met by it",
            )


def _listed(raw: object) -> list[tuple[int, object]]:
    return list(enumerate(raw)) if isinstance(raw, list) else []


def _identifier(
    raw: object, key: str, pattern: re.Pattern[str], limit: int, what: str, problems: Problems
) -> str | None:
    if not isinstance(raw, str) or not pattern.match(raw) or len(raw) > limit:
        problems.add(
            key,
            f"{what} must be lower-case letters, digits and '_' (at most {limit} characters), got {raw!r}",
        )
        return None
    return raw


def _positive_int(raw: object, key: str, problems: Problems) -> int | None:
    # bool is an int subclass: "length: yes" is a typo, not 1.
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        problems.add(key, f"expected a whole number of at least 1, got {raw!r}")
        return None
    return raw


def _state_set(
    raw: Mapping[str, Any], name: str, prefix: str, problems: Problems, *, required: bool
) -> frozenset[CaseState] | None:
    if required and name not in raw:
        problems.add(f"{prefix}.{name}", "expected a non-empty list of case states")
        return None
    if not required and raw.get(name) in (None, []):
        return frozenset()  # nothing pauses this clock
    return enum_set(CaseState, raw, name, prefix, "case state", problems)


def _event_set(raw: Mapping[str, Any], name: str, prefix: str, problems: Problems) -> frozenset[str]:
    key = f"{prefix}.{name}"
    values = raw.get(name)
    if not isinstance(values, list) or not values:
        problems.add(key, "expected a non-empty list of events")
        return frozenset()
    allowed = ", ".join(sorted(EVENTS))
    events: set[str] = set()
    for index, value in enumerate(values):
        if isinstance(value, str) and value in EVENTS:
            events.add(value)
        else:
            problems.add(f"{key}[{index}]", f"unknown event {value!r}; allowed: {allowed}")
    return frozenset(events)


def _parse_applies(raw: object, key: str, problems: Problems) -> Applies:
    if raw is None:
        return Applies()  # every case
    if not isinstance(raw, Mapping):
        problems.add(key, "expected a mapping of filters (or none, for every case)")
        return Applies()
    unknown_keys(raw, _APPLIES_KEYS, key, problems)
    applies = Applies(
        dispute_types=enum_set(DisputeType, raw, "dispute_types", key, "dispute type", problems),
        not_dispute_types=enum_set(DisputeType, raw, "not_dispute_types", key, "dispute type", problems),
        channels=enum_set(Channel, raw, "channels", key, "channel", problems),
        court_procedures=_court_procedures(raw, key, problems),
        court_delegated=flag(raw["court_delegated"], f"{key}.court_delegated", problems)
        if "court_delegated" in raw
        else None,
    )
    _check_applies(applies, key, problems)
    return applies


def _court_procedures(raw: Mapping[str, Any], prefix: str, problems: Problems) -> frozenset[str] | None:
    if "court_procedures" not in raw:
        return None
    key = f"{prefix}.court_procedures"
    values = raw["court_procedures"]
    if not isinstance(values, list) or not values:
        problems.add(key, "expected a non-empty list of court procedures")
        return None
    allowed = ", ".join(sorted(COURT_PROCEDURES))
    found: set[str] = set()
    for index, value in enumerate(values):
        if isinstance(value, str) and value in COURT_PROCEDURES:
            found.add(value)
        else:
            problems.add(f"{key}[{index}]", f"unknown court procedure {value!r}; allowed: {allowed}")
    return frozenset(found)


def _check_applies(applies: Applies, key: str, problems: Problems) -> None:
    """Filters that contradict each other would make a policy that silently never applies."""
    if applies.dispute_types and applies.not_dispute_types:
        both = applies.dispute_types & applies.not_dispute_types
        if both:
            listed = ", ".join(sorted(d.value for d in both))
            problems.add(
                f"{key}.not_dispute_types", f"{listed} also in dispute_types: the filter excludes itself"
            )
    if applies.court_procedures and applies.court_delegated is False:
        problems.add(
            f"{key}.court_procedures",
            "a case with a court procedure is court-delegated, but court_delegated is false",
        )


def _parse_warn_list(raw: object, key: str, problems: Problems) -> tuple[WarnPoint, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(key, "expected a list of warnings (each with level and fraction or last_working_day)")
        return ()
    points = [_parse_warn_point(item, f"{key}[{i}]", problems) for i, item in enumerate(raw)]
    # A warning is sent once per deadline and level: two with one level would silence the second.
    seen: dict[str, int] = {}
    for index, point in enumerate(points):
        if point is None:
            continue
        if point.level in seen:
            problems.add(
                f"{key}[{index}].level",
                f"duplicate level {point.level!r} (first at {key}[{seen[point.level]}])",
            )
        else:
            seen[point.level] = index
    return tuple(p for p in points if p is not None)


def _parse_warn_point(raw: object, key: str, problems: Problems) -> WarnPoint | None:
    if not isinstance(raw, Mapping):
        problems.add(key, "expected a mapping with level and fraction or last_working_day")
        return None
    before = problems.count()
    unknown_keys(raw, _WARN_KEYS, key, problems)
    level = _identifier(raw.get("level"), f"{key}.level", _LEVEL, _LEVEL_MAX, "warning level", problems)
    fraction: float | None = None
    if ("fraction" in raw) == ("last_working_day" in raw):
        problems.add(key, "give exactly one of fraction (of the window) or last_working_day: true")
    elif "fraction" in raw:
        fraction = _fraction(raw["fraction"], f"{key}.fraction", problems)
    elif raw["last_working_day"] is not True:
        problems.add(
            f"{key}.last_working_day",
            f"expected true (to warn at 08:30 on the last working day), got {raw['last_working_day']!r}",
        )
    if problems.count() > before or level is None:
        return None
    return WarnPoint(level=level, fraction=fraction, last_working_day=fraction is None)


def _fraction(raw: object, key: str, problems: Problems) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or not 0 < raw < 1:
        problems.add(
            key, f"expected a fraction of the window strictly between 0 and 1 (e.g. 0.75), got {raw!r}"
        )
        return None
    return float(raw)


def _parse_extension(raw: object, key: str, problems: Problems) -> Extension | None:
    if raw is None:
        return None  # the period cannot be extended
    if not isinstance(raw, Mapping):
        problems.add(key, "expected a mapping with roles, consent, max_length, max_unit (or none)")
        return None
    before = problems.count()
    unknown_keys(raw, _EXTENSION_KEYS, key, problems)
    roles = enum_set(Role, raw, "roles", key, "role", problems)
    if roles is None and "roles" not in raw:
        problems.add(f"{key}.roles", "expected a non-empty list of the roles that may extend")
    consent = _consent(raw, key, problems)
    max_length = _positive_int(raw.get("max_length"), f"{key}.max_length", problems)
    max_unit = enum_value(PeriodUnit, raw.get("max_unit"), f"{key}.max_unit", "period unit", problems)
    authority = _parse_authority(raw, key, "", problems, required=False)
    if problems.count() > before or roles is None or max_length is None or max_unit is None:
        return None
    return Extension(
        roles=roles, consent=consent, max_length=max_length, max_unit=max_unit, authority=authority
    )


def _consent(raw: Mapping[str, Any], prefix: str, problems: Problems) -> Consent | None:
    key = f"{prefix}.consent"
    # Required even when null: a forgotten line must not quietly allow extending without the parties.
    if "consent" not in raw:
        problems.add(key, "say what consent an extension needs: both_parties, or null for none")
        return None
    value = raw["consent"]
    if value is None:
        return None
    if value == "both_parties":
        return "both_parties"
    problems.add(key, f"unknown consent {value!r}; allowed: {', '.join(_CONSENTS)}, or null")
    return None
