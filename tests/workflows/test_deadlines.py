"""Deadline policies: every clock of config/deadlines.yaml on concrete dates, pause, extension, the planner.

No database and no wall clock: fixed datetimes in Asia/Shanghai and the real official calendar
(seeded from the chinesecalendar package), so 调休 make-up days and holidays are the real ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from workflows.calendar import SHANGHAI, BusinessCalendar, seeded_years
from workflows.deadlines import (
    Applies,
    Authority,
    Basis,
    BreachAction,
    CaseClockFacts,
    DeadlineStatus,
    Extended,
    ExtensionNotAllowed,
    OpenDeadline,
    Paused,
    Plan,
    Policy,
    PolicySet,
    Resumed,
    Schedule,
    WarnPoint,
    clock_steps,
    extended,
    parse_policies,
    plan,
    provisional_years,
    replay,
    resumed,
    schedule,
)
from workflows.deadlines import PeriodUnit as U
from workflows.lifecycle import CaseState, Role
from workflows.org import Channel
from workflows.vocab import DisputeType

REPO = Path(__file__).resolve().parents[2]
DEADLINES_YAML = REPO / "config" / "deadlines.yaml"

POLICIES = parse_policies(yaml.safe_load(DEADLINES_YAML.read_text(encoding="utf-8")), str(DEADLINES_YAML))
CAL = BusinessCalendar(seeded_years())

S = CaseState
NEIGHBOUR = DisputeType.NEIGHBOUR
WAGES = DisputeType.LABOUR_WAGE_ARREARS
LABOUR = DisputeType.LABOUR_OTHER


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A wall-clock time in Kunshan."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def facts(
    dispute_type: DisputeType = NEIGHBOUR, channel: Channel = Channel.people, court: str | None = None
) -> CaseClockFacts:
    return CaseClockFacts(dispute_type=dispute_type, channel=channel, court_procedure=court)


def sched(kind: str, started_at: datetime) -> Schedule:
    return schedule(POLICIES.by_kind(kind), started_at, CAL)


def running(
    deadline_id: int, kind: str, started_at: datetime, *, paused_at: datetime | None = None
) -> OpenDeadline:
    """An open deadline as the service would hand it to the planner."""
    s = sched(kind, started_at)
    return OpenDeadline(
        id=deadline_id,
        kind=kind,
        status=DeadlineStatus.paused if paused_at else DeadlineStatus.active,
        started_at=started_at,
        due_at=s.due_at,
        paused_at=paused_at,
        warnings=s.warnings,
    )


def step(
    event: str,
    from_state: CaseState | None,
    to_state: CaseState,
    *,
    case: CaseClockFacts | None = None,
    open_deadlines: Sequence[OpenDeadline] = (),
    now: datetime = at(2025, 3, 3),
) -> Plan:
    return plan(
        POLICIES,
        event=event,
        from_state=from_state,
        to_state=to_state,
        case=case or facts(),
        open_deadlines=open_deadlines,
        now=now,
        calendar=CAL,
    )


def started(result: Plan) -> list[str]:
    return [policy.kind for policy, _ in result.start]


def warnings(s: Schedule) -> list[tuple[str, datetime]]:
    return list(s.warnings)


# ----------------------------------------------------------------------------- the configuration


def test_every_clock_of_the_product_table_is_configured_with_its_breach_action_and_source() -> None:
    breaches = {p.kind: p.breach for p in POLICIES.policies}

    assert breaches == {
        "acceptance": BreachAction.escalate,
        "referral_acceptance": BreachAction.return_referral,
        "people_mediation": BreachAction.escalate,
        "labour_mediation": BreachAction.notify,
        "court_delegation_ordinary": BreachAction.return_referral,
        "court_delegation_simplified": BreachAction.return_referral,
        "court_assignment": BreachAction.return_referral,
        "confirmation_window": BreachAction.notify,
        "confirmation_acceptance": BreachAction.flag_overdue,
        "confirmation_decision": BreachAction.flag_overdue,
        "performance_followup": BreachAction.notify,
    }
    assert all(p.source.strip() and p.name.strip() for p in POLICIES.policies)
    assert not any(p.urgent for p in POLICIES.policies)


@pytest.mark.parametrize(
    ("kind", "length", "unit", "source_part"),
    [
        ("acceptance", 3, U.working_days, "人民调解法 第21条"),
        ("referral_acceptance", 3, U.working_days, "三调联动"),
        ("people_mediation", 1, U.months, "人民调解工作若干规定(2002) 第33条"),
        ("labour_mediation", 15, U.days, "劳动争议调解仲裁法 第14条第3款"),
        ("court_delegation_ordinary", 15, U.days, "特邀调解的规定 第27条第3款"),
        ("court_delegation_simplified", 7, U.days, "特邀调解的规定 第27条第3款"),
        ("court_assignment", 30, U.days, "特邀调解的规定 第27条第1款"),
        ("performance_followup", 30, U.days, "人民调解法 第31条"),
        ("confirmation_window", 30, U.days, "民事诉讼法 第205条"),
        ("confirmation_acceptance", 3, U.days, "司法确认程序的若干规定(2011) 第4条"),
        ("confirmation_decision", 15, U.days, "第5条"),
    ],
)
def test_each_policy_has_the_limit_and_legal_source_of_the_product_table(
    kind: str, length: int, unit: U, source_part: str
) -> None:
    policy = POLICIES.by_kind(kind)

    assert (policy.length, policy.unit) == (length, unit)
    assert source_part in policy.source


def test_by_kind_names_an_unknown_kind() -> None:
    with pytest.raises(KeyError, match="no deadline policy 'nope'"):
        POLICIES.by_kind("nope")
    assert POLICIES.get("nope") is None


# ----------------------------------------------------------------------------- acceptance


@pytest.mark.parametrize(
    ("event", "from_state"),
    [("open", None), ("dispatch", S.registered), ("escalate", S.assigned), ("escalate", S.mediating)],
)
def test_acceptance_starts_whenever_a_case_arrives_at_a_unit_by_triage_dispatch_or_escalation(
    event: str, from_state: CaseState | None
) -> None:
    assert started(step(event, from_state, S.assigned)) == ["acceptance"]


@pytest.mark.parametrize(
    ("event", "from_state", "to_state"),
    [
        ("open", None, S.registered),  # triage asked for manual dispatch: nobody has it yet
        ("hand_off", S.mediating, S.assigned),  # a referral: its own clock instead
        ("delegate", S.in_court, S.assigned),
        ("decline", S.assigned, S.registered),
    ],
)
def test_acceptance_does_not_start_otherwise(
    event: str, from_state: CaseState | None, to_state: CaseState
) -> None:
    assert "acceptance" not in started(step(event, from_state, to_state))


@pytest.mark.parametrize(
    "case",
    [facts(), facts(WAGES, Channel.administrative), facts(court="ordinary"), facts(DisputeType.MEDICAL)],
)
def test_acceptance_applies_to_every_case(case: CaseClockFacts) -> None:
    assert "acceptance" in started(step("dispatch", S.registered, S.assigned, case=case))


def test_acceptance_dispatched_on_the_friday_before_national_day_counts_the_make_up_sunday() -> None:
    # 2025: Sunday 28 September is a make-up working day (调休), 1–8 October are off.
    s = sched("acceptance", at(2025, 9, 26, 16, 45))

    assert s.due_at == at(2025, 10, 1, 0, 0)  # working days 28, 29, 30 September
    assert warnings(s) == [("last_day", at(2025, 9, 30, 8, 30))]


def test_acceptance_dispatched_on_the_eve_of_national_day_runs_past_the_holiday_into_the_make_up_saturday() -> (
    None
):
    s = sched("acceptance", at(2025, 9, 30, 16, 0))

    assert s.due_at == at(2025, 10, 12, 0, 0)  # working days 9, 10, 11 (Saturday, 调休) October
    assert warnings(s) == [("last_day", at(2025, 10, 11, 8, 30))]


def test_acceptance_is_met_by_accept_and_breach_escalates() -> None:
    policy = POLICIES.by_kind("acceptance")
    result = step(
        "accept", S.assigned, S.mediating, open_deadlines=[running(7, "acceptance", at(2025, 3, 3))]
    )

    assert result.met == [7]
    assert policy.breach == BreachAction.escalate
    assert policy.extension is None


# ----------------------------------------------------------------------------- referral acceptance


@pytest.mark.parametrize(
    ("event", "from_state"),
    [
        ("hand_off", S.registered),
        ("hand_off", S.mediating),
        ("hand_off", S.terminated),
        ("delegate", S.in_court),
    ],
)
def test_referral_acceptance_starts_on_a_hand_off_or_a_court_delegation(
    event: str, from_state: CaseState
) -> None:
    assert started(step(event, from_state, S.assigned)) == ["referral_acceptance"]


def test_referral_acceptance_counts_working_days_and_breach_returns_the_referral() -> None:
    s = sched("referral_acceptance", at(2025, 3, 6, 15, 0))  # a Thursday

    assert s.due_at == at(2025, 3, 12, 0, 0)  # Friday, Monday, Tuesday
    assert warnings(s) == [("last_day", at(2025, 3, 11, 8, 30))]
    assert POLICIES.by_kind("referral_acceptance").breach == BreachAction.return_referral


def test_referral_acceptance_is_met_by_accept() -> None:
    result = step(
        "accept", S.assigned, S.mediating, open_deadlines=[running(3, "referral_acceptance", at(2025, 3, 3))]
    )
    assert result.met == [3]


# ----------------------------------------------------------------------------- people's mediation


def test_people_mediation_of_one_month_accepted_on_31_january_ends_on_28_february() -> None:
    s = sched("people_mediation", at(2025, 1, 31, 10, 0))

    assert s.due_at == at(2025, 3, 1, 0, 0)  # the corresponding day clamped to the month's end
    assert warnings(s) == [
        # 75% of the window is Friday 21 February 20:30: the office is shut, so Monday morning.
        ("75pct", at(2025, 2, 24, 8, 30)),
        ("last_day", at(2025, 2, 28, 8, 30)),
    ]


def test_people_mediation_starts_on_accept_for_a_non_labour_people_channel_case_not_from_the_court() -> None:
    assert started(step("accept", S.assigned, S.mediating)) == ["people_mediation"]


@pytest.mark.parametrize(
    "case",
    [
        facts(channel=Channel.administrative),
        facts(WAGES),
        facts(LABOUR),
        facts(court="ordinary"),
        facts(court="assignment"),
    ],
)
def test_people_mediation_does_not_apply_to_other_channels_labour_or_court_cases(
    case: CaseClockFacts,
) -> None:
    assert "people_mediation" not in started(step("accept", S.assigned, S.mediating, case=case))


@pytest.mark.parametrize(
    ("event", "from_state", "to_state"),
    [
        ("dispatch", S.registered, S.assigned),
        ("resume", S.suspended, S.mediating),
        ("settle", S.mediating, S.settled),
    ],
)
def test_people_mediation_starts_on_nothing_but_accept(
    event: str, from_state: CaseState, to_state: CaseState
) -> None:
    assert "people_mediation" not in started(step(event, from_state, to_state))


def test_people_mediation_breach_escalates() -> None:
    assert POLICIES.by_kind("people_mediation").breach == BreachAction.escalate


# ----------------------------------------------------------------------------- labour mediation


def test_labour_mediation_of_15_days_ending_on_a_sunday_rolls_to_monday() -> None:
    # Accepted on Saturday 8 February 2025, a make-up working day; day 15 is Sunday 23 February.
    s = sched("labour_mediation", at(2025, 2, 8, 10, 0))

    assert s.due_at == at(2025, 2, 25, 0, 0)  # last day Monday 24 February
    assert warnings(s) == [
        ("75pct", at(2025, 2, 21, 8, 30)),  # Thursday 20 February 20:30, moved into office hours
        ("last_day", at(2025, 2, 24, 8, 30)),
    ]


def test_labour_mediation_ending_in_the_national_day_holiday_rolls_past_it() -> None:
    s = sched("labour_mediation", at(2025, 9, 16, 9, 0))  # day 15 is 1 October

    assert s.due_at == at(2025, 10, 10, 0, 0)  # last day Thursday 9 October
    # 75% falls on 4 October, inside the holiday: it waits for the office on 9 October, where
    # it meets the last-day warning, and the two go out as one.
    assert warnings(s) == [("75pct", at(2025, 10, 9, 8, 30))]


@pytest.mark.parametrize(
    "case",
    [facts(WAGES), facts(LABOUR), facts(WAGES, Channel.administrative), facts(LABOUR, Channel.judicial)],
)
def test_labour_mediation_applies_to_both_labour_types_in_any_channel(case: CaseClockFacts) -> None:
    assert started(step("open", None, S.assigned, case=case)) == ["acceptance", "labour_mediation"]


@pytest.mark.parametrize(
    ("event", "from_state"),
    [
        ("open", None),
        ("dispatch", S.registered),
        ("escalate", S.mediating),
        ("hand_off", S.mediating),
        ("decline", S.assigned),
    ],
)
def test_labour_mediation_counts_from_the_day_a_unit_receives_the_application(
    event: str, from_state: CaseState | None
) -> None:
    """劳动争议调解仲裁法 art. 14 ¶3: fifteen days from receipt of the application, not from acceptance."""
    result = step(event, from_state, S.assigned, case=facts(WAGES), now=at(2025, 3, 3))

    started_at = dict((p.kind, s) for p, s in result.start)
    assert started_at["labour_mediation"].due_at == sched("labour_mediation", at(2025, 3, 3)).due_at


def test_the_labour_clock_started_on_receipt_runs_on_through_acceptance_and_is_met_by_agreement() -> None:
    received = running(4, "labour_mediation", at(2025, 3, 3))

    accepted = step("accept", S.assigned, S.mediating, case=facts(WAGES), open_deadlines=[received])
    settled = step("settle", S.mediating, S.settled, case=facts(WAGES), open_deadlines=[received])

    assert "labour_mediation" not in started(accepted)
    assert (accepted.met, accepted.cancelled, accepted.paused) == ([], [], [])
    assert settled.met == [4]


def test_the_labour_clock_pauses_while_suspended_and_ends_with_the_unit_that_received_it() -> None:
    received = running(4, "labour_mediation", at(2025, 3, 3))

    suspended = step("suspend", S.mediating, S.suspended, case=facts(WAGES), open_deadlines=[received])
    escalated = step("escalate", S.mediating, S.assigned, case=facts(WAGES), open_deadlines=[received])

    assert suspended.paused == [4]
    assert escalated.cancelled == [4] and started(escalated) == ["acceptance", "labour_mediation"]


def test_a_labour_application_received_on_the_3rd_of_march_is_due_at_the_end_of_the_18th() -> None:
    s = sched("labour_mediation", at(2025, 3, 3, 16, 0))

    assert s.due_at == at(2025, 3, 19, 0, 0)


def test_labour_mediation_gives_way_to_the_court_clock_for_a_delegated_labour_case() -> None:
    result = step("accept", S.assigned, S.mediating, case=facts(WAGES, court="ordinary"))

    assert started(result) == ["court_delegation_ordinary"]


def test_labour_mediation_breach_notifies_and_cannot_be_extended() -> None:
    policy = POLICIES.by_kind("labour_mediation")
    s = sched("labour_mediation", at(2025, 2, 8))

    assert policy.breach == BreachAction.notify
    with pytest.raises(ExtensionNotAllowed, match="cannot be extended"):
        extended(policy, at(2025, 2, 8), s.due_at, None, 5, U.days, Role.mediator, True, CAL)


# ----------------------------------------------------------------------------- court clocks


@pytest.mark.parametrize(
    ("procedure", "kind"),
    [
        ("ordinary", "court_delegation_ordinary"),
        ("simplified", "court_delegation_simplified"),
        ("assignment", "court_assignment"),
    ],
)
def test_the_court_clock_follows_the_court_procedure_whatever_the_channel(procedure: str, kind: str) -> None:
    for channel in Channel:
        case = facts(channel=channel, court=procedure)
        assert started(step("accept", S.assigned, S.mediating, case=case)) == [kind]


def test_court_delegation_ordinary_runs_15_days_with_warnings_in_office_hours() -> None:
    s = sched("court_delegation_ordinary", at(2025, 3, 3, 10, 0))

    assert s.due_at == at(2025, 3, 19, 0, 0)
    assert warnings(s) == [
        ("75pct", at(2025, 3, 17, 8, 30)),  # Saturday 15 March 02:30 → Monday morning
        ("last_day", at(2025, 3, 18, 8, 30)),
    ]


def test_court_delegation_simplified_runs_7_days_and_merges_warnings_that_land_together() -> None:
    s = sched("court_delegation_simplified", at(2025, 3, 3, 10, 0))

    assert s.due_at == at(2025, 3, 11, 0, 0)
    # 75% falls on Sunday 9 March and moves to Monday 08:30, the same instant as the last-day
    # warning: one message, named by the first level in the policy.
    assert warnings(s) == [("75pct", at(2025, 3, 10, 8, 30))]


def test_court_assignment_runs_30_days_and_rolls_over_qingming() -> None:
    s = sched("court_assignment", at(2025, 3, 5, 10, 0))  # day 30 is Friday 4 April, 清明节

    assert s.due_at == at(2025, 4, 8, 0, 0)  # 4–6 April off: last day Monday 7 April
    assert warnings(s)[-1] == ("last_day", at(2025, 4, 7, 8, 30))


@pytest.mark.parametrize(
    "kind", ["court_delegation_ordinary", "court_delegation_simplified", "court_assignment"]
)
def test_court_clocks_return_the_referral_on_breach_and_are_met_by_settle(kind: str) -> None:
    assert POLICIES.by_kind(kind).breach == BreachAction.return_referral
    result = step("settle", S.mediating, S.settled, open_deadlines=[running(9, kind, at(2025, 3, 3))])
    assert result.met == [9]


def test_court_assignment_may_be_extended_with_both_parties_consent_only() -> None:
    policy = POLICIES.by_kind("court_assignment")
    s = sched("court_assignment", at(2025, 3, 5))  # 30 days: Friday 4 April is 清明, so Monday 7 April

    longer = extended(policy, at(2025, 3, 5), s.due_at, None, 10, U.days, Role.court_clerk, True, CAL)
    with pytest.raises(ExtensionNotAllowed, match="both parties' consent"):
        extended(policy, at(2025, 3, 5), s.due_at, None, 10, U.days, Role.court_clerk, False, CAL)
    with pytest.raises(ExtensionNotAllowed, match="at most 30 days in total"):
        extended(policy, at(2025, 3, 5), s.due_at, (25, U.days), 10, U.days, Role.mediator, True, CAL)

    assert s.due_at == at(2025, 4, 8, 0, 0)
    assert longer == at(2025, 4, 18, 0, 0)  # 7 April + 10 days = Thursday 17 April


# ----------------------------------------------------------------------------- confirmation


def test_confirmation_window_starts_on_settle_and_warns_at_75_percent_only() -> None:
    result = step("settle", S.mediating, S.settled)
    s = sched("confirmation_window", at(2025, 3, 3, 15, 0))

    assert started(result) == ["confirmation_window", "performance_followup"]
    assert s.due_at == at(2025, 4, 3, 0, 0)
    # 75% of 30 days 9 hours is 22 days 18¾ hours: Wednesday 09:45, inside office hours, kept.
    assert warnings(s) == [("75pct", at(2025, 3, 26, 9, 45))]
    assert POLICIES.by_kind("confirmation_window").breach == BreachAction.notify


def test_confirmation_window_is_met_by_request_and_outlives_a_partial_performance_visit() -> None:
    window = running(4, "confirmation_window", at(2025, 3, 3))

    partial = step("record_performance", S.settled, S.settled, open_deadlines=[window])
    requested = step("request_confirmation", S.settled, S.confirming, open_deadlines=[window])
    performed = step("record_performance", S.settled, S.closed, open_deadlines=[window])

    assert (partial.met, partial.cancelled) == ([], [])
    assert requested.met == [4]
    assert started(requested) == ["confirmation_acceptance"]
    assert performed.cancelled == [4]


def test_confirmation_acceptance_counts_calendar_days_and_flags_the_court_desk() -> None:
    s = sched("confirmation_acceptance", at(2025, 3, 6, 11, 0))  # Thursday; day 3 is Sunday

    assert s.due_at == at(2025, 3, 11, 0, 0)  # rolled to Monday 10 March
    assert warnings(s) == [("last_day", at(2025, 3, 10, 8, 30))]
    assert POLICIES.by_kind("confirmation_acceptance").breach == BreachAction.flag_overdue


@pytest.mark.parametrize(
    ("event", "to_state"),
    [("accept_confirmation", S.confirming), ("refuse_confirmation", S.settled)],
)
def test_confirmation_acceptance_is_met_by_the_courts_acceptance_or_refusal(
    event: str, to_state: CaseState
) -> None:
    result = step(
        event, S.confirming, to_state, open_deadlines=[running(5, "confirmation_acceptance", at(2025, 3, 3))]
    )
    assert result.met == [5]


def test_a_withdrawn_application_cancels_the_courts_clocks() -> None:
    clocks = [
        running(5, "confirmation_acceptance", at(2025, 3, 3)),
        running(6, "confirmation_decision", at(2025, 3, 5)),
    ]
    result = step("withdraw_confirmation", S.confirming, S.settled, open_deadlines=clocks)
    assert (result.met, sorted(result.cancelled)) == ([], [5, 6])


def test_accepting_the_application_starts_the_decision_clock() -> None:
    result = step(
        "accept_confirmation",
        S.confirming,
        S.confirming,
        open_deadlines=[running(5, "confirmation_acceptance", at(2025, 3, 3))],
        now=at(2025, 3, 5, 9, 0),
    )
    decision = dict(result.start)[POLICIES.by_kind("confirmation_decision")]

    assert (result.met, result.cancelled, started(result)) == ([5], [], ["confirmation_decision"])
    assert decision.due_at == at(2025, 3, 21, 0, 0)
    assert POLICIES.by_kind("confirmation_decision").breach == BreachAction.flag_overdue


@pytest.mark.parametrize(("event", "to_state"), [("confirm", S.settled), ("reject_confirmation", S.settled)])
def test_confirmation_decision_is_met_by_the_ruling(event: str, to_state: CaseState) -> None:
    result = step(
        event, S.confirming, to_state, open_deadlines=[running(6, "confirmation_decision", at(2025, 3, 5))]
    )
    assert result.met == [6]


# ----------------------------------------------------------------------------- schedule details


def test_schedule_refuses_a_naive_start_and_reads_utc_as_the_same_instant() -> None:
    with pytest.raises(ValueError, match="naive"):
        schedule(POLICIES.by_kind("acceptance"), datetime(2025, 3, 3, 10), CAL)
    in_utc = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
    assert sched("acceptance", in_utc) == sched("acceptance", at(2025, 3, 3, 10, 0))


def test_an_urgent_policy_warns_out_of_office_hours() -> None:
    urgent = dataclasses.replace(POLICIES.by_kind("people_mediation"), urgent=True)
    s = schedule(urgent, at(2025, 1, 31, 10, 0), CAL)

    assert warnings(s) == [("75pct", at(2025, 2, 21, 20, 30)), ("last_day", at(2025, 2, 28, 8, 30))]


def test_a_warning_pushed_past_the_deadline_is_dropped() -> None:
    # A 1-day period from Friday: the last day (Saturday) rolls to Monday. Half of the window is
    # Sunday 08:30, which office hours push to Monday 08:30, the last-day warning's time.
    policy = dataclasses.replace(
        POLICIES.by_kind("labour_mediation"),
        length=1,
        warn=(WarnPoint("half", fraction=0.5), WarnPoint("last_day", last_working_day=True)),
    )
    s = schedule(policy, at(2025, 3, 7, 17, 0), CAL)
    assert s.due_at == at(2025, 3, 11, 0, 0)
    assert warnings(s) == [("half", at(2025, 3, 10, 8, 30))]

    late = dataclasses.replace(policy, unit=U.working_days, warn=(WarnPoint("late", fraction=0.9),))
    s = schedule(late, at(2025, 3, 10, 9, 0), CAL)  # due Wednesday 00:00; 90% is Tuesday 20:06
    assert (s.due_at, s.warnings) == (at(2025, 3, 12, 0, 0), ())


# ----------------------------------------------------------------------------- pause and resume


def test_resumed_after_five_days_moves_the_due_time_and_the_warnings_five_days_later() -> None:
    s = sched("people_mediation", at(2025, 1, 31, 10, 0))

    bare = resumed(s.due_at, s.warnings, at(2025, 2, 10, 10, 0), at(2025, 2, 15, 10, 0))

    assert bare.due_at == at(2025, 3, 6, 0, 0)
    assert warnings(bare) == [("75pct", at(2025, 3, 1, 8, 30)), ("last_day", at(2025, 3, 5, 8, 30))]


def test_resumed_with_a_calendar_puts_moved_warnings_back_into_office_hours() -> None:
    s = sched("people_mediation", at(2025, 1, 31, 10, 0))

    moved = resumed(s.due_at, s.warnings, at(2025, 2, 10, 10, 0), at(2025, 2, 15, 10, 0), calendar=CAL)

    assert moved.due_at == at(2025, 3, 6, 0, 0)
    # Saturday 1 March 08:30 is not office time: Monday 3 March.
    assert warnings(moved) == [("75pct", at(2025, 3, 3, 8, 30)), ("last_day", at(2025, 3, 5, 8, 30))]


def test_resumed_refuses_a_resume_before_the_pause() -> None:
    with pytest.raises(ValueError, match="before it was paused"):
        resumed(at(2025, 3, 1), (), at(2025, 2, 10), at(2025, 2, 9))


def test_suspend_pauses_the_mediation_clock_and_resume_moves_it_by_the_pause() -> None:
    clock = running(11, "people_mediation", at(2025, 1, 31, 10, 0))
    suspended = step("suspend", S.mediating, S.suspended, open_deadlines=[clock], now=at(2025, 2, 10, 10, 0))
    assert (suspended.paused, suspended.met, suspended.cancelled, suspended.start) == ([11], [], [], [])

    paused = dataclasses.replace(clock, status=DeadlineStatus.paused, paused_at=at(2025, 2, 10, 10, 0))
    back = step("resume", S.suspended, S.mediating, open_deadlines=[paused], now=at(2025, 2, 15, 10, 0))

    assert [i for i, _ in back.resumed] == [11]
    _, moved = back.resumed[0]
    assert moved.due_at == at(2025, 3, 6, 0, 0)
    assert warnings(moved) == [("75pct", at(2025, 3, 3, 8, 30)), ("last_day", at(2025, 3, 5, 8, 30))]
    assert back.start == []  # resume starts no new clock


def test_the_acceptance_clock_never_pauses_and_terminating_a_suspended_case_cancels_the_paused_clock() -> (
    None
):
    paused = running(12, "labour_mediation", at(2025, 2, 8), paused_at=at(2025, 2, 12))

    result = step("terminate", S.suspended, S.terminated, open_deadlines=[paused])

    assert result.cancelled == [12]
    assert not POLICIES.by_kind("acceptance").pauses_while


def test_open_deadline_requires_paused_at_when_paused() -> None:
    with pytest.raises(ValueError, match="no paused_at"):
        OpenDeadline(1, "acceptance", DeadlineStatus.paused, at(2025, 3, 3), at(2025, 3, 7), None, ())
    with pytest.raises(ValueError, match="active or paused"):
        OpenDeadline(1, "acceptance", DeadlineStatus.met, at(2025, 3, 3), at(2025, 3, 7), None, ())


# ----------------------------------------------------------------------------- extension


def test_people_mediation_extended_by_a_month_with_both_parties_consent() -> None:
    policy = POLICIES.by_kind("people_mediation")
    s = sched("people_mediation", at(2025, 1, 31))

    for role in (Role.mediator, Role.coordinator):
        new_due = extended(policy, at(2025, 1, 31), s.due_at, None, 1, U.months, role, True, CAL)
        assert new_due == at(2025, 3, 29, 0, 0)  # from the last day, 28 February: 28 March


def test_extension_keeps_the_hours_a_pause_added() -> None:
    policy = POLICIES.by_kind("court_delegation_ordinary")
    due_after_pause = at(2025, 3, 19, 6, 0)  # a pause of some days and six hours

    new_due = extended(policy, at(2025, 3, 3), due_after_pause, None, 10, U.days, Role.mediator, True, CAL)

    assert new_due == at(2025, 3, 29, 6, 0)  # last day 18 March + 10 days = 28 March, plus 6 h


def test_court_delegation_extended_in_steps_up_to_30_days() -> None:
    policy = POLICIES.by_kind("court_delegation_ordinary")
    start = at(2025, 3, 3)
    due = sched("court_delegation_ordinary", start).due_at  # last day 18 March

    first = extended(policy, start, due, None, 20, U.days, Role.court_clerk, True, CAL)
    second = extended(policy, start, first, (20, U.days), 10, U.days, Role.mediator, True, CAL)

    assert first == at(2025, 4, 8, 0, 0)  # 7 April
    assert second == at(2025, 4, 18, 0, 0)  # 17 April
    with pytest.raises(ExtensionNotAllowed, match="at most 30 days in total; already extended by 30"):
        extended(policy, start, second, (30, U.days), 1, U.days, Role.court_clerk, True, CAL)


def test_confirmation_decision_is_extended_by_the_clerk_without_the_parties() -> None:
    policy = POLICIES.by_kind("confirmation_decision")
    due = sched("confirmation_decision", at(2025, 3, 5, 9, 0)).due_at  # last day 20 March

    assert extended(policy, at(2025, 3, 5), due, None, 10, U.days, Role.court_clerk, False, CAL) == at(
        2025, 4, 1, 0, 0
    )  # 30 March is a Sunday: rolled to Monday 31 March
    with pytest.raises(ExtensionNotAllowed, match="at most 10 days"):
        extended(policy, at(2025, 3, 5), due, None, 11, U.days, Role.court_clerk, False, CAL)


@pytest.mark.parametrize(
    ("kind", "already", "by", "unit", "role", "consent", "message"),
    [
        ("people_mediation", None, 1, U.months, Role.mediator, False, "both parties' consent"),
        ("people_mediation", None, 1, U.months, Role.court_clerk, True, "only by coordinator, mediator"),
        ("people_mediation", (1, U.months), 1, U.months, Role.mediator, True, "at most 1 months in total"),
        ("people_mediation", None, 15, U.days, Role.mediator, True, "is extended in months, not days"),
        ("people_mediation", (10, U.days), 1, U.months, Role.mediator, True, "extensions recorded in days"),
        ("people_mediation", None, 0, U.months, Role.mediator, True, "at least 1"),
        ("court_delegation_simplified", None, 31, U.days, Role.court_clerk, True, "at most 30 days"),
        (
            "court_delegation_simplified",
            None,
            5,
            U.days,
            Role.coordinator,
            True,
            "only by court_clerk, mediator",
        ),
        ("court_delegation_simplified", None, 5, U.days, Role.court_clerk, False, "consent"),
        ("confirmation_decision", None, 5, U.days, Role.mediator, True, "only by court_clerk"),
        ("acceptance", None, 1, U.working_days, Role.coordinator, True, "cannot be extended"),
        ("confirmation_window", None, 5, U.days, Role.court_clerk, True, "cannot be extended"),
    ],
)
def test_extension_refused(
    kind: str,
    already: tuple[int, U] | None,
    by: int,
    unit: U,
    role: Role,
    consent: bool,
    message: str,
) -> None:
    policy = POLICIES.by_kind(kind)
    start = at(2025, 3, 3)
    due = schedule(policy, start, CAL).due_at

    with pytest.raises(ExtensionNotAllowed, match=message):
        extended(policy, start, due, already, by, unit, role, consent, CAL)


# ----------------------------------------------------------------------------- planner sequences


def test_open_then_accept_meets_acceptance_and_starts_people_mediation() -> None:
    opened = step("open", None, S.assigned, now=at(2025, 3, 3, 9, 0))
    assert started(opened) == ["acceptance"]
    assert (opened.met, opened.cancelled, opened.paused, opened.resumed) == ([], [], [], [])
    _, acceptance = opened.start[0]
    assert acceptance.due_at == at(2025, 3, 7, 0, 0)

    accepted = step(
        "accept",
        S.assigned,
        S.mediating,
        open_deadlines=[running(1, "acceptance", at(2025, 3, 3, 9, 0))],
        now=at(2025, 3, 4, 14, 0),
    )
    assert accepted.met == [1]
    assert accepted.cancelled == []
    assert started(accepted) == ["people_mediation"]
    # 4 April is 清明 and 5–6 April the weekend: the month ends on Monday 7 April.
    assert accepted.start[0][1].due_at == at(2025, 4, 8, 0, 0)


def test_escalating_a_case_in_mediation_cancels_its_mediation_clock_and_starts_acceptance_at_the_parent() -> (
    None
):
    result = step(
        "escalate", S.mediating, S.assigned, open_deadlines=[running(2, "people_mediation", at(2025, 3, 3))]
    )

    assert (result.met, result.cancelled) == ([], [2])
    assert started(result) == ["acceptance"]


def test_escalating_an_unaccepted_case_restarts_acceptance_at_the_parent_unit() -> None:
    old = running(3, "acceptance", at(2025, 3, 3))

    result = step("escalate", S.assigned, S.assigned, open_deadlines=[old], now=at(2025, 3, 6, 11, 0))

    assert (result.met, result.cancelled) == ([], [3])
    assert started(result) == ["acceptance"]
    assert result.start[0][1].due_at == at(2025, 3, 12, 0, 0)  # counted afresh from the escalation


def test_handing_off_an_unaccepted_case_ends_the_old_units_acceptance_and_starts_the_referral_clock() -> None:
    result = step(
        "hand_off", S.assigned, S.assigned, open_deadlines=[running(4, "acceptance", at(2025, 3, 3))]
    )

    assert result.cancelled == [4]
    assert started(result) == ["referral_acceptance"]


def test_declining_cancels_the_acceptance_clock_and_starts_nothing() -> None:
    result = step(
        "decline", S.assigned, S.registered, open_deadlines=[running(5, "acceptance", at(2025, 3, 3))]
    )

    assert (result.met, result.cancelled, result.start) == ([], [5], [])


def test_settle_meets_the_mediation_clock_and_starts_the_confirmation_window() -> None:
    result = step(
        "settle",
        S.mediating,
        S.settled,
        open_deadlines=[running(6, "people_mediation", at(2025, 3, 3))],
        now=at(2025, 3, 20, 15, 0),
    )

    assert (result.met, result.cancelled) == ([6], [])
    assert started(result) == ["confirmation_window", "performance_followup"]
    # 20 March + 30 days is Saturday 19 April: the period ends on Monday 21 April.
    assert result.start[0][1].due_at == at(2025, 4, 22, 0, 0)


def test_the_whole_journey_of_a_delegated_case() -> None:
    case = facts(DisputeType.CONTRACT, court="simplified")
    delegated = step("delegate", S.in_court, S.assigned, case=case, now=at(2025, 3, 3, 9, 0))
    assert started(delegated) == ["referral_acceptance"]

    referral = running(1, "referral_acceptance", at(2025, 3, 3, 9, 0))
    accepted = step(
        "accept", S.assigned, S.mediating, case=case, open_deadlines=[referral], now=at(2025, 3, 4)
    )
    assert (accepted.met, started(accepted)) == ([1], ["court_delegation_simplified"])

    clock = running(2, "court_delegation_simplified", at(2025, 3, 4))
    settled = step("settle", S.mediating, S.settled, case=case, open_deadlines=[clock], now=at(2025, 3, 6))
    assert (settled.met, started(settled)) == ([2], ["confirmation_window", "performance_followup"])


def test_the_planner_selects_one_mediation_clock_by_dispute_type_channel_and_court_procedure() -> None:
    def on_accept(case: CaseClockFacts) -> list[str]:
        return started(step("accept", S.assigned, S.mediating, case=case))

    assert on_accept(facts(NEIGHBOUR, Channel.people)) == ["people_mediation"]
    # The labour clock started when the application arrived (see above), not on acceptance.
    assert on_accept(facts(WAGES, Channel.people)) == []
    assert on_accept(facts(LABOUR, Channel.administrative)) == []
    assert on_accept(facts(NEIGHBOUR, Channel.administrative)) == []  # no statutory period
    assert on_accept(facts(NEIGHBOUR, Channel.people, "ordinary")) == ["court_delegation_ordinary"]
    assert on_accept(facts(WAGES, Channel.people, "simplified")) == ["court_delegation_simplified"]
    assert on_accept(facts(NEIGHBOUR, Channel.people, "assignment")) == ["court_assignment"]


def test_the_planner_leaves_a_clock_whose_policy_was_removed_alone() -> None:
    orphan = dataclasses.replace(running(8, "acceptance", at(2025, 3, 3)), kind="retired_policy")

    result = step("accept", S.assigned, S.mediating, open_deadlines=[orphan])

    assert (result.met, result.cancelled, result.paused, result.resumed) == ([], [], [], [])


def test_a_clock_leaving_its_states_other_than_by_its_met_event_is_cancelled() -> None:
    clock = running(9, "people_mediation", at(2025, 3, 3))

    result = step("terminate", S.mediating, S.terminated, open_deadlines=[clock])

    assert (result.met, result.cancelled, result.start) == ([], [9], [])


def test_the_planner_refuses_unknown_events_and_a_missing_or_extra_from_state() -> None:
    with pytest.raises(ValueError, match="unknown event"):
        step("teleport", S.assigned, S.assigned)
    with pytest.raises(ValueError, match="from_state must be None exactly for the 'open' event"):
        step("open", S.registered, S.assigned)
    with pytest.raises(ValueError, match="from_state"):
        step("accept", None, S.mediating)


# ----------------------------------------------------------------------------- hand-built sets


def test_hand_built_policies_are_checked() -> None:
    base = POLICIES.by_kind("people_mediation")
    with pytest.raises(ValueError, match="subset of runs_while"):
        dataclasses.replace(base, pauses_while=frozenset({S.settled}))
    with pytest.raises(ValueError, match="at least 1"):
        dataclasses.replace(base, length=0)
    with pytest.raises(ValueError, match="exactly one"):
        WarnPoint("x", fraction=0.5, last_working_day=True)
    with pytest.raises(ValueError, match="between 0 and 1"):
        WarnPoint("x", fraction=1.0)
    with pytest.raises(ValueError, match="duplicate policy kinds"):
        PolicySet((base, base))


def test_applies_with_no_filters_matches_every_case() -> None:
    assert Applies().matches(facts(WAGES, Channel.judicial, "assignment"))
    assert isinstance(POLICIES.by_kind("acceptance"), Policy)


# ----------------------------------------------------------------------------- basis


def test_a_rule_of_law_names_its_source_and_a_local_policy_who_decided_it() -> None:
    with pytest.raises(ValueError, match="names its source"):
        Authority(Basis.law)
    with pytest.raises(ValueError, match="who decided it"):
        Authority(Basis.local_policy, source="人民调解法 第21条")

    assert Authority(Basis.law, "人民调解法 第33条").citation == "人民调解法 第33条"
    assert Authority(Basis.local_policy, decided_by="昆山市司法局").citation == "昆山市司法局"
    assert (
        Authority(Basis.local_policy, "人民调解法 第21条", "昆山市司法局").citation
        == "昆山市司法局; 人民调解法 第21条"
    )


def test_the_people_mediation_period_is_law_but_its_escalation_and_extension_are_local_policy() -> None:
    people = POLICIES.by_kind("people_mediation")

    assert people.authority.basis == Basis.law
    assert people.breach_authority.basis == Basis.local_policy
    assert people.extension_authority is not None and people.extension_authority.basis == Basis.local_policy
    assert POLICIES.by_kind("labour_mediation").extension_authority is None  # cannot be extended


def test_the_breach_action_may_be_a_prompt_that_moves_nothing() -> None:
    raw = yaml.safe_load(DEADLINES_YAML.read_text(encoding="utf-8"))
    raw["policies"][2]["breach"] = "prompt"
    people = parse_policies(raw, "deadlines.yaml").by_kind("people_mediation")

    assert people.breach == BreachAction.prompt
    # a prompt only tells people: the plan of any event is unchanged by it
    assert started(step("accept", S.assigned, S.mediating)) == ["people_mediation"]


# ----------------------------------------------------------------------------- provisional dates


def test_a_clock_counting_into_a_year_without_an_official_calendar_is_provisional() -> None:
    known_only = BusinessCalendar({y: c for y, c in seeded_years().items() if y <= 2025})
    s = schedule(POLICIES.by_kind("people_mediation"), at(2025, 12, 10), known_only)

    assert provisional_years(known_only, at(2025, 12, 10), s.due_at, s.warnings) == (2026,)
    early = schedule(POLICIES.by_kind("people_mediation"), at(2025, 11, 3), known_only)
    assert provisional_years(known_only, at(2025, 11, 3), early.due_at, early.warnings) == ()


def test_a_warning_in_the_next_year_alone_makes_it_provisional() -> None:
    known_only = BusinessCalendar({y: c for y, c in seeded_years().items() if y <= 2025})
    due = at(2025, 12, 31)
    warning = ("late", at(2026, 1, 2))  # as a pause could have moved it

    assert provisional_years(known_only, at(2025, 12, 1), due, [warning]) == (2026,)


# ----------------------------------------------------------------------------- recomputing


def test_clock_steps_pause_on_entering_a_pause_state_and_resume_on_leaving_it() -> None:
    people = POLICIES.by_kind("people_mediation")
    moves = [
        (at(2025, 3, 1), S.assigned),  # before the start: ignored
        (at(2025, 3, 3), S.mediating),
        (at(2025, 3, 10), S.suspended),
        (at(2025, 3, 11), S.suspended),  # an edit while suspended: still one pause
        (at(2025, 3, 15), S.mediating),
    ]

    steps = clock_steps(people, at(2025, 3, 3), moves, [(at(2025, 3, 12), 1, U.months)])

    assert steps == [
        Paused(at(2025, 3, 10)),
        Extended(at(2025, 3, 12), 1, U.months),
        Resumed(at(2025, 3, 15)),
    ]


def test_replay_gives_what_schedule_resumed_and_extended_gave_as_it_happened() -> None:
    people = POLICIES.by_kind("people_mediation")
    start = at(2025, 3, 3)
    first = schedule(people, start, CAL)
    moved = resumed(first.due_at, first.warnings, at(2025, 3, 10), at(2025, 3, 15), calendar=CAL)
    longer = extended(people, start, moved.due_at, None, 1, U.months, Role.mediator, True, CAL)

    again = replay(
        people,
        start,
        [Paused(at(2025, 3, 10)), Resumed(at(2025, 3, 15)), Extended(at(2025, 3, 20), 1, U.months)],
        CAL,
    )

    assert again.due_at == longer
    assert again.paused_at is None
    assert [level for level, _ in again.warnings] == ["75pct+ext1", "last_day+ext1"]
    assert all(w > at(2025, 3, 20) for _, w in again.warnings)


def test_replay_of_a_clock_still_paused_keeps_its_due_time_until_it_resumes() -> None:
    people = POLICIES.by_kind("people_mediation")
    start = at(2025, 3, 3)

    again = replay(people, start, [Paused(at(2025, 3, 10))], CAL)

    assert again.paused_at == at(2025, 3, 10)
    assert again.due_at == schedule(people, start, CAL).due_at


def test_replay_with_a_longer_policy_or_a_new_holiday_moves_the_due_date() -> None:
    acceptance = POLICIES.by_kind("acceptance")
    start = at(2025, 3, 3)  # Monday: 3 working days end Thursday 6 March
    longer = dataclasses.replace(acceptance, length=5)
    years = seeded_years()
    holiday = dataclasses.replace(years[2025], holidays=years[2025].holidays | {at(2025, 3, 5).date()})

    assert replay(acceptance, start, [], CAL).due_at == at(2025, 3, 7, 0, 0)
    assert replay(longer, start, [], CAL).due_at == at(2025, 3, 11, 0, 0)
    assert replay(acceptance, start, [], BusinessCalendar({**years, 2025: holiday})).due_at == at(
        2025, 3, 8, 0, 0
    )
