"""Who is told a sent-on case's result (workflows/transition.py, ``senders_to_tell`` and the
``sent_case_result`` announcements), and which rules send a case on (``SENDING_TRIGGERS``).

A unit that registered a case triage sent elsewhere, dispatched, escalated, handed off, delegated
or referred it to the court hears its result once: not when it is the acting person's own unit or
the unit holding the case, and not a second time when its hand-off's return already told it.
"""

from __future__ import annotations

import pytest

from tests.workflows.test_lifecycle import (
    CITY,
    DASHI,
    DASHI_MEDIATOR,
    DESK,
    DESK_CLERK,
    NOW,
    PS_ZHANGPU,
    SYSTEM,
    ZHANGPU,
    ZHANGPU_COORDINATOR,
    ZHOUXIANG,
    person,
)
from tests.workflows.test_transition import PLANNING
from workflows.lifecycle import TRANSITIONS, CaseState, Role, Trigger
from workflows.org import Channel
from workflows.referrals import ReferralStatus
from workflows.transition import (
    SENDING_TRIGGERS,
    CaseSnapshot,
    OpenReferral,
    TransitionPlan,
    plan_transition,
    senders_to_tell,
)
from workflows.vocab import DisputeType, ReferralKind

S = CaseState
T = Trigger
TOWN_MEDIATOR = person(Role.mediator, ZHANGPU)


def test_the_rules_that_send_a_case_on() -> None:
    # A decline gives a case back: the decliner does not follow it. A court-delegated (委托)
    # settlement goes back to the court desk: the unit that mediated it follows it there.
    assert SENDING_TRIGGERS == {T.dispatch, T.escalate, T.hand_off, T.delegate, T.refer_to_court, T.settle}
    assert all(
        any(r.effects.unit.value != "stay" for r in TRANSITIONS if r.trigger == trigger)
        for trigger in SENDING_TRIGGERS
    )


@pytest.mark.parametrize(
    ("senders", "actor_unit", "holder", "told", "expected"),
    [
        ((DASHI,), ZHANGPU, ZHANGPU, frozenset(), (DASHI,)),  # the village hears the town's result
        ((DASHI, ZHANGPU), ZHANGPU, CITY, frozenset(), (DASHI,)),  # not the acting person's own unit
        ((DASHI, ZHANGPU), CITY, ZHANGPU, frozenset(), (DASHI,)),  # not the unit holding it again
        ((PS_ZHANGPU, DASHI), DASHI, DASHI, frozenset({PS_ZHANGPU}), ()),  # the return told the police
        ((DASHI, DASHI), ZHANGPU, ZHANGPU, frozenset(), (DASHI,)),  # once
        ((DASHI, ZHOUXIANG), None, ZHANGPU, frozenset(), (DASHI, ZHOUXIANG)),  # the sweep has no unit
        ((), ZHANGPU, ZHANGPU, frozenset(), ()),
    ],
)
def test_who_is_told(
    senders: tuple[str, ...],
    actor_unit: str | None,
    holder: str,
    told: frozenset[str],
    expected: tuple[str, ...],
) -> None:
    assert senders_to_tell(senders, actor_unit=actor_unit, holder=holder, told=told) == expected


def _case(state: CaseState, unit: str, **extra: object) -> CaseSnapshot:
    values: dict[str, object] = {
        "id": 9,
        "number": "KS-2026-000009",
        "version": 4,
        "last_event_hash": "cd" * 32,
        "state": state,
        "unit_code": unit,
        "channel": Channel.people,
        "dispute_type": DisputeType.NEIGHBOUR,
        "senders": (DASHI,),
        **extra,
    }
    return CaseSnapshot(**values)  # type: ignore[arg-type]


def _plan(case: CaseSnapshot, actor: object, trigger: Trigger, **fields: object) -> TransitionPlan:
    return plan_transition(case, actor, trigger, fields, now=NOW, planning=PLANNING)  # type: ignore[arg-type]


def _notes(plan: TransitionPlan, kind: str) -> list[tuple[str, dict[str, object]]]:
    return [(a.unit_code, dict(a.payload)) for a in plan.announcements if a.kind == kind]


def test_a_settlement_at_the_town_tells_the_village_that_escalated_it() -> None:
    case = _case(S.mediating, ZHANGPU)
    plan = _plan(case, TOWN_MEDIATOR, T.settle, agreement={"form": "written", "terms": "赔偿 2000 元"})
    [(unit, payload)] = _notes(plan, "sent_case_result")
    assert unit == DASHI
    assert payload["number"] == case.number and payload["unit_code"] == ZHANGPU
    # Where it is and how it ended; the agreement's terms stay with those handling the case.
    assert payload["result"] == {"event": "settle", "state": "settled"}
    [note] = [a for a in plan.announcements if a.kind == "sent_case_result"]
    assert note.reason == "案件结果：达成协议"


def test_a_closing_names_its_outcome() -> None:
    plan = _plan(
        _case(S.terminated, ZHANGPU), TOWN_MEDIATOR, T.close, outcome="other_route", reason="引导仲裁"
    )
    [(unit, payload)] = _notes(plan, "sent_case_result")
    assert (unit, payload["result"]["outcome"]) == (DASHI, "other_route")  # type: ignore[index]
    [note] = [a for a in plan.announcements if a.kind == "sent_case_result"]
    assert note.reason is not None and note.reason.startswith("案件结果：已结案（")


def test_no_result_no_announcement() -> None:
    for trigger, fields in ((T.suspend, {"reason": "等待鉴定"}), (T.escalate, {"reason": "需市中心协调"})):
        plan = _plan(_case(S.mediating, ZHANGPU), ZHANGPU_COORDINATOR, trigger, **fields)
        assert _notes(plan, "sent_case_result") == []


def test_a_hand_off_sender_is_told_once_through_its_referral() -> None:
    accepted = OpenReferral(3, ReferralKind.police, ReferralStatus.accepted, PS_ZHANGPU, DASHI)
    case = _case(S.mediating, DASHI, senders=(PS_ZHANGPU,), referrals=(accepted,))
    plan = _plan(case, DASHI_MEDIATOR, T.terminate, termination_reason="party_refused")
    [told] = [a for a in plan.announcements if a.kind == "referral_result"]
    assert told.unit_code == PS_ZHANGPU
    assert told.reason == "警调对接结果：调解终止"  # in words, never a state code
    assert _notes(plan, "sent_case_result") == []


def test_the_acting_unit_is_not_told_its_own_result() -> None:
    # 大市 escalated the case, it came back (declined to 大市) and 大市 settles it itself.
    plan = _plan(
        _case(S.mediating, DASHI), DASHI_MEDIATOR, T.settle, agreement={"form": "oral", "terms": "道歉"}
    )
    assert _notes(plan, "sent_case_result") == []


def test_the_court_s_ruling_tells_the_senders_but_not_the_court() -> None:
    case = _case(S.in_court, DESK, senders=(DASHI, DESK), court_linked=True, claimed_by=DESK_CLERK.username)
    plan = _plan(case, DESK_CLERK, T.docket)
    assert [u for u, _ in _notes(plan, "sent_case_result")] == [DASHI]


def test_a_sweep_termination_tells_every_sender() -> None:
    # The sweep acts as `system` for no unit: the city centre that dispatched the case hears too.
    case = _case(S.mediating, ZHANGPU, senders=(DASHI, ZHOUXIANG, CITY))
    plan = _plan(case, SYSTEM, T.terminate, termination_reason="period_expired")
    assert [u for u, _ in _notes(plan, "sent_case_result")] == [DASHI, ZHOUXIANG, CITY]
